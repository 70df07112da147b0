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
 * host's wall clock tells. A capture time more than `ahead_limit_ns` in the
 * future or more than `behind_limit_ns` old on arrival is a camera clock out
 * of step with ours, not an age: the stream's capture times are then not
 * used until new_stream(), and the first such frame asks the owner to warn.
 *
 * Threads: one producer calls place() and new_stream(); anyone reads the
 * figures. */
class capture_clock
{
public:
  static constexpr std::int64_t ahead_limit_ns = 100'000'000;
  static constexpr std::int64_t behind_limit_ns = 3'000'000'000;

  struct placement
  {
    /* The capture's time on the running clock, when it may be used. */
    std::optional<std::int64_t> running_ns;
    /* Set on the frame that found the clock out of step: how old it was by
     * its capture time (negative: from the future). The owner warns. */
    std::optional<std::int64_t> out_of_step_age_ns;
  };

  /* A frame captured at `capture_unix_ns` arrives when the wall clock
   * reads `wall_now_ns` and the running clock `running_now_ns`. The
   * capture time comes from the stream and may be anything (a broken
   * camera's, a meta's 64 bits read as signed): one too far off to measure
   * is out of step too. */
  placement place (std::int64_t capture_unix_ns, std::int64_t wall_now_ns,
                   std::int64_t running_now_ns)
  {
    placement out;
    if (out_of_step_.load (std::memory_order_relaxed))
      return out;
    const std::int64_t age = age_ns (capture_unix_ns, wall_now_ns);
    if (age < -ahead_limit_ns || age > behind_limit_ns)
      {
        out_of_step_.store (true, std::memory_order_relaxed);
        out.out_of_step_age_ns = age;
        return out;
      }
    frames_.fetch_add (1, std::memory_order_relaxed);
    out.running_ns = running_now_ns - age;
    return out;
  }

  /* This stream's capture times are not used (its clock was out of step). */
  bool out_of_step () const
  {
    return out_of_step_.load (std::memory_order_relaxed);
  }

  /* Frames placed by their capture time, since the start. */
  std::uint64_t frames () const
  {
    return frames_.load (std::memory_order_relaxed);
  }

  /* Maybe another camera: its clock is judged afresh. */
  void new_stream () { out_of_step_.store (false, std::memory_order_relaxed); }

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
};

} // namespace latestframe
