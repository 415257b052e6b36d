// CurlUpstream::Shared: the process-wide state of the libcurl Upstream that
// every transfer and live response holds a reference to (options, share
// handle and its locks, multi-handle pool, TLS material cache, token cache,
// hosts known to want Basic). Internal to crimirror_relay_upstream.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "auth/authorizer.h"
#include "relay/curl_handles.h"
#include "relay/curl_pool.h"
#include "relay/curl_upstream.h"
#include "relay/tls_cache.h"

namespace crimirror::relay {

// Built once by CurlUpstream::Create; immutable apart from the members that
// guard themselves (pool, tls, authorizer) and `basic_hosts` (under `mu`).
struct CurlUpstream::Shared {
  explicit Shared(Options o) : options(std::move(o)), pool(options.max_idle_connections) {}

  const Options options;
  std::string system_ca_file;  // options.system_ca_file or libcurl's default
  upstream_internal::ShareLocks locks;
  CurlSharePtr share;
  upstream_internal::MultiPool pool;
  upstream_internal::TlsCache tls;
  std::unique_ptr<auth::Authorizer> authorizer;
  absl::Mutex mu;
  // host:port + credential fingerprints that answered a Basic challenge:
  // later requests send Basic up front.
  std::set<std::string> basic_hosts ABSL_GUARDED_BY(mu);
};

}  // namespace crimirror::relay
