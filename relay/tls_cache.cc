#include "relay/tls_cache.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace crimirror::relay::upstream_internal {
namespace {

std::string FileStamp(const std::string& path) {
  if (path.empty()) return "";
  std::error_code ec;
  auto time = std::filesystem::last_write_time(path, ec);
  return absl::StrCat(path, "@", ec ? 0 : time.time_since_epoch().count());
}

std::string CaStamps(const config::HostSettings& host) {
  std::string out;
  for (const std::string& path : host.ca_files) absl::StrAppend(&out, FileStamp(path), "\t");
  return out;
}

// Every setting that affects verification or identity is in the key, not
// only the files: two [host] tables may name the same ca_file with different
// insecure_skip_verify (issue 10 defect 1: the first one loaded decided for
// both, and a reload turning it off had no effect). The host key is in it
// too, so no two tables ever share an entry.
std::string CacheKey(const config::HostSettings& host, const std::string& system_ca_file) {
  return absl::StrCat(host.host, "\n", host.insecure_skip_verify ? "insecure" : "verify", "\n",
                      host.tls_server_name, "\n", system_ca_file, "\n", CaStamps(host),
                      "\n", FileStamp(host.client_cert), "\n", FileStamp(host.client_key));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const HostTls>> TlsCache::Get(const config::HostSettings& host,
                                                             const std::string& system_ca_file) {
  const std::string key = CacheKey(host, system_ca_file);
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
  }
  absl::StatusOr<auth::TlsMaterial> material = auth::LoadTlsMaterial(host);
  if (!material.ok()) return material.status();
  auto tls = std::make_shared<HostTls>();
  tls->material = *std::move(material);
  if (!tls->material.ca_pem.empty()) {
    tls->ca_bundle = auth::CombinedCaBundle(system_ca_file, tls->material.ca_pem);
  }
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= 64) cache_.clear();
  cache_[key] = tls;
  return std::shared_ptr<const HostTls>(tls);
}

}  // namespace crimirror::relay::upstream_internal
