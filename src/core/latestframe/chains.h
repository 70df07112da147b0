/* latestframe — dependency chains of encoded video: what a frame needs
 * decoded before it, and how much of each chain the decoder gets.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/decode_modes.h"

#include <cstdint>

namespace latestframe
{

/* What a frame depends on. A raw frame depends on nothing: a key unit. On
 * encoded video a delta unit needs every frame of its chain before it (back
 * to the chain's key unit) decoded first, and a non-reference unit needs
 * them too, but no frame needs it: it may go alone. */
enum class unit_kind : std::uint8_t
{
  key,
  delta,
  non_reference,
};

/* How much of each chain a decoder after the keeper gets, by decode_mode
 * (decode_modes.h). Frames that are
 * all key units (raw video) have chains of one frame, where the modes only
 * differ by the pace and newest-first hand-over.
 *
 * | mode       | the decoder gets                          | it decodes per analysis        | age at analysis          |
 * |------------|-------------------------------------------|--------------------------------|--------------------------|
 * | all        | every frame kept, in order, whole chains  | every frame                    | the queue's              |
 * | on_demand  | when its consumer is ready: the newest    | the frames of the newest chain | the newest frame's, plus |
 * |            | chain from where it stopped, up to the    | not decoded yet (a new key     | the decoding of its chain|
 * |            | newest frame; all but that one are        | unit starts over)              |                          |
 * |            | decode-only                               |                                |                          |
 * | key_units  | the newest key unit; delta units are      | one frame                      | up to one key interval   |
 * |            | dropped as they arrive                    |                                |                          |
 * | automatic  | key_units when they meet the pace and     |                                |                          |
 * |            | max-age (both at least a key interval),   |                                |                          |
 * |            | else on_demand                            |                                |                          | */

/* The mode automatic stands for, given what the consumer asked for: key
 * units alone are enough when the consumer takes at most one frame per key
 * interval (`pace_ns`, 0: as fast as it can, which key units cannot feed;
 * a key interval up to a tenth longer than the pace still counts, as a
 * camera's one-second GOP measures 1.001 s against a pace of one second)
 * and accepts frames as old as one key interval (`max_age_ns`, 0: any age);
 * otherwise each analysis decodes its chain on demand. Until the key
 * interval is known (`key_interval_ns` 0), on demand: it is never wrong. */
inline decode_mode
decode_mode_in_force (decode_mode asked, std::uint64_t pace_ns,
                      std::uint64_t max_age_ns, std::uint64_t key_interval_ns)
{
  if (asked != decode_mode::automatic)
    return asked;
  const bool pace_met = pace_ns != 0 && key_interval_ns != 0
                        && pace_ns + pace_ns / 10 >= key_interval_ns;
  const bool age_met = max_age_ns == 0 || max_age_ns >= key_interval_ns;
  return pace_met && age_met ? decode_mode::key_units : decode_mode::on_demand;
}

/* What a keeper's owner asks of the hand-over, and the facts it depends
 * on: the plan is made from this, under the keeper's lock, so that a
 * setting and a caps change made at once cannot leave the plan out of step
 * with either. */
struct hand_over_request
{
  /* The caps in force are encoded video (frames are key, delta or
   * non-reference units); raw frames are all key units. */
  bool encoded = false;
  decode_mode decode = decode_mode::all;
  /* Frames to pass on per second (0: as fast as they are taken). */
  double rate = 0;
  /* An application takes the newest frame when it asks (nothing is
   * pushed); otherwise the owner's thread pushes every frame kept. */
  bool on_request = false;
};

/* What a keeper is set to hand over, from what its owner asked. */
struct hand_over_plan
{
  /* How much of each chain the decoder gets (meaningful on encoded video
   * only: raw frames are all key units). */
  decode_mode mode = decode_mode::all;
  std::uint64_t pace_ns = 0; /* at most one frame shown per this, 0: none */
  /* Take the newest frame rather than the next one: whenever frames are
   * paced, chains cut short, or taken on request. */
  bool newest = false;
  /* The rate was asked for but cannot apply: encoded video decoded whole
   * (decode_mode::all) needs every frame to reach the decoder. The owner
   * says so. */
  bool rate_ignored = false;
  /* Who takes the frames: an application on request, or the owner's
   * thread pushing them. */
  bool on_request = false;
};

inline hand_over_plan
plan_hand_over (const hand_over_request &request)
{
  hand_over_plan plan;
  const bool every_frame_decoded
      = request.encoded && request.decode == decode_mode::all;
  plan.mode = request.encoded ? request.decode : decode_mode::all;
  plan.rate_ignored = every_frame_decoded && request.rate > 0;
  if (request.rate > 0 && !every_frame_decoded)
    plan.pace_ns = static_cast<std::uint64_t> (1e9 / request.rate);
  plan.on_request = request.on_request;
  plan.newest = (request.encoded && request.decode != decode_mode::all)
                || plan.pace_ns != 0 || request.on_request;
  return plan;
}

/* The interval between key units, from their times: the largest of the
 * last few, so that one early key unit (a scene cut, a resent IDR) does not
 * make key units look frequent enough for a bound they cannot meet. */
class key_interval_meter
{
public:
  void key_unit_at (std::int64_t time_ns)
  {
    if (time_ns < 0)
      return;
    if (last_ns_ >= 0 && time_ns > last_ns_)
      {
        intervals_[next_] = static_cast<std::uint64_t> (time_ns - last_ns_);
        next_ = (next_ + 1) % window;
      }
    last_ns_ = time_ns;
  }

  /* The largest recent interval: key units come at least this often.
   * 0 until two key units were timed. */
  std::uint64_t interval_ns () const
  {
    std::uint64_t largest = 0;
    for (std::uint64_t interval : intervals_)
      largest = interval > largest ? interval : largest;
    return largest;
  }

  /* The shortest recent interval: key units come at most this often.
   * 0 until two key units were timed. */
  std::uint64_t shortest_interval_ns () const
  {
    std::uint64_t shortest = 0;
    for (std::uint64_t interval : intervals_)
      if (interval != 0 && (shortest == 0 || interval < shortest))
        shortest = interval;
    return shortest;
  }

  void reset () { *this = key_interval_meter (); }

private:
  static constexpr unsigned window = 4;
  std::uint64_t intervals_[window] = {};
  unsigned next_ = 0;
  std::int64_t last_ns_ = -1;
};

} // namespace latestframe
