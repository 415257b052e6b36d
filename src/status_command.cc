#include "src/status_command.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "src/daemon_client.h"
#include "status/status_server.h"

namespace crimirror::cli {
namespace {

using Json = nlohmann::json;

std::string Str(const Json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

std::uint64_t U64(const Json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

double Num(const Json& doc, const char* key) {
  auto it = doc.find(key);
  return it != doc.end() && it->is_number() ? it->get<double>() : 0;
}

const Json& Array(const Json& doc, const char* key) {
  static const Json empty = Json::array();
  auto it = doc.find(key);
  return it != doc.end() && it->is_array() ? *it : empty;
}

void ConfigText(const Json& config, std::string& out) {
  absl::StrAppend(&out, "config: ", Str(config, "file"), ", hash ", Str(config, "hash"),
                  ", in force since ", Str(config, "in_force_since"), "\n");
  const Json last = config.value("last_load", Json::object());
  if (Str(last, "result") == "ok") {
    absl::StrAppend(&out, "  last load: ok at ", Str(last, "time"));
  } else {
    absl::StrAppend(&out, "  last load: FAILED at ", Str(last, "time"), ": ", Str(last, "error"),
                    "\n  (the config in force above is the last good one)");
  }
  absl::StrAppend(&out, "; loads ", Str(config, "loads"), ", failures ",
                  Str(config, "failures"), "\n");
}

void RulesText(const Json& doc, std::string& out) {
  absl::StrAppend(&out, "rules:", Array(doc, "rules").empty() ? " none\n" : "\n");
  for (const Json& rule : Array(doc, "rules")) {
    std::vector<std::string> endpoints;
    for (const Json& e : Array(rule, "endpoints")) endpoints.push_back(e.get<std::string>());
    if (rule.value("fallback_to_upstream", false)) endpoints.push_back("(upstream)");
    std::vector<std::string> namespaces;
    for (const Json& n : Array(rule, "namespaces")) namespaces.push_back(n.get<std::string>());
    absl::StrAppend(&out, "  ", Str(rule, "registry"),
                    namespaces.empty() ? ""
                                       : absl::StrCat(" (namespaces ",
                                                      absl::StrJoin(namespaces, ","), ")"),
                    " -> ",
                    rule.value("blocked", false) ? "BLOCKED" : absl::StrJoin(endpoints, ", "),
                    "  [", Str(rule, "origin"), "]\n");
  }
}

void EndpointsText(const Json& doc, std::string& out) {
  absl::StrAppend(&out, "endpoints:", Array(doc, "endpoints").empty() ? " none\n" : "\n");
  for (const Json& e : Array(doc, "endpoints")) {
    absl::StrAppend(&out, "  ", Str(e, "host"), ": ",
                    e.value("backed_off", false)
                        ? absl::StrFormat("backed off for %.1fs", Num(e, "backoff_seconds_left"))
                        : std::string("usable"),
                    " (", Str(e, "consecutive_failures"), " consecutive failures)\n");
  }
}

void PullsText(const Json& pulls, std::string& out) {
  absl::StrAppend(&out, "pulls in flight:", Array(pulls, "active").empty() ? " none\n" : "\n");
  for (const Json& p : Array(pulls, "active")) {
    absl::StrAppend(&out, "  ", Str(p, "ref"), " (rule ", Str(p, "rule"), "): ",
                    HumanBytes(U64(p, "bytes")), absl::StrFormat(", %.1fs", Num(p, "seconds")),
                    "\n");
  }
  absl::StrAppend(&out, "recent pulls:", Array(pulls, "recent").empty() ? " none\n" : "\n");
  for (const Json& p : Array(pulls, "recent")) {
    std::vector<std::string> from;
    for (const Json& b : Array(p, "blobs_from")) from.push_back(Str(b, "endpoint"));
    absl::StrAppend(&out, "  ", Str(p, "started"), " ", Str(p, "result"), " ", Str(p, "ref"),
                    absl::StrFormat(" %.2fs ", Num(p, "duration_seconds")),
                    HumanBytes(U64(p, "bytes")));
    if (!from.empty()) absl::StrAppend(&out, " from ", absl::StrJoin(from, ", "));
    if (!Array(p, "fallbacks").empty()) {
      absl::StrAppend(&out, ", ", Array(p, "fallbacks").size(), " fallback(s)");
    }
    if (p.contains("error")) absl::StrAppend(&out, "\n    ", Str(p, "error"));
    absl::StrAppend(&out, "\n");
  }
}

void EnsuredText(const Json& doc, std::string& out) {
  absl::StrAppend(&out, "ensured images:", Array(doc, "ensured_images").empty() ? " none\n" : "\n");
  for (const Json& image : Array(doc, "ensured_images")) {
    absl::StrAppend(&out, "  ", Str(image, "image"),
                    image.value("sandbox", false) ? " (sandbox)" : "", ": ",
                    image.value("present", false) ? "present"
                                                  : absl::StrCat("MISSING: ", Str(image, "error")),
                    "\n");
  }
}

}  // namespace

std::string StatusText(const std::string& document) {
  Json doc = Json::parse(document, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return "cri-mirror status: the daemon's answer is not a JSON object\n";
  std::string out = absl::StrCat("cri-mirror ", Str(doc, "version"), " (pid ", Str(doc, "pid"),
                                 "), started ", Str(doc, "started"), "\n  listen ",
                                 Str(doc, "listen"), ", backend ", Str(doc, "backend"),
                                 ", relay ", Str(doc, "relay"), "\n");
  ConfigText(doc.value("config", Json::object()), out);
  RulesText(doc, out);
  EndpointsText(doc, out);
  PullsText(doc.value("pulls", Json::object()), out);
  EnsuredText(doc, out);
  return out;
}

int RunStatus(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  std::string warning;
  const config::ServerSettings server = DaemonServerSettings(cl, &warning);
  if (!warning.empty()) err << "cri-mirror status: " << warning << "\n";
  if (server.status.empty()) {
    err << "cri-mirror status: [server] status is \"\" in " << cl.config_path
        << ": the daemon serves no status socket; set it (default "
           "\"unix:///run/cri-mirror/status.sock\") and restart cri-mirror\n";
    return 1;
  }
  absl::StatusOr<std::string> document = status::FetchStatus(SocketPath(server.status));
  if (!document.ok()) {
    err << "cri-mirror status: " << document.status().message() << "\n";
    return 1;
  }
  out << (cl.json ? *document : StatusText(*document));
  return 0;
}

}  // namespace crimirror::cli
