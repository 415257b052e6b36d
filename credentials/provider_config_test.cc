#include "credentials/provider_config.h"

#include <gtest/gtest.h>

#include <string>

namespace crimirror::credentials {
namespace {

// The kubelet documentation's example, with env, args and a second
// provider in service-account token mode.
constexpr char kYaml[] = R"(apiVersion: kubelet.config.k8s.io/v1
kind: CredentialProviderConfig
providers:
  - name: ecr-credential-provider
    matchImages:
      - "*.dkr.ecr.*.amazonaws.com"
      - "*.dkr.ecr.*.amazonaws.com.cn"
      - "registry.io:5000/team"
    defaultCacheDuration: "12h"
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    args:
      - get-credentials
    env:
      - name: AWS_PROFILE
        value: node
  - name: sa-provider
    matchImages: ["*.example.com"]
    defaultCacheDuration: 0s
    apiVersion: credentialprovider.kubelet.k8s.io/v1
    tokenAttributes:
      serviceAccountTokenAudience: registry.example.com
      requireServiceAccount: true
      cacheType: ServiceAccount
)";

TEST(ProviderConfigTest, ParsesTheKubeletExample) {
  absl::StatusOr<ProviderConfig> config = ParseProviderConfig(kYaml, "providers.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->providers.size(), 2u);
  const ProviderSpec& ecr = config->providers[0];
  EXPECT_EQ(ecr.name, "ecr-credential-provider");
  EXPECT_EQ(ecr.match_images,
            (std::vector<std::string>{"*.dkr.ecr.*.amazonaws.com", "*.dkr.ecr.*.amazonaws.com.cn",
                                      "registry.io:5000/team"}));
  EXPECT_EQ(ecr.default_cache_duration, absl::Hours(12));
  EXPECT_EQ(ecr.api_version, "credentialprovider.kubelet.k8s.io/v1");
  EXPECT_EQ(ecr.args, std::vector<std::string>{"get-credentials"});
  ASSERT_EQ(ecr.env.size(), 1u);
  EXPECT_EQ(ecr.env[0].first, "AWS_PROFILE");
  EXPECT_EQ(ecr.env[0].second, "node");
  EXPECT_FALSE(ecr.require_service_account);
  EXPECT_EQ(ecr.where, "providers.yaml:4:5");
  EXPECT_TRUE(config->providers[1].require_service_account);
  EXPECT_EQ(config->providers[1].default_cache_duration, absl::ZeroDuration());
}

TEST(ProviderConfigTest, ParsesJsonAndOlderVersions) {
  constexpr char kJson[] = "{\n\t\"apiVersion\": \"kubelet.config.k8s.io/v1beta1\",\n"
                           "\t\"kind\": \"CredentialProviderConfig\",\n"
                           "\t\"providers\": [{\"name\": \"gcp\", \"matchImages\": [\"gcr.io\"],\n"
                           "\t\t\"defaultCacheDuration\": \"1m30s\",\n"
                           "\t\t\"apiVersion\": \"credentialprovider.kubelet.k8s.io/v1alpha1\"}]\n}\n";
  absl::StatusOr<ProviderConfig> config = ParseProviderConfig(kJson, "p.json");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->providers.size(), 1u);
  EXPECT_EQ(config->providers[0].default_cache_duration, absl::Seconds(90));
  EXPECT_EQ(config->providers[0].api_version, "credentialprovider.kubelet.k8s.io/v1alpha1");
}

std::string Provider(const std::string& body) {
  return "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n" +
         body;
}

constexpr char kGood[] =
    "  - name: p\n    matchImages: [\"registry.io\"]\n    defaultCacheDuration: 1h\n"
    "    apiVersion: credentialprovider.kubelet.k8s.io/v1\n";

// Every validation rule of the kubelet's validateCredentialProviderConfig
// (and of its strict decoding), each with the place and the message.
TEST(ProviderConfigTest, RejectsWhatTheKubeletRejects) {
  const struct {
    std::string text;
    const char* error;
  } cases[] = {
      {"[1, 2]", "p.yaml:1:1: expected a CredentialProviderConfig map"},
      {"a: [", "p.yaml:1:1: YAML: end of sequence flow not found"},
      {"apiVersion: kubelet.config.k8s.io/v1\nkind: Other\nproviders: []\n",
       "p.yaml:2:7: kind: is \"Other\"; write kind: CredentialProviderConfig"},
      {"apiVersion: v1\nkind: CredentialProviderConfig\nproviders:\n" + std::string(kGood),
       "p.yaml:1:13: apiVersion: is \"v1\"; write apiVersion: kubelet.config.k8s.io/v1"},
      {Provider(""), "providers: at least 1 item in providers is required"},
      {Provider(kGood) + "  # x\nextra: 1\n", "p.yaml:9:1: extra: unknown key"},
      {Provider(std::string(kGood) + "    matchImage: [x]\n"),
       "p.yaml:8:5: providers[0].matchImage: unknown key (the kubelet rejects it too)"},
      {Provider("  - matchImages: [a.io]\n    defaultCacheDuration: 1h\n"
                "    apiVersion: credentialprovider.kubelet.k8s.io/v1\n"),
       "providers[0].name: is required"},
      {Provider("  - name: a/b\n    matchImages: [a.io]\n    defaultCacheDuration: 1h\n"
                "    apiVersion: credentialprovider.kubelet.k8s.io/v1\n"),
       "p.yaml:4:11: providers[0].name: cannot contain '/'"},
      {Provider("  - name: a b\n    matchImages: [a.io]\n    defaultCacheDuration: 1h\n"
                "    apiVersion: credentialprovider.kubelet.k8s.io/v1\n"),
       "providers[0].name: cannot contain spaces"},
      {Provider("  - name: ..\n    matchImages: [a.io]\n    defaultCacheDuration: 1h\n"
                "    apiVersion: credentialprovider.kubelet.k8s.io/v1\n"),
       "providers[0].name: cannot be '..'"},
      {Provider(std::string(kGood) + kGood), "providers[1].name: duplicate provider \"p\""},
      {Provider("  - name: p\n    defaultCacheDuration: 1h\n"
                "    apiVersion: credentialprovider.kubelet.k8s.io/v1\n"),
       "providers[0].matchImages: at least 1 item in matchImages is required"},
      {Provider("  - name: p\n    matchImages: [\"a.io:port\"]\n    defaultCacheDuration: 1h\n"
                "    apiVersion: credentialprovider.kubelet.k8s.io/v1\n"),
       "p.yaml:5:19: providers[0].matchImages[0]: match image is invalid: invalid port"},
      {Provider("  - name: p\n    matchImages: [a.io]\n"
                "    apiVersion: credentialprovider.kubelet.k8s.io/v1\n"),
       "providers[0].defaultCacheDuration: is required"},
      {Provider("  - name: p\n    matchImages: [a.io]\n    defaultCacheDuration: 1d\n"
                "    apiVersion: credentialprovider.kubelet.k8s.io/v1\n"),
       "p.yaml:6:27: providers[0].defaultCacheDuration: invalid duration \"1d\": unknown unit"},
      {Provider("  - name: p\n    matchImages: [a.io]\n    defaultCacheDuration: -1h\n"
                "    apiVersion: credentialprovider.kubelet.k8s.io/v1\n"),
       "providers[0].defaultCacheDuration: must be greater than or equal to 0"},
      {Provider("  - name: p\n    matchImages: [a.io]\n    defaultCacheDuration: 1h\n"),
       "providers[0].apiVersion: is required; write credentialprovider.kubelet.k8s.io/v1"},
      {Provider("  - name: p\n    matchImages: [a.io]\n    defaultCacheDuration: 1h\n"
                "    apiVersion: credentialprovider.kubelet.k8s.io/v2\n"),
       "providers[0].apiVersion: is not supported"},
      {Provider(std::string(kGood) + "    args: get\n"), "providers[0].args: expected a list"},
      {Provider(std::string(kGood) + "    env: [{value: x}]\n"),
       "providers[0].env[0].name: is required"},
      {Provider(std::string(kGood) + "    env: [{name: A, valu: x}]\n"),
       "providers[0].env[0].valu: unknown key"},
      {Provider(std::string(kGood) + "    tokenAttributes:\n      requireServiceAccount: true\n"
                                     "      cacheType: Token\n"),
       "providers[0].tokenAttributes.serviceAccountTokenAudience: is required"},
      {Provider(std::string(kGood) + "    tokenAttributes:\n      serviceAccountTokenAudience: a\n"
                                     "      cacheType: Token\n"),
       "providers[0].tokenAttributes.requireServiceAccount: is required"},
      {Provider(std::string(kGood) + "    tokenAttributes:\n      serviceAccountTokenAudience: a\n"
                                     "      requireServiceAccount: maybe\n      cacheType: Token\n"),
       "providers[0].tokenAttributes.requireServiceAccount: is required: true or false"},
      {Provider(std::string(kGood) + "    tokenAttributes:\n      serviceAccountTokenAudience: a\n"
                                     "      requireServiceAccount: true\n      cacheType: Pod\n"),
       "providers[0].tokenAttributes.cacheType: is required: ServiceAccount or Token"},
      {Provider("  - name: p\n    matchImages: [a.io]\n    defaultCacheDuration: 1h\n"
                "    apiVersion: credentialprovider.kubelet.k8s.io/v1beta1\n"
                "    tokenAttributes:\n      serviceAccountTokenAudience: a\n"
                "      requireServiceAccount: true\n      cacheType: Token\n"),
       "providers[0].tokenAttributes: is only supported for apiVersion "
       "credentialprovider.kubelet.k8s.io/v1"},
      {Provider(std::string(kGood) + "    tokenAttributes:\n      serviceAccountTokenAudience: a\n"
                                     "      requireServiceAccount: false\n      cacheType: Token\n"
                                     "      requiredServiceAccountAnnotationKeys: [k]\n"),
       "requireServiceAccount cannot be false when requiredServiceAccountAnnotationKeys is set"},
      {Provider(std::string(kGood) + "    tokenAttributes:\n      serviceAccountTokenAudience: a\n"
                                     "      requireServiceAccount: true\n      cacheType: Token\n"
                                     "      requiredServiceAccountAnnotationKeys: [k]\n"
                                     "      optionalServiceAccountAnnotationKeys: [k]\n"),
       "annotation key \"k\" cannot be both required and optional"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<ProviderConfig> config = ParseProviderConfig(c.text, "p.yaml");
    ASSERT_FALSE(config.ok()) << c.text;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(config.status().message().find(c.error), std::string::npos)
        << "want: " << c.error << "\ngot: " << config.status().message();
  }
}

TEST(ProviderConfigTest, ErrorsNeverQuoteEnvValues) {
  absl::StatusOr<ProviderConfig> config = ParseProviderConfig(
      Provider(std::string(kGood) + "    env: [{name: TOKEN, value: s3cr3t-env}]\n    bad: 1\n"),
      "p.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().message().find("s3cr3t-env"), std::string::npos);
}

}  // namespace
}  // namespace crimirror::credentials
