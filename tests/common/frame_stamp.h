/* Reads the capture time latestframe-testcam stamps into each frame from a
 * decoded GstBuffer: shared by the integration tests and the benchmarks. */
#pragma once

#include "latestframe/stamp.h"

#include <gst/gst.h>
#include <gst/video/video.h>

#include <optional>
#include <vector>

namespace latestframe
{

/* The stamp of a frame of `caps`: I420, NV12 and GRAY8 through their luma
 * plane, BGR through its first channel (black and white blocks read the
 * same in any channel). Follows a GstVideoMeta's stride and offset. */
inline std::optional<std::uint64_t>
read_frame_stamp (GstBuffer *buffer, GstCaps *caps)
{
  GstVideoInfo info;
  if (!caps || !gst_video_info_from_caps (&info, caps))
    return std::nullopt;
  const int width = GST_VIDEO_INFO_WIDTH (&info);
  const int height = GST_VIDEO_INFO_HEIGHT (&info);
  GstVideoMeta *meta = gst_buffer_get_video_meta (buffer);
  const int stride
      = meta ? meta->stride[0] : GST_VIDEO_INFO_PLANE_STRIDE (&info, 0);
  const gsize offset
      = meta ? meta->offset[0] : GST_VIDEO_INFO_PLANE_OFFSET (&info, 0);
  const bool bgr = GST_VIDEO_INFO_FORMAT (&info) == GST_VIDEO_FORMAT_BGR;
  GstMapInfo map;
  if (!gst_buffer_map (buffer, &map, GST_MAP_READ))
    return std::nullopt;
  std::optional<std::uint64_t> captured;
  if (!bgr)
    captured = stamp::read (map.data + offset, stride, width, height);
  else
    {
      std::vector<std::uint8_t> luma (static_cast<size_t> (width) * height);
      for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++)
          luma[y * width + x] = map.data[offset + y * stride + x * 3];
      captured = stamp::read (luma.data (), width, width, height);
    }
  gst_buffer_unmap (buffer, &map);
  return captured;
}

} // namespace latestframe
