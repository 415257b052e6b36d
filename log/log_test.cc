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
