#include "auth/authorizer.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::auth {
namespace {

class FakeFetcher : public TokenFetcher {
 public:
  absl::StatusOr<Token> FetchToken(std::string_view realm, std::string_view service,
                                   const std::vector<std::string>& scopes,
                                   const Credentials& credentials) override {
    ++calls;
    last_realm = std::string(realm);
    last_service = std::string(service);
    last_scopes = scopes;
    last_credentials = credentials;
    if (!next_status.ok()) return next_status;
    return Token{config::Secret("tok" + std::to_string(calls)), *now + lifetime};
  }
  absl::Time* now = nullptr;
  absl::Duration lifetime = absl::Seconds(300);
  absl::Status next_status;
  int calls = 0;
  std::string last_realm, last_service;
  std::vector<std::string> last_scopes;
  Credentials last_credentials;
};

class AuthorizerTest : public testing::Test {
 protected:
  void SetUp() override {
    fetcher_.now = &now_;
    Authorizer::Options options;
    options.clock = [this] { return now_; };
    options.expiry_margin = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<Authorizer>> a = Authorizer::Create(options);
    ASSERT_TRUE(a.ok());
    authorizer_ = *std::move(a);
    challenge_ = *ParseWwwAuthenticate(
        R"(Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a:pull")");
  }
  absl::StatusOr<config::Secret> Authorize(const Credentials& c = {}) {
    return authorizer_->Authorize("reg:5000", "repository:a:pull", challenge_[0], c, fetcher_);
  }

  absl::Time now_ = absl::FromUnixSeconds(1'000'000);
  FakeFetcher fetcher_;
  std::unique_ptr<Authorizer> authorizer_;
  std::vector<Challenge> challenge_;
};

TEST_F(AuthorizerTest, FetchesWithChallengeParams) {
  absl::StatusOr<config::Secret> token = Authorize();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->Reveal(), "tok1");
  EXPECT_EQ(fetcher_.last_realm, "http://127.0.0.1:1/token");
  EXPECT_EQ(fetcher_.last_service, "reg");
  EXPECT_THAT(fetcher_.last_scopes, testing::ElementsAre("repository:a:pull"));
}

TEST_F(AuthorizerTest, CachesUntilExpiryMinusMargin) {
  ASSERT_TRUE(Authorize().ok());
  now_ += absl::Seconds(289);
  EXPECT_EQ(Authorize()->Reveal(), "tok1");
  EXPECT_EQ(authorizer_->CachedToken("reg:5000", "repository:a:pull", {})->Reveal(), "tok1");
  now_ += absl::Seconds(1);  // 290 s = 300 - 10 s margin
  EXPECT_FALSE(authorizer_->CachedToken("reg:5000", "repository:a:pull", {}).has_value());
  EXPECT_EQ(Authorize()->Reveal(), "tok2");
  EXPECT_EQ(fetcher_.calls, 2);
}

TEST_F(AuthorizerTest, ShortLivedTokenUsesHalfLifetimeMargin) {
  fetcher_.lifetime = absl::Seconds(6);
  ASSERT_TRUE(Authorize().ok());
  now_ += absl::Seconds(2);
  EXPECT_TRUE(authorizer_->CachedToken("reg:5000", "repository:a:pull", {}).has_value());
  now_ += absl::Seconds(1);
  EXPECT_FALSE(authorizer_->CachedToken("reg:5000", "repository:a:pull", {}).has_value());
}

TEST_F(AuthorizerTest, KeyedByHostScopeAndIdentity) {
  ASSERT_TRUE(Authorize().ok());
  Credentials alice = BasicCredentials("alice", config::Secret("pw"));
  EXPECT_EQ(Authorize(alice)->Reveal(), "tok2");
  EXPECT_EQ(fetcher_.last_credentials, alice);
  EXPECT_FALSE(authorizer_->CachedToken("other:5000", "repository:a:pull", {}).has_value());
  EXPECT_FALSE(authorizer_->CachedToken("reg:5000", "repository:b:pull", {}).has_value());
  EXPECT_EQ(authorizer_->CachedToken("reg:5000", "repository:a:pull", alice)->Reveal(), "tok2");
}

TEST_F(AuthorizerTest, InvalidateForgets) {
  ASSERT_TRUE(Authorize().ok());
  authorizer_->Invalidate("reg:5000", "repository:a:pull", {});
  EXPECT_EQ(Authorize()->Reveal(), "tok2");
}

TEST_F(AuthorizerTest, FetchErrorsPassThroughAndAreNotCached) {
  fetcher_.next_status = absl::UnauthenticatedError("realm said no");
  EXPECT_EQ(Authorize().status().code(), absl::StatusCode::kUnauthenticated);
  fetcher_.next_status = absl::OkStatus();
  EXPECT_TRUE(Authorize().ok());
}

// A fetcher that blocks until released, counting concurrent fetches.
class BlockingFetcher : public TokenFetcher {
 public:
  absl::StatusOr<Token> FetchToken(std::string_view, std::string_view,
                                   const std::vector<std::string>&, const Credentials&) override {
    calls.fetch_add(1);
    started.Notify();
    release.WaitForNotification();
    if (!status.ok()) return status;
    return Token{config::Secret("shared-token"), absl::FromUnixSeconds(1'000'000) + absl::Hours(1)};
  }
  std::atomic<int> calls{0};
  absl::Notification started, release;
  absl::Status status;
};

// Runs `n` concurrent Authorize calls against `fetcher`, releasing it once
// the first fetch started and the others had time to queue behind it.
std::vector<absl::StatusOr<config::Secret>> AuthorizeConcurrently(
    Authorizer& authorizer, const Challenge& challenge, BlockingFetcher& fetcher, int n) {
  std::vector<absl::StatusOr<config::Secret>> results(n, absl::UnknownError("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      results[i] = authorizer.Authorize("reg:5000", "repository:a:pull", challenge, {}, fetcher);
    });
  }
  fetcher.started.WaitForNotification();
  absl::SleepFor(absl::Milliseconds(100));
  fetcher.release.Notify();
  for (std::thread& t : threads) t.join();
  return results;
}

TEST_F(AuthorizerTest, ConcurrentMissesShareOneFetch) {
  BlockingFetcher fetcher;
  for (const auto& result : AuthorizeConcurrently(*authorizer_, challenge_[0], fetcher, 6)) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->Reveal(), "shared-token");
  }
  EXPECT_EQ(fetcher.calls.load(), 1);
}

TEST_F(AuthorizerTest, ConcurrentMissesShareOneFetchError) {
  BlockingFetcher fetcher;
  fetcher.status = absl::DeadlineExceededError("realm timed out");
  for (const auto& result : AuthorizeConcurrently(*authorizer_, challenge_[0], fetcher, 4)) {
    EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
  }
  EXPECT_EQ(fetcher.calls.load(), 1);
  fetcher_.now = &now_;
  EXPECT_TRUE(Authorize().ok());  // errors are not cached: the next miss fetches again
}

TEST_F(AuthorizerTest, ScopeFallsBackToRequestScope) {
  std::vector<Challenge> c = *ParseWwwAuthenticate(R"(Bearer realm="http://r/t")");
  ASSERT_TRUE(authorizer_->Authorize("reg:5000", "repository:z:pull", c[0], {}, fetcher_).ok());
  EXPECT_THAT(fetcher_.last_scopes, testing::ElementsAre("repository:z:pull"));
}

TEST_F(AuthorizerTest, RejectsNonBearerAndRealmlessChallenges) {
  std::vector<Challenge> basic = *ParseWwwAuthenticate(R"(Basic realm="r")");
  EXPECT_EQ(authorizer_->Authorize("h", "s", basic[0], {}, fetcher_).status().code(),
            absl::StatusCode::kInvalidArgument);
  std::vector<Challenge> no_realm = *ParseWwwAuthenticate(R"(Bearer service="x")");
  EXPECT_EQ(authorizer_->Authorize("h", "s", no_realm[0], {}, fetcher_).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(fetcher_.calls, 0);
}

TEST(AuthorizerCreateTest, RejectsBadOptions) {
  Authorizer::Options no_clock;
  no_clock.clock = nullptr;
  EXPECT_FALSE(Authorizer::Create(no_clock).ok());
  Authorizer::Options negative;
  negative.expiry_margin = absl::Seconds(-1);
  EXPECT_FALSE(Authorizer::Create(negative).ok());
  Authorizer::Options zero;
  zero.max_entries = 0;
  EXPECT_FALSE(Authorizer::Create(zero).ok());
}

TEST(AuthorizerCapacityTest, EvictsSoonestExpiring) {
  absl::Time now = absl::FromUnixSeconds(1'000'000);
  FakeFetcher fetcher;
  fetcher.now = &now;
  Authorizer::Options options;
  options.clock = [&now] { return now; };
  options.max_entries = 2;
  std::unique_ptr<Authorizer> a = *Authorizer::Create(options);
  std::vector<Challenge> c = *ParseWwwAuthenticate(R"(Bearer realm="http://r/t")");
  for (const char* scope : {"s1", "s2", "s3"}) {
    ASSERT_TRUE(a->Authorize("h", scope, c[0], {}, fetcher).ok());
    fetcher.lifetime += absl::Seconds(10);
  }
  EXPECT_FALSE(a->CachedToken("h", "s1", {}).has_value());
  EXPECT_TRUE(a->CachedToken("h", "s2", {}).has_value());
  EXPECT_TRUE(a->CachedToken("h", "s3", {}).has_value());
}

}  // namespace
}  // namespace crimirror::auth
