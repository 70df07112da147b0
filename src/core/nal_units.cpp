/* latestframe — random access units of H.264 and H.265 (nal_units.h).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/nal_units.h"

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

nal_kind
kind_of (video_codec codec, const std::uint8_t *header, std::size_t size)
{
  nal_kind kind;
  if (codec == video_codec::h264)
    {
      if (size < 1)
        return kind;
      const unsigned type = header[0] & 0x1fu;
      /* 1: non-IDR slice, 2-4: data partitions, 5: IDR slice. */
      kind.slice = type >= 1 && type <= 5;
      kind.random_access = type == 5;
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
          const nal_kind kind = kind_of (codec, data + *at, size - *at);
          if (kind.slice)
            return kind.random_access;
          at = after_start_code (data, size, *at);
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
      if (length == 0 || length > size - at)
        return false;
      const nal_kind kind = kind_of (codec, data + at, length);
      if (kind.slice)
        return kind.random_access;
      at += length;
    }
  return false;
}

} // namespace latestframe
