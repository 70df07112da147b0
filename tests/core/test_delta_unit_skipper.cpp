/* Unit tests of latestframe/delta_unit_skipper.h: what an H.264 RTP
 * packet says about its access unit, and which whole units are dropped,
 * without a pipeline. */
#include "latestframe/delta_unit_skipper.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

namespace
{

using latestframe::delta_unit_skipper;
using latestframe::delta_unit_verdict;
using latestframe::h264_packet_clues;
using latestframe::held_packets_step;
using latestframe::packet_step;
using latestframe::read_h264_packet;

using bytes = std::vector<std::uint8_t>;

h264_packet_clues
clues_of (const bytes &payload)
{
  return read_h264_packet (payload.data (), payload.size ());
}

/* NAL unit headers (nal_ref_idc 3 or 0) and slice header starts:
 * first_mb_in_slice 0 ('1'), then slice_type as ue(v). */
constexpr std::uint8_t idr = 0x65, slice = 0x41, slice_nonref = 0x01,
                       sei = 0x06, sps = 0x67, pps = 0x68, aud = 0x09;
constexpr std::uint8_t p_slice_header = 0xc0; /* 1, 1 (ue 0 = P) */
constexpr std::uint8_t b_slice_header = 0xa0; /* 1, 010 (ue 1 = B) */
constexpr std::uint8_t i_slice_header = 0x88; /* 1, 0001000 (ue 7 = I) */
constexpr std::uint8_t si_slice_header = 0x8a; /* 1, 0001010 (ue 9 = SI) */

TEST (H264PacketClues, SlicesAreKeptByTheirType)
{
  EXPECT_TRUE (clues_of ({ idr, 0x88, 0x84 }).slice);
  EXPECT_TRUE (clues_of ({ idr, 0x88, 0x84 }).keep);
  const h264_packet_clues p = clues_of ({ slice, p_slice_header, 0x12 });
  EXPECT_TRUE (p.slice);
  EXPECT_FALSE (p.keep);
  EXPECT_FALSE (clues_of ({ slice_nonref, b_slice_header, 0x12 }).keep);
  EXPECT_TRUE (clues_of ({ slice, i_slice_header, 0x12 }).keep);
  /* ue 4 = SI: 1, 00101 */
  EXPECT_TRUE (clues_of ({ slice, 0x94, 0x00 }).keep);
  EXPECT_TRUE (clues_of ({ slice, si_slice_header, 0x00 }).keep);
  /* slice_type 5 (P, all slices of the picture P): 1, 00110 */
  EXPECT_FALSE (clues_of ({ slice, 0x98, 0x00 }).keep);
}

TEST (H264PacketClues, UnreadableSlicesAndUnknownTypesKeepTheirUnit)
{
  EXPECT_TRUE (clues_of ({ slice }).keep);       /* no header */
  EXPECT_TRUE (clues_of ({ slice, 0x00 }).keep); /* runs out */
  EXPECT_TRUE (clues_of ({}).keep);
  EXPECT_TRUE (clues_of ({ 0x00 }).keep);       /* type 0 */
  EXPECT_TRUE (clues_of ({ 0x74, 0x00 }).keep); /* 20, MVC slice */
  EXPECT_TRUE (clues_of ({ 0x19, 0x00 }).keep); /* STAP-B */
  EXPECT_TRUE (clues_of ({ 0x1d, 0x81 }).keep); /* FU-B */
}

TEST (H264PacketClues, ParameterSetsAndDelimitersSayNothing)
{
  for (const bytes &payload :
       { bytes{ sps, 0x42, 0xc0, 0x1f }, bytes{ pps, 0xce, 0x3c, 0x80 },
         bytes{ aud, 0xf0 } })
    {
      EXPECT_FALSE (clues_of (payload).slice);
      EXPECT_FALSE (clues_of (payload).keep);
    }
}

TEST (H264PacketClues, OnlyARecoveryPointSeiKeepsItsUnit)
{
  /* recovery point (6), 1 byte */
  EXPECT_TRUE (clues_of ({ sei, 0x06, 0x01, 0x84, 0x80 }).keep);
  /* user data unregistered (5), 2 bytes; then pic timing (1), 1 byte */
  EXPECT_FALSE (
      clues_of ({ sei, 0x05, 0x02, 0xaa, 0xbb, 0x01, 0x01, 0x00, 0x80 })
          .keep);
  /* the recovery point second */
  EXPECT_TRUE (
      clues_of ({ sei, 0x05, 0x01, 0xaa, 0x06, 0x01, 0x84, 0x80 }).keep);
  /* a payload type of 255 + 6 is not a recovery point */
  EXPECT_FALSE (clues_of ({ sei, 0xff, 0x06, 0x01, 0x00, 0x80 }).keep);
  /* cut off (an FU-A start fragment): cannot tell */
  EXPECT_TRUE (clues_of ({ sei, 0x05, 0x10, 0xaa, 0xbb }).keep);
}

TEST (H264PacketClues, SeiSizesCountTheRbspWithoutEmulationPrevention)
{
  /* user data (5) of 3 RBSP bytes 00 00 01, sent as 00 00 03 01; then a
   * message of type 4. Read without taking out the 03, the 01 would be a
   * type and the rest would run out (keep). */
  EXPECT_FALSE (
      clues_of ({ sei, 0x05, 0x03, 0x00, 0x00, 0x03, 0x01, 0x04, 0x01, 0x06,
                  0x80 })
          .keep);
}

TEST (H264PacketClues, AggregatesAreReadNalByNal)
{
  const h264_packet_clues parameters
      = clues_of ({ 0x18, 0x00, 0x02, sps, 0x42, 0x00, 0x02, pps, 0xce });
  EXPECT_FALSE (parameters.slice);
  EXPECT_FALSE (parameters.keep);
  const h264_packet_clues with_idr = clues_of (
      { 0x18, 0x00, 0x02, sps, 0x42, 0x00, 0x03, idr, 0x88, 0x84 });
  EXPECT_TRUE (with_idr.slice);
  EXPECT_TRUE (with_idr.keep);
  const h264_packet_clues with_p
      = clues_of ({ 0x18, 0x00, 0x03, slice, p_slice_header, 0x00 });
  EXPECT_TRUE (with_p.slice);
  EXPECT_FALSE (with_p.keep);
  /* a size past the packet */
  EXPECT_TRUE (clues_of ({ 0x18, 0x00, 0x09, sps, 0x42 }).keep);
}

TEST (H264PacketClues, FragmentsAreReadAtTheirStart)
{
  /* FU indicator (type 28, NRI of the NAL), FU header S|E|R|type */
  const h264_packet_clues p_start
      = clues_of ({ 0x5c, 0x81, p_slice_header, 0x00 });
  EXPECT_TRUE (p_start.slice);
  EXPECT_FALSE (p_start.keep);
  EXPECT_TRUE (clues_of ({ 0x7c, 0x85, 0x88, 0x84 }).keep);
  const h264_packet_clues middle = clues_of ({ 0x7c, 0x05, 0x12, 0x34 });
  EXPECT_FALSE (middle.slice);
  EXPECT_FALSE (middle.keep);
  EXPECT_TRUE (clues_of ({ 0x7c }).keep);
}

const h264_packet_clues nothing{ false, false };
const h264_packet_clues key_slice{ true, true };
const h264_packet_clues delta_slice{ true, false };

bool
same (const delta_unit_verdict &verdict, held_packets_step previous,
      packet_step packet)
{
  return verdict.previous == previous && verdict.packet == packet;
}

TEST (DeltaUnitSkipper, DisabledForwardsEveryPacketAtOnce)
{
  delta_unit_skipper skipper;
  EXPECT_TRUE (same (skipper.on_packet (0, true, delta_slice),
                     held_packets_step::none, packet_step::forward));
  EXPECT_TRUE (same (skipper.on_packet (3000, false, nothing),
                     held_packets_step::none, packet_step::forward));
  EXPECT_EQ (skipper.skipped_units (), 0u);
}

// From the payload: the same verdicts, and a payload is read only while
// its unit is undecided (one that is not there is never touched while the
// skipper is off or the unit passes).
TEST (DeltaUnitSkipper, PayloadsAreReadOnlyWhileTheirUnitIsUndecided)
{
  delta_unit_skipper skipper;
  EXPECT_TRUE (same (skipper.on_payload (0, true, nullptr, 1000),
                     held_packets_step::none, packet_step::forward));
  skipper.set_enabled (true);
  const bytes delta = { slice, p_slice_header, 0x12 };
  const bytes key = { idr, 0x88, 0x84 };
  EXPECT_TRUE (same (skipper.on_payload (3000, true, delta.data (), delta.size ()),
                     held_packets_step::none, packet_step::discard));
  EXPECT_TRUE (same (skipper.on_payload (6000, false, key.data (), key.size ()),
                     held_packets_step::none, packet_step::release));
  EXPECT_TRUE (same (skipper.on_payload (6000, true, nullptr, 1000),
                     held_packets_step::none, packet_step::forward));
  EXPECT_EQ (skipper.skipped_units (), 1u);
}

// A key unit: parameter sets held until its slice, then all pushed; the
// rest of the unit goes straight through. A delta unit: held and dropped
// whole at its marker, counted.
TEST (DeltaUnitSkipper, KeyUnitsPassDeltaUnitsAreDroppedWhole)
{
  delta_unit_skipper skipper;
  skipper.set_enabled (true);
  EXPECT_TRUE (same (skipper.on_packet (0, false, nothing),
                     held_packets_step::none, packet_step::hold));
  EXPECT_TRUE (same (skipper.on_packet (0, false, nothing),
                     held_packets_step::none, packet_step::hold));
  EXPECT_TRUE (same (skipper.on_packet (0, false, key_slice),
                     held_packets_step::none, packet_step::release));
  EXPECT_TRUE (same (skipper.on_packet (0, false, nothing),
                     held_packets_step::none, packet_step::forward));
  EXPECT_TRUE (same (skipper.on_packet (0, true, nothing),
                     held_packets_step::none, packet_step::forward));

  EXPECT_TRUE (same (skipper.on_packet (3000, false, delta_slice),
                     held_packets_step::none, packet_step::hold));
  EXPECT_TRUE (same (skipper.on_packet (3000, false, nothing),
                     held_packets_step::none, packet_step::hold));
  EXPECT_TRUE (same (skipper.on_packet (3000, true, nothing),
                     held_packets_step::none, packet_step::discard));
  EXPECT_EQ (skipper.skipped_units (), 1u);
  EXPECT_EQ (skipper.skipped_packets (), 3u);
}

// Without a marker, a new RTP time ends the unit: the held packets' fate
// comes first, then the new packet's.
TEST (DeltaUnitSkipper, ANewRtpTimeEndsAUnitWithoutItsMarker)
{
  delta_unit_skipper skipper;
  skipper.set_enabled (true);
  EXPECT_TRUE (same (skipper.on_packet (0, false, delta_slice),
                     held_packets_step::none, packet_step::hold));
  EXPECT_TRUE (same (skipper.on_packet (3000, false, key_slice),
                     held_packets_step::discard, packet_step::release));
  EXPECT_EQ (skipper.skipped_units (), 1u);
  /* parameter sets alone are released */
  EXPECT_TRUE (same (skipper.on_packet (6000, false, nothing),
                     held_packets_step::none, packet_step::hold));
  EXPECT_TRUE (same (skipper.on_packet (9000, false, delta_slice),
                     held_packets_step::release, packet_step::hold));
  EXPECT_TRUE (same (skipper.on_packet (9000, true, nothing),
                     held_packets_step::none, packet_step::discard));
  EXPECT_EQ (skipper.skipped_units (), 2u);
}

// What h264parse would call a key unit is never dropped: an I slice after
// a P slice, a recovery-point SEI before P slices.
TEST (DeltaUnitSkipper, AnyKeepInTheUnitKeepsAllOfIt)
{
  delta_unit_skipper skipper;
  skipper.set_enabled (true);
  EXPECT_TRUE (same (skipper.on_packet (0, false, delta_slice),
                     held_packets_step::none, packet_step::hold));
  EXPECT_TRUE (same (skipper.on_packet (0, true, key_slice),
                     held_packets_step::none, packet_step::release));
  const h264_packet_clues recovery_point{ false, true };
  EXPECT_TRUE (same (skipper.on_packet (3000, false, recovery_point),
                     held_packets_step::none, packet_step::release));
  EXPECT_TRUE (same (skipper.on_packet (3000, true, delta_slice),
                     held_packets_step::none, packet_step::forward));
  EXPECT_EQ (skipper.skipped_units (), 0u);
}

// Disabling lets delta units through only from the next key unit: the
// ones before it refer to frames already dropped.
TEST (DeltaUnitSkipper, DisablingResumesAtTheNextKeyUnit)
{
  delta_unit_skipper skipper;
  skipper.set_enabled (true);
  skipper.on_packet (0, true, key_slice);
  skipper.on_packet (3000, true, delta_slice);
  skipper.set_enabled (false);
  EXPECT_TRUE (same (skipper.on_packet (6000, true, delta_slice),
                     held_packets_step::none, packet_step::discard));
  EXPECT_TRUE (same (skipper.on_packet (9000, true, key_slice),
                     held_packets_step::none, packet_step::release));
  EXPECT_TRUE (same (skipper.on_packet (12000, true, delta_slice),
                     held_packets_step::none, packet_step::forward));
  EXPECT_EQ (skipper.skipped_units (), 2u);
}

// Enabling takes effect at the next unit, never inside one.
TEST (DeltaUnitSkipper, EnablingTakesEffectAtTheNextUnit)
{
  delta_unit_skipper skipper;
  EXPECT_TRUE (same (skipper.on_packet (0, false, delta_slice),
                     held_packets_step::none, packet_step::forward));
  skipper.set_enabled (true);
  EXPECT_TRUE (same (skipper.on_packet (0, true, nothing),
                     held_packets_step::none, packet_step::forward));
  EXPECT_TRUE (same (skipper.on_packet (3000, true, delta_slice),
                     held_packets_step::none, packet_step::discard));
}

TEST (DeltaUnitSkipper, TheEndClosesTheHeldUnit)
{
  delta_unit_skipper skipper;
  skipper.set_enabled (true);
  EXPECT_EQ (skipper.on_end (), held_packets_step::none);
  skipper.on_packet (0, false, delta_slice);
  EXPECT_EQ (skipper.on_end (), held_packets_step::discard);
  EXPECT_EQ (skipper.skipped_units (), 1u);
  skipper.on_packet (3000, false, nothing);
  EXPECT_EQ (skipper.on_end (), held_packets_step::release);
  /* after a reset, the same RTP time starts a new unit */
  skipper.on_packet (6000, false, delta_slice);
  skipper.reset ();
  EXPECT_TRUE (same (skipper.on_packet (6000, false, key_slice),
                     held_packets_step::none, packet_step::release));
  EXPECT_EQ (skipper.skipped_units (), 1u);
}

/* A model of the owner: the packets it holds, pushes and drops, by id. */
struct owner_model
{
  std::vector<int> held, pushed, dropped;

  void apply_held (held_packets_step step)
  {
    if (step == held_packets_step::release)
      pushed.insert (pushed.end (), held.begin (), held.end ());
    else if (step == held_packets_step::discard)
      dropped.insert (dropped.end (), held.begin (), held.end ());
    if (step != held_packets_step::none)
      held.clear ();
  }

  void apply (const delta_unit_verdict &verdict, int packet)
  {
    apply_held (verdict.previous);
    switch (verdict.packet)
      {
      case packet_step::forward:
        EXPECT_TRUE (held.empty ());
        pushed.push_back (packet);
        break;
      case packet_step::hold:
        held.push_back (packet);
        break;
      case packet_step::release:
        held.push_back (packet);
        apply_held (held_packets_step::release);
        break;
      case packet_step::discard:
        held.push_back (packet);
        apply_held (held_packets_step::discard);
        break;
      }
  }
};

// Random streams of key, delta and parameter-only units, fragmented,
// some markers lost: every packet is pushed or dropped exactly once, in
// order; only whole delta units are dropped, and every one of them is.
TEST (DeltaUnitSkipper, RandomStreamsDropExactlyTheDeltaUnits)
{
  for (unsigned seed = 1; seed <= 200; seed++)
    {
      std::mt19937 random (seed);
      delta_unit_skipper skipper;
      skipper.set_enabled (true);
      owner_model owner;
      std::vector<int> expected_pushed, expected_dropped;
      int next_id = 0;
      std::uint64_t units_dropped = 0;
      for (int unit = 0; unit < 60; unit++)
        {
          const std::uint32_t rtp_time = static_cast<std::uint32_t> (
              unit * 3000 + (random () % 2) * 1000000);
          const unsigned kind = random () % 4; /* 0 key, 3 no slice */
          const int packets = 1 + static_cast<int> (random () % 6);
          const bool marker_lost = random () % 5 == 0;
          const int key_at = static_cast<int> (random () % packets);
          std::vector<int> ids;
          for (int i = 0; i < packets; i++)
            {
              h264_packet_clues clues = nothing;
              if (kind == 0 && i == key_at)
                clues = key_slice;
              else if (kind != 3 && i == packets - 1 - (kind == 2))
                clues = delta_slice;
              const bool marker = i == packets - 1 && !marker_lost;
              ids.push_back (next_id);
              owner.apply (skipper.on_packet (rtp_time, marker, clues),
                           next_id++);
            }
          const bool delta = kind == 1 || (kind == 2 && packets > 1);
          (delta ? expected_dropped : expected_pushed)
              .insert ((delta ? expected_dropped : expected_pushed).end (),
                       ids.begin (), ids.end ());
          units_dropped += delta;
        }
      owner.apply_held (skipper.on_end ());
      EXPECT_TRUE (owner.held.empty ());
      EXPECT_EQ (owner.pushed, expected_pushed) << "seed " << seed;
      EXPECT_EQ (owner.dropped, expected_dropped) << "seed " << seed;
      EXPECT_EQ (skipper.skipped_units (), units_dropped) << "seed " << seed;
      EXPECT_EQ (skipper.skipped_packets (), expected_dropped.size ());
    }
}

} // namespace
