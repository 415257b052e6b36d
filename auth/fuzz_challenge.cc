// libFuzzer target: ParseWwwAuthenticate never crashes or hangs on what a
// registry sends, keeps its contract (lower-case scheme and parameter names,
// short error messages), and ParseWwwAuthenticateValues agrees with it on
// each value. Seeds: auth/fuzz_corpus/fuzz_challenge/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "auth/challenge.h"

namespace {

bool IsLower(const std::string& s) { return absl::AsciiStrToLower(s) == s; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto parsed = crimirror::auth::ParseWwwAuthenticate(text);
  if (!parsed.ok()) {
    // The message quotes a short, escaped prefix only.
    if (parsed.status().message().size() > 512) std::abort();
  } else {
    if (parsed->empty()) std::abort();
    for (const crimirror::auth::Challenge& c : *parsed) {
      if (c.scheme_name.empty() || !IsLower(c.scheme_name)) std::abort();
      for (const auto& [name, value] : c.params) {
        if (name.empty() || !IsLower(name)) std::abort();
        if (c.Param(name) != value) std::abort();
      }
    }
  }
  // The same bytes as several header values, one per line.
  std::vector<std::string> values = absl::StrSplit(text, '\n');
  std::size_t expected = 0;
  for (const std::string& value : values) {
    auto one = crimirror::auth::ParseWwwAuthenticate(value);
    if (one.ok()) expected += one->size();
  }
  if (crimirror::auth::ParseWwwAuthenticateValues(values).size() != expected) std::abort();
  return 0;
}
