// Metrics (issue 11), end to end: a real containerd, a real docker-registry
// mirror behind a dead first endpoint, the cri-mirror binary with
// `[server] metrics`. After a pull and a rejected reload, /metrics is
// scraped, checked by Prometheus's own `promtool check metrics`, and read:
// the pull by rule and result, the fallback away from the dead endpoint,
// bytes relayed, CRI latency, back-off, config loads, build info. Endpoint
// labels come from the config; no secret appears.
#include <csignal>
#include <fstream>
#include <memory>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/http.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "metrics-test-secret-pw";

// The value of the sample line `series` ("name{labels}"), or -1.
double Sample(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!absl::ConsumePrefix(&line, series) || !absl::ConsumePrefix(&line, " ")) continue;
    double v = 0;
    if (absl::SimpleAtod(line, &v)) return v;
  }
  return -1;
}

class MetricsScrapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-metrics"));
    TESTBED_ASSERT_OK_AND_ASSIGN(containerd_, Containerd::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(builder_, ImageBuilder::Create(dir_->Join("oci")));
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_port_, FreeLoopbackPort());
    TESTBED_ASSERT_OK_AND_ASSIGN(metrics_port_, FreeLoopbackPort());
    TESTBED_ASSERT_OK_AND_ASSIGN(dead_port_, FreeLoopbackPort());
    TESTBED_ASSERT_OK_AND_ASSIGN(image_, builder_->BuildImage("img1", ImageOptions{}));
    RegistryOptions options;
    options.name = "mirror";
    TESTBED_ASSERT_OK_AND_ASSIGN(
        mirror_registry_, StartRegistryWithImage(dir_->path(), options, *builder_, "img1", "team/app:v1"));
  }

  std::string Config() const {
    return absl::StrCat(
        "[server]\nrelay = \"127.0.0.1:", relay_port_, "\"\nmetrics = \"127.0.0.1:", metrics_port_,
        "\"\npull_timeout = \"1m\"\n\n[[mirror]]\nregistry = \"registry.example.test\"\n"
        "endpoints = [\"http://127.0.0.1:", dead_port_, "\", \"", mirror_registry_->Url(),
        "\"]\nfallback_to_upstream = false\n\n[host.\"", mirror_registry_->HostPort(),
        "\"]\nusername = \"metrics-user\"\npassword = \"", kSecret, "\"\n");
  }

  std::string Scrape() {
    HttpRequest request;
    request.url = absl::StrCat("http://127.0.0.1:", metrics_port_, "/metrics");
    absl::StatusOr<HttpResponse> response = HttpGet(request);
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return "";
    EXPECT_EQ(response->status, 200);
    EXPECT_THAT(response->headers["content-type"], HasSubstr("version=0.0.4"));
    return response->body;
  }

  // promtool's verdict on `text`: "" when it is clean.
  std::string Promtool(const std::string& text) {
    const std::string path = dir_->Join("scrape.prom");
    std::ofstream(path) << text;
    absl::StatusOr<CommandResult> checked = RunCommand(
        {"/bin/sh", "-c", absl::StrCat("promtool check metrics < ", path)}, dir_->Join("promtool"));
    if (!checked.ok()) return std::string(checked.status().message());
    if (checked->exit_code == 0) return "";
    return absl::StrCat("exit ", checked->exit_code, ": ", checked->stdout_text,
                        checked->stderr_text);
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Containerd> containerd_;
  std::unique_ptr<ImageBuilder> builder_;
  int relay_port_ = 0;
  int metrics_port_ = 0;
  int dead_port_ = 0;
  BuiltImage image_;
  std::unique_ptr<Registry> mirror_registry_;
  std::unique_ptr<CriMirror> mirror_;
  std::unique_ptr<CriImageClient> cri_;
};

TEST_F(MetricsScrapeTest, ScrapeAfterAPullPassesPromtoolAndCountsWhatHappened) {
  ASSERT_TRUE(FindProgram("promtool").ok()) << "promtool (Debian package prometheus) is needed";
  CriMirrorOptions options;
  options.binary = CRI_MIRROR_BINARY;
  options.backend = containerd_->Endpoint();
  options.config_toml = Config();
  TESTBED_ASSERT_OK_AND_ASSIGN(mirror_, CriMirror::Create(dir_->path(), options));
  TESTBED_ASSERT_OK_AND_ASSIGN(cri_, CriImageClient::Create(mirror_->Endpoint()));

  auto pulled = cri_->Pull("registry.example.test/team/app:v1");
  ASSERT_TRUE(pulled.ok()) << pulled.status.error_message() << mirror_->LogTail();
  ASSERT_TRUE(cri_->Status("registry.example.test/team/app:v1").ok());

  // A rejected reload: counted, the last good config stays.
  const std::string good = Config();
  TESTBED_ASSERT_OK(mirror_->WriteConfig(good + "\n[server.oops]\n"));
  ASSERT_TRUE(mirror_->process()->Signal(SIGHUP).ok());
  TESTBED_ASSERT_OK(WaitFor([&] { return Sample(Scrape(), "cri_mirror_config_last_load_success") == 0; },
                            absl::Seconds(15), "the rejected reload in the metrics"));

  const std::string text = Scrape();
  EXPECT_EQ(Promtool(text), "") << text;
  const std::string mirror_url = mirror_registry_->Url();
  const std::string dead_url = absl::StrCat("http://127.0.0.1:", dead_port_);
  EXPECT_EQ(Sample(text, "cri_mirror_pulls_total{rule=\"registry.example.test\",result=\"ok\"}"), 1)
      << text;
  EXPECT_EQ(Sample(text, "cri_mirror_pull_duration_seconds_count{rule=\"registry.example.test\"}"), 1);
  EXPECT_GE(Sample(text, absl::StrCat("cri_mirror_fallbacks_total{endpoint=\"", dead_url,
                                      "\",reason=\"unavailable\"}")),
            1)
      << text;
  EXPECT_GE(Sample(text, absl::StrCat("cri_mirror_relay_requests_total{endpoint=\"", mirror_url,
                                      "\",kind=\"blob\",class=\"2xx\"}")),
            1);
  EXPECT_GE(Sample(text, absl::StrCat("cri_mirror_relayed_bytes_total{endpoint=\"", mirror_url, "\"}")),
            static_cast<double>(image_.layer_sizes.at(0)))
      << text;
  EXPECT_GE(Sample(text, "cri_mirror_cri_call_duration_seconds_count{method=\"PullImage\"}"), 1);
  EXPECT_GE(Sample(text, "cri_mirror_cri_call_duration_seconds_count{method=\"ImageStatus\"}"), 1);
  EXPECT_GT(Sample(text, absl::StrCat("cri_mirror_endpoint_backoff_seconds{endpoint=\"127.0.0.1:",
                                      dead_port_, "\"}")),
            0)
      << text;
  EXPECT_EQ(Sample(text, "cri_mirror_config_loads_total{result=\"success\"}"), 1);
  EXPECT_EQ(Sample(text, "cri_mirror_config_loads_total{result=\"failure\"}"), 1);
  EXPECT_THAT(text, HasSubstr("cri_mirror_config_info{file=\""));
  EXPECT_THAT(text, HasSubstr("cri_mirror_build_info{version=\""));
  EXPECT_THAT(text, Not(HasSubstr(kSecret)));
  EXPECT_THAT(mirror_->LogTail(1 << 20), Not(HasSubstr(kSecret)));

  HttpRequest other;
  other.url = absl::StrCat("http://127.0.0.1:", metrics_port_, "/");
  absl::StatusOr<HttpResponse> not_found = HttpGet(other);
  ASSERT_TRUE(not_found.ok()) << not_found.status();
  EXPECT_EQ(not_found->status, 404);
}

}  // namespace
}  // namespace crimirror::testbed
