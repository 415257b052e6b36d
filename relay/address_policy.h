// Which IP addresses a redirect target or token realm may be reached at
// (issue 10 defect 4). Pure; used by the libcurl Upstream's socket and
// pre-request callbacks, which see the address curl actually dials (after
// DNS), not just a literal host in the URL. Internal to
// crimirror_relay_upstream.
#pragma once

#include <string>
#include <string_view>

namespace crimirror::relay::upstream_internal {

enum class AddressClass {
  kPublic,       // anything not below (including private 10/8 etc.)
  kLoopback,     // 127.0.0.0/8, ::1
  kLinkLocal,    // 169.254.0.0/16, fe80::/10 (cloud metadata services live here)
  kUnspecified,  // 0.0.0.0/8, ::
  kInvalid,      // not an IPv4/IPv6 literal
};

// Classifies a numeric address as curl reports it ("127.0.0.1", "::1",
// "fe80::1", IPv4-mapped "::ffff:169.254.1.1" as its IPv4 address).
AddressClass ClassifyAddress(std::string_view ip);

// Whether a request that is not the endpoint's own may connect to `ip`:
// never link-local, unspecified or unparsable; loopback only when
// `allow_loopback` (the endpoint itself is loopback). Returns "" when
// allowed, else why not ("169.254.169.254 is a link-local address").
std::string RefuseAddress(std::string_view ip, bool allow_loopback);

}  // namespace crimirror::relay::upstream_internal
