// Copyright cri-mirror authors.
//
// What the kernel says about one process, for the memory and CPU figures
// (issue 15: memory is the daemon's own pages, anonymous and private dirty;
// RSS and PSS are still reported, shared-library pages shown apart; CPU is
// user + system seconds). Reads /proc/<pid>/status, /proc/<pid>/stat and
// /proc/<pid>/smaps_rollup; every function fails with NotFound when the
// process or the field is gone. PeakSampler polls a field from a thread of
// its own so a peak of anonymous memory (which the kernel does not keep,
// unlike VmHWM) is seen during a load.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crimirror::bench {

// `field` ("VmHWM", "RssAnon", "RssFile") of /proc/<pid>/status, in bytes.
absl::StatusOr<uint64_t> ProcStatusBytes(pid_t pid, const std::string& field);

// `field` ("Pss", "Private_Dirty", "Pss_Anon") of /proc/<pid>/smaps_rollup,
// in bytes.
absl::StatusOr<uint64_t> SmapsRollupBytes(pid_t pid, const std::string& field);

// Threads of `pid` whose name (/proc/<pid>/task/*/comm) is `name`, e.g.
// "MHD-connection" (one per open relay connection).
absl::StatusOr<int> ThreadsNamed(pid_t pid, const std::string& name);

// CPU time a process has used so far (all its threads), user and system
// (kernel: the socket copies and TCP work of a relayed byte) apart.
struct CpuTime {
  absl::Duration user;
  absl::Duration system;
  absl::Duration total() const { return user + system; }
  CpuTime& operator+=(const CpuTime& o) {
    user += o.user;
    system += o.system;
    return *this;
  }
  CpuTime operator-(const CpuTime& o) const { return {user - o.user, system - o.system}; }
};
absl::StatusOr<CpuTime> ProcCpuTime(pid_t pid);

// "0.98 s (user 0.21 + system 0.77)": `cpu` per `gib` relayed, for a note.
std::string CpuPerGiB(const CpuTime& cpu, double gib);

// "RSS 23.1 MiB = anon 2.7 + files 20.4; PSS 9.8; private dirty 3.0": one
// line for a row's note; "memory split unavailable" when /proc says no.
std::string MemorySplit(pid_t pid);

// Samples ProcStatusBytes(pid, field) every `every` until destroyed and
// keeps the largest value. Thread-safe reads of peak().
class PeakSampler {
 public:
  PeakSampler(pid_t pid, std::string field, absl::Duration every = absl::Milliseconds(20));
  ~PeakSampler();
  PeakSampler(const PeakSampler&) = delete;
  PeakSampler& operator=(const PeakSampler&) = delete;

  // Largest value seen so far (0 before the first sample).
  uint64_t peak() const { return peak_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> peak_{0};
  std::thread thread_;
};

}  // namespace crimirror::bench
