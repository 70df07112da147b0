/* latestframe capture — one connection: its pipeline, and the frames taken
 * from its latestframe element.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gst_ptr.h"
#include "latestframe/drop_reasons.h"
#include "source.h"

#include <gst/video/video.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace latestframe::detail
{

/* latestframe's counters that add up across connections. */
struct element_counts
{
  std::uint64_t received = 0, pushed = 0, dropped = 0, capture_time_frames = 0,
                capture_time_unused = 0;
  std::array<std::uint64_t, drop_reason_count> dropped_by_reason{};
  /* The gate before the decoder, if any (see session): its drops, and the
   * frames it passed on only to be decoded. */
  std::uint64_t not_decoded = 0, decode_only = 0;

  static element_counts from (const GstStructure *stats);
  void add (const element_counts &other);
};

/* A field of latestframe's stats; 0 or false when it is missing. */
std::uint64_t structure_uint64 (const GstStructure *structure,
                                const char *field);
bool structure_boolean (const GstStructure *structure, const char *field);

/* One connection's pipeline:
 *
 *   <source> ! latestframe delivery=on-request
 *
 * and for an RTSP camera read with options.decode or analysis_rate, a gate
 * before the decoder (source_spec::description()):
 *
 *   rtspsrc ! parsebin ! latestframe name=gate decode=... ! decodebin ! ...
 *
 * The application thread takes the newest frame from latestframe itself
 * (try-pull-frame): no streaming thread is ever held for it, and only the
 * frames taken are converted (by the reader, see frame_converter).
 *
 * Thread-safe: the supervisor plays, watches and stops it while a reader
 * pulls; stop() wakes a reader waiting in pull(). */
class session
{
public:
  /* Null, with `error` set, when the pipeline cannot be built. */
  static std::unique_ptr<session> build (const source_spec &source,
                                         const capture_options &options,
                                         std::uint64_t connection,
                                         std::uint64_t sequence_base,
                                         std::string &error);
  session () = default;
  ~session ();
  session (const session &) = delete;
  session &operator= (const session &) = delete;

  void play ();
  /* To NULL: a reader waiting in pull() returns null, and every later
   * pull() at once. Idempotent. */
  void stop ();

  /* The newest frame not taken before, waiting up to `timeout`; null on
   * timeout, once stopped, or at the end of the stream. */
  sample_ptr pull (std::chrono::nanoseconds timeout);

  enum class bus_event
  {
    none,
    error,
    end,
  };
  /* Waits up to `timeout` for an error or the end of the stream on the
   * pipeline's bus, or for wake(); `error` says which element failed and
   * why. */
  bus_event wait_bus (std::chrono::milliseconds timeout, std::string &error);
  /* Ends a wait_bus() now (or the next one), as none. Any thread. */
  void wake ();

  /* With an analysis: the newest frame the analysis passed to the final
   * sink (its last sample), or null when none did yet. */
  sample_ptr last_analysed () const;
  /* Whether the pipeline keeps its newest analysed frame for
   * last_analysed() (it does when built); not keeping it lets go of the
   * one kept. */
  void keep_last_analysed (bool keep);
  /* Not keeping it: lets go of a frame stored anyway (enable-last-sample
   * switched on and off again). */
  void let_go_of_last_analysed ();
  /* A running time of this pipeline as Unix time on this host's clock,
   * ns; -1 without a clock (not playing) or a valid time. */
  std::int64_t unix_time_of (GstClockTime running_time) const;

  /* latestframe's stats now. */
  structure_ptr stats () const;
  /* The reader's counts (from `reader_stats`, its stats() read already)
   * and the gate's, if there is one, with the units skipped before it. */
  element_counts counts (const GstStructure *reader_stats) const;
  /* H.264 access units rtpinorderbuffer dropped as packets, for a gate
   * that decodes key units alone (source.cpp), so far. */
  std::uint64_t skipped_delta_units () const;
  /* Frames received so far, cheaply (the watchdog asks often). */
  std::uint64_t received () const;
  /* Whether what feeds latestframe is live (its latency query says so). */
  bool upstream_live () const;
  /* The stream's video caps as latestframe received them; false until
   * known. */
  bool video_info (GstVideoInfo &info) const;

  /* 1 for the capture's first connection, +1 per reconnection. */
  std::uint64_t connection () const { return connection_; }
  /* Frames the capture received before this connection: latestframe's
   * sequence numbers start over with each one. */
  std::uint64_t sequence_base () const { return sequence_base_; }

private:
  object_ptr<GstElement> pipeline_;
  object_ptr<GstElement> latest_;
  object_ptr<GstElement> gate_; /* null without one */
  object_ptr<GstElement> analysed_; /* null without an analysis */
  object_ptr<GstBus> bus_;
  std::uint64_t connection_ = 0;
  std::uint64_t sequence_base_ = 0;
};

} // namespace latestframe::detail
