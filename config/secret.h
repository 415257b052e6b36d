// Secret: a string that never prints. Used for passwords and tokens so that a
// stray log line, error message or debug dump cannot leak them.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace crimirror::config {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}

  // The secret itself; call only where it is put on the wire.
  const std::string& Reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

  friend bool operator==(const Secret&, const Secret&) = default;
  // Streams and absl::StrCat-style formatting see only a placeholder.
  friend std::ostream& operator<<(std::ostream& os, const Secret& s) {
    return os << (s.empty() ? "<empty>" : "<redacted>");
  }
  template <typename Sink>
  friend void AbslStringify(Sink& sink, const Secret& s) {
    sink.Append(s.empty() ? "<empty>" : "<redacted>");
  }

 private:
  std::string value_;
};

}  // namespace crimirror::config
