/* latestframe — why a frame is dropped: the one list of the reasons.
 *
 * Every place that names or counts them is made from drop_reasons below:
 * the element's `stats` structure (dropped-NAME, dropped-NAME-bytes), the
 * capture's figures (capture_stats::dropped_by_reason) and the Python
 * binding's dict (dropped_NAME), the service's health record and its
 * /metrics, and the generated reference (the table in docs/memory.md and
 * schema/drop-reasons.schema.json, written by latestframe-reference).
 * A reason added here appears in all of them.
 *
 * Installed with the capture's header: C++17 only, no GLib.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace latestframe
{

/* Why a frame was dropped. Every drop has exactly one. */
enum class drop_reason : std::uint8_t
{
  overflow,
  age,
  budget,
  flush,
  superseded,
  broken_chain,
  skipped_delta,
};

struct drop_reason_info
{
  drop_reason reason;
  const char *name;    /* as the stats structure and the messages spell it */
  const char *meaning; /* one line, for the docs and the schema */
};

/* In the enum's order. */
inline constexpr std::array<drop_reason_info, 7> drop_reasons{ {
    { drop_reason::overflow, "overflow",
      "a size limit (max-size-buffers, -bytes, -time) had no room for it" },
    { drop_reason::age, "age",
      "older than max-age when it was about to be handed over" },
    { drop_reason::budget, "budget",
      "the shared memory budget had no room for it" },
    { drop_reason::flush, "flush",
      "discarded unhanded: a flush, a stop, flush-on-eos, or downstream's "
      "EOS or error" },
    { drop_reason::superseded, "superseded",
      "a newer frame was handed over on request instead" },
    { drop_reason::broken_chain, "broken-chain",
      "encoded video: a delta unit that needs a frame dropped before it "
      "(the frame that broke the chain counts by its own reason)" },
    { drop_reason::skipped_delta, "skipped-delta",
      "encoded video, decode=key-units: a delta unit passed over as it came" },
} };

inline constexpr std::size_t drop_reason_count = drop_reasons.size ();

constexpr std::size_t
drop_reason_index (drop_reason reason)
{
  return static_cast<std::size_t> (reason);
}

constexpr const char *
drop_reason_name (drop_reason reason)
{
  return drop_reasons[drop_reason_index (reason)].name;
}

/* The table is in the enum's order, one row per reason. */
constexpr bool
drop_reasons_in_order ()
{
  for (std::size_t i = 0; i < drop_reason_count; i++)
    if (drop_reason_index (drop_reasons[i].reason) != i)
      return false;
  return drop_reason_index (drop_reason::skipped_delta) + 1
         == drop_reason_count;
}
static_assert (drop_reasons_in_order (), "drop_reasons: one row per reason, "
                                         "in the enum's order");

} // namespace latestframe
