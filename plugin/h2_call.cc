#include "plugin/h2_call.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace crimirror::plugin {

std::vector<nghttp2_nv> NameValues(const H2Headers& headers) {
  std::vector<nghttp2_nv> out;
  out.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    // nghttp2 only reads through these pointers (the API is not const).
    out.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
                   reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())),
                   name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  return out;
}

H2Headers GrpcStatusFields(int code, std::string_view message) {
  return {{"grpc-status", absl::StrCat(code)}, {"grpc-message", GrpcMessageValue(message)}};
}

void ForwardBuffer::Append(const std::uint8_t* data, std::size_t size) {
  // Drop the bytes already taken once they are worth a move, so a stream
  // that never drains completely does not grow the string.
  if (offset_ == data_.size() || offset_ >= 64 * 1024) {
    data_.erase(0, offset_);
    offset_ = 0;
  }
  data_.append(reinterpret_cast<const char*>(data), size);
}

std::size_t ForwardBuffer::Take(std::uint8_t* out, std::size_t max) {
  const std::size_t n = std::min(max, size());
  std::memcpy(out, data_.data() + offset_, n);
  offset_ += n;
  if (offset_ == data_.size()) {
    data_.clear();
    offset_ = 0;
  }
  return n;
}

std::size_t ForwardBuffer::Clear() {
  const std::size_t dropped = size();
  data_.clear();
  offset_ = 0;
  return dropped;
}

}  // namespace crimirror::plugin
