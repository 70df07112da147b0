/* latestframe — one RTP stream's timeline (see rtp_timeline.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/rtp_timeline.h"

namespace latestframe
{

namespace
{

constexpr std::int64_t ns_per_second = 1000000000;

} // namespace

rtp_timeline::rtp_timeline (int clock_rate)
    : clock_rate_ (clock_rate > 0 ? clock_rate : 90000)
{
}

std::uint64_t
rtp_timeline::ntp64_to_ns (std::uint64_t ntp64)
{
  /* Seconds and fraction apart: 2^32 × 10^9 overflows 64 bits. */
  const std::uint64_t seconds = ntp64 >> 32;
  const std::uint64_t fraction = ntp64 & 0xffffffffu;
  return seconds * ns_per_second + ((fraction * ns_per_second) >> 32);
}

std::int64_t
rtp_timeline::rtp_to_ns (std::int64_t ticks) const
{
  /* Exact for any distance below 2^63 ns: whole seconds, then the rest. */
  const std::int64_t seconds = ticks / clock_rate_;
  const std::int64_t rest = ticks % clock_rate_;
  return seconds * ns_per_second + rest * ns_per_second / clock_rate_;
}

void
rtp_timeline::reset ()
{
  started_ = false;
  base_pts_ = -1;
  report_.reset ();
  pending_report_.reset ();
}

void
rtp_timeline::start_over ()
{
  /* A restarted sender counts from new random bases: its old report maps
   * nothing of the new stream. The PTS mapping restarts at this packet's
   * arrival, which is not before any PTS given so far. */
  base_pts_ = -1;
  report_.reset ();
}

void
rtp_timeline::on_sender_report (std::uint64_t ntp64, std::uint32_t rtp_time)
{
  pending_report_ = report{ ntp64_to_ns (ntp64), rtp_time };
}

void
rtp_timeline::take_pending_report (std::uint32_t rtp_time)
{
  if (!pending_report_)
    return;
  const report candidate = *pending_report_;
  pending_report_.reset ();
  const std::int64_t distance_ns
      = rtp_to_ns (static_cast<std::int32_t> (candidate.rtp_time - rtp_time));
  const bool near_the_stream = distance_ns <= max_sr_rtp_distance_ns
                               && distance_ns >= -max_sr_rtp_distance_ns;
  const bool goes_back
      = report_
        && (static_cast<std::int32_t> (candidate.rtp_time - report_->rtp_time)
                < 0
            || candidate.ntp_ns < report_->ntp_ns);
  if (!near_the_stream || goes_back)
    {
      reports_refused_++;
      return;
    }
  report_ = candidate;
  reports_taken_++;
}

rtp_packet_verdict
rtp_timeline::on_packet (std::uint16_t seq, std::uint32_t rtp_time,
                         std::int64_t arrival_ns,
                         std::optional<std::uint64_t> inband_ntp64)
{
  rtp_packet_verdict verdict;
  if (!started_)
    {
      /* The first packet: nothing before it joins it. */
      started_ = true;
      verdict.discont = true;
      ext_rtp_ = rtp_time;
      base_pts_ = -1;
    }
  else
    {
      const std::uint16_t ahead
          = static_cast<std::uint16_t> (seq - expected_seq_);
      if (ahead >= 65536 - max_misorder)
        {
          verdict.drop = true;
          return verdict;
        }
      if (ahead >= max_dropout)
        {
          verdict.discont = true;
          start_over ();
          ext_rtp_ = rtp_time;
        }
      else
        {
          verdict.discont = ahead != 0;
          ext_rtp_ += static_cast<std::int32_t> (
              rtp_time - static_cast<std::uint32_t> (ext_rtp_));
        }
    }
  expected_seq_ = static_cast<std::uint16_t> (seq + 1);
  take_pending_report (rtp_time);

  if (arrival_ns >= 0)
    {
      std::int64_t mapped = base_pts_ < 0
                                ? arrival_ns
                                : base_pts_ + rtp_to_ns (ext_rtp_ - base_ext_);
      if (base_pts_ < 0 || mapped > arrival_ns
          || arrival_ns - mapped > max_lag_ns)
        {
          base_pts_ = arrival_ns;
          base_ext_ = ext_rtp_;
          mapped = arrival_ns;
        }
      verdict.pts_ns = mapped;
    }

  if (inband_ntp64)
    verdict.capture_ntp_ns
        = static_cast<std::int64_t> (ntp64_to_ns (*inband_ntp64));
  else if (report_)
    {
      const std::int64_t capture = static_cast<std::int64_t> (report_->ntp_ns)
                                   + rtp_to_ns (static_cast<std::int32_t> (
                                       rtp_time - report_->rtp_time));
      verdict.capture_ntp_ns = capture >= 0 ? capture : -1;
    }
  return verdict;
}

} // namespace latestframe
