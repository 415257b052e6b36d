// Test helpers for import_test: rule lookup and note search.
#pragma once

#include <string>
#include <vector>

#include "gmock/gmock.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "import/imported.h"

namespace crimirror::importer::testing {

inline const config::MirrorRule* RuleFor(const Imported& imported,
                                         const std::string& registry) {
  for (const config::MirrorRule& rule : imported.mirrors) {
    if (rule.registry == registry) return &rule;
  }
  return nullptr;
}

inline bool HasNote(const Imported& imported, const std::string& text) {
  for (const Note& note : imported.notes) {
    if (absl::StrContains(note.message, text)) return true;
  }
  return false;
}

// One rejection case: the input and a piece of the error it must produce.
struct Rejection {
  const char* text;
  const char* error;
};

// Every case fails `parse(text)` with `error` in the message.
template <typename Parse>
void ExpectRejected(Parse parse, const std::vector<Rejection>& cases) {
  for (const Rejection& c : cases) {
    auto got = parse(c.text);
    ASSERT_FALSE(got.ok()) << c.text;
    EXPECT_THAT(std::string(got.status().message()), ::testing::HasSubstr(c.error))
        << c.text;
  }
}

}  // namespace crimirror::importer::testing
