// The relay's session gate against a real docker-registry: containerd (here
// libcurl) gets nothing without a live pull session. Sessions expire in real
// time here (no injected clock), complementing relay/relay_test.cc.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "relay/curl_upstream.h"
#include "relay/endpoint_health.h"
#include "relay/relay_server.h"
#include "relay/route.h"
#include "relay/session_store.h"
#include "resolver/reference.h"
#include "tests/integration/testbed/gtest_util.h"
#include "tests/integration/testbed/testbed.h"

namespace crimirror::testbed {
namespace {

using ::testing::HasSubstr;

class RelaySessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TESTBED_SKIP_UNLESS_PREREQUISITES();
    TESTBED_ASSERT_OK_AND_ASSIGN(dir_, TempDir::Create("crimirror-relay"));
    TESTBED_ASSERT_OK_AND_ASSIGN(registry_, Registry::Create(dir_->path()));
    TESTBED_ASSERT_OK_AND_ASSIGN(auto builder, ImageBuilder::Create(dir_->Join("oci")));
    TESTBED_ASSERT_OK_AND_ASSIGN(auto built, builder->BuildImage("v1", ImageOptions{}));
    (void)built;
    TESTBED_ASSERT_OK_AND_ASSIGN(
        digest_, builder->Push("v1", absl::StrCat(registry_->HostPort(), "/demo/app:v1")));
    TESTBED_ASSERT_OK_AND_ASSIGN(upstream_, relay::CurlUpstream::Create({}));
    relay::RelayServer::Options options;
    options.upstream = upstream_.get();
    options.sessions = &sessions_;
    options.health = &health_;
    TESTBED_ASSERT_OK_AND_ASSIGN(relay_, relay::RelayServer::Create(std::move(options)));
  }

  resolver::EndpointPlan Plan() {
    resolver::EndpointPlan plan;
    plan.reference = *resolver::ParseReference("private.example:5000/demo/app:v1");
    plan.matched_rule = "private.example:5000";
    resolver::Endpoint endpoint;
    endpoint.base_url = registry_->Url();
    endpoint.host = registry_->HostPort();
    endpoint.repository = "demo/app";
    plan.endpoints.push_back(endpoint);
    return plan;
  }

  HttpResponse Get(const std::string& path, const std::string& user = "",
                   const std::string& password = "") {
    HttpRequest request;
    request.url = absl::StrCat("http://", relay_->address(), path);
    request.username = user;
    request.password = password;
    request.headers = {"Accept: application/vnd.oci.image.manifest.v1+json"};
    absl::StatusOr<HttpResponse> response = HttpGet(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : HttpResponse{};
  }

  std::string ManifestPath() {
    return absl::StrCat("/v2/", relay::RelayRepository(Plan().reference), "/manifests/v1");
  }

  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Registry> registry_;
  std::string digest_;
  std::unique_ptr<relay::CurlUpstream> upstream_;
  relay::SessionStore sessions_;
  relay::EndpointHealth health_{relay::EndpointHealth::Options{}};
  std::unique_ptr<relay::RelayServer> relay_;
};

TEST_F(RelaySessionTest, NoSessionGetsBasicChallenge) {
  HttpResponse v2 = Get("/v2/");
  EXPECT_EQ(v2.status, 401);
  EXPECT_THAT(v2.headers["www-authenticate"], HasSubstr("Basic"));
  EXPECT_EQ(Get(ManifestPath()).status, 401);
  EXPECT_EQ(Get(ManifestPath(), "someone", "guess").status, 401);
}

TEST_F(RelaySessionTest, LiveSessionIsServedThenExpiresIntoA401) {
  TESTBED_ASSERT_OK_AND_ASSIGN(relay::Session session,
                               sessions_.Create(Plan(), std::nullopt, absl::Seconds(2)));
  const std::string password = session.password.Reveal();
  HttpResponse manifest = Get(ManifestPath(), session.username, password);
  ASSERT_EQ(manifest.status, 200) << manifest.body;
  EXPECT_EQ(manifest.headers["docker-content-digest"], digest_);
  TESTBED_ASSERT_OK(WaitFor(
      [&] { return Get("/v2/", session.username, password).status == 401; },
      absl::Seconds(10), "the session to expire"));
  EXPECT_EQ(Get(ManifestPath(), session.username, password).status, 401);
}

TEST_F(RelaySessionTest, ClosedSessionGets401) {
  TESTBED_ASSERT_OK_AND_ASSIGN(relay::Session session,
                               sessions_.Create(Plan(), std::nullopt, absl::Minutes(5)));
  const std::string password = session.password.Reveal();
  ASSERT_EQ(Get("/v2/", session.username, password).status, 200);
  sessions_.Close(session.id);
  EXPECT_EQ(Get("/v2/", session.username, password).status, 401);
}

}  // namespace
}  // namespace crimirror::testbed
