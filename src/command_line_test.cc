#include "src/command_line.h"

#include <gtest/gtest.h>

namespace crimirror::cli {
namespace {

TEST(CommandLine, DefaultsToDaemonWithDefaultConfig) {
  auto cl = ParseCommandLine({});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(cl->command, Command::kDaemon);
  EXPECT_EQ(cl->config_path, "/etc/cri-mirror/config.toml");
  EXPECT_FALSE(cl->config_path_given);
}

TEST(CommandLine, FlagsOverrideWithSpaceOrEquals) {
  auto cl = ParseCommandLine({"--listen=unix:///a.sock", "--backend", "unix:///b.sock",
                              "--config", "/c.toml"});
  ASSERT_TRUE(cl.ok());
  EXPECT_EQ(*cl->listen, "unix:///a.sock");
  EXPECT_EQ(*cl->backend, "unix:///b.sock");
  EXPECT_EQ(cl->config_path, "/c.toml");
  EXPECT_TRUE(cl->config_path_given);
}

TEST(CommandLine, Subcommands) {
  auto check = ParseCommandLine({"check-config", "--config", "/x.toml"});
  ASSERT_TRUE(check.ok());
  EXPECT_EQ(check->command, Command::kCheckConfig);
  auto resolve = ParseCommandLine({"resolve", "nginx", "--output", "json"});
  ASSERT_TRUE(resolve.ok());
  EXPECT_EQ(resolve->command, Command::kResolve);
  EXPECT_EQ(resolve->image, "nginx");
  EXPECT_TRUE(resolve->json);
  auto in_namespace = ParseCommandLine({"resolve", "nginx", "--namespace", "team-a"});
  ASSERT_TRUE(in_namespace.ok()) << in_namespace.status();
  EXPECT_EQ(in_namespace->pod_namespace, "team-a");
  EXPECT_EQ(ParseCommandLine({"resolve", "nginx", "--namespace=team-b"})->pod_namespace,
            "team-b");
}

TEST(CommandLine, RejectionsNameTheArgumentAndPointAtHelp) {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  for (const Case& c : std::vector<Case>{
           {{"--bogus"}, "--bogus"},
           {{"--config"}, "--config needs a value"},
           {{"frobnicate"}, "frobnicate"},
           {{"resolve"}, "exactly one IMAGE"},
           {{"resolve", "a", "b"}, "exactly one IMAGE"},
           {{"resolve", "a", "--output", "yaml"}, "yaml"},
           {{"check-config", "--listen", "unix:///x"}, "applies to the daemon, pull and prefetch only"},
           {{"convert", "/x"}, "--from FORMAT"},
           {{"convert", "--from", "k3s"}, "exactly one PATH"},
           {{"resolve", "a", "--from", "k3s"}, "convert only"},
           {{"resolve", "a", "--namespace", "Team_A"}, "--namespace \"Team_A\" is not a Kubernetes"},
           {{"resolve", "a", "--namespace"}, "--namespace needs a value"},
           {{"pull", "a", "--namespace", "team-a"}, "--namespace applies to resolve only"},
       }) {
    auto cl = ParseCommandLine(c.args);
    ASSERT_FALSE(cl.ok()) << c.expect;
    EXPECT_NE(cl.status().message().find(c.expect), std::string::npos) << cl.status();
    EXPECT_NE(cl.status().message().find("--help"), std::string::npos);
  }
}

TEST(CommandLine, Convert) {
  auto cl = ParseCommandLine({"convert", "--from", "k3s", "/r.yaml", "--output", "/o.toml"});
  ASSERT_TRUE(cl.ok()) << cl.status();
  EXPECT_EQ(cl->command, Command::kConvert);
  EXPECT_EQ(cl->from, "k3s");
  EXPECT_EQ(cl->convert_path, "/r.yaml");
  EXPECT_EQ(cl->output_file, "/o.toml");
}

TEST(CommandLine, HelpAndVersionWinOverEverythingElse) {
  EXPECT_EQ(ParseCommandLine({"resolve", "--help"})->command, Command::kHelp);
  EXPECT_EQ(ParseCommandLine({"--version"})->command, Command::kVersion);
}

}  // namespace
}  // namespace crimirror::cli
