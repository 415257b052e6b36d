#include "metrics/metrics.h"

#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "metrics/metrics_server.h"

namespace crimirror::metrics {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, CounterGaugeAndHistogramRenderInTheTextFormat) {
  Registry registry;
  registry.Counter("pulls_total", "Pulls by result.", {"rule", "result"})
      .Add({"docker.io", "ok"});
  registry.Counter("pulls_total", "ignored", {}).Add({"docker.io", "ok"}, 2);
  registry.Gauge("up", "Up.").Set({}, 1);
  Family& h = registry.Histogram("pull_seconds", "Pull time.", {"rule"}, {0.5, 1});
  h.Observe({"r"}, 0.2);
  h.Observe({"r"}, 0.7);
  h.Observe({"r"}, 3);
  EXPECT_EQ(registry.Render(),
            "# HELP pull_seconds Pull time.\n"
            "# TYPE pull_seconds histogram\n"
            "pull_seconds_bucket{rule=\"r\",le=\"0.5\"} 1\n"
            "pull_seconds_bucket{rule=\"r\",le=\"1\"} 2\n"
            "pull_seconds_bucket{rule=\"r\",le=\"+Inf\"} 3\n"
            "pull_seconds_sum{rule=\"r\"} 3.8999999999999999\n"
            "pull_seconds_count{rule=\"r\"} 3\n"
            "# HELP pulls_total Pulls by result.\n"
            "# TYPE pulls_total counter\n"
            "pulls_total{rule=\"docker.io\",result=\"ok\"} 3\n"
            "# HELP up Up.\n"
            "# TYPE up gauge\n"
            "up 1\n");
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(EscapeHelp("x\\y\nz\""), "x\\\\y\\nz\"");
}

TEST(MetricsTest, StatusClasses) {
  EXPECT_EQ(StatusClass(200), "2xx");
  EXPECT_EQ(StatusClass(404), "4xx");
  EXPECT_EQ(StatusClass(503), "5xx");
  EXPECT_EQ(StatusClass(0), "error");
  EXPECT_EQ(StatusClass(1000), "error");
}

TEST(MetricsTest, CountersIgnoreNegativeAndNanIncrements) {
  Registry registry;
  Family& c = registry.Counter("c_total", "C.");
  c.Add({}, -1);
  c.Add({}, std::nan(""));
  c.Add({}, 2);
  EXPECT_EQ(c.Value({}), 2);
}

TEST(MetricsTest, CardinalityIsCappedIntoAnOtherChild) {
  Registry registry;
  Family& c = registry.Counter("c_total", "C.", {"endpoint"});
  for (std::size_t i = 0; i < kMaxChildren + 50; ++i) c.Add({"e" + std::to_string(i)});
  EXPECT_EQ(c.Value({"other"}), 50);
  EXPECT_EQ(c.Value({"e0"}), 1);
}

TEST(MetricsTest, CollectorsRunAtEachRenderAndCanBeRemoved) {
  Registry registry;
  int runs = 0;
  const int id = registry.AddCollector([&] {
    ++runs;
    registry.Gauge("g", "G.").Set({}, runs);
  });
  EXPECT_THAT(registry.Render(), HasSubstr("g 1\n"));
  EXPECT_THAT(registry.Render(), HasSubstr("g 2\n"));
  registry.RemoveCollector(id);
  registry.Render();
  EXPECT_EQ(runs, 2);
}

TEST(MetricsTest, ConcurrentUpdatesAreCounted) {
  Registry registry;
  Family& c = registry.Counter("c_total", "C.", {"k"});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) c.Add({"x"});
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value({"x"}), 4000);
}

std::size_t Collect(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

long Get(const std::string& url, std::string* body, std::string* type) {
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  long code = 0;
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    char* ct = nullptr;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
    if (ct != nullptr && type != nullptr) *type = ct;
  }
  curl_easy_cleanup(curl);
  return code;
}

TEST(MetricsServerTest, ServesMetricsOnlyAtSlashMetrics) {
  Registry registry;
  registry.Gauge("up", "Up.").Set({}, 1);
  auto server = MetricsServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(server.ok()) << server.status();
  std::string body;
  std::string type;
  EXPECT_EQ(Get("http://" + (*server)->address() + "/metrics", &body, &type), 200);
  EXPECT_EQ(body, "# HELP up Up.\n# TYPE up gauge\nup 1\n");
  EXPECT_EQ(type, "text/plain; version=0.0.4; charset=utf-8");
  std::string other;
  EXPECT_EQ(Get("http://" + (*server)->address() + "/", &other, nullptr), 404);
}

TEST(MetricsServerTest, BadAddressesNameTheKeyAndTheFix) {
  Registry registry;
  for (const char* bad : {"9098", "metrics.example:9098", "127.0.0.1:99999", "[::1", ""}) {
    auto server = MetricsServer::Start(bad, &registry);
    ASSERT_FALSE(server.ok()) << bad;
    EXPECT_THAT(std::string(server.status().message()), HasSubstr("[server] metrics")) << bad;
  }
}

TEST(MetricsServerTest, BusyPortIsAClearError) {
  Registry registry;
  auto first = MetricsServer::Start("127.0.0.1:0", &registry);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = MetricsServer::Start((*first)->address(), &registry);
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("cannot listen"));
}

}  // namespace
}  // namespace crimirror::metrics
