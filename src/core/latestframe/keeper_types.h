/* latestframe — the words the keeper's parts share: limits, thresholds,
 * levels, times, markers, and what an arriving frame tells.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/chains.h"

#include <chrono>
#include <cstdint>

/* The few functions on a frame's path through the keeper (admit, take):
 * inlined into the wrapper's call, as one function would be, so that the
 * split into a core and a wrapper costs the hot path no calls. */
#if defined(__GNUC__)
#define LF_INLINE_HOT __attribute__ ((always_inline)) inline
#else
#define LF_INLINE_HOT inline
#endif

namespace latestframe
{

/* The keeper's core never reads a clock: its owner reads this one and
 * passes the time in. */
using steady_time = std::chrono::steady_clock::time_point;

/* What to do with a frame that does not fit. */
enum class leak_policy : std::uint8_t
{
  none,          /* block the producer until the consumer makes room */
  drop_arriving, /* drop the frame that does not fit */
  drop_oldest,   /* drop the oldest held frames until the new one fits */
};

/* Limits on the frames held; 0 means no limit on that axis. A lone frame is
 * always accepted, even when it alone is larger than max_bytes, otherwise a
 * too-small byte limit would stop the stream for good. On encoded video,
 * max_frames counts chains (see unit_kind), and a lone chain is accepted as
 * a lone frame is. */
struct queue_limits
{
  std::uint32_t max_frames = 1;
  std::uint64_t max_bytes = 0;
  std::uint64_t max_span_ns = 0; /* newest frame time minus oldest frame time */

  bool unbounded () const
  {
    return max_frames == 0 && max_bytes == 0 && max_span_ns == 0;
  }
};

/* How much the consumer waits to be held before it takes anything (queue's
 * min-threshold-*); 0 = no wait on that axis. A limit reached, an end of
 * stream, or a marker at the tail ends the wait, so that a query is never
 * held back for good. */
struct queue_thresholds
{
  std::uint32_t frames = 0;
  std::uint64_t bytes = 0;
  std::uint64_t span_ns = 0;

  bool none () const { return frames == 0 && bytes == 0 && span_ns == 0; }
};

struct queue_level
{
  std::uint32_t frames = 0;
  std::uint64_t bytes = 0;
  std::uint64_t span_ns = 0;
};

/* A frame time that is not known (no timestamp, no segment). */
inline constexpr std::int64_t no_time = -1;

/* How long `later` is after `earlier` (0 if it is not). Times on the
 * running clock may be anywhere in 64 bits: a capture time placed before
 * the clock started is negative, a running time may be close to 2^63 ns;
 * their difference may not fit a signed integer, and always fits this. */
inline std::uint64_t
ns_after (std::int64_t later, std::int64_t earlier)
{
  return later > earlier ? static_cast<std::uint64_t> (later)
                               - static_cast<std::uint64_t> (earlier)
                         : 0;
}

/* What a marker (anything queued that is not a frame) means to the rules. */
enum class marker_kind : std::uint8_t
{
  plain,         /* refused while halted (a serialized, non-sticky event) */
  sticky,        /* keeps its place among the held entries even while halted */
  new_stream,    /* sticky, and begins a stream: ends `ended` */
  end_of_stream, /* the producer is done: frames are refused after it */
  query,         /* its producer waits (wait_ack) for the consumer's answer */
};

/* The answer a query's producer gets from wait_ack(). */
enum class ack_result : std::uint8_t
{
  accepted,
  refused,
  abandoned, /* never handled: flushed, or withdrawn while halted */
};

/* An arriving frame, as the keeper needs to know it: facts the owner
 * observes, never a decision. */
struct frame_desc
{
  std::uint64_t bytes = 0;
  /* Its running time, or no_time: the axis max_span_ns limits, and what its
   * age is measured from. */
  std::int64_t time_ns = no_time;
  /* The owner's running clock when it arrived: how old it already is, for
   * max-age's warning about frames arriving too old. May stay unknown
   * (no_time) while max-age is off. */
  std::int64_t arrival_running_ns = no_time;
  /* When time_ns is not the frame's own timestamp but its capture time
   * (read from the stream, expressed on the running clock): the running
   * time of its timestamp, whose ages are kept beside the others, for
   * comparison. no_time otherwise. */
  std::int64_t timestamp_running_ns = no_time;
  /* What it depends on, as its flags tell. On raw video (the hand-over
   * request says so) every frame counts as a key unit, whatever this says. */
  unit_kind unit = unit_kind::key;
  /* Its presentation time as the stream gives it (any axis, no_time: none):
   * a delta unit presented before the frame sent ahead of it tells that the
   * stream is sent out of presentation order. */
  std::int64_t presentation_ns = no_time;
  /* Whether the owner could hand it over decode-only, if asked to (a
   * decoder after it can be made to decode it and show nothing). */
  bool decode_only_possible = true;
};

} // namespace latestframe
