// Copyright cri-mirror authors.
//
// CRI call load shared by the figures that drive ImageService calls
// (cri_overhead.cc, memory.cc, load.cc): one call as a function of a stub,
// and N client threads making back-to-back calls on one channel, with
// latencies, throughput and failures counted.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <vector>

#include "cri/api.grpc.pb.h"

namespace crimirror::bench {

using ImageService = runtime::v1::ImageService::Stub;
// One CRI call on `stub`, with a 30 s deadline; its status.
using Call = std::function<grpc::Status(ImageService& stub)>;

// ImageStatus of `image`, and unfiltered ListImages.
Call ImageStatusCall(const std::string& image);
Call ListImagesCall();

struct Load {
  double p50_us = 0;
  double p99_us = 0;
  double calls_per_second = 0;
  uint64_t calls = 0;
  uint64_t failures = 0;
  bool ok = true;  // failures == 0
  std::string first_error;  // the first failed call's status, for the row's note
};

// `clients` threads each make `calls` back-to-back calls on `stub`;
// client c uses calls[(c + i) % size] for its i-th call, so a mix of
// methods is spread over every client. Blocks until all are done.
Load RunLoad(ImageService& stub, const std::vector<Call>& calls, int clients, int calls_each);
inline Load RunLoad(ImageService& stub, const Call& call, int clients, int calls_each) {
  return RunLoad(stub, std::vector<Call>{call}, clients, calls_each);
}

}  // namespace crimirror::bench
