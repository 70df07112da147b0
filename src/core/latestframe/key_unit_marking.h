/* latestframe — when the segment downstream says that key units alone
 * follow (a key-unit trick mode), so that a decoder outputs each at once.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

namespace latestframe
{

/* Decides, per stream, whether the segment pushed downstream carries the
 * key-unit trick mode flag (GST_SEGMENT_FLAG_TRICKMODE_KEY_UNITS), which
 * makes every GstVideoDecoder drain after each key unit: the picture comes
 * out at once (on a stream with B-frames the decoder held it until the
 * next key unit) and no reference picture is kept in between.
 *
 * - It is set before a key unit handed over while key units alone are
 *   (handover::key_unit_alone), and taken off before any other frame; a
 *   flag that upstream set is never taken off.
 * - In that mode gst-libav has libavcodec skip all but key frames (for
 *   H.264 IDR pictures and units after a recovery point, for H.265 IRAP
 *   pictures; nal_units.h), and applies the mode one unit late: it sets it
 *   after sending a unit. A parser also calls a unit of non-IDR I slices a
 *   key unit, so the first key unit that a decoder in that mode would skip
 *   ends the marking for the stream (until new caps), and must be warned
 *   about when it came right after a marked one.
 * - Only in a TIME segment of positive rate (decoders treat the flag
 *   differently in reverse).
 *
 * Threads: the owner's, under its lock. */
class key_unit_marking
{
public:
  enum class change
  {
    none,
    mark,   /* push the segment with the flag set */
    unmark, /* push the segment with the flag taken off */
  };

  struct verdict
  {
    change segment = change::none;
    /* This key unit may be skipped by the decoder: warn, once. */
    bool warn_may_be_skipped = false;
  };

  /* New caps: maybe another stream, whose key units are judged afresh. */
  void new_caps () { not_all_decodable_ = false; }

  /* A segment from upstream replaced the one downstream: whether it can
   * be marked (TIME, positive rate), and whether upstream marked it. */
  void new_segment (bool markable, bool upstream_marked)
  {
    markable_ = markable && !upstream_marked;
    marked_ = false;
  }

  /* A frame about to be pushed: `key_unit_alone` as the keeper handed it
   * over; `decodes_alone`, for such a key unit, whether a decoder skipping
   * all but key frames decodes it. */
  verdict before_frame (bool key_unit_alone, bool decodes_alone)
  {
    verdict out;
    bool want = key_unit_alone;
    if (key_unit_alone && !decodes_alone && !not_all_decodable_)
      {
        not_all_decodable_ = true;
        out.warn_may_be_skipped = marked_;
      }
    if (not_all_decodable_)
      want = false;
    if (markable_ && want != marked_)
      {
        marked_ = want;
        out.segment = want ? change::mark : change::unmark;
      }
    return out;
  }

  /* Whether before_frame() still reads `decodes_alone`: not once a key
   * unit of this stream was not decodable alone (until new caps). */
  bool judges_key_units () const { return !not_all_decodable_; }

  /* The segment downstream carries the flag this class set. */
  bool marked () const { return marked_; }

private:
  bool markable_ = false;
  bool marked_ = false;
  bool not_all_decodable_ = false;
};

} // namespace latestframe
