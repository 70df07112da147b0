/* latestframe — what a queue is responsible for: counts, bytes, ages.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/memory_budget.h"

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>

namespace latestframe
{

/* Why a frame was dropped. */
enum class drop_reason
{
  overflow, /* a size limit (max-size-buffers, -bytes, -time) */
  age,      /* older than max-age when it was about to be pushed */
  budget,   /* the shared memory budget had no room for it */
  flush,    /* discarded unpushed: a flush, a stop, or downstream's EOS or
               error (the flow return goes upstream) */
};

struct drop_tally
{
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
};

/* The ages of the most recent pushed frames, summarised. */
struct age_summary
{
  std::uint64_t p50_ns = 0;
  std::uint64_t p95_ns = 0;
  std::uint64_t max_ns = 0;
  std::uint32_t samples = 0;
};

struct ledger_snapshot
{
  std::uint64_t received = 0;
  std::uint64_t pushed = 0;
  drop_tally overflow;
  drop_tally age;
  drop_tally budget;
  drop_tally flush;
  std::uint64_t held_frames = 0;
  std::uint64_t held_bytes = 0;
  std::uint64_t in_flight_frames = 0;
  std::uint64_t in_flight_bytes = 0;
  std::uint64_t peak_bytes = 0; /* highest held + in flight */
  age_summary ages;

  std::uint64_t dropped () const
  {
    return overflow.frames + age.frames + budget.frames + flush.frames;
  }
  std::uint64_t dropped_bytes () const
  {
    return overflow.bytes + age.bytes + budget.bytes + flush.bytes;
  }
};

/* A ring of the last `window` ages; percentiles by nearest rank. */
class age_window
{
public:
  static constexpr std::size_t window = 256;

  void record (std::uint64_t age_ns);
  age_summary summary () const;
  void clear ();

private:
  std::array<std::uint64_t, window> ages_{};
  std::size_t next_ = 0;
  std::size_t count_ = 0;
};

/* The counts and bytes of one queue. Frames enter as held, leave either
 * dropped or pushed (then in flight until finally released). Thread-safe:
 * the producer, the consumer and any thread releasing a pushed frame may
 * call it at once. Shared (std::shared_ptr) because pushed frames may
 * outlive the queue. */
class frame_ledger
{
public:
  frame_ledger () = default;
  frame_ledger (const frame_ledger &) = delete;
  frame_ledger &operator= (const frame_ledger &) = delete;

  void count_received ();
  void count_drop (drop_reason reason, std::uint64_t bytes);
  /* A frame was pushed `age_ns` after its capture (or arrival). */
  void count_pushed (std::uint64_t age_ns);

  ledger_snapshot snapshot () const;
  /* Forgets counts, peaks and ages; keeps what is held and in flight. */
  void reset_counts ();

private:
  friend class frame_charge;
  void hold (std::uint64_t bytes);
  void unhold (std::uint64_t bytes);
  void take_off (std::uint64_t bytes);
  void land (std::uint64_t bytes);
  void update_peak_locked ();

  mutable std::mutex mutex_;
  ledger_snapshot counts_;
  age_window ages_;
};

/* The bytes of one frame, charged to a ledger (and a budget, if any) for as
 * long as this object lives: first as held, after take_off() as in flight.
 * Destroying it returns the bytes to both. Move-only. */
class frame_charge
{
public:
  frame_charge () = default;
  /* Charges `bytes` as held. The budget bytes must have been reserved by
   * the caller (memory_budget::try_reserve), this object releases them. */
  frame_charge (std::shared_ptr<frame_ledger> ledger,
                std::shared_ptr<memory_budget> budget, std::uint64_t bytes);
  frame_charge (frame_charge &&other) noexcept;
  frame_charge &operator= (frame_charge &&other) noexcept;
  frame_charge (const frame_charge &) = delete;
  frame_charge &operator= (const frame_charge &) = delete;
  ~frame_charge ();

  /* The frame leaves the queue downstream: held becomes in flight. */
  void take_off ();

private:
  void settle ();

  std::shared_ptr<frame_ledger> ledger_;
  std::shared_ptr<memory_budget> budget_;
  std::uint64_t bytes_ = 0;
  bool in_flight_ = false;
};

} // namespace latestframe
