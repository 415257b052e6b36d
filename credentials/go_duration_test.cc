#include "credentials/go_duration.h"

#include <gtest/gtest.h>

namespace crimirror::credentials {
namespace {

// Cases from Go's own time.ParseDuration tests.
TEST(GoDurationTest, ParsesWhatGoParses) {
  const struct {
    const char* text;
    absl::Duration want;
  } cases[] = {
      {"0", absl::ZeroDuration()},
      {"-0", absl::ZeroDuration()},
      {"+0", absl::ZeroDuration()},
      {"0s", absl::ZeroDuration()},
      {"5s", absl::Seconds(5)},
      {"1478s", absl::Seconds(1478)},
      {"-5s", absl::Seconds(-5)},
      {"+5s", absl::Seconds(5)},
      {"5.6s", absl::Milliseconds(5600)},
      {"5.s", absl::Seconds(5)},
      {".5s", absl::Milliseconds(500)},
      {"1.004s", absl::Milliseconds(1004)},
      {"100.00100s", absl::Milliseconds(100001)},
      {"10ns", absl::Nanoseconds(10)},
      {"11us", absl::Microseconds(11)},
      {"12\xC2\xB5s", absl::Microseconds(12)},
      {"12\xCE\xBCs", absl::Microseconds(12)},
      {"13ms", absl::Milliseconds(13)},
      {"15m", absl::Minutes(15)},
      {"16h", absl::Hours(16)},
      {"12h", absl::Hours(12)},
      {"3h30m", absl::Hours(3) + absl::Minutes(30)},
      {"10.5s4m", absl::Minutes(4) + absl::Milliseconds(10500)},
      {"-2m3.4s", -(absl::Minutes(2) + absl::Milliseconds(3400))},
      {"1h2m3s", absl::Hours(1) + absl::Minutes(2) + absl::Seconds(3)},
      {"1h2m3s4ms5us6ns", absl::Hours(1) + absl::Minutes(2) + absl::Seconds(3) +
                              absl::Milliseconds(4) + absl::Microseconds(5) +
                              absl::Nanoseconds(6)},
      {"39h9m14.425s", absl::Hours(39) + absl::Minutes(9) + absl::Milliseconds(14425)},
      {"52763797000ns", absl::Nanoseconds(52763797000)},
      {"0.3333333333333333333h", absl::Minutes(20)},
      {"9007199254740993ns", absl::Nanoseconds(9007199254740993)},
      {"9223372036854775807ns", absl::Nanoseconds(9223372036854775807)},
      {"9223372036854775.807us", absl::Nanoseconds(9223372036854775807)},
      {"9223372036s854ms775us807ns", absl::Nanoseconds(9223372036854775807)},
      {"-9223372036854775808ns", -absl::Nanoseconds(9223372036854775807) - absl::Nanoseconds(1)},
      {"0.100000000000000000000h", absl::Minutes(6)},
      {"0.830103483285477580700h",
       absl::Minutes(49) + absl::Seconds(48) + absl::Nanoseconds(372539827)},
  };
  for (const auto& c : cases) {
    absl::StatusOr<absl::Duration> got = ParseGoDuration(c.text);
    ASSERT_TRUE(got.ok()) << c.text << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.text << " gave " << absl::FormatDuration(*got);
  }
}

TEST(GoDurationTest, RejectsWhatGoRejects) {
  for (const char* text :
       {"", "3", "-", "s", ".", "-.", ".s", "+.s", "1d", "1 h", "h1", "\x85\x85", "\xff" "ff",
        "hello \xff" "ff world", "9223372036854775808ns", "9223372036854775.808us",
        "9223372036854ms775us808ns", "-9223372036854775809ns", "12h ", "1.2.3s"}) {
    absl::StatusOr<absl::Duration> got = ParseGoDuration(text);
    EXPECT_FALSE(got.ok()) << "\"" << text << "\" gave " << absl::FormatDuration(*got);
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(got.status().message().find("e.g. \"12h\""), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace crimirror::credentials
