// Reference parsing follows github.com/distribution/reference
// (ParseNormalizedNamed + TagNameOnly): the same grammar, compiled once into
// RE2 (linear time, safe on hostile input), and the same docker.io
// normalization. Byte-level checks run first so that whitespace, control bytes
// and invalid UTF-8 get a precise message instead of "invalid format".
#include "resolver/reference.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "log/echo.h"
#include "re2/re2.h"

namespace crimirror::resolver {
namespace {

// Input as it may appear in a message (issue 10 defect 11).
std::string Echo(absl::string_view text) {
  return log::Excerpt(std::string_view(text.data(), text.size()));
}

constexpr absl::string_view kLegacyDockerHub = "index.docker.io";
constexpr absl::string_view kLocalhost = "localhost";
constexpr absl::string_view kOfficialPrefix = "library/";
constexpr absl::string_view kDefaultTag = "latest";
constexpr size_t kNameTotalLengthMax = 255;
// Anything longer cannot be valid (255 name + 128 tag + digest); refuse before
// running any regex on it.
constexpr size_t kReferenceMaxBytes = 1024;

// The distribution/reference grammar (regexp.go), written out once.
constexpr char kAlphanumeric[] = "[a-z0-9]+";
constexpr char kSeparator[] = "(?:[._]|__|[-]+)";
constexpr char kDomainComponent[] =
    "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
constexpr char kTag[] = "[\\w][\\w.-]{0,127}";
constexpr char kDigest[] =
    "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}";

std::string PathComponentPattern() {
  return absl::StrCat(kAlphanumeric, "(?:", kSeparator, kAlphanumeric, ")*");
}

std::string DomainAndPortPattern() {
  std::string domain_name =
      absl::StrCat(kDomainComponent, "(?:\\.", kDomainComponent, ")*");
  return absl::StrCat("(?:", domain_name, "|\\[(?:[a-fA-F0-9:]+)\\])",
                      "(?::[0-9]+)?");
}

// Groups: 1 name, 2 domain, 3 tag, 4 digest.
const RE2& ReferenceRegexp() {
  static const RE2* const kRe = [] {
    std::string component = PathComponentPattern();
    std::string remote = absl::StrCat(component, "(?:/", component, ")*");
    std::string pattern =
        absl::StrCat("((?:(", DomainAndPortPattern(), ")/)?", remote, ")(?::(",
                     kTag, "))?(?:@(", kDigest, "))?");
    RE2::Options options;
    options.set_encoding(RE2::Options::EncodingLatin1);
    return new RE2(pattern, options);
  }();
  return *kRe;
}

const RE2& AnchoredIdentifierRegexp() {
  static const RE2* const kRe = new RE2("[a-f0-9]{64}");
  return *kRe;
}

// Validates UTF-8 and rejects whitespace/control bytes with a precise reason.
absl::Status CheckBytes(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
        c == '\f') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "invalid image reference: whitespace at byte %d; remove it", i));
    }
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "invalid image reference: control byte 0x%02x at byte %d", c, i));
    }
    if (c < 0x80) continue;
    size_t extra = (c >> 5) == 0x6    ? 1
                   : (c >> 4) == 0xe  ? 2
                   : (c >> 3) == 0x1e ? 3
                                      : 0;
    bool ok = extra != 0 && i + extra < text.size();
    for (size_t k = 1; ok && k <= extra; ++k) {
      ok = i + k < text.size() &&
           (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    }
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "invalid image reference: invalid UTF-8 at byte %d", i));
    }
    return absl::InvalidArgumentError(absl::StrFormat(
        "invalid image reference: non-ASCII character at byte %d; image "
        "references are ASCII only",
        i));
  }
  return absl::OkStatus();
}

struct DomainSplit {
  std::string domain;
  std::string remainder;
};

// splitDockerDomain() of distribution/reference normalize.go.
DomainSplit SplitDockerDomain(absl::string_view name) {
  size_t slash = name.find('/');
  if (slash == absl::string_view::npos) {
    return {std::string(kDockerHub.data(), kDockerHub.size()),
            absl::StrCat(kOfficialPrefix, name)};
  }
  absl::string_view maybe_domain = name.substr(0, slash);
  absl::string_view maybe_remote = name.substr(slash + 1);
  DomainSplit split;
  if (maybe_domain == kLocalhost ||
      maybe_domain.find_first_of(".:") != absl::string_view::npos ||
      absl::AsciiStrToLower(maybe_domain) != maybe_domain) {
    split = {std::string(maybe_domain), std::string(maybe_remote)};
  } else {
    split = {std::string(kDockerHub.data(), kDockerHub.size()),
             std::string(name)};
  }
  if (split.domain == kLegacyDockerHub)
    split.domain = std::string(kDockerHub.data(), kDockerHub.size());
  if (split.domain == std::string(kDockerHub.data(), kDockerHub.size()) &&
      split.remainder.find('/') == std::string::npos) {
    split.remainder = absl::StrCat(kOfficialPrefix, split.remainder);
  }
  return split;
}

// go-digest's Validate(): only registered algorithms, exact lowercase hex.
absl::Status ValidateDigest(absl::string_view digest) {
  size_t colon = digest.find(':');
  absl::string_view algorithm = digest.substr(0, colon);
  absl::string_view hex = digest.substr(colon + 1);
  size_t want = algorithm == "sha256"   ? 64
                : algorithm == "sha384" ? 96
                : algorithm == "sha512" ? 128
                                        : 0;
  if (want == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid image reference: unsupported digest algorithm \"",
                     Echo(algorithm), "\"; use sha256, sha384 or sha512"));
  }
  if (hex.size() != want) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "invalid image reference: %s digest must have %d hex characters, "
        "got %d",
        algorithm, want, hex.size()));
  }
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return absl::InvalidArgumentError(
          "invalid image reference: digest must be lowercase hex");
    }
  }
  return absl::OkStatus();
}

absl::Status FormatError(absl::string_view text) {
  // distribution/reference reports uppercase when the lowercased string would
  // parse; the same hint is the most useful fix here.
  std::string lowered = absl::AsciiStrToLower(text);
  if (RE2::FullMatch(lowered, ReferenceRegexp())) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid image reference \"", Echo(text),
                     "\": repository name must be lowercase"));
  }
  absl::string_view reason =
      "a character outside [a-z0-9._-] or a misplaced separator";
  if (text.find("..") != absl::string_view::npos) {
    reason = "\"..\" is not allowed";
  } else if (text.find("//") != absl::string_view::npos) {
    reason = "empty path component (\"//\")";
  } else if (text.front() == '/' || text.back() == '/') {
    reason = "leading or trailing \"/\"";
  } else if (text.front() == ':' || text.front() == '@') {
    reason = "the name is empty";
  } else if (text.back() == ':' || text.back() == '@') {
    reason = "empty tag or digest";
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid image reference \"", Echo(text), "\": ", reason));
}

// Rejections that need no grammar: empty, oversized, bad bytes, and a bare
// image ID (docker refuses it as ambiguous).
absl::Status CheckInput(absl::string_view text) {
  if (text.empty()) {
    return absl::InvalidArgumentError("image reference is empty");
  }
  if (text.size() > kReferenceMaxBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "image reference is %d bytes long; at most %d are possible",
        text.size(), kReferenceMaxBytes));
  }
  if (absl::Status s = CheckBytes(text); !s.ok()) return s;
  if (RE2::FullMatch(re2::StringPiece(text.data(), text.size()),
                     AnchoredIdentifierRegexp())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid repository name \"", Echo(text),
        "\": a 64-character hex string is an image ID, not a name; add the "
        "repository (e.g. name@sha256:<hex>)"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string Reference::Name() const {
  return absl::StrCat(registry, "/", repository);
}

std::string Reference::Canonical() const {
  std::string out = Name();
  if (!tag.empty()) absl::StrAppend(&out, ":", tag);
  if (!digest.empty()) absl::StrAppend(&out, "@", digest);
  return out;
}

absl::StatusOr<Reference> ParseReference(std::string_view text_std) {
  // Debian's Abseil has its own absl::string_view; work in that.
  absl::string_view text(text_std.data(), text_std.size());
  if (absl::Status s = CheckInput(text); !s.ok()) return s;
  DomainSplit split = SplitDockerDomain(text);
  absl::string_view remote = split.remainder;
  remote = remote.substr(0, remote.find(':'));
  if (absl::AsciiStrToLower(remote) != remote) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid image reference: repository name \"", Echo(remote),
                     "\" must be lowercase"));
  }
  std::string full = absl::StrCat(split.domain, "/", split.remainder);
  std::string name, domain, tag, digest;
  if (!RE2::FullMatch(full, ReferenceRegexp(), &name, &domain, &tag, &digest)) {
    return FormatError(text);
  }
  if (name.size() > kNameTotalLengthMax) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "invalid image reference: repository name is %d characters long; "
        "the limit is %d",
        name.size(), kNameTotalLengthMax));
  }
  if (domain != split.domain) {
    // distribution/reference would accept e.g. "a_b.com/x" with an empty
    // domain; containerd then cannot tell where to pull from. Reject.
    return absl::InvalidArgumentError(
        absl::StrCat("invalid image reference: \"", Echo(split.domain),
                     "\" is not a valid registry host"));
  }
  if (!digest.empty()) {
    if (absl::Status s = ValidateDigest(digest); !s.ok()) return s;
  }
  Reference ref;
  ref.registry = std::move(domain);
  ref.repository = name.substr(ref.registry.size() + 1);
  ref.tag = tag.empty() && digest.empty() ? std::string(kDefaultTag) : tag;
  ref.digest = std::move(digest);
  return ref;
}

}  // namespace crimirror::resolver
