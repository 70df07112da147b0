/* latestframe — H.264 access units a key-units consumer will never decode.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/delta_unit_skipper.h"
#include "latestframe/h264_syntax.h"

#include <optional>

namespace latestframe
{

namespace
{

using namespace h264;

/* A slice header's slice_type (after first_mb_in_slice): I or SI (2, 4,
 * 7, 9) makes a key unit. Unreadable: keep. */
bool
slice_keeps_unit (const std::uint8_t *body, std::size_t size)
{
  rbsp_reader reader (body, size);
  if (!reader.unsigned_exp_golomb ())
    return true;
  const std::optional<std::uint32_t> slice_type = reader.unsigned_exp_golomb ();
  if (!slice_type || *slice_type > 9)
    return true;
  return *slice_type % 5 == 2 || *slice_type % 5 == 4;
}

/* One NAL unit, or the start of one: its type and the bytes after its
 * one-byte header (as many as the packet has). */
h264_packet_clues
read_nal_unit (std::uint8_t type, const std::uint8_t *body, std::size_t size)
{
  h264_packet_clues clues;
  switch (type)
    {
    case nal_idr_slice:
      clues.slice = true;
      clues.keep = true;
      break;
    case nal_slice:
    case nal_partition_a:
      clues.slice = true;
      clues.keep = slice_keeps_unit (body, size);
      break;
    case nal_partition_b:
    case nal_partition_c:
      /* Partition A of the same slice has the header. */
      clues.slice = true;
      break;
    case nal_sei:
      /* One cut off by the packet (an FU-A start fragment) keeps it. */
      clues.keep = read_sei_recovery_point (body, size) != sei_recovery::absent;
      break;
    case nal_sps:
    case nal_pps:
    case nal_access_unit_delimiter:
    case nal_end_of_sequence:
    case nal_end_of_stream:
    case nal_filler:
    case nal_sps_extension:
    case nal_auxiliary_slice:
      break;
    default:
      /* SVC and MVC extensions, reserved and unspecified types. */
      clues.keep = true;
      break;
    }
  return clues;
}

} // namespace

h264_packet_clues
read_h264_packet (const std::uint8_t *payload, std::size_t size)
{
  if (size < 1)
    return { false, true };
  const std::uint8_t type = payload[0] & 0x1f;
  if (type >= 1 && type <= 23)
    return read_nal_unit (type, payload + 1, size - 1);
  if (type == packet_stap_a)
    {
      /* NAL units after 16-bit sizes; the clues of all of them. */
      h264_packet_clues clues;
      std::size_t pos = 1;
      while (pos < size)
        {
          if (size - pos < 3)
            return { clues.slice, true };
          const std::size_t nal_size = (std::size_t{ payload[pos] } << 8)
                                       | payload[pos + 1];
          pos += 2;
          if (nal_size < 1 || nal_size > size - pos)
            return { clues.slice, true };
          const std::uint8_t nal_type = payload[pos] & 0x1f;
          if (nal_type < 1 || nal_type > 23)
            return { clues.slice, true };
          const h264_packet_clues one
              = read_nal_unit (nal_type, payload + pos + 1, nal_size - 1);
          clues.slice |= one.slice;
          clues.keep |= one.keep;
          pos += nal_size;
        }
      return clues;
    }
  if (type == packet_fu_a)
    {
      if (size < 2)
        return { false, true };
      const bool start = payload[1] & 0x80;
      if (!start)
        return {};
      const std::uint8_t nal_type = payload[1] & 0x1f;
      if (nal_type < 1 || nal_type > 23)
        return { false, true };
      return read_nal_unit (nal_type, payload + 2, size - 2);
    }
  /* STAP-B, MTAP, FU-B (interleaved mode), reserved. */
  return { false, true };
}

delta_unit_verdict
delta_unit_skipper::on_packet (std::uint32_t rtp_time, bool marker,
                               const h264_packet_clues &clues)
{
  return decide (rtp_time, marker, [&clues] { return clues; });
}

delta_unit_verdict
delta_unit_skipper::on_payload (std::uint32_t rtp_time, bool marker,
                                const std::uint8_t *payload, std::size_t size)
{
  return decide (rtp_time, marker,
                 [payload, size] { return read_h264_packet (payload, size); });
}

template <typename ReadClues>
delta_unit_verdict
delta_unit_skipper::decide (std::uint32_t rtp_time, bool marker,
                            ReadClues read_clues)
{
  delta_unit_verdict verdict;
  if (state_ != unit_state::none && rtp_time != unit_rtp_time_)
    {
      /* The previous unit ended without its marker (lost, or not set). */
      if (state_ == unit_state::undecided)
        verdict.previous = close_held ();
      state_ = unit_state::none;
    }
  if (state_ == unit_state::none)
    {
      if (enabled_)
        skipping_ = true;
      state_ = skipping_ ? unit_state::undecided : unit_state::passing;
      unit_rtp_time_ = rtp_time;
      unit_has_slice_ = false;
    }
  if (state_ == unit_state::passing)
    verdict.packet = packet_step::forward;
  else if (const h264_packet_clues clues = read_clues (); clues.keep)
    {
      verdict.packet = packet_step::release;
      held_ = 0;
      state_ = unit_state::passing;
      if (!enabled_)
        skipping_ = false;
    }
  else
    {
      unit_has_slice_ = unit_has_slice_ || clues.slice;
      held_++;
      verdict.packet = packet_step::hold;
      if (marker)
        verdict.packet = close_held () == held_packets_step::discard
                             ? packet_step::discard
                             : packet_step::release;
    }
  if (marker)
    state_ = unit_state::none;
  return verdict;
}

held_packets_step
delta_unit_skipper::close_held ()
{
  const held_packets_step step = unit_has_slice_ ? held_packets_step::discard
                                                 : held_packets_step::release;
  if (step == held_packets_step::discard)
    {
      skipped_units_++;
      skipped_packets_ += held_;
    }
  held_ = 0;
  return step;
}

held_packets_step
delta_unit_skipper::on_end ()
{
  if (state_ != unit_state::undecided)
    {
      state_ = unit_state::none;
      return held_packets_step::none;
    }
  state_ = unit_state::none;
  return close_held ();
}

void
delta_unit_skipper::reset ()
{
  state_ = unit_state::none;
  held_ = 0;
  unit_has_slice_ = false;
}

} // namespace latestframe
