/* latestframe — locks the compiler checks: Clang's thread-safety
 * attributes behind short macros, and a mutex and a scoped lock that carry
 * them. Other compilers see plain std::mutex code.
 *
 * Build with clang and -Wthread-safety (the suite's clang build does, with
 * -Werror): a member marked LF_GUARDED_BY(m) touched without m held, a
 * function marked LF_REQUIRES(m) called without it, or a lock left held
 * at the end of a scope, is a compile error.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define LF_THREAD_ANNOTATION(x) __attribute__ ((x))
#else
#define LF_THREAD_ANNOTATION(x)
#endif

#define LF_CAPABILITY(name) LF_THREAD_ANNOTATION (capability (name))
#define LF_SCOPED_CAPABILITY LF_THREAD_ANNOTATION (scoped_lockable)
#define LF_GUARDED_BY(m) LF_THREAD_ANNOTATION (guarded_by (m))
#define LF_REQUIRES(...)                                                       \
  LF_THREAD_ANNOTATION (requires_capability (__VA_ARGS__))
#define LF_EXCLUDES(...) LF_THREAD_ANNOTATION (locks_excluded (__VA_ARGS__))
#define LF_ACQUIRE(...) LF_THREAD_ANNOTATION (acquire_capability (__VA_ARGS__))
#define LF_RELEASE(...) LF_THREAD_ANNOTATION (release_capability (__VA_ARGS__))

namespace latestframe
{

/* A std::mutex the analysis knows as a capability. */
class LF_CAPABILITY ("mutex") checked_mutex
{
public:
  void lock () LF_ACQUIRE () { mutex_.lock (); }
  void unlock () LF_RELEASE () { mutex_.unlock (); }

private:
  friend class checked_lock;
  std::mutex mutex_;
};

/* Holds a checked_mutex for its scope; may let it go and take it again
 * (around a call that must not run under it), and waits on condition
 * variables with it. Lighter than std::unique_lock on the hot path: the
 * mutex is locked and unlocked directly, and adopted by a unique_lock only
 * for a wait. */
class LF_SCOPED_CAPABILITY checked_lock
{
public:
  explicit checked_lock (checked_mutex &mutex) LF_ACQUIRE (mutex)
      : mutex_ (mutex.mutex_)
  {
    mutex_.lock ();
  }
  ~checked_lock () LF_RELEASE ()
  {
    if (held_)
      mutex_.unlock ();
  }
  checked_lock (const checked_lock &) = delete;
  checked_lock &operator= (const checked_lock &) = delete;

  void unlock () LF_RELEASE ()
  {
    mutex_.unlock ();
    held_ = false;
  }
  void lock () LF_ACQUIRE ()
  {
    mutex_.lock ();
    held_ = true;
  }

  /* Lets the mutex go while waiting; holds it again on return (the
   * analysis sees it held throughout, which is what the caller relies on). */
  void wait (std::condition_variable &condition)
  {
    std::unique_lock<std::mutex> adopted (mutex_, std::adopt_lock);
    condition.wait (adopted);
    adopted.release ();
  }
  template <typename Clock, typename Duration>
  void wait_until (std::condition_variable &condition,
                   const std::chrono::time_point<Clock, Duration> &until)
  {
    std::unique_lock<std::mutex> adopted (mutex_, std::adopt_lock);
    condition.wait_until (adopted, until);
    adopted.release ();
  }

private:
  std::mutex &mutex_;
  bool held_ = true;
};

} // namespace latestframe
