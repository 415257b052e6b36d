#include "credentials/match_images.h"

#include <gtest/gtest.h>

namespace crimirror::credentials {
namespace {

// The kubelet's TestURLsMatch (pkg/credentialprovider/keyring_test.go),
// plus our own cases for ports, IPs and paths.
TEST(MatchImagesTest, UrlsMatchAsTheKubelet) {
  const struct {
    const char* glob;
    const char* target;
    bool match;
  } cases[] = {
      // no path component
      {"*.kubernetes.io", "prefix.kubernetes.io", true},
      {"prefix.*.io", "prefix.kubernetes.io", true},
      {"prefix.kubernetes.*", "prefix.kubernetes.io", true},
      {"*-good.kubernetes.io", "prefix-good.kubernetes.io", true},
      // path components
      {"*.kubernetes.io/blah", "prefix.kubernetes.io/blah", true},
      {"prefix.*.io/foo", "prefix.kubernetes.io/foo/bar", true},
      // path components and ports
      {"*.kubernetes.io:1111/blah", "prefix.kubernetes.io:1111/blah", true},
      {"prefix.*.io:1111/foo", "prefix.kubernetes.io:1111/foo/bar", true},
      // number of parts mismatch
      {"*.kubernetes.io", "kubernetes.io", false},
      {"*.*.kubernetes.io", "prefix.kubernetes.io", false},
      {"*.*.kubernetes.io", "kubernetes.io", false},
      // some parts mismatch
      {"kubernetes.io", "kubernetes.com", false},
      {"k*.io", "quay.io", false},
      // ports mismatch
      {"*.kubernetes.io:1234/blah", "prefix.kubernetes.io:1111/blah", false},
      {"prefix.*.io/foo", "prefix.kubernetes.io:1111/foo/bar", false},
      // ours: the image forms the relay asks about
      {"127.0.0.1:5000", "127.0.0.1:5000/team/app", true},
      {"127.0.0.1", "127.0.0.1:5000/team/app", false},
      {"127.0.0.*:5000", "127.0.0.1:5000/team/app", true},
      {"*.dkr.ecr.*.amazonaws.com", "123456789.dkr.ecr.us-east-1.amazonaws.com/app", true},
      {"*.azurecr.io", "myregistry.azurecr.io/app", true},
      {"*.azurecr.io", "azurecr.io/app", false},
      {"registry.io/team", "registry.io/teamx/app", true},  // a string prefix, as the kubelet
      {"registry.io/team/", "registry.io/teamx/app", false},
      {"registry.io/other", "registry.io/team/app", false},
      // Go's url.Parse reads '?' as the start of a query, a leading '[' as
      // an IPv6 literal and refuses '\\' in a host: such globs never match
      // in the kubelet either.
      {"reg?stry.io", "registry.io/app", false},
      {"[q-s]egistry.io", "registry.io/app", false},
      {"r[d-f]gistry.io", "registry.io/app", true},
      {"r[^e]gistry.io", "registry.io/app", false},
      {"docker.io", "docker.io/library/nginx", true},
      {"[localhost", "localhost/app", false},  // malformed glob: no match
      {"local\\host", "localhost/app", false},
      {"*", "localhost/app", true},
      {"*", "registry.io/app", false},
      {"[::1]:5000", "[::1]:5000/app", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(UrlsMatch(c.glob, c.target), c.match) << c.glob << " vs " << c.target;
  }
}

TEST(MatchImagesTest, GoFilepathMatchCases) {
  // From Go's path/filepath match_test.go.
  const struct {
    const char* pattern;
    const char* name;
    bool match;
  } cases[] = {
      {"abc", "abc", true},         {"*", "abc", true},          {"*c", "abc", true},
      {"a*", "a", true},            {"a*", "abc", true},         {"a*", "ab/c", false},
      {"a*/b", "abc/b", true},      {"a*b*c*d*e*/f", "axbxcxdxe/f", true},
      {"a*b*c*d*e*/f", "axbxcxdxexxx/f", true},                  {"a*b?c*x", "abxbbxdbxebxczzx", true},
      {"a*b?c*x", "abxbbxdbxebxczzy", false},                    {"ab[c]", "abc", true},
      {"ab[b-d]", "abc", true},     {"ab[e-g]", "abc", false},   {"ab[^c]", "abc", false},
      {"ab[^b-d]", "abc", false},   {"ab[^e-g]", "abc", true},   {"a\\*b", "a*b", true},
      {"a\\*b", "ab", false},       {"a?b", "a\xE2\x98\xBA" "b", true},
      {"a[^a]b", "a\xE2\x98\xBA" "b", true},                     {"a???b", "a\xE2\x98\xBA" "b", false},
      {"[a-\xCE\xB6]", "\xCE\xB1", true},                        {"*[a-z]", "\xCE\xB1", false},
      {"[\\]a]", "]", true},        {"[\\-]", "-", true},        {"[x\\-]", "x", true},
      {"[x\\-]", "z", false},       {"[\\-x]", "a", false},      {"[]a]", "]", false},
      {"[-]", "-", false},          {"[x-]", "x", false},        {"[a-b-c]", "a", false},
      {"[", "a", false},            {"[^", "a", false},          {"*x", "xxx", true},
      {"a[", "x", false},           {"a\\", "a", false},         {"a[", "a", false},
      {"*x", "xxx", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(GoFilepathMatch(c.pattern, c.name), c.match) << c.pattern << " vs " << c.name;
  }
}

TEST(MatchImagesTest, ParseSchemelessUrlRejectsWhatGoRejects) {
  for (const char* text : {"registry.io:port", "registry.io:5000x/app", "reg istry.io",
                           "reg{}.io", "reg|.io", "[::1", "registry.io/%zz", "registry.io/%4",
                           "regi%41stry.io", "registry\n.io"}) {
    EXPECT_FALSE(ParseSchemelessUrl(text).ok()) << text;
  }
  for (const char* text : {"*.registry.io", "registry.io:5000/team", "[::1]:5000", "registry.io:",
                           "k8s.*", "app*.k8s.io", "x.io/a%20b"}) {
    EXPECT_TRUE(ParseSchemelessUrl(text).ok()) << text;
  }
  absl::StatusOr<SchemelessUrl> url = ParseSchemelessUrl("registry.io:5000/a%20b?q#f");
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->host, "registry.io:5000");
  EXPECT_EQ(url->path, "/a b");
}

TEST(MatchImagesTest, NormalizeAuthKeyAsTheKeyring) {
  const struct {
    const char* key;
    const char* want;
  } cases[] = {
      {"registry.io", "registry.io"},
      {"https://registry.io", "registry.io"},
      {"http://registry.io:5000/", "registry.io:5000"},
      {"https://index.docker.io/v1/", "index.docker.io"},
      {"https://quay.io/v2/team", "quay.io/team"},
      {"*.registry.io/team/app", "*.registry.io/team/app"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<std::string> got = NormalizeAuthKey(c.key);
    ASSERT_TRUE(got.ok()) << c.key << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.key;
  }
  EXPECT_FALSE(NormalizeAuthKey("registry.io:abc").ok());
}

// The kubelet's TestDockerKeyringLookup: the most specific key first.
TEST(MatchImagesTest, BestAuthKeyPrefersTheMostSpecific) {
  const std::vector<std::string> keys = {"bar.example.com", "bar.example.com/pong",
                                         "*.example.com"};
  EXPECT_EQ(BestAuthKey(keys, "bar.example.com/pong"), 1);
  EXPECT_EQ(BestAuthKey(keys, "bar.example.com/pongz"), 1);
  EXPECT_EQ(BestAuthKey(keys, "bar.example.com/pong/pang"), 1);
  EXPECT_EQ(BestAuthKey(keys, "bar.example.com/ping"), 0);
  EXPECT_EQ(BestAuthKey(keys, "foo.example.com/x"), 2);
  EXPECT_EQ(BestAuthKey(keys, "example.com/x"), -1);
  // Docker Hub credentials under index.docker.io serve docker.io images.
  EXPECT_EQ(BestAuthKey({"index.docker.io"}, "docker.io/library/nginx"), 0);
  EXPECT_EQ(BestAuthKey({"index.docker.io"}, "registry.io/library/nginx"), -1);
}

}  // namespace
}  // namespace crimirror::credentials
