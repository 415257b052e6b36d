#include "resolver/plan_format.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace crimirror::resolver {
namespace {

std::string Serves(const Endpoint& endpoint) {
  if (endpoint.serves_tags && endpoint.serves_digests) return "tags,digests";
  if (endpoint.serves_tags) return "tags";
  if (endpoint.serves_digests) return "digests";
  return "nothing";
}

// "tags: resolved at trusted endpoints (upstream-or-mirror, within 3s),
// last known digests kept": how this plan's tag gets its digest.
std::string TagLine(const EndpointPlan& plan) {
  std::string out;
  if (plan.resolve_tags == config::ResolveTags::kMirror) {
    out = "tags: the first endpoint that answers decides (resolve_tags = \"mirror\")";
  } else {
    out = absl::StrCat("tags: resolved at trusted endpoints within ",
                       absl::FormatDuration(plan.resolve_timeout), " (resolve_tags = \"",
                       ResolveTagsName(plan.resolve_tags), "\"), then fetched by digest");
  }
  if (plan.last_known) {
    absl::StrAppend(&out, "; a mirror's answer must match the last digest a trusted "
                          "endpoint gave (last_known)");
  }
  return out;
}

std::string KindName(EndpointKind kind) {
  return kind == EndpointKind::kMirror ? "mirror" : "upstream";
}

std::string TlsSummary(const config::HostSettings& host) {
  std::string out;
  auto add = [&out](absl::string_view item) {
    absl::StrAppend(&out, out.empty() ? "" : ",", item);
  };
  if (!host.ca_files.empty()) add("ca_file");
  if (!host.client_cert.empty()) add("client_cert");
  if (host.insecure_skip_verify) add("insecure_skip_verify");
  if (!host.tls_server_name.empty()) {
    add(absl::StrCat("server_name=", host.tls_server_name));
  }
  return out;
}

nlohmann::json EndpointJson(const Endpoint& endpoint) {
  nlohmann::json j = {
      {"kind", KindName(endpoint.kind)},
      {"base_url", endpoint.base_url},
      {"host", endpoint.host},
      {"repository", endpoint.repository},
      {"serves_tags", endpoint.serves_tags},
      {"serves_digests", endpoint.serves_digests},
      {"trusted", endpoint.trusted},
      {"credentials", CredentialKind(endpoint)},
  };
  if (endpoint.host_settings) {
    const config::HostSettings& host = *endpoint.host_settings;
    // As written in the config: one path as a string, several as a list.
    nlohmann::json ca = host.ca_files.size() > 1 ? nlohmann::json(host.ca_files)
                        : host.ca_files.empty()  ? nlohmann::json("")
                                                 : nlohmann::json(host.ca_files[0]);
    j["tls"] = {{"ca_file", std::move(ca)},
                {"client_cert", host.client_cert},
                {"insecure_skip_verify", host.insecure_skip_verify},
                {"tls_server_name", host.tls_server_name}};
    j["username"] = host.username;
  }
  return j;
}

}  // namespace

const char* ResolveTagsName(config::ResolveTags mode) {
  switch (mode) {
    case config::ResolveTags::kUpstream:
      return "upstream";
    case config::ResolveTags::kUpstreamOrMirror:
      return "upstream-or-mirror";
    case config::ResolveTags::kMirror:
      break;
  }
  return "mirror";
}

std::string CredentialKind(const Endpoint& endpoint) {
  if (!endpoint.host_settings) return "none";
  const config::HostSettings& host = *endpoint.host_settings;
  if (!host.password_file.empty()) return "password_file";
  if (!host.password.empty()) return "password";
  if (!host.auth.empty()) return "auth";
  if (!host.identity_token.empty()) return "identity_token";
  return "none";
}

std::string FormatPlanText(const EndpointPlan& plan,
                           const std::vector<std::string>& credential_sources) {
  std::string out =
      absl::StrCat("reference: ", plan.reference.Canonical(), "\n");
  if (!plan.pod_namespace.empty()) {
    absl::StrAppend(&out, "namespace: ", plan.pod_namespace, "\n");
  }
  if (!plan.Matched()) {
    absl::StrAppend(&out, "rule: none (pulled directly from ",
                    plan.reference.registry, ")\n");
    return out;
  }
  absl::StrAppend(&out, "rule: ", plan.matched_rule, " (from ",
                  plan.rule_origin, ")");
  if (!plan.rule_namespaces.empty()) {
    absl::StrAppend(&out, " namespaces=", absl::StrJoin(plan.rule_namespaces, ","));
  }
  absl::StrAppend(&out, "\n");
  if (plan.blocked) {
    absl::StrAppend(&out, "blocked: pulls are refused (PERMISSION_DENIED)\n");
    return out;
  }
  if (plan.endpoints.empty()) {
    absl::StrAppend(&out, "no endpoint can serve this reference\n");
  } else if (!plan.reference.IsDigest()) {
    absl::StrAppend(&out, TagLine(plan), "\n");
  }
  for (size_t i = 0; i < plan.endpoints.size(); ++i) {
    const Endpoint& e = plan.endpoints[i];
    absl::StrAppend(&out, i + 1, ". ", KindName(e.kind), " ", e.base_url,
                    " repository=", e.repository, " serves=", Serves(e),
                    " host=", e.host);
    if (e.trusted) absl::StrAppend(&out, " trusted");
    if (e.host_settings) {
      std::string tls = TlsSummary(*e.host_settings);
      if (!tls.empty()) absl::StrAppend(&out, " tls=", tls);
      absl::StrAppend(&out, " credentials=", CredentialKind(e));
    }
    absl::StrAppend(&out, "\n");
    if (credential_sources.size() == plan.endpoints.size()) {
      absl::StrAppend(&out, "   credentials from: ", credential_sources[i], "\n");
    }
  }
  for (const std::string& reason : plan.skipped) {
    absl::StrAppend(&out, "skipped: ", reason, "\n");
  }
  return out;
}

std::string FormatPlanJson(const EndpointPlan& plan,
                           const std::vector<std::string>& credential_sources) {
  const Reference& ref = plan.reference;
  nlohmann::json j = {
      {"reference", ref.Canonical()},
      {"registry", ref.registry},
      {"repository", ref.repository},
      {"tag", ref.tag},
      {"digest", ref.digest},
      {"matched_rule", plan.Matched() ? nlohmann::json(plan.matched_rule)
                                      : nlohmann::json(nullptr)},
      {"rule_origin", plan.Matched() ? nlohmann::json(plan.rule_origin)
                                     : nlohmann::json(nullptr)},
      {"rule_namespaces", plan.rule_namespaces},
      {"pod_namespace", plan.pod_namespace.empty() ? nlohmann::json(nullptr)
                                                   : nlohmann::json(plan.pod_namespace)},
      {"blocked", plan.blocked},
      {"resolve_tags", ResolveTagsName(plan.resolve_tags)},
      {"resolve_timeout", absl::FormatDuration(plan.resolve_timeout)},
      {"last_known", plan.last_known},
      {"endpoints", nlohmann::json::array()},
      {"skipped", plan.skipped},
  };
  for (std::size_t i = 0; i < plan.endpoints.size(); ++i) {
    nlohmann::json e = EndpointJson(plan.endpoints[i]);
    if (credential_sources.size() == plan.endpoints.size()) {
      e["credential_source"] = credential_sources[i];
    }
    j["endpoints"].push_back(std::move(e));
  }
  // dump() with error_handler replace: never throws on odd bytes.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace crimirror::resolver
