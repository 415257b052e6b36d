#include "config/toml_text_guard.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace crimirror::config {
namespace {

using ::testing::HasSubstr;

TEST(CheckTomlTextTest, AsciiAndNonAsciiCommentsPass) {
  for (const char* text : {
           "",
           "[server]\nrelay = \"127.0.0.1:0\"\n",
           "# caf\xC3\xA9 au lait\nkey = 1 # \xEF\xBB\xBD trailing\n",
           "a = \"x # not a comment\" # \xC3\xA9 comment\n",
           "a = 'lit # \\' # \xC3\xA9\n",
           "a = \"\"\"multi\n# still a string\"\"\" # \xC3\xA9\n",
           "a = '''multi\n# still\n''' # \xC3\xA9\n",
           "a = \"esc \\\" # still\" # \xC3\xA9\n",
       }) {
    EXPECT_TRUE(CheckTomlText(text, "c.toml").ok()) << text;
  }
}

TEST(CheckTomlTextTest, NonAsciiOutsideCommentsIsRefusedWithItsPlace) {
  struct Case {
    std::string text;
    std::string where;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"\xEF\xBB\xBD[m", "c.toml:1:1:"},  // what fuzz_config found (U+FEFD)
           {"[server]\nrelay = \"x\" \xC3\xA9\n", "c.toml:2:13:"},
           {"[host.\"mirr\xC3\xB6r:5000\"]\n", "c.toml:1:12:"},  // a quoted key
           {"password = \"p\xC3\xA4ss\"\n", "c.toml:1:14:"},
           {"a = \"\"\"x\\\n   \xC2\xA0y\"\"\"\n", "c.toml:2:4:"},  // after a line-ending backslash
           {"a = '''\n\xC3\xA9'''\n", "c.toml:2:1:"},
           {"# comment\n\"\xC3\xA9\" = 1\n", "c.toml:2:2:"},
       }) {
    absl::Status s = CheckTomlText(c.text, "c.toml");
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.where)) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("password_file"));
  }
}

}  // namespace
}  // namespace crimirror::config
