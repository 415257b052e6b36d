# The libcurl implementation of relay::Upstream (relay/upstream.h), included
# by relay/CMakeLists.txt. Its own library so the relay server can be built
# and tested against a fake Upstream.
crimirror_library(NAME relay_upstream
  SOURCES
    upstream.cc
    address_policy.cc
    curl_upstream.cc
    curl_handles.cc
    curl_opener.cc
    curl_pool.cc
    curl_status.cc
    curl_target.cc
    curl_token_fetcher.cc
    curl_transfer.cc
    curl_transfer_options.cc
    tls_cache.cc
  PUBLIC_DEPS
    crimirror::auth
    crimirror::config
    absl::status
    absl::statusor
    absl::strings
    absl::synchronization
    absl::time
  PRIVATE_DEPS
    CURL::libcurl
    OpenSSL::SSL
    OpenSSL::Crypto)

# Talks to the real docker-registry (/usr/bin/docker-registry) on loopback;
# generates its TLS material with the openssl CLI and htpasswd.
crimirror_test(NAME relay_upstream_test
  SOURCES curl_upstream_test.cc
  DEPS
    crimirror::relay_upstream
    crimirror::test_support
    CURL::libcurl
    OpenSSL::SSL
    OpenSSL::Crypto
    absl::strings
    absl::synchronization)
