// Copyright cri-mirror authors.
#include "tests/integration/testbed/image_builder.h"

#include <openssl/evp.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "tests/integration/testbed/process.h"
#include "tests/integration/testbed/temp_dir.h"

namespace crimirror::testbed {
namespace {

using nlohmann::json;

constexpr char kRefNameAnnotation[] = "org.opencontainers.image.ref.name";

std::string RandomBytes(uint64_t size, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(size, '\0');
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    uint64_t v = rng();
    std::memcpy(&out[i], &v, 8);
  }
  for (; i < size; ++i) out[i] = static_cast<char>(rng() & 0xFF);
  return out;
}

std::string PlatformString(const Platform& p) {
  return p.variant.empty()
             ? absl::StrCat(p.os, "/", p.architecture)
             : absl::StrCat(p.os, "/", p.architecture, "/", p.variant);
}

json PlatformJson(const Platform& p) {
  json j = {{"os", p.os}, {"architecture", p.architecture}};
  if (!p.variant.empty()) j["variant"] = p.variant;
  return j;
}

json Descriptor(absl::string_view media_type, const std::string& digest,
                uint64_t size) {
  return {{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

// The uncompressed tar of layer `index` of an image.
std::string LayerTar(const ImageOptions& options, size_t index) {
  std::map<std::string, std::string> files;
  files[absl::StrCat("cri-mirror-layer-", index, ".txt")] =
      absl::StrCat("cri-mirror test layer ", index, " seed ", options.seed,
                   " platform ", PlatformString(options.platform), "\n");
  uint64_t size = options.layer_sizes[index];
  if (size > 0) {
    files[absl::StrCat("cri-mirror-data-", index, ".bin")] =
        RandomBytes(size, options.seed * 1000003 + index);
  }
  return MakeTar(files);
}

// The image config's "config": Entrypoint/Cmd as given, or a Cmd naming
// the text file of layer 0 (no image of the bed ran before ImageOptions had
// a program to run).
json ProcessConfig(const ImageOptions& options) {
  json process = json::object();
  if (!options.entrypoint.empty()) process["Entrypoint"] = options.entrypoint;
  if (!options.cmd.empty()) process["Cmd"] = options.cmd;
  if (process.empty()) process["Cmd"] = {"/cri-mirror-layer-0.txt"};
  return process;
}

// skopeo flags for one side ("dest" or "src" prefix; empty for inspect).
std::vector<std::string> SkopeoTlsFlags(const std::string& prefix,
                                        const PushOptions& o) {
  std::vector<std::string> flags;
  std::string p = prefix.empty() ? "--" : absl::StrCat("--", prefix, "-");
  flags.push_back(
      absl::StrCat(p, "tls-verify=", o.tls_verify ? "true" : "false"));
  if (!o.cert_dir.empty())
    flags.push_back(absl::StrCat(p, "cert-dir=", o.cert_dir));
  if (!o.registry_token.empty()) {
    flags.push_back(absl::StrCat(p, "registry-token=", o.registry_token));
  } else if (o.credentials.has_value()) {
    flags.push_back(absl::StrCat(p, "creds=", o.credentials->username, ":",
                                 o.credentials->password));
  } else {
    flags.push_back(absl::StrCat(p, "no-creds"));
  }
  return flags;
}

// skopeo must not read the developer's auth.json or policy; no proxies.
std::map<std::string, std::string> SkopeoEnv(const std::string& scratch) {
  return {{"REGISTRY_AUTH_FILE", scratch + "/no-auth.json"},
          {"HTTP_PROXY", ""},
          {"HTTPS_PROXY", ""},
          {"http_proxy", ""},
          {"https_proxy", ""},
          {"NO_PROXY", "*"}};
}

}  // namespace

std::string Sha256Digest(absl::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  std::string out = "sha256:";
  for (unsigned i = 0; i < len; ++i) absl::StrAppendFormat(&out, "%02x", md[i]);
  return out;
}

std::vector<ImageOptions> DefaultMultiPlatform(uint64_t seed) {
  ImageOptions amd64;
  amd64.seed = seed;
  amd64.platform = {"linux", "amd64", ""};
  ImageOptions arm64;
  arm64.seed = seed + 1;
  arm64.platform = {"linux", "arm64", "v8"};
  return {amd64, arm64};
}

absl::StatusOr<std::unique_ptr<ImageBuilder>> ImageBuilder::Create(
    const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir + "/blobs/sha256", ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create OCI layout ", dir, ": ", ec.message()));
  }
  absl::Status s =
      WriteFile(dir + "/oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
  if (s.ok())
    s = WriteFile(dir + "/index.json", R"({"schemaVersion":2,"manifests":[]})");
  if (!s.ok()) return s;
  return std::unique_ptr<ImageBuilder>(new ImageBuilder(dir));
}

std::string ImageBuilder::BlobPath(absl::string_view digest) const {
  return absl::StrCat(dir_, "/blobs/sha256/",
                      absl::StripPrefix(digest, "sha256:"));
}

absl::StatusOr<std::string> ImageBuilder::WriteBlob(absl::string_view bytes) {
  std::string digest = Sha256Digest(bytes);
  absl::Status s = WriteFile(BlobPath(digest), bytes);
  if (!s.ok()) return s;
  return digest;
}

absl::Status ImageBuilder::AddLayer(const std::string& tar, BuiltImage& built) {
  std::string gz = GzipStored(tar);
  absl::StatusOr<std::string> digest = WriteBlob(gz);
  if (!digest.ok()) return digest.status();
  built.diff_ids.push_back(Sha256Digest(tar));
  built.layer_digests.push_back(*digest);
  built.layer_sizes.push_back(gz.size());
  return absl::OkStatus();
}

absl::StatusOr<BuiltImage> ImageBuilder::BuildManifest(
    const ImageOptions& options) {
  BuiltImage built;
  built.platform = options.platform;
  for (size_t i = 0; i < options.layer_sizes.size(); ++i) {
    absl::Status added = AddLayer(LayerTar(options, i), built);
    if (!added.ok()) return added;
  }
  if (!options.files.empty()) {
    absl::Status added = AddLayer(MakeTar(options.files), built);
    if (!added.ok()) return added;
  }
  json layers = json::array();
  for (size_t i = 0; i < built.layer_digests.size(); ++i) {
    layers.push_back(Descriptor(kOciLayerGzipMediaType, built.layer_digests[i],
                                built.layer_sizes[i]));
  }
  json config = {
      {"created", "1970-01-01T00:00:00Z"},
      {"architecture", options.platform.architecture},
      {"os", options.platform.os},
      {"config", ProcessConfig(options)},
      {"rootfs", {{"type", "layers"}, {"diff_ids", built.diff_ids}}}};
  if (!options.platform.variant.empty())
    config["variant"] = options.platform.variant;
  std::string config_bytes = config.dump();
  absl::StatusOr<std::string> config_digest = WriteBlob(config_bytes);
  if (!config_digest.ok()) return config_digest.status();
  built.config_digest = *config_digest;
  json manifest = {{"schemaVersion", 2},
                   {"mediaType", kOciManifestMediaType},
                   {"config", Descriptor(kOciConfigMediaType, *config_digest,
                                         config_bytes.size())},
                   {"layers", layers}};
  std::string manifest_bytes = manifest.dump();
  absl::StatusOr<std::string> manifest_digest = WriteBlob(manifest_bytes);
  if (!manifest_digest.ok()) return manifest_digest.status();
  built.manifest_digest = *manifest_digest;
  built.manifest_size = manifest_bytes.size();
  return built;
}

absl::Status ImageBuilder::Tag(absl::string_view tag,
                               absl::string_view media_type,
                               const std::string& digest, uint64_t size) {
  tags_[std::string(tag)] = Entry{std::string(media_type), digest, size};
  json manifests = json::array();
  for (const auto& [name, entry] : tags_) {
    json d = Descriptor(entry.media_type, entry.digest, entry.size);
    d["annotations"] = {{kRefNameAnnotation, name}};
    manifests.push_back(d);
  }
  json index = {{"schemaVersion", 2}, {"manifests", manifests}};
  return WriteFile(dir_ + "/index.json", index.dump());
}

absl::StatusOr<BuiltImage> ImageBuilder::BuildImage(
    absl::string_view tag, const ImageOptions& options) {
  absl::StatusOr<BuiltImage> built = BuildManifest(options);
  if (!built.ok()) return built.status();
  absl::Status s = Tag(tag, kOciManifestMediaType, built->manifest_digest,
                       built->manifest_size);
  if (!s.ok()) return s;
  return built;
}

absl::StatusOr<BuiltIndex> ImageBuilder::BuildIndex(
    absl::string_view tag, const std::vector<ImageOptions>& images) {
  BuiltIndex built;
  json manifests = json::array();
  for (const ImageOptions& options : images) {
    absl::StatusOr<BuiltImage> image = BuildManifest(options);
    if (!image.ok()) return image.status();
    json d = Descriptor(kOciManifestMediaType, image->manifest_digest,
                        image->manifest_size);
    d["platform"] = PlatformJson(options.platform);
    manifests.push_back(d);
    built.manifests.push_back(*std::move(image));
  }
  json index = {{"schemaVersion", 2},
                {"mediaType", kOciIndexMediaType},
                {"manifests", manifests}};
  std::string bytes = index.dump();
  absl::StatusOr<std::string> digest = WriteBlob(bytes);
  if (!digest.ok()) return digest.status();
  built.index_digest = *digest;
  built.index_size = bytes.size();
  absl::Status s = Tag(tag, kOciIndexMediaType, *digest, bytes.size());
  if (!s.ok()) return s;
  return built;
}

absl::StatusOr<std::string> ImageBuilder::Push(absl::string_view tag,
                                               const std::string& destination,
                                               const PushOptions& options) {
  auto it = tags_.find(tag);
  if (it == tags_.end()) {
    return absl::NotFoundError(absl::StrCat("no image tagged '", tag,
                                            "' in OCI layout ", dir_,
                                            "; build it first"));
  }
  std::vector<std::string> argv = {
      "skopeo",        "copy", "--insecure-policy", "--preserve-digests",
      "--retry-times", "0"};
  if (it->second.media_type == kOciIndexMediaType) argv.push_back("--all");
  for (auto& f : SkopeoTlsFlags("dest", options)) argv.push_back(std::move(f));
  argv.push_back(absl::StrCat("oci:", dir_, ":", tag));
  argv.push_back(absl::StrCat("docker://", destination));
  std::string log = absl::StrCat(dir_, "/skopeo-push-", ++push_count_);
  absl::StatusOr<std::string> out =
      RunCommandOk(argv, log, options.timeout, SkopeoEnv(dir_));
  if (!out.ok()) {
    return absl::Status(out.status().code(),
                        absl::StrCat("push of ", tag, " to ", destination,
                                     " failed: ", out.status().message()));
  }
  absl::StatusOr<std::string> served =
      RegistryDigest(destination, log + "-inspect", options);
  if (!served.ok()) return served.status();
  if (*served != it->second.digest) {
    return absl::DataLossError(absl::StrCat(
        destination, " serves ", *served, " but the built image is ",
        it->second.digest, "; skopeo converted the manifest?"));
  }
  return *served;
}

absl::StatusOr<std::string> RegistryDigest(const std::string& reference,
                                           const std::string& log_prefix,
                                           const PushOptions& options) {
  std::vector<std::string> argv = {"skopeo", "inspect", "--raw",
                                   "--retry-times", "0"};
  for (auto& f : SkopeoTlsFlags("", options)) argv.push_back(std::move(f));
  argv.push_back(absl::StrCat("docker://", reference));
  std::string scratch =
      std::filesystem::path(log_prefix).parent_path().string();
  absl::StatusOr<std::string> raw =
      RunCommandOk(argv, log_prefix, options.timeout, SkopeoEnv(scratch));
  if (!raw.ok()) return raw.status();
  return Sha256Digest(*raw);
}

}  // namespace crimirror::testbed
