#include "node/image_ensurer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "log/log.h"

namespace crimirror::node {

absl::StatusOr<std::unique_ptr<ImageEnsurer>> ImageEnsurer::Create(Options options) {
  if (options.config_store == nullptr || options.backend == nullptr) {
    return absl::InvalidArgumentError("ImageEnsurer needs a config store and a backend");
  }
  auto ensurer = std::unique_ptr<ImageEnsurer>(new ImageEnsurer(std::move(options)));
  ensurer->thread_ = std::thread([e = ensurer.get()] { e->Run(); });
  return ensurer;
}

ImageEnsurer::ImageEnsurer(Options options) : options_(std::move(options)) {}

ImageEnsurer::~ImageEnsurer() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  options_.backend->Cancel();
  if (thread_.joinable()) thread_.join();
}

void ImageEnsurer::Trigger() {
  absl::MutexLock lock(&mu_);
  triggered_ = true;
}

bool ImageEnsurer::WaitUntilSettled(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&settled_), timeout);
}

std::vector<EnsuredImage> ImageEnsurer::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return images_;
}

int ImageEnsurer::passes() const {
  absl::MutexLock lock(&mu_);
  return passes_;
}

void ImageEnsurer::Run() {
  absl::Duration retry = options_.retry_initial;
  for (;;) {
    std::vector<EnsuredImage> images;
    bool all_present = Pass(&images);
    absl::Duration interval = options_.config_store->Current()->server.ensure_interval;
    absl::Duration wait = interval;
    if (all_present) {
      retry = options_.retry_initial;
    } else {
      wait = std::min(retry, interval);
      retry = std::min(retry * 2, interval);
    }
    absl::MutexLock lock(&mu_);
    images_ = std::move(images);
    ++passes_;
    if (all_present) settled_ = true;
    auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || triggered_; };
    mu_.AwaitWithTimeout(absl::Condition(&wake), wait);
    if (stop_) return;
    triggered_ = false;
  }
}

bool ImageEnsurer::Pass(std::vector<EnsuredImage>* images) {
  config::ConfigPtr config = options_.config_store->Current();
  const config::ServerSettings& server = config->server;
  bool ok = true;
  // Asked on every pass, also with ensure_sandbox_image off: an answer
  // (even "no sandbox image", from a runtime that is not containerd) proves
  // the runtime serves CRI, which readiness waits for.
  absl::StatusOr<std::string> sandbox = options_.backend->SandboxImage(options_.query_timeout);
  if (!server.ensure_sandbox_image) {
    absl::StatusCode code = sandbox.status().code();
    if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
        code == absl::StatusCode::kCancelled) {
      ok = false;
      log::Warning("ensure: the runtime does not answer: ", sandbox.status().message());
    }
  } else {
    if (sandbox.ok()) {
      images->push_back({*sandbox, /*sandbox=*/true, /*present=*/false, ""});
    } else {
      ok = false;
      std::string error = absl::StrCat("cannot read the runtime's sandbox image: ",
                                       sandbox.status().message());
      log::Warning("ensure: ", error);
      images->push_back({"", /*sandbox=*/true, /*present=*/false, error});
    }
  }
  for (const std::string& image : server.ensure_images) {
    bool listed = std::any_of(images->begin(), images->end(),
                              [&](const EnsuredImage& e) { return e.image == image; });
    if (!listed) images->push_back({image, /*sandbox=*/false, /*present=*/false, ""});
  }
  for (EnsuredImage& image : *images) {
    if (image.image.empty()) continue;
    EnsureOne(server, &image);
    ok = ok && image.present;
  }
  return ok;
}

void ImageEnsurer::EnsureOne(const config::ServerSettings& server, EnsuredImage* image) {
  const char* what = image->sandbox ? " (the runtime's sandbox image)" : "";
  absl::StatusOr<bool> has = options_.backend->HasImage(image->image, options_.query_timeout);
  if (has.ok() && *has) {
    image->present = true;
    return;
  }
  if (!has.ok()) {
    image->last_error = absl::StrCat("cannot check ", image->image, ": ", has.status().message());
    log::Warning("ensure: ", image->last_error);
    return;
  }
  log::Info("ensure: ", image->image, what, " is missing; pulling it");
  absl::Time start = absl::Now();
  absl::Status pulled = options_.backend->Pull(image->image, server.pull_timeout);
  if (pulled.ok()) {
    image->present = true;
    log::Info("ensure: pulled ", image->image, what, " in ", absl::FormatDuration(absl::Now() - start));
    return;
  }
  image->last_error = absl::StrCat("cannot pull ", image->image, what, ": ", pulled.message());
  log::Warning("ensure: ", image->last_error, "; retrying");
}

}  // namespace crimirror::node
