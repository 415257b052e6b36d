// Image references: parsing and normalization exactly as docker/containerd do
// (github.com/distribution/reference), with no I/O.
//
//   nginx                      -> docker.io/library/nginx:latest
//   user/app                   -> docker.io/user/app:latest
//   host:5000/a/b:tag          -> host:5000/a/b:tag
//   a/b:tag@sha256:<64 hex>    -> digest used for fetching, tag kept for naming
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace crimirror::resolver {

inline constexpr std::string_view kDockerHub = "docker.io";

struct Reference {
  std::string registry;    // "docker.io", "host:5000", "localhost"
  std::string repository;  // "library/nginx"
  std::string tag;         // "latest" when neither tag nor digest was given
  std::string digest;      // "sha256:<hex>" or empty

  // The reference to fetch with: the digest when there is one, else the tag.
  const std::string& FetchRef() const { return digest.empty() ? tag : digest; }
  bool IsDigest() const { return !digest.empty(); }
  // "docker.io/library/nginx:1.25", "r/a@sha256:..", "r/a:t@sha256:..".
  std::string Canonical() const;
  // "docker.io/library/nginx" (no tag or digest).
  std::string Name() const;

  friend bool operator==(const Reference&, const Reference&) = default;
};

// Parses and normalizes `text`. InvalidArgument with a short reason naming the
// offending part for anything docker would reject: uppercase repository,
// empty components, bad digest, over 255 characters of name, whitespace,
// control bytes, invalid UTF-8, "..".
// Matches distribution/reference's ParseNormalizedNamed + TagNameOnly, with
// one deliberate difference: a first component that docker treats as a domain
// but that is not a valid host (e.g. "a_b.com/x", which docker accepts with an
// empty domain) is rejected. Non-ASCII input is always rejected. Pure and
// thread-safe.
absl::StatusOr<Reference> ParseReference(std::string_view text);

}  // namespace crimirror::resolver
