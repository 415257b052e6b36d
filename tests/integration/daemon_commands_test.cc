// The operator's view of a running daemon (issue 11), end to end: a real
// containerd, a real htpasswd docker-registry behind a mirror rule whose
// first endpoint answers 503 (a FaultProxy in front of the same registry),
// and the cri-mirror binary run with --log-format json. `cri-mirror pull`
// and `prefetch` pull through the daemon's CRI socket; each pull writes one
// "pull finished" line; `cri-mirror status` reads the root-only status
// socket, and shows a rejected reload while the last good config serves.
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "tests/integration/testbed/fault_proxy.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

constexpr char kUser[] = "ops-user";
constexpr char kPassword[] = "0ps-c0mmands-s3cret";
constexpr char kImage[] = "apps.example/team/app:v1";

class DaemonCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-commands"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
    ImageOptions image;
    image.layer_sizes = {300000};
    TESTBED_ASSERT_OK_AND_ASSIGN(image_, builder_->BuildImage("img1", image));
    RegistryOptions options;
    options.name = "private";
    options.htpasswd = RegistryCredentials{kUser, kPassword};
    TESTBED_ASSERT_OK_AND_ASSIGN(
        registry_, StartRegistryWithImage(dir_->path(), options, *builder_, "img1", "team/app:v1"));
    FaultProxyOptions fault;
    fault.upstream_host_port = registry_->HostPort();
    fault.fault = Fault::kStatus503;
    fault.target = FaultTarget::kManifests;
    TESTBED_ASSERT_OK_AND_ASSIGN(broken_, FaultProxy::Start(fault));
    status_socket_ = dir_->Join("status.sock");
  }

  // `credentials_for`: the host:port that gets the registry's [host]
  // credentials (the registry itself, or a proxy in front of it).
  std::string Config(const std::string& endpoints, std::string credentials_for = "") const {
    if (credentials_for.empty()) credentials_for = registry_->HostPort();
    return absl::StrCat("[server]\nrelay = \"127.0.0.1:", relay_port_, "\"\nstatus = \"unix://",
                        status_socket_, "\"\nhedge_after = \"0s\"\n\n[[mirror]]\n"
                        "registry = \"apps.example\"\nendpoints = [", endpoints,
                        "]\nfallback_to_upstream = false\n\n[host.\"", credentials_for,
                        "\"]\nusername = \"", kUser, "\"\npassword = \"", kPassword, "\"\n");
  }
  std::string Endpoints() const {
    return absl::StrCat("\"", broken_->Url(), "\", \"", registry_->Url(), "\"");
  }

  void StartMirror(const std::string& config) {
    CriMirrorOptions options;
    options.binary = CRI_MIRROR_BINARY;
    options.backend = containerd_->Endpoint();
    options.config_toml = config;
    options.extra_args = {"--log-format", "json"};
    TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
    // The status socket opens a moment after the CRI socket (start-up
    // order: relay, CRI server, ensurer, metrics, status).
    absl::Status status_socket = WaitFor(
        [this] {
          struct stat info {};
          return ::stat(status_socket_.c_str(), &info) == 0;
        },
        absl::Seconds(20), "the status socket");
    ASSERT_TRUE(status_socket.ok()) << status_socket << mirror_->LogTail();
  }

  // `cri-mirror ARGS --config <config>` (default: the daemon's).
  CommandResult Command(std::vector<std::string> args, const std::string& name,
                        std::string config = "") {
    std::vector<std::string> argv = {CRI_MIRROR_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--config");
    argv.push_back(config.empty() ? mirror_->config_path() : config);
    auto result = RunCommand(argv, dir_->Join(name), absl::Seconds(90));
    EXPECT_TRUE(result.ok()) << result.status();
    if (!result.ok()) return {};
    captured_ += result->stdout_text + result->stderr_text;
    return *result;
  }
  nlohmann::json Status(const std::string& config = "") {
    CommandResult result = Command({"status", "--output", "json"}, "status-json", config);
    EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
    nlohmann::json doc = nlohmann::json::parse(result.stdout_text, nullptr, false);
    return doc.is_object() ? doc : nlohmann::json::object();
  }

  // The "pull finished" lines of the daemon's log; every line must be JSON.
  std::vector<nlohmann::json> PullLines() {
    std::vector<nlohmann::json> lines;
    const std::string log = mirror_->LogTail(1 << 22);
    for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
      nlohmann::json parsed = nlohmann::json::parse(line, nullptr, false);
      EXPECT_TRUE(parsed.is_object()) << "not a JSON log line: " << line;
      if (parsed.is_object() && parsed.value("msg", "") == "pull finished") {
        lines.push_back(parsed);
      }
    }
    return lines;
  }

  void TearDown() override {
    if (mirror_) captured_ += mirror_->LogTail(1 << 22);
    EXPECT_THAT(captured_, Not(HasSubstr(kPassword)));
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ImageBuilder> builder_;
  int relay_port_ = 0;
  BuiltImage image_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<FaultProxy> broken_;
  std::string status_socket_;
  std::unique_ptr<CriMirror> mirror_;
  std::string captured_;
};

TEST_F(DaemonCommandsTest, PullLogsOneJsonLineAndStatusShowsItThenARejectedReload) {
  StartMirror(Config(Endpoints()));
  ASSERT_FALSE(HasFatalFailure());
  struct stat info {};
  ASSERT_EQ(::stat(status_socket_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u) << "the status socket must be root-only";

  CommandResult pulled = Command({"pull", kImage, "--listen", mirror_->Endpoint()}, "pull");
  ASSERT_EQ(pulled.exit_code, 0) << pulled.stderr_text << mirror_->LogTail();
  const std::string canonical = absl::StrCat(kImage);
  EXPECT_THAT(pulled.stdout_text,
              HasSubstr(absl::StrCat("pulled ", canonical, " as ", image_.config_digest, " in ")));
  EXPECT_THAT(pulled.stdout_text, HasSubstr(" relayed"));

  std::vector<nlohmann::json> lines = PullLines();
  ASSERT_EQ(lines.size(), 1u) << mirror_->LogTail();
  const nlohmann::json& line = lines[0];
  EXPECT_EQ(line["level"], "info");
  EXPECT_EQ(line["ref"], canonical);
  EXPECT_EQ(line["rule"], "apps.example");
  EXPECT_EQ(line["result"], "ok");
  EXPECT_EQ(line["image_ref"], image_.config_digest);
  EXPECT_GT(line["bytes"].get<std::uint64_t>(), 300000u);
  EXPECT_GT(line["duration_seconds"].get<double>(), 0.0);
  EXPECT_EQ(line["manifest_from"], nlohmann::json::array({registry_->Url()}));
  ASSERT_EQ(line["blobs_from"].size(), 1u);
  EXPECT_EQ(line["blobs_from"][0]["endpoint"], registry_->Url());
  EXPECT_EQ(line["blobs_from"][0]["blobs"], 2);  // config and layer
  ASSERT_GE(line["fallbacks"].size(), 1u);
  EXPECT_EQ(line["fallbacks"][0]["endpoint"], broken_->Url());
  EXPECT_THAT(line["fallbacks"][0]["reason"].get<std::string>(), HasSubstr("503"));

  nlohmann::json status = Status();
  ASSERT_TRUE(status.is_object());
  EXPECT_EQ(status["config"]["file"], mirror_->config_path());
  EXPECT_THAT(status["config"]["hash"].get<std::string>(), MatchesRegex("[0-9a-f]{16}"));
  EXPECT_EQ(status["config"]["last_load"]["result"], "ok");
  ASSERT_EQ(status["rules"].size(), 1u);
  EXPECT_EQ(status["rules"][0]["registry"], "apps.example");
  EXPECT_EQ(status["rules"][0]["endpoints"][1], registry_->Url());
  EXPECT_TRUE(status["pulls"]["active"].empty());
  ASSERT_EQ(status["pulls"]["recent"].size(), 1u);
  EXPECT_EQ(status["pulls"]["recent"][0]["ref"], canonical);
  EXPECT_EQ(status["pulls"]["recent"][0]["bytes"], line["bytes"]);
  EXPECT_EQ(status["listen"], mirror_->Endpoint());
  EXPECT_TRUE(status["ensured_images"].is_array());
  ASSERT_EQ(status["endpoints"].size(), 2u) << status.dump(2);
  EXPECT_EQ(status["endpoints"][0]["host"], broken_->HostPort());
  EXPECT_EQ(status["endpoints"][1]["host"], registry_->HostPort());
  EXPECT_EQ(status["endpoints"][1]["state"], "usable");
  CommandResult text = Command({"status"}, "status-text");
  EXPECT_EQ(text.exit_code, 0) << text.stderr_text;
  EXPECT_THAT(text.stdout_text, HasSubstr(absl::StrCat("ok ", canonical)));
  EXPECT_THAT(text.stdout_text, HasSubstr("apps.example -> " + broken_->Url()));
  const std::string hash = status["config"]["hash"];

  // A bad file (the watch reloads it) is rejected; the last good config
  // stays in force, and status says both. Status read with the bad file
  // warns and falls back to the default addresses, so it is read here with
  // a copy of the good one.
  const std::string good = dir_->Join("good.toml");
  ASSERT_TRUE(WriteFile(good, Config(Endpoints())).ok());
  ASSERT_TRUE(mirror_->WriteConfig(Config(Endpoints()) + "no_such_table = 1\n").ok());
  for (int i = 0; i < 100 && status["config"].value("failures", 0) == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    status = Status(good);
  }
  EXPECT_EQ(status["config"]["failures"], 1) << status.dump(2);
  EXPECT_EQ(status["config"]["last_load"]["result"], "error");
  EXPECT_THAT(status["config"]["last_load"]["error"].get<std::string>(),
              HasSubstr(mirror_->config_path()));
  EXPECT_EQ(status["config"]["hash"], hash);
  EXPECT_EQ(status["rules"].size(), 1u);
  text = Command({"status"}, "status-text-after", good);
  EXPECT_THAT(text.stdout_text, HasSubstr("last load: FAILED at "));
  EXPECT_THAT(text.stdout_text, HasSubstr("(the config in force above is the last good one)"));
}

TEST_F(DaemonCommandsTest, PrefetchPullsAListInParallelAndNamesEachFailure) {
  // A first endpoint where nothing listens: backed off, and status says so.
  FaultProxyOptions refuse;
  refuse.upstream_host_port = registry_->HostPort();
  refuse.fault = Fault::kRefuse;
  TESTBED_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FaultProxy> refused, FaultProxy::Start(refuse));
  StartMirror(Config(absl::StrCat("\"", refused->Url(), "\", ", Endpoints())));
  ASSERT_FALSE(HasFatalFailure());
  const std::string list = dir_->Join("images.list");
  ASSERT_TRUE(WriteFile(list, absl::StrCat("# node images\n", kImage,
                                           "\n\napps.example/team/app:missing\n"))
                  .ok());
  CommandResult prefetch = Command(
      {"prefetch", "--file", list, "--parallel", "2", "--listen", mirror_->Endpoint()}, "prefetch");
  EXPECT_EQ(prefetch.exit_code, 1) << prefetch.stdout_text << prefetch.stderr_text;
  EXPECT_THAT(prefetch.stdout_text,
              HasSubstr(absl::StrCat("pulled ", kImage, " as ", image_.config_digest)));
  EXPECT_THAT(prefetch.stderr_text, HasSubstr("failed apps.example/team/app:missing after "));
  EXPECT_THAT(prefetch.stdout_text, HasSubstr("prefetch: 1 of 2 pulled, 1 failed, in "));
  std::vector<nlohmann::json> lines = PullLines();
  ASSERT_EQ(lines.size(), 2u) << mirror_->LogTail();
  int failed = 0;
  for (const nlohmann::json& line : lines) {
    if (line["result"] != "ok") {
      ++failed;
      EXPECT_EQ(line["level"], "warning");
      EXPECT_EQ(line["ref"], "apps.example/team/app:missing");
      EXPECT_THAT(line["error"].get<std::string>(), HasSubstr("endpoints tried"));
    }
  }
  EXPECT_EQ(failed, 1);
  nlohmann::json status = Status();
  ASSERT_EQ(status["endpoints"].size(), 3u) << status.dump(2);
  EXPECT_EQ(status["endpoints"][0]["host"], refused->HostPort());
  EXPECT_EQ(status["endpoints"][0]["state"], "backed-off");
  EXPECT_GE(status["endpoints"][0]["consecutive_failures"].get<int>(), 1);
  EXPECT_EQ(status["endpoints"][2]["state"], "usable");
  CommandResult text = Command({"status"}, "status-backoff");
  EXPECT_THAT(text.stdout_text, HasSubstr(refused->HostPort() + ": backed off for "));

  ASSERT_TRUE(WriteFile(list, "good/image:v1\nnot an image\n").ok());
  CommandResult bad = Command({"prefetch", "--file", list, "--listen", mirror_->Endpoint()},
                              "prefetch-bad");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.stderr_text, HasSubstr(absl::StrCat(list, ":2: \"not an image\"")));
}

TEST_F(DaemonCommandsTest, PullOnATerminalShowsBytesAndRate) {
  // Blobs answer after 2 s, so the pull is in flight long enough to watch.
  FaultProxyOptions slow;
  slow.upstream_host_port = registry_->HostPort();
  slow.fault = Fault::kDelayFirstByte;
  slow.target = FaultTarget::kBlobs;
  slow.delay = absl::Seconds(2);
  TESTBED_ASSERT_OK_AND_ASSIGN(std::unique_ptr<FaultProxy> delayed, FaultProxy::Start(slow));
  StartMirror(Config(absl::StrCat("\"", delayed->Url(), "\""), delayed->HostPort()));
  ASSERT_FALSE(HasFatalFailure());
  // script(1) gives the command a pseudo-terminal.
  const std::string command =
      absl::StrCat(CRI_MIRROR_BINARY, " pull ", kImage, " --listen ", mirror_->Endpoint(),
                   " --config ", mirror_->config_path());
  auto result = RunCommand({"script", "-qefc", command, "/dev/null"}, dir_->Join("pull-tty"),
                           absl::Seconds(90));
  ASSERT_TRUE(result.ok()) << result.status();
  captured_ += result->stdout_text + result->stderr_text;
  ASSERT_EQ(result->exit_code, 0) << result->stdout_text << result->stderr_text;
  EXPECT_THAT(result->stdout_text, HasSubstr(absl::StrCat("\r", kImage, ": ")));
  EXPECT_THAT(result->stdout_text, HasSubstr("/s, "));
  EXPECT_THAT(result->stdout_text, HasSubstr(absl::StrCat("pulled ", kImage, " as ")));
}

TEST_F(DaemonCommandsTest, CommandsWithoutADaemonSaySo) {
  StartMirror(Config(Endpoints()));
  ASSERT_FALSE(HasFatalFailure());
  mirror_->Stop();
  CommandResult status = Command({"status"}, "status-stopped");
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_THAT(status.stderr_text, HasSubstr(absl::StrCat("no status socket at ", status_socket_)));
  CommandResult pull =
      Command({"pull", kImage, "--listen", mirror_->Endpoint()}, "pull-stopped");
  EXPECT_EQ(pull.exit_code, 1);
  EXPECT_THAT(pull.stderr_text, HasSubstr(absl::StrCat("cri-mirror pull: ", kImage, " failed")));
  EXPECT_THAT(pull.stderr_text, HasSubstr(mirror_->Endpoint()));
  // A config that does not load: a warning naming it, then the defaults.
  const std::string bad = dir_->Join("bad.toml");
  ASSERT_TRUE(WriteFile(bad, "[server\n").ok());
  status = Command({"status"}, "status-bad-config", bad);
  EXPECT_EQ(status.exit_code, 1);
  EXPECT_THAT(status.stderr_text, HasSubstr(absl::StrCat("cri-mirror status: warning: ", bad)));
  EXPECT_THAT(status.stderr_text, HasSubstr("(using the default [server] addresses)"));
}

}  // namespace
}  // namespace crimirror::testbed
