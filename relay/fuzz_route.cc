// libFuzzer target: the relay's request parsing, as relay_server.cc runs it
// on every request: ParseRoute on the raw path, then ParseBasicAuthorization
// on the Authorization header and SessionStore::Authenticate on the result.
// Input: the path, a '\n', the header value. Never a crash or hang; an
// accepted route re-parses to itself from its parts and names a digest the
// relay can verify; an accepted credential round-trips through base64.
// Seeds: relay/fuzz_corpus/fuzz_route/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "relay/route.h"
#include "relay/session_store.h"

namespace {

using crimirror::relay::Route;
using crimirror::relay::RouteKind;

bool SameRoute(const Route& a, const Route& b) {
  return a.kind == b.kind && a.name == b.name && a.ref == b.ref &&
         a.ref_is_digest == b.ref_is_digest;
}

void CheckRoute(std::string_view path) {
  absl::StatusOr<Route> route = crimirror::relay::ParseRoute(path);
  if (!route.ok()) {
    if (!absl::IsInvalidArgument(route.status()) && !absl::IsNotFound(route.status())) {
      std::abort();
    }
    return;
  }
  if (route->kind == RouteKind::kBase) return;
  if (route->name.empty() || route->ref.empty()) std::abort();
  if (route->ref_is_digest && !crimirror::relay::IsSupportedDigest(route->ref)) std::abort();
  if (route->kind == RouteKind::kBlob && !route->ref_is_digest) std::abort();
  const std::string rebuilt =
      absl::StrCat("/v2/", route->name,
                   route->kind == RouteKind::kManifest ? "/manifests/" : "/blobs/", route->ref);
  absl::StatusOr<Route> again = crimirror::relay::ParseRoute(rebuilt);
  if (!again.ok() || !SameRoute(*again, *route)) std::abort();
}

void CheckAuthorization(std::string_view header) {
  static crimirror::relay::SessionStore* store = [] {
    auto* s = new crimirror::relay::SessionStore();
    (void)s->Create(crimirror::resolver::EndpointPlan{}, std::nullopt, absl::Hours(1));
    return s;
  }();
  auto credential = crimirror::relay::ParseBasicAuthorization(header);
  if (!credential.ok()) {
    if (!absl::IsUnauthenticated(credential.status())) std::abort();
    return;
  }
  const auto& [user, password] = *credential;
  if (user.find(':') != std::string::npos) std::abort();
  auto again = crimirror::relay::ParseBasicAuthorization(
      absl::StrCat("Basic ", absl::Base64Escape(absl::StrCat(user, ":", password))));
  if (!again.ok() || *again != *credential) std::abort();
  // 256 random bits: no fuzzed credential may open the session.
  if (store->Authenticate(user, password).ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t newline = input.find('\n');
  CheckRoute(input.substr(0, newline));
  if (newline != std::string_view::npos) CheckAuthorization(input.substr(newline + 1));
  return 0;
}
