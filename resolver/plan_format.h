// Human and machine renderings of an EndpointPlan, for `cri-mirror resolve`,
// logs and error messages. Neither ever contains a secret: credentials are
// reported only by kind ("password", "password_file", "auth",
// "identity_token" or "none").
#pragma once

#include <string>
#include <vector>

#include "resolver/endpoint_plan.h"

namespace crimirror::resolver {

// Which credential an endpoint's [host] table configures: "none",
// "password", "password_file", "auth" or "identity_token".
std::string CredentialKind(const Endpoint& endpoint);

// The config spelling of a resolve_tags mode: "upstream",
// "upstream-or-mirror" or "mirror".
const char* ResolveTagsName(config::ResolveTags mode);

// Multi-line text, one line per endpoint:
//   reference: docker.io/library/nginx:1.25
//   rule: docker.io
//   1. mirror https://m:5000 repository=dockerhub/library/nginx
//   serves=tags,digests host=m:5000 credentials=password
//   2. upstream https://registry-1.docker.io repository=library/nginx
//   serves=tags,digests host=registry-1.docker.io:443 skipped: https://d:5000:
//   digest-only mirror skipped for tag reference
// With no matching rule the second line is "rule: none (pulled directly)".
// A plan resolved for a pod namespace has "namespace: <ns>" after the
// reference line; a namespaced rule's line ends " namespaces=team-a,team-b".
// Ends with a newline. When `credential_sources` has one entry per endpoint
// (where its credentials would come from, never a secret: see
// relay/endpoint_credentials.h), each endpoint line is followed by
// "   credentials from: <entry>".
std::string FormatPlanText(const EndpointPlan& plan,
                           const std::vector<std::string>& credential_sources = {});

// A JSON object (pretty-printed, 2 spaces): reference, registry, repository,
// tag, digest, matched_rule (null when none), rule_origin, rule_namespaces[]
// (empty for a rule without namespaces), pod_namespace (null when none),
// blocked, endpoints[] (kind, base_url,
// host, repository, serves_tags, serves_digests, tls{ca_file, client_cert,
// insecure_skip_verify, tls_server_name}, username, credentials), skipped[].
// With `credential_sources` (as above) each endpoint also has
// "credential_source".
std::string FormatPlanJson(const EndpointPlan& plan,
                           const std::vector<std::string>& credential_sources = {});

}  // namespace crimirror::resolver
