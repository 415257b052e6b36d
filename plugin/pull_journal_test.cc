#include "plugin/pull_journal.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "plugin/pull_record.h"
#include "resolver/reference.h"

namespace crimirror::plugin {
namespace {

resolver::EndpointPlan Plan() {
  resolver::EndpointPlan plan;
  plan.reference = *resolver::ParseReference("docker.io/library/app:v1");
  return plan;
}

TEST(PullJournalTest, ActivePullsShowBytesOfEverySessionThenMoveToRecent) {
  PullJournal journal(2);
  const absl::Time start = absl::FromUnixSeconds(1000);
  const std::uint64_t id = journal.Begin("docker.io/library/app:v1", "docker.io", start);
  ASSERT_EQ(journal.Active().size(), 1u);
  EXPECT_EQ(journal.Active()[0].bytes, 0u);
  auto first = std::make_shared<relay::SessionState>("s1", Plan(), std::nullopt,
                                                     absl::InfiniteFuture());
  journal.Attach(id, first);
  first->AddServedBytes("http://m:5000", 100);
  EXPECT_EQ(journal.Active()[0].bytes, 100u);
  auto retry = std::make_shared<relay::SessionState>("s2", Plan(), std::nullopt,
                                                     absl::InfiniteFuture());
  journal.Attach(id, retry);
  retry->AddServedBytes("http://u:443", 50);
  EXPECT_EQ(journal.Active()[0].bytes, 150u);
  EXPECT_EQ(journal.Active()[0].rule, "docker.io");
  EXPECT_EQ(journal.Active()[0].started, start);

  PullRecord record;
  record.reference = "docker.io/library/app:v1";
  journal.Finish(id, record);
  EXPECT_TRUE(journal.Active().empty());
  ASSERT_EQ(journal.Recent().size(), 1u);
  for (int i = 0; i < 3; ++i) {
    PullRecord more;
    more.reference = absl::StrCat("r", i);
    journal.Finish(journal.Begin(more.reference, "x", start), more);
  }
  ASSERT_EQ(journal.Recent().size(), 2u);  // bounded, newest first
  EXPECT_EQ(journal.Recent()[0].reference, "r2");
  EXPECT_EQ(journal.Recent()[1].reference, "r1");
}

TEST(PullRecordTest, FieldsNameEndpointsBytesFallbacksAndResult) {
  relay::SessionState first("s1", Plan(), std::nullopt, absl::InfiniteFuture());
  first.RecordAttempt({"https://dead:5000", "GET manifests/v1", "UNAVAILABLE: refused"});
  first.RecordManifestServed("https://m:5000");
  first.AddServedBytes("https://m:5000", 10);
  first.RecordBlobServed("https://m:5000");
  first.AddServedBytes("https://m:5000", 90);
  relay::SessionState second("s2", Plan(), std::nullopt, absl::InfiniteFuture());
  second.RecordBlobServed("https://m:5000");
  second.AddServedBytes("https://m:5000", 5);
  second.RecordBlobServed("https://u:443");
  second.AddServedBytes("https://u:443", 7);
  PullRecord record;
  record.reference = "docker.io/library/app:v1";
  record.rule = "docker.io";
  record.started = absl::FromUnixSeconds(0);
  record.duration = absl::Milliseconds(1500);
  record.AddSession(first);
  record.AddSession(second);
  record.retried = true;
  record.result = absl::UnavailableError("cri-mirror: pull of x failed");
  nlohmann::ordered_json fields = PullRecordFields(record);
  EXPECT_EQ(fields["ref"], "docker.io/library/app:v1");
  EXPECT_EQ(fields["rule"], "docker.io");
  EXPECT_EQ(fields["result"], "unavailable");
  EXPECT_EQ(fields["error"], "cri-mirror: pull of x failed");
  EXPECT_EQ(fields["duration_seconds"], 1.5);
  EXPECT_EQ(fields["bytes"], 112);
  EXPECT_EQ(fields["manifest_from"], nlohmann::ordered_json::array({"https://m:5000"}));
  ASSERT_EQ(fields["blobs_from"].size(), 2u);
  EXPECT_EQ(fields["blobs_from"][0]["endpoint"], "https://m:5000");
  EXPECT_EQ(fields["blobs_from"][0]["blobs"], 2);
  EXPECT_EQ(fields["blobs_from"][0]["bytes"], 105);
  EXPECT_EQ(fields["blobs_from"][1]["endpoint"], "https://u:443");
  ASSERT_EQ(fields["fallbacks"].size(), 1u);
  EXPECT_EQ(fields["fallbacks"][0]["reason"], "UNAVAILABLE: refused");
  EXPECT_EQ(fields["retried"], true);
  EXPECT_EQ(fields["started"], "1970-01-01T00:00:00.000Z");
  EXPECT_FALSE(fields.contains("image_ref"));
}

TEST(PullRecordTest, FallbacksAreBounded) {
  PullRecord record;
  for (std::size_t i = 0; i < kMaxRecordedFallbacks + 3; ++i) {
    record.fallbacks.push_back({"https://e", "GET x", "404"});
  }
  nlohmann::ordered_json fields = PullRecordFields(record);
  EXPECT_EQ(fields["fallbacks"].size(), kMaxRecordedFallbacks);
  EXPECT_EQ(fields["fallbacks_dropped"], 3);
  EXPECT_EQ(fields["result"], "ok");
}

}  // namespace
}  // namespace crimirror::plugin
