// Copyright cri-mirror authors.
#include "bench/table.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"

namespace crimirror::bench {
namespace {

constexpr size_t kColumns = 7;
using Line = std::array<std::string, kColumns>;

Line Cells(const Row& row) {
  return {row.figure, row.ours,  row.reference,         row.ratio,
          row.target, VerdictName(row.verdict), row.note};
}

std::string Render(const Line& line, const std::array<size_t, kColumns>& width) {
  std::string out = "|";
  for (size_t i = 0; i < kColumns; ++i) {
    absl::StrAppend(&out, " ", line[i], std::string(width[i] - line[i].size(), ' '), " |");
  }
  return out + "\n";
}

}  // namespace

std::string VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kPass: return "PASS";
    case Verdict::kFail: return "FAIL";
    case Verdict::kNotApplicable: return "N/A";
    case Verdict::kInfo: return "INFO";
  }
  return "?";
}

std::string RenderTable(const std::vector<Row>& rows) {
  const Line header = {"figure", "cri-mirror", "reference", "ratio",
                       "target", "result",     "note"};
  std::array<size_t, kColumns> width{};
  std::vector<Line> lines = {header};
  for (const Row& row : rows) lines.push_back(Cells(row));
  for (const Line& line : lines) {
    for (size_t i = 0; i < kColumns; ++i) width[i] = std::max(width[i], line[i].size());
  }
  Line rule;
  for (size_t i = 0; i < kColumns; ++i) rule[i] = std::string(width[i], '-');
  std::string out = Render(header, width) + Render(rule, width);
  for (size_t i = 1; i < lines.size(); ++i) out += Render(lines[i], width);
  return out;
}

}  // namespace crimirror::bench
