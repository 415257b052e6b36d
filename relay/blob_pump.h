// BlobPump: the body of one blob response to containerd, pumped from the
// endpoint walk's winning upstream response, and resumed from another
// endpoint when that transfer breaks (issue 10, "Range resume in the relay").
//
// A reset, a body shorter than its Content-Length or a stall (no bytes for
// `stall_timeout`) does not end containerd's response: the pump asks the
// next endpoint of the plan for `Range: bytes=<sent>-[<last>]` and goes on
// writing the same response. Like containerd's httpReadSeeker
// (core/remotes/docker/httpreadseeker.go), Accept-Ranges is never trusted:
// a 206 must start at the byte asked for and carry the same total length; a
// 200 of the blob's full length is read past the bytes already sent. The
// endpoint that broke the blob is demoted for the rest of the pull
// (SessionState::DemoteEndpoint). containerd still checks the digest of
// the whole blob.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "relay/endpoint_health.h"
#include "relay/endpoint_walk.h"
#include "relay/session_store.h"

namespace crimirror::relay {

// `Content-Range: bytes <first>-<last>/<total or *>` of a 206 answer.
struct ContentRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::optional<std::uint64_t> total;  // nullopt for "*"
};
// nullopt unless `value` is exactly that form with first <= last < total.
std::optional<ContentRange> ParseContentRange(std::string_view value);

// Where to resume a broken blob from.
struct BlobResume {
  // Opens the resumed request on one endpoint; nullptr: never resume.
  // Must outlive the pump.
  const EndpointWalk* walk = nullptr;
  // The client's request; its Range header is replaced on resume.
  FetchRequest request;
  // Give up after this many resume rounds in a row that delivered no byte
  // (each round tries every endpoint of the plan once).
  int max_rounds_without_progress = 3;
};

// Copies a blob body to the client in the caller's buffer, one chunk at a
// time (see the streaming comment in relay_server.cc), checking it against
// its Content-Length. Blob bytes are not hashed here: containerd hashes
// every blob before committing it and refuses a mismatch, so a second
// SHA-256 in the relay would only cost CPU (about half of the relay's,
// cri-mirror-bench --only pull). Instead a full (200) response records its
// endpoint as the blob's source in the session, so that when containerd
// rejects the digest, cri-mirror knows which endpoint to exclude before it
// retries. Not thread-safe; one per response.
class BlobPump {
 public:
  // `session` and `health` record mid-body failures; `health` must outlive
  // the pump. `digest` is the requested blob digest, recorded as served by
  // this endpoint (SessionState::RecordBlobSource); nullopt for ranged
  // responses, which are slices. `resume` enables resuming (needs a
  // session, and a parseable Content-Range on a 206).
  BlobPump(Fetched fetched, SessionStatePtr session, EndpointHealth* health,
           std::string request_description, std::optional<std::string> digest,
           BlobResume resume = {});

  // Fills up to `max` bytes of `buf`. Returns the count, 0 at the clean end
  // of the body, or an error (the connection must then be aborted): the
  // upstream read error, or DataLoss for a body shorter or longer than its
  // Content-Length, each after resuming failed on every endpoint (the
  // message then says why for each). Blocks on the upstream (and on
  // Upstream::Open while resuming).
  absl::StatusOr<std::size_t> Fill(char* buf, std::size_t max);

  // Bytes handed out so far.
  std::uint64_t delivered() const { return delivered_; }
  // Times the transfer moved to another upstream response.
  int resumes() const { return resumes_; }
  // The response being pumped (for its headers: the first one until a
  // resume replaces it).
  const Fetched& fetched() const { return fetched_; }

 private:
  absl::StatusOr<std::size_t> ReadCurrent(char* buf, std::size_t max);
  absl::Status CheckEnd();
  void RecordFailure(const absl::Status& status);
  absl::Status Resume(const absl::Status& failure);
  absl::Status Adopt(Fetched candidate, std::uint64_t offset, std::optional<std::uint64_t> last);

  Fetched fetched_;
  SessionStatePtr session_;
  EndpointHealth* health_;
  std::string request_description_;
  BlobResume resume_;
  bool resumable_ = false;
  // Blob offset of the first byte of the response to the client (a 206's
  // Content-Range start, else 0) and the blob's whole length when known.
  std::uint64_t first_ = 0;
  std::optional<std::uint64_t> total_;
  std::optional<std::uint64_t> expected_length_;
  std::uint64_t delivered_ = 0;
  // Bytes of the current upstream response to drop (a 200 to a Range).
  std::uint64_t skip_ = 0;
  int rounds_without_progress_ = 0;
  int resumes_ = 0;
};

}  // namespace crimirror::relay
