/* latestframe capture — the frame handed over, in the reader's format, as
 * a cv::Mat.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "frame.h"

#include <algorithm>
#include <array>

namespace latestframe::detail
{

namespace
{

constexpr std::array<mat_format, 12> mat_formats{ {
    { "BGR", GST_VIDEO_FORMAT_BGR, CV_8UC3, false },
    { "RGB", GST_VIDEO_FORMAT_RGB, CV_8UC3, false },
    { "BGRx", GST_VIDEO_FORMAT_BGRx, CV_8UC4, false },
    { "BGRA", GST_VIDEO_FORMAT_BGRA, CV_8UC4, false },
    { "RGBx", GST_VIDEO_FORMAT_RGBx, CV_8UC4, false },
    { "RGBA", GST_VIDEO_FORMAT_RGBA, CV_8UC4, false },
    { "GRAY8", GST_VIDEO_FORMAT_GRAY8, CV_8UC1, false },
    { "GRAY16_LE", GST_VIDEO_FORMAT_GRAY16_LE, CV_16UC1, false },
    { "I420", GST_VIDEO_FORMAT_I420, CV_8UC1, true },
    { "YV12", GST_VIDEO_FORMAT_YV12, CV_8UC1, true },
    { "NV12", GST_VIDEO_FORMAT_NV12, CV_8UC1, true },
    { "NV21", GST_VIDEO_FORMAT_NV21, CV_8UC1, true },
} };

/* A cv::Mat's memory that is a mapped GstBuffer: the Mat's reference count
 * keeps the buffer mapped and alive; the last Mat to go unmaps it. */
struct frame_memory : cv::UMatData
{
  explicit frame_memory (const cv::MatAllocator *allocator)
      : cv::UMatData (allocator)
  {
  }
  GstVideoFrame video{};
};

class frame_allocator final : public cv::MatAllocator
{
public:
  /* A Mat that reallocates (create() with another size) gets ordinary
   * memory. */
  cv::UMatData *allocate (int dims, const int *sizes, int type, void *data,
                          size_t *step, cv::AccessFlag flags,
                          cv::UMatUsageFlags usage) const override
  {
    return cv::Mat::getDefaultAllocator ()->allocate (dims, sizes, type, data,
                                                      step, flags, usage);
  }
  bool allocate (cv::UMatData *, cv::AccessFlag,
                 cv::UMatUsageFlags) const override
  {
    return false;
  }
  void deallocate (cv::UMatData *data) const override
  {
    if (!data)
      return;
    auto *memory = static_cast<frame_memory *> (data);
    GstBuffer *buffer = memory->video.buffer;
    gst_video_frame_unmap (&memory->video);
    gst_buffer_unref (buffer);
    /* OpenCV's allocator protocol: the allocator that made a UMatData
     * deletes it when the last Mat lets go. */
    delete memory;
  }
};

frame_allocator &
shared_frame_allocator ()
{
  /* Never destroyed, as OpenCV's own default allocator: a Mat in a static
   * or global may let go of its frame after every static is gone. */
  static frame_allocator *allocator = new frame_allocator;
  return *allocator;
}

/* The planes of a 4:2:0 frame laid out as OpenCV's COLOR_YUV2* conversions
 * read them: one block, chroma right after luma at half the stride. */
bool
is_opencv_yuv420_layout (const GstVideoFrame &video)
{
  const GstVideoInfo &info = video.info;
  const int height = GST_VIDEO_INFO_HEIGHT (&info);
  const int stride = GST_VIDEO_FRAME_PLANE_STRIDE (&video, 0);
  if (height % 2 != 0)
    return false;
  auto *luma = static_cast<const std::uint8_t *> (video.data[0]);
  auto *second = static_cast<const std::uint8_t *> (video.data[1]);
  if (second != luma + static_cast<size_t> (stride) * height)
    return false;
  if (GST_VIDEO_INFO_N_PLANES (&info) == 2)
    return GST_VIDEO_FRAME_PLANE_STRIDE (&video, 1) == stride;
  auto *third = static_cast<const std::uint8_t *> (video.data[2]);
  return GST_VIDEO_FRAME_PLANE_STRIDE (&video, 1) * 2 == stride
         && GST_VIDEO_FRAME_PLANE_STRIDE (&video, 2) * 2 == stride
         && third == second + static_cast<size_t> (stride / 2) * height / 2;
}

/* The frame copied into a Mat of its own, planes packed OpenCV's way. */
cv::Mat
copy_frame (const GstVideoFrame &video, const mat_format &format)
{
  const GstVideoInfo &info = video.info;
  const int width = GST_VIDEO_INFO_WIDTH (&info);
  const int height = GST_VIDEO_INFO_HEIGHT (&info);
  if (!format.yuv420)
    return cv::Mat (height, width, format.type, video.data[0],
                    GST_VIDEO_FRAME_PLANE_STRIDE (&video, 0))
        .clone ();
  cv::Mat packed (height + height / 2, width, CV_8UC1);
  std::uint8_t *out = packed.data;
  for (guint plane = 0; plane < GST_VIDEO_INFO_N_PLANES (&info); plane++)
    {
      const int rows = GST_VIDEO_FRAME_COMP_HEIGHT (&video, plane);
      const int row_bytes = GST_VIDEO_FRAME_COMP_WIDTH (&video, plane)
                            * GST_VIDEO_FRAME_COMP_PSTRIDE (&video, plane);
      const int stride = GST_VIDEO_FRAME_PLANE_STRIDE (&video, plane);
      auto *in = static_cast<const std::uint8_t *> (video.data[plane]);
      for (int row = 0; row < rows; row++, out += row_bytes)
        std::copy_n (in + static_cast<size_t> (row) * stride, row_bytes, out);
    }
  return packed;
}

/* A Mat over a mapped frame, which it unmaps and releases when its last
 * copy goes. */
cv::Mat
wrap_mapped_frame (const GstVideoFrame &video, const mat_format &format)
{
  const int width = GST_VIDEO_FRAME_WIDTH (&video);
  const int height = GST_VIDEO_FRAME_HEIGHT (&video);
  const int rows = format.yuv420 ? height + height / 2 : height;
  /* The mapped frame's strides follow a GstVideoMeta, the caps' do not. */
  const size_t stride = GST_VIDEO_FRAME_PLANE_STRIDE (&video, 0);
  cv::Mat mat (rows, width, format.type, video.data[0], stride);

  cv::MatAllocator *allocator = &shared_frame_allocator ();
  /* Owned by the Mat from here: see frame_allocator::deallocate. */
  auto *memory = new frame_memory (allocator);
  memory->video = video;
  memory->data = memory->origdata = static_cast<uchar *> (video.data[0]);
  memory->size = stride * rows;
  memory->refcount = 1;
  mat.allocator = allocator;
  mat.u = memory;
  return mat;
}

gboolean
drop_layout_meta (GstBuffer *, GstMeta **meta, gpointer)
{
  const GType api = (*meta)->info->api;
  if (api == GST_VIDEO_META_API_TYPE || api == GST_VIDEO_CROP_META_API_TYPE)
    *meta = nullptr;
  return TRUE;
}

} // namespace

const mat_format *
find_mat_format (const std::string &name)
{
  for (const mat_format &format : mat_formats)
    if (name == format.name)
      return &format;
  return nullptr;
}

std::string
mat_format_names ()
{
  std::string names;
  for (const mat_format &format : mat_formats)
    names += (names.empty () ? "" : ", ") + std::string (format.name);
  return names;
}

frame_converter::~frame_converter ()
{
  if (converter_)
    gst_video_converter_free (converter_);
  if (pool_)
    {
      gst_buffer_pool_set_active (pool_, FALSE);
      gst_object_unref (pool_);
    }
}

/* A converter and a pool for frames laid out as `in`, unless the last ones
 * fit. */
bool
frame_converter::prepare (const GstVideoInfo &in, std::string &error)
{
  if (converter_ && gst_video_info_is_equal (&in, &in_info_))
    return true;
  if (converter_)
    gst_video_converter_free (converter_);
  converter_ = nullptr;
  if (pool_)
    {
      gst_buffer_pool_set_active (pool_, FALSE);
      gst_object_unref (pool_);
      pool_ = nullptr;
    }
  in_info_ = in;
  gst_video_info_set_format (&out_info_, format_.video_format,
                             GST_VIDEO_INFO_WIDTH (&in),
                             GST_VIDEO_INFO_HEIGHT (&in));
  GST_VIDEO_INFO_FPS_N (&out_info_) = GST_VIDEO_INFO_FPS_N (&in);
  GST_VIDEO_INFO_FPS_D (&out_info_) = GST_VIDEO_INFO_FPS_D (&in);
  GST_VIDEO_INFO_PAR_N (&out_info_) = GST_VIDEO_INFO_PAR_N (&in);
  GST_VIDEO_INFO_PAR_D (&out_info_) = GST_VIDEO_INFO_PAR_D (&in);
  converter_ = gst_video_converter_new (&in_info_, &out_info_, nullptr);
  if (!converter_)
    {
      error = std::string ("cannot convert ")
              + gst_video_format_to_string (GST_VIDEO_INFO_FORMAT (&in))
              + " to " + format_.name;
      return false;
    }
  /* Recycled frames: a new 720p frame each time would be a fresh mmap and
   * its page faults. Unbounded: the reader may keep as many as it likes. */
  pool_ = gst_video_buffer_pool_new ();
  GstCaps *caps = gst_video_info_to_caps (&out_info_);
  GstStructure *config = gst_buffer_pool_get_config (pool_);
  gst_buffer_pool_config_set_params (config, caps,
                                     GST_VIDEO_INFO_SIZE (&out_info_), 0, 0);
  gst_caps_unref (caps);
  if (!gst_buffer_pool_set_config (pool_, config)
      || !gst_buffer_pool_set_active (pool_, TRUE))
    {
      error = "cannot set up a pool of converted frames";
      return false;
    }
  return true;
}

/* The frame in the reader's format, in a buffer of the pool that carries
 * over the frame's timestamps and metas (its in-flight charge among them)
 * but not its layout. */
buffer_ptr
frame_converter::convert (GstBuffer *frame, const GstVideoInfo &in,
                          std::string &error)
{
  if (!prepare (in, error))
    return nullptr;
  GstBuffer *acquired = nullptr;
  if (gst_buffer_pool_acquire_buffer (pool_, &acquired, nullptr) != GST_FLOW_OK)
    {
      error = "no buffer for a converted frame";
      return nullptr;
    }
  buffer_ptr converted (acquired);
  GstVideoFrame source, target;
  if (!gst_video_frame_map (&source, &in_info_, frame, GST_MAP_READ))
    {
      error = "a frame that cannot be mapped";
      return nullptr;
    }
  if (!gst_video_frame_map (&target, &out_info_, converted.get (),
                            GST_MAP_WRITE))
    {
      gst_video_frame_unmap (&source);
      error = "a converted frame that cannot be mapped";
      return nullptr;
    }
  gst_video_converter_frame (converter_, &source, &target);
  gst_video_frame_unmap (&target);
  gst_video_frame_unmap (&source);
  gst_buffer_copy_into (converted.get (), frame,
                        static_cast<GstBufferCopyFlags> (
                            GST_BUFFER_COPY_FLAGS | GST_BUFFER_COPY_TIMESTAMPS
                            | GST_BUFFER_COPY_META),
                        0, static_cast<gsize> (-1));
  gst_buffer_foreach_meta (converted.get (), drop_layout_meta, nullptr);
  return converted;
}

cv::Mat
frame_converter::to_mat (sample_ptr sample, bool &copied, std::string &error)
{
  GstVideoInfo in;
  if (!gst_video_info_from_caps (&in, gst_sample_get_caps (sample.get ())))
    {
      error = "a frame without video caps";
      return {};
    }
  const int width = GST_VIDEO_INFO_WIDTH (&in);
  const int height = GST_VIDEO_INFO_HEIGHT (&in);
  if (format_.yuv420 && (width % 2 || height % 2))
    {
      error = "a " + std::to_string (width) + "x" + std::to_string (height)
              + " frame: OpenCV's 4:2:0 layout needs even sizes; read it as "
                "BGR or GRAY8";
      return {};
    }
  buffer_ptr frame (gst_buffer_ref (gst_sample_get_buffer (sample.get ())));
  sample.reset ();
  GstVideoInfo layout = in;
  if (GST_VIDEO_INFO_FORMAT (&in) != format_.video_format)
    {
      frame = convert (frame.get (), in, error);
      if (!frame)
        return {};
      layout = out_info_;
    }

  /* Memory someone else holds (a decoder keeps reference frames it hands
   * over in its own format) would be copied by a write map behind our back:
   * count it as a copy. */
  const bool writable = gst_buffer_is_writable (frame.get ())
                        && gst_buffer_is_all_memory_writable (frame.get ());
  const auto flags
      = static_cast<GstMapFlags> (GST_MAP_READ | (writable ? GST_MAP_WRITE : 0)
                                  | GST_VIDEO_FRAME_MAP_FLAG_NO_REF);
  GstVideoFrame video;
  if (!gst_video_frame_map (&video, &layout, frame.get (), flags))
    {
      error = "a frame that cannot be mapped";
      return {};
    }
  if (!writable || (format_.yuv420 && !is_opencv_yuv420_layout (video)))
    {
      copied = true;
      cv::Mat own = copy_frame (video, format_);
      gst_video_frame_unmap (&video);
      return own;
    }
  copied = false;
  /* The mapping (NO_REF) now owns our reference: see deallocate. */
  frame.release ();
  return wrap_mapped_frame (video, format_);
}

} // namespace latestframe::detail
