#include "config/endpoint_url.h"

#include <string>

#include "config/rewrite.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::config {
namespace {

struct UrlCase {
  std::string url;
  std::string base_url;
  std::string host_port;
  std::string prefix;
};

class EndpointUrlTest : public ::testing::TestWithParam<UrlCase> {};

TEST_P(EndpointUrlTest, Parses) {
  const UrlCase& c = GetParam();
  absl::StatusOr<EndpointUrl> url = ParseEndpointUrl(c.url);
  ASSERT_TRUE(url.ok()) << c.url << ": " << url.status();
  EXPECT_EQ(url->BaseUrl(), c.base_url);
  EXPECT_EQ(url->HostPort(), c.host_port);
  EXPECT_EQ(url->path_prefix, c.prefix);
}

INSTANTIATE_TEST_SUITE_P(
    Table, EndpointUrlTest,
    ::testing::Values(UrlCase{"https://m", "https://m", "m:443", ""},
                      UrlCase{"http://m", "http://m", "m:80", ""},
                      UrlCase{"https://M.Example:5000/",
                              "https://m.example:5000", "m.example:5000", ""},
                      UrlCase{"http://127.0.0.1:5001/dockerhub",
                              "http://127.0.0.1:5001", "127.0.0.1:5001",
                              "dockerhub"},
                      UrlCase{"https://h/v2", "https://h", "h:443", ""},
                      UrlCase{"https://h/v2/", "https://h", "h:443", ""},
                      UrlCase{"https://h//a/b//", "https://h", "h:443", "a/b"},
                      UrlCase{"https://[::1]:5000/x", "https://[::1]:5000",
                              "[::1]:5000", "x"}));

TEST(EndpointUrlTest, Rejects) {
  for (const char* bad :
       {"", "m", "ftp://m", "HTTPS://m", "https://", "https://:5000",
        "https://m:", "https://m:65536", "https://m:abc", "https://u@m",
        "https://m?x", "https://m#x", "https://m/A", "https://m/a..b",
        "https://[::1", "https://[zz]:1", "https://a_b"}) {
    EXPECT_FALSE(ParseEndpointUrl(bad).ok()) << bad;
  }
}

TEST(RegistryKeyTest, ParsesAndRejects) {
  EXPECT_TRUE(ParseRegistryKey("*")->wildcard);
  EXPECT_EQ(ParseRegistryKey("docker.io/bitnami")->path, "bitnami");
  EXPECT_EQ(ParseRegistryKey("index.docker.io")->host, "docker.io");
  EXPECT_EQ(ParseRegistryKey("[::1]:5000/a/b")->host, "[::1]:5000");
  for (const char* bad : {"", "*/x", "docker.io/", "/x", "a b", "h:0",
                          "docker.io//x", "docker.io/X", "**"}) {
    EXPECT_FALSE(ParseRegistryKey(bad).ok()) << bad;
  }
}

TEST(RegistryKeyTest, SubdomainWildcard) {
  absl::StatusOr<RegistryKey> key = ParseRegistryKey("*.Example.COM");
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_FALSE(key->wildcard);
  EXPECT_EQ(key->subdomains_of, "example.com");
  EXPECT_TRUE(key->host.empty());
  // As containers/image: no port, no path, the wildcard only in front.
  for (const char* bad : {"*.", "*.example.com:5000", "*.example.com/foo", "*example.com",
                          "a.*.com", "*.*.com", "*.a b", "*.[::1]"}) {
    EXPECT_FALSE(ParseRegistryKey(bad).ok()) << bad;
  }
  EXPECT_THAT(std::string(ParseRegistryKey("*.example.com:5000").status().message()),
              ::testing::HasSubstr("\"*.domain\""));
}

TEST(HostPortTest, RequiresPortWhenAsked) {
  EXPECT_EQ(*ParseHostPort("Mirror:5000", true), "mirror:5000");
  EXPECT_FALSE(ParseHostPort("mirror", true).ok());
  EXPECT_TRUE(ParseHostPort("mirror", false).ok());
  EXPECT_FALSE(ParseHostPort("mirror:", true).ok());
}

TEST(PathComponentTest, Grammar) {
  for (const char* ok : {"a", "a0", "a.b", "a_b", "a__b", "a-b", "a---b"}) {
    EXPECT_TRUE(IsValidPathComponent(ok)) << ok;
  }
  for (const char* bad : {"", "A", "-a", "a-", "a..b", "a___b", "a._b", ".a"}) {
    EXPECT_FALSE(IsValidPathComponent(bad)) << bad;
  }
}

TEST(RewriteTest, DollarGroupsBecomeBackslashGroups) {
  EXPECT_EQ(ToRe2Rewrite("hub/$1"), "hub/\\1");
  EXPECT_EQ(ToRe2Rewrite("hub/\\1"), "hub/\\1");
  EXPECT_EQ(ToRe2Rewrite("a$$b"), "a$b");
  EXPECT_EQ(ToRe2Rewrite("a$"), "a$");
}

}  // namespace
}  // namespace crimirror::config
