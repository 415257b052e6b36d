// libFuzzer target: the relay's handling of a manifest response. cri-mirror
// has no media-type logic of its own (the relay forwards containerd's Accept
// values and passes the upstream's Content-Type through untouched), so this
// fuzzes what the relay does inspect in a manifest answer: EndpointWalk with
// an upstream whose status, headers (Content-Length, Docker-Content-Digest,
// Content-Type...), body and read sizes come from the input, for GET and
// HEAD, by tag and by digest, with a healthy second endpoint behind it.
// Input: byte 0 flags, byte 1 status index, byte 2 read size, then header
// lines "Name: value" up to an empty line, then the body.
// Never a crash or hang; a manifest GET that succeeds returned a body within
// the size limit and its Content-Length, whose digest the relay states
// correctly (and which matches the requested digest).
// Seeds: relay/fuzz_corpus/fuzz_manifest/.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "relay/digest_verifier.h"
#include "relay/endpoint_health.h"
#include "relay/endpoint_walk.h"
#include "relay/http_headers.h"
#include "relay/session_store.h"
#include "relay/upstream.h"

namespace {

using namespace crimirror::relay;  // NOLINT: a fuzz driver, one namespace used

constexpr char kFuzzed[] = "https://a.test:5000";
constexpr char kHealthy[] = "https://b.test:5000";
constexpr std::size_t kMaxManifest = 4096;
constexpr int kStatuses[] = {200, 206, 201, 204, 301, 304, 400, 401, 403, 404, 416, 429, 500, 503};

struct Reply {
  int status = 200;
  Headers headers;
  std::string body;
  std::size_t read_size = 1;
};

class Response : public UpstreamResponse {
 public:
  explicit Response(Reply reply) : reply_(std::move(reply)) {}
  int status() const override { return reply_.status; }
  const Headers& headers() const override { return reply_.headers; }
  // As CurlUpstream: the first Content-Length that is a number.
  std::optional<std::size_t> content_length() const override {
    std::optional<std::string> value = FirstHeaderValue(reply_.headers, "content-length");
    std::uint64_t length = 0;
    if (!value || !absl::SimpleAtoi(*value, &length)) return std::nullopt;
    return static_cast<std::size_t>(length);
  }
  absl::StatusOr<std::size_t> Read(char* buf, std::size_t max) override {
    const std::size_t n = std::min({max, reply_.read_size, reply_.body.size() - pos_});
    std::memcpy(buf, reply_.body.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  Reply reply_;
  std::size_t pos_ = 0;
};

class FuzzUpstream : public Upstream {
 public:
  FuzzUpstream(Reply fuzzed, Reply healthy)
      : fuzzed_(std::move(fuzzed)), healthy_(std::move(healthy)) {}
  absl::StatusOr<UpstreamResponsePtr> Open(const UpstreamRequest& request) override {
    const bool first = request.url.rfind(kFuzzed, 0) == 0;
    return std::make_unique<Response>(first ? fuzzed_ : healthy_);
  }

 private:
  Reply fuzzed_;
  Reply healthy_;
};

Reply ParseReply(std::string_view input) {
  Reply reply;
  if (input.size() < 2) return reply;
  reply.status = kStatuses[static_cast<unsigned char>(input[0]) % std::size(kStatuses)];
  reply.read_size = 1 + static_cast<unsigned char>(input[1]) * 64;
  input.remove_prefix(2);
  const std::size_t end = input.find("\n\n");
  const std::string_view head = input.substr(0, end);
  reply.body = end == std::string_view::npos ? "" : std::string(input.substr(end + 2));
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(head.data(), head.size()), '\n', absl::SkipEmpty())) {
    const std::size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    reply.headers.emplace_back(std::string(line.substr(0, colon)),
                               std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  }
  return reply;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const unsigned flags = static_cast<unsigned char>(input[0]);
  const bool head = flags & 1;
  const bool by_digest = flags & 2;
  const bool healthy_second = flags & 4;
  const bool digest_of_body = flags & 8;  // else a digest no body can match
  Reply fuzzed = ParseReply(input.substr(1));

  const std::string good_body = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]})";
  Reply healthy;
  healthy.status = healthy_second ? 200 : 404;
  healthy.body = good_body;
  healthy.read_size = 4096;
  healthy.headers = {{"Content-Type", "application/vnd.oci.image.index.v1+json"},
                     {"Content-Length", std::to_string(good_body.size())}};

  Route route;
  route.kind = RouteKind::kManifest;
  route.name = "docker.io/library/nginx";
  route.ref_is_digest = by_digest;
  route.ref = !by_digest       ? "1.25"
              : digest_of_body ? DigestVerifier::Sha256(fuzzed.body)
                               : "sha256:" + std::string(64, '0');

  crimirror::resolver::EndpointPlan plan;
  plan.reference = {"docker.io", "library/nginx", "1.25", ""};
  for (const char* base : {kFuzzed, kHealthy}) {
    crimirror::resolver::Endpoint endpoint;
    endpoint.base_url = base;
    endpoint.host = std::string(base).substr(std::strlen("https://"));
    endpoint.repository = "library/nginx";
    plan.endpoints.push_back(endpoint);
  }
  SessionState session("fuzz", plan, std::nullopt, absl::InfiniteFuture());
  EndpointHealth health(EndpointHealth::Options{});
  FuzzUpstream upstream(std::move(fuzzed), std::move(healthy));
  WalkLimits limits;
  limits.max_manifest_bytes = kMaxManifest;
  EndpointWalk walk(&upstream, &health, limits);

  FetchRequest request{route, head, {{"Accept", "application/vnd.oci.image.index.v1+json"}}};
  absl::StatusOr<Fetched> fetched = walk.Fetch(session, request);
  if (!fetched.ok()) return 0;
  if (fetched->response->status() != 200) std::abort();
  if (head) {
    if (fetched->manifest_body) std::abort();
    return 0;
  }
  if (!fetched->manifest_body || fetched->manifest_body->size() > kMaxManifest) std::abort();
  const std::string& body = *fetched->manifest_body;
  std::optional<std::size_t> length = fetched->response->content_length();
  if (length && *length != body.size()) std::abort();
  if (!fetched->computed_digest || *fetched->computed_digest != DigestVerifier::Sha256(body)) {
    std::abort();
  }
  if (by_digest && *fetched->computed_digest != route.ref) std::abort();
  return 0;
}
