/* latestframe — "always the newest frame" capture for applications.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One pipeline per connection:
 *
 *   source ! decoder ! latestframe ! videoconvert ! <format> ! fakesink
 *
 * latestframe keeps the newest decoded frame. Its streaming thread is held
 * by a blocking probe on its source pad until read() asks for a frame; then
 * the frame in hand goes on, unless a newer one arrived meanwhile, in which
 * case it is dropped and the newer one taken. So only frames that are read
 * get converted, and the frame read is the newest one there is.
 *
 * A supervisor thread per capture runs the pipeline's bus, the stall
 * watchdog, and the teardown / backoff / rebuild cycle of reconnection.
 * Only public GStreamer API and latestframe's properties are used.
 *
 * The converted frame is taken off the sink's pad by a probe that keeps
 * the pad's reference: the buffer is then the capture's alone, writable,
 * and handed out without a copy. (appsink would keep a reference to the
 * last frame pulled, which makes the frame shared and read-only.)
 */
#include "latestframe/capture.h"
#include "latestframe/freshness.h"

#include <gst/gst.h>
#include <gst/video/video.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

namespace latestframe
{

const char *
to_string (capture_state state)
{
  switch (state)
    {
    case capture_state::closed:
      return "closed";
    case capture_state::connecting:
      return "connecting";
    case capture_state::streaming:
      return "streaming";
    case capture_state::reconnecting:
      return "reconnecting";
    case capture_state::ended:
      return "ended";
    }
  return "unknown";
}

namespace
{

using clock = std::chrono::steady_clock;

struct object_unref
{
  void operator() (gpointer object) const { gst_object_unref (object); }
};
using element_ptr = std::unique_ptr<GstElement, object_unref>;
using pad_ptr = std::unique_ptr<GstPad, object_unref>;
using bus_ptr = std::unique_ptr<GstBus, object_unref>;

struct mini_object_unref
{
  void operator() (gpointer object) const
  {
    gst_mini_object_unref (GST_MINI_OBJECT_CAST (object));
  }
};
using sample_ptr = std::unique_ptr<GstSample, mini_object_unref>;
using message_ptr = std::unique_ptr<GstMessage, mini_object_unref>;

struct structure_free
{
  void operator() (GstStructure *structure) const
  {
    gst_structure_free (structure);
  }
};
using structure_ptr = std::unique_ptr<GstStructure, structure_free>;

enum class source_kind
{
  rtsp,
  v4l2,
  uri,
  description,
};

source_kind
kind_of (const std::string &source)
{
  for (const char *scheme : { "rtsp://", "rtsps://", "rtspt://", "rtspu://" })
    if (source.rfind (scheme, 0) == 0)
      return source_kind::rtsp;
  if (source.rfind ("/dev/video", 0) == 0)
    return source_kind::v4l2;
  if (source.find ("://") != std::string::npos
      && gst_uri_is_valid (source.c_str ()))
    return source_kind::uri;
  return source_kind::description;
}

bool
is_file_uri (const std::string &source)
{
  return source.rfind ("file://", 0) == 0;
}

/* rtspsrc's "protocols" flags by their nicks ("tcp", "udp+tcp"), or empty. */
bool
are_rtsp_protocols (const std::string &protocols)
{
  if (protocols.empty ())
    return true;
  size_t start = 0;
  for (;;)
    {
      const size_t plus = protocols.find ('+', start);
      const std::string nick = protocols.substr (start, plus - start);
      if (nick != "tcp" && nick != "udp" && nick != "udp-mcast"
          && nick != "http" && nick != "tls")
        return false;
      if (plus == std::string::npos)
        return true;
      start = plus + 1;
    }
}

/* The formats read() can hand out as a cv::Mat, and the Mat's type. */
struct mat_format
{
  const char *name;
  int type;
  bool yuv420;
};
constexpr std::array<mat_format, 12> mat_formats{ {
    { "BGR", CV_8UC3, false },
    { "RGB", CV_8UC3, false },
    { "BGRx", CV_8UC4, false },
    { "BGRA", CV_8UC4, false },
    { "RGBx", CV_8UC4, false },
    { "RGBA", CV_8UC4, false },
    { "GRAY8", CV_8UC1, false },
    { "GRAY16_LE", CV_16UC1, false },
    { "I420", CV_8UC1, true },
    { "YV12", CV_8UC1, true },
    { "NV12", CV_8UC1, true },
    { "NV21", CV_8UC1, true },
} };

const mat_format *
find_mat_format (const std::string &name)
{
  for (const mat_format &format : mat_formats)
    if (name == format.name)
      return &format;
  return nullptr;
}

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
  const int stride = GST_VIDEO_INFO_PLANE_STRIDE (&info, 0);
  if (height % 2 != 0)
    return false;
  auto *luma = static_cast<const std::uint8_t *> (video.data[0]);
  auto *second = static_cast<const std::uint8_t *> (video.data[1]);
  if (second != luma + static_cast<size_t> (stride) * height)
    return false;
  if (GST_VIDEO_INFO_N_PLANES (&info) == 2)
    return GST_VIDEO_INFO_PLANE_STRIDE (&info, 1) == stride;
  auto *third = static_cast<const std::uint8_t *> (video.data[2]);
  return GST_VIDEO_INFO_PLANE_STRIDE (&info, 1) * 2 == stride
         && GST_VIDEO_INFO_PLANE_STRIDE (&info, 2) * 2 == stride
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

/* The frame of `sample` as a Mat: its own memory, mapped, when nothing
 * else holds the buffer or its memory (the usual case: videoconvert made
 * it for us); otherwise, and for 4:2:0 layouts OpenCV cannot read in
 * place, a copy. `copied` says which. Empty, with `error` set, if the frame
 * cannot be mapped or has no OpenCV layout (4:2:0 of odd size). */
cv::Mat
mat_from_sample (sample_ptr sample, const mat_format &format, bool &copied,
                 std::string &error)
{
  GstVideoInfo info;
  if (!gst_video_info_from_caps (&info, gst_sample_get_caps (sample.get ())))
    {
      error = "a frame without video caps";
      return {};
    }
  if (format.yuv420
      && (GST_VIDEO_INFO_WIDTH (&info) % 2
          || GST_VIDEO_INFO_HEIGHT (&info) % 2))
    {
      error = "a " + std::to_string (GST_VIDEO_INFO_WIDTH (&info)) + "x"
              + std::to_string (GST_VIDEO_INFO_HEIGHT (&info))
              + " frame: OpenCV's 4:2:0 layout needs even sizes; read it as "
                "BGR or GRAY8";
      return {};
    }
  GstBuffer *buffer = gst_buffer_ref (gst_sample_get_buffer (sample.get ()));
  sample.reset ();

  /* Memory shared with the decoder (passthrough of its own format) would be
   * copied by a write map behind our back: count it as a copy. */
  const bool writable = gst_buffer_is_writable (buffer)
                        && gst_buffer_is_all_memory_writable (buffer);
  auto flags
      = static_cast<GstMapFlags> (GST_MAP_READ | (writable ? GST_MAP_WRITE : 0)
                                  | GST_VIDEO_FRAME_MAP_FLAG_NO_REF);
  GstVideoFrame video;
  if (!gst_video_frame_map (&video, &info, buffer, flags))
    {
      gst_buffer_unref (buffer);
      error = "a frame that cannot be mapped";
      return {};
    }
  if (!writable || (format.yuv420 && !is_opencv_yuv420_layout (video)))
    {
      copied = true;
      cv::Mat own = copy_frame (video, format);
      gst_video_frame_unmap (&video);
      gst_buffer_unref (buffer);
      return own;
    }
  copied = false;

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

std::uint64_t
structure_uint64 (const GstStructure *structure, const char *field)
{
  guint64 value = 0;
  if (gst_structure_get_uint64 (structure, field, &value))
    return value;
  guint small = 0;
  if (gst_structure_get_uint (structure, field, &small))
    return small;
  return 0;
}

structure_ptr
stats_of (GstElement *latest)
{
  GstStructure *stats = nullptr;
  g_object_get (latest, "stats", &stats, NULL);
  return structure_ptr (stats);
}

/* latestframe's counters that add up across connections. */
struct element_counts
{
  std::uint64_t received = 0, pushed = 0, dropped = 0, dropped_overflow = 0,
                dropped_age = 0, dropped_budget = 0, dropped_flush = 0;

  static element_counts from (const GstStructure *stats)
  {
    element_counts counts;
    counts.received = structure_uint64 (stats, "received");
    counts.pushed = structure_uint64 (stats, "pushed");
    counts.dropped = structure_uint64 (stats, "dropped");
    counts.dropped_overflow = structure_uint64 (stats, "dropped-overflow");
    counts.dropped_age = structure_uint64 (stats, "dropped-age");
    counts.dropped_budget = structure_uint64 (stats, "dropped-budget");
    counts.dropped_flush = structure_uint64 (stats, "dropped-flush");
    return counts;
  }

  void add (const element_counts &other)
  {
    received += other.received;
    pushed += other.pushed;
    dropped += other.dropped;
    dropped_overflow += other.dropped_overflow;
    dropped_age += other.dropped_age;
    dropped_budget += other.dropped_budget;
    dropped_flush += other.dropped_flush;
  }
};

/* Frames seen entering latestframe, so that a frame leaving it can be told
 * its sequence number and arrival time. Keyed by timestamp (kept through
 * conversion), or by buffer for frames without one. */
struct arrival
{
  std::uint64_t key = 0;
  std::uint64_t sequence = 0;
  std::int64_t pts_ns = -1;
  clock::time_point received;
};

std::uint64_t
arrival_key (GstBuffer *buffer)
{
  return GST_BUFFER_PTS_IS_VALID (buffer)
             ? GST_BUFFER_PTS (buffer)
             : reinterpret_cast<std::uintptr_t> (buffer);
}

} // namespace

struct capture::impl
{
  struct session;

  std::string source;
  capture_options options;
  source_kind kind = source_kind::description;
  /* A file: not live, and its end is the end (never reconnected). */
  bool file = false;
  const mat_format *format = nullptr;
  std::thread supervisor;

  mutable std::mutex lock;
  /* read() waits on it: a frame delivered, or the state changed. */
  std::condition_variable frame_ready;
  /* The held streaming thread waits on it: a read asks, or teardown. */
  std::condition_variable demand_changed;
  /* The supervisor's backoff waits on it: release(). */
  std::condition_variable closing_changed;

  capture_state state = capture_state::closed;
  bool closing = false;
  bool demand = false;
  std::string last_error;

  /* The frame delivered for a read, and what is known of it. */
  sample_ptr delivered;
  frame_info delivered_info;
  std::uint64_t received_sequence = 0;
  std::uint64_t returned_sequence = 0;

  session *current = nullptr;
  std::uint64_t connections = 0;
  element_counts closed_counts;
  std::uint64_t returned = 0, skipped = 0, reconnects = 0, stalls = 0,
                copied = 0;
  freshness_gate freshness;

  struct session
  {
    impl *owner = nullptr;
    element_ptr pipeline;
    element_ptr latest;
    std::uint64_t connection = 0;
    bool stopping = false;
    bool live = true;
    std::uint64_t frames = 0;
    clock::time_point started;
    clock::time_point last_frame;
    /* The frames seen entering latestframe, newest last written; per
     * connection, since a new one may start its timestamps over. */
    std::array<arrival, 64> arrivals{};
    /* The frame the held streaming thread let through, until the sink has
     * it (both on that thread). */
    arrival in_transit;
    /* A serialized query (ALLOCATION after a resolution change, DRAIN)
     * that upstream waits on until latestframe's thread forwards it: while
     * one does, or a flush runs, held frames are let go, or upstream would
     * stall until the next read. Compared, never dereferenced. */
    const GstQuery *waiting_query = nullptr;
    bool flushing = false;
  };

  /* The parts of the pipeline before latestframe. */
  std::string source_description () const
  {
    switch (kind)
      {
      case source_kind::rtsp:
        /* Video only: a camera's audio stream may come first. */
        return "rtspsrc name=source ! application/x-rtp,media=video "
               "! decodebin";
      case source_kind::v4l2:
        return "v4l2src name=source ! decodebin";
      case source_kind::uri:
        /* A file decodes as fast as it can; clocksync paces it as a camera
         * would deliver it. */
        return "uridecodebin name=source ! video/x-raw ! clocksync";
      case source_kind::description:
        break;
      }
    return source;
  }

  std::unique_ptr<session> build_session (std::string &error)
  {
    const std::string description
        = source_description ()
          + " ! latestframe name=latest ! videoconvert ! video/x-raw,format="
          + format->name
          + " ! fakesink name=sink sync=false async=false "
            "enable-last-sample=false";
    GError *parse_error = nullptr;
    element_ptr pipeline (gst_parse_launch_full (description.c_str (), nullptr,
                                                 GST_PARSE_FLAG_FATAL_ERRORS,
                                                 &parse_error));
    if (!pipeline)
      {
        error = std::string ("cannot build the pipeline \"") + description
                + "\": " + (parse_error ? parse_error->message : "unknown");
        g_clear_error (&parse_error);
        return nullptr;
      }
    GstBin *bin = GST_BIN (pipeline.get ());
    element_ptr source_element (gst_bin_get_by_name (bin, "source"));
    switch (kind)
      {
      case source_kind::rtsp:
        g_object_set (source_element.get (), "location", source.c_str (),
                      "latency", static_cast<guint> (options.latency.count ()),
                      NULL);
        if (!options.protocols.empty ())
          gst_util_set_object_arg (G_OBJECT (source_element.get ()),
                                   "protocols", options.protocols.c_str ());
        break;
      case source_kind::v4l2:
        g_object_set (source_element.get (), "device", source.c_str (), NULL);
        break;
      case source_kind::uri:
        g_object_set (source_element.get (), "uri", source.c_str (), NULL);
        break;
      case source_kind::description:
        break;
      }

    auto built = std::make_unique<session> ();
    built->owner = this;
    built->latest.reset (gst_bin_get_by_name (bin, "latest"));
    g_object_set (built->latest.get (), "memory-budget-bytes",
                  static_cast<guint64> (options.memory_budget_bytes), NULL);
    if (!options.memory_budget.empty ())
      g_object_set (built->latest.get (), "memory-budget",
                    options.memory_budget.c_str (), NULL);

    pad_ptr sink_pad (
        gst_element_get_static_pad (built->latest.get (), "sink"));
    gst_pad_add_probe (sink_pad.get (), GST_PAD_PROBE_TYPE_BUFFER,
                       on_frame_arrives, built.get (), nullptr);
    pad_ptr src_pad (gst_element_get_static_pad (built->latest.get (), "src"));
    gst_pad_add_probe (src_pad.get (), GST_PAD_PROBE_TYPE_BUFFER,
                       on_frame_leaves, built.get (), nullptr);
    gst_pad_add_probe (sink_pad.get (), GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM,
                       on_query_arrives, built.get (), nullptr);
    gst_pad_add_probe (
        src_pad.get (),
        static_cast<GstPadProbeType> (GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM
                                      | GST_PAD_PROBE_TYPE_EVENT_FLUSH),
        on_query_or_flush_leaves, built.get (), nullptr);

    element_ptr sink (gst_bin_get_by_name (bin, "sink"));
    pad_ptr converted_pad (gst_element_get_static_pad (sink.get (), "sink"));
    gst_pad_add_probe (converted_pad.get (), GST_PAD_PROBE_TYPE_BUFFER,
                       on_frame_converted, built.get (), nullptr);
    built->pipeline = std::move (pipeline);
    return built;
  }

  /* Upstream's thread: a decoded frame enters latestframe. */
  static GstPadProbeReturn on_frame_arrives (GstPad *, GstPadProbeInfo *info,
                                             gpointer data)
  {
    auto *current = static_cast<session *> (data);
    impl &self = *current->owner;
    GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
    std::lock_guard<std::mutex> guard (self.lock);
    const clock::time_point now = clock::now ();
    const std::uint64_t sequence = ++self.received_sequence;
    current->arrivals[sequence % current->arrivals.size ()]
        = { arrival_key (buffer), sequence,
            GST_BUFFER_PTS_IS_VALID (buffer)
                ? static_cast<std::int64_t> (GST_BUFFER_PTS (buffer))
                : -1,
            now };
    current->frames++;
    current->last_frame = now;
    current->waiting_query = nullptr;
    if (self.state != capture_state::streaming && !current->stopping)
      {
        self.state = capture_state::streaming;
        self.frame_ready.notify_all ();
      }
    return GST_PAD_PROBE_OK;
  }

  /* latestframe's thread: holds the frame it pushes until a read asks; lets
   * it go on if it is still the newest (and young enough for max_age),
   * drops it if a newer one waits (or may come, for max_age). */
  static GstPadProbeReturn on_frame_leaves (GstPad *, GstPadProbeInfo *info,
                                            gpointer data)
  {
    auto *current = static_cast<session *> (data);
    impl &self = *current->owner;
    GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
    std::unique_lock<std::mutex> guard (self.lock);
    self.demand_changed.wait (guard, [&] {
      return self.demand || current->stopping || current->waiting_query
             || current->flushing;
    });
    if (current->stopping || current->flushing || !self.demand)
      return GST_PAD_PROBE_DROP;
    guint newer = 0;
    g_object_get (current->latest.get (), "current-level-buffers", &newer,
                  NULL);
    if (newer > 0)
      return GST_PAD_PROBE_DROP;
    const arrival frame = self.arrival_of (*current, buffer);
    /* Too old for max_age: wait for the next one instead. */
    if (self.too_old (frame.received))
      return GST_PAD_PROBE_DROP;
    current->in_transit = frame;
    return GST_PAD_PROBE_OK;
  }

  /* Upstream's thread: a serialized query goes into latestframe's queue
   * (PUSH), and comes back answered (PULL). */
  static GstPadProbeReturn on_query_arrives (GstPad *, GstPadProbeInfo *info,
                                             gpointer data)
  {
    auto *current = static_cast<session *> (data);
    GstQuery *query = GST_PAD_PROBE_INFO_QUERY (info);
    if (!GST_QUERY_IS_SERIALIZED (query))
      return GST_PAD_PROBE_OK;
    impl &self = *current->owner;
    std::lock_guard<std::mutex> guard (self.lock);
    if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_PUSH)
      {
        current->waiting_query = query;
        self.demand_changed.notify_all ();
      }
    else if (current->waiting_query == query)
      current->waiting_query = nullptr;
    return GST_PAD_PROBE_OK;
  }

  /* latestframe's thread: a serialized query leaves the queue; or any
   * thread: a flush starts or stops. */
  static GstPadProbeReturn
  on_query_or_flush_leaves (GstPad *, GstPadProbeInfo *info, gpointer data)
  {
    auto *current = static_cast<session *> (data);
    impl &self = *current->owner;
    std::lock_guard<std::mutex> guard (self.lock);
    if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_EVENT_FLUSH)
      {
        current->flushing = GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info))
                            == GST_EVENT_FLUSH_START;
        self.demand_changed.notify_all ();
      }
    else if (current->waiting_query == GST_PAD_PROBE_INFO_QUERY (info))
      current->waiting_query = nullptr;
    return GST_PAD_PROBE_OK;
  }

  /* latestframe's thread, still: the converted frame reaches the sink. The
   * probe takes the frame over (HANDLED) with the pad's reference. */
  static GstPadProbeReturn
  on_frame_converted (GstPad *pad, GstPadProbeInfo *info, gpointer data)
  {
    auto *current = static_cast<session *> (data);
    impl &self = *current->owner;
    GstBuffer *buffer = GST_PAD_PROBE_INFO_BUFFER (info);
    GST_PAD_PROBE_INFO_DATA (info) = nullptr;
    GstCaps *caps = gst_pad_get_current_caps (pad);
    sample_ptr sample (gst_sample_new (buffer, caps, nullptr, nullptr));
    gst_buffer_unref (buffer);
    if (caps)
      gst_caps_unref (caps);
    std::lock_guard<std::mutex> guard (self.lock);
    if (current->stopping)
      return GST_PAD_PROBE_HANDLED;
    self.delivered = std::move (sample);
    const arrival &frame = current->in_transit;
    self.delivered_info = frame_info{ frame.sequence, 0, frame.pts_ns, -1,
                                      frame.received, current->connection };
    self.demand = false;
    self.frame_ready.notify_all ();
    return GST_PAD_PROBE_HANDLED;
  }

  /* Under the lock. */
  arrival arrival_of (const session &current, GstBuffer *buffer) const
  {
    const std::uint64_t key = arrival_key (buffer);
    /* The newest match: a pool reuses buffers, the keys of frames without
     * timestamps. */
    const arrival *found = nullptr;
    for (const arrival &candidate : current.arrivals)
      if (candidate.sequence != 0 && candidate.key == key
          && (!found || candidate.sequence > found->sequence))
        found = &candidate;
    if (found)
      return *found;
    /* Not seen (a frame without timestamp that latestframe replaced): it is
     * the newest received, which is what a frame let through is. */
    return arrival{ key, received_sequence, -1, clock::now () };
  }

  /* Whether a frame decoded at `received` is past max_age. The core's rule,
   * with the age counted from decoding: frames never arrive late here, so
   * the gate's fallback for late arrivals does not apply. */
  bool too_old (clock::time_point received) const
  {
    const auto age = std::chrono::duration_cast<std::chrono::nanoseconds> (
        clock::now () - received);
    return freshness.judge (static_cast<std::uint64_t> (
                                std::max<std::int64_t> (age.count (), 0)),
                            false)
           == freshness_gate::verdict::drop;
  }

  /* Under the lock. */
  void set_state (capture_state next)
  {
    state = next;
    frame_ready.notify_all ();
  }

  bool wait_while_open (std::unique_lock<std::mutex> &guard,
                        std::chrono::milliseconds pause)
  {
    return !closing_changed.wait_for (guard, pause, [&] { return closing; });
  }

  enum class outcome
  {
    lost,
    ended,
    closing,
  };

  /* Plays one connection until it is lost, ends or the capture closes. */
  outcome run_session (session &current, std::string &error)
  {
    gst_element_set_state (current.pipeline.get (), GST_STATE_PLAYING);
    if (kind == source_kind::uri)
      current.live = !file;
    /* A description's source tells once it runs (after its first frame). */
    bool live_known = kind != source_kind::description;
    bus_ptr bus (gst_element_get_bus (current.pipeline.get ()));
    const auto poll = std::chrono::milliseconds (50);
    for (;;)
      {
        message_ptr message (gst_bus_timed_pop_filtered (
            bus.get (), std::chrono::nanoseconds (poll).count (),
            static_cast<GstMessageType> (GST_MESSAGE_ERROR | GST_MESSAGE_EOS)));
        if (message && GST_MESSAGE_TYPE (message.get ()) == GST_MESSAGE_ERROR)
          {
            GError *gerror = nullptr;
            gst_message_parse_error (message.get (), &gerror, nullptr);
            error = std::string (GST_OBJECT_NAME (message->src)) + ": "
                    + (gerror ? gerror->message : "error");
            g_clear_error (&gerror);
            return outcome::lost;
          }
        if (!live_known && (message || frames_of (current) > 0))
          {
            current.live = is_upstream_live (current);
            live_known = true;
          }
        if (message)
          {
            if (!current.live)
              return outcome::ended;
            error = "the stream ended";
            return outcome::lost;
          }
        std::lock_guard<std::mutex> guard (lock);
        if (closing)
          return outcome::closing;
        const auto stall = options.stall_timeout;
        if (stall.count () > 0 && current.live
            && clock::now ()
                       - (current.frames ? current.last_frame : current.started)
                   > stall)
          {
            if (current.frames)
              stalls++;
            error
                = "no frame for "
                  + std::to_string (std::chrono::milliseconds (stall).count ())
                  + " ms";
            return outcome::lost;
          }
      }
  }

  std::uint64_t frames_of (const session &current) const
  {
    std::lock_guard<std::mutex> guard (lock);
    return current.frames;
  }

  /* Whether what feeds latestframe is live (its latency query says so). */
  static bool is_upstream_live (const session &current)
  {
    pad_ptr sink_pad (
        gst_element_get_static_pad (current.latest.get (), "sink"));
    GstQuery *query = gst_query_new_latency ();
    gboolean live = FALSE;
    if (gst_pad_peer_query (sink_pad.get (), query))
      gst_query_parse_latency (query, &live, nullptr, nullptr);
    gst_query_unref (query);
    return live;
  }

  void teardown (std::unique_ptr<session> current)
  {
    {
      std::lock_guard<std::mutex> guard (lock);
      current->stopping = true;
      demand_changed.notify_all ();
    }
    gst_element_set_state (current->pipeline.get (), GST_STATE_NULL);
    structure_ptr final_stats = stats_of (current->latest.get ());
    std::lock_guard<std::mutex> guard (lock);
    if (final_stats)
      closed_counts.add (element_counts::from (final_stats.get ()));
    this->current = nullptr;
  }

  void supervise ()
  {
    auto backoff = options.backoff_initial;
    for (;;)
      {
        std::unique_ptr<session> next;
        std::string error;
        {
          std::unique_lock<std::mutex> guard (lock);
          if (closing)
            break;
          if (connections > 0)
            reconnects++;
          set_state (connections == 0 ? capture_state::connecting
                                      : capture_state::reconnecting);
        }
        next = build_session (error);
        if (!next)
          {
            std::lock_guard<std::mutex> guard (lock);
            last_error = error;
            set_state (capture_state::closed);
            return;
          }
        {
          std::lock_guard<std::mutex> guard (lock);
          next->connection = ++connections;
          next->started = clock::now ();
          current = next.get ();
        }
        const outcome how = run_session (*next, error);
        const bool streamed = next->frames > 0;
        teardown (std::move (next));

        std::unique_lock<std::mutex> guard (lock);
        if (!error.empty ())
          last_error = error;
        if (how == outcome::closing)
          break;
        if (how == outcome::ended || !options.reconnect || file)
          {
            set_state (how == outcome::ended || returned_sequence > 0
                               || streamed
                           ? capture_state::ended
                           : capture_state::closed);
            closing_changed.wait (guard, [&] { return closing; });
            break;
          }
        if (streamed)
          backoff = options.backoff_initial;
        set_state (capture_state::reconnecting);
        if (!wait_while_open (guard, backoff))
          break;
        backoff = std::min (backoff * 2, options.backoff_max);
      }
  }

  /* Under the lock, with no supervisor running: everything as new, for
   * `new_source`; last_error says what is wrong with the options. */
  void start_over (const std::string &new_source, capture_options new_options)
  {
    source = new_source;
    kind = kind_of (source);
    file = kind == source_kind::uri && is_file_uri (source);
    format = find_mat_format (new_options.format);
    options = std::move (new_options);
    freshness.set_max_age (static_cast<std::uint64_t> (
        std::chrono::nanoseconds (options.max_age).count ()));
    state = capture_state::closed;
    closing = demand = false;
    last_error.clear ();
    delivered.reset ();
    delivered_info = {};
    received_sequence = returned_sequence = 0;
    current = nullptr;
    connections = 0;
    closed_counts = {};
    returned = skipped = reconnects = stalls = copied = 0;
    if (!format)
      last_error = "unsupported format \"" + options.format
                   + "\" (BGR, RGB, BGRx, BGRA, RGBx, RGBA, GRAY8, "
                     "GRAY16_LE, I420, YV12, NV12 or NV21)";
    else if (!are_rtsp_protocols (options.protocols))
      last_error = "unknown RTSP protocols \"" + options.protocols
                   + "\" (tcp, udp, udp-mcast, http, tls, joined by +)";
    options.backoff_initial
        = std::max (options.backoff_initial, std::chrono::milliseconds (1));
    options.backoff_max
        = std::max (options.backoff_max, options.backoff_initial);
  }

  /* Under the lock: the delivered frame as a Mat. Returned or not (a frame
   * without an OpenCV layout), it is gone: every frame up to it counts as
   * returned or skipped. */
  bool take_delivered (cv::Mat &frame, frame_info *info)
  {
    frame_info taken = delivered_info;
    taken.skipped = taken.sequence > returned_sequence
                        ? taken.sequence - returned_sequence - 1
                        : 0;
    returned_sequence = std::max (returned_sequence, taken.sequence);
    bool was_copied = false;
    std::string error;
    cv::Mat mat
        = mat_from_sample (std::move (delivered), *format, was_copied, error);
    if (mat.empty ())
      {
        skipped += taken.skipped + 1;
        last_error = error;
        return false;
      }
    frame = std::move (mat);
    returned++;
    skipped += taken.skipped;
    if (was_copied)
      copied++;
    if (info)
      *info = taken;
    return true;
  }

  bool read (cv::Mat &frame, std::chrono::milliseconds timeout,
             frame_info *info)
  {
    /* A year stands for "forever" without overflowing the clock. */
    const clock::time_point deadline
        = clock::now ()
          + std::min<std::chrono::milliseconds> (timeout,
                                                 std::chrono::hours (24 * 365));
    std::unique_lock<std::mutex> guard (lock);
    /* Left by a read that gave up: still good if nothing newer came and it
     * is young enough for max_age. */
    if (delivered
        && (delivered_info.sequence != received_sequence
            || too_old (delivered_info.received)))
      delivered.reset ();
    while (!delivered)
      {
        if (state == capture_state::closed || state == capture_state::ended
            || closing)
          return false;
        if (!demand)
          {
            demand = true;
            demand_changed.notify_all ();
          }
        if (frame_ready.wait_until (guard, deadline) == std::cv_status::timeout
            && !delivered)
          {
            demand = false;
            return false;
          }
      }
    return take_delivered (frame, info);
  }

  capture_stats stats () const
  {
    capture_stats figures;
    element_counts counts;
    {
      std::lock_guard<std::mutex> guard (lock);
      figures.state = state;
      figures.returned = returned;
      figures.skipped = skipped;
      figures.reconnects = reconnects;
      figures.stalls = stalls;
      figures.copied = copied;
      figures.last_error = last_error;
      counts = closed_counts;
      /* Under the lock, so that a teardown cannot count a connection's
       * figures twice or not at all. */
      structure_ptr live
          = current ? stats_of (current->latest.get ()) : nullptr;
      if (live)
        {
          const GstStructure *raw = live.get ();
          counts.add (element_counts::from (raw));
          figures.held_bytes = structure_uint64 (raw, "current-level-bytes");
          figures.in_flight_bytes = structure_uint64 (raw, "in-flight-bytes");
          figures.peak_bytes = structure_uint64 (raw, "peak-bytes");
          figures.age_p50_ns = structure_uint64 (raw, "age-p50");
          figures.age_p95_ns = structure_uint64 (raw, "age-p95");
          figures.age_max_ns = structure_uint64 (raw, "age-max");
          figures.memory_budget_bytes
              = structure_uint64 (raw, "memory-budget-bytes");
          figures.memory_budget_used
              = structure_uint64 (raw, "memory-budget-used");
        }
    }
    figures.received = counts.received;
    figures.pushed = counts.pushed;
    figures.dropped = counts.dropped;
    figures.dropped_overflow = counts.dropped_overflow;
    figures.dropped_age = counts.dropped_age;
    figures.dropped_budget = counts.dropped_budget;
    figures.dropped_flush = counts.dropped_flush;
    return figures;
  }
};

capture::capture () : impl_ (std::make_unique<impl> ()) {}

capture::capture (const std::string &source, capture_options options)
    : impl_ (std::make_unique<impl> ())
{
  open (source, std::move (options));
}

capture::~capture () { release (); }

capture::capture (capture &&) noexcept = default;

capture &
capture::operator= (capture &&other) noexcept
{
  if (this != &other)
    {
      release ();
      impl_ = std::move (other.impl_);
    }
  return *this;
}

bool
capture::open (const std::string &source, capture_options options)
{
  release ();
  if (!gst_is_initialized ())
    gst_init (nullptr, nullptr);
  /* One impl for the capture's life (other threads may be in stats()), so
   * only a moved-from capture makes a new one. */
  if (!impl_)
    impl_ = std::make_unique<impl> ();
  impl &self = *impl_;
  std::unique_lock<std::mutex> guard (self.lock);
  self.start_over (source, std::move (options));
  if (!self.last_error.empty ())
    return false;
  /* Connecting until the supervisor has a first frame (streaming), a file's
   * end (ended) or gives up (closed). */
  self.state = capture_state::connecting;
  self.supervisor = std::thread ([&self] { self.supervise (); });
  const bool started = self.frame_ready.wait_for (
      guard,
      std::min<std::chrono::milliseconds> (self.options.open_timeout,
                                           std::chrono::hours (24 * 365)),
      [&] {
        return self.state != capture_state::connecting
               && self.state != capture_state::reconnecting;
      });
  const bool opened = self.state == capture_state::streaming
                      || (self.state == capture_state::ended && started);
  if (opened)
    return true;
  if (self.last_error.empty ())
    self.last_error = "no frame within "
                      + std::to_string (self.options.open_timeout.count ())
                      + " ms";
  guard.unlock ();
  release ();
  return false;
}

bool
capture::open (int index, capture_options options)
{
  return open ("/dev/video" + std::to_string (index), std::move (options));
}

bool
capture::isOpened () const
{
  if (!impl_)
    return false;
  std::lock_guard<std::mutex> guard (impl_->lock);
  return impl_->supervisor.joinable () && !impl_->closing;
}

bool
capture::read (cv::Mat &frame)
{
  return read (frame, impl_ ? impl_->options.read_timeout
                            : std::chrono::milliseconds (0));
}

bool
capture::read (cv::Mat &frame, std::chrono::milliseconds timeout,
               frame_info *info)
{
  if (!impl_)
    return false;
  return impl_->read (frame, timeout, info);
}

capture &
capture::operator>> (cv::Mat &frame)
{
  if (!read (frame))
    frame.release ();
  return *this;
}

void
capture::release ()
{
  if (!impl_)
    return;
  {
    std::lock_guard<std::mutex> guard (impl_->lock);
    impl_->closing = true;
    impl_->closing_changed.notify_all ();
    impl_->frame_ready.notify_all ();
  }
  if (impl_->supervisor.joinable ())
    impl_->supervisor.join ();
  std::lock_guard<std::mutex> guard (impl_->lock);
  impl_->delivered.reset ();
  impl_->state = capture_state::closed;
}

capture_state
capture::state () const
{
  if (!impl_)
    return capture_state::closed;
  std::lock_guard<std::mutex> guard (impl_->lock);
  return impl_->state;
}

capture_stats
capture::stats () const
{
  return impl_ ? impl_->stats () : capture_stats{};
}

std::string
capture::last_error () const
{
  if (!impl_)
    return {};
  std::lock_guard<std::mutex> guard (impl_->lock);
  return impl_->last_error;
}

} // namespace latestframe
