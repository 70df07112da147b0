/* latestframe capture — the frame handed over, in the reader's format, as
 * a cv::Mat.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "gst_ptr.h"

#include <gst/video/video.h>
#include <opencv2/core.hpp>

#include <cstdint>
#include <string>

namespace latestframe::detail
{

/* A format read() can hand out as a cv::Mat, and the Mat's type. */
struct mat_format
{
  const char *name;
  GstVideoFormat video_format;
  int type;
  /* 4:2:0: one CV_8UC1 block of height * 3 / 2 rows, as OpenCV's
   * COLOR_YUV2BGR_* conversions read it. */
  bool yuv420;
};

/* The format named `name` (a GStreamer format name), or null. */
const mat_format *find_mat_format (const std::string &name);
/* The names find_mat_format() knows, for messages. */
std::string mat_format_names ();

/* Turns the frames latestframe hands over into Mats of one format: only
 * those frames are ever converted. A frame already in that format is
 * handed out as it is; others are converted into a buffer of the
 * converter's pool, which carries the frame's in-flight charge over (the
 * frame stays counted in flight until the Mat lets go). One reader thread
 * at a time. */
class frame_converter
{
public:
  explicit frame_converter (const mat_format &format) : format_ (format) {}
  ~frame_converter ();
  frame_converter (const frame_converter &) = delete;
  frame_converter &operator= (const frame_converter &) = delete;

  /* The frame of `sample` as a Mat that shares the frame's memory and
   * keeps it alive, or, when the memory is shared with someone else (a
   * decoder's reference frame) or laid out in a way OpenCV cannot read, a
   * copy: `copied` says which. Empty, with `error` set, for a frame that
   * cannot be converted or mapped. */
  cv::Mat to_mat (sample_ptr sample, bool &copied, std::string &error);

private:
  buffer_ptr convert (GstBuffer *frame, const GstVideoInfo &in,
                      std::string &error);
  bool prepare (const GstVideoInfo &in, std::string &error);

  const mat_format &format_;
  /* For the last input layout seen: */
  GstVideoInfo in_info_{};
  GstVideoInfo out_info_{};
  GstVideoConverter *converter_ = nullptr;
  GstBufferPool *pool_ = nullptr;
};

} // namespace latestframe::detail
