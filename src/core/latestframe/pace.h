/* latestframe — the consumer's pace: at most one frame shown per interval.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/keeper_types.h"

#include <chrono>
#include <cstdint>
#include <optional>

namespace latestframe
{

/* When the next frame may be shown. Contract: after a frame is shown, the
 * next is due one interval later; the frames handed over decode-only
 * before a frame to show (a run) are not held back, and the run's end is
 * held back only as one frame. Whether the pace applies at all to the
 * frame at hand (the stream keeps its own pace, the stream ended) is the
 * keeper's rule. Times are the caller's steady time: no clock here.
 * Single-threaded: its owner serialises. */
class frame_pace
{
public:
  /* When the next frame is due, if `now` is early for it. */
  std::optional<steady_time> due (std::uint64_t interval_ns,
                                  steady_time now) const
  {
    if (interval_ns == 0 || in_run_ || last_shown_ == steady_time ())
      return std::nullopt;
    const steady_time next
        = last_shown_ + std::chrono::nanoseconds (interval_ns);
    if (now >= next)
      return std::nullopt;
    return next;
  }

  /* A frame was handed over at `now`: decode-only (a run goes on), or to
   * be shown (the interval starts, when there is one). */
  void handed_over (bool decode_only, bool paced, steady_time now)
  {
    in_run_ = decode_only;
    if (!decode_only && paced)
      last_shown_ = now;
  }

  /* A flush: no run goes on. */
  void restart () { in_run_ = false; }

private:
  steady_time last_shown_{};
  bool in_run_ = false;
};

} // namespace latestframe
