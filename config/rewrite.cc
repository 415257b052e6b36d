#include "config/rewrite.h"

#include <string>
#include <string_view>

namespace crimirror::config {

std::string ToRe2Rewrite(std::string_view replace) {
  std::string out;
  out.reserve(replace.size());
  for (size_t i = 0; i < replace.size(); ++i) {
    char c = replace[i];
    char next = i + 1 < replace.size() ? replace[i + 1] : '\0';
    if (c == '$' && next >= '0' && next <= '9') {
      out.push_back('\\');
      out.push_back(next);
      ++i;
    } else if (c == '$' && next == '$') {
      out.push_back('$');
      ++i;
    } else if (c == '\\' && next != '\0') {
      out.push_back(c);  // keep "\N" and "\\" pairs intact
      out.push_back(next);
      ++i;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace crimirror::config
