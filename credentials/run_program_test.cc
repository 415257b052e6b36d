#include "credentials/run_program.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"

namespace crimirror::credentials {
namespace {

ProgramSpec Shell(std::string script) {
  ProgramSpec spec;
  spec.path = "/bin/sh";
  spec.args = {"-c", std::move(script)};
  return spec;
}

TEST(RunProgramTest, PassesStdinArgsAndEnvAndReturnsStdout) {
  ProgramSpec spec = Shell("read line; echo \"$line/$1/$CRED_TEST_VAR\"");
  spec.args.push_back("argv0");
  spec.args.push_back("first");
  spec.env = {{"CRED_TEST_VAR", "from-env"}};
  spec.stdin_data = "registry.example.com\n";
  absl::StatusOr<ProgramResult> result = RunProgram(spec);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->stdout_data, "registry.example.com/first/from-env\n");
}

TEST(RunProgramTest, InheritsTheDaemonEnvironment) {
  absl::StatusOr<ProgramResult> result = RunProgram(Shell("printf %s \"$PATH\""));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_FALSE(result->stdout_data.empty());
}

TEST(RunProgramTest, NonZeroExitIsAResultWithStderr) {
  absl::StatusOr<ProgramResult> result =
      RunProgram(Shell("echo 'credentials not found in native keychain' >&2; exit 1"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_EQ(result->stderr_head, "credentials not found in native keychain\n");
}

TEST(RunProgramTest, MissingProgramIsNotFoundNamingIt) {
  ProgramSpec spec;
  spec.path = "docker-credential-does-not-exist-here";
  absl::StatusOr<ProgramResult> result = RunProgram(spec);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(result.status().message().find("docker-credential-does-not-exist-here"),
            std::string::npos);
}

TEST(RunProgramTest, HangingProgramIsKilledAtTheTimeout) {
  ProgramSpec spec = Shell("sleep 30");
  spec.timeout = absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  absl::StatusOr<ProgramResult> result = RunProgram(spec);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(RunProgramTest, ProgramThatClosesOutputButKeepsRunningIsKilledAtTheTimeout) {
  ProgramSpec spec = Shell("exec >&- 2>&-; sleep 30");
  spec.timeout = absl::Milliseconds(300);
  absl::StatusOr<ProgramResult> result = RunProgram(spec);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(RunProgramTest, ChildLeftBehindHoldingStdoutDoesNotHang) {
  ProgramSpec spec = Shell("sleep 30 & echo done");
  spec.timeout = absl::Milliseconds(500);
  const absl::Time start = absl::Now();
  absl::StatusOr<ProgramResult> result = RunProgram(spec);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  // The background sleep keeps stdout open: the run ends at the timeout.
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(RunProgramTest, FloodingProgramIsStoppedAtMaxOutput) {
  ProgramSpec spec = Shell("yes flood");
  spec.max_output = 64 * 1024;
  absl::StatusOr<ProgramResult> result = RunProgram(spec);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(RunProgramTest, ProgramThatIgnoresStdinDoesNotBlockOrSignalTheCaller) {
  ProgramSpec spec = Shell("exit 0");
  spec.stdin_data.assign(4 << 20, 'x');  // more than a socket buffer
  absl::StatusOr<ProgramResult> result = RunProgram(spec);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 0);
}

TEST(RunProgramTest, LargeStdinIsDeliveredWhole) {
  ProgramSpec spec = Shell("wc -c");
  spec.stdin_data.assign(1 << 20, 'x');
  absl::StatusOr<ProgramResult> result = RunProgram(spec);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(std::stoul(result->stdout_data), 1u << 20);
}

TEST(RunProgramTest, KilledBySignalReportsOneHundredTwentyEightPlusSignal) {
  absl::StatusOr<ProgramResult> result = RunProgram(Shell("kill -TERM $$"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->exit_code, 128 + 15);
}

}  // namespace
}  // namespace crimirror::credentials
