// PullQueue: the interceptor's bounded queue of pulls and its workers
// (issue 10 defects 7, 8, 10). Identical pulls (one coalescing key) share one
// job; a job runs on one of a fixed number of worker threads. Bounds and
// rules:
//   - at most `max_queued` jobs wait for a worker; one more is refused at
//     once with RESOURCE_EXHAUSTED (callers joining a job are not counted);
//   - a job whose callers have all gone away before a worker took it never
//     runs: its callers get CANCELLED;
//   - a running job ends when its callers have all gone away, or at the
//     latest deadline among the callers still waiting (it moves when a caller
//     with a later deadline joins);
//   - after a job failed, its group's clean-up runs while no other job of the
//     same group runs (the group names the records jobs share: the relay-named
//     image records of one repository), and no job of that group starts
//     until it is done.
// Internal to the plugin library.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "plugin/mirror_pull_flow.h"
#include "plugin/pull_interceptor.h"

namespace crimirror::plugin::mirror_pull_internal {

// What every caller of a job gets.
struct PullAnswer {
  grpc::Status status;
  grpc::ByteBuffer response;  // with an OK status: the PullImageResponse
};

class PullQueue {
 public:
  struct Options {
    int workers = 8;
    std::size_t max_queued = 256;
  };
  // Runs one job's pull (blocking, on a worker thread).
  using RunFn = std::function<PullAnswer(const PullInput& input, const PullControl& control)>;
  // Cleans up after a failed run of `input` (blocking, on a worker thread).
  using CleanupFn = std::function<void(const PullInput& input)>;

  PullQueue(Options options, RunFn run, CleanupFn cleanup);
  // Answers queued jobs CANCELLED, makes running jobs see control.cancelled()
  // and joins the workers: every `done` has run when it returns.
  ~PullQueue();
  PullQueue(const PullQueue&) = delete;
  PullQueue& operator=(const PullQueue&) = delete;

  // Adds `caller` to the job of `key` (queued or running), else queues a new
  // job for `input` in `group`. `done` runs exactly once, on a worker thread
  // or (refusals) on this one: RESOURCE_EXHAUSTED when max_queued jobs
  // wait, CANCELLED when shutting down. Thread-safe; never blocks on I/O.
  void Submit(const std::string& key, const std::string& group, PullInput input,
              PullCaller caller, PullDone done);

 private:
  struct Waiter {
    PullCaller caller;
    PullDone done;
  };
  struct Job {
    std::string key;
    std::string group;
    PullInput input;
    std::vector<Waiter> waiters;  // guarded by mu_
  };
  using JobPtr = std::shared_ptr<Job>;

  void WorkerLoop();
  // The next queued job whose group is not being cleaned up; null if none.
  JobPtr TakeRunnable() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasRunnable() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run(const JobPtr& job);
  void CleanUpExclusively(const JobPtr& job);
  bool AllCallersGone(const Job& job) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Cancelled(const Job& job);
  absl::Time LatestDeadline(const Job& job);
  // Removes queued jobs whose callers are all gone; returns them.
  std::vector<JobPtr> DropAbandoned() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finish(const JobPtr& job, const PullAnswer& answer);

  const Options options_;
  const RunFn run_;
  const CleanupFn cleanup_;

  mutable absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<JobPtr> queue_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, JobPtr> jobs_ ABSL_GUARDED_BY(mu_);  // queued or running, by key
  std::map<std::string, int> running_ ABSL_GUARDED_BY(mu_);   // by group
  std::map<std::string, int> cleaning_ ABSL_GUARDED_BY(mu_);  // by group
  std::vector<std::thread> workers_;
};

}  // namespace crimirror::plugin::mirror_pull_internal
