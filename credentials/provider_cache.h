// The responses of one credential provider plugin, kept as the kubelet
// keeps them (pkg/credentialprovider/plugin/plugin.go): stored under the
// key the response's cacheKeyType names (the image, its registry host, or
// one global key) until it expires, and looked up by image, then registry,
// then global. The whole response is kept: the image asking next picks its
// own `auth` entry from it. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "credentials/provider_response.h"

namespace crimirror::credentials {

class ProviderCache {
 public:
  // The unexpired response for `image` ("registry/repository") at `now`,
  // or nullptr.
  std::shared_ptr<const ProviderResponse> Find(std::string_view image, absl::Time now) const;

  // Keeps `response` for `image` until `expires`, under the key its
  // cacheKeyType names; expired entries are dropped on the way.
  void Store(std::string_view image, std::shared_ptr<const ProviderResponse> response,
             absl::Time now, absl::Time expires);

  // The number of entries (expired or not), for tests.
  std::size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<const ProviderResponse> response;
    absl::Time expires;
  };
  mutable absl::Mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_ ABSL_GUARDED_BY(mu_);
};

// The registry part of an image, as the kubelet's parseRegistry: the text
// before the first '/'.
std::string_view ImageRegistry(std::string_view image);

}  // namespace crimirror::credentials
