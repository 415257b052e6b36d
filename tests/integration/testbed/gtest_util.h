// Copyright cri-mirror authors.
//
// GoogleTest helpers for absl::Status in integration tests (header only; the
// test binary links gtest, the bed library does not).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "tests/integration/testbed/prerequisites.h"

// Fails the test (fatally) unless `expr` (an absl::Status) is OK.
#define TESTBED_ASSERT_OK(expr)                           \
  do {                                                    \
    const ::absl::Status testbed_status_ = (expr);        \
    ASSERT_TRUE(testbed_status_.ok()) << testbed_status_; \
  } while (0)

#define TESTBED_CONCAT_INNER_(a, b) a##b
#define TESTBED_CONCAT_(a, b) TESTBED_CONCAT_INNER_(a, b)

// `lhs = value of expr` (an absl::StatusOr), or a fatal failure with the
// status. `lhs` may be a declaration: TESTBED_ASSERT_OK_AND_ASSIGN(auto x,
// F());
#define TESTBED_ASSERT_OK_AND_ASSIGN(lhs, expr)                              \
  TESTBED_ASSERT_OK_AND_ASSIGN_IMPL_(TESTBED_CONCAT_(testbed_or_, __LINE__), \
                                     lhs, expr)
#define TESTBED_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                       \
  ASSERT_TRUE(tmp.ok()) << tmp.status();                   \
  lhs = std::move(tmp).value()

// In SetUp() or a test body: skip (with the reason) unless root and the
// bed's programs are available.
#define TESTBED_SKIP_UNLESS_PREREQUISITES()                                   \
  do {                                                                        \
    if (auto testbed_missing_ = ::crimirror::testbed::MissingPrerequisites(); \
        testbed_missing_.has_value()) {                                       \
      GTEST_SKIP() << *testbed_missing_;                                      \
    }                                                                         \
  } while (0)

namespace crimirror::testbed {

// Non-overlapping occurrences of `needle` in `text` (log lines, recorded
// requests), for assertions on how often something happened.
inline int CountOf(const std::string& text, const std::string& needle) {
  int count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos;
       at = text.find(needle, at + needle.size())) {
    ++count;
  }
  return count;
}

// Lines of a docker-registry access log (Registry::LogTail) for requests
// cri-mirror's relay sent (its User-Agent; skopeo's pushes and the
// registry's own "time=" lines are not counted) that contain `what`.
inline int RelayRequestsIn(const std::string& access_log, const std::string& what) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(access_log, '\n')) {
    if (absl::StrContains(line, "\"cri-mirror/") && absl::StrContains(line, what) &&
        !absl::StartsWith(line, "time=")) {
      ++n;
    }
  }
  return n;
}

}  // namespace crimirror::testbed
