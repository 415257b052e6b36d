#include "status/status_server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace crimirror::status {
namespace {

using ::testing::HasSubstr;

std::string TempSocket(const std::string& name) {
  char dir[] = "/tmp/crimirror-status-XXXXXX";
  EXPECT_NE(::mkdtemp(dir), nullptr);
  return absl::StrCat(dir, "/sub/", name);
}

TEST(StatusServerTest, ServesRenderedJsonOnARootOnlySocketAndRemovesIt) {
  const std::string path = TempSocket("status.sock");
  int renders = 0;
  auto server = StatusServer::Start(path, [&renders] {
    ++renders;
    return absl::StrCat("{\"n\":", renders, "}");
  });
  ASSERT_TRUE(server.ok()) << server.status();
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  auto body = FetchStatus(path);
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, "{\"n\":1}");
  EXPECT_EQ(*FetchStatus(path), "{\"n\":2}");
  auto other = FetchStatus(path, "/metrics");
  ASSERT_FALSE(other.ok());
  EXPECT_THAT(std::string(other.status().message()), HasSubstr("HTTP 404 for /metrics"));
  // A second daemon on the same socket is refused while the first serves.
  auto second = StatusServer::Start(path, [] { return std::string("{}"); });
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()),
              HasSubstr(absl::StrCat("[server] status \"unix://", path, "\"")));
  server->reset();
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "socket file left behind";
}

TEST(StatusServerTest, FetchWithoutADaemonSaysSo) {
  const std::string path = TempSocket("none.sock");
  auto body = FetchStatus(path);
  ASSERT_FALSE(body.ok());
  EXPECT_EQ(body.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(body.status().message()),
              HasSubstr(absl::StrCat("no status socket at ", path)));
}

TEST(StatusServerTest, RelativePathIsRefused) {
  auto server = StatusServer::Start("status.sock", [] { return std::string("{}"); });
  ASSERT_FALSE(server.ok());
  EXPECT_THAT(std::string(server.status().message()), HasSubstr("needs an absolute path"));
}

}  // namespace
}  // namespace crimirror::status
