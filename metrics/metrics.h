// Process-wide metrics in the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/), served by
// metrics/metrics_server.h at `[server] metrics`.
//
// The model is client_golang's, cut to what the daemon needs: families
// (counter, gauge, histogram) with fixed label names, children per label
// values, and collectors that add gauges computed at scrape time (endpoint
// back-off, ensured images). Label values must come from the config or
// from fixed vocabularies (status classes, result codes), never from
// requests; each family also caps its children at kMaxChildren, folding
// further label sets into one child whose label values are all "other", so
// cardinality stays bounded whatever happens. No secret is ever a label.
//
// Thread-safe. Metric handles returned by Registry live as long as the
// registry (the default one: the whole process).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace crimirror::metrics {

using Labels = std::vector<std::string>;  // values, in the family's label order

inline constexpr std::size_t kMaxChildren = 1000;

enum class Type { kCounter, kGauge, kHistogram };

// One family: name, help, label names and its children.
class Family {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<double> buckets = {});
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // Counter: adds `v` (>= 0; negative values are ignored).
  void Add(const Labels& labels, double v = 1);
  // Gauge: sets the value.
  void Set(const Labels& labels, double v);
  // Histogram: records one observation.
  void Observe(const Labels& labels, double v);
  // Forgets every child (gauges rebuilt at each scrape).
  void Clear();

  // The value of a counter or gauge child (0 when absent), for tests.
  double Value(const Labels& labels) const;

  // Appends this family in the text format.
  void Render(std::string* out) const;

  const std::string& name() const { return name_; }

 private:
  struct Child {
    double value = 0;                // counter, gauge; histogram: sum
    std::uint64_t count = 0;         // histogram
    std::vector<std::uint64_t> buckets;  // histogram, not cumulative
  };
  Child& ChildFor(const Labels& labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  const std::string help_;
  const Type type_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bucket_bounds_;
  mutable absl::Mutex mu_;
  std::map<Labels, Child> children_ ABSL_GUARDED_BY(mu_);
};

class Registry {
 public:
  // The process's registry, which the daemon serves.
  static Registry& Default();

  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Returns the family `name`, creating it on first use (later calls with
  // the same name return the same family whatever the other arguments).
  // Counters' names end in "_total"; durations are in seconds.
  Family& Counter(const std::string& name, const std::string& help,
                  std::vector<std::string> label_names = {});
  Family& Gauge(const std::string& name, const std::string& help,
                std::vector<std::string> label_names = {});
  Family& Histogram(const std::string& name, const std::string& help,
                    std::vector<std::string> label_names, std::vector<double> buckets);

  // Runs before each Render(), e.g. to Clear() and Set() scrape-time
  // gauges; must not call Render() or the collector calls. Returns an id
  // for RemoveCollector, which waits for a running collect to finish.
  int AddCollector(std::function<void()> collect);
  void RemoveCollector(int id);

  // Every family, sorted by name, in the text format.
  std::string Render() const;

 private:
  Family& Get(const std::string& name, const std::string& help, Type type,
              std::vector<std::string> label_names, std::vector<double> buckets);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<Family>> families_ ABSL_GUARDED_BY(mu_);
  // Held while collectors run, so RemoveCollector() returns only once its
  // collector can no longer be running.
  mutable absl::Mutex collect_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::map<int, std::function<void()>> collectors_ ABSL_GUARDED_BY(collect_mu_);
  int next_collector_ ABSL_GUARDED_BY(collect_mu_) = 0;
};

// Buckets for durations, in seconds: 1 ms .. 10 min.
std::vector<double> DurationBuckets();

// "2xx", "4xx", ... for an HTTP status; "error" for 0 (no answer).
std::string StatusClass(int http_status);

// A label value or help text escaped for the text format (label values:
// backslash, double quote, newline; help: backslash, newline).
std::string EscapeLabelValue(const std::string& value);
std::string EscapeHelp(const std::string& help);

}  // namespace crimirror::metrics
