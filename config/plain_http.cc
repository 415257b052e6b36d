#include "config/plain_http.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/endpoint_url.h"

namespace crimirror::config {
namespace {

absl::string_view A(std::string_view s) { return {s.data(), s.size()}; }

// Which credential keys `host` sets; empty when none.
std::string CredentialKeys(const HostSettings& host) {
  std::vector<std::string> keys;
  if (!host.password.empty() || !host.password_file.empty()) {
    keys.push_back(host.password_file.empty() ? "username/password"
                                              : "username/password_file");
  }
  if (!host.auth.empty()) keys.push_back("auth");
  if (!host.identity_token.empty()) keys.push_back("identity_token");
  return absl::StrJoin(keys, ", ");
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "[::1]" || absl::StartsWith(host, "127.");
}

// The first rule endpoint that reaches `host_port` over plain HTTP off the
// node, as "http://h:p (key path)"; empty when none.
std::string PlainHttpUse(const Config& config, const std::string& host_port) {
  for (std::size_t i = 0; i < config.mirrors.size(); ++i) {
    const std::vector<std::string>& endpoints = config.mirrors[i].endpoints;
    for (std::size_t j = 0; j < endpoints.size(); ++j) {
      absl::StatusOr<EndpointUrl> url = ParseEndpointUrl(endpoints[j]);
      if (!url.ok() || url->scheme != "http" || IsLoopback(url->host) ||
          url->HostPort() != host_port) {
        continue;
      }
      return absl::StrCat(A(url->BaseUrl()), " ([[mirror]][", i, "].endpoints[", j, "])");
    }
  }
  return "";
}

}  // namespace

std::vector<Warning> PlainHttpCredentialWarnings(
    const Config& config,
    const std::map<std::string, SourceLocation, std::less<>>& locations,
    std::string_view file_name) {
  std::vector<Warning> warnings;
  for (const auto& [host_port, host] : config.hosts) {
    const std::string keys = CredentialKeys(host);
    if (keys.empty()) continue;
    const std::string use = PlainHttpUse(config, host_port);
    if (use.empty()) continue;
    const std::string table = absl::StrCat("[host.\"", host_port, "\"]");
    auto at = locations.find(table);
    const std::string where =
        at == locations.end()
            ? absl::StrCat(A(file_name), ": ")
            : absl::StrCat(A(file_name), ":", at->second.line, ":", at->second.column, ": ");
    warnings.push_back({absl::StrCat(
        where, table, ": ", keys, " go in clear text to ", use,
        ", readable by anyone on the network path; make the endpoint https://", host_port,
        " (with ca_file for a private CA) or remove the credentials from ", table)});
  }
  return warnings;
}

}  // namespace crimirror::config
