/* Zero-copy cv::Mat views of mapped GStreamer video frames.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/analysis.h"

#include <gst/video/video.h>

namespace latestframe
{

/* A video frame mapped for as long as this object lives. Non-copyable. */
class mapped_frame
{
public:
  mapped_frame (const GstVideoInfo *info, GstBuffer *buffer, GstMapFlags flags)
      : mapped_ (gst_video_frame_map (
          &frame_, const_cast<GstVideoInfo *> (info), buffer, flags))
  {
  }
  mapped_frame (const mapped_frame &) = delete;
  mapped_frame &operator= (const mapped_frame &) = delete;
  ~mapped_frame ()
  {
    if (mapped_)
      gst_video_frame_unmap (&frame_);
  }

  bool ok () const { return mapped_; }

  /* The first plane as a cv::Mat view with its real stride (the luma plane
   * of I420 and NV12): no pixel is copied. */
  cv::Mat plane0 ()
  {
    const GstVideoFormatInfo *format = frame_.info.finfo;
    int channels = GST_VIDEO_FORMAT_INFO_PSTRIDE (format, 0);
    if (GST_VIDEO_FORMAT_INFO_IS_YUV (format))
      channels = 1;
    return cv::Mat (GST_VIDEO_FRAME_COMP_HEIGHT (&frame_, 0),
                    GST_VIDEO_FRAME_COMP_WIDTH (&frame_, 0), CV_8UC (channels),
                    GST_VIDEO_FRAME_PLANE_DATA (&frame_, 0),
                    GST_VIDEO_FRAME_PLANE_STRIDE (&frame_, 0));
  }

private:
  GstVideoFrame frame_;
  bool mapped_;
};

/* How the first plane of `format` is laid out for OpenCV. */
inline channel_order
channel_order_of (GstVideoFormat format)
{
  switch (format)
    {
    case GST_VIDEO_FORMAT_BGR:
      return channel_order::bgr;
    case GST_VIDEO_FORMAT_RGB:
      return channel_order::rgb;
    case GST_VIDEO_FORMAT_BGRx:
    case GST_VIDEO_FORMAT_BGRA:
      return channel_order::bgrx;
    case GST_VIDEO_FORMAT_RGBx:
    case GST_VIDEO_FORMAT_RGBA:
      return channel_order::rgbx;
    default: /* GRAY8, and the luma plane of I420 and NV12 */
      return channel_order::gray;
    }
}

} // namespace latestframe
