// libFuzzer target: ParseReference must never crash, and whatever it accepts
// must re-parse to the same Reference (normalization is idempotent).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "resolver/reference.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto ref = crimirror::resolver::ParseReference(text);
  if (!ref.ok()) return 0;
  auto again = crimirror::resolver::ParseReference(ref->Canonical());
  if (!again.ok() || !(*again == *ref)) std::abort();
  return 0;
}
