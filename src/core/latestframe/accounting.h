/* latestframe — what a keeper counts: drops by reason, ages, bytes in flight.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/chains.h"
#include "latestframe/drop_reasons.h"
#include "latestframe/memory_budget.h"

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace latestframe
{

struct drop_tally
{
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
};

/* The ages of the most recent handed-over frames, summarised. */
struct age_summary
{
  std::uint64_t p50_ns = 0;
  std::uint64_t p95_ns = 0;
  std::uint64_t max_ns = 0;
  std::uint32_t samples = 0;
};

/* A ring of the last `window` ages; percentiles by nearest rank. Not
 * thread-safe: its owner locks. */
class age_window
{
public:
  static constexpr std::size_t window = 256;

  void record (std::uint64_t age_ns)
  {
    ages_[next_] = age_ns;
    next_ = (next_ + 1) % window;
    if (count_ < window)
      count_++;
  }
  age_summary summary () const;
  void clear () { next_ = count_ = 0; }

private:
  std::array<std::uint64_t, window> ages_{};
  std::size_t next_ = 0;
  std::size_t count_ = 0;
};

/* The frames a keeper handed over that are still alive somewhere (in
 * flight). A frame lands on whatever thread drops its last reference, maybe
 * after the keeper is gone: so the bytes, the frames and the references
 * that keep this object alive (its keeper's, and one per frame in flight)
 * share one atomic word, and taking off or landing is one atomic operation.
 * Bytes in flight up to 2^40 (1 TiB), frames up to 2^24. */
class flight_accounts
{
  struct release_owner
  {
    void operator() (flight_accounts *accounts) const
    {
      accounts->drop (owner_reference);
    }
  };

public:
  /* The keeper's reference: the accounts live until it and every charge
   * taken off them are gone. */
  using owner = std::unique_ptr<flight_accounts, release_owner>;

  static owner create ()
  {
    auto made = std::unique_ptr<flight_accounts> (new flight_accounts ());
    return owner (made.release ());
  }

  flight_accounts (const flight_accounts &) = delete;
  flight_accounts &operator= (const flight_accounts &) = delete;

  /* A frame of `bytes` takes off: it holds a reference until it lands. */
  void take_off (std::uint64_t bytes)
  {
    word_.fetch_add (frame_unit + bytes, std::memory_order_relaxed);
  }
  void land (std::uint64_t bytes) { drop (frame_unit + bytes); }

  /* For the owner (its reference is not a frame); racy by nature: frames
   * land on any thread at any time. */
  std::uint64_t frames_approx () const
  {
    return (word_.load (std::memory_order_relaxed) >> byte_bits) - 1;
  }
  std::uint64_t bytes_approx () const
  {
    return word_.load (std::memory_order_relaxed) & byte_mask;
  }

private:
  static constexpr unsigned byte_bits = 40;
  static constexpr std::uint64_t byte_mask = (std::uint64_t (1) << byte_bits) - 1;
  static constexpr std::uint64_t frame_unit = std::uint64_t (1) << byte_bits;
  static constexpr std::uint64_t owner_reference = frame_unit;

  flight_accounts () = default;

  /* Drops `amount` (a reference and its bytes); the last reference frees
   * this object. */
  void drop (std::uint64_t amount)
  {
    const std::uint64_t before
        = word_.fetch_sub (amount, std::memory_order_acq_rel);
    if (before == amount)
      std::unique_ptr<flight_accounts> last (this);
  }

  /* References (frames in flight + the owner's) above byte_bits, bytes
   * below. */
  std::atomic<std::uint64_t> word_{ owner_reference };
};

/* A handed-over frame's bytes, counted in flight (and kept reserved in the
 * memory budget it was admitted under, if any) for as long as this object
 * lives; destroying it lands them. Move-only; costs no allocation, and one
 * atomic operation to make and one to land (and the budget's lock to land,
 * with a budget).
 *
 * Made in two steps by a keeper: the core makes it under the lock
 * (to_launch: the budget's reservation moves in), and the wrapper launches
 * it once the lock is let go. The atomic add on the accounts, whose word
 * every thread that lands a frame writes, stays out of the critical
 * section the producer waits on: 2-3% of the hand-off's CPU on two cores
 * (compare_builds.py handoff, 30 pairs, twice). Until launched it is not
 * charged(), and destroying it only gives the reservation back. */
class in_flight_charge
{
public:
  in_flight_charge () = default;
  in_flight_charge (flight_accounts &accounts, budget_reservation budget,
                    std::uint64_t bytes)
      : accounts_ (&accounts), budget_ (std::move (budget)), bytes_ (bytes)
  {
    accounts_->take_off (bytes_);
  }
  static in_flight_charge to_launch (flight_accounts &accounts,
                                     budget_reservation budget,
                                     std::uint64_t bytes)
  {
    in_flight_charge charge;
    charge.budget_ = std::move (budget);
    charge.bytes_ = bytes;
    charge.launch_onto_ = &accounts;
    return charge;
  }
  /* Counts the bytes in flight (once; nothing if made launched). */
  void launch ()
  {
    if (launch_onto_)
      {
        accounts_ = std::exchange (launch_onto_, nullptr);
        accounts_->take_off (bytes_);
      }
  }
  in_flight_charge (in_flight_charge &&other) noexcept
      : accounts_ (std::exchange (other.accounts_, nullptr)),
        budget_ (std::move (other.budget_)),
        bytes_ (std::exchange (other.bytes_, 0)),
        launch_onto_ (std::exchange (other.launch_onto_, nullptr))
  {
  }
  in_flight_charge &operator= (in_flight_charge &&other) noexcept
  {
    if (this != &other)
      {
        land ();
        accounts_ = std::exchange (other.accounts_, nullptr);
        budget_ = std::move (other.budget_);
        bytes_ = std::exchange (other.bytes_, 0);
        launch_onto_ = std::exchange (other.launch_onto_, nullptr);
      }
    return *this;
  }
  in_flight_charge (const in_flight_charge &) = delete;
  in_flight_charge &operator= (const in_flight_charge &) = delete;
  ~in_flight_charge () { land (); }

  std::uint64_t bytes () const { return bytes_; }
  bool charged () const { return accounts_ != nullptr; }

private:
  void land ()
  {
    budget_.reset ();
    if (accounts_)
      std::exchange (accounts_, nullptr)->land (bytes_);
    launch_onto_ = nullptr;
    bytes_ = 0;
  }

  flight_accounts *accounts_ = nullptr;
  budget_reservation budget_;
  std::uint64_t bytes_ = 0;
  /* Made but not launched yet (to_launch). */
  flight_accounts *launch_onto_ = nullptr;
};

/* Every figure of a keeper at one moment. The counts, levels and ages are
 * consistent with each other (read under the keeper's lock); in flight is
 * read just after, without it. */
struct keeper_stats
{
  std::uint64_t received = 0;    /* frames admitted (not refused) */
  std::uint64_t handed_over = 0; /* frames handed to the consumer */
  /* Of those, handed over only to be decoded, so that a newer frame of
   * their chain can be (decode_mode::on_demand). */
  std::uint64_t decode_only = 0;
  /* Encoded video: the mode in force (automatic's choice), the key-unit
   * interval measured (0: not known). */
  decode_mode decoding = decode_mode::all;
  bool encoded = false; /* the caps in force are encoded video */
  std::uint64_t key_interval_ns = 0;
  std::array<drop_tally, drop_reason_count> drops{};
  std::uint32_t held_frames = 0;
  /* What max_frames limits: on encoded video, the dependency chains held
   * (see unit_kind); else the frames. */
  std::uint32_t held_chains = 0;
  std::uint64_t held_bytes = 0;
  std::uint64_t held_span_ns = 0;
  std::uint64_t in_flight_frames = 0;
  std::uint64_t in_flight_bytes = 0;
  std::uint64_t peak_bytes = 0; /* highest held + in flight */
  age_summary ages;
  /* For frames aged from a capture time: their ages by their own
   * timestamps (frame_desc::timestamp_running_ns), beside. */
  age_summary timestamp_ages;
  bool upstream_live = true;
  /* The memory budget joined, if any: its name, the cap in force, used. */
  bool has_budget = false;
  std::string budget_name;
  std::uint64_t budget_cap = 0;
  std::uint64_t budget_used = 0;

  const drop_tally &dropped_for (drop_reason reason) const
  {
    return drops[static_cast<std::size_t> (reason)];
  }
  std::uint64_t dropped () const
  {
    std::uint64_t frames = 0;
    for (const drop_tally &tally : drops)
      frames += tally.frames;
    return frames;
  }
  std::uint64_t dropped_bytes () const
  {
    std::uint64_t bytes = 0;
    for (const drop_tally &tally : drops)
      bytes += tally.bytes;
    return bytes;
  }
};

} // namespace latestframe
