/* latestframe — a capture time written into a frame's pixels.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/stamp.h"

#include <ctime>

namespace latestframe
{
namespace stamp
{

namespace
{

constexpr int columns = 16;
constexpr int rows = 5;
constexpr std::uint8_t sync_byte = 0xA5;
/* Video-range black and white: they survive limited-range conversions. */
constexpr std::uint8_t black = 16;
constexpr std::uint8_t white = 235;

std::uint8_t
crc8 (std::uint64_t value)
{
  std::uint8_t crc = 0;
  for (int byte = 0; byte < 8; byte++)
    {
      crc ^= static_cast<std::uint8_t> (value >> (8 * byte));
      for (int bit = 0; bit < 8; bit++)
        crc = (crc & 0x80) ? static_cast<std::uint8_t> ((crc << 1) ^ 0x07)
                           : static_cast<std::uint8_t> (crc << 1);
    }
  return crc;
}

/* Bit i of the 80: sync (8), value (64, most significant first), crc (8). */
bool
bit_of (std::uint64_t value, int i)
{
  if (i < 8)
    return (sync_byte >> (7 - i)) & 1;
  if (i < 72)
    return (value >> (63 - (i - 8))) & 1;
  return (crc8 (value) >> (7 - (i - 72))) & 1;
}

} // namespace

int
block_size (int width, int height)
{
  int block = width >= 256 ? 16 : 8;
  if (width < columns * block || height < rows * block)
    return 0;
  return block;
}

bool
write (std::uint8_t *luma, int stride, int width, int height,
       std::uint64_t value)
{
  const int block = block_size (width, height);
  if (block == 0)
    return false;
  for (int i = 0; i < columns * rows; i++)
    {
      const std::uint8_t shade = bit_of (value, i) ? white : black;
      const int x0 = (i % columns) * block;
      const int y0 = (i / columns) * block;
      for (int y = y0; y < y0 + block; y++)
        for (int x = x0; x < x0 + block; x++)
          luma[y * stride + x] = shade;
    }
  return true;
}

std::optional<std::uint64_t>
read (const std::uint8_t *luma, int stride, int width, int height)
{
  const int block = block_size (width, height);
  if (block == 0)
    return std::nullopt;
  std::uint64_t bits[2] = { 0, 0 }; /* 80 bits, first 16 in bits[0] */
  for (int i = 0; i < columns * rows; i++)
    {
      /* The middle half of the block: its edges bleed under coding. */
      const int x0 = (i % columns) * block + block / 4;
      const int y0 = (i / columns) * block + block / 4;
      unsigned sum = 0;
      for (int y = y0; y < y0 + block / 2; y++)
        for (int x = x0; x < x0 + block / 2; x++)
          sum += luma[y * stride + x];
      const bool one = sum / ((block / 2) * (block / 2)) >= (black + white) / 2;
      if (i < 16)
        bits[0] = (bits[0] << 1) | one;
      else
        bits[1] = (bits[1] << 1) | one;
    }
  const std::uint8_t sync = static_cast<std::uint8_t> (bits[0] >> 8);
  /* bits[0]: sync, then the value's top 8 bits; bits[1]: 56 + crc 8. */
  const std::uint64_t value = ((bits[0] & 0xff) << 56) | (bits[1] >> 8);
  const std::uint8_t crc = static_cast<std::uint8_t> (bits[1] & 0xff);
  if (sync != sync_byte || crc != crc8 (value))
    return std::nullopt;
  return value;
}

std::uint64_t
monotonic_now_ns ()
{
  timespec now;
  clock_gettime (CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t> (now.tv_sec) * 1000000000u
         + static_cast<std::uint64_t> (now.tv_nsec);
}

} // namespace stamp
} // namespace latestframe
