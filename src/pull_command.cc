#include "src/pull_command.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "cri/api.grpc.pb.h"
#include "log/echo.h"
#include "nlohmann/json.hpp"
#include "plugin/backend_channel.h"
#include "resolver/reference.h"
#include "src/daemon_client.h"
#include "status/status_server.h"

namespace crimirror::cli {
namespace {

constexpr absl::Duration kProgressEvery = absl::Milliseconds(500);
// The daemon bounds a pull with [server] pull_timeout; the client waits a
// little longer so that the daemon's own answer arrives.
constexpr absl::Duration kClientMargin = absl::Seconds(30);

struct PullTarget {
  std::string target;       // unix:///... of the daemon's CRI socket
  std::string status_path;  // its status socket path, "" when off
  absl::Duration timeout;
};

PullTarget Target(const CommandLine& cl, const char* command, std::ostream& err) {
  std::string warning;
  const config::ServerSettings server = DaemonServerSettings(cl, &warning);
  if (!warning.empty()) err << "cri-mirror " << command << ": " << warning << "\n";
  return PullTarget{server.listen, SocketPath(server.status), server.pull_timeout + kClientMargin};
}

struct PullOutcome {
  grpc::Status status;
  std::string image_ref;
  absl::Duration took;
};

PullOutcome PullOne(runtime::v1::ImageService::Stub& stub, const std::string& image,
                    absl::Duration timeout) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  runtime::v1::PullImageRequest request;
  request.mutable_image()->set_image(image);
  runtime::v1::PullImageResponse response;
  const absl::Time start = absl::Now();
  PullOutcome outcome;
  outcome.status = stub.PullImage(&context, request, &response);
  outcome.took = absl::Now() - start;
  outcome.image_ref = response.image_ref();
  return outcome;
}

// Bytes the daemon relayed for `reference`, from the status socket: of the
// pull in flight (`list` "active") or of the newest finished one ("recent").
// nullopt when the socket cannot be read or shows no such pull.
std::optional<std::uint64_t> StatusBytes(const std::string& status_path,
                                         const std::string& reference, const char* list) {
  if (status_path.empty()) return std::nullopt;
  absl::StatusOr<std::string> body = status::FetchStatus(status_path);
  if (!body.ok()) return std::nullopt;
  nlohmann::json doc = nlohmann::json::parse(*body, nullptr, false);
  if (!doc.is_object() || !doc.contains("pulls")) return std::nullopt;
  for (const nlohmann::json& pull : doc["pulls"].value(list, nlohmann::json::array())) {
    if (pull.value("ref", "") == reference) return pull.value("bytes", std::uint64_t{0});
  }
  return std::nullopt;
}

// "\r<ref>: 12.3 MiB, 4.1 MiB/s, 3s" on stderr every kProgressEvery until
// `done`.
void ShowProgress(const std::string& status_path, const std::string& reference,
                  absl::Notification* done) {
  const absl::Time start = absl::Now();
  std::uint64_t last_bytes = 0;
  absl::Time last_time = start;
  while (!done->WaitForNotificationWithTimeout(kProgressEvery)) {
    std::optional<std::uint64_t> bytes = StatusBytes(status_path, reference, "active");
    const absl::Time now = absl::Now();
    std::string line = absl::StrCat("\r", reference, ": ");
    if (bytes) {
      const double rate = static_cast<double>(*bytes - std::min(*bytes, last_bytes)) /
                          std::max(absl::ToDoubleSeconds(now - last_time), 0.001);
      absl::StrAppend(&line, HumanBytes(*bytes), ", ",
                      HumanBytes(static_cast<std::uint64_t>(rate)), "/s, ");
      last_bytes = *bytes;
      last_time = now;
    }
    absl::StrAppend(&line, absl::StrFormat("%.0fs", absl::ToDoubleSeconds(now - start)),
                    "\033[K");
    [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, line.data(), line.size());
  }
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, "\r\033[K", 4);
}

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%.2fs", absl::ToDoubleSeconds(d));
}

std::string Failure(const grpc::Status& status) {
  std::string code = absl::AsciiStrToLower(absl::StatusCodeToString(
      static_cast<absl::StatusCode>(status.error_code())));
  return absl::StrCat(code, ": ", log::Shorten(status.error_message(), 2048));
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ReadPrefetchList(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("--file ", path, ": cannot read it"));
  }
  std::vector<std::string> images;
  std::vector<std::string> errors;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    std::string image(absl::StripAsciiWhitespace(line));
    if (image.empty() || image[0] == '#') continue;
    absl::StatusOr<resolver::Reference> reference = resolver::ParseReference(image);
    if (!reference.ok()) {
      errors.push_back(absl::StrCat(path, ":", number, ": \"", log::Excerpt(image), "\": ",
                                    reference.status().message()));
      continue;
    }
    images.push_back(std::move(image));
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  if (images.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no image in it; write one reference a line"));
  }
  return images;
}

int RunPull(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  absl::StatusOr<resolver::Reference> reference = resolver::ParseReference(cl.image);
  if (!reference.ok()) {
    err << "cri-mirror pull: \"" << log::Excerpt(cl.image) << "\": " << reference.status().message()
        << "\n";
    return 2;
  }
  const PullTarget target = Target(cl, "pull", err);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      plugin::CreateBackendChannel(target.target);
  if (!channel.ok()) {
    err << "cri-mirror pull: " << channel.status().message() << "\n";
    return 2;
  }
  auto stub = runtime::v1::ImageService::NewStub(*channel);
  const std::string canonical = reference->Canonical();
  absl::Notification done;
  std::thread progress;
  if (::isatty(STDERR_FILENO)) {
    progress = std::thread(ShowProgress, target.status_path, canonical, &done);
  }
  PullOutcome outcome = PullOne(*stub, cl.image, target.timeout);
  done.Notify();
  if (progress.joinable()) progress.join();
  if (!outcome.status.ok()) {
    err << "cri-mirror pull: " << canonical << " failed after " << Seconds(outcome.took)
        << " (via " << target.target << "): " << Failure(outcome.status) << "\n";
    return 1;
  }
  out << "pulled " << canonical << " as " << outcome.image_ref << " in " << Seconds(outcome.took);
  if (std::optional<std::uint64_t> bytes = StatusBytes(target.status_path, canonical, "recent")) {
    out << ", " << HumanBytes(*bytes) << " relayed";
  }
  out << "\n";
  return 0;
}

int RunPrefetch(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  absl::StatusOr<std::vector<std::string>> images = ReadPrefetchList(cl.list_file);
  if (!images.ok()) {
    err << "cri-mirror prefetch: " << images.status().message() << "\n";
    return 2;
  }
  const PullTarget target = Target(cl, "prefetch", err);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      plugin::CreateBackendChannel(target.target);
  if (!channel.ok()) {
    err << "cri-mirror prefetch: " << channel.status().message() << "\n";
    return 2;
  }
  auto stub = runtime::v1::ImageService::NewStub(*channel);
  std::atomic<std::size_t> next{0};
  std::atomic<int> failed{0};
  std::mutex print_mu;
  const absl::Time start = absl::Now();
  auto worker = [&] {
    for (std::size_t i = next++; i < images->size(); i = next++) {
      const std::string& image = (*images)[i];
      PullOutcome outcome = PullOne(*stub, image, target.timeout);
      std::lock_guard<std::mutex> lock(print_mu);
      if (outcome.status.ok()) {
        out << "pulled " << image << " as " << outcome.image_ref << " in "
            << Seconds(outcome.took) << "\n";
      } else {
        ++failed;
        err << "failed " << image << " after " << Seconds(outcome.took) << ": "
            << Failure(outcome.status) << "\n";
      }
      out.flush();
    }
  };
  std::vector<std::thread> workers;
  const std::size_t count = std::min<std::size_t>(cl.parallel, images->size());
  for (std::size_t i = 0; i < count; ++i) workers.emplace_back(worker);
  for (std::thread& t : workers) t.join();
  out << "prefetch: " << images->size() - failed << " of " << images->size() << " pulled, "
      << failed << " failed, in " << Seconds(absl::Now() - start) << " (" << count
      << " at a time, via " << target.target << ")\n";
  return failed == 0 ? 0 : 1;
}

}  // namespace crimirror::cli
