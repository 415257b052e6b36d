// Test-only: an UpstreamResponse with a fixed status, headers and body, for
// the scripted upstreams of relay unit tests.
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "relay/upstream.h"

namespace crimirror::relay {

class FakeResponse : public UpstreamResponse {
 public:
  FakeResponse(int status, Headers headers, std::string body)
      : status_(status), headers_(std::move(headers)), body_(std::move(body)) {}
  int status() const override { return status_; }
  const Headers& headers() const override { return headers_; }
  std::optional<std::size_t> content_length() const override { return body_.size(); }
  absl::StatusOr<std::size_t> Read(char* buf, std::size_t max) override {
    const std::size_t n = std::min(max, body_.size() - pos_);
    body_.copy(buf, n, pos_);
    pos_ += n;
    return n;
  }

 private:
  int status_;
  Headers headers_;
  std::string body_;
  std::size_t pos_ = 0;
};

}  // namespace crimirror::relay
