// libFuzzer target: ParseConfig must never crash, whatever the bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = crimirror::config::ParseConfig(text, "fuzz.toml");
  if (parsed.ok()) {
    for (const auto& rule : parsed->config.mirrors) {
      (void)parsed->config.FindHost(rule.registry);
    }
  }
  return 0;
}
