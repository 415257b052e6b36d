#include "log/echo.h"

#include <string>

#include <gtest/gtest.h>

namespace crimirror::log {
namespace {

struct ExcerptCase {
  std::string input;
  std::size_t max;
  std::string want;
};

TEST(Excerpt, EscapesAndBoundsEchoedInput) {
  const ExcerptCase cases[] = {
      {"nginx:1.25", 200, "nginx:1.25"},
      {"", 200, ""},
      {"a\"b\\c", 200, "a\\\"b\\\\c"},
      {"line\nbreak\x01", 200, "line\\nbreak\\x01"},
      {"\xc3\xa9", 200, "\\xc3\\xa9"},
      {std::string(10, 'x'), 10, std::string(10, 'x')},
      {std::string(11, 'x'), 10, std::string(10, 'x') + "...(11 bytes in all)"},
      // An escape that does not fit is left out whole, never cut.
      {"abcdefgh\x01", 10, "abcdefgh...(9 bytes in all)"},
  };
  for (const ExcerptCase& c : cases) {
    EXPECT_EQ(Excerpt(c.input, c.max), c.want) << c.input;
  }
}

TEST(Excerpt, A120kBReferenceBecomesAFewHundredBytes) {
  const std::string huge(120 * 1024, 'a');
  const std::string excerpt = Excerpt(huge);
  EXPECT_LE(excerpt.size(), kMaxExcerpt + 32);
  EXPECT_NE(excerpt.find("(122880 bytes in all)"), std::string::npos);
}

TEST(Shorten, KeepsShortMessagesAndCutsLongOnesAtACharacterBoundary) {
  EXPECT_EQ(Shorten("short", 10), "short");
  EXPECT_EQ(Shorten("0123456789ab", 10), "0123456789...(12 bytes in all)");
  // "\xc3\xa9" (é) straddles the cut: it is dropped whole.
  EXPECT_EQ(Shorten("012345678\xc3\xa9", 10), "012345678...(11 bytes in all)");
  EXPECT_LE(Shorten(std::string(100000, 'x')).size(), kMaxMessage + 32);
}

}  // namespace
}  // namespace crimirror::log
