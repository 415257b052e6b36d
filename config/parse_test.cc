#include "config/parse.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::config {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kFullExample[] = R"(
[server]
listen    = "unix:///run/cri-mirror/cri-mirror.sock"
backend   = "unix:///run/containerd/containerd.sock"
namespace = "k8s.io"
relay     = "127.0.0.1:5098"
pull_timeout = "10m"
stall_timeout = "1m30s"
endpoint_backoff_initial = "2s"
endpoint_backoff_max = "1h"

[[mirror]]
registry  = "docker.io"
endpoints = ["https://mirror.corp.example:5000", "http://127.0.0.1:5001/dockerhub"]
fallback_to_upstream = true
pull_from_mirror = "all"
rewrite = [ { match = "^library/(.*)$", replace = "dockerhub/$1" } ]

[[mirror]]
registry = "docker.io/bitnami"
endpoints = ["https://bitnami.mirror"]
fallback_to_upstream = false
pull_from_mirror = "digest-only"

[[mirror]]
registry = "*"
endpoints = ["https://catch.all/v2"]
pull_from_mirror = "tag-only"

[host."mirror.corp.example:5000"]
ca_file = "/etc/cri-mirror/certs/corp-ca.pem"
client_cert = "/etc/cri-mirror/certs/node.crt"
client_key  = "/etc/cri-mirror/certs/node.key"
insecure_skip_verify = false
tls_server_name = "docker-registry"
username = "puller"
password_file = "/etc/cri-mirror/secrets/mirror.pw"
connect_timeout = "3s"
response_timeout = "20s"

[host."127.0.0.1:5001"]
auth = "dXNlcjpwYXNz"

[host."registry-1.docker.io:443"]
identity_token = "token"
)";

TEST(ParseConfigTest, FullExampleParses) {
  absl::StatusOr<ParsedConfig> parsed = ParseConfig(kFullExample, "t.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Config& c = parsed->config;
  EXPECT_EQ(c.server.namespace_, "k8s.io");
  EXPECT_EQ(c.server.pull_timeout, absl::Minutes(10));
  EXPECT_EQ(c.server.stall_timeout, absl::Seconds(90));
  EXPECT_EQ(c.server.endpoint_backoff_initial, absl::Seconds(2));
  EXPECT_EQ(c.server.endpoint_backoff_max, absl::Hours(1));
  ASSERT_THAT(c.mirrors, SizeIs(3));
  EXPECT_EQ(c.mirrors[0].registry, "docker.io");
  EXPECT_EQ(c.mirrors[0].line, 12);
  EXPECT_THAT(c.mirrors[0].endpoints, SizeIs(2));
  ASSERT_THAT(c.mirrors[0].rewrite, SizeIs(1));
  EXPECT_EQ(c.mirrors[0].rewrite[0].replace, "dockerhub/$1");
  EXPECT_FALSE(c.mirrors[1].fallback_to_upstream);
  EXPECT_EQ(c.mirrors[1].pull_from_mirror, PullFromMirror::kDigestOnly);
  EXPECT_EQ(c.mirrors[2].pull_from_mirror, PullFromMirror::kTagOnly);
  const HostSettings* host = c.FindHost("mirror.corp.example:5000");
  ASSERT_NE(host, nullptr);
  EXPECT_EQ(host->tls_server_name, "docker-registry");
  EXPECT_EQ(host->password_file, "/etc/cri-mirror/secrets/mirror.pw");
  EXPECT_TRUE(host->password.empty());  // read by LoadConfigFile, not here
  EXPECT_EQ(host->connect_timeout, absl::Seconds(3));
  EXPECT_EQ(host->response_timeout, absl::Seconds(20));
  EXPECT_EQ(c.FindHost("127.0.0.1:5001")->auth.Reveal(), "dXNlcjpwYXNz");
  EXPECT_EQ(c.FindHost("nowhere:1"), nullptr);
  EXPECT_TRUE(
      parsed->locations.count("[host.\"mirror.corp.example:5000\"].ca_file"));
}

TEST(ParseConfigTest, CaFileIsOnePathOrAList) {
  struct Case {
    const char* name;
    const char* value;
    std::vector<std::string> want;
  };
  const Case cases[] = {
      {"String", "\"/etc/ca.pem\"", {"/etc/ca.pem"}},
      {"ListOfOne", "[\"/etc/ca.pem\"]", {"/etc/ca.pem"}},
      {"ListInOrder", "[\"/etc/b.pem\", \"/etc/a.pem\"]", {"/etc/b.pem", "/etc/a.pem"}},
  };
  for (const Case& c : cases) {
    absl::StatusOr<ParsedConfig> parsed = ParseConfig(
        absl::StrCat("[host.\"m:5000\"]\nca_file = ", c.value, "\n"), "t.toml");
    ASSERT_TRUE(parsed.ok()) << c.name << ": " << parsed.status();
    EXPECT_EQ(parsed->config.FindHost("m:5000")->ca_files, c.want) << c.name;
  }
}

TEST(ParseConfigTest, EmptyFileGivesDefaults) {
  absl::StatusOr<ParsedConfig> parsed = ParseConfig("", "t.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ServerSettings defaults;
  EXPECT_EQ(parsed->config.server.listen, defaults.listen);
  EXPECT_EQ(parsed->config.server.relay, "127.0.0.1:5098");
  EXPECT_TRUE(parsed->config.mirrors.empty());
}

TEST(ParseConfigTest, NormalizesRegistryKeys) {
  absl::StatusOr<ParsedConfig> parsed = ParseConfig(R"(
[[mirror]]
registry = "index.docker.io"
endpoints = ["https://m"]
[[mirror]]
registry = "Quay.IO:8443/Org"
endpoints = ["https://m"]
)",
                                                    "t.toml");
  // Path components must be lowercase: only the host is case-folded.
  ASSERT_FALSE(parsed.ok());
  parsed = ParseConfig(R"(
[[mirror]]
registry = "index.docker.io"
endpoints = ["https://m"]
[[mirror]]
registry = "Quay.IO:8443/org"
endpoints = ["https://m"]
)",
                       "t.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.mirrors[0].registry, "docker.io");
  EXPECT_EQ(parsed->config.mirrors[1].registry, "quay.io:8443/org");
}

TEST(ParseConfigTest, AcceptedServerValues) {
  for (const char* relay :
       {"127.0.0.1:0", "127.1.2.3:65535", "[::1]:5098", "localhost:5098"}) {
    std::string toml = std::string("[server]\nrelay = \"") + relay + "\"\n";
    absl::StatusOr<ParsedConfig> parsed = ParseConfig(toml, "t.toml");
    ASSERT_TRUE(parsed.ok()) << relay << ": " << parsed.status();
    EXPECT_EQ(parsed->config.server.relay, relay);
  }
}

TEST(ParseConfigTest, HedgeAfterDefaultsOverridesAndZeroTurnsItOff) {
  absl::StatusOr<ParsedConfig> defaults = ParseConfig("", "t.toml");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->config.server.hedge_after, absl::Milliseconds(500));
  absl::StatusOr<ParsedConfig> parsed = ParseConfig(R"([server]
hedge_after = "0s"
[host."slow:5000"]
hedge_after = "2s"
[host."off:5000"]
hedge_after = "0s"
[host."plain:5000"]
connect_timeout = "1s"
)",
                                                    "t.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Config& c = parsed->config;
  EXPECT_EQ(c.server.hedge_after, absl::ZeroDuration());
  EXPECT_EQ(c.FindHost("slow:5000")->hedge_after, absl::Seconds(2));
  EXPECT_EQ(c.FindHost("off:5000")->hedge_after, absl::ZeroDuration());
  EXPECT_EQ(c.FindHost("plain:5000")->hedge_after, std::nullopt);
}

struct RejectCase {
  std::string name;
  std::string toml;
  // Every string must appear in the error message.
  std::vector<std::string> expected;
};

void PrintTo(const RejectCase& c, std::ostream* os) { *os << c.name; }

class RejectTest : public ::testing::TestWithParam<RejectCase> {};

TEST_P(RejectTest, ReportsLocationKeyAndFix) {
  const RejectCase& c = GetParam();
  absl::StatusOr<ParsedConfig> parsed = ParseConfig(c.toml, "config.toml");
  ASSERT_FALSE(parsed.ok()) << c.name << " was accepted";
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  std::string message(parsed.status().message());
  for (const std::string& piece : c.expected) {
    EXPECT_THAT(message, HasSubstr(piece)) << c.name;
  }
  // Secrets never appear in messages.
  EXPECT_THAT(message, Not(HasSubstr("hunter2"))) << c.name;
}

std::string Mirror(const std::string& body) {
  return "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [\"https://m\"]\n" +
         body;
}

std::string Host(const std::string& body) {
  return "[host.\"m:5000\"]\n" + body;
}

INSTANTIATE_TEST_SUITE_P(
    Table, RejectTest,
    ::testing::Values(
        RejectCase{"TomlSyntax",
                   "[server\nlisten = 1",
                   {"config.toml:1:", "TOML syntax error"}},
        RejectCase{"UnknownTopLevelKey",
                   "servre = 1",
                   {"config.toml:1:1: servre: unknown key",
                    "did you mean \"server\""}},
        RejectCase{"UnknownServerKey",
                   "[server]\nlisten_addr = \"x\"",
                   {"config.toml:2:1: [server].listen_addr: unknown key"}},
        RejectCase{
            "EndpointTypo",
            "[[mirror]]\nregistry = \"docker.io\"\nendpoint = [\"https://m\"]",
            {"config.toml:3:1: [[mirror]][0].endpoint: unknown key; did you "
             "mean \"endpoints\"?",
             "[[mirror]][0].endpoints: missing"}},
        RejectCase{"UnknownHostKey",
                   Host("cafile = \"/x\""),
                   {"config.toml:2:1: [host.\"m:5000\"].cafile: unknown key",
                    "ca_file"}},
        RejectCase{"UnknownRewriteKey",
                   Mirror("rewrite = [{ match = \"a\", replace = \"b\", flags "
                          "= \"i\" }]"),
                   {"[[mirror]][0].rewrite[0].flags: unknown key"}},
        RejectCase{
            "ServerNotTable",
            "server = 5",
            {"config.toml:1:10: server: expected a table, got an integer"}},
        RejectCase{"MirrorNotArrayOfTables",
                   "[mirror]\nregistry = \"x\"",
                   {"mirror: expected an array of tables", "[[mirror]]"}},
        RejectCase{"HostNotTable", "host = \"x\"", {"host: expected a table"}},
        RejectCase{"HostEntryNotTable",
                   "[host]\n\"m:5000\" = 1",
                   {"[host.\"m:5000\"]: expected a table"}},
        RejectCase{"ListenWrongType",
                   "[server]\nlisten = 5",
                   {"config.toml:2:10: [server].listen: expected a string, got "
                    "an integer"}},
        RejectCase{"ListenNotUnix",
                   "[server]\nlisten = \"tcp://0.0.0.0:1\"",
                   {"[server].listen", "unix://"}},
        RejectCase{"ListenRelative",
                   "[server]\nlisten = \"unix://run/x.sock\"",
                   {"[server].listen", "absolute path"}},
        RejectCase{"BackendNotUnix",
                   "[server]\nbackend = \"/run/containerd/containerd.sock\"",
                   {"[server].backend", "unix://"}},
        RejectCase{"NamespaceBad",
                   "[server]\nnamespace = \"k8s io\"",
                   {"[server].namespace", "containerd namespace"}},
        RejectCase{"NamespaceWrongType",
                   "[server]\nnamespace = true",
                   {"[server].namespace: expected a string, got a boolean"}},
        RejectCase{"RelayNotLoopback",
                   "[server]\nrelay = \"0.0.0.0:5098\"",
                   {"[server].relay", "loopback"}},
        RejectCase{"RelayNoPort",
                   "[server]\nrelay = \"127.0.0.1\"",
                   {"[server].relay", "loopback host:port"}},
        RejectCase{"RelayBadPort",
                   "[server]\nrelay = \"127.0.0.1:70000\"",
                   {"[server].relay"}},
        RejectCase{"RelayBadIp",
                   "[server]\nrelay = \"127.0.0.256:1\"",
                   {"[server].relay"}},
        RejectCase{"RelayHostname",
                   "[server]\nrelay = \"example.com:5098\"",
                   {"[server].relay"}},
        RejectCase{"DurationInteger",
                   "[server]\npull_timeout = 30",
                   {"[server].pull_timeout: expected a duration string, got an "
                    "integer",
                    "\"5s\""}},
        RejectCase{"DurationGarbage",
                   "[server]\nstall_timeout = \"soon\"",
                   {"[server].stall_timeout: \"soon\" is not a duration"}},
        RejectCase{"DurationZero",
                   "[server]\nendpoint_backoff_initial = \"0s\"",
                   {"[server].endpoint_backoff_initial", "above zero"}},
        RejectCase{"DurationNegative",
                   "[server]\nendpoint_backoff_max = \"-5s\"",
                   {"[server].endpoint_backoff_max", "above zero"}},
        RejectCase{"DurationInfinite",
                   "[server]\npull_timeout = \"inf\"",
                   {"[server].pull_timeout", "finite"}},
        RejectCase{"HedgeAfterNegative",
                   "[server]\nhedge_after = \"-1s\"",
                   {"config.toml:2:15: [server].hedge_after: \"-1s\"",
                    "or \"0s\" for off"}},
        RejectCase{"HedgeAfterGarbage",
                   "[server]\nhedge_after = \"half a second\"",
                   {"[server].hedge_after", "not a duration"}},
        RejectCase{"HedgeAfterNumber",
                   "[server]\nhedge_after = 500",
                   {"[server].hedge_after: expected a duration string"}},
        RejectCase{"HostHedgeAfterInfinite",
                   Host("hedge_after = \"inf\""),
                   {"[host.\"m:5000\"].hedge_after", "finite"}},
        RejectCase{"BackoffInitialAboveMax",
                   "[server]\nendpoint_backoff_initial = "
                   "\"10m\"\nendpoint_backoff_max = \"1m\"",
                   {"[server].endpoint_backoff_initial",
                    "larger than endpoint_backoff_max"}},
        RejectCase{"RegistryMissing",
                   "[[mirror]]\nendpoints = [\"https://m\"]",
                   {"config.toml:1:1: [[mirror]][0].registry: missing"}},
        RejectCase{"RegistryWrongType",
                   "[[mirror]]\nregistry = 1\nendpoints = [\"https://m\"]",
                   {"[[mirror]][0].registry: expected a string"}},
        RejectCase{
            "RegistryBadHost",
            "[[mirror]]\nregistry = \"bad_host\"\nendpoints = [\"https://m\"]",
            {"[[mirror]][0].registry", "host[:port][/path]"}},
        RejectCase{
            "RegistryBadPort",
            "[[mirror]]\nregistry = \"h:99999\"\nendpoints = [\"https://m\"]",
            {"[[mirror]][0].registry", "port"}},
        RejectCase{"RegistryTrailingSlash",
                   "[[mirror]]\nregistry = \"docker.io/\"\nendpoints = "
                   "[\"https://m\"]",
                   {"[[mirror]][0].registry", "trailing"}},
        RejectCase{"RegistryUppercasePath",
                   "[[mirror]]\nregistry = \"docker.io/Bitnami\"\nendpoints = "
                   "[\"https://m\"]",
                   {"[[mirror]][0].registry", "Bitnami"}},
        RejectCase{"RegistryWildcardWithPort",
                   "[[mirror]]\nregistry = \"*.example.com:5000\"\nendpoints = "
                   "[\"https://m\"]",
                   {"config.toml:2:12: [[mirror]][0].registry: \"*.example.com:5000\": a "
                    "subdomain wildcard is \"*.domain\", without port or path"}},
        RejectCase{"RegistryWildcardTwice",
                   "[[mirror]]\nregistry = \"*.Example.com\"\nendpoints = [\"https://m\"]\n"
                   "[[mirror]]\nregistry = \"*.example.com\"\nendpoints = [\"https://m\"]",
                   {"config.toml:5:12: [[mirror]][1].registry: duplicate rule for "
                    "\"*.example.com\""}},
        RejectCase{"RegistryScheme",
                   "[[mirror]]\nregistry = \"https://docker.io\"\nendpoints = "
                   "[\"https://m\"]",
                   {"[[mirror]][0].registry"}},
        RejectCase{"DuplicateRegistry",
                   Mirror("") + Mirror(""),
                   {"config.toml:5:12: [[mirror]][1].registry: duplicate rule "
                    "for \"docker.io\" (first defined at line 1)"}},
        RejectCase{
            "DuplicateAfterNormalization",
            Mirror("") + "[[mirror]]\nregistry = "
                         "\"index.docker.io\"\nendpoints = [\"https://m\"]\n",
            {"duplicate rule for \"docker.io\""}},
        RejectCase{"DuplicateWildcard",
                   "[[mirror]]\nregistry = \"*\"\nendpoints = "
                   "[\"https://m\"]\n[[mirror]]\nregistry = \"*\"\nendpoints = "
                   "[\"https://n\"]",
                   {"duplicate rule for \"*\""}},
        RejectCase{"EndpointsMissing",
                   "[[mirror]]\nregistry = \"docker.io\"",
                   {"[[mirror]][0].endpoints: missing"}},
        RejectCase{"EndpointsEmpty",
                   "[[mirror]]\nregistry = \"docker.io\"\nendpoints = []",
                   {"[[mirror]][0].endpoints: is empty"}},
        RejectCase{
            "EndpointsString",
            "[[mirror]]\nregistry = \"docker.io\"\nendpoints = \"https://m\"",
            {"[[mirror]][0].endpoints: expected an array of URL strings, got a "
             "string"}},
        RejectCase{"EndpointNotString",
                   "[[mirror]]\nregistry = \"docker.io\"\nendpoints = [1]",
                   {"[[mirror]][0].endpoints[0]: expected a string"}},
        RejectCase{"EndpointFtp",
                   "[[mirror]]\nregistry = \"docker.io\"\nendpoints = "
                   "[\"https://ok\", \"ftp://m\"]",
                   {"config.toml:3:28: [[mirror]][0].endpoints[1]: "
                    "\"ftp://m\": scheme must be http or https"}},
        RejectCase{"EndpointNoScheme",
                   "[[mirror]]\nregistry = \"docker.io\"\nendpoints = "
                   "[\"mirror:5000\"]",
                   {"endpoints[0]", "not a URL"}},
        RejectCase{"EndpointNoHost",
                   "[[mirror]]\nregistry = \"docker.io\"\nendpoints = "
                   "[\"https:///x\"]",
                   {"endpoints[0]", "no host"}},
        RejectCase{"EndpointQuery",
                   "[[mirror]]\nregistry = \"docker.io\"\nendpoints = "
                   "[\"https://m/?a=b\"]",
                   {"endpoints[0]", "query"}},
        RejectCase{"EndpointFragment",
                   "[[mirror]]\nregistry = \"docker.io\"\nendpoints = "
                   "[\"https://m#x\"]",
                   {"endpoints[0]", "fragment"}},
        RejectCase{"EndpointUserinfo",
                   "[[mirror]]\nregistry = \"docker.io\"\nendpoints = "
                   "[\"https://u:hunter2@m\"]",
                   {"endpoints[0]", "[host.\"host:port\"]", "redacted"}},
        RejectCase{"EndpointBadPort",
                   "[[mirror]]\nregistry = \"docker.io\"\nendpoints = "
                   "[\"https://m:0\"]",
                   {"endpoints[0]", "port \"0\""}},
        RejectCase{"EndpointBadHost",
                   "[[mirror]]\nregistry = \"docker.io\"\nendpoints = "
                   "[\"https://-m-\"]",
                   {"endpoints[0]", "not a valid host"}},
        RejectCase{"EndpointBadPath",
                   "[[mirror]]\nregistry = \"docker.io\"\nendpoints = "
                   "[\"https://m/Docker Hub\"]",
                   {"endpoints[0]", "repository prefix"}},
        RejectCase{"FallbackNotBool",
                   Mirror("fallback_to_upstream = \"yes\""),
                   {"config.toml:4:24: [[mirror]][0].fallback_to_upstream: "
                    "expected a boolean, got a string"}},
        RejectCase{"PullFromMirrorBad",
                   Mirror("pull_from_mirror = \"digests\""),
                   {"[[mirror]][0].pull_from_mirror: \"digests\" is not a mode",
                    "digest-only"}},
        RejectCase{"PullFromMirrorType",
                   Mirror("pull_from_mirror = 1"),
                   {"[[mirror]][0].pull_from_mirror: expected a string"}},
        RejectCase{"RewriteNotArray",
                   Mirror("rewrite = { match = \"a\", replace = \"b\" }"),
                   {"[[mirror]][0].rewrite: expected an array of tables"}},
        RejectCase{"RewriteEntryNotTable",
                   Mirror("rewrite = [\"a\"]"),
                   {"[[mirror]][0].rewrite[0]: expected a table"}},
        RejectCase{"RewriteMissingReplace",
                   Mirror("rewrite = [{ match = \"a\" }]"),
                   {"[[mirror]][0].rewrite[0]: missing replace"}},
        RejectCase{"RewriteMissingMatch",
                   Mirror("rewrite = [{ replace = \"a\" }]"),
                   {"[[mirror]][0].rewrite[0]: missing match"}},
        RejectCase{
            "RewriteBadRegex",
            Mirror("rewrite = [{ match = \"^(library\", replace = \"x\" }]"),
            {"[[mirror]][0].rewrite[0].match: invalid RE2 regular expression",
             "missing )"}},
        RejectCase{
            "RewriteBadGroup",
            Mirror("rewrite = [{ match = \"^(a)$\", replace = \"$2\" }]"),
            {"[[mirror]][0].rewrite[0].replace", "$1..$1"}},
        RejectCase{"RewriteGroupWithoutGroups",
                   Mirror("rewrite = [{ match = \"^a$\", replace = \"$1\" }]"),
                   {"[[mirror]][0].rewrite[0].replace", "no (groups)"}},
        RejectCase{"HostKeyWithoutPort",
                   "[host.\"mirror.corp\"]\nca_file = \"/x\"",
                   {"config.toml:1:7: [host.\"mirror.corp\"]: \"mirror.corp\" "
                    "has no port",
                    "mirror.corp:443"}},
        RejectCase{"HostKeyBad",
                   "[host.\"bad host:1\"]\nca_file = \"/x\"",
                   {"[host.\"bad host:1\"]", "not a valid host"}},
        RejectCase{"HostKeyDuplicateCase",
                   "[host.\"M:5000\"]\n[host.\"m:5000\"]",
                   {"duplicate [host] table for \"m:5000\""}},
        RejectCase{"CaFileRelative",
                   Host("ca_file = \"certs/ca.pem\""),
                   {"config.toml:2:11: [host.\"m:5000\"].ca_file: "
                    "\"certs/ca.pem\" must be an absolute path"}},
        RejectCase{"CaFileType",
                   Host("ca_file = 1"),
                   {"[host.\"m:5000\"].ca_file: expected a string or a list of "
                    "strings, got an integer"}},
        RejectCase{"CaFileEmptyList",
                   Host("ca_file = []"),
                   {"config.toml:2:11: [host.\"m:5000\"].ca_file: is an empty list"}},
        RejectCase{"CaFileListRelative",
                   Host("ca_file = [\"/a.pem\", \"b.pem\"]"),
                   {"config.toml:2:22: [host.\"m:5000\"].ca_file[1]: \"b.pem\" "
                    "must be an absolute path"}},
        RejectCase{"CaFileListNotString",
                   Host("ca_file = [\"/a.pem\", 2]"),
                   {"[host.\"m:5000\"].ca_file[1]: expected a string"}},
        RejectCase{"CaFileListTwice",
                   Host("ca_file = [\"/a.pem\", \"/a.pem\"]"),
                   {"[host.\"m:5000\"].ca_file[1]: \"/a.pem\" is listed twice"}},
        RejectCase{
            "CertWithoutKey",
            Host("client_cert = \"/c\""),
            {"[host.\"m:5000\"]: client_cert is set without client_key"}},
        RejectCase{
            "KeyWithoutCert",
            Host("client_key = \"/k\""),
            {"[host.\"m:5000\"]: client_key is set without client_cert"}},
        RejectCase{"PasswordAndPasswordFile",
                   Host("username = \"u\"\npassword = "
                        "\"hunter2\"\npassword_file = \"/p\""),
                   {"[host.\"m:5000\"]: sets password and password_file; keep "
                    "only one"}},
        RejectCase{"AuthAndToken",
                   Host("auth = \"dTpw\"\nidentity_token = \"hunter2\""),
                   {"sets auth and identity_token"}},
        RejectCase{"PasswordWithoutUsername",
                   Host("password = \"hunter2\""),
                   {"a password is set without username"}},
        RejectCase{"PasswordFileWithoutUsername",
                   Host("password_file = \"/p\""),
                   {"a password is set without username"}},
        RejectCase{"PasswordEmpty",
                   Host("username = \"u\"\npassword = \"\""),
                   {"[host.\"m:5000\"].password: is empty"}},
        RejectCase{"PasswordType",
                   Host("username = \"u\"\npassword = 7"),
                   {"[host.\"m:5000\"].password: expected a string"}},
        RejectCase{"AuthNotBase64",
                   Host("auth = \"hunter2!!\""),
                   {"[host.\"m:5000\"].auth: is not base64"}},
        RejectCase{
            "AuthWithoutColon",
            Host("auth = \"aHVudGVyMg==\""),
            {"[host.\"m:5000\"].auth: is not base64 of \"user:password\""}},
        RejectCase{"UsernameWithColon",
                   Host("username = \"a:b\""),
                   {"[host.\"m:5000\"].username", "':'"}},
        RejectCase{
            "InsecureNotBool",
            Host("insecure_skip_verify = \"true\""),
            {"[host.\"m:5000\"].insecure_skip_verify: expected a boolean"}},
        RejectCase{"TlsServerNameBad",
                   Host("tls_server_name = \"not a name\""),
                   {"[host.\"m:5000\"].tls_server_name", "not a DNS name"}},
        RejectCase{"ConnectTimeoutBad",
                   Host("connect_timeout = \"5 seconds\""),
                   {"[host.\"m:5000\"].connect_timeout", "not a duration"}},
        RejectCase{"ResponseTimeoutZero",
                   Host("response_timeout = \"0\""),
                   {"[host.\"m:5000\"].response_timeout", "above zero"}}));

TEST(ParseConfigTest, ReportsEveryErrorInSourceOrder) {
  absl::StatusOr<ParsedConfig> parsed = ParseConfig(R"([server]
listen = "tcp://x"
relay = "10.0.0.1:1"

[[mirror]]
registry = "docker.io"
endpoint = ["https://m"]
pull_from_mirror = "some"

[host."m:5000"]
client_cert = "/c"
)",
                                                    "config.toml");
  ASSERT_FALSE(parsed.ok());
  std::vector<std::string> lines =
      absl::StrSplit(std::string(parsed.status().message()), '\n');
  ASSERT_THAT(lines, SizeIs(6)) << parsed.status().message();
  EXPECT_THAT(lines[0], HasSubstr("config.toml:2:10: [server].listen"));
  EXPECT_THAT(lines[1], HasSubstr("config.toml:3:9: [server].relay"));
  EXPECT_THAT(lines[2],
              HasSubstr("config.toml:5:1: [[mirror]][0].endpoints: missing"));
  EXPECT_THAT(
      lines[3],
      HasSubstr("config.toml:7:1: [[mirror]][0].endpoint: unknown key"));
  EXPECT_THAT(lines[4],
              HasSubstr("config.toml:8:20: [[mirror]][0].pull_from_mirror"));
  EXPECT_THAT(lines[5],
              HasSubstr("config.toml:10:1: [host.\"m:5000\"]: client_cert"));
}

TEST(ParseConfigTest, InvalidUtf8IsASyntaxErrorNotACrash) {
  absl::StatusOr<ParsedConfig> parsed =
      ParseConfig("[server]\nnamespace = \"\xff\xfe\"\n", "config.toml");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("config.toml:2:"));
}

}  // namespace
}  // namespace crimirror::config

namespace crimirror::config {
namespace {

// Which [host] tables no endpoint (or upstream) of any rule can use.
struct UnusedHostCase {
  const char* name;
  const char* toml;
  std::vector<std::string> warnings;  // one substring per expected warning
};

TEST(ParseConfigWarningsTest, UnusedHostTablesWarn) {
  const UnusedHostCase cases[] = {
      {"TypoedHost", R"([[mirror]]
registry = "docker.io"
endpoints = ["https://mirror.corp:5000"]

[host."mirror:5000"]
ca_file = "/ca.pem"

[host."mirror.corp:5000"]
ca_file = "/ca.pem"

[host."registry-1.docker.io:443"]
identity_token = "t"
)",
       {"config.toml:5:7: [host.\"mirror:5000\"]: no endpoint"}},
      // The domain itself is not below a "*.domain" rule.
      {"SubdomainWildcard", R"([[mirror]]
registry = "*.Example.com"
endpoints = ["https://m"]

[host."a.b.example.com:5000"]
identity_token = "t"

[host."example.com:443"]
identity_token = "t"
)",
       {"[host.\"example.com:443\"]: no endpoint"}},
      {"StarWithFallbackUsesEveryHost", R"([[mirror]]
registry = "*"
endpoints = ["https://m"]

[host."ghcr.io:443"]
identity_token = "t"
)",
       {}},
  };
  for (const UnusedHostCase& c : cases) {
    absl::StatusOr<ParsedConfig> parsed = ParseConfig(c.toml, "config.toml");
    ASSERT_TRUE(parsed.ok()) << c.name << ": " << parsed.status();
    ASSERT_EQ(parsed->warnings.size(), c.warnings.size()) << c.name;
    for (size_t i = 0; i < c.warnings.size(); ++i) {
      EXPECT_THAT(parsed->warnings[i].message, HasSubstr(c.warnings[i])) << c.name;
    }
  }
}

TEST(ParseConfigTest, SubdomainWildcardRegistryIsLowercased) {
  absl::StatusOr<ParsedConfig> parsed =
      ParseConfig("[[mirror]]\nregistry = \"*.Example.com\"\nendpoints = [\"https://m\"]\n",
                  "t.toml");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->config.mirrors[0].registry, "*.example.com");
}

}  // namespace
}  // namespace crimirror::config
