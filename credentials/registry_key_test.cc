#include "credentials/registry_key.h"

#include <gtest/gtest.h>

namespace crimirror::credentials {
namespace {

TEST(ParseRegistryKeyTest, NormalizesEverySpelling) {
  struct Case {
    std::string key, host, port, path;
  } cases[] = {
      {"registry.example", "registry.example", "", ""},
      {"Registry.Example:5000", "registry.example", "5000", ""},
      {"registry.example/team/", "registry.example", "", "/team"},
      {"https://index.docker.io/v1/", "docker.io", "", ""},
      {"index.docker.io", "docker.io", "", ""},
      {"registry-1.docker.io", "docker.io", "", ""},
      {"https://registry.example:5000/v2/", "registry.example", "5000", ""},
      {"http://127.0.0.1:5000", "127.0.0.1", "5000", ""},
      {"[::1]:5000", "[::1]", "5000", ""},
      {"*.example.com", "*.example.com", "", ""},
      {"  registry.example  ", "registry.example", "", ""},
  };
  for (const Case& c : cases) {
    absl::StatusOr<RegistryKey> key = ParseRegistryKey(c.key);
    ASSERT_TRUE(key.ok()) << c.key << ": " << key.status();
    EXPECT_EQ(key->host, c.host) << c.key;
    EXPECT_EQ(key->port, c.port) << c.key;
    EXPECT_EQ(key->path, c.path) << c.key;
  }
}

TEST(ParseRegistryKeyTest, RejectsKeysWithoutAUsableHost) {
  for (const char* key : {"", "https://", "/path", ":5000", "host:0", "host:99999", "host:x",
                          "ftp://host", "user:pw@host", "[::1", "[::1]x"}) {
    absl::StatusOr<RegistryKey> parsed = ParseRegistryKey(key);
    EXPECT_FALSE(parsed.ok()) << key;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << key;
  }
}

TEST(KeyMatchesTest, FollowsTheKubeletKeyring) {
  struct Case {
    std::string key, image;
    bool match;
  } cases[] = {
      {"registry.example", "registry.example/team/app", true},
      {"registry.example", "registry.example:5000/team/app", false},  // ports must match
      {"registry.example:5000", "registry.example/team/app", false},
      {"registry.example:5000", "registry.example:5000/team/app", true},
      {"registry.example/team", "registry.example/team/app", true},
      {"registry.example/team", "registry.example/teamx/app", false},  // '/' boundary
      {"registry.example/team/app", "registry.example/team", false},
      {"https://index.docker.io/v1/", "docker.io/library/nginx", true},
      {"docker.io", "docker.io/library/nginx", true},
      {"*.example.com", "a.example.com/x", true},
      {"*.example.com", "example.com/x", false},  // part counts differ
      {"*.example.com", "a.b.example.com/x", false},
      {"other.example", "registry.example/x", false},
      {"127.0.0.1:5000", "127.0.0.1:5000/a", true},
  };
  for (const Case& c : cases) {
    absl::StatusOr<RegistryKey> key = ParseRegistryKey(c.key);
    absl::StatusOr<RegistryKey> image = ParseRegistryKey(c.image);
    ASSERT_TRUE(key.ok() && image.ok()) << c.key << " " << c.image;
    EXPECT_EQ(KeyMatches(*key, *image), c.match) << c.key << " vs " << c.image;
  }
}

}  // namespace
}  // namespace crimirror::credentials
