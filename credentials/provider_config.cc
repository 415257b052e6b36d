// yaml-cpp reports malformed YAML by throwing; ParseProviderConfig is the
// one seam where that is caught. Everything else uses the non-throwing
// accessors (IsScalar/Scalar, convert<bool>::decode) so a wrong type is a
// validation error naming the key, never an exception.
#include "credentials/provider_config.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "credentials/go_duration.h"
#include "credentials/match_images.h"
#include "yaml-cpp/yaml.h"

namespace crimirror::credentials {
namespace {

absl::string_view A(std::string_view s) { return {s.data(), s.size()}; }

constexpr char kConfigGroup[] = "kubelet.config.k8s.io/";
constexpr char kProviderGroup[] = "credentialprovider.kubelet.k8s.io/";
constexpr char kProviderV1[] = "credentialprovider.kubelet.k8s.io/v1";

bool KnownVersion(absl::string_view api_version, absl::string_view group) {
  if (api_version.substr(0, group.size()) != group) return false;
  absl::string_view v = api_version.substr(group.size());
  return v == "v1" || v == "v1beta1" || v == "v1alpha1";
}

class ConfigParser {
 public:
  explicit ConfigParser(absl::string_view file) : file_(file) {}

  absl::StatusOr<ProviderConfig> Parse(const YAML::Node& root) {
    if (!root.IsMap()) {
      Error(root, "", "expected a CredentialProviderConfig map (kind, apiVersion, providers)");
      return Result();
    }
    Keys(root, "", {"kind", "apiVersion", "providers"});
    const std::string kind = Scalar(root, "kind", "");
    if (kind != "CredentialProviderConfig") {
      Error(root["kind"] ? root["kind"] : root, "kind",
            absl::StrCat("is \"", kind, "\"; write kind: CredentialProviderConfig"));
    }
    const std::string api_version = Scalar(root, "apiVersion", "");
    if (!KnownVersion(api_version, kConfigGroup)) {
      Error(root["apiVersion"] ? root["apiVersion"] : root, "apiVersion",
            absl::StrCat("is \"", api_version,
                         "\"; write apiVersion: kubelet.config.k8s.io/v1 (or v1beta1, v1alpha1)"));
    }
    const YAML::Node providers = root["providers"];
    if (!providers || !providers.IsSequence() || providers.size() == 0) {
      Error(providers ? providers : root, "providers",
            "at least 1 item in providers is required (a list of name, matchImages, "
            "defaultCacheDuration, apiVersion)");
      return Result();
    }
    std::set<std::string> names;
    for (std::size_t i = 0; i < providers.size(); ++i) {
      Provider(providers[i], absl::StrCat("providers[", i, "]"), names);
    }
    return Result();
  }

 private:
  absl::StatusOr<ProviderConfig> Result() {
    if (!errors_.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
    return std::move(out_);
  }

  std::string At(const YAML::Node& node) const {
    return absl::StrCat(file_, ":", node.Mark().line + 1, ":", node.Mark().column + 1);
  }
  void Error(const YAML::Node& node, absl::string_view key, absl::string_view message) {
    errors_.push_back(absl::StrCat(At(node), ": ", key.empty() ? "" : key, key.empty() ? "" : ": ",
                                   message));
  }

  // Unknown keys are errors, as in the kubelet's strict decoding.
  void Keys(const YAML::Node& map, absl::string_view path, std::vector<absl::string_view> known) {
    for (const auto& entry : map) {
      const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "?";
      if (std::find(known.begin(), known.end(), key) != known.end()) continue;
      Error(entry.first, absl::StrCat(path, path.empty() ? "" : ".", key),
            absl::StrCat("unknown key (the kubelet rejects it too); known keys: ",
                         absl::StrJoin(known, ", ")));
    }
  }

  // The string at map[key], or `fallback` when absent or null; a map or
  // list there is an error.
  std::string Scalar(const YAML::Node& map, const char* key, absl::string_view path) {
    const YAML::Node node = map[key];
    if (!node || node.IsNull()) return "";
    if (!node.IsScalar()) {
      Error(node, absl::StrCat(path, path.empty() ? "" : ".", key), "expected a string");
      return "";
    }
    return node.Scalar();
  }

  std::vector<std::string> Strings(const YAML::Node& map, const char* key, absl::string_view path) {
    std::vector<std::string> out;
    const YAML::Node node = map[key];
    if (!node || node.IsNull()) return out;
    const std::string where = absl::StrCat(path, ".", key);
    if (!node.IsSequence()) {
      Error(node, where, "expected a list of strings");
      return out;
    }
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (!node[i].IsScalar()) {
        Error(node[i], absl::StrCat(where, "[", i, "]"), "expected a string");
        continue;
      }
      out.push_back(node[i].Scalar());
    }
    return out;
  }

  void Provider(const YAML::Node& node, const std::string& path, std::set<std::string>& names) {
    if (!node.IsMap()) {
      Error(node, path, "expected a map (name, matchImages, defaultCacheDuration, apiVersion)");
      return;
    }
    Keys(node, path,
         {"name", "matchImages", "defaultCacheDuration", "apiVersion", "args", "env",
          "tokenAttributes"});
    ProviderSpec spec;
    spec.where = At(node);
    spec.name = Scalar(node, "name", path);
    Name(node, path, spec.name, names);
    spec.match_images = Strings(node, "matchImages", path);
    MatchImages(node, path, spec.match_images);
    spec.default_cache_duration = CacheDuration(node, path);
    spec.api_version = Scalar(node, "apiVersion", path);
    if (!KnownVersion(spec.api_version, kProviderGroup)) {
      Error(node["apiVersion"] ? node["apiVersion"] : node, absl::StrCat(path, ".apiVersion"),
            absl::StrCat(spec.api_version.empty() ? "is required" : "is not supported",
                         "; write credentialprovider.kubelet.k8s.io/v1 (or v1beta1, v1alpha1), "
                         "the version the plugin speaks"));
    }
    spec.args = Strings(node, "args", path);
    Env(node, path, spec);
    TokenAttributes(node, path, spec);
    out_.providers.push_back(std::move(spec));
  }

  void Name(const YAML::Node& node, const std::string& path, const std::string& name,
            std::set<std::string>& names) {
    const YAML::Node at = node["name"] ? node["name"] : node;
    const std::string key = absl::StrCat(path, ".name");
    if (name.empty()) {
      Error(at, key, "is required: the plugin's file name in provider_bin_dir");
    } else if (name.find('/') != std::string::npos) {
      Error(at, key, "cannot contain '/': give the file name in provider_bin_dir");
    } else if (name.find(' ') != std::string::npos) {
      Error(at, key, "cannot contain spaces");
    } else if (name == "." || name == "..") {
      Error(at, key, absl::StrCat("cannot be '", name, "'"));
    } else if (!names.insert(name).second) {
      Error(at, key, absl::StrCat("duplicate provider \"", name, "\"; each name once"));
    }
  }

  void MatchImages(const YAML::Node& node, const std::string& path,
                   const std::vector<std::string>& images) {
    const std::string key = absl::StrCat(path, ".matchImages");
    if (images.empty()) {
      Error(node["matchImages"] ? node["matchImages"] : node, key,
            "at least 1 item in matchImages is required (e.g. \"*.dkr.ecr.*.amazonaws.com\")");
    }
    for (std::size_t i = 0; i < images.size(); ++i) {
      if (absl::StatusOr<SchemelessUrl> url = ParseSchemelessUrl(images[i]); !url.ok()) {
        Error(node["matchImages"][i], absl::StrCat(key, "[", i, "]"),
              absl::StrCat("match image is invalid: ", url.status().message()));
      }
    }
  }

  absl::Duration CacheDuration(const YAML::Node& node, const std::string& path) {
    const std::string key = absl::StrCat(path, ".defaultCacheDuration");
    const YAML::Node at = node["defaultCacheDuration"];
    const std::string text = Scalar(node, "defaultCacheDuration", path);
    if (text.empty()) {
      Error(at ? at : node, key, "is required (e.g. \"12h\"; \"0s\" caches nothing)");
      return absl::ZeroDuration();
    }
    absl::StatusOr<absl::Duration> d = ParseGoDuration(text);
    if (!d.ok()) {
      Error(at, key, d.status().message());
      return absl::ZeroDuration();
    }
    if (*d < absl::ZeroDuration()) Error(at, key, "must be greater than or equal to 0");
    return *d;
  }

  void Env(const YAML::Node& node, const std::string& path, ProviderSpec& spec) {
    const YAML::Node env = node["env"];
    if (!env || env.IsNull()) return;
    const std::string key = absl::StrCat(path, ".env");
    if (!env.IsSequence()) {
      Error(env, key, "expected a list of {name, value}");
      return;
    }
    for (std::size_t i = 0; i < env.size(); ++i) {
      const std::string item = absl::StrCat(key, "[", i, "]");
      if (!env[i].IsMap()) {
        Error(env[i], item, "expected {name, value}");
        continue;
      }
      Keys(env[i], item, {"name", "value"});
      std::string name = Scalar(env[i], "name", item);
      if (name.empty() || name.find('=') != std::string::npos) {
        Error(env[i], absl::StrCat(item, ".name"), "is required and cannot contain '='");
        continue;
      }
      spec.env.emplace_back(std::move(name), Scalar(env[i], "value", item));
    }
  }

  void TokenAttributes(const YAML::Node& node, const std::string& path, ProviderSpec& spec) {
    const YAML::Node t = node["tokenAttributes"];
    if (!t || t.IsNull()) return;
    const std::string key = absl::StrCat(path, ".tokenAttributes");
    if (!t.IsMap()) {
      Error(t, key, "expected a map");
      return;
    }
    Keys(t, key,
         {"serviceAccountTokenAudience", "cacheType", "requireServiceAccount",
          "requiredServiceAccountAnnotationKeys", "optionalServiceAccountAnnotationKeys"});
    if (Scalar(t, "serviceAccountTokenAudience", key).empty()) {
      Error(t, absl::StrCat(key, ".serviceAccountTokenAudience"), "is required");
    }
    const std::string cache_type = Scalar(t, "cacheType", key);
    if (cache_type != "ServiceAccount" && cache_type != "Token") {
      Error(t["cacheType"] ? t["cacheType"] : t, absl::StrCat(key, ".cacheType"),
            "is required: ServiceAccount or Token");
    }
    const YAML::Node require = t["requireServiceAccount"];
    bool required = false;
    if (!require || !YAML::convert<bool>::decode(require, required)) {
      Error(require ? require : t, absl::StrCat(key, ".requireServiceAccount"),
            "is required: true or false");
    }
    spec.require_service_account = required;
    if (spec.api_version != kProviderV1) {
      Error(t, key, absl::StrCat("is only supported for apiVersion ", kProviderV1));
    }
    std::vector<std::string> req = Strings(t, "requiredServiceAccountAnnotationKeys", key);
    std::vector<std::string> opt = Strings(t, "optionalServiceAccountAnnotationKeys", key);
    if (require && !required && !req.empty()) {
      Error(t, absl::StrCat(key, ".requiredServiceAccountAnnotationKeys"),
            "requireServiceAccount cannot be false when requiredServiceAccountAnnotationKeys "
            "is set");
    }
    for (const std::string& k : req) {
      if (std::find(opt.begin(), opt.end(), k) != opt.end()) {
        Error(t, key, absl::StrCat("annotation key \"", k, "\" cannot be both required and optional"));
      }
    }
  }

  const std::string file_;
  std::vector<std::string> errors_;
  ProviderConfig out_;
};

}  // namespace

absl::StatusOr<ProviderConfig> ParseProviderConfig(std::string_view text,
                                                   std::string_view file_name_in) {
  const absl::string_view file_name = A(file_name_in);
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    return ConfigParser(file_name).Parse(root);
  } catch (const YAML::Exception& e) {
    // Never echo yaml-cpp's snippet of the file: an env value may be a secret.
    return absl::InvalidArgumentError(absl::StrCat(file_name, ":", e.mark.line + 1, ":",
                                                   e.mark.column + 1, ": YAML: ", e.msg));
  }
}

}  // namespace crimirror::credentials
