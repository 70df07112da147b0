/* latestframe — the max-age policy.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

namespace latestframe
{

/* Decides whether a frame is fresh enough to be pushed under a max-age.
 *
 * A frame older than max_age when it is about to be pushed is dropped, and
 * the consumer waits for a fresher one. But when frames already *arrive*
 * older than max_age (the limit is below the pipeline's own latency), no
 * frame could ever pass and the consumer would starve: then, for as long as
 * arrivals stay over the limit, the newest frame is pushed whatever its age
 * (older frames with a newer one behind them are still dropped) unless it
 * has been held longer than max_age (the next arrival is then fresher, and
 * worth the wait), and the first such arrival asks the owner to warn, once,
 * with the measured age.
 * As soon as a frame arrives within the limit the strict rule is back.
 *
 * Thread-safe: the producer notes arrivals while the consumer judges and
 * anyone changes the limit. */
class freshness_gate
{
public:
  enum class verdict
  {
    push,
    drop,
  };

  /* 0 turns the gate off. */
  void set_max_age (std::uint64_t max_age_ns)
  {
    max_age_ns_ = max_age_ns;
    if (max_age_ns_ == 0)
      late_arrivals_ = false;
  }

  std::uint64_t max_age () const { return max_age_ns_; }

  /* A frame arrived `arrival_age_ns` old. Returns true the first time
   * arrivals are over the limit: the owner then warns. */
  bool note_arrival (std::uint64_t arrival_age_ns)
  {
    std::uint64_t max_age = max_age_ns_;
    if (max_age == 0)
      return false;
    bool late = arrival_age_ns > max_age;
    late_arrivals_ = late;
    return late && !warned_.exchange (true);
  }

  /* Whether a frame `age_ns` old may be pushed. `newer_waiting` (a
   * callable returning bool) tells whether a newer frame is queued behind
   * it; it is asked only for a frame over the limit, so that the common
   * case costs the caller nothing. */
  template <typename NewerWaiting>
  verdict judge (std::uint64_t age_ns, NewerWaiting newer_waiting) const
  {
    std::uint64_t max_age = max_age_ns_;
    if (max_age == 0 || age_ns <= max_age)
      return verdict::push;
    if (late_arrivals_ && !newer_waiting ())
      return verdict::push;
    return verdict::drop;
  }

  verdict judge (std::uint64_t age_ns, bool newer_waiting) const
  {
    return judge (age_ns, [newer_waiting] { return newer_waiting; });
  }

  /* As judge(), knowing how long the frame has been held (`held_ns`, since
   * it arrived): while arrivals are late, a frame that has waited here
   * longer than the limit is dropped too, and the consumer waits for the
   * next arrival, which is as fresh as any frame can be then. */
  verdict judge (std::uint64_t age_ns, bool newer_waiting,
                 std::optional<std::uint64_t> held_ns) const
  {
    const std::uint64_t max_age = max_age_ns_;
    const verdict by_age = judge (age_ns, newer_waiting);
    if (by_age == verdict::push && max_age != 0 && age_ns > max_age
        && held_ns && *held_ns > max_age)
      return verdict::drop;
    return by_age;
  }

  /* Arrivals are over the limit now. */
  bool late_arrivals () const { return late_arrivals_; }

  /* A new stream: warn again if it arrives late. */
  void reset ()
  {
    late_arrivals_ = false;
    warned_ = false;
  }

private:
  std::atomic<std::uint64_t> max_age_ns_{ 0 };
  std::atomic<bool> late_arrivals_{ false };
  std::atomic<bool> warned_{ false };
};

} // namespace latestframe
