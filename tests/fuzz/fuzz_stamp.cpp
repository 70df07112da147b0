/* libFuzzer target: the pixel-stamp codec (latestframe::stamp, the capture
 * time the test camera writes into each frame's pixels).
 *
 * Input: bytes 0-1 the width (little-endian, modulo 720), byte 2 the
 * height, byte 3 the row padding (modulo 64: stride = width + padding),
 * byte 4 flags (bit 0: negative width, bit 1: negative height), bytes 5-12
 * a value (little-endian); the rest fills the plane, repeated (zeros when
 * there is none). The plane is allocated to its exact size, (height - 1) *
 * stride + width bytes, so that AddressSanitizer sees a read one byte past
 * it.
 *
 * Checked (an abort reports a broken promise):
 *  - reading any plane neither crashes nor reads outside it;
 *  - on a plane large enough to stamp (block_size() > 0), write() succeeds,
 *    touches nothing outside the 16 x 5 blocks, leaves only black and white
 *    in them, and read() gives the value back, whatever the pixels were;
 *  - on a plane too small (or with a negative size), write() refuses and
 *    touches nothing, and read() finds nothing. */
#include "latestframe/stamp.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>

namespace
{

namespace stamp = latestframe::stamp;

[[noreturn]] void
violated (const char *what, int width, int height, int stride)
{
  std::fprintf (stderr, "fuzz_stamp: %dx%d, stride %d: %s\n", width, height,
                stride, what);
  std::abort ();
}

std::uint8_t
at (const std::uint8_t *data, std::size_t size, std::size_t i)
{
  return i < size ? data[i] : 0;
}

} // namespace

extern "C" int
LLVMFuzzerTestOneInput (const std::uint8_t *data, std::size_t size)
{
  const int plane_width = (at (data, size, 0) | at (data, size, 1) << 8) % 720;
  const int plane_height = at (data, size, 2);
  const int stride = plane_width + at (data, size, 3) % 64;
  const std::uint8_t flags = at (data, size, 4);
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8; i++)
    value |= std::uint64_t (at (data, size, 5 + i)) << (8 * i);
  const std::size_t header = 13;
  const int width = flags & 1 ? -plane_width : plane_width;
  const int height = flags & 2 ? -plane_height : plane_height;

  /* Exactly the bytes a plane of this size spans; at least one, so that
   * there is always a pointer to pass. */
  const std::size_t length
      = plane_width > 0 && plane_height > 0
            ? static_cast<std::size_t> (plane_height - 1) * stride + plane_width
            : 1;
  std::unique_ptr<std::uint8_t[]> plane (new std::uint8_t[length]);
  for (std::size_t i = 0; i < length; i++)
    plane[i] = size > header ? data[header + i % (size - header)] : 0;
  std::unique_ptr<std::uint8_t[]> before (new std::uint8_t[length]);
  std::memcpy (before.get (), plane.get (), length);

  /* Whatever the pixels: no crash, nothing read outside the plane. */
  (void)stamp::read (plane.get (), stride, width, height);

  const int block = stamp::block_size (width, height);
  const bool written
      = stamp::write (plane.get (), stride, width, height, value);
  if (block == 0)
    {
      if (written || std::memcmp (plane.get (), before.get (), length) != 0)
        violated ("a plane too small to stamp was written", width, height,
                  stride);
      if (stamp::read (plane.get (), stride, width, height))
        violated ("a stamp was read from a plane too small for one", width,
                  height, stride);
      return 0;
    }
  if (!written)
    violated ("a plane large enough to stamp was refused", width, height,
              stride);
  /* Every byte, the padding between rows too. */
  for (std::size_t i = 0; i < length; i++)
    {
      const std::size_t x = i % stride, y = i / stride;
      const bool in_stamp = x < static_cast<std::size_t> (16 * block)
                            && y < static_cast<std::size_t> (5 * block);
      if (!in_stamp && plane[i] != before[i])
        violated ("write() changed a byte outside the stamp", width, height,
                  stride);
      if (in_stamp && plane[i] != 16 && plane[i] != 235)
        violated ("write() left a pixel neither black nor white", width, height,
                  stride);
    }
  const std::optional<std::uint64_t> read
      = stamp::read (plane.get (), stride, width, height);
  if (!read || *read != value)
    violated ("the stamp written did not read back", width, height, stride);
  return 0;
}
