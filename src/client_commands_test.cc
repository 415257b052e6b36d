// The commands that talk to a running daemon (status, pull, prefetch): their
// command line, list file and text rendering. The daemon side is tested end
// to end in tests/integration/daemon_commands_test.cc.
#include <cstdio>
#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "src/command_line.h"
#include "src/daemon_client.h"
#include "src/pull_command.h"
#include "src/status_command.h"

namespace crimirror::cli {
namespace {

using ::testing::HasSubstr;

TEST(ClientCommandLineTest, StatusPullPrefetchAndLogFormat) {
  auto status = ParseCommandLine({"status", "--output", "json", "--config", "/c.toml"});
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->command, Command::kStatus);
  EXPECT_TRUE(status->json);
  auto pull = ParseCommandLine({"pull", "docker.io/library/app:v1", "--listen", "unix:///x"});
  ASSERT_TRUE(pull.ok()) << pull.status();
  EXPECT_EQ(pull->command, Command::kPull);
  EXPECT_EQ(pull->image, "docker.io/library/app:v1");
  EXPECT_EQ(*pull->listen, "unix:///x");
  auto prefetch = ParseCommandLine({"prefetch", "--file=/l", "--parallel", "8"});
  ASSERT_TRUE(prefetch.ok()) << prefetch.status();
  EXPECT_EQ(prefetch->command, Command::kPrefetch);
  EXPECT_EQ(prefetch->list_file, "/l");
  EXPECT_EQ(prefetch->parallel, 8);
  auto daemon = ParseCommandLine({"--log-format", "json"});
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  EXPECT_EQ(daemon->log_format, "json");
  EXPECT_EQ(ParseCommandLine({})->log_format, "text");
}

TEST(ClientCommandLineTest, MistakesAreNamed) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"--log-format", "yaml"}, "--log-format must be text or json, not \"yaml\""},
      {{"pull"}, "pull takes exactly one IMAGE argument"},
      {{"pull", "a", "b"}, "pull takes exactly one IMAGE argument"},
      {{"prefetch"}, "prefetch takes --file LIST"},
      {{"prefetch", "--file", "l", "extra"}, "prefetch takes --file LIST"},
      {{"prefetch", "--file", "l", "--parallel", "0"}, "--parallel must be a number from 1 to 64"},
      {{"status", "--file", "l"}, "--file applies to prefetch only"},
      {{"status", "--listen", "unix:///x"}, "--listen applies to the daemon, pull and prefetch"},
      {{"pull", "a", "--backend", "unix:///x"}, "--backend applies to the daemon only"},
      {{"pull", "a", "--output", "json"}, "--output text|json applies to resolve and status"},
  };
  for (const Case& c : cases) {
    auto parsed = ParseCommandLine(c.args);
    ASSERT_FALSE(parsed.ok()) << c.message;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(c.message));
  }
}

TEST(PrefetchListTest, CommentsBlanksAndBadLines) {
  const std::string path = ::testing::TempDir() + "/prefetch.list";
  {
    std::ofstream out(path);
    out << "# node images\n\n  docker.io/library/app:v1  \nquay.io/x/y@sha256:"
        << std::string(64, 'a') << "\n";
  }
  auto images = ReadPrefetchList(path);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(*images, (std::vector<std::string>{"docker.io/library/app:v1",
                                               "quay.io/x/y@sha256:" + std::string(64, 'a')}));
  {
    std::ofstream out(path);
    out << "good/image:v1\nBAD IMAGE\nalso:bad:tag:\n";
  }
  auto bad = ReadPrefetchList(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(path + ":2: \"BAD IMAGE\""));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr(path + ":3: "));
  {
    std::ofstream out(path);
    out << "# nothing\n";
  }
  EXPECT_THAT(std::string(ReadPrefetchList(path).status().message()), HasSubstr("no image in it"));
  EXPECT_EQ(ReadPrefetchList(path + ".missing").status().code(), absl::StatusCode::kNotFound);
}

TEST(HumanBytesTest, Units) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.50 KiB");
  EXPECT_EQ(HumanBytes(12900000), "12.3 MiB");
  EXPECT_EQ(HumanBytes(3ull << 30), "3.00 GiB");
}

TEST(StatusTextTest, ShowsEverySection) {
  const std::string doc = R"({
    "version": "1.2.3", "pid": 42, "started": "2026-12-02T06:00:00.000Z",
    "listen": "unix:///run/cri-mirror/cri-mirror.sock", "backend": "unix:///c.sock",
    "relay": "127.0.0.1:5098",
    "config": {"file": "/etc/cri-mirror/config.toml", "hash": "00ff", "in_force_since": "T1",
               "last_load": {"time": "T2", "result": "error", "error": "config.toml:3: bad"},
               "loads": 2, "failures": 1},
    "rules": [{"registry": "docker.io", "origin": "config.toml:5",
               "endpoints": ["https://m:5000"], "fallback_to_upstream": true, "blocked": false},
              {"registry": "docker.io", "origin": "config.toml:9", "namespaces": ["team-a", "b"],
               "endpoints": ["https://a:5000"], "fallback_to_upstream": false, "blocked": false}],
    "endpoints": [{"host": "m:5000", "consecutive_failures": 3, "backed_off": true,
                   "backoff_seconds_left": 4.5}],
    "pulls": {"active": [{"ref": "docker.io/library/a:1", "rule": "docker.io",
                          "started": "T3", "seconds": 2.0, "bytes": 2048}],
              "recent": [{"ref": "docker.io/library/b:1", "result": "ok", "started": "T4",
                          "duration_seconds": 1.25, "bytes": 1536,
                          "blobs_from": [{"endpoint": "https://m:5000"}],
                          "fallbacks": [{"endpoint": "https://d:1"}]}]},
    "ensured_images": [{"image": "registry.k8s.io/pause:3.6", "sandbox": true,
                        "present": false, "error": "not found"}]})";
  const std::string text = StatusText(doc);
  EXPECT_THAT(text, HasSubstr("cri-mirror 1.2.3 (pid 42)"));
  EXPECT_THAT(text, HasSubstr("config: /etc/cri-mirror/config.toml, hash 00ff"));
  EXPECT_THAT(text, HasSubstr("last load: FAILED at T2: config.toml:3: bad"));
  EXPECT_THAT(text, HasSubstr("docker.io -> https://m:5000, (upstream)  [config.toml:5]"));
  EXPECT_THAT(text, HasSubstr("docker.io (namespaces team-a,b) -> https://a:5000  [config.toml:9]"));
  EXPECT_THAT(text, HasSubstr("m:5000: backed off for 4.5s (3 consecutive failures)"));
  EXPECT_THAT(text, HasSubstr("docker.io/library/a:1 (rule docker.io): 2.00 KiB, 2.0s"));
  EXPECT_THAT(text, HasSubstr("T4 ok docker.io/library/b:1 1.25s 1.50 KiB from https://m:5000, "
                              "1 fallback(s)"));
  EXPECT_THAT(text, HasSubstr("registry.k8s.io/pause:3.6 (sandbox): MISSING: not found"));
  EXPECT_THAT(StatusText("not json"), HasSubstr("not a JSON object"));
}

}  // namespace
}  // namespace crimirror::cli
