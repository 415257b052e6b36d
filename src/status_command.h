// `cri-mirror status`: reads the running daemon's state from the root-only
// socket of [server] status (src/daemon_status.h has the document) and
// prints it as text or, with --output json, as the document itself.
#pragma once

#include <ostream>
#include <string>

#include "src/command_line.h"

namespace crimirror::cli {

// Exit code: 0 shown, 1 no daemon / no access / bad config (with a message
// on `err` that says which and the fix).
int RunStatus(const CommandLine& cl, std::ostream& out, std::ostream& err);

// The text form of a status document (JSON text); a document that does not
// parse is shown as an error line. Pure, for tests.
std::string StatusText(const std::string& document);

}  // namespace crimirror::cli
