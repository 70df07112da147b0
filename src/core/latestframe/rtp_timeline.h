/* latestframe — one RTP stream's timeline, for a receiver that cannot
 * reorder (RTSP over TCP).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <cstdint>
#include <optional>

namespace latestframe
{

/* What rtp_timeline decides for one packet. */
struct rtp_packet_verdict
{
  /* A duplicate or a packet older than one already passed: drop it. */
  bool drop = false;
  /* Packets are missing before this one, or the stream restarted: the
   * next element must not join this packet to what came before. */
  bool discont = false;
  /* Presentation time, on the receiver's running time; -1 when the
   * arrival time was unknown. Never decreases while the stream lasts. */
  std::int64_t pts_ns = -1;
  /* When the sender captured it, NTP time in ns (from 1900); -1 until a
   * plausible sender report (or the packet's own NTP-64) tells. */
  std::int64_t capture_ntp_ns = -1;
};

/* The per-packet policy of a receiver that gets its packets in order
 * (RTSP interleaved over TCP), in place of a jitter buffer: nothing is
 * held, every packet is judged as it arrives.
 *
 * - Sequence numbers (RFC 3550 A.1): the next one expected passes; a jump
 *   ahead is a gap (discont); one behind by at most max_misorder is a
 *   duplicate or old (drop); a jump beyond max_dropout ahead or
 *   max_misorder behind is a restarted sender: the timeline starts over
 *   (discont) and forgets its sender report.
 * - PTS: the arrival time (running time) of the first packet plus the
 *   RTP time elapsed since, so frames keep the sender's spacing (and its
 *   order: B-frames' RTP times go back, so do their PTS). The mapping
 *   follows the earliest arrivals: a packet that arrives before its mapped
 *   time moves the mapping back to its arrival, so a PTS is never later
 *   than its arrival (a late first packet, a sender clock running fast); a
 *   packet arriving more than max_lag after its mapped time (a sender clock
 *   running slow, an RTP-time jump, a stall) moves the mapping forward to
 *   its arrival. A move never takes the PTS below an earlier packet's
 *   (each PTS is at most its arrival, and arrivals do not go back), so the
 *   PTS is as monotonic as the RTP time and stays within max_lag of real
 *   time. This stands in for rtpjitterbuffer's skew estimation: a frame's
 *   age comes from its capture time when known, so the PTS only has to be
 *   monotonic and near real time.
 * - Capture time: the packet's own NTP-64 (RFC 6051) when it has one, else
 *   the last accepted sender report's NTP time plus (RTP time − its RTP
 *   time) / clock rate. A sender report is taken at the next packet, and
 *   only when its RTP time is within max_sr_rtp_distance of that packet's
 *   and not behind the report in use (as rtpjitterbuffer's
 *   max-rtcp-rtp-time-diff): a late, replayed or foreign report never
 *   moves capture times.
 *
 * Single-threaded: the owner serializes every call. */
class rtp_timeline
{
public:
  /* RFC 3550's limits, in packets. */
  static constexpr int max_dropout = 3000;
  static constexpr int max_misorder = 100;
  static constexpr std::int64_t max_lag_ns = 1000000000;
  static constexpr std::int64_t max_sr_rtp_distance_ns = 1000000000;

  /* `clock_rate` in Hz, > 0. */
  explicit rtp_timeline (int clock_rate);

  /* One packet: its sequence number and RTP time as sent, its arrival
   * (running time in ns, -1 when unknown), and the NTP-64 capture time it
   * carries (RFC 6051), if any. */
  rtp_packet_verdict
  on_packet (std::uint16_t seq, std::uint32_t rtp_time, std::int64_t arrival_ns,
             std::optional<std::uint64_t> inband_ntp64 = std::nullopt);

  /* A sender report: its NTP-64 time and the RTP time of the same
   * instant. Judged, and used, from the next packet on. */
  void on_sender_report (std::uint64_t ntp64, std::uint32_t rtp_time);

  /* Forget everything (a flush, new caps): the next packet starts over. */
  void reset ();

  int clock_rate () const { return clock_rate_; }
  /* Sender reports taken / refused so far. */
  std::uint64_t reports_taken () const { return reports_taken_; }
  std::uint64_t reports_refused () const { return reports_refused_; }

  /* NTP-64 fixed point (32.32 seconds) in ns. */
  static std::uint64_t ntp64_to_ns (std::uint64_t ntp64);

private:
  struct report
  {
    std::uint64_t ntp_ns;
    std::uint32_t rtp_time;
  };

  std::int64_t rtp_to_ns (std::int64_t ticks) const;
  void start_over ();
  void take_pending_report (std::uint32_t rtp_time);

  int clock_rate_;
  bool started_ = false;
  std::uint16_t expected_seq_ = 0;
  std::int64_t ext_rtp_ = 0;
  /* PTS = base_pts_ + ns of (ext RTP time − base_ext_). */
  std::int64_t base_ext_ = 0;
  std::int64_t base_pts_ = -1;
  std::optional<report> report_;
  std::optional<report> pending_report_;
  std::uint64_t reports_taken_ = 0;
  std::uint64_t reports_refused_ = 0;
};

} // namespace latestframe
