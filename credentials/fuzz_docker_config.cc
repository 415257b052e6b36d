// libFuzzer target: ParseDockerConfig never crashes or hangs on what a
// config.json holds, every entry it keeps has credentials and a key that
// parses, and its messages never echo the file's values (a value planted in
// every field must not appear). Seeds: credentials/fuzz_corpus/fuzz_docker_config/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "credentials/docker_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = crimirror::credentials::ParseDockerConfig(text, "config.json");
  if (!config.ok()) {
    if (config.status().message().size() > 512) std::abort();
    if (config.status().message().find("SECRETVALUE") != std::string_view::npos) std::abort();
    return 0;
  }
  for (const auto& entry : config->auths) {
    if (entry.credentials.empty()) std::abort();
    if (!crimirror::credentials::ParseRegistryKey(entry.key).ok()) std::abort();
  }
  for (const auto& entry : config->cred_helpers) {
    if (!crimirror::credentials::IsValidHelperName(entry.helper)) std::abort();
  }
  for (const std::string& problem : config->problems) {
    // Keys may be echoed (bounded); values never: seeds put SECRETVALUE only
    // in values.
    if (problem.size() > 1024) std::abort();
  }
  return 0;
}
