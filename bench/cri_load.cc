// Copyright cri-mirror authors.
#include "bench/cri_load.h"

#include <chrono>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/stats.h"

namespace crimirror::bench {
namespace {

grpc::Status Deadlined(const std::function<grpc::Status(grpc::ClientContext*)>& rpc) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return rpc(&context);
}

}  // namespace

Call ImageStatusCall(const std::string& image) {
  runtime::v1::ImageStatusRequest request;
  request.mutable_image()->set_image(image);
  return [request](ImageService& stub) {
    runtime::v1::ImageStatusResponse response;
    return Deadlined(
        [&](grpc::ClientContext* ctx) { return stub.ImageStatus(ctx, request, &response); });
  };
}

Call ListImagesCall() {
  return [](ImageService& stub) {
    runtime::v1::ListImagesResponse response;
    return Deadlined([&](grpc::ClientContext* ctx) {
      return stub.ListImages(ctx, runtime::v1::ListImagesRequest(), &response);
    });
  };
}

Load RunLoad(ImageService& stub, const std::vector<Call>& calls, int clients, int calls_each) {
  std::vector<std::vector<double>> latencies(clients);
  std::vector<uint64_t> failures(clients, 0);
  std::vector<std::string> first_errors(clients);
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      latencies[c].reserve(calls_each);
      for (int i = 0; i < calls_each; ++i) {
        const absl::Time t = absl::Now();
        const grpc::Status status = calls[(c + i) % calls.size()](stub);
        if (!status.ok() && failures[c]++ == 0) {
          first_errors[c] = absl::StrCat("code ", status.error_code(), ": ", status.error_message());
        }
        latencies[c].push_back(absl::ToDoubleMicroseconds(absl::Now() - t));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  Load load;
  load.p50_us = Percentile(all, 50);
  load.p99_us = Percentile(all, 99);
  load.calls = all.size();
  load.calls_per_second = wall > 0 ? static_cast<double>(all.size()) / wall : 0;
  for (int c = 0; c < clients; ++c) {
    load.failures += failures[c];
    if (load.first_error.empty()) load.first_error = first_errors[c];
  }
  load.ok = load.failures == 0;
  return load;
}

}  // namespace crimirror::bench
