// TlsCache: the loaded TLS material of `[host]` tables (CA files, client
// cert/key) and the combined CA bundle, so a request does not re-read and
// re-parse PEM files. Internal to crimirror_relay_upstream.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "auth/tls_material.h"
#include "config/config.h"

namespace crimirror::relay::upstream_internal {

// Loaded TLS material of a host plus the combined CA bundle.
struct HostTls {
  auth::TlsMaterial material;
  std::string ca_bundle;  // system bundle + every ca_file, "" when none
};

// Thread-safe; at most 64 entries (cleared when full).
class TlsCache {
 public:
  // The material for `host`, loaded on first use and cached by the [host]
  // key, every setting that affects verification or identity
  // (insecure_skip_verify, tls_server_name, the system bundle) and the
  // files' paths and modification times (a renewed CA file is picked up).
  // Two tables naming the same files never share an entry.
  // FailedPrecondition (from auth::LoadTlsMaterial) naming the file when one
  // cannot be read or parsed.
  absl::StatusOr<std::shared_ptr<const HostTls>> Get(const config::HostSettings& host,
                                                     const std::string& system_ca_file);

 private:
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const HostTls>> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crimirror::relay::upstream_internal
