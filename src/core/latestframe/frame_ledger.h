/* latestframe — the held entries and the counts as one ledger: every frame
 * received is handed over, dropped for one reason, or held.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/accounting.h"
#include "latestframe/containers.h"
#include "latestframe/held_entries.h"
#include "latestframe/keeper_counts.h"
#include "latestframe/keeper_decisions.h"
#include "latestframe/keeper_types.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace latestframe
{

/* The one place frames enter (receive, drop_arriving), leave to the
 * consumer (hand_over_front) and are dropped (every discard_* goes
 * through discard(), which counts the drop once, by reason, and returns its
 * budget reservation), so that at every moment
 *     received == handed over + dropped + held.
 * It also keeps what dropping means to the frames after: a frame dropped
 * (or refused) that others depend on breaks its chain, and the next frame
 * kept follows a gap (discont).
 *
 * Contract: a dropped or taken payload is always given back (a released
 * list, a taken entry), never destroyed here, except a query's, which the
 * caller's `abandon` does. Which frame goes, and why, is the caller's
 * decision; this part carries it out whole. Single-threaded: its owner
 * serialises. */
template <typename Payload> class frame_ledger
{
public:
  using entry = held_entry<Payload>;
  using released_item = latestframe::released_item<Payload>;
  using released_list = latestframe::released_list<Payload>;

  const held_entries<Payload> &held () const { return held_; }
  held_entries<Payload> &held () { return held_; }
  const keeper_counts &counts () const { return counts_; }

  /* ---- arrivals ----------------------------------------------------- */

  /* The newest chain lost a frame and no key unit came since: arriving
   * delta units cannot be decoded. */
  bool chain_broken () const { return chain_broken_; }
  /* A key unit arrived (or a flush starts the decoder over): the chain it
   * starts is whole. */
  void chain_starts () { chain_broken_ = false; }
  /* A frame of `unit` never reached the decoder (refused): unless nothing
   * needs it, the chain after it is broken. */
  void frame_lost (unit_kind unit)
  {
    if (unit != unit_kind::non_reference)
      chain_broken_ = true;
  }

  /* Holds an arriving frame: received, numbered, after a gap if frames
   * were dropped since the last one held. The caller sets what is its own
   * (arrival time, budget). */
  entry &receive (Payload &&frame, const frame_desc &desc, unit_kind unit)
  {
    entry &queued = held_.add_frame (std::move (frame), desc, unit);
    queued.sequence = ++counts_.received;
    queued.discont = std::exchange (pending_discont_, false);
    return queued;
  }

  /* Receives an arriving frame only to drop it for `reason`: the next one
   * held follows a gap, and unless nothing needs it, the chain is broken.
   * Returns its sequence number. */
  std::uint64_t drop_arriving (Payload &&frame, std::uint64_t bytes,
                               unit_kind unit, drop_reason reason,
                               released_list &released)
  {
    counts_.count_drop (reason, bytes);
    pending_discont_ = true;
    frame_lost (unit);
    released.push_back (
        released_item{ std::move (frame), true, marker_kind::plain });
    return ++counts_.received;
  }

  /* Held and in-flight bytes now: the peak follows. */
  void note_bytes (std::uint64_t in_flight)
  {
    counts_.note_bytes (held_.bytes () + in_flight);
  }

  /* ---- hand-over ---------------------------------------------------- */

  /* The front entry left for the consumer (the caller moved out what it
   * hands over); a frame counts as handed over (and decode-only, if it
   * is). */
  void hand_over_front (bool decode_only)
  {
    if (held_.front ().is_frame)
      {
        counts_.handed_over++;
        if (decode_only)
          counts_.decode_only++;
      }
    held_.pop_front ();
  }

  /* The ages of a frame handed over to be shown. */
  void note_shown (std::optional<std::uint64_t> age_ns,
                   std::optional<std::uint64_t> timestamp_age_ns)
  {
    if (age_ns)
      counts_.ages.record (*age_ns);
    if (timestamp_age_ns)
      counts_.timestamp_ages.record (*timestamp_age_ns);
  }

  /* ---- drops ---------------------------------------------------------- */

  /* The held frame at `index` goes for `reason`, and unless nothing needs
   * it, so do the delta units after it up to the next key unit (a broken
   * chain); with no key unit held after it, arriving delta units will go
   * too. The next frame kept follows a gap. Returns how many went. */
  LF_INLINE_HOT std::size_t discard_chain_at (std::size_t index,
                                              drop_reason reason,
                                              released_list &released)
  {
    const bool needed = held_[index].unit != unit_kind::non_reference;
    discard_at (index, reason, released);
    std::size_t dropped = 1;
    if (needed)
      dropped += break_chain_from (index, released);
    mark_gap (index);
    return dropped;
  }

  /* Drops the oldest chains until the held frames plus `arriving` (if
   * any, a frame of `unit`) fit `limits`; with no arrival, one chain
   * always stays. Returns how many frames went. */
  LF_INLINE_HOT std::size_t drop_oldest_until_fits (const queue_limits &limits,
                                                    const frame_desc *arriving,
                                                    unit_kind unit,
                                                    drop_reason reason,
                                                    released_list &released)
  {
    std::size_t dropped = 0;
    while (held_.frames () > 0 && !held_.fits (limits, arriving, unit))
      {
        if (!arriving && held_.chains () == 1)
          break;
        dropped
            += discard_chain_at (held_.oldest_frame_index (), reason, released);
      }
    return dropped;
  }

  /* Every held frame goes: unless nothing needs them (non-reference units
   * alone), delta units arriving next have lost their chain. */
  void discard_frames (drop_reason reason, released_list &released)
  {
    while (held_.frames () > 0)
      {
        const std::size_t oldest = held_.oldest_frame_index ();
        frame_lost (held_[oldest].unit);
        discard_at (oldest, reason, released);
      }
  }

  /* Downstream answered end-of-stream: everything up to the next entry
   * that can still be delivered (a new_stream or end_of_stream marker)
   * goes; frames count as flushed, queries are given to `refuse`, other
   * markers given back. Returns whether such an entry is held. */
  template <typename Refuse>
  bool discard_until_boundary (released_list &released, Refuse refuse)
  {
    bool chain_cut = false;
    bool boundary = false;
    while (!held_.empty ())
      {
        const entry &head = held_.front ();
        if (!head.is_frame
            && (head.marker == marker_kind::new_stream
                || head.marker == marker_kind::end_of_stream))
          {
            boundary = true;
            break;
          }
        entry skipped = held_.take (0);
        if (skipped.is_frame)
          {
            chain_cut |= skipped.unit != unit_kind::non_reference;
            discard (skipped, drop_reason::flush, released);
          }
        else if (skipped.marker == marker_kind::query)
          refuse (std::move (skipped));
        else
          released.push_back (
              released_item{ std::move (skipped.item), false, skipped.marker });
      }
    if (chain_cut)
      /* A new segment does not start a new chain: the delta units after
       * the boundary may need what was discarded. */
      break_chain_from (0, released);
    return boundary;
  }

  /* Every entry goes: frames are counted as flushed, queries given to
   * `abandon`, the rest given back. Forgets a pending gap. */
  template <typename Abandon>
  void drain (released_list &released, Abandon abandon)
  {
    while (!held_.empty ())
      {
        entry drained = held_.take (0);
        if (drained.is_frame)
          discard (drained, drop_reason::flush, released);
        else if (drained.marker == marker_kind::query)
          abandon (std::move (drained));
        else
          released.push_back (
              released_item{ std::move (drained.item), false, drained.marker });
      }
    pending_discont_ = false;
  }

  /* Empty when the levels match the entries, the counts balance and every
   * held frame was numbered; else the first that broke. */
  std::string check_invariants () const
  {
    std::string broken = held_.check ();
    if (broken.empty ())
      broken = counts_.check_invariants (held_.frames ());
    if (!broken.empty ())
      return broken;
    for (std::size_t i = 0; i < held_.size (); i++)
      if (held_[i].is_frame && held_[i].sequence == 0)
        return "a held frame without a sequence number";
    return {};
  }

private:
  /* The one place a held frame goes uncounted otherwise: counted, its
   * reservation returned to the budget it was admitted under, its payload
   * given back. */
  LF_INLINE_HOT void discard (entry &dropped, drop_reason reason,
                              released_list &released)
  {
    counts_.count_drop (reason, dropped.bytes);
    dropped.budget.reset ();
    released.push_back (
        released_item{ std::move (dropped.item), true, dropped.marker });
  }

  /* discard() of the held frame at `index`, in place. */
  LF_INLINE_HOT void discard_at (std::size_t index, drop_reason reason,
                                 released_list &released)
  {
    discard (held_[index], reason, released);
    held_.remove (index);
  }

  /* A frame the held delta units from `index` on need went: they go
   * (broken chain) up to the next key unit, or with none held, arriving
   * delta units will. Returns how many went. */
  std::size_t break_chain_from (std::size_t index, released_list &released)
  {
    std::size_t dropped = 0;
    for (std::size_t i = index;;)
      {
        if (i == held_.size ())
          {
            chain_broken_ = true;
            return dropped;
          }
        if (!held_[i].is_frame)
          {
            i++;
            continue;
          }
        if (held_[i].unit == unit_kind::key)
          return dropped;
        discard_at (i, drop_reason::broken_chain, released);
        dropped++;
      }
  }

  /* The first frame from `index` on follows a gap; with none held, the
   * next frame to arrive does. */
  LF_INLINE_HOT void mark_gap (std::size_t index)
  {
    for (std::size_t i = index; i < held_.size (); i++)
      if (held_[i].is_frame)
        {
          held_[i].discont = true;
          return;
        }
    pending_discont_ = true;
  }

  held_entries<Payload> held_;
  keeper_counts counts_;
  bool chain_broken_ = false;
  bool pending_discont_ = false;
};

} // namespace latestframe
