#include "plugin/backend_channel.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace crimirror::plugin {
namespace {

constexpr std::string_view kUnixScheme = "unix://";
constexpr int kMaxMessageBytes = 64 << 20;

}  // namespace

absl::Status ValidateUnixTarget(const std::string& flag_name, const std::string& target) {
  if (!target.starts_with(kUnixScheme) || target.size() <= kUnixScheme.size() ||
      target[kUnixScheme.size()] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        flag_name, ": \"", target,
        "\" is not a unix socket URL; use unix:///absolute/path/to.sock"));
  }
  return absl::OkStatus();
}

std::string UnixSocketPath(const std::string& target) {
  return std::string(target.substr(kUnixScheme.size()));
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateBackendChannel(const std::string& target) {
  if (absl::Status s = ValidateUnixTarget("backend", target); !s.ok()) return s;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  // Several cri-mirror channels to one containerd must not share a
  // subchannel pool with unrelated test channels in the same process.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Messages are relayed opaque, so the backend hop needs no compression,
  // census, message-size or client deadline filters: the deadline still
  // travels as grpc-timeout and the kubelet's cancellation still cancels.
  args.SetInt(GRPC_ARG_MINIMAL_STACK, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

}  // namespace crimirror::plugin
