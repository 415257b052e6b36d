// TLS trust material of a `[host]` table, read and checked up front: the
// extra CA files (`ca_file`, one or several), the client certificate/key pair (`client_cert`,
// `client_key`) for mTLS, and the verification knobs. Loading validates with
// OpenSSL so a wrong path, a non-PEM file or a key that does not belong to
// the certificate is reported with the file and the fix before any
// connection is tried. The curl side turns this into CURLOPT_CAINFO_BLOB /
// CURLOPT_SSLCERT / CURLOPT_SSLKEY.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"

namespace crimirror::auth {

struct TlsMaterial {
  // Paths of the extra CA files in order, and their PEM texts concatenated
  // in that order (each ending in a newline; "" when none).
  std::vector<std::string> ca_files;
  std::string ca_pem;
  // Client certificate and key paths for mTLS ("" when none).
  std::string client_cert;
  std::string client_key;
  bool insecure_skip_verify = false;
  // Name to verify and send as SNI instead of the URL's host ("" = URL host).
  std::string tls_server_name;
};

// Reads and validates the TLS settings of `host`. Errors (all
// FailedPrecondition, message starting with `[host."<h>"].<key>: <path>`):
// unreadable file, no PEM certificate in a ca_file (each file is checked on
// its own and named) or client_cert, unparsable
// PEM, unreadable or encrypted client_key, key not matching the certificate,
// only one of client_cert/client_key set. Never prompts for a passphrase.
absl::StatusOr<TlsMaterial> LoadTlsMaterial(const config::HostSettings& host);

// Checks that `pem` holds at least one parsable X.509 certificate and
// nothing unparsable. `what` names the source in messages
// (`[host."m:5000"].ca_file: /etc/ca.pem`). Returns FailedPrecondition.
absl::Status ValidateCaPem(std::string_view pem, std::string_view what);

// The PEM bundle to trust for a host with an extra CA: the system bundle at
// `system_bundle_path` (skipped when empty or unreadable) followed by
// `extra_pem`. libcurl's CAINFO replaces the default bundle rather than
// adding to it, hence the concatenation.
std::string CombinedCaBundle(std::string_view system_bundle_path, std::string_view extra_pem);

}  // namespace crimirror::auth
