/* latestframe — what a queue is responsible for: counts, bytes, ages.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/frame_ledger.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace latestframe
{

void
age_window::record (std::uint64_t age_ns)
{
  ages_[next_] = age_ns;
  next_ = (next_ + 1) % window;
  count_ = std::min (count_ + 1, window);
}

age_summary
age_window::summary () const
{
  age_summary summary;
  if (count_ == 0)
    return summary;
  std::vector<std::uint64_t> sorted (ages_.begin (), ages_.begin () + count_);
  std::sort (sorted.begin (), sorted.end ());
  /* Nearest rank: the smallest age that at least p% of samples reach. */
  auto rank = [&] (std::size_t percent) {
    std::size_t index = (percent * count_ + 99) / 100;
    return sorted[std::max<std::size_t> (index, 1) - 1];
  };
  summary.p50_ns = rank (50);
  summary.p95_ns = rank (95);
  summary.max_ns = sorted.back ();
  summary.samples = static_cast<std::uint32_t> (count_);
  return summary;
}

void
age_window::clear ()
{
  next_ = 0;
  count_ = 0;
}

void
frame_ledger::count_received ()
{
  std::lock_guard<std::mutex> lock (mutex_);
  counts_.received++;
}

void
frame_ledger::count_drop (drop_reason reason, std::uint64_t bytes)
{
  std::lock_guard<std::mutex> lock (mutex_);
  drop_tally &tally = reason == drop_reason::overflow ? counts_.overflow
                      : reason == drop_reason::age    ? counts_.age
                      : reason == drop_reason::budget ? counts_.budget
                                                      : counts_.flush;
  tally.frames++;
  tally.bytes += bytes;
}

void
frame_ledger::count_pushed (std::uint64_t age_ns)
{
  std::lock_guard<std::mutex> lock (mutex_);
  counts_.pushed++;
  ages_.record (age_ns);
}

ledger_snapshot
frame_ledger::snapshot () const
{
  ledger_snapshot snapshot;
  age_window ages;
  {
    /* Copied under the lock, sorted outside it: the streaming threads take
     * this lock for every frame. */
    std::lock_guard<std::mutex> lock (mutex_);
    snapshot = counts_;
    ages = ages_;
  }
  snapshot.ages = ages.summary ();
  return snapshot;
}

void
frame_ledger::reset_counts ()
{
  std::lock_guard<std::mutex> lock (mutex_);
  ledger_snapshot fresh;
  fresh.held_frames = counts_.held_frames;
  fresh.held_bytes = counts_.held_bytes;
  fresh.in_flight_frames = counts_.in_flight_frames;
  fresh.in_flight_bytes = counts_.in_flight_bytes;
  counts_ = fresh;
  update_peak_locked ();
  ages_.clear ();
}

void
frame_ledger::hold (std::uint64_t bytes)
{
  std::lock_guard<std::mutex> lock (mutex_);
  counts_.held_frames++;
  counts_.held_bytes += bytes;
  update_peak_locked ();
}

void
frame_ledger::unhold (std::uint64_t bytes)
{
  std::lock_guard<std::mutex> lock (mutex_);
  counts_.held_frames--;
  counts_.held_bytes -= bytes;
}

void
frame_ledger::take_off (std::uint64_t bytes)
{
  std::lock_guard<std::mutex> lock (mutex_);
  counts_.held_frames--;
  counts_.held_bytes -= bytes;
  counts_.in_flight_frames++;
  counts_.in_flight_bytes += bytes;
}

void
frame_ledger::land (std::uint64_t bytes)
{
  std::lock_guard<std::mutex> lock (mutex_);
  counts_.in_flight_frames--;
  counts_.in_flight_bytes -= bytes;
}

void
frame_ledger::update_peak_locked ()
{
  counts_.peak_bytes = std::max (counts_.peak_bytes,
                                 counts_.held_bytes + counts_.in_flight_bytes);
}

frame_charge::frame_charge (std::shared_ptr<frame_ledger> ledger,
                            std::shared_ptr<memory_budget> budget,
                            std::uint64_t bytes)
    : ledger_ (std::move (ledger)), budget_ (std::move (budget)), bytes_ (bytes)
{
  if (ledger_)
    ledger_->hold (bytes_);
}

frame_charge::frame_charge (frame_charge &&other) noexcept
    : ledger_ (std::move (other.ledger_)), budget_ (std::move (other.budget_)),
      bytes_ (std::exchange (other.bytes_, 0)),
      in_flight_ (std::exchange (other.in_flight_, false))
{
}

frame_charge &
frame_charge::operator= (frame_charge &&other) noexcept
{
  if (this != &other)
    {
      settle ();
      ledger_ = std::move (other.ledger_);
      budget_ = std::move (other.budget_);
      bytes_ = std::exchange (other.bytes_, 0);
      in_flight_ = std::exchange (other.in_flight_, false);
    }
  return *this;
}

frame_charge::~frame_charge () { settle (); }

void
frame_charge::take_off ()
{
  if (ledger_ && !in_flight_)
    ledger_->take_off (bytes_);
  in_flight_ = true;
}

void
frame_charge::settle ()
{
  if (ledger_)
    {
      if (in_flight_)
        ledger_->land (bytes_);
      else
        ledger_->unhold (bytes_);
    }
  if (budget_)
    budget_->release (bytes_);
  ledger_.reset ();
  budget_.reset ();
  bytes_ = 0;
  in_flight_ = false;
}

} // namespace latestframe
