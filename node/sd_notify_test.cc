// sd_notify: the environment parsing (table) and the datagram protocol
// against a real unix datagram socket owned by the test, path and abstract.
#include "node/sd_notify.h"

#include <unistd.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/support/notify_receiver.h"

namespace crimirror::node {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

struct EnvCase {
  std::string name;
  const char* socket;
  const char* usec;
  const char* pid;
  std::string want_socket;
  std::optional<absl::Duration> want_every;
  bool want_warning;
};

class ParseNotifyEnvironmentTest : public ::testing::TestWithParam<EnvCase> {};

TEST_P(ParseNotifyEnvironmentTest, Parses) {
  const EnvCase& c = GetParam();
  NotifySettings s = ParseNotifyEnvironment(c.socket, c.usec, c.pid, /*self=*/42);
  EXPECT_EQ(s.socket, c.want_socket);
  EXPECT_EQ(s.watchdog_every, c.want_every);
  EXPECT_EQ(!s.warning.empty(), c.want_warning) << s.warning;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseNotifyEnvironmentTest,
    ::testing::Values(
        EnvCase{"NothingSet", nullptr, nullptr, nullptr, "", std::nullopt, false},
        EnvCase{"SocketOnly", "/run/systemd/notify", nullptr, nullptr, "/run/systemd/notify",
                std::nullopt, false},
        EnvCase{"WatchdogHalfTheInterval", "@n", "10000000", "42", "@n", absl::Seconds(5), false},
        EnvCase{"WatchdogWithoutPidIsOurs", "@n", "3000000", nullptr, "@n",
                absl::Milliseconds(1500), false},
        EnvCase{"WatchdogForAnotherProcess", "@n", "10000000", "7", "@n", std::nullopt, false},
        EnvCase{"WatchdogNotANumber", "@n", "10s", "42", "@n", std::nullopt, true},
        EnvCase{"WatchdogZero", "@n", "0", "42", "@n", std::nullopt, true}),
    [](const ::testing::TestParamInfo<EnvCase>& p) { return p.param.name; });

// The next datagram on `receiver` ("<nothing>" after 5 s).
std::string Receive(test_support::NotifyReceiver& receiver) {
  return receiver.Receive(absl::Seconds(5)).value_or("<nothing>");
}

TEST(NotifierTest, SendsEachMessageAsOneDatagramToAPathSocket) {
  const std::string path = absl::StrCat("/tmp/sd-notify-test-", getpid(), ".sock");
  unlink(path.c_str());
  auto receiver = test_support::NotifyReceiver::Create(path);
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  Notifier notifier(NotifySettings{path, std::nullopt, ""});
  ASSERT_TRUE(notifier.enabled());
  ASSERT_TRUE(notifier.Ready("serving").ok());
  EXPECT_EQ(Receive(**receiver), "READY=1\nSTATUS=serving");
  ASSERT_TRUE(notifier.Reloading().ok());
  EXPECT_THAT(Receive(**receiver), MatchesRegex("RELOADING=1\nMONOTONIC_USEC=[0-9]+"));
  ASSERT_TRUE(notifier.Ready("").ok());
  EXPECT_EQ(Receive(**receiver), "READY=1");
  ASSERT_TRUE(notifier.WatchdogPing().ok());
  EXPECT_EQ(Receive(**receiver), "WATCHDOG=1");
  ASSERT_TRUE(notifier.Stopping().ok());
  EXPECT_EQ(Receive(**receiver), "STOPPING=1");
  unlink(path.c_str());
}

TEST(NotifierTest, AbstractSocketName) {
  const std::string name = absl::StrCat("@sd-notify-test-", getpid());
  auto receiver = test_support::NotifyReceiver::Create(name);
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  ASSERT_TRUE(Notifier(NotifySettings{name, std::nullopt, ""}).Stopping().ok());
  EXPECT_EQ(Receive(**receiver), "STOPPING=1");
}

TEST(NotifierTest, DisabledIsANoOp) {
  Notifier notifier(NotifySettings{});
  EXPECT_FALSE(notifier.enabled());
  EXPECT_TRUE(notifier.Ready("x").ok());
}

TEST(NotifierTest, RejectsBadSocketNamesAndReportsSendErrors) {
  absl::Status relative = Notifier(NotifySettings{"run/notify", std::nullopt, ""}).Stopping();
  EXPECT_EQ(relative.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(relative.message(), HasSubstr("NOTIFY_SOCKET=run/notify"));
  absl::Status too_long =
      Notifier(NotifySettings{"/" + std::string(200, 'x'), std::nullopt, ""}).Stopping();
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  absl::Status missing =
      Notifier(NotifySettings{"/nonexistent/notify.sock", std::nullopt, ""}).Stopping();
  EXPECT_EQ(missing.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(missing.message(), HasSubstr("/nonexistent/notify.sock"));
  EXPECT_EQ(Notifier(NotifySettings{"@x", std::nullopt, ""}).Notify("").code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace crimirror::node
