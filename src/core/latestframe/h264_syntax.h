/* latestframe — what the core reads of H.264's syntax: NAL unit types, the
 * RBSP of a NAL unit's body, and SEI recovery points. Shared by
 * delta_unit_skipper (RTP packets) and nal_units (access units).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace latestframe::h264
{

/* H.264's NAL unit types (ITU-T H.264 table 7-1) and RFC 6184's packet
 * types, as far as they are read here. */
enum nal_type : std::uint8_t
{
  nal_slice = 1,
  nal_partition_a = 2,
  nal_partition_b = 3,
  nal_partition_c = 4,
  nal_idr_slice = 5,
  nal_sei = 6,
  nal_sps = 7,
  nal_pps = 8,
  nal_access_unit_delimiter = 9,
  nal_end_of_sequence = 10,
  nal_end_of_stream = 11,
  nal_filler = 12,
  nal_sps_extension = 13,
  nal_auxiliary_slice = 19,
  packet_stap_a = 24,
  packet_fu_a = 28,
};

constexpr unsigned sei_recovery_point = 6;

/* The RBSP of a NAL unit's body (emulation prevention bytes taken out),
 * read byte by byte or bit by bit; running out is remembered. */
class rbsp_reader
{
public:
  rbsp_reader (const std::uint8_t *data, std::size_t size)
      : data_ (data), size_ (size)
  {
  }

  bool exhausted () const { return exhausted_; }
  /* Whether anything but the RBSP's trailing bits (a one, then zeros)
   * is left, at a byte boundary. */
  bool more_data ()
  {
    std::size_t saved_pos = pos_, saved_zeros = zeros_;
    const std::optional<std::uint8_t> next = next_byte ();
    pos_ = saved_pos;
    zeros_ = saved_zeros;
    return next && *next != 0x80;
  }

  std::optional<std::uint8_t> byte ()
  {
    const std::optional<std::uint8_t> value = next_byte ();
    if (!value)
      exhausted_ = true;
    return value;
  }

  std::optional<unsigned> bit ()
  {
    if (bits_left_ == 0)
      {
        const std::optional<std::uint8_t> value = byte ();
        if (!value)
          return std::nullopt;
        current_ = *value;
        bits_left_ = 8;
      }
    bits_left_--;
    return (current_ >> bits_left_) & 1u;
  }

  /* ue(v), Exp-Golomb; nullopt past the data or beyond 31 leading zeros. */
  std::optional<std::uint32_t> unsigned_exp_golomb ()
  {
    unsigned leading_zeros = 0;
    for (;;)
      {
        const std::optional<unsigned> b = bit ();
        if (!b)
          return std::nullopt;
        if (*b)
          break;
        if (++leading_zeros > 31)
          return std::nullopt;
      }
    std::uint64_t suffix = 0;
    for (unsigned i = 0; i < leading_zeros; i++)
      {
        const std::optional<unsigned> b = bit ();
        if (!b)
          return std::nullopt;
        suffix = (suffix << 1) | *b;
      }
    return static_cast<std::uint32_t> ((std::uint64_t{ 1 } << leading_zeros)
                                       - 1 + suffix);
  }

private:
  /* The next RBSP byte: 0x03 after two zero bytes is an emulation
   * prevention byte, not data. */
  std::optional<std::uint8_t> next_byte ()
  {
    if (pos_ < size_ && zeros_ >= 2 && data_[pos_] == 0x03)
      {
        pos_++;
        zeros_ = 0;
      }
    if (pos_ >= size_)
      return std::nullopt;
    const std::uint8_t value = data_[pos_++];
    zeros_ = value == 0 ? zeros_ + 1 : 0;
    return value;
  }

  const std::uint8_t *data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  std::size_t zeros_ = 0;
  std::uint8_t current_ = 0;
  unsigned bits_left_ = 0;
  bool exhausted_ = false;
};

/* Whether an SEI NAL unit's messages (`body`: after its header byte)
 * include a recovery point; unreadable when a message runs past the data
 * (a unit cut off, as in an FU-A start fragment) before one is found. */
enum class sei_recovery
{
  present,
  absent,
  unreadable,
};

inline sei_recovery
read_sei_recovery_point (const std::uint8_t *body, std::size_t size)
{
  rbsp_reader reader (body, size);
  while (reader.more_data ())
    {
      unsigned values[2] = { 0, 0 }; /* payloadType, payloadSize */
      for (unsigned &value : values)
        for (;;)
          {
            const std::optional<std::uint8_t> b = reader.byte ();
            if (!b)
              return sei_recovery::unreadable;
            value += *b;
            if (*b != 0xff)
              break;
          }
      if (values[0] == sei_recovery_point)
        return sei_recovery::present;
      for (unsigned i = 0; i < values[1]; i++)
        if (!reader.byte ())
          return sei_recovery::unreadable;
    }
  return reader.exhausted () ? sei_recovery::unreadable : sei_recovery::absent;
}

} // namespace latestframe::h264
