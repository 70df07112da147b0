/* latestframe capture — states, reconnection and the stall watchdog.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/capture.h"
#include "latestframe/thread_annotations.h"
#include "session.h"
#include "source.h"

#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <string>

namespace latestframe::detail
{

/* What a capture's threads share (the supervisor, readers, and whoever asks
 * for stats), under `lock` (clang's -Wthread-safety checks it). */
struct capture_shared
{
  checked_mutex lock;
  /* The state, the current session, or `closing` changed. */
  std::condition_variable changed;

  capture_state state LF_GUARDED_BY (lock) = capture_state::closed;
  bool closing LF_GUARDED_BY (lock) = false;
  std::string last_error LF_GUARDED_BY (lock);
  /* The connection being played; readers hold it while they pull. */
  std::shared_ptr<session> current LF_GUARDED_BY (lock);
  std::uint64_t connections LF_GUARDED_BY (lock) = 0;
  std::uint64_t reconnects LF_GUARDED_BY (lock) = 0;
  std::uint64_t stalls LF_GUARDED_BY (lock) = 0;
  /* latestframe's counts of the connections that are over. */
  element_counts closed_counts LF_GUARDED_BY (lock);
  /* Whether the current connection keeps its newest analysed frame for
   * last_analysed() (always without options.last_analysed_kept_for), and
   * when it or last_analysed_sequence() was last called. */
  bool keeping_last_analysed LF_GUARDED_BY (lock) = true;
  std::chrono::steady_clock::time_point
      last_analysed_asked LF_GUARDED_BY (lock);

  void set_state (capture_state next) LF_REQUIRES (lock)
  {
    state = next;
    changed.notify_all ();
  }
};

/* How often a streaming connection's frames are counted for the stall
 * watchdog. */
std::chrono::milliseconds
streaming_poll_interval (std::chrono::milliseconds stall_timeout);

/* Runs a capture's connections one after the other on its own thread:
 * builds and plays one, watches its bus and its frames, and when it is
 * lost (an error, the end of a live stream, no frame for stall_timeout)
 * tears it down, waits (backoff doubling from backoff_initial to
 * backoff_max, each wait drawn between half and all of it so that cameras
 * lost together do not come back in step) and builds the next. A file's
 * end is the end. Until `closing`. */
class supervisor
{
public:
  supervisor (capture_shared &shared, source_spec source,
              capture_options options);
  void run ();

private:
  enum class outcome
  {
    lost,
    ended,
    closing,
  };
  outcome watch (session &current, std::string &error);
  void retire (std::shared_ptr<session> current);
  std::chrono::milliseconds jittered (std::chrono::milliseconds backoff);

  capture_shared &shared_;
  const source_spec source_;
  const capture_options options_;
  std::minstd_rand random_;
};

} // namespace latestframe::detail
