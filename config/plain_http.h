// Credentials that would travel in clear text (issue 10 defect 12): a
// `[host."h:p"]` table with a username/password, `auth` or `identity_token`
// whose host:port a `[[mirror]]` rule reaches over plain `http://`. cri-mirror
// still uses them (a registry on a trusted network may need it), but says so
// at `check-config` and at start-up, naming the table, the endpoint and the
// fix. Loopback endpoints (127.0.0.0/8, [::1], localhost) are exempt: the
// credentials never leave the node. Pure.
#pragma once

#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/parse.h"

namespace crimirror::config {

// One warning per [host] table with credentials and at least one non-loopback
// http:// endpoint using it, "file:line:col: [host."h:p"]: ..." (the table's
// location from `locations`, "file: ..." when unknown), in host order. Never
// contains a credential.
std::vector<Warning> PlainHttpCredentialWarnings(
    const Config& config,
    const std::map<std::string, SourceLocation, std::less<>>& locations,
    std::string_view file_name);

}  // namespace crimirror::config
