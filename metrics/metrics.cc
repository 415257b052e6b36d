#include "metrics/metrics.h"

#include <cmath>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"

namespace crimirror::metrics {
namespace {

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {
    return absl::StrCat(static_cast<std::int64_t>(v));
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

const char* TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// `{a="x",b="y"}` (with `extra` appended, e.g. le="0.5"); "" without labels.
std::string LabelText(const std::vector<std::string>& names, const Labels& values,
                      const std::string& extra = "") {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) {
    absl::StrAppend(&out, out.empty() ? "" : ",", names[i], "=\"", EscapeLabelValue(values[i]),
                    "\"");
  }
  if (!extra.empty()) absl::StrAppend(&out, out.empty() ? "" : ",", extra);
  return out.empty() ? "" : absl::StrCat("{", out, "}");
}

}  // namespace

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::vector<double> DurationBuckets() {
  return {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
}

std::string StatusClass(int http_status) {
  if (http_status < 100 || http_status > 599) return "error";
  return absl::StrCat(http_status / 100, "xx");
}

Family::Family(std::string name, std::string help, Type type,
               std::vector<std::string> label_names, std::vector<double> buckets)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      bucket_bounds_(std::move(buckets)) {}

Family::Child& Family::ChildFor(const Labels& labels) {
  Labels key = labels;
  key.resize(label_names_.size());
  auto it = children_.find(key);
  if (it != children_.end()) return it->second;
  if (children_.size() >= kMaxChildren) key.assign(label_names_.size(), "other");
  Child& child = children_[key];
  if (type_ == Type::kHistogram && child.buckets.empty()) {
    child.buckets.assign(bucket_bounds_.size(), 0);
  }
  return child;
}

void Family::Add(const Labels& labels, double v) {
  if (!(v >= 0)) return;
  absl::MutexLock lock(&mu_);
  ChildFor(labels).value += v;
}

void Family::Set(const Labels& labels, double v) {
  absl::MutexLock lock(&mu_);
  ChildFor(labels).value = v;
}

void Family::Observe(const Labels& labels, double v) {
  absl::MutexLock lock(&mu_);
  Child& child = ChildFor(labels);
  child.value += v;
  ++child.count;
  for (std::size_t i = 0; i < bucket_bounds_.size(); ++i) {
    if (v <= bucket_bounds_[i]) {
      ++child.buckets[i];
      break;
    }
  }
}

void Family::Clear() {
  absl::MutexLock lock(&mu_);
  children_.clear();
}

double Family::Value(const Labels& labels) const {
  absl::MutexLock lock(&mu_);
  auto it = children_.find(labels);
  return it == children_.end() ? 0 : it->second.value;
}

void Family::Render(std::string* out) const {
  absl::MutexLock lock(&mu_);
  absl::StrAppend(out, "# HELP ", name_, " ", EscapeHelp(help_), "\n# TYPE ", name_, " ",
                  TypeName(type_), "\n");
  for (const auto& [labels, child] : children_) {
    if (type_ != Type::kHistogram) {
      absl::StrAppend(out, name_, LabelText(label_names_, labels), " ", FormatValue(child.value),
                      "\n");
      continue;
    }
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bucket_bounds_.size(); ++i) {
      cumulative += child.buckets[i];
      absl::StrAppend(out, name_, "_bucket",
                      LabelText(label_names_, labels,
                                absl::StrCat("le=\"", FormatValue(bucket_bounds_[i]), "\"")),
                      " ", cumulative, "\n");
    }
    absl::StrAppend(out, name_, "_bucket", LabelText(label_names_, labels, "le=\"+Inf\""), " ",
                    child.count, "\n");
    absl::StrAppend(out, name_, "_sum", LabelText(label_names_, labels), " ",
                    FormatValue(child.value), "\n");
    absl::StrAppend(out, name_, "_count", LabelText(label_names_, labels), " ", child.count,
                    "\n");
  }
}

Registry& Registry::Default() {
  static Registry* registry = new Registry();
  return *registry;
}

Family& Registry::Get(const std::string& name, const std::string& help, Type type,
                      std::vector<std::string> label_names, std::vector<double> buckets) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Family>& family = families_[name];
  if (family == nullptr) {
    family = std::make_unique<Family>(name, help, type, std::move(label_names), std::move(buckets));
  }
  return *family;
}

Family& Registry::Counter(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names) {
  return Get(name, help, Type::kCounter, std::move(label_names), {});
}

Family& Registry::Gauge(const std::string& name, const std::string& help,
                        std::vector<std::string> label_names) {
  return Get(name, help, Type::kGauge, std::move(label_names), {});
}

Family& Registry::Histogram(const std::string& name, const std::string& help,
                            std::vector<std::string> label_names, std::vector<double> buckets) {
  return Get(name, help, Type::kHistogram, std::move(label_names), std::move(buckets));
}

int Registry::AddCollector(std::function<void()> collect) {
  absl::MutexLock lock(&collect_mu_);
  collectors_[next_collector_] = std::move(collect);
  return next_collector_++;
}

void Registry::RemoveCollector(int id) {
  absl::MutexLock lock(&collect_mu_);
  collectors_.erase(id);
}

std::string Registry::Render() const {
  {
    absl::MutexLock collecting(&collect_mu_);
    for (const auto& [id, collect] : collectors_) collect();
  }
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, family] : families_) family->Render(&out);
  return out;
}

}  // namespace crimirror::metrics
