// Copyright cri-mirror authors.
//
// Failover figures. A rule for failover.example:5000 lists a dead endpoint
// first and the healthy registry second; the dead one is a BlackHole
// (accepts, never answers; [host] connect/response timeouts of 1 s, or no
// [host] table at all: the default config, where hedging answers) or a
// free loopback port (refuses). The reference is the healthy registry
// alone. Each scenario gets a fresh cri-mirror (no remembered back-off),
// pulls a first image, then the next ones; every image is removed (and
// garbage-collected) after its pull, so the same small pool serves every
// scenario and repetition and every pull really reaches an endpoint.
//
// The hosts-toml row does the black-hole setup with containerd's own
// certs.d/<host>/hosts.toml in a second containerd, with a cap on the wait.
// The mid-blob rows put a FaultProxy first that resets or stalls halfway
// through a layer, with cri-mirror's default settings, beside the same two
// endpoints in containerd's hosts.toml.
#include <map>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/figures.h"
#include "bench/stats.h"
#include "tests/integration/testbed/fault_proxy.h"

namespace crimirror::bench {
namespace {

constexpr char kRegistry[] = "failover.example:5000";
constexpr absl::Duration kDeadTimeout = absl::Seconds(1);
constexpr absl::Duration kPullDeadline = absl::Minutes(3);

struct Scenario {
  std::string name;       // "black hole", "refusing", "healthy"
  std::string dead_host;  // "127.0.0.1:P", empty for healthy
  // No [host] table for the dead endpoint: default timeouts and hedging.
  bool default_config = false;
};

struct Timings {
  std::vector<absl::Duration> first;
  std::vector<absl::Duration> later;
};

std::string RulesFor(Bed& bed, const Scenario& scenario) {
  std::string endpoints = absl::StrCat("\"", bed.registry().Url(), "\"");
  std::string hosts;
  if (!scenario.dead_host.empty()) {
    endpoints = absl::StrCat("\"http://", scenario.dead_host, "\", ", endpoints);
  }
  if (!scenario.dead_host.empty() && !scenario.default_config) {
    hosts = absl::StrCat("\n[host.\"", scenario.dead_host, "\"]\nconnect_timeout = \"1s\"\n",
                         "response_timeout = \"1s\"\n");
  }
  return absl::StrCat("[[mirror]]\nregistry = \"", kRegistry, "\"\nendpoints = [", endpoints,
                      "]\nfallback_to_upstream = false\n", hosts);
}

// Pushes `count` small images fo/img-<i>:v1.
absl::StatusOr<std::vector<testbed::BuiltImage>> PushPool(Bed& bed, int count) {
  std::vector<testbed::BuiltImage> pool;
  for (int i = 0; i < count; ++i) {
    auto built = bed.PushImage(absl::StrCat("fo/img-", i, ":v1"),
                               ImageOfSize(bed.options().smoke ? 0 : 8, 2, 2000 + i));
    if (!built.ok()) return built.status();
    pool.push_back(*std::move(built));
  }
  return pool;
}

// One fresh cri-mirror for `scenario`: pulls every pool image in order.
absl::Status RunScenario(Bed& bed, const Scenario& scenario,
                         const std::vector<testbed::BuiltImage>& pool, Timings* timings) {
  auto mirror = bed.StartMirror(RulesFor(bed, scenario));
  if (!mirror.ok()) return mirror.status();
  auto client = testbed::CriImageClient::Create((*mirror)->Endpoint());
  if (!client.ok()) return client.status();
  for (size_t i = 0; i < pool.size(); ++i) {
    std::string image = absl::StrCat(kRegistry, "/fo/img-", i, ":v1");
    auto took = TimePull(**client, image, kPullDeadline);
    absl::Status removed = RemoveAndCollect(bed.direct(), image, pool[i], bed.ContainerdRoot());
    if (!took.ok()) return took.status();
    if (!removed.ok()) return removed;
    (i == 0 ? timings->first : timings->later).push_back(*took);
  }
  return absl::OkStatus();
}

// Rows of one dead-endpoint scenario against the healthy timings.
std::vector<Row> ScenarioRows(const std::string& name, const Timings& dead,
                              const Timings& healthy) {
  absl::Duration first = MedianDuration(dead.first);
  absl::Duration healthy_first = MedianDuration(healthy.first);
  Row first_row;
  first_row.figure = absl::StrCat("failover, ", name, " first: first pull");
  first_row.ours = HumanDuration(first);
  first_row.reference = HumanDuration(healthy_first) + " (healthy)";
  first_row.ratio = FormatRatio(absl::FDivDuration(first, healthy_first));
  first_row.target = "<= 1s + healthy";
  first_row.verdict = first <= kDeadTimeout + healthy_first ? Verdict::kPass : Verdict::kFail;
  first_row.note = absl::StrCat("bound ", HumanDuration(kDeadTimeout + healthy_first));
  absl::Duration later = MedianDuration(dead.later);
  absl::Duration healthy_later = MedianDuration(healthy.later);
  Row later_row = RatioRow(absl::StrCat("failover, ", name, " first: later pulls"),
                           HumanDuration(later), HumanDuration(healthy_later) + " (healthy)",
                           absl::FDivDuration(later, healthy_later), true, 1.05);
  later_row.note = absl::StrCat("median of ", dead.later.size(), " pulls");
  return {first_row, later_row};
}

}  // namespace

std::vector<Row> RunFailover(Bed& bed) {
  const std::string figure = "failover";
  auto black_hole = testbed::BlackHole::Create();
  auto refusing_port = testbed::FreeLoopbackPort();
  if (!black_hole.ok()) return {NotApplicable(figure, "-", black_hole.status().ToString())};
  if (!refusing_port.ok()) return {NotApplicable(figure, "-", refusing_port.status().ToString())};
  auto pool = PushPool(bed, bed.options().smoke ? 3 : 4);
  if (!pool.ok()) return {NotApplicable(figure, "-", pool.status().ToString())};
  const std::vector<Scenario> scenarios = {
      {"healthy", ""},
      {"black hole", (*black_hole)->HostPort()},
      {"refusing", absl::StrCat("127.0.0.1:", *refusing_port)},
      {"black hole (default config)", (*black_hole)->HostPort(), true}};
  std::vector<Timings> timings(scenarios.size());
  for (int r = 0; r < bed.options().repetitions; ++r) {
    for (size_t s = 0; s < scenarios.size(); ++s) {
      absl::Status run = RunScenario(bed, scenarios[s], *pool, &timings[s]);
      if (!run.ok()) {
        return {NotApplicable(absl::StrCat(figure, ", ", scenarios[s].name), "-",
                              std::string(run.message()))};
      }
    }
  }
  std::vector<Row> rows = ScenarioRows(scenarios[1].name, timings[1], timings[0]);
  for (std::size_t s = 2; s < scenarios.size(); ++s) {
    for (Row& row : ScenarioRows(scenarios[s].name, timings[s], timings[0])) {
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

namespace {

// A second containerd whose CRI registry config_path holds one hosts.toml
// per entry of `hosts` (registry host -> file content).
absl::StatusOr<std::unique_ptr<testbed::Containerd>> ContainerdWithHosts(
    Bed& bed, const std::map<std::string, std::string>& hosts,
    const std::string& subdir = "hosts-toml") {
  auto parent = bed.dir().MakeSubdir(subdir);
  if (!parent.ok()) return parent.status();
  for (const auto& [host, content] : hosts) {
    auto host_dir = bed.dir().MakeSubdir(absl::StrCat(subdir, "/certs.d/", host));
    if (!host_dir.ok()) return host_dir.status();
    absl::Status written = testbed::WriteFile(*host_dir + "/hosts.toml", content);
    if (!written.ok()) return written;
  }
  testbed::ContainerdOptions options;
  options.log_level = "info";
  options.extra_config = absl::StrCat("[plugins.\"io.containerd.grpc.v1.cri\".registry]\n",
                                      "  config_path = \"", *parent, "/certs.d\"\n");
  return testbed::Containerd::Create(*parent, options);
}

std::string HostsToml(const std::vector<std::string>& urls, const std::string& server) {
  std::string toml = absl::StrCat("server = \"", server, "\"\n");
  for (const std::string& url : urls) {
    absl::StrAppend(&toml, "\n[host.\"", url, "\"]\n  capabilities = [\"pull\", \"resolve\"]\n");
  }
  return toml;
}

// cri-mirror's first pull with the black hole first (fresh instance), with
// the default configuration like containerd's hosts.toml (no timeout tuned).
absl::StatusOr<absl::Duration> OursFirstPull(Bed& bed, const std::string& dead_host,
                                             const testbed::BuiltImage& built) {
  Timings timings;
  absl::Status run = RunScenario(bed, {"black hole", dead_host, true}, {built}, &timings);
  if (!run.ok()) return run;
  return timings.first.front();
}

}  // namespace

std::vector<Row> RunContainerdFallback(Bed& bed) {
  const std::string figure = "containerd hosts.toml, black hole first: first pull";
  const absl::Duration cap = bed.options().smoke ? absl::Seconds(10) : absl::Seconds(60);
  auto black_hole = testbed::BlackHole::Create();
  if (!black_hole.ok()) return {NotApplicable(figure, "-", black_hole.status().ToString())};
  auto built = bed.PushImage("fo/img-0:v1", ImageOfSize(bed.options().smoke ? 0 : 8, 2, 2000));
  if (!built.ok()) return {NotApplicable(figure, "-", built.status().ToString())};
  const std::string healthy = bed.registry().Url();
  auto containerd = ContainerdWithHosts(
      bed, {{kRegistry, HostsToml({"http://" + (*black_hole)->HostPort(), healthy}, healthy)},
            {"healthy.example:5000", HostsToml({healthy}, healthy)}});
  if (!containerd.ok()) return {NotApplicable(figure, "-", containerd.status().ToString())};
  auto client = testbed::CriImageClient::Create((*containerd)->Endpoint());
  if (!client.ok()) return {NotApplicable(figure, "-", client.status().ToString())};
  // Proves the hosts.toml set-up works when no endpoint is dead.
  auto sane = TimePull(**client, "healthy.example:5000/fo/img-0:v1", absl::Minutes(1));
  if (!sane.ok()) {
    return {NotApplicable(figure, "-", absl::StrCat("hosts.toml set-up: ", sane.status().message()))};
  }
  auto theirs = TimePull(**client, absl::StrCat(kRegistry, "/fo/img-0:v1"), cap);
  auto ours = OursFirstPull(bed, (*black_hole)->HostPort(), *built);
  Row row;
  row.figure = figure;
  row.ours = ours.ok() ? HumanDuration(*ours) : "error";
  row.reference = theirs.ok() ? HumanDuration(*theirs) : ">" + HumanDuration(cap);
  row.ratio = ours.ok() && theirs.ok() ? FormatRatio(absl::FDivDuration(*ours, *theirs)) : "-";
  row.target = "reported";
  row.verdict = Verdict::kInfo;
  row.note = absl::StrCat("both default config; healthy-only hosts.toml pull ",
                          HumanDuration(*sane));
  if (!ours.ok()) row.note = std::string(ours.status().message());
  if (!theirs.ok() && theirs.status().code() != absl::StatusCode::kDeadlineExceeded) {
    row.note = std::string(theirs.status().message());
  }
  return {row};
}

namespace {

// A mirror that breaks blobs mid-body: a FaultProxy in front of the bed's
// registry, first, and the registry itself second.
struct MidBlobCase {
  std::string name;          // "mid-blob reset"
  testbed::Fault fault;      // kNone for the healthy baseline
  std::string registry;      // the rule's registry host
  std::string repo;          // "fo/mid-reset:v1"
  absl::Duration allowance;  // over the healthy pull
};

// A fresh cri-mirror (default settings) pulls `c`'s image once.
absl::StatusOr<absl::Duration> OursMidBlob(Bed& bed, const MidBlobCase& c,
                                           const std::string& proxy_url,
                                           const testbed::BuiltImage& built) {
  return TimeFreshMirrorPull(
      bed,
      absl::StrCat("[[mirror]]\nregistry = \"", c.registry, "\"\nendpoints = [\"", proxy_url,
                   "\", \"", bed.registry().Url(), "\"]\nfallback_to_upstream = false\n"),
      absl::StrCat(c.registry, "/", c.repo), built, kPullDeadline);
}

}  // namespace

std::vector<Row> RunMidBlobFailover(Bed& bed) {
  const bool smoke = bed.options().smoke;
  const absl::Duration cap = smoke ? absl::Seconds(10) : absl::Seconds(90);
  const std::vector<MidBlobCase> cases = {
      {"healthy", testbed::Fault::kNone, "mid-healthy.example:5000", "fo/mid-healthy:v1", {}},
      {"mid-blob reset", testbed::Fault::kResetMidBody, "mid-reset.example:5000",
       "fo/mid-reset:v1", absl::Seconds(3)},
      {"mid-blob stall", testbed::Fault::kStallMidBody, "mid-stall.example:5000",
       "fo/mid-stall:v1", absl::Seconds(33)}};
  std::vector<testbed::BuiltImage> built;
  std::vector<std::unique_ptr<testbed::FaultProxy>> proxies;
  std::map<std::string, std::string> hosts;
  const std::string healthy = bed.registry().Url();
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string figure = absl::StrCat("failover, ", cases[i].name, " first: first pull");
    auto image = bed.PushImage(cases[i].repo, ImageOfSize(smoke ? 0 : 8, 2, 3100 + i));
    if (!image.ok()) return {NotApplicable(figure, "-", image.status().ToString())};
    testbed::FaultProxyOptions options;
    options.upstream_host_port = bed.registry().HostPort();
    options.fault = cases[i].fault;
    options.target = testbed::FaultTarget::kBlobs;
    options.min_body_bytes = smoke ? 0 : 64 * 1024;  // a layer, not the config
    auto proxy = testbed::FaultProxy::Start(options);
    if (!proxy.ok()) return {NotApplicable(figure, "-", proxy.status().ToString())};
    hosts[cases[i].registry] = HostsToml({(*proxy)->Url(), healthy}, healthy);
    built.push_back(*std::move(image));
    proxies.push_back(*std::move(proxy));
  }
  std::vector<absl::Duration> ours(cases.size());
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto took = OursMidBlob(bed, cases[i], proxies[i]->Url(), built[i]);
    if (!took.ok()) {
      return {NotApplicable(absl::StrCat("failover, ", cases[i].name), "-",
                            std::string(took.status().message()))};
    }
    ours[i] = *took;
  }
  auto containerd = ContainerdWithHosts(bed, hosts, "hosts-toml-mid-blob");
  if (!containerd.ok()) {
    return {NotApplicable("failover, mid-blob", "-", containerd.status().ToString())};
  }
  auto client = testbed::CriImageClient::Create((*containerd)->Endpoint());
  if (!client.ok()) return {NotApplicable("failover, mid-blob", "-", client.status().ToString())};
  std::vector<Row> rows;
  for (std::size_t i = 1; i < cases.size(); ++i) {
    auto theirs = TimePull(**client, absl::StrCat(cases[i].registry, "/", cases[i].repo), cap);
    const absl::Duration bound = ours[0] + cases[i].allowance;
    Row row;
    row.figure = absl::StrCat("failover, ", cases[i].name, " first: first pull");
    row.ours = HumanDuration(ours[i]);
    const bool capped = !theirs.ok() && absl::IsDeadlineExceeded(theirs.status());
    row.reference = absl::StrCat(theirs.ok() ? HumanDuration(*theirs)
                                 : capped    ? ">" + HumanDuration(cap)
                                             : "failed",
                                 " (containerd hosts.toml)");
    row.ratio = theirs.ok() ? FormatRatio(absl::FDivDuration(ours[i], *theirs)) : "-";
    row.target = absl::StrCat("<= healthy + ", HumanDuration(cases[i].allowance));
    row.verdict = ours[i] <= bound ? Verdict::kPass : Verdict::kFail;
    row.note = absl::StrCat("healthy ", HumanDuration(ours[0]), ", bound ", HumanDuration(bound));
    if (!theirs.ok() && !capped) {
      absl::StrAppend(&row.note, "; containerd: ", theirs.status().message());
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace crimirror::bench
