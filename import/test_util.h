// Test helpers for import_test: rule lookup and note search.
#pragma once

#include <string>

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

}  // namespace crimirror::importer::testing
