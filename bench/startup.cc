// Copyright cri-mirror authors.
//
// Start-up: from just before fork/exec of cri-mirror to (a) its socket
// accepting a connection, (b) a CRI ListImages through it answering OK
// (so the backend channel is up too), polled every 200 us, far finer than
// the bed's 20 ms readiness interval, and (c) READY=1 arriving on the
// NOTIFY_SOCKET datagram socket the bench owns (the runtime answered; the
// sandbox image ensure is off here: the bed's containerd names an
// unreachable one). Median of the repetitions; each run has its own dir,
// socket and relay port.
#include <chrono>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bench/figures.h"
#include "bench/stats.h"
#include "tests/support/notify_receiver.h"

namespace crimirror::bench {
namespace {

constexpr absl::Duration kPoll = absl::Microseconds(200);
constexpr absl::Duration kGiveUp = absl::Seconds(10);

struct StartTimes {
  absl::Duration socket;
  absl::Duration serving;
  absl::Duration ready;
};

bool ListImagesOk(const std::string& endpoint) {
  auto client = testbed::CriImageClient::Create(endpoint);
  return client.ok() && (*client)->List(absl::Seconds(2)).ok();
}

// Reads datagrams until one starts with READY=1; false on timeout.
bool WaitForReady(test_support::NotifyReceiver& receiver) {
  const absl::Time deadline = absl::Now() + kGiveUp;
  while (absl::Now() < deadline) {
    std::optional<std::string> message = receiver.Receive(deadline - absl::Now());
    if (!message) return false;
    if (absl::StartsWith(*message, "READY=1")) return true;
  }
  return false;
}

absl::StatusOr<StartTimes> StartOnce(Bed& bed, int run) {
  auto dir = bed.dir().MakeSubdir(absl::StrCat("startup-", run));
  if (!dir.ok()) return dir.status();
  auto relay_port = testbed::FreeLoopbackPort();
  if (!relay_port.ok()) return relay_port.status();
  const std::string config = *dir + "/config.toml";
  absl::Status written = testbed::WriteFile(
      config,
      absl::StrCat("[server]\nrelay = \"127.0.0.1:", *relay_port,
                   "\"\nensure_sandbox_image = false\n"),
      0600);
  if (!written.ok()) return written;
  const std::string socket = *dir + "/s.sock";
  testbed::ProcessOptions options;
  options.argv = {bed.options().cri_mirror_binary, "--listen", "unix://" + socket,
                  "--backend", bed.containerd().Endpoint(), "--config", config};
  options.log_path = *dir + "/cri-mirror.log";
  const std::string notify = *dir + "/notify.sock";
  auto receiver = test_support::NotifyReceiver::Create(notify);
  if (!receiver.ok()) return receiver.status();
  options.env["NOTIFY_SOCKET"] = notify;
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
  bool ready = WaitForReady(**receiver);
  times.ready = absl::Now() - start;
  (*process)->Stop();
  if (!ready) return absl::UnavailableError(absl::StrCat("no READY=1 on ", notify));
  return times;
}

}  // namespace

std::vector<Row> RunStartup(Bed& bed) {
  // Issue 15: ready = READY=1 sent and a ListImages answered, whichever is
  // later. `ready` is read after ListImages answered, so it is that maximum.
  const std::string figure = "start-up: exec to ready (READY=1 and ListImages answered)";
  if (bed.options().cri_mirror_binary.empty()) {
    return {NotApplicable(figure, "<= 50 ms", "no cri-mirror binary (--cri-mirror PATH)")};
  }
  std::vector<absl::Duration> socket, serving, ready;
  for (int r = 0; r < bed.options().repetitions; ++r) {
    auto times = StartOnce(bed, r);
    if (!times.ok()) return {NotApplicable(figure, "<= 50 ms", times.status().ToString())};
    socket.push_back(times->socket);
    serving.push_back(times->serving);
    ready.push_back(times->ready);
  }
  Row row;
  row.figure = figure;
  const absl::Duration median = MedianDuration(ready);
  row.ours = HumanDuration(median);
  row.reference = "-";
  row.ratio = "-";
  row.target = "<= 50 ms";
  row.verdict = median <= absl::Milliseconds(50) ? Verdict::kPass : Verdict::kFail;
  row.note = absl::StrCat("medians: socket accepting at ", HumanDuration(MedianDuration(socket)),
                          ", ListImages answered at ", HumanDuration(MedianDuration(serving)),
                          "; runtime answered, no image to ensure");
  return {row};
}

}  // namespace crimirror::bench
