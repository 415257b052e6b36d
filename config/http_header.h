// Extra request headers for a registry host (`[host."h:p"] headers`, the
// `[header]` table of containerd's hosts.toml): which names and values are
// accepted. Pure.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace crimirror::config {

// OK for a header cri-mirror may add to every request to a host's endpoint.
// InvalidArgument (message without the key path, saying the fix) for a
// name that is not an HTTP token, a value with control bytes, or a header
// cri-mirror sets itself or that would change the exchange: Authorization
// (use username/password or identity_token), Host, Content-Length,
// Transfer-Encoding, Connection, Upgrade, Range, Accept, Cookie.
absl::Status CheckRegistryHeader(const std::string& name, const std::string& value);

}  // namespace crimirror::config
