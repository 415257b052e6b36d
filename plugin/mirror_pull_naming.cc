#include "plugin/mirror_pull_naming.h"

#include <algorithm>
#include <memory>
#include <string_view>
#include <thread>

#include <google/protobuf/empty.pb.h>

#include "absl/strings/str_cat.h"
#include "log/log.h"
#include "relay/route.h"

namespace crimirror::plugin::mirror_pull_internal {
namespace {

namespace images_v1 = containerd::services::images::v1;

// The label containerd's CRI plugin puts on the images it manages; records
// without it are not listed by CRI.
constexpr char kCriImageLabel[] = "io.cri-containerd.image";
constexpr char kCriImageLabelValue[] = "managed";
constexpr absl::Duration kCallTimeout = absl::Seconds(15);
// CRI usually sees a record a few milliseconds after it was made: polls
// start at 1 ms and double up to 50 ms, so a pull waits about as long as CRI
// takes; with a fixed 50 ms, a first check that came a little too early cost
// a whole 50 ms (seen as 55 ms naming outliers next to the usual 5 ms).
constexpr absl::Duration kFirstPoll = absl::Milliseconds(1);
constexpr absl::Duration kMaxPoll = absl::Milliseconds(50);

absl::Status ToAbsl(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}


// Contexts for the containerd API carry the namespace; every call has a
// bounded deadline within the pull's budget.
std::unique_ptr<grpc::ClientContext> NewContext(const NamingEnv& env, bool containerd) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(std::min(env.deadline, absl::Now() + kCallTimeout)));
  if (containerd) context->AddMetadata("containerd-namespace", env.namespace_);
  return context;
}

absl::StatusOr<images_v1::Image> GetImage(const NamingEnv& env, const std::string& name) {
  auto context = NewContext(env, true);
  images_v1::GetImageRequest request;
  request.set_name(name);
  images_v1::GetImageResponse response;
  grpc::Status status = env.images->Get(context.get(), request, &response);
  if (!status.ok()) return ToAbsl(status);
  return response.image();
}

absl::Status DeleteImage(const NamingEnv& env, const std::string& name) {
  auto context = NewContext(env, true);
  images_v1::DeleteImageRequest request;
  request.set_name(name);
  google::protobuf::Empty response;
  grpc::Status status = env.images->Delete(context.get(), request, &response);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return absl::OkStatus();
  return ToAbsl(status);
}

absl::Status UpdateImage(const NamingEnv& env, const images_v1::Image& image) {
  // No field mask: containerd then replaces target and labels.
  auto context = NewContext(env, true);
  images_v1::UpdateImageRequest request;
  *request.mutable_image() = image;
  images_v1::UpdateImageResponse response;
  return ToAbsl(env.images->Update(context.get(), request, &response));
}

// What naming changed, to undo on failure.
struct Changes {
  std::vector<std::string> created;
  std::vector<images_v1::Image> moved;  // as they were before
};

// Creates `name` pointing at `source`'s target; an existing record of that
// name is updated to the same target and its previous state kept in
// `changes` (issue 10 defect 8: a failed pull must not leave a tag moved).
absl::Status CreateOrUpdate(const NamingEnv& env, const images_v1::Image& source,
                            const std::string& name, Changes* changes) {
  images_v1::Image image;
  image.set_name(name);
  *image.mutable_labels() = source.labels();
  (*image.mutable_labels())[kCriImageLabel] = kCriImageLabelValue;
  *image.mutable_target() = source.target();
  {
    auto context = NewContext(env, true);
    images_v1::CreateImageRequest request;
    *request.mutable_image() = image;
    images_v1::CreateImageResponse response;
    grpc::Status status = env.images->Create(context.get(), request, &response);
    if (status.ok()) changes->created.push_back(name);
    if (status.error_code() != grpc::StatusCode::ALREADY_EXISTS) return ToAbsl(status);
  }
  absl::StatusOr<images_v1::Image> previous = GetImage(env, name);
  if (!previous.ok()) return previous.status();
  absl::Status updated = UpdateImage(env, image);
  if (updated.ok() && previous->target().digest() != image.target().digest()) {
    changes->moved.push_back(*std::move(previous));
  }
  return updated;
}

void Undo(const NamingEnv& env, const Changes& changes) {
  for (const std::string& name : changes.created) {
    absl::Status status = DeleteImage(env, name);
    if (!status.ok()) log::Warning("cannot delete image record ", name, ": ", status.ToString());
  }
  for (const images_v1::Image& image : changes.moved) {
    absl::Status status = UpdateImage(env, image);
    if (!status.ok()) {
      log::Warning("cannot point image record ", image.name(), " back at ",
                   image.target().digest(), ": ", status.ToString());
    }
  }
}

// Polls CRI ImageStatus until it reports an image for `name` (present) or
// none (!present). containerd's CRI plugin learns of records made through the
// images API from its event stream, asynchronously.
absl::Status WaitForCri(const NamingEnv& env, const std::string& name, bool present) {
  const absl::Time give_up = std::min(env.deadline, absl::Now() + env.visible_timeout);
  for (absl::Duration pause = kFirstPoll;; pause = std::min(pause * 2, kMaxPoll)) {
    auto context = NewContext(env, false);
    runtime::v1::ImageStatusRequest request;
    request.mutable_image()->set_image(name);
    runtime::v1::ImageStatusResponse response;
    grpc::Status status = env.cri->ImageStatus(context.get(), request, &response);
    if (status.ok() && response.has_image() == present) return absl::OkStatus();
    if (absl::Now() >= give_up) {
      return absl::DeadlineExceededError(absl::StrCat(
          "CRI ImageStatus still ", present ? "did not report " : "reported ", name, " ",
          absl::FormatDuration(env.visible_timeout), " after ",
          present ? "naming" : "deleting", " it",
          status.ok() ? "" : absl::StrCat(" (last error: ", status.error_message(), ")")));
    }
    std::this_thread::sleep_for(absl::ToChronoMicroseconds(pause));
  }
}

void DeleteAll(const NamingEnv& env, const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    absl::Status status = DeleteImage(env, name);
    if (!status.ok()) log::Warning("cannot delete image record ", name, ": ", status.ToString());
  }
}

// Whether the original name already has a record (see the caller).
bool AlreadyNamed(const NamingEnv& env, const resolver::Reference& original) {
  std::vector<std::string> names = OriginalImageNames(original, "");
  return !names.empty() && GetImage(env, names.front()).ok();
}

}  // namespace

std::vector<std::string> OriginalImageNames(const resolver::Reference& original,
                                            const std::string& target_digest) {
  std::vector<std::string> names;
  const std::string name = original.Name();
  if (!original.IsDigest()) names.push_back(absl::StrCat(name, ":", original.tag));
  const std::string& digest = original.IsDigest() ? original.digest : target_digest;
  if (!digest.empty()) names.push_back(absl::StrCat(name, "@", digest));
  return names;
}

std::vector<std::string> RelayImageNames(const std::string& relay_address,
                                         const resolver::Reference& original,
                                         const std::string& target_digest) {
  std::vector<std::string> names = {relay::RelayPullReference(relay_address, original)};
  if (!target_digest.empty()) {
    resolver::Reference by_digest = original;
    by_digest.digest = target_digest;
    std::string digest_name = relay::RelayPullReference(relay_address, by_digest);
    if (digest_name != names.front()) names.push_back(std::move(digest_name));
  }
  return names;
}

bool IsRelayRecordName(std::string_view name, std::string_view relay_address,
                       std::string_view repository) {
  if (relay_address.empty() || name.size() <= relay_address.size() + 1 ||
      name.substr(0, relay_address.size()) != relay_address || name[relay_address.size()] != '/') {
    return false;
  }
  if (repository.empty()) return true;
  std::string_view rest = name.substr(relay_address.size() + 1);
  return rest.size() > repository.size() && rest.substr(0, repository.size()) == repository &&
         (rest[repository.size()] == ':' || rest[repository.size()] == '@');
}

absl::StatusOr<int> SweepRelayRecords(const NamingEnv& env, std::string_view repository) {
  images_v1::ListImagesResponse listed;
  {
    auto context = NewContext(env, true);
    grpc::Status status = env.images->List(context.get(), images_v1::ListImagesRequest(), &listed);
    if (!status.ok()) return ToAbsl(status);
  }
  int deleted = 0;
  for (const images_v1::Image& image : listed.images()) {
    if (!IsRelayRecordName(image.name(), env.relay_address, repository)) continue;
    absl::Status status = DeleteImage(env, image.name());
    if (!status.ok()) {
      log::Warning("cannot delete relay-named image record ", image.name(), ": ",
                   status.ToString());
      continue;
    }
    log::Info("deleted relay-named image record ", image.name());
    ++deleted;
  }
  return deleted;
}

absl::Status NameUnderOriginalReference(const NamingEnv& env,
                                        const resolver::Reference& original) {
  const std::string relay_ref = relay::RelayPullReference(env.relay_address, original);
  absl::StatusOr<images_v1::Image> pulled = GetImage(env, relay_ref);
  if (absl::IsNotFound(pulled.status()) && AlreadyNamed(env, original)) {
    // A concurrent pull of the same image with another credential named it
    // and removed the relay-named records between our pull and this Get.
    return absl::OkStatus();
  }
  if (!pulled.ok()) {
    // Not only NotFound: the record may exist and must not stay behind.
    DeleteAll(env, {relay_ref});
    return absl::Status(pulled.status().code(),
                        absl::StrCat("cri-mirror: naming ", original.Canonical(),
                                     ": containerd has no image record ", relay_ref,
                                     " after the pull: ", pulled.status().message()));
  }
  const std::string& target_digest = pulled->target().digest();
  const std::vector<std::string> relay_names =
      RelayImageNames(env.relay_address, original, target_digest);
  const std::vector<std::string> names = OriginalImageNames(original, target_digest);
  Changes changes;
  absl::Status status;
  for (const std::string& name : names) {
    status = CreateOrUpdate(env, *pulled, name, &changes);
    if (!status.ok()) {
      status = absl::Status(status.code(), absl::StrCat("creating image record ", name, ": ",
                                                        status.message()));
      break;
    }
  }
  if (status.ok()) status = WaitForCri(env, names.front(), true);
  if (!status.ok()) {
    Undo(env, changes);
    DeleteAll(env, relay_names);
    return absl::Status(status.code() == absl::StatusCode::kOk ? absl::StatusCode::kInternal
                                                               : status.code(),
                        absl::StrCat("cri-mirror: naming ", original.Canonical(),
                                     " in containerd namespace ", env.namespace_,
                                     " failed: ", status.message()));
  }
  DeleteAll(env, relay_names);
  // So that ListImages right after PullImage shows only the original names.
  for (const std::string& name : relay_names) {
    absl::Status gone = WaitForCri(env, name, false);
    if (!gone.ok()) log::Warning("naming ", original.Canonical(), ": ", gone.message());
  }
  return absl::OkStatus();
}

}  // namespace crimirror::plugin::mirror_pull_internal
