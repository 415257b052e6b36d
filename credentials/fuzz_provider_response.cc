// libFuzzer target: ParseProviderResponse never crashes or hangs on what a
// credential provider plugin prints, its errors stay short and never echo
// the body, and SelectAuth on an accepted response is safe for any image.
// Seeds: credentials/fuzz_corpus/fuzz_provider_response/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "credentials/provider_response.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  constexpr std::string_view kV1 = "credentialprovider.kubelet.k8s.io/v1";
  auto response = crimirror::credentials::ParseProviderResponse(body, kV1);
  if (!response.ok()) {
    if (response.status().message().size() > 512) std::abort();
    return 0;
  }
  for (std::string_view image : {"registry.io/app", "a.registry.io:5000/team/app",
                                 "docker.io/library/nginx", "[::1]:5000/x"}) {
    const auto* entry = crimirror::credentials::SelectAuth(*response, image);
    if (entry != nullptr && entry->pattern.empty()) std::abort();
  }
  return 0;
}
