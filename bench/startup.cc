// Copyright cri-mirror authors.
//
// Start-up: from just before fork/exec of cri-mirror to (a) its socket
// accepting a connection and (b) a CRI ListImages through it answering OK
// (so the backend channel is up too). Polled every 200 us, far finer than
// the bed's 20 ms readiness interval. Median of the repetitions; each run
// has its own dir, socket and relay port.
#include <chrono>

#include "absl/strings/str_cat.h"
#include "bench/figures.h"
#include "bench/stats.h"

namespace crimirror::bench {
namespace {

constexpr absl::Duration kPoll = absl::Microseconds(200);
constexpr absl::Duration kGiveUp = absl::Seconds(10);

struct StartTimes {
  absl::Duration socket;
  absl::Duration serving;
};

bool ListImagesOk(const std::string& endpoint) {
  auto client = testbed::CriImageClient::Create(endpoint);
  return client.ok() && (*client)->List(absl::Seconds(2)).ok();
}

absl::StatusOr<StartTimes> StartOnce(Bed& bed, int run) {
  auto dir = bed.dir().MakeSubdir(absl::StrCat("startup-", run));
  if (!dir.ok()) return dir.status();
  auto relay_port = testbed::FreeLoopbackPort();
  if (!relay_port.ok()) return relay_port.status();
  const std::string config = *dir + "/config.toml";
  absl::Status written = testbed::WriteFile(
      config, absl::StrCat("[server]\nrelay = \"127.0.0.1:", *relay_port, "\"\n"), 0600);
  if (!written.ok()) return written;
  const std::string socket = *dir + "/s.sock";
  testbed::ProcessOptions options;
  options.argv = {bed.options().cri_mirror_binary, "--listen", "unix://" + socket,
                  "--backend", bed.containerd().Endpoint(), "--config", config};
  options.log_path = *dir + "/cri-mirror.log";
  const absl::Time start = absl::Now();
  auto process = testbed::Process::Start(options);
  if (!process.ok()) return process.status();
  StartTimes times;
  while (!testbed::UnixSocketConnectable(socket)) {
    if (!(*process)->Running() || absl::Now() - start > kGiveUp) {
      return absl::UnavailableError(absl::StrCat("cri-mirror did not serve ", socket,
                                                 "; log tail: ", (*process)->LogTail(300)));
    }
    absl::SleepFor(kPoll);
  }
  times.socket = absl::Now() - start;
  if (!ListImagesOk("unix://" + socket)) {
    return absl::UnavailableError(absl::StrCat("ListImages through ", socket, " failed"));
  }
  times.serving = absl::Now() - start;
  (*process)->Stop();
  return times;
}

}  // namespace

std::vector<Row> RunStartup(Bed& bed) {
  const std::string figure = "start-up: exec to ListImages answered";
  if (bed.options().cri_mirror_binary.empty()) {
    return {NotApplicable(figure, "<= 50 ms", "no cri-mirror binary (--cri-mirror PATH)")};
  }
  std::vector<absl::Duration> socket, serving;
  for (int r = 0; r < bed.options().repetitions; ++r) {
    auto times = StartOnce(bed, r);
    if (!times.ok()) return {NotApplicable(figure, "<= 50 ms", times.status().ToString())};
    socket.push_back(times->socket);
    serving.push_back(times->serving);
  }
  Row row;
  row.figure = figure;
  absl::Duration median = MedianDuration(serving);
  row.ours = HumanDuration(median);
  row.reference = "-";
  row.ratio = "-";
  row.target = "<= 50 ms";
  row.verdict = median <= absl::Milliseconds(50) ? Verdict::kPass : Verdict::kFail;
  row.note = absl::StrCat("socket accepting at ", HumanDuration(MedianDuration(socket)));
  return {row};
}

}  // namespace crimirror::bench
