// Unit tests for tag resolution (relay/tag_resolution.h), tag pins
// (relay/tag_pin.h) and the tag history file (relay/tag_history.h), over a
// scripted in-process Upstream (the unit seam; the real registries are in
// tests/integration/tag_trust_test.cc).
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "relay/endpoint_health.h"
#include "relay/endpoint_walk.h"
#include "relay/fake_response.h"
#include "relay/session_store.h"
#include "relay/tag_history.h"
#include "relay/tag_pin.h"
#include "relay/tag_resolution.h"
#include "relay/upstream.h"

namespace crimirror::relay {
namespace {

using ::testing::HasSubstr;
using config::ResolveTags;

const std::string kOld = "sha256:" + std::string(64, 'a');
const std::string kNew = "sha256:" + std::string(64, 'b');

struct Answer {
  int status = 200;
  std::string digest;  // Docker-Content-Digest ("" = none)
  absl::Status error;  // below HTTP
};

Answer Ok(std::string digest) {
  Answer answer;
  answer.digest = std::move(digest);
  return answer;
}

Answer Fail(absl::Status error) {
  Answer answer;
  answer.error = std::move(error);
  return answer;
}

// Answers by "METHOD URL"; unknown requests get 404. Records each request
// and its deadline.
class FakeUpstream : public Upstream {
 public:
  void Set(const std::string& method_url, Answer answer) {
    absl::MutexLock lock(&mu_);
    answers_[method_url] = std::move(answer);
  }
  absl::StatusOr<UpstreamResponsePtr> Open(const UpstreamRequest& request) override {
    const std::string key = absl::StrCat(request.method, " ", request.url);
    Answer answer;
    answer.status = 404;
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(key);
      deadlines_.push_back(request.deadline);
      if (auto it = answers_.find(key); it != answers_.end()) answer = it->second;
    }
    if (!answer.error.ok()) return answer.error;
    Headers headers = {{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}};
    if (!answer.digest.empty()) headers.emplace_back("Docker-Content-Digest", answer.digest);
    return std::make_unique<FakeResponse>(answer.status, headers,
                                      request.method == "GET" ? R"({"schemaVersion":2})" : "");
  }
  std::vector<std::string> Requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  std::vector<absl::Time> Deadlines() const {
    absl::MutexLock lock(&mu_);
    return deadlines_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, Answer> answers_;
  std::vector<std::string> requests_;
  std::vector<absl::Time> deadlines_;
};

resolver::Endpoint Endpoint(const std::string& host, bool trusted,
                            resolver::EndpointKind kind = resolver::EndpointKind::kMirror) {
  resolver::Endpoint e;
  e.base_url = "http://" + host;
  e.host = host;
  e.repository = "team/app";
  e.trusted = trusted;
  e.kind = kind;
  return e;
}

std::string Url(const std::string& host, const std::string& ref) {
  return absl::StrCat("http://", host, "/v2/team/app/manifests/", ref);
}

class MemoryHistory : public TagHistory {
 public:
  std::optional<KnownTag> Lookup(const std::string& reference) const override {
    auto it = tags_.find(reference);
    if (it == tags_.end()) return std::nullopt;
    return it->second;
  }
  void Record(const std::string& reference, const std::string& digest) override {
    tags_[reference] = {digest, absl::Now()};
  }
  std::map<std::string, KnownTag> tags_;
};

class TagResolutionTest : public ::testing::Test {
 protected:
  // Plan: mirror m:5000, then the upstream corp.example:443 (trusted).
  resolver::EndpointPlan Plan(ResolveTags mode, bool last_known = false) {
    resolver::EndpointPlan plan;
    plan.reference = {"corp.example", "team/app", "v1", ""};
    plan.matched_rule = "corp.example";
    plan.rule_origin = "config.toml:3";
    plan.resolve_tags = mode;
    plan.resolve_timeout = absl::Seconds(2);
    plan.last_known = last_known;
    plan.endpoints = {Endpoint("m:5000", false),
                      Endpoint("corp.example:443", true, resolver::EndpointKind::kUpstream)};
    return plan;
  }
  SessionStatePtr Session(resolver::EndpointPlan plan) {
    absl::StatusOr<relay::Session> session = sessions_.Create(plan, std::nullopt, absl::Hours(1));
    EXPECT_TRUE(session.ok());
    return sessions_.Find(session->id);
  }
  static FetchRequest TagRequest(bool head) {
    FetchRequest request;
    request.route = {RouteKind::kManifest, "corp.example/team/app", "v1", false};
    request.head = head;
    return request;
  }
  absl::StatusOr<std::string> Pin(SessionState& session, bool head = true) {
    FetchRequest request = TagRequest(head);
    absl::Status s = PinRequestToDigest(env_, session, request);
    if (!s.ok()) return s;
    EXPECT_TRUE(request.route.ref_is_digest);
    return request.route.ref;
  }

  FakeUpstream upstream_;
  EndpointHealth health_{EndpointHealth::Options{}};
  EndpointWalk walk_{&upstream_, &health_, WalkLimits{}};
  MemoryHistory history_;
  TagResolutionEnv env_{&walk_, &health_, &history_};
  SessionStore sessions_;
};

TEST_F(TagResolutionTest, UpstreamModeTakesTheRegistrysDigestAndNeverAsksTheMirror) {
  upstream_.Set("HEAD " + Url("m:5000", "v1"), Ok(kOld));
  upstream_.Set("HEAD " + Url("corp.example:443", "v1"), Ok(kNew));
  SessionStatePtr session = Session(Plan(ResolveTags::kUpstream));
  const absl::Time before = absl::Now();
  absl::StatusOr<std::string> digest = Pin(*session);
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, kNew);
  EXPECT_THAT(upstream_.Requests(),
              ::testing::ElementsAre("HEAD " + Url("corp.example:443", "v1")));
  // The HEAD carried resolve_timeout as its deadline.
  ASSERT_EQ(upstream_.Deadlines().size(), 1u);
  EXPECT_GE(upstream_.Deadlines()[0], before + absl::Seconds(2));
  EXPECT_LT(upstream_.Deadlines()[0], absl::Now() + absl::Seconds(2) + absl::Milliseconds(1));
  std::optional<PinnedTag> pinned = session->tag_pin()->pinned();
  ASSERT_TRUE(pinned.has_value());
  EXPECT_TRUE(pinned->trusted);
  EXPECT_EQ(pinned->source, "http://corp.example:443");
}

TEST_F(TagResolutionTest, UpstreamModeFailsClearlyWhenTheRegistryIsDown) {
  upstream_.Set("HEAD " + Url("m:5000", "v1"), Ok(kOld));
  upstream_.Set("HEAD " + Url("corp.example:443", "v1"),
                Fail(absl::UnavailableError("connect to corp.example:443: refused")));
  SessionStatePtr session = Session(Plan(ResolveTags::kUpstream));
  absl::StatusOr<std::string> digest = Pin(*session);
  ASSERT_FALSE(digest.ok());
  EXPECT_TRUE(absl::IsUnavailable(digest.status())) << digest.status();
  EXPECT_THAT(digest.status().message(), HasSubstr("resolve_tags = \"upstream\""));
  EXPECT_THAT(digest.status().message(), HasSubstr("refused"));
  EXPECT_THAT(digest.status().message(), HasSubstr("config.toml:3"));
  EXPECT_EQ(upstream_.Requests().size(), 1u);
  EXPECT_FALSE(session->tag_pin()->last_error().ok());
  // Not pinned: the next request tries again.
  upstream_.Set("HEAD " + Url("corp.example:443", "v1"), Ok(kNew));
  EXPECT_EQ(Pin(*session).value_or(""), kNew);
  EXPECT_TRUE(session->tag_pin()->last_error().ok());
}

TEST_F(TagResolutionTest, UpstreamOrMirrorFallsBackToTheMirrorsAnswer) {
  upstream_.Set("HEAD " + Url("m:5000", "v1"), Ok(kOld));
  upstream_.Set("HEAD " + Url("corp.example:443", "v1"),
                Fail(absl::DeadlineExceededError("no answer within the request's deadline")));
  SessionStatePtr session = Session(Plan(ResolveTags::kUpstreamOrMirror));
  EXPECT_EQ(Pin(*session).value_or(""), kOld);
  std::optional<PinnedTag> pinned = session->tag_pin()->pinned();
  ASSERT_TRUE(pinned.has_value());
  EXPECT_FALSE(pinned->trusted);
  EXPECT_EQ(pinned->source, "http://m:5000");
  EXPECT_THAT(pinned->note, HasSubstr("deadline"));
}

TEST_F(TagResolutionTest, ANotFoundAtTheRegistryIsAnAnswerNotAFallback) {
  upstream_.Set("HEAD " + Url("m:5000", "v1"), Ok(kOld));
  SessionStatePtr session = Session(Plan(ResolveTags::kUpstreamOrMirror));
  absl::StatusOr<std::string> digest = Pin(*session);
  EXPECT_TRUE(absl::IsNotFound(digest.status())) << digest.status();
  EXPECT_EQ(upstream_.Requests().size(), 1u);
}

TEST_F(TagResolutionTest, DigestOnlyMirrorServesTheTagByDigest) {
  resolver::EndpointPlan plan = Plan(ResolveTags::kUpstream);
  plan.endpoints[0].serves_tags = false;  // digest-only
  upstream_.Set("HEAD " + Url("corp.example:443", "v1"), Ok(kNew));
  upstream_.Set("GET " + Url("m:5000", kNew), Ok(""));
  SessionStatePtr session = Session(plan);
  FetchRequest request = TagRequest(/*head=*/false);
  ASSERT_TRUE(PinRequestToDigest(env_, *session, request).ok());
  EXPECT_EQ(request.route.ref, kNew);
  // The walk then asks the mirror first, by digest. (The fake's body does
  // not hash to kNew, so the walk moves on; the order is what matters.)
  (void)walk_.Fetch(*session, request);
  std::vector<std::string> requests = upstream_.Requests();
  ASSERT_GE(requests.size(), 2u);
  EXPECT_EQ(requests[1], "GET " + Url("m:5000", kNew));
}

TEST_F(TagResolutionTest, AHeadWithoutADigestIsFollowedByAGetWhoseBodyIsHashed) {
  upstream_.Set("HEAD " + Url("corp.example:443", "v1"), Ok(""));
  upstream_.Set("GET " + Url("corp.example:443", "v1"), Ok(""));
  SessionStatePtr session = Session(Plan(ResolveTags::kUpstream));
  absl::StatusOr<std::string> digest = Pin(*session);
  ASSERT_TRUE(digest.ok()) << digest.status();
  // sha256 of {"schemaVersion":2}
  EXPECT_EQ(digest->substr(0, 7), "sha256:");
  EXPECT_NE(*digest, kNew);
  EXPECT_THAT(upstream_.Requests(),
              ::testing::ElementsAre("HEAD " + Url("corp.example:443", "v1"),
                                     "GET " + Url("corp.example:443", "v1")));
}

TEST_F(TagResolutionTest, LastKnownRecordsTrustedAnswersAndChecksTheMirrorsAgainstThem) {
  upstream_.Set("HEAD " + Url("m:5000", "v1"), Ok(kOld));
  upstream_.Set("HEAD " + Url("corp.example:443", "v1"), Ok(kNew));
  SessionStatePtr first = Session(Plan(ResolveTags::kUpstreamOrMirror, /*last_known=*/true));
  EXPECT_EQ(Pin(*first).value_or(""), kNew);
  ASSERT_EQ(history_.tags_.count("corp.example/team/app:v1"), 1u);
  EXPECT_EQ(history_.tags_["corp.example/team/app:v1"].digest, kNew);

  // The registry goes away; the stale mirror's answer is refused.
  sessions_.ForgetTagPin(first->plan());
  upstream_.Set("HEAD " + Url("corp.example:443", "v1"),
                Fail(absl::UnavailableError("connect to corp.example:443: refused")));
  SessionStatePtr second = Session(Plan(ResolveTags::kUpstreamOrMirror, true));
  absl::StatusOr<std::string> refused = Pin(*second);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr(kNew));
  EXPECT_THAT(refused.status().message(), HasSubstr("last_known"));

  // The mirror catches up: its answer now matches and is served.
  upstream_.Set("HEAD " + Url("m:5000", "v1"), Ok(kNew));
  EXPECT_EQ(Pin(*second).value_or(""), kNew);
}

TEST_F(TagResolutionTest, LastKnownWithoutAnyRecordRefusesAndSaysHowToFixIt) {
  upstream_.Set("HEAD " + Url("m:5000", "v1"), Ok(kOld));
  resolver::EndpointPlan plan = Plan(ResolveTags::kMirror, /*last_known=*/true);
  plan.endpoints.pop_back();  // air-gapped
  SessionStatePtr session = Session(plan);
  absl::StatusOr<std::string> refused = Pin(*session);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("no trusted endpoint has named"));
  EXPECT_THAT(refused.status().message(), HasSubstr("last_known = false"));
}

TEST_F(TagResolutionTest, SessionsOfOnePullShareThePinAndTheDigest) {
  upstream_.Set("HEAD " + Url("corp.example:443", "v1"), Ok(kNew));
  SessionStatePtr first = Session(Plan(ResolveTags::kUpstream));
  EXPECT_EQ(Pin(*first).value_or(""), kNew);
  // The registry moves the tag; the kubelet's repeated call (a new
  // session) still gets the digest of this pull.
  upstream_.Set("HEAD " + Url("corp.example:443", "v1"), Ok(kOld));
  SessionStatePtr again = Session(Plan(ResolveTags::kUpstream));
  EXPECT_EQ(first->tag_pin(), again->tag_pin());
  EXPECT_EQ(Pin(*again).value_or(""), kNew);
  EXPECT_EQ(upstream_.Requests().size(), 1u);
  // Once a pull succeeded the pin is forgotten: a later pull asks again.
  sessions_.ForgetTagPin(first->plan());
  SessionStatePtr later = Session(Plan(ResolveTags::kUpstream));
  EXPECT_EQ(Pin(*later).value_or(""), kOld);
}

TEST_F(TagResolutionTest, MirrorModeWithoutLastKnownResolvesNothing) {
  SessionStatePtr session = Session(Plan(ResolveTags::kMirror));
  EXPECT_EQ(session->tag_pin(), nullptr);
  FetchRequest request = TagRequest(true);
  EXPECT_TRUE(PinRequestToDigest(env_, *session, request).ok());
  EXPECT_EQ(request.route.ref, "v1");
  EXPECT_TRUE(upstream_.Requests().empty());
}

TEST(TagPinsTest, PinsExpireAfterKeep) {
  absl::Time now = absl::FromUnixSeconds(1000);
  TagPins pins([&now] { return now; });
  TagPinPtr a = pins.For("k");
  EXPECT_EQ(pins.For("k"), a);
  now += TagPins::kKeep + absl::Seconds(1);
  EXPECT_NE(pins.For("k"), a);
  EXPECT_EQ(pins.size(), 1u);
}

class FileTagHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tag-history-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { (void)std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(FileTagHistoryTest, RecordsSurviveAReopenInAPrivateFile) {
  const std::string path = dir_ + "/state/tags.json";
  {
    std::unique_ptr<FileTagHistory> history = FileTagHistory::Open(path);
    EXPECT_FALSE(history->Lookup("r/a:1").has_value());
    history->Record("r/a:1", kNew);
  }
  struct stat st{};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir_ + "/state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  std::unique_ptr<FileTagHistory> reopened = FileTagHistory::Open(path);
  std::optional<KnownTag> known = reopened->Lookup("r/a:1");
  ASSERT_TRUE(known.has_value());
  EXPECT_EQ(known->digest, kNew);
  EXPECT_LT(absl::Now() - known->seen, absl::Minutes(1));
}

TEST_F(FileTagHistoryTest, ACorruptFileStartsEmptyAndIsRewritten) {
  const std::string path = dir_ + "/tags.json";
  std::ofstream(path) << "{not json";
  std::unique_ptr<FileTagHistory> history = FileTagHistory::Open(path);
  EXPECT_FALSE(history->Lookup("r/a:1").has_value());
  history->Record("r/a:1", kOld);
  EXPECT_EQ(FileTagHistory::Open(path)->Lookup("r/a:1")->digest, kOld);
  // Entries with a bad digest are skipped, the rest kept.
  std::ofstream(path) << R"({"version":1,"tags":{"r/a:1":{"digest":"md5:x","seen":"2026-01-01T00:00:00Z"},)"
                      << R"("r/b:2":{"digest":")" << kNew << R"(","seen":"2026-01-01T00:00:00Z"}}})";
  std::unique_ptr<FileTagHistory> mixed = FileTagHistory::Open(path);
  EXPECT_FALSE(mixed->Lookup("r/a:1").has_value());
  EXPECT_EQ(mixed->Lookup("r/b:2")->digest, kNew);
}

}  // namespace
}  // namespace crimirror::relay
