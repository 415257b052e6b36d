#include "resolver/reference.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::resolver {
namespace {

using ::testing::HasSubstr;

const std::string kHex64(64, 'f');
const std::string kDigest = "sha256:" + std::string(64, 'a');

struct ValidCase {
  std::string input;
  std::string registry;
  std::string repository;
  std::string tag;
  std::string digest;
};

void PrintTo(const ValidCase& c, std::ostream* os) {
  *os << c.input.substr(0, 80);
}

class ValidReferenceTest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ValidReferenceTest, NormalizesLikeDocker) {
  const ValidCase& c = GetParam();
  absl::StatusOr<Reference> ref = ParseReference(c.input);
  ASSERT_TRUE(ref.ok()) << c.input << ": " << ref.status();
  EXPECT_EQ(ref->registry, c.registry) << c.input;
  EXPECT_EQ(ref->repository, c.repository) << c.input;
  EXPECT_EQ(ref->tag, c.tag) << c.input;
  EXPECT_EQ(ref->digest, c.digest) << c.input;
  // The canonical form is a fixed point.
  absl::StatusOr<Reference> again = ParseReference(ref->Canonical());
  ASSERT_TRUE(again.ok()) << ref->Canonical();
  EXPECT_EQ(*again, *ref);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ValidReferenceTest,
    ::testing::Values(
        // Familiar Docker Hub names.
        ValidCase{"nginx", "docker.io", "library/nginx", "latest", ""},
        ValidCase{"nginx:1.25", "docker.io", "library/nginx", "1.25", ""},
        ValidCase{"user/app", "docker.io", "user/app", "latest", ""},
        ValidCase{"library/debian", "docker.io", "library/debian", "latest",
                  ""},
        ValidCase{"docker.io/debian", "docker.io", "library/debian", "latest",
                  ""},
        ValidCase{"docker.io/library/debian:12", "docker.io", "library/debian",
                  "12", ""},
        ValidCase{"index.docker.io/debian", "docker.io", "library/debian",
                  "latest", ""},
        ValidCase{"index.docker.io/docker/docker", "docker.io", "docker/docker",
                  "latest", ""},
        ValidCase{"a/b/c/d", "docker.io", "a/b/c/d", "latest", ""},
        // Domain detection: '.', ':' or localhost.
        ValidCase{"host:5000/a/b:tag", "host:5000", "a/b", "tag", ""},
        ValidCase{"localhost/x", "localhost", "x", "latest", ""},
        ValidCase{"localhost:5000/x:v1", "localhost:5000", "x", "v1", ""},
        ValidCase{"127.0.0.1:5000/docker/docker", "127.0.0.1:5000",
                  "docker/docker", "latest", ""},
        ValidCase{"127.0.0.1:5000/debian", "127.0.0.1:5000", "debian", "latest",
                  ""},
        ValidCase{"sub-dom1.foo.com/bar/baz/quux:some-long-tag",
                  "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", ""},
        ValidCase{"b.gcr.io/test.example.com/my-app:test.example.com",
                  "b.gcr.io", "test.example.com/my-app", "test.example.com",
                  ""},
        ValidCase{"xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage",
                  "xn--n3h.com", ""},
        ValidCase{"[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "repo",
                  "tag", ""},
        ValidCase{"[::1]/repo", "[::1]", "repo", "latest", ""},
        // "foo" without '.' or ':' is a path component, not a domain.
        ValidCase{"foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com",
                  "8080", ""},
        ValidCase{"test.com:5000", "docker.io", "library/test.com", "5000", ""},
        ValidCase{"192.168.1.1:5000", "docker.io", "library/192.168.1.1",
                  "5000", ""},
        // An uppercase first component is taken as a domain (docker quirk).
        ValidCase{"Docker.io/foo/bar", "Docker.io", "foo/bar", "latest", ""},
        // Separators.
        ValidCase{"a__b/c--d/e.f_g", "docker.io", "a__b/c--d/e.f_g", "latest",
                  ""},
        ValidCase{"lowercase:Uppercase", "docker.io", "library/lowercase",
                  "Uppercase", ""},
        ValidCase{"x:_tag", "docker.io", "library/x", "_tag", ""},
        // Digests; name:tag@digest keeps both.
        ValidCase{"a/b@" + kDigest, "docker.io", "a/b", "", kDigest},
        ValidCase{"a/b:tag@" + kDigest, "docker.io", "a/b", "tag", kDigest},
        ValidCase{"busybox@" + kDigest, "docker.io", "library/busybox", "",
                  kDigest},
        ValidCase{"test:5000/repo@sha512:" + std::string(128, 'f'), "test:5000",
                  "repo", "", "sha512:" + std::string(128, 'f')},
        // Exactly 255 characters of name.
        ValidCase{"docker.io/x/" + std::string(243, 'a'), "docker.io",
                  "x/" + std::string(243, 'a'), "latest", ""},
        // 128-character tag.
        ValidCase{"x:" + std::string(128, 't'), "docker.io", "library/x",
                  std::string(128, 't'), ""}));

struct InvalidCase {
  std::string input;
  std::string message;  // substring of the error
};

void PrintTo(const InvalidCase& c, std::ostream* os) {
  *os << ::testing::PrintToString(c.input.substr(0, 80));
}

class InvalidReferenceTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidReferenceTest, IsRejectedWithReason) {
  const InvalidCase& c = GetParam();
  absl::StatusOr<Reference> ref = ParseReference(c.input);
  ASSERT_FALSE(ref.ok()) << "accepted: " << c.input << " -> "
                         << ref->Canonical();
  EXPECT_EQ(ref.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ref.status().message(), HasSubstr(c.message)) << c.input;
}

INSTANTIATE_TEST_SUITE_P(
    Table, InvalidReferenceTest,
    ::testing::Values(
        InvalidCase{"", "empty"}, InvalidCase{":justtag", "name is empty"},
        InvalidCase{"@" + kDigest, "name is empty"},
        InvalidCase{"Uppercase:tag", "must be lowercase"},
        InvalidCase{"test:5000/Uppercase/lowercase:tag", "must be lowercase"},
        InvalidCase{"docker.io/Library/nginx", "must be lowercase"},
        InvalidCase{kHex64, "image ID"},
        InvalidCase{"repo@sha256:" + std::string(34, 'f'), "64 hex"},
        InvalidCase{"repo@sha256:" + std::string(64, 'F'), "must be lowercase"},
        InvalidCase{"repo@sha256:" + std::string(63, 'a') + "A",
                    "lowercase hex"},
        InvalidCase{"validname@invaliddigest:" + kHex64,
                    "unsupported digest algorithm"},
        InvalidCase{"repo@md5:" + std::string(32, 'a'),
                    "unsupported digest algorithm"},
        InvalidCase{"aa/asdf$$^/aa", "invalid image reference"},
        InvalidCase{"a//b", "//"}, InvalidCase{"/a", "leading or trailing"},
        InvalidCase{"a/", "leading or trailing"},
        InvalidCase{"a/../b", "\"..\""}, InvalidCase{"a..b", "\"..\""},
        InvalidCase{"a/b:", "empty tag"},
        InvalidCase{"a/b@", "empty tag or digest"},
        InvalidCase{"a b", "whitespace"}, InvalidCase{" nginx", "whitespace"},
        InvalidCase{"nginx\n", "whitespace"},
        InvalidCase{std::string("ng\0inx", 6), "control byte"},
        InvalidCase{"ng\x7finx", "control byte"},
        InvalidCase{"ngin\xc3\x28x", "invalid UTF-8"},
        InvalidCase{"ngin\xff", "invalid UTF-8"},
        InvalidCase{"ngin\xc3\xa9x", "ASCII"},
        InvalidCase{"-a/b", "invalid image reference"},
        InvalidCase{"a-/b", "invalid image reference"},
        InvalidCase{"a/b:-tag", "invalid image reference"},
        InvalidCase{"a/b:.tag", "invalid image reference"},
        InvalidCase{"a:" + std::string(129, 't'), "invalid image reference"},
        InvalidCase{"[2001:db8::1]:tag", "invalid image reference"},
        InvalidCase{"[fe80::1%eth0]:5000/repo", "invalid image reference"},
        InvalidCase{"a_b.com/x", "not a valid registry host"},
        InvalidCase{"docker.io/x/" + std::string(244, 'a'), "255"},
        InvalidCase{std::string(246, 'a'), "255"},
        InvalidCase{std::string(128 * 2, 'a'), "255"},
        InvalidCase{std::string(5000, 'a'), "bytes long"}));

// Issue 10 defect 11: a rejected reference is quoted in an excerpt only.
TEST(ReferenceTest, RejectionQuotesOnlyAnExcerpt) {
  const std::string long_name = "a..b/" + std::string(901, 'a');
  absl::StatusOr<Reference> ref = ParseReference(long_name);
  ASSERT_FALSE(ref.ok());
  EXPECT_LT(ref.status().message().size(), 400u) << ref.status().message();
  EXPECT_THAT(ref.status().message(), HasSubstr("(906 bytes in all)"));
}

TEST(ReferenceTest, CanonicalAndName) {
  Reference ref = *ParseReference("nginx:1.25");
  EXPECT_EQ(ref.Canonical(), "docker.io/library/nginx:1.25");
  EXPECT_EQ(ref.Name(), "docker.io/library/nginx");
  EXPECT_FALSE(ref.IsDigest());
  EXPECT_EQ(ref.FetchRef(), "1.25");
}

TEST(ReferenceTest, DigestWinsForFetchingTagKeptForNaming) {
  Reference ref = *ParseReference("a/b:tag@" + kDigest);
  EXPECT_TRUE(ref.IsDigest());
  EXPECT_EQ(ref.FetchRef(), kDigest);
  EXPECT_EQ(ref.Canonical(), "docker.io/a/b:tag@" + kDigest);
}

TEST(ReferenceTest, DigestOnlyHasNoDefaultTag) {
  Reference ref = *ParseReference("a/b@" + kDigest);
  EXPECT_EQ(ref.tag, "");
  EXPECT_EQ(ref.Canonical(), "docker.io/a/b@" + kDigest);
}

}  // namespace
}  // namespace crimirror::resolver
