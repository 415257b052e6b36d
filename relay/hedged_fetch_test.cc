// Unit tests for hedged requests (relay/hedged_fetch.h) and their use by the
// endpoint walk: a scripted in-process Upstream whose endpoints answer after
// a delay (the unit seam; the silent mirror against the real components is
// tests/integration/hedging_capacity_test.cc). Bounds on elapsed time are
// generous (the machine is shared); they only tell "waited for hedge_after"
// from "waited for the slow endpoint".
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/endpoint_health.h"
#include "relay/endpoint_walk.h"
#include "relay/fake_response.h"
#include "relay/hedged_fetch.h"
#include "relay/session_store.h"
#include "relay/upstream.h"

namespace crimirror::relay {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kManifestBody[] = R"({"schemaVersion":2})";

// What one URL answers, and after how long.
struct Script {
  absl::Duration delay = absl::ZeroDuration();
  int status = 200;
  absl::Status open_error;
  // false: ignores UpstreamRequest::cancel (an upstream before the cancel
  // support), runs to its delay.
  bool honours_cancel = true;
};

// Answers `status` after `delay`.
Script After(absl::Duration delay, int status = 200) {
  Script script;
  script.delay = delay;
  script.status = status;
  return script;
}

class ScriptedUpstream : public Upstream {
 public:
  void Set(const std::string& url, Script script) {
    absl::MutexLock lock(&mu_);
    scripts_[url] = script;
  }
  absl::StatusOr<UpstreamResponsePtr> Open(const UpstreamRequest& request) override {
    Script script;
    {
      absl::MutexLock lock(&mu_);
      opened_.push_back(request.url);
      start_times_[request.url] = absl::Now();
      if (auto it = scripts_.find(request.url); it != scripts_.end()) script = it->second;
      max_active_ = std::max(max_active_, ++active_);
    }
    const absl::Time until = absl::Now() + script.delay;
    bool cancelled = false;
    while (absl::Now() < until) {
      if (script.honours_cancel && request.cancel && request.cancel->load()) {
        cancelled = true;
        break;
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
    absl::MutexLock lock(&mu_);
    --active_;
    if (cancelled) {
      cancelled_.push_back(request.url);
      return absl::CancelledError("cancelled");
    }
    if (!script.open_error.ok()) return script.open_error;
    return std::make_unique<FakeResponse>(
        script.status, Headers{{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}},
        kManifestBody);
  }
  std::vector<std::string> Opened() const {
    absl::MutexLock lock(&mu_);
    return opened_;
  }
  std::vector<std::string> Cancelled() const {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }
  absl::Time StartOf(const std::string& url) const {
    absl::MutexLock lock(&mu_);
    auto it = start_times_.find(url);
    return it == start_times_.end() ? absl::InfiniteFuture() : it->second;
  }
  int active() const {
    absl::MutexLock lock(&mu_);
    return active_;
  }
  int max_active() const {
    absl::MutexLock lock(&mu_);
    return max_active_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, Script> scripts_;
  std::vector<std::string> opened_;
  std::vector<std::string> cancelled_;
  std::map<std::string, absl::Time> start_times_;
  int active_ = 0;
  int max_active_ = 0;
};

resolver::Endpoint Endpoint(const std::string& host) {
  resolver::Endpoint e;
  e.base_url = "http://" + host;
  e.host = host;
  e.repository = "team/app";
  return e;
}

// URL of `what` ("manifests/v1", "blobs/sha256:..") on `host`.
std::string Url(const std::string& host, const std::string& what) {
  return absl::StrCat("http://", host, "/v2/team/app/", what);
}

const char kBlob[] = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

class HedgedWalkTest : public ::testing::Test {
 protected:
  // A session over endpoints a, b, c (in that order).
  SessionStatePtr NewSession(std::vector<resolver::Endpoint> endpoints = {
                                 Endpoint("a:5000"), Endpoint("b:5000"), Endpoint("c:5000")}) {
    resolver::EndpointPlan plan;
    plan.reference = {"corp.example", "team/app", "v1", ""};
    plan.matched_rule = "corp.example";
    plan.endpoints = std::move(endpoints);
    return std::make_shared<SessionState>("s1", std::move(plan), std::nullopt,
                                          absl::Now() + absl::Hours(1));
  }
  std::unique_ptr<EndpointWalk> NewWalk(absl::Duration hedge_after) {
    WalkLimits limits;
    limits.hedge_after = hedge_after;
    return std::make_unique<EndpointWalk>(&upstream_, &health_, limits);
  }
  static FetchRequest Manifest(bool head) {
    FetchRequest request;
    request.route = {RouteKind::kManifest, "corp.example/team/app", "v1", false};
    request.head = head;
    return request;
  }
  static FetchRequest Blob(bool head) {
    FetchRequest request;
    request.route = {RouteKind::kBlob, "corp.example/team/app", kBlob, true};
    request.head = head;
    return request;
  }

  ScriptedUpstream upstream_;
  EndpointHealth health_{EndpointHealth::Options{}};
};

TEST_F(HedgedWalkTest, SlowFirstEndpointLosesToTheSecondAfterHedgeAfter) {
  upstream_.Set(Url("a:5000", "manifests/v1"), After(absl::Seconds(30)));
  auto walk = NewWalk(absl::Milliseconds(200));
  SessionStatePtr session = NewSession();
  const absl::Time start = absl::Now();
  absl::StatusOr<Fetched> fetched = walk->Fetch(*session, Manifest(/*head=*/true));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->endpoint.host, "b:5000");
  EXPECT_GE(took, absl::Milliseconds(190));
  EXPECT_LT(took, absl::Seconds(10));
  EXPECT_GE(upstream_.StartOf(Url("b:5000", "manifests/v1")) -
                upstream_.StartOf(Url("a:5000", "manifests/v1")),
            absl::Milliseconds(190));
  // c was never needed.
  EXPECT_THAT(upstream_.Opened(),
              ElementsAre(Url("a:5000", "manifests/v1"), Url("b:5000", "manifests/v1")));
  EXPECT_TRUE(session->IsDemoted("http://a:5000"));
  EXPECT_FALSE(session->IsDemoted("http://b:5000"));
  // Hedged past: counts as a response timeout, so later pulls skip it.
  EXPECT_TRUE(health_.IsBackedOff("a:5000"));
  EXPECT_FALSE(health_.IsBackedOff("b:5000"));
  EXPECT_THAT(session->DescribeAttempts(), HasSubstr("http://a:5000: HEAD manifests/v1: hedged: "
                                                     "http://b:5000 answered first"));
  walk.reset();  // waits for the loser's thread
  EXPECT_THAT(upstream_.Cancelled(), ElementsAre(Url("a:5000", "manifests/v1")));
  EXPECT_EQ(upstream_.active(), 0);
}

TEST_F(HedgedWalkTest, DemotedLoserGoesLastForBlobsOfTheSamePull) {
  upstream_.Set(Url("a:5000", "manifests/v1"), After(absl::Seconds(30)));
  auto walk = NewWalk(absl::Milliseconds(50));
  SessionStatePtr session = NewSession();
  ASSERT_TRUE(walk->Fetch(*session, Manifest(/*head=*/false)).ok());
  absl::StatusOr<Fetched> blob = walk->Fetch(*session, Blob(/*head=*/false));
  ASSERT_TRUE(blob.ok()) << blob.status();
  EXPECT_EQ(blob->endpoint.host, "b:5000");
  // Demotion is per pull; the next pull skips a only while it is in back-off.
  SessionStatePtr next_pull = NewSession();
  EXPECT_FALSE(next_pull->IsDemoted("http://a:5000"));
  absl::StatusOr<Fetched> again = walk->Fetch(*next_pull, Manifest(/*head=*/true));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->endpoint.host, "b:5000");
  EXPECT_THAT(next_pull->DescribeAttempts(), HasSubstr("http://a:5000: HEAD manifests/v1: "
                                                       "skipped: in back-off"));
  health_.RecordSuccess("a:5000");
  upstream_.Set(Url("a:5000", "manifests/v1"), After(absl::ZeroDuration()));
  absl::StatusOr<Fetched> healthy = walk->Fetch(*NewSession(), Manifest(/*head=*/true));
  ASSERT_TRUE(healthy.ok());
  EXPECT_EQ(healthy->endpoint.host, "a:5000");
}

TEST_F(HedgedWalkTest, FastFailureStartsTheNextEndpointAtOnce) {
  upstream_.Set(Url("a:5000", "manifests/v1"), After(absl::Milliseconds(20), 404));
  auto walk = NewWalk(absl::Seconds(20));
  SessionStatePtr session = NewSession();
  const absl::Time start = absl::Now();
  absl::StatusOr<Fetched> fetched = walk->Fetch(*session, Manifest(/*head=*/false));
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->endpoint.host, "b:5000");
  EXPECT_EQ(*fetched->manifest_body, kManifestBody);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // not the 20 s hedge_after
  EXPECT_FALSE(session->IsDemoted("http://a:5000"));  // it answered
  EXPECT_THAT(session->DescribeAttempts(), HasSubstr("http://a:5000: GET manifests/v1: HTTP 404"));
}

TEST_F(HedgedWalkTest, FailureDoesNotBeatAPendingEndpointThatSucceeds) {
  // a answers 200 late; the hedge to b gets a fast 503, c a fast 404: a wins.
  upstream_.Set(Url("a:5000", "manifests/v1"), After(absl::Milliseconds(600)));
  upstream_.Set(Url("b:5000", "manifests/v1"), After(absl::ZeroDuration(), 503));
  upstream_.Set(Url("c:5000", "manifests/v1"), After(absl::ZeroDuration(), 404));
  auto walk = NewWalk(absl::Milliseconds(50));
  SessionStatePtr session = NewSession();
  absl::StatusOr<Fetched> fetched = walk->Fetch(*session, Manifest(/*head=*/true));
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->endpoint.host, "a:5000");
  EXPECT_FALSE(health_.IsBackedOff("a:5000"));
  EXPECT_THAT(upstream_.Opened(), ElementsAre(Url("a:5000", "manifests/v1"),
                                              Url("b:5000", "manifests/v1"),
                                              Url("c:5000", "manifests/v1")));
  const std::string attempts = session->DescribeAttempts();
  EXPECT_THAT(attempts, HasSubstr("http://b:5000: HEAD manifests/v1: HTTP 503"));
  EXPECT_THAT(attempts, HasSubstr("http://c:5000: HEAD manifests/v1: HTTP 404"));
  EXPECT_FALSE(session->IsDemoted("http://a:5000"));
}

TEST_F(HedgedWalkTest, EveryEndpointFailingListsEachReason) {
  upstream_.Set(Url("a:5000", "manifests/v1"),
                [] {
                  Script script = After(absl::Milliseconds(100));
                  script.open_error = absl::UnavailableError("connect refused");
                  return script;
                }());
  upstream_.Set(Url("b:5000", "manifests/v1"), After(absl::ZeroDuration(), 404));
  upstream_.Set(Url("c:5000", "manifests/v1"), After(absl::ZeroDuration(), 404));
  auto walk = NewWalk(absl::Milliseconds(20));
  SessionStatePtr session = NewSession();
  absl::StatusOr<Fetched> fetched = walk->Fetch(*session, Manifest(/*head=*/true));
  ASSERT_TRUE(absl::IsUnavailable(fetched.status())) << fetched.status();
  EXPECT_THAT(fetched.status().message(), HasSubstr("http://a:5000: UNAVAILABLE: connect refused"));
  EXPECT_THAT(fetched.status().message(), HasSubstr("http://b:5000: HTTP 404"));
  EXPECT_THAT(fetched.status().message(), HasSubstr("http://c:5000: HTTP 404"));
}

TEST_F(HedgedWalkTest, HedgeAfterZeroWaitsForEachEndpointInTurn) {
  upstream_.Set(Url("a:5000", "manifests/v1"), After(absl::Milliseconds(300), 503));
  auto walk = NewWalk(absl::ZeroDuration());
  SessionStatePtr session = NewSession();
  absl::StatusOr<Fetched> fetched = walk->Fetch(*session, Manifest(/*head=*/true));
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->endpoint.host, "b:5000");
  EXPECT_GE(upstream_.StartOf(Url("b:5000", "manifests/v1")) -
                upstream_.StartOf(Url("a:5000", "manifests/v1")),
            absl::Milliseconds(290));
  EXPECT_EQ(upstream_.max_active(), 1);
  EXPECT_FALSE(session->IsDemoted("http://a:5000"));
}

TEST_F(HedgedWalkTest, HostHedgeAfterOverridesTheServerDefault) {
  // Server default 50 ms; a's [host] table says 0s (off).
  std::vector<resolver::Endpoint> endpoints = {Endpoint("a:5000"), Endpoint("b:5000"),
                                               Endpoint("c:5000")};
  endpoints[0].host_settings = config::HostSettings{};
  endpoints[0].host_settings->hedge_after = absl::ZeroDuration();
  upstream_.Set(Url("a:5000", "manifests/v1"), After(absl::Milliseconds(300), 500));
  upstream_.Set(Url("b:5000", "manifests/v1"), After(absl::Seconds(30)));
  auto walk = NewWalk(absl::Milliseconds(50));
  SessionStatePtr session = NewSession(endpoints);
  absl::StatusOr<Fetched> fetched = walk->Fetch(*session, Manifest(/*head=*/true));
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(fetched->endpoint.host, "c:5000");
  // b waited for a's failure (a: no hedging), c was hedged 50 ms after b.
  const absl::Time a = upstream_.StartOf(Url("a:5000", "manifests/v1"));
  const absl::Time b = upstream_.StartOf(Url("b:5000", "manifests/v1"));
  const absl::Time c = upstream_.StartOf(Url("c:5000", "manifests/v1"));
  EXPECT_GE(b - a, absl::Milliseconds(290));
  // Measured where the requests reach the upstream: each attempt first asks
  // the credential sources and logs the answer, so b's request may reach it
  // later after its launch than c's (by ~6 ms under ThreadSanitizer in CI).
  EXPECT_GE(c - b, absl::Milliseconds(30));
  EXPECT_LT(c - b, absl::Seconds(10));
  EXPECT_TRUE(session->IsDemoted("http://b:5000"));
}

TEST_F(HedgedWalkTest, BlobGetIsNeverHedgedButBlobHeadIs) {
  const std::string blob = absl::StrCat("blobs/", kBlob);
  upstream_.Set(Url("a:5000", blob), After(absl::Milliseconds(300)));
  auto walk = NewWalk(absl::Milliseconds(20));
  SessionStatePtr session = NewSession();
  absl::StatusOr<Fetched> get = walk->Fetch(*session, Blob(/*head=*/false));
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->endpoint.host, "a:5000");
  EXPECT_THAT(upstream_.Opened(), ElementsAre(Url("a:5000", blob)));
  absl::StatusOr<Fetched> head = walk->Fetch(*session, Blob(/*head=*/true));
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->endpoint.host, "b:5000");
}

TEST_F(HedgedWalkTest, LoserThatIgnoresCancelRunsOutOnItsThreadAndTheWalkWaits) {
  upstream_.Set(Url("a:5000", "manifests/v1"),
                [] {
                  Script script = After(absl::Milliseconds(500));
                  script.honours_cancel = false;
                  return script;
                }());
  auto walk = NewWalk(absl::Milliseconds(20));
  {
    SessionStatePtr session = NewSession();
    absl::StatusOr<Fetched> fetched = walk->Fetch(*session, Manifest(/*head=*/false));
    ASSERT_TRUE(fetched.ok()) << fetched.status();
    EXPECT_EQ(fetched->endpoint.host, "b:5000");
  }  // the session is gone while a's attempt still runs
  EXPECT_EQ(upstream_.active(), 1);
  walk.reset();
  EXPECT_EQ(upstream_.active(), 0);
  EXPECT_TRUE(upstream_.Cancelled().empty());
}

TEST(HedgedFetcherTest, AttemptsInFlightAreBounded) {
  std::atomic<int> active{0};
  std::atomic<int> most{0};
  std::vector<HedgedAttempt> attempts;
  for (int i = 0; i < 5; ++i) {
    HedgedAttempt attempt;
    attempt.hedge_after = absl::Milliseconds(10);
    attempt.run = [&active, &most, i](CancelFlag cancel) -> absl::StatusOr<Fetched> {
      int now = ++active;
      for (int seen = most.load(); now > seen && !most.compare_exchange_weak(seen, now);) {
      }
      absl::SleepFor(absl::Milliseconds(i == 4 ? 0 : 150));
      --active;
      if (i < 4) return absl::UnavailableError(absl::StrCat("attempt ", i));
      (void)cancel;
      return Fetched{};
    };
    attempts.push_back(std::move(attempt));
  }
  HedgeOutcome outcome;
  {
    HedgedFetcher fetcher(2);
    outcome = fetcher.Run(std::move(attempts));
  }
  EXPECT_EQ(outcome.winner, 4u);
  EXPECT_EQ(outcome.started, 5u);
  EXPECT_EQ(outcome.failures.size() + outcome.cancelled.size(), 4u);
  EXPECT_LE(most.load(), 2);
}

}  // namespace
}  // namespace crimirror::relay
