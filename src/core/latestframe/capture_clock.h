/* latestframe — a frame's capture time, told by the stream, on the owner's
 * running clock.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <optional>

namespace latestframe
{

/* Decides, per stream, whether the capture times a stream carries (a
 * camera's wall clock, Unix ns) can age its frames, and turns each into a
 * time on the owner's running clock: the moment of capture, as far as this
 * host's wall clock tells.
 *
 * A capture time more than `ahead_limit_ns` in the future or more than
 * `behind_limit_ns` old on arrival is not used: it is either a camera clock
 * out of step with ours or a frame held up on the way (a network stall
 * delivers a burst of old frames, then fresh ones). Only persistence tells
 * them apart: when the stream's capture times have stayed out of those
 * limits for `settle_ns` of running time, its clock is out of step (the
 * owner is asked to warn); when they have stayed within them for
 * `settle_ns` again (the camera's clock was set, by NTP after it booted),
 * it is back in step and they age frames again. A frame judged in neither
 * state is aged as if it carried no capture time.
 *
 * Threads: one producer calls place() and new_stream(); anyone reads the
 * figures. */
class capture_clock
{
public:
  static constexpr std::int64_t ahead_limit_ns = 100'000'000;
  static constexpr std::int64_t behind_limit_ns = 3'000'000'000;
  static constexpr std::int64_t settle_ns = 2'000'000'000;

  struct placement
  {
    /* The capture's time on the running clock, when it may be used. */
    std::optional<std::int64_t> running_ns;
    /* Set on the frame that found the clock out of step: how old it was by
     * its capture time (negative: from the future). The owner warns. */
    std::optional<std::int64_t> out_of_step_age_ns;
    /* Set on the first frame placed again after the clock was out of
     * step. The owner may say so. */
    bool back_in_step = false;
  };

  /* A frame captured at `capture_unix_ns` arrives when the wall clock
   * reads `wall_now_ns` and the running clock `running_now_ns`. The
   * capture time comes from the stream and may be anything (a broken
   * camera's, a meta's 64 bits read as signed): one too far off to measure
   * is out of the limits too. */
  placement place (std::int64_t capture_unix_ns, std::int64_t wall_now_ns,
                   std::int64_t running_now_ns)
  {
    placement out;
    const std::int64_t age = age_ns (capture_unix_ns, wall_now_ns);
    const bool within = age >= -ahead_limit_ns && age <= behind_limit_ns;
    const bool was_out_of_step = out_of_step ();
    if (within == !was_out_of_step)
      {
        /* The state holds: a change under way is called off. */
        changing_since_ns_.reset ();
      }
    else
      {
        /* A running clock that went back (a new segment) starts the
         * period over rather than wait for it to come back. */
        if (!changing_since_ns_ || running_now_ns < *changing_since_ns_)
          changing_since_ns_ = running_now_ns;
        if (running_now_ns - *changing_since_ns_ < settle_ns)
          {
            unused_.fetch_add (1, std::memory_order_relaxed);
            return out;
          }
        changing_since_ns_.reset ();
        out_of_step_.store (!within, std::memory_order_relaxed);
        if (!within)
          out.out_of_step_age_ns = age;
        out.back_in_step = within;
      }
    if (!within)
      {
        unused_.fetch_add (1, std::memory_order_relaxed);
        return out;
      }
    frames_.fetch_add (1, std::memory_order_relaxed);
    out.running_ns = running_now_ns - age;
    return out;
  }

  /* This stream's capture times are not used now: its clock is out of
   * step. */
  bool out_of_step () const
  {
    return out_of_step_.load (std::memory_order_relaxed);
  }

  /* Frames placed by their capture time, since the start. */
  std::uint64_t frames () const
  {
    return frames_.load (std::memory_order_relaxed);
  }

  /* Frames whose capture time was not used (out of the limits, or in them
   * while the clock was still out of step), since the start. */
  std::uint64_t unused () const
  {
    return unused_.load (std::memory_order_relaxed);
  }

  /* Maybe another camera: its clock is judged afresh. */
  void new_stream ()
  {
    out_of_step_.store (false, std::memory_order_relaxed);
    changing_since_ns_.reset ();
  }

private:
  /* wall - capture, saturated at +-(2^63 - 1) (the owner may print its
   * magnitude). */
  static std::int64_t age_ns (std::int64_t capture, std::int64_t wall)
  {
    constexpr std::int64_t most = std::numeric_limits<std::int64_t>::max ();
    if (capture < 0 && wall > most + capture)
      return most;
    if (capture > 0 && wall < -most + capture)
      return -most;
    return wall - capture;
  }

  std::atomic<bool> out_of_step_{ false };
  std::atomic<std::uint64_t> frames_{ 0 };
  std::atomic<std::uint64_t> unused_{ 0 };
  /* The running time of the first frame that disagreed with the state
   * (in the limits while out of step, out of them while in step), while
   * every frame since has; the producer's alone. */
  std::optional<std::int64_t> changing_since_ns_;
};

} // namespace latestframe
