#include "credentials/provider_cache.h"


namespace crimirror::credentials {
namespace {

// Prefixes keep an image, a registry and the global key apart even when an
// image has no '/' (the kubelet keys them by the bare strings).
std::string ImageKey(std::string_view image) { return "image:" + std::string(image); }
std::string RegistryKey(std::string_view image) {
  return "registry:" + std::string(ImageRegistry(image));
}
constexpr std::string_view kGlobalKey = "global";

}  // namespace

std::string_view ImageRegistry(std::string_view image) { return image.substr(0, image.find('/')); }

std::shared_ptr<const ProviderResponse> ProviderCache::Find(std::string_view image,
                                                            absl::Time now) const {
  absl::MutexLock lock(&mu_);
  for (const std::string& key : {ImageKey(image), RegistryKey(image), std::string(kGlobalKey)}) {
    auto it = entries_.find(key);
    if (it != entries_.end() && now < it->second.expires) return it->second.response;
  }
  return nullptr;
}

void ProviderCache::Store(std::string_view image, std::shared_ptr<const ProviderResponse> response,
                          absl::Time now, absl::Time expires) {
  std::string key;
  switch (response->cache_key_type) {
    case CacheKeyType::kImage:
      key = ImageKey(image);
      break;
    case CacheKeyType::kRegistry:
      key = RegistryKey(image);
      break;
    case CacheKeyType::kGlobal:
      key = std::string(kGlobalKey);
      break;
  }
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = now < it->second.expires ? std::next(it) : entries_.erase(it);
  }
  entries_[key] = Entry{std::move(response), expires};
}

std::size_t ProviderCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace crimirror::credentials
