#include "plugin/pull_queue.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "log/log.h"

namespace crimirror::plugin::mirror_pull_internal {
namespace {

grpc::Status ShuttingDown() {
  return grpc::Status(grpc::StatusCode::CANCELLED, "cri-mirror is shutting down");
}

bool Gone(const PullCaller& caller) {
  return (caller.cancelled && caller.cancelled()) || absl::Now() >= caller.deadline;
}

}  // namespace

PullQueue::PullQueue(Options options, RunFn run, CleanupFn cleanup)
    : options_(options), run_(std::move(run)), cleanup_(std::move(cleanup)) {
  for (int i = 0; i < std::max(options_.workers, 1); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

PullQueue::~PullQueue() {
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
  }
  for (std::thread& worker : workers_) worker.join();
}

void PullQueue::Submit(const std::string& key, const std::string& group, PullInput input,
                       PullCaller caller, PullDone done) {
  std::vector<JobPtr> abandoned;
  grpc::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) {
      refused = ShuttingDown();
    } else if (auto it = jobs_.find(key); it != jobs_.end()) {
      log::Info("pull ", input.plan.reference.Canonical(),
                ": joining the identical pull in flight");
      it->second->waiters.push_back(Waiter{std::move(caller), std::move(done)});
      return;
    } else {
      if (queue_.size() >= options_.max_queued) abandoned = DropAbandoned();
      if (queue_.size() >= options_.max_queued) {
        refused = grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            absl::StrCat("cri-mirror: pull of ", input.plan.reference.Canonical(),
                         " refused: ", queue_.size(), " pulls are already queued behind ",
                         workers_.size(), " running (the queue holds at most ",
                         options_.max_queued,
                         "); retry later (the kubelet retries with back-off), or pull "
                         "fewer images at once"));
      } else {
        auto job = std::make_shared<Job>();
        job->key = key;
        job->group = group;
        job->input = std::move(input);
        job->waiters.push_back(Waiter{std::move(caller), std::move(done)});
        jobs_.emplace(key, job);
        queue_.push_back(std::move(job));
        return;
      }
    }
  }
  for (const JobPtr& job : abandoned) {
    Finish(job, {grpc::Status(grpc::StatusCode::CANCELLED,
                              "cri-mirror: pull not started: every caller went away"),
                 {}});
  }
  if (refused.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    log::Warning(refused.error_message());
  }
  done(refused, grpc::ByteBuffer());
}

std::vector<PullQueue::JobPtr> PullQueue::DropAbandoned() {
  std::vector<JobPtr> dropped;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (AllCallersGone(**it)) {
      dropped.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  return dropped;
}

bool PullQueue::AllCallersGone(const Job& job) const {
  for (const Waiter& waiter : job.waiters) {
    if (!Gone(waiter.caller)) return false;
  }
  return true;
}

bool PullQueue::HasRunnable() const {
  return std::any_of(queue_.begin(), queue_.end(), [this](const JobPtr& job) {
    mu_.AssertHeld();
    return cleaning_.count(job->group) == 0;
  });
}

PullQueue::JobPtr PullQueue::TakeRunnable() {
  for (auto it = queue_.begin(); it != queue_.end(); ++it) {
    if (cleaning_.count((*it)->group) != 0) continue;
    JobPtr job = std::move(*it);
    queue_.erase(it);
    return job;
  }
  return nullptr;
}

void PullQueue::WorkerLoop() {
  for (;;) {
    JobPtr job;
    bool shutting_down = false;
    bool abandoned = false;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](PullQueue* queue) ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue->mu_) {
            return queue->shutdown_ || queue->HasRunnable();
          },
          this));
      shutting_down = shutdown_;
      if (shutting_down) {
        if (queue_.empty()) return;  // shut down and drained
        job = std::move(queue_.front());
        queue_.pop_front();
      } else {
        job = TakeRunnable();
        abandoned = AllCallersGone(*job);
        if (!abandoned) ++running_[job->group];
      }
    }
    if (shutting_down) {
      Finish(job, {ShuttingDown(), {}});
    } else if (abandoned) {
      log::Info("pull ", job->input.plan.reference.Canonical(),
                ": not started, every caller went away");
      Finish(job, {grpc::Status(grpc::StatusCode::CANCELLED,
                                "cri-mirror: pull not started: every caller went away"),
                   {}});
    } else {
      Run(job);
    }
  }
}

bool PullQueue::Cancelled(const Job& job) {
  absl::MutexLock lock(&mu_);
  return shutdown_ || AllCallersGone(job);
}

// Callers that went away before their deadline do not count; those whose
// deadline passed do, so that a pull they all gave up on ends
// DEADLINE_EXCEEDED rather than CANCELLED.
absl::Time PullQueue::LatestDeadline(const Job& job) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  absl::Time latest = absl::InfinitePast();
  bool any = false;
  for (const Waiter& waiter : job.waiters) {
    const bool expired = now >= waiter.caller.deadline;
    if (!expired && waiter.caller.cancelled && waiter.caller.cancelled()) continue;
    latest = std::max(latest, waiter.caller.deadline);
    any = true;
  }
  return any ? latest : absl::InfiniteFuture();
}

void PullQueue::Run(const JobPtr& job) {
  PullControl control;
  control.cancelled = [this, &job] { return Cancelled(*job); };
  control.deadline = [this, &job] { return LatestDeadline(*job); };
  PullAnswer answer = run_(job->input, control);
  if (!answer.status.ok()) {
    CleanUpExclusively(job);
  } else {
    absl::MutexLock lock(&mu_);
    if (--running_[job->group] == 0) running_.erase(job->group);
  }
  Finish(job, answer);
}

// Waits until every other running job of the group is a clean-up too (two
// failed jobs clean up side by side: deletes are idempotent), then cleans up;
// TakeRunnable() starts no job of the group meanwhile.
void PullQueue::CleanUpExclusively(const JobPtr& job) {
  const std::string& group = job->group;
  {
    absl::MutexLock lock(&mu_);
    ++cleaning_[group];
    auto only_cleaners = [this, &group]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return running_[group] == cleaning_[group];
    };
    mu_.Await(absl::Condition(&only_cleaners));
  }
  cleanup_(job->input);
  absl::MutexLock lock(&mu_);
  if (--cleaning_[group] == 0) cleaning_.erase(group);
  if (--running_[group] == 0) running_.erase(group);
}

void PullQueue::Finish(const JobPtr& job, const PullAnswer& answer) {
  std::vector<Waiter> waiters;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job->key);
    if (it != jobs_.end() && it->second == job) jobs_.erase(it);
    waiters = std::move(job->waiters);
    job->waiters.clear();
  }
  for (Waiter& waiter : waiters) waiter.done(answer.status, answer.response);
}

}  // namespace crimirror::plugin::mirror_pull_internal
