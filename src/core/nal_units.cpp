/* latestframe — random access units of H.264 and H.265 (nal_units.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/nal_units.h"

#include "latestframe/h264_syntax.h"

#include <algorithm>
#include <optional>

namespace latestframe
{

namespace
{

/* What the first byte(s) of a NAL unit say: whether it is a coded slice,
 * and if so whether its picture is a random access point. */
struct nal_kind
{
  bool slice = false;
  bool random_access = false;
};

/* `size`: the NAL unit's, as far as it is known (Annex B: to the end of
 * the access unit, which is enough for an SEI's messages, as a start code
 * cannot occur in them). */
nal_kind
kind_of (video_codec codec, const std::uint8_t *header, std::size_t size)
{
  nal_kind kind;
  if (codec == video_codec::h264)
    {
      if (size < 1)
        return kind;
      const unsigned type = header[0] & 0x1fu;
      kind.slice = type >= h264::nal_slice && type <= h264::nal_idr_slice;
      kind.random_access
          = type == h264::nal_idr_slice
            || (type == h264::nal_sei
                && h264::read_sei_recovery_point (header + 1, size - 1)
                       == h264::sei_recovery::present);
      return kind;
    }
  if (size < 2)
    return kind;
  const unsigned type = (header[0] >> 1) & 0x3fu;
  /* 0-31: VCL (coded slice segments); 16-23: IRAP. */
  kind.slice = type <= 31;
  kind.random_access = type >= 16 && type <= 23;
  return kind;
}

/* The offset of the byte after the next Annex B start code (00 00 01) at
 * or after `from`; none when there is no more. */
std::optional<std::size_t>
after_start_code (const std::uint8_t *data, std::size_t size, std::size_t from)
{
  for (std::size_t i = from; i + 3 <= size; i++)
    if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1)
      return i + 3;
  return std::nullopt;
}

} // namespace

bool
is_random_access_unit (video_codec codec, nal_framing framing,
                       const std::uint8_t *data, std::size_t size)
{
  if (!data)
    return false;
  if (!framing.length_prefixed)
    {
      /* Each NAL unit's header follows a start code; the first slice
       * decides. What comes before it (delimiter, parameter sets, SEI) is
       * small, so this stops early. */
      std::optional<std::size_t> at = after_start_code (data, size, 0);
      while (at)
        {
          const std::optional<std::size_t> next
              = after_start_code (data, size, *at);
          /* The unit ends where the next start code (and the zero byte a
           * four-byte one has first) begins. */
          std::size_t end = next ? *next - 3 : size;
          while (end > *at && next && data[end - 1] == 0)
            end--;
          const nal_kind kind = kind_of (codec, data + *at, end - *at);
          if (kind.slice || kind.random_access)
            return kind.random_access;
          at = next;
        }
      return false;
    }
  const std::size_t length_size = framing.length_size;
  if (length_size != 1 && length_size != 2 && length_size != 4)
    return false;
  std::size_t at = 0;
  while (size - at > length_size)
    {
      std::size_t length = 0;
      for (std::size_t i = 0; i < length_size; i++)
        length = (length << 8) | data[at + i];
      at += length_size;
      if (length == 0 || at >= size)
        return false;
      /* The data may stop inside a unit (the owner reads a key unit's
       * start): a slice's header is enough, an SEI is read as far as
       * there is. */
      const std::size_t present = std::min (length, size - at);
      const nal_kind kind = kind_of (codec, data + at, present);
      if (kind.slice || kind.random_access)
        return kind.random_access;
      if (length > size - at)
        return false;
      at += length;
    }
  return false;
}

std::uint8_t
nal_length_size (video_codec codec, const std::uint8_t *codec_data,
                 std::size_t size)
{
  const std::size_t at = codec == video_codec::h264 ? 4 : 21;
  if (size <= at)
    return 4;
  return static_cast<std::uint8_t> ((codec_data[at] & 0x3u) + 1);
}

} // namespace latestframe
