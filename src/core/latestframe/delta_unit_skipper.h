/* latestframe — H.264 access units a key-units consumer will never decode,
 * found and dropped while still RTP packets.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <cstddef>
#include <cstdint>

namespace latestframe
{

/* What one RTP packet of H.264 (RFC 6184) says about its access unit. */
struct h264_packet_clues
{
  /* It carries a coded slice, or the start of one. */
  bool slice = false;
  /* The access unit must reach the parser: it has an IDR, I or SI slice or
   * a recovery-point SEI (what makes h264parse call an access unit a key
   * unit), or something this reader cannot tell apart from those (a NAL
   * unit type it does not read, a header it cannot parse, interleaved
   * packetization). */
  bool keep = false;
};

/* Reads the payload of one H.264 RTP packet (after the RTP header):
 * single NAL unit, STAP-A and FU-A packets are read (an FU-A's start
 * fragment only: the others add nothing); the rest keeps its access
 * unit. */
h264_packet_clues read_h264_packet (const std::uint8_t *payload,
                                    std::size_t size);

/* What the owner does with a packet and with the packets it holds. */
enum class held_packets_step : std::uint8_t
{
  none,    /* nothing is held, or they stay held */
  release, /* push them, in order, before anything else */
  discard, /* drop them: they were a delta unit (counted) */
};

enum class packet_step : std::uint8_t
{
  forward, /* push it (after the held packets' step) */
  hold,    /* add it to the held packets */
  release, /* add it to the held packets, then push them all, in order */
  discard, /* add it to the held packets, then drop them all: a delta
            * unit (counted) */
};

struct delta_unit_verdict
{
  /* What becomes of the previous access unit's held packets, first. */
  held_packets_step previous = held_packets_step::none;
  /* Then, this packet. */
  packet_step packet = packet_step::forward;
};

/* Drops whole H.264 access units made only of P and B slices, as RTP
 * packets, for a consumer that decodes key units alone (latestframe with
 * decode=key-units drops them anyway, after the depayloader and the parser
 * have spent their work on them).
 *
 * An access unit is the run of packets with one RTP time, ended by the
 * marker bit or by a packet with another RTP time. Its packets are held
 * until it is known:
 * - a packet whose clues say keep makes the whole unit pass: the held
 *   packets are released and the rest of the unit is forwarded as it
 *   comes, without waiting;
 * - at its end, a unit with a slice and nothing to keep is discarded whole
 *   (counted); a unit with no slice (parameter sets alone, a fragment
 *   whose start was missed) is released.
 * So a unit h264parse could call a key unit is never dropped, and a
 * dropped unit leaves no part of itself behind (the depayloader sees a
 * gap in the sequence numbers and marks the next unit DISCONT, which a
 * key unit does not mind).
 *
 * Enabling takes effect at the next access unit. Disabling does too, but
 * delta units go on being dropped until the next key unit: the ones before
 * it would refer to frames that were dropped.
 *
 * Single-threaded: the owner serializes every call. */
class delta_unit_skipper
{
public:
  void set_enabled (bool enabled) { enabled_ = enabled; }
  bool enabled () const { return enabled_; }

  /* One packet, in order: its RTP time, its marker bit and its clues. */
  delta_unit_verdict on_packet (std::uint32_t rtp_time, bool marker,
                                const h264_packet_clues &clues);
  /* The same from the packet's H.264 payload (after the RTP header), read
   * (read_h264_packet) only while its unit is undecided: the packets of a
   * unit that passes, all of them while skipping is off, cost no
   * reading. */
  delta_unit_verdict on_payload (std::uint32_t rtp_time, bool marker,
                                 const std::uint8_t *payload,
                                 std::size_t size);

  /* The stream ends (EOS): what becomes of the held packets. */
  held_packets_step on_end ();

  /* A flush: the owner drops what it holds (not counted), and the next
   * packet starts a new access unit. */
  void reset ();

  /* Access units and packets discarded so far. */
  std::uint64_t skipped_units () const { return skipped_units_; }
  std::uint64_t skipped_packets () const { return skipped_packets_; }

private:
  enum class unit_state : std::uint8_t
  {
    none,      /* no unit open: the next packet starts one */
    passing,   /* forwarded as it comes */
    undecided, /* held */
  };

  /* on_packet's rule, the clues asked of `read_clues` when needed. */
  template <typename ReadClues>
  delta_unit_verdict decide (std::uint32_t rtp_time, bool marker,
                             ReadClues read_clues);
  held_packets_step close_held ();

  bool enabled_ = false;
  /* While true, delta units are dropped whatever enabled_ says: set by
   * enabling, cleared at the first unit that passes with enabled_ false. */
  bool skipping_ = false;
  unit_state state_ = unit_state::none;
  std::uint32_t unit_rtp_time_ = 0;
  bool unit_has_slice_ = false;
  std::size_t held_ = 0;
  std::uint64_t skipped_units_ = 0;
  std::uint64_t skipped_packets_ = 0;
};

} // namespace latestframe
