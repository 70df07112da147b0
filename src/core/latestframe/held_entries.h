/* latestframe — what a keeper holds: frames and markers in order, with
 * their levels and dependency chains.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/chains.h"
#include "latestframe/containers.h"
#include "latestframe/keeper_types.h"
#include "latestframe/memory_budget.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

namespace latestframe
{

/* One held entry: a frame, or a marker (an event or a query). */
template <typename Payload> struct held_entry
{
  Payload item{};
  bool is_frame = false;
  marker_kind marker = marker_kind::plain;
  /* Frames were dropped right before it in stream order. */
  bool discont = false;
  unit_kind unit = unit_kind::key;
  bool decode_only_possible = true;
  std::uint64_t bytes = 0;
  std::int64_t time_ns = no_time;
  std::int64_t timestamp_running_ns = no_time;
  /* The owner's running clock when it arrived (when known): how long it
   * has been held, for max-age while arrivals are late. */
  std::int64_t arrival_running_ns = no_time;
  /* When it arrived, for a frame without a running time aged from its
   * arrival (max-age on); the epoch otherwise. */
  steady_time arrival{};
  std::uint64_t sequence = 0;
  std::uint64_t ticket = 0;
  /* Its bytes reserved in a budget, if any (released when it goes). */
  budget_reservation budget;
};

/* The held entries, oldest first, and their levels: frames, bytes, the
 * span of frame times, and the dependency chains (the limit on frames
 * counts chains on encoded video, see unit_kind).
 *
 * Contract: a container, not a policy. It never drops anything by itself
 * and counts nothing but levels; whoever takes an entry out decides what
 * it was (handed over, dropped and why). Its levels always match its
 * entries (check() recounts them). No allocation once the ring has held
 * its largest level. Single-threaded: its owner serialises. */
template <typename Payload> class held_entries
{
public:
  using entry = held_entry<Payload>;

  std::size_t size () const { return entries_.size (); }
  bool empty () const { return entries_.empty (); }
  entry &operator[] (std::size_t index) { return entries_[index]; }
  const entry &operator[] (std::size_t index) const { return entries_[index]; }
  entry &front () { return entries_.front (); }
  const entry &front () const { return entries_[0]; }
  const entry &back () const { return entries_[entries_.size () - 1]; }

  std::uint32_t frames () const { return frames_; }
  std::uint64_t bytes () const { return bytes_; }
  /* Held delta and non-reference units. */
  std::uint32_t deltas () const { return deltas_; }

  /* Appends a frame; every field of the slot is set. */
  entry &add_frame (Payload &&frame, const frame_desc &desc, unit_kind unit)
  {
    entry &added = entries_.push_slot ();
    added.item = std::move (frame);
    added.is_frame = true;
    added.marker = marker_kind::plain;
    added.discont = false;
    added.unit = unit;
    added.bytes = desc.bytes;
    added.time_ns = desc.time_ns;
    added.timestamp_running_ns = desc.timestamp_running_ns;
    added.arrival_running_ns = desc.arrival_running_ns;
    added.arrival = steady_time ();
    added.decode_only_possible = desc.decode_only_possible;
    added.sequence = 0;
    added.ticket = 0;
    added.budget.reset ();
    frames_++;
    bytes_ += desc.bytes;
    if (unit != unit_kind::key)
      deltas_++;
    return added;
  }

  /* Appends a marker (a query's with its ticket). */
  void add_marker (Payload &&marker, marker_kind kind, std::uint64_t ticket)
  {
    entry &added = entries_.push_slot ();
    added = entry ();
    added.item = std::move (marker);
    added.marker = kind;
    added.ticket = ticket;
  }

  /* Removes the first entry, whose contents the caller moved out; a frame
   * leaves the levels. */
  void pop_front () { remove (0); }

  /* Removes the entry at `index`, whose contents the caller moved out; a
   * frame leaves the levels. */
  LF_INLINE_HOT void remove (std::size_t index)
  {
    const entry &gone = entries_[index];
    if (gone.is_frame)
      {
        frames_--;
        bytes_ -= gone.bytes;
        if (gone.unit != unit_kind::key)
          deltas_--;
      }
    if (index == 0)
      entries_.pop_front ();
    else
      entries_.take (index);
  }

  /* Removes and returns the entry at `index`; a frame leaves the levels. */
  entry take (std::size_t index)
  {
    entry taken = entries_.take (index);
    if (taken.is_frame)
      {
        frames_--;
        bytes_ -= taken.bytes;
        if (taken.unit != unit_kind::key)
          deltas_--;
      }
    return taken;
  }

  /* The oldest held frame; there must be one. */
  std::size_t oldest_frame_index () const
  {
    std::size_t i = 0;
    while (!entries_[i].is_frame)
      i++;
    return i;
  }

  /* The chains held: the key units, and the delta units at the head whose
   * key unit was handed over already. Frames of raw video are one each. */
  LF_INLINE_HOT std::uint32_t chains () const
  {
    if (deltas_ == 0)
      return frames_;
    const std::uint32_t keys = frames_ - deltas_;
    return entries_[oldest_frame_index ()].unit == unit_kind::key ? keys
                                                                  : keys + 1;
  }

  /* The span of frame times held, with `arriving` (if any) as the newest. */
  std::uint64_t span (const frame_desc *arriving = nullptr) const
  {
    std::int64_t oldest = no_time;
    std::int64_t newest = no_time;
    for (std::size_t i = 0; i < entries_.size (); i++)
      if (entries_[i].is_frame && entries_[i].time_ns != no_time)
        {
          oldest = entries_[i].time_ns;
          break;
        }
    if (arriving && arriving->time_ns != no_time)
      newest = arriving->time_ns;
    else
      for (std::size_t i = entries_.size (); i-- > 0;)
        if (entries_[i].is_frame && entries_[i].time_ns != no_time)
          {
            newest = entries_[i].time_ns;
            break;
          }
    if (oldest == no_time && arriving)
      oldest = arriving->time_ns;
    if (oldest == no_time || newest == no_time)
      return 0;
    return ns_after (newest, oldest);
  }

  queue_level level () const { return queue_level{ frames_, bytes_, span () }; }

  /* Whether the held frames plus `arriving` (if any, as a frame of `unit`)
   * are within `limits`. An empty keeper always takes one frame, and one
   * chain always takes its next delta unit. */
  LF_INLINE_HOT bool fits (const queue_limits &limits,
                           const frame_desc *arriving,
                           unit_kind unit = unit_kind::key) const
  {
    const bool starts_chain
        = arriving && (unit == unit_kind::key || frames_ == 0);
    const std::uint32_t chains_after = chains () + (starts_chain ? 1 : 0);
    const std::uint64_t bytes_after = bytes_ + (arriving ? arriving->bytes : 0);
    if (chains_after <= 1)
      return true;
    if (limits.max_frames > 0 && chains_after > limits.max_frames)
      return false;
    if (limits.max_bytes > 0 && bytes_after > limits.max_bytes)
      return false;
    if (limits.max_span_ns > 0 && span (arriving) > limits.max_span_ns)
      return false;
    return true;
  }

  /* At a limit now (queue's "filled"). */
  bool filled (const queue_limits &limits) const
  {
    return (limits.max_frames > 0 && chains () >= limits.max_frames)
           || (limits.max_bytes > 0 && bytes_ >= limits.max_bytes)
           || (limits.max_span_ns > 0 && span () >= limits.max_span_ns);
  }

  /* Below a threshold on some axis. */
  bool below (const queue_thresholds &wait) const
  {
    return (wait.frames > 0 && frames_ < wait.frames)
           || (wait.bytes > 0 && bytes_ < wait.bytes)
           || (wait.span_ns > 0 && span () < wait.span_ns);
  }

  /* Whether the newest stream boundary held is an end of stream. */
  bool newest_boundary_is_end () const
  {
    for (std::size_t i = entries_.size (); i-- > 0;)
      {
        const entry &candidate = entries_[i];
        if (candidate.is_frame)
          continue;
        if (candidate.marker == marker_kind::end_of_stream)
          return true;
        if (candidate.marker == marker_kind::new_stream)
          return false;
      }
    return false;
  }

  /* The levels recounted from the entries: empty when they match, else
   * what differs. */
  std::string check () const
  {
    std::uint32_t frames = 0, deltas = 0;
    std::uint64_t bytes = 0;
    for (std::size_t i = 0; i < entries_.size (); i++)
      if (entries_[i].is_frame)
        {
          frames++;
          bytes += entries_[i].bytes;
          if (entries_[i].unit != unit_kind::key)
            deltas++;
        }
    if (frames != frames_ || bytes != bytes_ || deltas != deltas_)
      return "held levels " + std::to_string (frames_) + " frames, "
             + std::to_string (bytes_) + " bytes, " + std::to_string (deltas_)
             + " deltas; the entries hold " + std::to_string (frames) + ", "
             + std::to_string (bytes) + ", " + std::to_string (deltas);
    return {};
  }

private:
  ring_fifo<entry> entries_;
  std::uint32_t frames_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint32_t deltas_ = 0;
};

} // namespace latestframe
