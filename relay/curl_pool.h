// Connection plumbing of the libcurl Upstream: the locks a CURLSH share
// handle needs and the pool of idle CURLM multi handles that carry warm
// connections from one request to the next. Internal to
// crimirror_relay_upstream.
//
// Connection reuse: libcurl's shared connection cache (CURL_LOCK_DATA_CONNECT)
// is documented as unsafe between concurrent threads (curl KNOWN_BUGS 11.11,
// "A shared connection cache is not thread-safe"), so the share handle carries
// only DNS and TLS sessions; connections live in the multi handles, which go
// back to an idle pool (most recently used first) when a response ends, so
// the next request usually finds a warm connection.
#pragma once

#include <curl/curl.h>

#include <array>
#include <cstddef>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "relay/curl_handles.h"

namespace crimirror::relay::upstream_internal {

// One mutex per curl_lock_data kind, as CURLSHOPT_LOCKFUNC requires. Pass
// Lock/Unlock as CURLSHOPT_LOCKFUNC/UNLOCKFUNC and the object as
// CURLSHOPT_USERDATA; it must outlive the share handle.
class ShareLocks {
 public:
  static void Lock(CURL*, curl_lock_data data, curl_lock_access, void* self)
      ABSL_NO_THREAD_SAFETY_ANALYSIS;
  static void Unlock(CURL*, curl_lock_data data, void* self) ABSL_NO_THREAD_SAFETY_ANALYSIS;

 private:
  absl::Mutex& Get(curl_lock_data data);
  std::array<absl::Mutex, CURL_LOCK_DATA_LAST + 1> mutexes_;
};

// Idle multi handles, most recently used last (popped first). Thread-safe.
class MultiPool {
 public:
  explicit MultiPool(std::size_t max_idle) : max_idle_(max_idle) {}
  // An idle multi handle, or a new one (CURLMOPT_MAXCONNECTS 4).
  // ResourceExhausted/Internal when curl cannot make one.
  absl::StatusOr<CurlMultiPtr> Take();
  // Keeps `multi` (and the connections in its cache) for a later Take(),
  // unless max_idle handles are already idle (then it is closed).
  void Return(CurlMultiPtr multi);

 private:
  const std::size_t max_idle_;
  absl::Mutex mu_;
  std::vector<CurlMultiPtr> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crimirror::relay::upstream_internal
