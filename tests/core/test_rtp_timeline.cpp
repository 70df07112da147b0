/* Unit tests of latestframe/rtp_timeline.h: sequence numbers, RTP time,
 * PTS and capture time of an in-order RTP stream, without a pipeline. */
#include "latestframe/rtp_timeline.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>

namespace
{

using latestframe::rtp_packet_verdict;
using latestframe::rtp_timeline;

constexpr std::int64_t ms = 1000000;
constexpr std::int64_t frame_ticks = 3000; /* 90 kHz at 30 fps */
constexpr std::int64_t frame_ns = 33333333;

/* `frames` frames at 30 fps in ns, rounded down as the timeline does. */
constexpr std::int64_t
frames_ns (std::int64_t frames)
{
  return frames * frame_ticks * 1000000000 / 90000;
}

/* NTP-64 of `seconds` + `ns`. */
std::uint64_t
ntp64 (std::uint64_t seconds, std::uint64_t ns = 0)
{
  return (seconds << 32) + (ns << 32) / 1000000000;
}

} // namespace

// Consecutive packets pass without discont after the first, which is one;
// PTS keeps the sender's spacing from the first arrival.
TEST (RtpTimeline, InOrderPacketsKeepTheSendersSpacing)
{
  rtp_timeline timeline (90000);
  rtp_packet_verdict first = timeline.on_packet (100, 5000, 10 * ms);
  EXPECT_FALSE (first.drop);
  EXPECT_TRUE (first.discont);
  EXPECT_EQ (first.pts_ns, 10 * ms);
  EXPECT_EQ (first.capture_ntp_ns, -1);
  for (int i = 1; i < 10; i++)
    {
      /* Arrivals a little late, never early: the PTS stays on the grid. */
      const rtp_packet_verdict v = timeline.on_packet (
          100 + i, 5000 + i * frame_ticks, 10 * ms + i * frame_ns + 3 * ms);
      EXPECT_FALSE (v.drop);
      EXPECT_FALSE (v.discont) << i;
      EXPECT_EQ (v.pts_ns, 10 * ms + frames_ns (i)) << i;
    }
}

// Sequence numbers and RTP times wrap at 16 and 32 bits without a
// discont, a drop or a PTS jump.
TEST (RtpTimeline, SequenceAndTimestampWrapAround)
{
  rtp_timeline timeline (90000);
  const std::uint32_t start = 0xffffffffu - 4 * frame_ticks;
  std::int64_t previous = -1;
  for (int i = 0; i < 10; i++)
    {
      const rtp_packet_verdict v = timeline.on_packet (
          static_cast<std::uint16_t> (65530 + i),
          static_cast<std::uint32_t> (start + i * frame_ticks), i * frame_ns);
      EXPECT_FALSE (v.drop) << i;
      EXPECT_EQ (v.discont, i == 0) << i;
      EXPECT_NEAR (v.pts_ns, i * frame_ns, 1) << i;
      EXPECT_GT (v.pts_ns, previous);
      previous = v.pts_ns;
    }
}

// A gap in the sequence numbers marks the next packet discont, once.
TEST (RtpTimeline, GapMarksDiscont)
{
  rtp_timeline timeline (90000);
  timeline.on_packet (10, 0, 0);
  EXPECT_FALSE (timeline.on_packet (11, 0, 1 * ms).discont);
  const rtp_packet_verdict after_gap = timeline.on_packet (14, 3000, 34 * ms);
  EXPECT_TRUE (after_gap.discont);
  EXPECT_FALSE (after_gap.drop);
  EXPECT_FALSE (timeline.on_packet (15, 3000, 35 * ms).discont);
  /* The gap across the wrap too. */
  rtp_timeline wrapping (90000);
  wrapping.on_packet (65535, 0, 0);
  EXPECT_TRUE (wrapping.on_packet (1, 3000, 34 * ms).discont);
}

// Duplicates and packets older than the last passed are dropped, and do
// not move the timeline.
TEST (RtpTimeline, DuplicatesAndOldPacketsAreDropped)
{
  rtp_timeline timeline (90000);
  timeline.on_packet (500, 0, 0);
  timeline.on_packet (501, 3000, frame_ns);
  EXPECT_TRUE (timeline.on_packet (501, 3000, frame_ns).drop);
  EXPECT_TRUE (timeline.on_packet (450, 0, frame_ns).drop);
  const rtp_packet_verdict next = timeline.on_packet (502, 6000, 2 * frame_ns);
  EXPECT_FALSE (next.drop);
  EXPECT_FALSE (next.discont);
  EXPECT_NEAR (next.pts_ns, 2 * frame_ns, 1);
}

// A restarted camera (sequence and RTP time from new random bases):
// discont, the PTS resumes at the arrival without going back, and the old
// sender report no longer maps capture times.
TEST (RtpTimeline, RestartedSenderResyncs)
{
  rtp_timeline timeline (90000);
  timeline.on_sender_report (ntp64 (1000), 90000);
  timeline.on_packet (1000, 90000, 0);
  EXPECT_NE (timeline.on_packet (1001, 93000, frame_ns).capture_ntp_ns, -1);
  const rtp_packet_verdict restarted = timeline.on_packet (40000, 7, 5000 * ms);
  EXPECT_TRUE (restarted.discont);
  EXPECT_FALSE (restarted.drop);
  EXPECT_EQ (restarted.pts_ns, 5000 * ms);
  EXPECT_EQ (restarted.capture_ntp_ns, -1);
  const rtp_packet_verdict next
      = timeline.on_packet (40001, 7 + frame_ticks, 5000 * ms + frame_ns);
  EXPECT_FALSE (next.discont);
  EXPECT_NEAR (next.pts_ns, 5000 * ms + frame_ns, 1);
  /* Far behind (more than a reordering could explain) is a restart too. */
  EXPECT_TRUE (timeline.on_packet (30000, 0, 6000 * ms).discont);
  EXPECT_TRUE (timeline.on_packet (30000, 0, 6000 * ms).drop);
}

// An RTP-time jump with contiguous sequence numbers: the PTS moves to the
// arrival, forward or back, and never decreases.
TEST (RtpTimeline, RtpTimeJumpResyncsThePtsToTheArrival)
{
  rtp_timeline timeline (90000);
  timeline.on_packet (1, 0, 0);
  timeline.on_packet (2, 3000, frame_ns);
  /* Ten minutes ahead: the PTS would be in the future. */
  const rtp_packet_verdict ahead
      = timeline.on_packet (3, 54000000, 2 * frame_ns);
  EXPECT_EQ (ahead.pts_ns, 2 * frame_ns);
  /* Back to zero: the PTS would be long past. */
  const rtp_packet_verdict back = timeline.on_packet (4, 3000, 3 * frame_ns);
  EXPECT_EQ (back.pts_ns, 3 * frame_ns);
  EXPECT_NEAR (timeline.on_packet (5, 6000, 4 * frame_ns).pts_ns, 4 * frame_ns,
               1);
}

// A sender clock off ours by 1 % either way: the PTS never gets ahead of
// the arrival, never falls more than max_lag behind, and never decreases.
TEST (RtpTimeline, DriftingSenderClockStaysNearRealTimeAndMonotonic)
{
  for (double rate : { 0.99, 1.01 })
    {
      rtp_timeline timeline (90000);
      std::mt19937 random (7);
      std::uniform_int_distribution<std::int64_t> jitter (0, 20 * ms);
      std::int64_t previous = -1;
      std::int64_t arrival = 0;
      for (int i = 0; i < 30 * 600; i++)
        {
          /* The sender's RTP time runs at `rate` of ours. */
          const std::int64_t ideal
              = static_cast<std::int64_t> (i * frame_ns / rate);
          arrival = std::max (arrival, ideal + jitter (random));
          const rtp_packet_verdict v = timeline.on_packet (
              static_cast<std::uint16_t> (i),
              static_cast<std::uint32_t> (i * frame_ticks), arrival);
          ASSERT_LE (v.pts_ns, arrival) << rate << " " << i;
          ASSERT_LE (arrival - v.pts_ns, rtp_timeline::max_lag_ns) << i;
          ASSERT_GE (v.pts_ns, previous) << rate << " " << i;
          previous = v.pts_ns;
        }
    }
}

// Capture time = the sender report's NTP time + the RTP time since it,
// before and after the report's instant and across the RTP-time wrap.
TEST (RtpTimeline, SenderReportMapsRtpTimeToCaptureTime)
{
  rtp_timeline timeline (90000);
  const std::uint32_t sr_rtp = 0xffffffffu - 45000; /* 0.5 s before the wrap */
  timeline.on_packet (1, sr_rtp - 9000, 0);
  timeline.on_sender_report (ntp64 (3900000000u, 250000000), sr_rtp);
  const std::int64_t sr_ns = 3900000000LL * 1000000000 + 250000000;
  /* Taken at the next packet, 0.1 s before the report's instant. */
  EXPECT_EQ (timeline.on_packet (2, sr_rtp - 9000, 1 * ms).capture_ntp_ns,
             sr_ns - 100 * ms);
  EXPECT_EQ (timeline.reports_taken (), 1u);
  /* 0.6 s after it: past the 32-bit wrap. */
  EXPECT_EQ (timeline.on_packet (3, sr_rtp + 54000, 600 * ms).capture_ntp_ns,
             sr_ns + 600 * ms);
}

// Sender reports whose RTP time is far from the stream's, or that go back,
// are refused: capture times keep the report in use.
TEST (RtpTimeline, ImplausibleSenderReportsAreRefused)
{
  rtp_timeline timeline (90000);
  timeline.on_sender_report (ntp64 (5000), 900000);
  timeline.on_packet (1, 900000, 0);
  const std::int64_t good
      = timeline.on_packet (2, 903000, frame_ns).capture_ntp_ns;
  EXPECT_EQ (good, 5000LL * 1000000000 + frame_ns);
  /* RTP time 10 s away from the stream's. */
  timeline.on_sender_report (ntp64 (7000), 903000 + 900000);
  EXPECT_EQ (timeline.on_packet (3, 906000, 2 * frame_ns).capture_ntp_ns,
             5000LL * 1000000000 + 2 * frame_ns);
  /* RTP time behind the report in use. */
  timeline.on_sender_report (ntp64 (9000), 899000);
  EXPECT_EQ (timeline.on_packet (4, 909000, 3 * frame_ns).capture_ntp_ns,
             5000LL * 1000000000 + frames_ns (3));
  /* NTP time behind the report in use. */
  timeline.on_sender_report (ntp64 (4000), 909000);
  EXPECT_EQ (timeline.on_packet (5, 912000, 4 * frame_ns).capture_ntp_ns,
             5000LL * 1000000000 + frames_ns (4));
  EXPECT_EQ (timeline.reports_refused (), 3u);
  /* A plausible later one is taken: the sender's clock was stepped. */
  timeline.on_sender_report (ntp64 (5001), 912000);
  EXPECT_EQ (timeline.on_packet (6, 915000, 5 * frame_ns).capture_ntp_ns,
             5001LL * 1000000000 + frame_ns);
  EXPECT_EQ (timeline.reports_taken (), 2u);
}

// A packet's own NTP-64 (RFC 6051) is its capture time, before any sender
// report and over one.
TEST (RtpTimeline, InbandNtpIsPreferred)
{
  rtp_timeline timeline (90000);
  EXPECT_EQ (
      timeline.on_packet (1, 0, 0, ntp64 (4000, 500000000)).capture_ntp_ns,
      4000LL * 1000000000 + 500000000);
  timeline.on_sender_report (ntp64 (9000), 3000);
  /* NTP-64 fractions are 1/2^32 s: within a ns. */
  EXPECT_NEAR (timeline.on_packet (2, 3000, frame_ns, ntp64 (4000, 533333333))
                   .capture_ntp_ns,
               4000LL * 1000000000 + 533333333, 1);
  EXPECT_EQ (timeline.on_packet (3, 6000, 2 * frame_ns).capture_ntp_ns,
             9000LL * 1000000000 + frame_ns);
}

// reset() forgets the sequence, the PTS mapping and the sender report.
TEST (RtpTimeline, ResetStartsOver)
{
  rtp_timeline timeline (90000);
  timeline.on_sender_report (ntp64 (5000), 0);
  timeline.on_packet (1, 0, 0);
  timeline.reset ();
  const rtp_packet_verdict v = timeline.on_packet (1, 0, 7 * ms);
  EXPECT_FALSE (v.drop);
  EXPECT_TRUE (v.discont);
  EXPECT_EQ (v.pts_ns, 7 * ms);
  EXPECT_EQ (v.capture_ntp_ns, -1);
}

// NTP-64 fixed point converts to ns without overflow.
TEST (RtpTimeline, Ntp64ToNs)
{
  EXPECT_EQ (rtp_timeline::ntp64_to_ns (ntp64 (3900000000u)),
             3900000000ULL * 1000000000);
  EXPECT_EQ (rtp_timeline::ntp64_to_ns ((1ULL << 32) | 0x80000000u),
             1500000000u);
}
