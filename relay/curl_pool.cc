#include "relay/curl_pool.h"

#include <utility>

namespace crimirror::relay::upstream_internal {

void ShareLocks::Lock(CURL*, curl_lock_data data, curl_lock_access, void* self) {
  static_cast<ShareLocks*>(self)->Get(data).Lock();
}

void ShareLocks::Unlock(CURL*, curl_lock_data data, void* self) {
  static_cast<ShareLocks*>(self)->Get(data).Unlock();
}

absl::Mutex& ShareLocks::Get(curl_lock_data data) {
  auto index = static_cast<std::size_t>(data);
  return mutexes_[index < mutexes_.size() ? index : 0];
}

absl::StatusOr<CurlMultiPtr> MultiPool::Take() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      CurlMultiPtr multi = std::move(idle_.back());
      idle_.pop_back();
      return multi;
    }
  }
  absl::StatusOr<CurlMultiPtr> multi = NewCurlMulti();
  if (!multi.ok()) return multi.status();
  if (absl::Status s = MultiSetLong(multi->get(), CURLMOPT_MAXCONNECTS, 4); !s.ok()) return s;
  return multi;
}

void MultiPool::Return(CurlMultiPtr multi) {
  absl::MutexLock lock(&mu_);
  if (idle_.size() < max_idle_) idle_.push_back(std::move(multi));
}

}  // namespace crimirror::relay::upstream_internal
