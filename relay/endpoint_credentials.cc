#include "relay/endpoint_credentials.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "credentials/registry_key.h"
#include "log/log.h"

namespace crimirror::relay {
namespace {

bool HasHostCredentials(const resolver::Endpoint& endpoint) {
  if (!endpoint.host_settings) return false;
  absl::StatusOr<auth::Credentials> own = auth::CredentialsFromHost(*endpoint.host_settings);
  // A bad `auth` is reported by the upstream when the request is made: the
  // endpoint has [host] credentials, wrong ones, and no other source fills in.
  return !own.ok() || !own->empty();
}

bool NamesRegistry(const credentials::RegistryKey& key, std::string_view image) {
  absl::StatusOr<credentials::RegistryKey> parsed = credentials::ParseRegistryKey(image);
  return parsed.ok() && credentials::KeyMatches(key, *parsed);
}

}  // namespace

credentials::CredentialQuery QueryFor(const resolver::Endpoint& endpoint) {
  absl::string_view authority = endpoint.base_url;
  bool https = absl::ConsumePrefix(&authority, "https://");
  if (!https) absl::ConsumePrefix(&authority, "http://");
  authority = authority.substr(0, authority.find('/'));
  if (https) {
    absl::ConsumeSuffix(&authority, ":443");
  } else {
    absl::ConsumeSuffix(&authority, ":80");
  }
  credentials::CredentialQuery query;
  const std::size_t colon = authority.rfind(':');
  const bool has_port = colon != absl::string_view::npos && !absl::EndsWith(authority, "]");
  const std::string all(authority);
  query.registry = has_port ? absl::StrCat(credentials::CanonicalRegistryHost(
                                               all.substr(0, colon)),
                                           all.substr(colon))
                            : credentials::CanonicalRegistryHost(all);
  query.repository = endpoint.repository;
  return query;
}

bool KubeletMayReceive(const KubeletAuth& kubelet, const resolver::Endpoint& endpoint,
                       const std::string& image_registry) {
  const bool opted_in =
      endpoint.host_settings && endpoint.host_settings->forward_kubelet_credentials;
  if (endpoint.kind != resolver::EndpointKind::kUpstream && !opted_in) return false;
  if (kubelet.server_address.empty()) return true;
  absl::StatusOr<credentials::RegistryKey> key =
      credentials::ParseRegistryKey(kubelet.server_address);
  if (!key.ok()) return false;
  // The kubelet names the registry the credential is for; an opted-in
  // mirror is that registry under another address.
  const credentials::CredentialQuery query = QueryFor(endpoint);
  return NamesRegistry(*key, query.Image()) ||
         NamesRegistry(*key, absl::StrCat(image_registry, "/", endpoint.repository));
}

EndpointCredentials::EndpointCredentials(
    std::string session_id, std::string image_registry, std::optional<KubeletAuth> kubelet,
    std::shared_ptr<const credentials::CredentialSource> sources)
    : session_id_(std::move(session_id)),
      image_registry_(std::move(image_registry)),
      kubelet_(std::move(kubelet)),
      sources_(std::move(sources)) {}

CredentialChoice EndpointCredentials::Compute(const resolver::Endpoint& endpoint) const {
  CredentialChoice choice;
  if (kubelet_ && !kubelet_->credentials.empty() &&
      KubeletMayReceive(*kubelet_, endpoint, image_registry_)) {
    choice.kubelet = kubelet_->credentials;
    choice.origin = "kubelet AuthConfig";
    return choice;
  }
  if (HasHostCredentials(endpoint)) {
    choice.origin = "[host] table";
    return choice;
  }
  if (sources_ != nullptr) {
    if (std::optional<credentials::FoundCredentials> found = sources_->Lookup(QueryFor(endpoint))) {
      choice.source = std::move(found->credentials);
      choice.origin = std::move(found->source);
      return choice;
    }
  }
  choice.origin = "anonymous";
  return choice;
}

CredentialChoice EndpointCredentials::Choose(const resolver::Endpoint& endpoint) const {
  std::shared_ptr<Entry> entry;
  {
    absl::MutexLock lock(&mu_);
    std::shared_ptr<Entry>& slot = entries_[endpoint.base_url];
    if (slot == nullptr) slot = std::make_shared<Entry>();
    entry = slot;
  }
  // Per-endpoint lock: a slow helper for one endpoint never delays another
  // endpoint's (hedged) attempt.
  absl::MutexLock lock(&entry->mu);
  if (!entry->choice) {
    entry->choice = Compute(endpoint);
    log::Info("relay: session ", session_id_, ": credentials for ", endpoint.base_url, ": ",
              entry->choice->origin);
  }
  return *entry->choice;
}

void EndpointCredentials::Apply(const resolver::Endpoint& endpoint, UpstreamRequest& up) const {
  CredentialChoice choice = Choose(endpoint);
  up.kubelet_credentials = std::move(choice.kubelet);
  up.source_credentials = std::move(choice.source);
}

std::string DescribeCredentialSource(const resolver::Endpoint& endpoint,
                                     const credentials::CredentialSource* sources) {
  if (HasHostCredentials(endpoint)) return "[host] table";
  if (sources != nullptr) {
    if (std::optional<credentials::FoundCredentials> found = sources->Lookup(QueryFor(endpoint))) {
      return found->source;
    }
  }
  return "anonymous";
}

}  // namespace crimirror::relay
