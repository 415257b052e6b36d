// Copyright cri-mirror authors.
//
// The fault rows with CRI-O's registry semantics (issue 15): Debian's
// podman runs containers/image, the library CRI-O pulls with, and reads the
// same registries.conf. For each fault, a registries.conf gives the prefix
// podman.example-<fault>:5000 the bed's registry as `location` and the
// faulty endpoint as its `[[registry.mirror]]` (tried first, as CRI-O does),
// and `podman pull` of that prefix is timed with its own storage (vfs, a
// fresh --root per pull, so every pull downloads), capped. Beside it,
// cri-mirror's first pull with the same two endpoints and its default
// configuration (fresh instance, no [host] table), so the row compares the
// out-of-the-box behaviour of both. Faults: a black hole (accepts, never
// answers) and a FaultProxy in front of the registry that resets the
// connection 64 KiB into a layer.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "bench/figures.h"
#include "bench/stats.h"
#include "tests/integration/testbed/fault_proxy.h"

namespace crimirror::bench {
namespace {

constexpr absl::Duration kOursDeadline = absl::Minutes(3);

struct PodmanCase {
  std::string name;      // "black hole"
  std::string registry;  // "podman-bh.example:5000"
  std::string repo;      // "pm/bh:v1"
  std::string dead;      // host:port of the faulty endpoint
};

// `c.registry` at `location`, with `c.dead` as its mirror unless empty.
std::string RegistriesConf(const PodmanCase& c, const std::string& location) {
  std::string conf = absl::StrCat("[[registry]]\nprefix = \"", c.registry, "\"\nlocation = \"",
                                  location, "\"\ninsecure = true\n");
  if (!c.dead.empty()) {
    absl::StrAppend(&conf, "\n[[registry.mirror]]\nlocation = \"", c.dead,
                    "\"\ninsecure = true\n");
  }
  return conf;
}

// `podman pull` of `c`'s image with its own registries.conf and storage.
absl::StatusOr<absl::Duration> PodmanPull(Bed& bed, const std::string& podman,
                                          const PodmanCase& c, absl::Duration cap,
                                          const std::string& run) {
  auto dir = bed.dir().MakeSubdir(absl::StrCat("podman-", run));
  if (!dir.ok()) return dir.status();
  const std::string conf = *dir + "/registries.conf";
  absl::Status written = testbed::WriteFile(conf, RegistriesConf(c, bed.registry().HostPort()));
  if (!written.ok()) return written;
  const std::vector<std::string> argv = {
      podman, "--root", *dir + "/root", "--runroot", *dir + "/runroot", "--storage-driver",
      "vfs", "--events-backend", "file", "--cgroup-manager", "cgroupfs", "pull", "--quiet",
      absl::StrCat(c.registry, "/", c.repo)};
  absl::Time start = absl::Now();
  auto result = testbed::RunCommand(argv, *dir + "/pull", cap,
                                    {{"CONTAINERS_REGISTRIES_CONF", conf},
                                     {"HOME", *dir},
                                     {"TMPDIR", *dir}});
  absl::Duration took = absl::Now() - start;
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    // Its last line is the final error; earlier ones are its retries.
    absl::string_view err = absl::StripTrailingAsciiWhitespace(result->stderr_text);
    err = err.substr(err.rfind('\n') + 1);
    return absl::UnavailableError(absl::StrCat("podman pull failed after ", HumanDuration(took),
                                               ": ", err.substr(0, 200)));
  }
  return took;
}

// cri-mirror's first pull past the same faulty endpoint, default config.
absl::StatusOr<absl::Duration> OursPull(Bed& bed, const PodmanCase& c,
                                        const testbed::BuiltImage& built) {
  return TimeFreshMirrorPull(
      bed,
      absl::StrCat("[[mirror]]\nregistry = \"", c.registry, "\"\nendpoints = [\"http://", c.dead,
                   "\", \"", bed.registry().Url(), "\"]\nfallback_to_upstream = false\n"),
      absl::StrCat(c.registry, "/", c.repo), built, kOursDeadline);
}

Row PodmanRow(const PodmanCase& c, const absl::StatusOr<absl::Duration>& ours,
              const absl::StatusOr<absl::Duration>& theirs, absl::Duration cap,
              const std::string& sanity) {
  Row row;
  row.figure = absl::StrCat("podman registries.conf, ", c.name, " mirror first: first pull");
  const bool capped = !theirs.ok() && absl::IsDeadlineExceeded(theirs.status());
  row.ours = ours.ok() ? HumanDuration(*ours) : "error";
  row.reference = absl::StrCat(theirs.ok() ? HumanDuration(*theirs)
                               : capped    ? ">" + HumanDuration(cap)
                                           : "failed",
                               " (podman)");
  row.ratio = ours.ok() && theirs.ok() ? FormatRatio(absl::FDivDuration(*ours, *theirs)) : "-";
  row.target = "reported";
  row.verdict = Verdict::kInfo;
  row.note = absl::StrCat("both default config; ", sanity);
  if (!ours.ok()) row.note = std::string(ours.status().message());
  if (!theirs.ok() && !capped) absl::StrAppend(&row.note, "; ", theirs.status().message());
  return row;
}

}  // namespace

std::vector<Row> RunPodman(Bed& bed) {
  const std::string figure = "podman registries.conf";
  const bool smoke = bed.options().smoke;
  const absl::Duration cap = smoke ? absl::Seconds(10) : absl::Seconds(90);
  auto podman = testbed::FindProgram("podman");
  if (!podman.ok()) return {NotApplicable(figure, "reported", std::string(podman.status().message()))};
  auto black_hole = testbed::BlackHole::Create();
  if (!black_hole.ok()) return {NotApplicable(figure, "reported", black_hole.status().ToString())};
  testbed::FaultProxyOptions options;
  options.upstream_host_port = bed.registry().HostPort();
  options.fault = testbed::Fault::kResetMidBody;
  options.target = testbed::FaultTarget::kBlobs;
  options.min_body_bytes = smoke ? 0 : 64 * 1024;  // a layer, not the config
  auto proxy = testbed::FaultProxy::Start(options);
  if (!proxy.ok()) return {NotApplicable(figure, "reported", proxy.status().ToString())};
  const std::vector<PodmanCase> cases = {
      {"black hole", "podman-bh.example:5000", "pm/bh:v1", (*black_hole)->HostPort()},
      {"mid-blob reset", "podman-reset.example:5000", "pm/reset:v1", (*proxy)->HostPort()}};
  // Proves the set-up: the same pull with no mirror.
  const PodmanCase plain = {"no mirror", "podman-ok.example:5000", cases[0].repo, ""};
  std::string sanity = "podman without the mirror: ";
  std::vector<Row> rows;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto built = bed.PushImage(cases[i].repo, ImageOfSize(smoke ? 0 : 8, 2, 5100 + i));
    if (!built.ok()) {
      rows.push_back(NotApplicable(figure, "reported", built.status().ToString()));
      continue;
    }
    if (i == 0) {
      auto sane = PodmanPull(bed, *podman, plain, cap, "sanity");
      absl::StrAppend(&sanity, sane.ok() ? HumanDuration(*sane) : sane.status().ToString());
    }
    auto theirs = PodmanPull(bed, *podman, cases[i], cap, std::to_string(i));
    auto ours = OursPull(bed, cases[i], *built);
    rows.push_back(PodmanRow(cases[i], ours, theirs, cap, sanity));
  }
  return rows;
}

}  // namespace crimirror::bench
