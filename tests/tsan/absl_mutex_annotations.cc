// ThreadSanitizer annotations for Debian's uninstrumented absl::Mutex.
//
// Debian 12's libabsl_synchronization is not built with -fsanitize=thread,
// so its futex-based absl::Mutex is invisible to TSan: every field our code
// guards with an absl::Mutex would be reported as a data race. Abseil built
// for TSan annotates its Mutex with the __tsan_mutex_* interface; this file
// does the same from outside. Linked only into the test binaries of a
// CRI_MIRROR_SANITIZE=thread tree (cmake/Targets.cmake), it defines the
// out-of-line Mutex/CondVar members, which take precedence over the shared
// library's (the executable exports them, so calls from inside Abseil and
// gRPC come here too), annotates, and calls the library's definition found
// with dlsym(RTLD_NEXT). Between pre_* and post_* TSan ignores memory
// accesses, as Abseil's own annotated build does, which covers conditions
// that Unlock and Await evaluate for other threads. absl::Notification's
// members are wrapped too (its library code locks its mutex without coming
// here): Notify releases, a successful wait acquires. The inline
// HasBeenNotified() still synchronizes with nothing TSan can see.
#include <dlfcn.h>

#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

#define CRIMIRROR_STR2(x) #x
#define CRIMIRROR_STR(x) CRIMIRROR_STR2(x)

// The Itanium mangling of member `suffix` of the absl inline namespace:
// "5Mutex4LockEv" -> "_ZN4absl7debian35Mutex4LockEv"; a leading 'K' (const
// member) goes right after "_ZN".
std::string Mangled(std::string_view suffix) {
  const std::string ns = CRIMIRROR_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const bool is_const = !suffix.empty() && suffix.front() == 'K';
  if (is_const) suffix.remove_prefix(1);
  return std::string(is_const ? "_ZNK" : "_ZN") + "4absl" + std::to_string(ns.size()) + ns +
         std::string(suffix);
}

// The shared library's definition of the member mangled from `suffix`.
template <typename Fn>
Fn Real(std::atomic<Fn>& cache, const char* suffix) {
  Fn fn = cache.load(std::memory_order_acquire);
  if (fn == nullptr) {
    const std::string name = Mangled(suffix);
    fn = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name.c_str()));
    if (fn == nullptr) {
      std::fprintf(stderr, "absl_mutex_annotations: %s not found\n", name.c_str());
      std::abort();
    }
    cache.store(fn, std::memory_order_release);
  }
  return fn;
}

#define REAL(ret, suffix, ...)                       \
  static std::atomic<ret (*)(__VA_ARGS__)> cache{};  \
  auto real = Real(cache, suffix)

// Whether this thread is inside a wrapped member already: the library's
// members call each other (CondVar::WaitWithTimeout calls WaitWithDeadline
// through the exported symbol), and only the outer call is annotated.
thread_local int nesting = 0;

// Runs `call` as the outermost wrapped call (annotated by the caller) or,
// nested, straight through. Returns whether it was the outermost.
class Outer {
 public:
  Outer() : outer_(nesting++ == 0) {}
  ~Outer() { --nesting; }
  Outer(const Outer&) = delete;
  Outer& operator=(const Outer&) = delete;
  explicit operator bool() const { return outer_; }

 private:
  bool outer_;
};

#define NESTED_PASS_THROUGH(...) \
  Outer outer;                   \
  if (!outer) return __VA_ARGS__

// Lock-like calls: the library acquires; TSan acquires afterwards.
template <typename Call>
auto Locking(void* mu, unsigned flags, Call call) {
  NESTED_PASS_THROUGH(call());
  __tsan_mutex_pre_lock(mu, flags);
  auto result = call();
  __tsan_mutex_post_lock(mu, flags, 0);
  return result;
}

// Waits that release the mutex inside (Await, CondVar::Wait): released for
// TSan before, acquired again once the library returns holding it.
template <typename Call>
auto Waiting(void* mu, unsigned flags, Call call) {
  NESTED_PASS_THROUGH(call());
  __tsan_mutex_pre_unlock(mu, flags);
  auto result = call();
  __tsan_mutex_post_unlock(mu, flags);
  __tsan_mutex_pre_lock(mu, flags);
  __tsan_mutex_post_lock(mu, flags, 0);
  return result;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

Mutex::~Mutex() {
  REAL(void, "5MutexD2Ev", Mutex*);
  Outer outer;
  if (outer) __tsan_mutex_destroy(this, 0);
  real(this);
}

void Mutex::Lock() {
  REAL(void, "5Mutex4LockEv", Mutex*);
  Locking(this, 0, [&] { real(this); return 0; });
}

void Mutex::ReaderLock() {
  REAL(void, "5Mutex10ReaderLockEv", Mutex*);
  Locking(this, __tsan_mutex_read_lock, [&] { real(this); return 0; });
}

bool Mutex::TryLock() {
  REAL(bool, "5Mutex7TryLockEv", Mutex*);
  NESTED_PASS_THROUGH(real(this));
  __tsan_mutex_pre_lock(this, __tsan_mutex_try_lock);
  const bool ok = real(this);
  __tsan_mutex_post_lock(this, __tsan_mutex_try_lock | (ok ? 0 : __tsan_mutex_try_lock_failed),
                         0);
  return ok;
}

bool Mutex::ReaderTryLock() {
  REAL(bool, "5Mutex13ReaderTryLockEv", Mutex*);
  NESTED_PASS_THROUGH(real(this));
  const unsigned flags = __tsan_mutex_read_lock | __tsan_mutex_try_lock;
  __tsan_mutex_pre_lock(this, flags);
  const bool ok = real(this);
  __tsan_mutex_post_lock(this, flags | (ok ? 0 : __tsan_mutex_try_lock_failed), 0);
  return ok;
}

void Mutex::Unlock() {
  REAL(void, "5Mutex6UnlockEv", Mutex*);
  NESTED_PASS_THROUGH(real(this));
  __tsan_mutex_pre_unlock(this, 0);
  real(this);
  __tsan_mutex_post_unlock(this, 0);
}

void Mutex::ReaderUnlock() {
  REAL(void, "5Mutex12ReaderUnlockEv", Mutex*);
  NESTED_PASS_THROUGH(real(this));
  __tsan_mutex_pre_unlock(this, __tsan_mutex_read_lock);
  real(this);
  __tsan_mutex_post_unlock(this, __tsan_mutex_read_lock);
}

void Mutex::LockWhen(const Condition& cond) {
  REAL(void, "5Mutex8LockWhenERKNS0_9ConditionE", Mutex*, const Condition&);
  Locking(this, 0, [&] { real(this, cond); return 0; });
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  REAL(bool, "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE", Mutex*,
       const Condition&, Duration);
  return Locking(this, 0, [&] { return real(this, cond, timeout); });
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  REAL(bool, "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE", Mutex*,
       const Condition&, Time);
  return Locking(this, 0, [&] { return real(this, cond, deadline); });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  REAL(void, "5Mutex14ReaderLockWhenERKNS0_9ConditionE", Mutex*, const Condition&);
  Locking(this, __tsan_mutex_read_lock, [&] { real(this, cond); return 0; });
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  REAL(bool, "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE", Mutex*,
       const Condition&, Duration);
  return Locking(this, __tsan_mutex_read_lock, [&] { return real(this, cond, timeout); });
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  REAL(bool, "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE", Mutex*,
       const Condition&, Time);
  return Locking(this, __tsan_mutex_read_lock, [&] { return real(this, cond, deadline); });
}

void Mutex::Await(const Condition& cond) {
  REAL(void, "5Mutex5AwaitERKNS0_9ConditionE", Mutex*, const Condition&);
  Waiting(this, 0, [&] { real(this, cond); return 0; });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  REAL(bool, "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE", Mutex*,
       const Condition&, Duration);
  return Waiting(this, 0, [&] { return real(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  REAL(bool, "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE", Mutex*,
       const Condition&, Time);
  return Waiting(this, 0, [&] { return real(this, cond, deadline); });
}

void CondVar::Wait(Mutex* mu) {
  REAL(void, "7CondVar4WaitEPNS0_5MutexE", CondVar*, Mutex*);
  Waiting(mu, 0, [&] { real(this, mu); return 0; });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  REAL(bool, "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE", CondVar*, Mutex*,
       Duration);
  return Waiting(mu, 0, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  REAL(bool, "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE", CondVar*, Mutex*, Time);
  return Waiting(mu, 0, [&] { return real(this, mu, deadline); });
}

void Notification::Notify() {
  REAL(void, "12Notification6NotifyEv", Notification*);
  NESTED_PASS_THROUGH(real(this));
  __tsan_release(this);
  real(this);
}

void Notification::WaitForNotification() const {
  REAL(void, "K12Notification19WaitForNotificationEv", const Notification*);
  NESTED_PASS_THROUGH(real(this));
  real(this);
  __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  REAL(bool, "K12Notification30WaitForNotificationWithTimeoutENS0_8DurationE",
       const Notification*, Duration);
  NESTED_PASS_THROUGH(real(this, timeout));
  const bool notified = real(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  REAL(bool, "K12Notification31WaitForNotificationWithDeadlineENS0_4TimeE",
       const Notification*, Time);
  NESTED_PASS_THROUGH(real(this, deadline));
  const bool notified = real(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
