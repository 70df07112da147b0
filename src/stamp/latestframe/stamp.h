/* latestframe — a capture time written into a frame's pixels.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <cstdint>
#include <optional>

namespace latestframe
{

/* A 64-bit value (the capture time, CLOCK_MONOTONIC ns) written into the
 * top-left corner of an 8-bit luma plane as large black and white blocks,
 * so that it survives lossy video coding: a sync byte, the value, and a
 * CRC-8, 80 bits in a grid of 16 x 5 blocks. Blocks are 16 pixels (one
 * H.264 macroblock each) on frames at least 256 pixels wide, 8 below.
 * Whoever reads the frame on the same machine can tell how old it is. */
namespace stamp
{

/* The block size for a frame this wide (0 when too small to stamp). */
int block_size (int width, int height);

/* Writes `value` into the plane; false (nothing written) if too small. */
bool write (std::uint8_t *luma, int stride, int width, int height,
            std::uint64_t value);

/* Reads the value back: nothing when the sync byte or the CRC is wrong. */
std::optional<std::uint64_t> read (const std::uint8_t *luma, int stride,
                                   int width, int height);

/* CLOCK_MONOTONIC now, in ns: what a stamp carries. */
std::uint64_t monotonic_now_ns ();

} // namespace stamp
} // namespace latestframe
