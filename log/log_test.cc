#include "log/log.h"

#include <gtest/gtest.h>

namespace {

TEST(Log, SeverityThresholdFiltersLowerLevels) {
  crimirror::log::SetMinSeverity(crimirror::log::Severity::kWarning);
  EXPECT_FALSE(crimirror::log::Enabled(crimirror::log::Severity::kInfo));
  EXPECT_TRUE(crimirror::log::Enabled(crimirror::log::Severity::kError));
  crimirror::log::SetMinSeverity(crimirror::log::Severity::kInfo);
  EXPECT_TRUE(crimirror::log::Enabled(crimirror::log::Severity::kInfo));
}

TEST(Log, WriteDoesNotCrashOnEmptyMessage) {
  crimirror::log::Write(crimirror::log::Severity::kInfo, "");
}

}  // namespace

namespace {

using crimirror::log::Format;
using crimirror::log::Severity;

TEST(Log, TextEventAppendsKeyValuesQuotingWhereNeeded) {
  testing::internal::CaptureStderr();
  crimirror::log::WriteEvent(Severity::kInfo, "pull finished",
                             {{"ref", "docker.io/library/app:v1"},
                              {"error", "a b"},
                              {"bytes", 1234},
                              {"from", nlohmann::ordered_json::array({"http://m:5000"})}});
  std::string line = testing::internal::GetCapturedStderr();
  EXPECT_NE(line.find(" INFO pull finished ref=docker.io/library/app:v1 error=\"a b\" "
                      "bytes=1234 from=[\"http://m:5000\"]\n"),
            std::string::npos)
      << line;
}

TEST(Log, JsonFormatIsOneObjectALineWithFieldsBesideTheMessage) {
  crimirror::log::SetFormat(Format::kJson);
  testing::internal::CaptureStderr();
  crimirror::log::Write(Severity::kWarning, "bad \xff byte \"quoted\"");
  crimirror::log::WriteEvent(Severity::kInfo, "pull finished", {{"bytes", 7}});
  crimirror::log::WriteEvent(Severity::kDebug, "filtered", {{"bytes", 7}});
  std::string out = testing::internal::GetCapturedStderr();
  crimirror::log::SetFormat(Format::kText);
  std::size_t newline = out.find('\n');
  ASSERT_NE(newline, std::string::npos) << out;
  nlohmann::json first = nlohmann::json::parse(out.substr(0, newline));
  EXPECT_EQ(first["level"], "warning");
  EXPECT_EQ(first["msg"], "bad \xef\xbf\xbd byte \"quoted\"");
  EXPECT_TRUE(first["time"].is_string());
  std::string rest = out.substr(newline + 1);
  ASSERT_EQ(rest.find('\n'), rest.size() - 1) << "the debug event was not filtered: " << out;
  nlohmann::json second = nlohmann::json::parse(rest);
  EXPECT_EQ(second["msg"], "pull finished");
  EXPECT_EQ(second["bytes"], 7);
}

}  // namespace
