#include "relay/blob_pump.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "log/log.h"
#include "metrics/metrics.h"
#include "relay/http_headers.h"

namespace crimirror::relay {
namespace {

std::string Reason(const absl::Status& status) {
  return absl::StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
}

// "bytes=<offset>-" or "bytes=<offset>-<last>".
Headers WithRange(const Headers& headers, std::uint64_t offset, std::optional<std::uint64_t> last) {
  Headers out;
  for (const auto& header : headers) {
    if (!absl::EqualsIgnoreCase(header.first, "Range")) out.push_back(header);
  }
  out.emplace_back("Range", absl::StrCat("bytes=", offset, "-", last ? absl::StrCat(*last) : ""));
  return out;
}

// The plan's endpoints the blob may come from, in plan order with the
// demoted ones (the one that just broke the blob among them) last; those in
// back-off after a connection failure are left out unless all are, as in
// EndpointWalk::Fetch: a host that just reset is not asked again at once.
std::vector<const resolver::Endpoint*> ResumeOrder(const SessionState& session,
                                                   const EndpointHealth& health) {
  std::vector<const resolver::Endpoint*> healthy;
  std::vector<const resolver::Endpoint*> all;
  for (const resolver::Endpoint& endpoint : session.plan().endpoints) {
    if (session.IsExcluded(endpoint.base_url)) continue;
    all.push_back(&endpoint);
    if (!health.IsBackedOff(endpoint.host)) healthy.push_back(&endpoint);
  }
  std::vector<const resolver::Endpoint*> out = healthy.empty() ? all : healthy;
  std::stable_partition(out.begin(), out.end(), [&session](const resolver::Endpoint* e) {
    return !session.IsDemoted(e->base_url);
  });
  return out;
}

}  // namespace

std::optional<ContentRange> ParseContentRange(std::string_view value) {
  absl::string_view rest = AsAbsl(value);
  if (!absl::ConsumePrefix(&rest, "bytes ")) return std::nullopt;
  std::vector<absl::string_view> range_total = absl::StrSplit(rest, '/');
  if (range_total.size() != 2) return std::nullopt;
  std::vector<absl::string_view> first_last = absl::StrSplit(range_total[0], '-');
  ContentRange out;
  if (first_last.size() != 2 || !absl::SimpleAtoi(first_last[0], &out.first) ||
      !absl::SimpleAtoi(first_last[1], &out.last) || out.first > out.last) {
    return std::nullopt;
  }
  if (range_total[1] != "*") {
    std::uint64_t total = 0;
    if (!absl::SimpleAtoi(range_total[1], &total) || out.last >= total) return std::nullopt;
    out.total = total;
  }
  return out;
}

BlobPump::BlobPump(Fetched fetched, SessionStatePtr session, EndpointHealth* health,
                   std::string request_description, std::optional<std::string> digest,
                   BlobResume resume)
    : fetched_(std::move(fetched)),
      session_(std::move(session)),
      health_(health),
      request_description_(std::move(request_description)),
      resume_(std::move(resume)) {
  if (std::optional<std::size_t> length = fetched_.response->content_length()) {
    expected_length_ = *length;
  }
  resumable_ = resume_.walk != nullptr && session_ != nullptr;
  if (fetched_.response->status() == 200) {
    total_ = expected_length_;
  } else {
    std::optional<std::string> header =
        FirstHeaderValue(fetched_.response->headers(), "Content-Range");
    std::optional<ContentRange> range = header ? ParseContentRange(*header) : std::nullopt;
    if (range) {
      first_ = range->first;
      total_ = range->total;
      if (!expected_length_) expected_length_ = range->last - range->first + 1;
    }
    resumable_ = resumable_ && range && *expected_length_ == range->last - range->first + 1;
  }
  if (session_) session_->RecordBlobServed(fetched_.endpoint.base_url);
  if (digest && session_ && fetched_.response->status() == 200) {
    session_->RecordBlobSource(*std::move(digest), fetched_.endpoint.base_url);
  }
}

absl::StatusOr<std::size_t> BlobPump::Fill(char* buf, std::size_t max) {
  while (true) {
    std::size_t want = max;
    if (expected_length_) {
      want =
          static_cast<std::size_t>(std::min<std::uint64_t>(want, *expected_length_ - delivered_));
      if (want == 0) return 0;  // everything delivered
    }
    absl::StatusOr<std::size_t> n = ReadCurrent(buf, want);
    absl::Status failure;
    if (!n.ok()) {
      failure = absl::Status(n.status().code(), absl::StrCat("reading body: ", Reason(n.status())));
    } else if (*n == 0) {
      failure = CheckEnd();
      if (failure.ok()) return 0;
    } else {
      const std::size_t got = std::min(*n, want);
      delivered_ += got;
      static metrics::Family& bytes = metrics::Registry::Default().Counter(
          "cri_mirror_relayed_bytes_total", "Blob bytes relayed to containerd, by endpoint.",
          {"endpoint"});
      bytes.Add({fetched_.endpoint.base_url}, static_cast<double>(got));
      if (session_) session_->AddServedBytes(fetched_.endpoint.base_url, got);
      rounds_without_progress_ = 0;
      return got;
    }
    RecordFailure(failure);
    if (absl::Status resumed = Resume(failure); !resumed.ok()) {
      return absl::Status(failure.code(), absl::StrCat(failure.message(), "; ", resumed.message()));
    }
  }
}

// Drops the bytes already sent when a resumed request got a 200.
absl::StatusOr<std::size_t> BlobPump::ReadCurrent(char* buf, std::size_t max) {
  while (skip_ > 0) {
    const auto drop = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, max));
    absl::StatusOr<std::size_t> n = fetched_.response->Read(buf, drop);
    if (!n.ok()) return n;
    if (*n == 0) {
      return absl::DataLossError(
          absl::StrCat("body ended ", skip_, " bytes before the resume offset"));
    }
    skip_ -= std::min<std::uint64_t>(*n, skip_);
  }
  return fetched_.response->Read(buf, max);
}

absl::Status BlobPump::CheckEnd() {
  if (expected_length_ && delivered_ < *expected_length_) {
    return absl::DataLossError(
        absl::StrCat("body ended after ", delivered_, " of ", *expected_length_, " bytes"));
  }
  return absl::OkStatus();
}

void BlobPump::RecordFailure(const absl::Status& status) {
  if (EndpointHealth::IsConnectionFailure(status)) health_->RecordFailure(fetched_.endpoint.host);
  if (session_) {
    session_->RecordAttempt(
        Attempt{fetched_.endpoint.base_url, request_description_, std::string(status.message())});
  }
}

// One round: every endpoint that may have the blob, in ResumeOrder, until
// one answers the Range request acceptably (Adopt). containerd's
// httpReadSeeker likewise gives up after a few reopenings without progress.
absl::Status BlobPump::Resume(const absl::Status& failure) {
  if (!resumable_) return absl::FailedPreconditionError("not resumable");
  if (rounds_without_progress_ >= resume_.max_rounds_without_progress) {
    return absl::ResourceExhaustedError(absl::StrCat("gave up after ", rounds_without_progress_,
                                                     " resume rounds without progress"));
  }
  ++rounds_without_progress_;
  const std::string broken = fetched_.endpoint.base_url;
  session_->DemoteEndpoint(broken);
  const std::uint64_t offset = first_ + delivered_;
  std::optional<std::uint64_t> last;
  if (expected_length_) last = first_ + *expected_length_ - 1;
  FetchRequest request = resume_.request;
  request.forward_headers = WithRange(request.forward_headers, offset, last);
  const std::string what = absl::StrCat(request_description_, " from byte ", offset);
  std::vector<std::string> reasons;
  for (const resolver::Endpoint* endpoint : ResumeOrder(*session_, *health_)) {
    absl::StatusOr<Fetched> opened = resume_.walk->FetchFrom(*session_, request, *endpoint);
    absl::Status adopted = opened.ok() ? Adopt(*std::move(opened), offset, last) : opened.status();
    if (adopted.ok()) {
      ++resumes_;
      log::Warning("relay: session ", session_->id(), ": ", request_description_, " from ", broken,
                   " broke after ", offset, " bytes (", failure.message(), "); resumed from ",
                   endpoint->base_url, " at byte ", offset);
      return absl::OkStatus();
    }
    reasons.push_back(absl::StrCat(endpoint->base_url, ": ", adopted.message()));
    session_->RecordAttempt(Attempt{endpoint->base_url, what, std::string(adopted.message())});
  }
  return absl::UnavailableError(
      absl::StrCat("resuming at byte ", offset, " failed: ", absl::StrJoin(reasons, "; ")));
}

// Never trusts Accept-Ranges: checks what the answer says it holds.
absl::Status BlobPump::Adopt(Fetched candidate, std::uint64_t offset,
                             std::optional<std::uint64_t> last) {
  const std::optional<std::size_t> length = candidate.response->content_length();
  std::uint64_t skip = 0;
  if (candidate.response->status() == 206) {
    std::optional<std::string> header =
        FirstHeaderValue(candidate.response->headers(), "Content-Range");
    std::optional<ContentRange> range = header ? ParseContentRange(*header) : std::nullopt;
    if (!range) return absl::DataLossError("HTTP 206 without a valid Content-Range");
    if (range->first != offset) {
      return absl::DataLossError(
          absl::StrCat("Content-Range starts at ", range->first, ", asked for ", offset));
    }
    if (total_ && range->total && *range->total != *total_) {
      return absl::DataLossError(
          absl::StrCat("blob length ", *range->total, " differs from ", *total_));
    }
    if ((last && range->last != *last) || (length && *length != range->last - range->first + 1)) {
      return absl::DataLossError(absl::StrCat("Content-Range ", *header, " does not end at byte ",
                                              last ? absl::StrCat(*last) : "of its length"));
    }
    if (!total_) total_ = range->total;
  } else {
    // A 200 ignored the Range: usable only when it is the whole known blob.
    if (!total_ || !length || *length != *total_) {
      return absl::DataLossError("HTTP 200 to a Range request, length unknown or different");
    }
    skip = offset;
  }
  fetched_.endpoint = std::move(candidate.endpoint);
  fetched_.response = std::move(candidate.response);
  skip_ = skip;
  return absl::OkStatus();
}

}  // namespace crimirror::relay
