#include "plugin/mirror_pull_ingest.h"

#include <algorithm>
#include <string_view>

#include <grpcpp/generic/generic_stub.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "log/log.h"
#include "relay/route.h"

namespace crimirror::plugin::mirror_pull_internal {
namespace {

// proto/ carries no containerd content API; AbortRequest is a single string
// field (`string ref = 1;`), so it is encoded here by hand.
constexpr char kAbortMethod[] = "/containerd.services.content.v1.Content/Abort";
constexpr std::string_view kBlobRequest = "GET blobs/";
constexpr absl::Duration kAbortTimeout = absl::Seconds(5);
constexpr std::string_view kExpected = "expected ";

void AddOnce(std::vector<std::string>* values, std::string value) {
  if (std::find(values->begin(), values->end(), value) == values->end()) {
    values->push_back(std::move(value));
  }
}

std::string EncodeAbortRequest(const std::string& ref) {
  std::string out = "\x0a";  // field 1, wire type 2 (length-delimited)
  for (std::size_t n = ref.size(); ; n >>= 7) {
    if (n < 0x80) {
      out.push_back(static_cast<char>(n));
      break;
    }
    out.push_back(static_cast<char>((n & 0x7f) | 0x80));
  }
  return out + ref;
}

grpc::Status Abort(grpc::GenericStub& stub, const std::string& ns, const std::string& ref,
                   absl::Time deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(std::min(deadline, absl::Now() + kAbortTimeout)));
  context.AddMetadata("containerd-namespace", ns);
  std::string bytes = EncodeAbortRequest(ref);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, kAbortMethod, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  return status;
}

}  // namespace

std::vector<std::string> RejectedBlobDigests(std::string_view message) {
  std::vector<std::string> digests;
  for (std::size_t at = message.find(kExpected); at != std::string_view::npos;
       at = message.find(kExpected, at + 1)) {
    std::string_view rest = message.substr(at + kExpected.size());
    std::string_view digest = rest.substr(0, rest.find_first_of(" ,:\"", rest.find(':') + 1));
    if (!relay::IsSupportedDigest(digest)) continue;
    AddOnce(&digests, std::string(digest));
  }
  return digests;
}

std::vector<std::string> PoisonedIngestRefs(const std::vector<relay::Attempt>& attempts,
                                            const std::vector<std::string>& excluded,
                                            const std::vector<std::string>& rejected_digests) {
  std::vector<std::string> digests = rejected_digests;
  for (const relay::Attempt& attempt : attempts) {
    if (std::find(excluded.begin(), excluded.end(), attempt.base_url) == excluded.end()) continue;
    if (!attempt.request.starts_with(kBlobRequest)) continue;
    AddOnce(&digests, attempt.request.substr(kBlobRequest.size()));
  }
  std::vector<std::string> refs;
  for (const std::string& digest : digests) {
    for (const char* kind : {"layer-", "config-"}) AddOnce(&refs, absl::StrCat(kind, digest));
  }
  return refs;
}

void AbortIngests(const std::shared_ptr<grpc::Channel>& channel, const std::string& ns,
                  const std::vector<std::string>& refs, absl::Time deadline) {
  grpc::GenericStub stub(channel);
  for (const std::string& ref : refs) {
    grpc::Status status = Abort(stub, ns, ref, deadline);
    if (status.ok()) {
      log::Info("aborted containerd ingest ", ref, " (bytes that failed verification)");
    } else if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
      // containerd may already have dropped it after the failed commit.
      log::Info("no containerd ingest ", ref, " left to abort (bytes that failed verification)");
    } else {
      log::Warning("cannot abort containerd ingest ", ref, ": ", status.error_message());
    }
  }
}

}  // namespace crimirror::plugin::mirror_pull_internal
