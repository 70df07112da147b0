/* latestframe — a keeper's counts, and the invariant they keep.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/accounting.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

namespace latestframe
{

/* What a keeper counted: frames received, handed over (decode-only ones
 * among them), dropped by reason; the peak of held plus in-flight bytes;
 * the ages of the frames handed over to be shown.
 *
 * Contract: count_drop() is the one place a drop is counted, and every
 * drop goes through it exactly once. At every moment the keeper is not
 * inside a call,
 *     received == handed_over + dropped (all reasons) + held frames
 * and decode_only <= handed_over; check_invariants() says which broke.
 * Single-threaded: its owner serialises. */
struct keeper_counts
{
  std::uint64_t received = 0;
  std::uint64_t handed_over = 0;
  std::uint64_t decode_only = 0;
  std::array<drop_tally, drop_reason_count> drops{};
  std::uint64_t peak_bytes = 0;
  age_window ages;
  age_window timestamp_ages;

  void count_drop (drop_reason reason, std::uint64_t bytes)
  {
    drop_tally &tally = drops[static_cast<std::size_t> (reason)];
    tally.frames++;
    tally.bytes += bytes;
  }

  void note_bytes (std::uint64_t responsible_for)
  {
    peak_bytes = std::max (peak_bytes, responsible_for);
  }

  std::uint64_t dropped () const
  {
    std::uint64_t frames = 0;
    for (const drop_tally &tally : drops)
      frames += tally.frames;
    return frames;
  }

  /* Empty when the counts balance with `held_frames`, else what broke. */
  std::string check_invariants (std::uint32_t held_frames) const
  {
    if (received != handed_over + dropped () + held_frames)
      return "received " + std::to_string (received) + " != handed over "
             + std::to_string (handed_over) + " + dropped "
             + std::to_string (dropped ()) + " + held "
             + std::to_string (held_frames);
    if (decode_only > handed_over)
      return "decode-only " + std::to_string (decode_only) + " > handed over "
             + std::to_string (handed_over);
    return {};
  }
};

} // namespace latestframe
