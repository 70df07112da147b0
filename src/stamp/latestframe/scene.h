/* latestframe — the test camera's synthetic scene, and how far a decoded
 * frame is from it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <cstdint>
#include <optional>

namespace latestframe
{

/* The scene is a function of the capture time alone (CLOCK_MONOTONIC ns),
 * and every frame carries that time in its stamp (latestframe::stamp): so
 * whoever decodes a frame can render what the camera rendered and measure
 * what coding, transport and decoding did to it. A gradient drifts 60
 * pixels a second and a bright box goes round the middle at 1.5 rad a
 * second, so that motion detectors see motion; chroma (not drawn here) is
 * flat grey. */
namespace scene
{

/* Renders the scene at `capture_time_ns` into an 8-bit luma plane and
 * stamps that time into it, exactly as the camera does. A plane too small
 * to stamp (see stamp::block_size) gets the scene alone. */
void render_luma (std::uint8_t *luma, int stride, int width, int height,
                  std::uint64_t capture_time_ns);

/* The PSNR (dB) of a decoded luma plane against the scene rendered for the
 * capture time its stamp carries; infinity when identical, nothing when
 * the stamp does not read. Over the whole plane: damage confined to a few
 * macroblocks hardly moves it (see worst_block_psnr_against_scene). */
std::optional<double> psnr_against_scene (const std::uint8_t *luma, int stride,
                                          int width, int height);

/* As psnr_against_scene, but the lowest PSNR of any 16x16 block (one H.264
 * macroblock, aligned as the coder aligns them; partial blocks at the right
 * and bottom edges count as they are): a smeared or concealed macroblock
 * shows here while the whole plane's figure stays high. */
std::optional<double> worst_block_psnr_against_scene (const std::uint8_t *luma,
                                                      int stride, int width,
                                                      int height);

/* Floors a decoded frame of the test camera stays above at its default
 * bitrate (2000 kbit/s), at 1280x720 or smaller, with or without
 * B-frames. Measured over 25 runs of 150 frames at 1280x720: whole plane
 * 36 dB at the lowest (54-60 dB on average), worst block 22 dB at the
 * lowest; the lowest are the first few frames, while x264's rate control
 * starts coarse (from the sixteenth frame on: 43 and 35 dB). Smaller
 * frames do better (640x360: 46 and 37 dB). A frame below a floor is
 * damaged: decoded from a wrong or missing reference, or concealed. Only
 * the block floor catches a smear: a 64x64 block copied from elsewhere
 * takes the worst block to 2-10 dB while the whole plane of a 1280x720
 * frame stays at 31-34 dB. */
constexpr double decoded_psnr_floor_db = 30.0;
constexpr double decoded_worst_block_psnr_floor_db = 15.0;

} // namespace scene
} // namespace latestframe
