/* The luma plane of a decoded sample, mapped for reading while this lives:
 * what the pixel-stamp and scene checks of the integration tests read. */
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>

#include <cstdint>

namespace latestframe
{

class luma_plane
{
public:
  explicit luma_plane (GstSample *sample)
  {
    GstVideoInfo info;
    mapped_ = gst_video_info_from_caps (&info, gst_sample_get_caps (sample))
              && gst_video_frame_map (&frame_, &info,
                                      gst_sample_get_buffer (sample),
                                      GST_MAP_READ);
    if (!mapped_)
      return;
    data = static_cast<const std::uint8_t *> (
        GST_VIDEO_FRAME_PLANE_DATA (&frame_, 0));
    stride = GST_VIDEO_FRAME_PLANE_STRIDE (&frame_, 0);
    width = GST_VIDEO_FRAME_WIDTH (&frame_);
    height = GST_VIDEO_FRAME_HEIGHT (&frame_);
  }
  luma_plane (const luma_plane &) = delete;
  luma_plane &operator= (const luma_plane &) = delete;
  ~luma_plane ()
  {
    if (mapped_)
      gst_video_frame_unmap (&frame_);
  }

  /* False for a sample whose caps or memory cannot be read. */
  bool mapped () const { return mapped_; }

  const std::uint8_t *data = nullptr;
  int stride = 0;
  int width = 0;
  int height = 0;

private:
  GstVideoFrame frame_;
  bool mapped_ = false;
};

} // namespace latestframe
