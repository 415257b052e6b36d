// Copyright cri-mirror authors.
//
// Instruction counts (issue 15): wall times on a 2-vCPU VM are noisy, so the
// bench also counts the instructions cri-mirror executes, with valgrind's
// callgrind, which repeats to within about 2 % run to run (153-157 k per
// ImageStatus in four runs on a busy machine). One
// cri-mirror runs under callgrind (a wrapper script execs
// `valgrind --tool=callgrind cri-mirror ...`, so the pid is the daemon's),
// with one mirror rule to the bed's registry. After a warm-up, the counters
// are zeroed (`callgrind_control -z`), the work is done, and a dump
// (`callgrind_control -d`) gives the instructions of every thread of the
// daemon during exactly that work:
//   - N proxied ImageStatus calls of one name from one client;
//   - one CRI pull of a fresh image through the relay, per relayed MiB.
// The dumps stay in the bed's dir (CRI_MIRROR_KEEP_TESTDIRS=1 keeps them)
// for callgrind_annotate, which shows where the instructions go.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "bench/figures.h"
#include "bench/stats.h"

namespace crimirror::bench {
namespace {

constexpr char kStatusFigure[] = "instructions per proxied ImageStatus (callgrind)";
constexpr char kRelayFigure[] = "instructions per relayed MiB (callgrind)";
constexpr absl::Duration kUnderValgrind = absl::Minutes(10);

// "12.3 M Ir" / "1.23 G Ir".
std::string FormatInstructions(double ir) {
  if (ir >= 1e9) return absl::StrFormat("%.3g G Ir", ir / 1e9);
  if (ir >= 1e6) return absl::StrFormat("%.3g M Ir", ir / 1e6);
  if (ir >= 1e3) return absl::StrFormat("%.3g k Ir", ir / 1e3);
  return absl::StrFormat("%.0f Ir", ir);
}

// The daemon under callgrind, and the dumps it has written so far.
class Callgrind {
 public:
  // Writes the wrapper script and starts cri-mirror through it.
  static absl::StatusOr<Callgrind> Start(Bed& bed) {
    auto valgrind = testbed::FindProgram("valgrind");
    if (!valgrind.ok()) return valgrind.status();
    auto control = testbed::FindProgram("callgrind_control");
    if (!control.ok()) return control.status();
    auto dir = bed.dir().MakeSubdir("callgrind");
    if (!dir.ok()) return dir.status();
    Callgrind cg;
    cg.control_ = *control;
    cg.out_ = *dir + "/callgrind.out";
    const std::string wrapper = *dir + "/cri-mirror-under-callgrind";
    absl::Status written = testbed::WriteFile(
        wrapper,
        absl::StrCat("#!/bin/sh\nexec ", *valgrind, " --tool=callgrind --compress-strings=no --callgrind-out-file=",
                     cg.out_, " --log-file=", *dir, "/valgrind.log ",
                     bed.options().cri_mirror_binary, " \"$@\"\n"),
        0755);
    if (!written.ok()) return written;
    Bed::Launch launch;
    launch.binary = wrapper;
    launch.server_keys = "ensure_sandbox_image = false\n";
    launch.start_timeout = absl::Minutes(2);
    auto mirror = bed.StartMirror(bed.MirrorToRegistryRules(), "", launch);
    if (!mirror.ok()) return mirror.status();
    cg.mirror_ = *std::move(mirror);
    return cg;
  }

  testbed::CriMirror& mirror() { return *mirror_; }

  // callgrind_control -z: counters to zero on every thread.
  absl::Status Zero() { return Control("-z"); }

  // callgrind_control -d, then the "summary:" (total Ir) of that dump.
  absl::StatusOr<double> Dump() {
    if (absl::Status s = Control("-d"); !s.ok()) return s;
    const std::string path = absl::StrCat(out_, ".", ++dumps_);
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) {
      absl::string_view rest = line;
      double ir = 0;
      if (absl::ConsumePrefix(&rest, "summary: ") && absl::SimpleAtod(rest, &ir)) return ir;
    }
    return absl::InternalError(absl::StrCat(path, ": no \"summary:\" line in the callgrind dump"));
  }

 private:
  absl::Status Control(const std::string& flag) {
    auto done = testbed::RunCommandOk(
        {control_, flag, std::to_string(mirror_->process()->pid())},
        absl::StrCat(out_, ".control", flag), absl::Minutes(2));
    return done.status();
  }

  std::string control_;
  std::string out_;
  int dumps_ = 0;
  std::unique_ptr<testbed::CriMirror> mirror_;
};

Row InstructionRow(const std::string& figure, double ir, const std::string& note) {
  Row row;
  row.figure = figure;
  row.ours = FormatInstructions(ir);
  row.reference = "-";
  row.ratio = "-";
  row.target = "recorded";
  row.verdict = Verdict::kInfo;
  row.note = note;
  return row;
}

// Instructions of `calls` ImageStatus calls of `name`, after a warm-up.
absl::StatusOr<double> StatusInstructions(Callgrind& cg, const std::string& name, int calls) {
  auto client = testbed::CriImageClient::Create(cg.mirror().Endpoint());
  if (!client.ok()) return client.status();
  for (int i = 0; i < 50; ++i) {
    auto status = (*client)->Status(name, false, kUnderValgrind);
    if (!status.ok()) {
      return absl::UnavailableError(absl::StrCat("ImageStatus through cri-mirror: ",
                                                 status.status.error_message()));
    }
  }
  if (absl::Status s = cg.Zero(); !s.ok()) return s;
  int failed = 0;
  for (int i = 0; i < calls; ++i) {
    if (!(*client)->Status(name, false, kUnderValgrind).ok()) ++failed;
  }
  auto ir = cg.Dump();
  if (!ir.ok()) return ir.status();
  // A failed call costs fewer instructions: the mean would be too low.
  if (failed > 0) {
    return absl::UnavailableError(absl::StrCat(failed, " of ", calls,
                                               " ImageStatus calls through cri-mirror failed"));
  }
  return *ir / calls;
}

// Instructions of one pull of `image` (`mib` MiB) through the relay, per
// MiB; a pull of `warm` first warms the relay's connections and caches.
absl::StatusOr<double> RelayInstructions(Bed& bed, Callgrind& cg, const std::string& warm,
                                         const testbed::BuiltImage& warm_built,
                                         const std::string& image,
                                         const testbed::BuiltImage& built, uint64_t mib) {
  auto client = testbed::CriImageClient::Create(cg.mirror().Endpoint());
  if (!client.ok()) return client.status();
  auto warmed = TimePull(**client, warm, kUnderValgrind);
  if (!warmed.ok()) return warmed.status();
  if (absl::Status s = RemoveAndCollect(bed.direct(), warm, warm_built, bed.ContainerdRoot());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = cg.Zero(); !s.ok()) return s;
  auto took = TimePull(**client, image, kUnderValgrind);
  auto ir = cg.Dump();
  absl::Status removed = RemoveAndCollect(bed.direct(), image, built, bed.ContainerdRoot());
  if (!took.ok()) return took.status();
  if (!ir.ok()) return ir.status();
  if (!removed.ok()) return removed;
  return *ir / static_cast<double>(mib);
}

}  // namespace

std::vector<Row> RunInstructions(Bed& bed) {
  const bool smoke = bed.options().smoke;
  const int calls = smoke ? 20 : 500;
  const uint64_t mib = smoke ? 1 : 64;
  auto status_image = bed.PushImage("ins/status:v1", ImageOfSize(0, 1, 4099));
  if (!status_image.ok()) {
    return {NotApplicable(kStatusFigure, "recorded", status_image.status().ToString())};
  }
  auto small = bed.PushImage("ins/warm:v1", ImageOfSize(0, 1, 4100));
  if (!small.ok()) return {NotApplicable(kRelayFigure, "recorded", small.status().ToString())};
  auto relayed = bed.PushImage("ins/relayed:v1", ImageOfSize(mib, 2, 4101));
  if (!relayed.ok()) return {NotApplicable(kRelayFigure, "recorded", relayed.status().ToString())};
  // The name ImageStatus asks for: pulled straight from the registry.
  const std::string name = absl::StrCat(bed.registry().HostPort(), "/ins/status:v1");
  auto direct = bed.direct().Pull(name);
  if (!direct.ok()) {
    return {NotApplicable(kStatusFigure, "recorded",
                          absl::StrCat("direct pull: ", direct.status.error_message()))};
  }
  auto cg = Callgrind::Start(bed);
  if (!cg.ok()) {
    return {NotApplicable(kStatusFigure, "recorded", std::string(cg.status().message())),
            NotApplicable(kRelayFigure, "recorded", std::string(cg.status().message()))};
  }
  std::vector<Row> rows;
  auto status = StatusInstructions(*cg, name, calls);
  rows.push_back(status.ok()
                     ? InstructionRow(kStatusFigure, *status,
                                      absl::StrCat("mean of ", calls, " calls, 1 client, all "
                                                   "threads of the daemon"))
                     : NotApplicable(kStatusFigure, "recorded",
                                     std::string(status.status().message())));
  const std::string mirrored = absl::StrCat(Bed::kMirroredRegistry, "/ins/");
  auto relay = RelayInstructions(bed, *cg, mirrored + "warm:v1", *small, mirrored + "relayed:v1",
                                 *relayed, mib);
  rows.push_back(relay.ok()
                     ? InstructionRow(kRelayFigure, *relay,
                                      absl::StrCat("one CRI pull of ", mib,
                                                   " MiB in 2 layers through a mirror rule"))
                     : NotApplicable(kRelayFigure, "recorded",
                                     std::string(relay.status().message())));
  absl::Status removed = RemoveAndCollect(bed.direct(), name, *status_image, bed.ContainerdRoot());
  (void)removed;
  return rows;
}

}  // namespace crimirror::bench
