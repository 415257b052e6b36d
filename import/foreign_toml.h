// Private to crimirror_import: toml++ (header-only, exceptions off, through
// config/toml_internal.h) plus the small typed getters and the error list the
// TOML-based importers share.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "config/toml_internal.h"
#include "config/toml_text_guard.h"
#include "import/imported.h"

namespace crimirror::importer {

inline absl::string_view A(std::string_view s) { return {s.data(), s.size()}; }

// Collects "file:line:col: key: message" errors and notes for one file.
class ForeignFile {
 public:
  explicit ForeignFile(std::string_view file) : file_(A(file)) {}

  const std::string& file() const { return file_; }
  std::string Where(const toml::node& node) const {
    return importer::Where(file_, static_cast<int>(node.source().begin.line));
  }
  void Error(const toml::node& node, std::string_view key,
             std::string_view message) {
    errors_.push_back(absl::StrCat(file_, ":", node.source().begin.line, ":",
                                   node.source().begin.column, ": ", A(key),
                                   ": ", A(message)));
  }
  void Note(const toml::node& node, std::string message) {
    notes_.push_back({Where(node), std::move(message)});
  }
  std::optional<std::string> String(const toml::node& node,
                                    std::string_view key) {
    if (const auto* s = node.as_string()) return s->get();
    Error(node, key, "expected a string");
    return std::nullopt;
  }
  std::optional<bool> Bool(const toml::node& node, std::string_view key) {
    if (const auto* b = node.as_boolean()) return b->get();
    Error(node, key, "expected true or false");
    return std::nullopt;
  }
  // A string or an array of strings.
  std::vector<std::string> Strings(const toml::node& node,
                                   std::string_view key) {
    std::vector<std::string> out;
    if (const auto* s = node.as_string()) return {s->get()};
    const toml::array* array = node.as_array();
    if (array == nullptr) {
      Error(node, key, "expected a string or a list of strings");
      return out;
    }
    for (const toml::node& element : *array) {
      if (auto s = String(element, key)) out.push_back(*s);
    }
    return out;
  }

  // Moves the notes into `imported` and returns every error (or OK).
  absl::Status Finish(Imported* imported) {
    for (auto& n : notes_) imported->notes.push_back(std::move(n));
    notes_.clear();
    if (errors_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  }

 private:
  std::string file_;
  std::vector<std::string> errors_;
  std::vector<importer::Note> notes_;
};

// toml::parse with the syntax error as "file:line:col: TOML syntax error",
// after config::CheckTomlText (Debian toml++ 3.3.0 has undefined behaviour on
// some non-ASCII input, config/toml_text_guard.h).
inline absl::StatusOr<toml::table> ParseToml(std::string_view text,
                                             std::string_view file) {
  if (absl::Status s = config::CheckTomlText(text, file); !s.ok()) return s;
  toml::parse_result result = toml::parse(text, file);
  if (!result) {
    const toml::parse_error& error = result.error();
    return absl::InvalidArgumentError(absl::StrCat(
        A(file), ":", error.source().begin.line, ":",
        error.source().begin.column, ": TOML syntax error: ",
        A(error.description())));
  }
  return std::move(result).table();
}

}  // namespace crimirror::importer
