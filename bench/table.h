// Copyright cri-mirror authors.
//
// Renders the harness's single result table as aligned plain text (a
// Markdown pipe table, so it can be pasted into an issue or commit
// message as is).
#pragma once

#include <string>
#include <vector>

#include "bench/bench.h"

namespace crimirror::bench {

// "PASS", "FAIL", "N/A" or "INFO".
std::string VerdictName(Verdict verdict);

// The table: header, then one line per row (figure | ours | reference |
// ratio | target | result | note), columns padded to equal width.
std::string RenderTable(const std::vector<Row>& rows);

}  // namespace crimirror::bench
