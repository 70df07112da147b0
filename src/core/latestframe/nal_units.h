/* latestframe — whether an H.264 or H.265 access unit is a random access
 * point a decoder starts from alone.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <cstddef>
#include <cstdint>

namespace latestframe
{

enum class video_codec : std::uint8_t
{
  h264,
  h265,
};

/* How the access unit's NAL units are delimited: Annex B start codes
 * (byte-stream), or each preceded by its size in `length_size` bytes, big
 * endian (avc, avc3, hvc1, hev1: 1, 2 or 4, from the codec data). */
struct nal_framing
{
  bool length_prefixed = false;
  std::uint8_t length_size = 4;
};

/* The size of the NAL units' length prefixes that codec data gives (avcC
 * for H.264: byte 4; hvcC for H.265: byte 21; its two low bits + 1): 1, 2
 * or 4; 4 when the data is too short to say. `codec_data` may be its
 * start only: codec_data_bytes_read bytes are enough. */
inline constexpr std::size_t codec_data_bytes_read = 22;
std::uint8_t nal_length_size (video_codec codec, const std::uint8_t *codec_data,
                              std::size_t size);

/* Whether a decoder told to skip all but key frames still decodes the
 * access unit (libavcodec's skip_frame=nokey, which gst-libav sets in a
 * key-unit trick mode): for H.264, its first coded slice is an IDR picture
 * (NAL unit type 5) or an SEI before it has a recovery point; for H.265,
 * its first slice is an IRAP picture (types 16 to 23: BLA, IDR, CRA). A
 * parser also calls a unit of non-IDR I slices a key unit; that one is
 * not, and neither is a unit this reader cannot follow to a slice. `data`
 * may be the unit's start only: a slice's NAL header is enough. */
bool is_random_access_unit (video_codec codec, nal_framing framing,
                            const std::uint8_t *data, std::size_t size);

} // namespace latestframe
