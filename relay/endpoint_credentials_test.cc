#include "relay/endpoint_credentials.h"

#include <atomic>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::relay {
namespace {

using ::testing::ElementsAre;

resolver::Endpoint Endpoint(std::string base_url, std::string repository,
                            resolver::EndpointKind kind = resolver::EndpointKind::kMirror) {
  resolver::Endpoint e;
  e.base_url = std::move(base_url);
  e.repository = std::move(repository);
  e.kind = kind;
  return e;
}

// Records the queries; answers for one registry.
class FakeSource : public credentials::CredentialSource {
 public:
  explicit FakeSource(std::string registry) : registry_(std::move(registry)) {}
  std::optional<credentials::FoundCredentials> Lookup(
      const credentials::CredentialQuery& query) const override {
    absl::MutexLock lock(&mu_);
    queries_.push_back(query.Image());
    if (query.registry != registry_) return std::nullopt;
    return credentials::FoundCredentials{
        auth::BasicCredentials("from-source", config::Secret("source-secret")),
        "docker config /x auths \"" + registry_ + "\""};
  }
  std::vector<std::string> queries() const {
    absl::MutexLock lock(&mu_);
    return queries_;
  }

 private:
  const std::string registry_;
  mutable absl::Mutex mu_;
  mutable std::vector<std::string> queries_;
};

KubeletAuth Kubelet(std::string server_address = "") {
  return KubeletAuth{auth::BasicCredentials("kubelet", config::Secret("kubelet-secret")),
                     std::move(server_address)};
}

TEST(QueryForTest, DropsDefaultPortsAndNamesDockerHubDockerIo) {
  struct Case {
    std::string base_url, repository, image;
  } cases[] = {
      {"https://registry-1.docker.io", "library/nginx", "docker.io/library/nginx"},
      {"https://index.docker.io:443", "library/nginx", "docker.io/library/nginx"},
      {"https://m.example:5000", "team/app", "m.example:5000/team/app"},
      {"http://m.example:80", "app", "m.example/app"},
      {"http://m.example:443", "app", "m.example:443/app"},
      {"https://127.0.0.1:5443", "a/b", "127.0.0.1:5443/a/b"},
      {"https://[::1]:5000", "a", "[::1]:5000/a"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(QueryFor(Endpoint(c.base_url, c.repository)).Image(), c.image) << c.base_url;
  }
}

TEST(KubeletMayReceiveTest, UpstreamAndOptedInMirrorsOnly) {
  const resolver::Endpoint upstream =
      Endpoint("https://registry.example", "app", resolver::EndpointKind::kUpstream);
  resolver::Endpoint mirror = Endpoint("https://mirror.example:5000", "app");
  EXPECT_TRUE(KubeletMayReceive(Kubelet(), upstream, "registry.example"));
  EXPECT_FALSE(KubeletMayReceive(Kubelet(), mirror, "registry.example"));
  mirror.host_settings.emplace();
  EXPECT_FALSE(KubeletMayReceive(Kubelet(), mirror, "registry.example"));
  mirror.host_settings->forward_kubelet_credentials = true;
  EXPECT_TRUE(KubeletMayReceive(Kubelet(), mirror, "registry.example"));
}

TEST(KubeletMayReceiveTest, ServerAddressMustNameTheRegistry) {
  const resolver::Endpoint hub =
      Endpoint("https://registry-1.docker.io", "library/nginx", resolver::EndpointKind::kUpstream);
  EXPECT_TRUE(KubeletMayReceive(Kubelet("https://index.docker.io/v1/"), hub, "docker.io"));
  EXPECT_TRUE(KubeletMayReceive(Kubelet("docker.io"), hub, "docker.io"));
  EXPECT_FALSE(KubeletMayReceive(Kubelet("other.example"), hub, "docker.io"));
  EXPECT_FALSE(KubeletMayReceive(Kubelet("docker.io:5000"), hub, "docker.io"));
  EXPECT_FALSE(KubeletMayReceive(Kubelet("://"), hub, "docker.io"));
  // An opted-in mirror is the image's registry under another address.
  resolver::Endpoint mirror = Endpoint("https://mirror.example:5000", "library/nginx");
  mirror.host_settings.emplace();
  mirror.host_settings->forward_kubelet_credentials = true;
  EXPECT_TRUE(KubeletMayReceive(Kubelet("https://index.docker.io/v1/"), mirror, "docker.io"));
  EXPECT_TRUE(KubeletMayReceive(Kubelet("mirror.example:5000"), mirror, "docker.io"));
  EXPECT_FALSE(KubeletMayReceive(Kubelet("quay.io"), mirror, "docker.io"));
}

TEST(EndpointCredentialsTest, OrderIsKubeletThenHostThenSources) {
  auto source = std::make_shared<FakeSource>("mirror.example:5000");
  EndpointCredentials creds("s1", "docker.io", Kubelet(), source);
  const resolver::Endpoint upstream =
      Endpoint("https://registry-1.docker.io", "library/nginx", resolver::EndpointKind::kUpstream);
  CredentialChoice c = creds.Choose(upstream);
  ASSERT_TRUE(c.kubelet.has_value());
  EXPECT_EQ(c.kubelet->username, "kubelet");
  EXPECT_EQ(c.origin, "kubelet AuthConfig");

  resolver::Endpoint with_host = Endpoint("https://other.example", "library/nginx");
  with_host.host_settings.emplace();
  with_host.host_settings->username = "host-user";
  c = creds.Choose(with_host);
  EXPECT_FALSE(c.kubelet || c.source);
  EXPECT_EQ(c.origin, "[host] table");

  c = creds.Choose(Endpoint("https://mirror.example:5000", "library/nginx"));
  ASSERT_TRUE(c.source.has_value());
  EXPECT_FALSE(c.kubelet.has_value());
  EXPECT_EQ(c.source->username, "from-source");
  EXPECT_EQ(c.origin, "docker config /x auths \"mirror.example:5000\"");

  c = creds.Choose(Endpoint("https://anon.example", "library/nginx"));
  EXPECT_FALSE(c.kubelet || c.source);
  EXPECT_EQ(c.origin, "anonymous");
  // Sources were asked only for the endpoints neither rule 1 nor 2 covered.
  EXPECT_THAT(source->queries(), ElementsAre("mirror.example:5000/library/nginx",
                                             "anon.example/library/nginx"));
}

TEST(EndpointCredentialsTest, KubeletCredentialsNeverReachAnotherMirror) {
  auto source = std::make_shared<FakeSource>("nothing");
  EndpointCredentials creds("s1", "docker.io", Kubelet(), source);
  CredentialChoice c = creds.Choose(Endpoint("https://mirror.example:5000", "library/nginx"));
  EXPECT_FALSE(c.kubelet.has_value());
  EXPECT_EQ(c.origin, "anonymous");
}

TEST(EndpointCredentialsTest, SourcesAreAskedOncePerEndpoint) {
  auto source = std::make_shared<FakeSource>("mirror.example:5000");
  EndpointCredentials creds("s1", "docker.io", std::nullopt, source);
  const resolver::Endpoint mirror = Endpoint("https://mirror.example:5000", "library/nginx");
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      UpstreamRequest up;
      creds.Apply(mirror, up);
      EXPECT_TRUE(up.source_credentials.has_value());
      EXPECT_FALSE(up.kubelet_credentials.has_value());
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(source->queries().size(), 1u);
}

TEST(EndpointCredentialsTest, NoSourcesMeansAnonymous) {
  EndpointCredentials creds("s1", "docker.io", std::nullopt, nullptr);
  EXPECT_EQ(creds.Choose(Endpoint("https://m.example", "a")).origin, "anonymous");
  EXPECT_EQ(DescribeCredentialSource(Endpoint("https://m.example", "a"), nullptr), "anonymous");
}

}  // namespace
}  // namespace crimirror::relay
