/* latestframe-testcam — a live H.264 RTSP test camera on 127.0.0.1 whose
 * every frame carries its capture time in its pixels.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Frames come from a synthetic moving scene (latestframe::scene, a
 * function of the capture time, so that a receiver can tell how faithful
 * a decoded frame is) or a looped video file, are stamped
 * (latestframe::stamp, CLOCK_MONOTONIC ns) and served by gst-rtsp-server
 * as H.264 (x264enc, zero latency; optionally with non-reference
 * B-frames). Switches let tests set the key-unit interval, stop the
 * camera, stall it without closing, change its resolution (once or
 * back and forth), corrupt or lose packets, refuse connections and put
 * its clock out of step.
 *
 * With --mounts=N it serves N streams, PATH-0 to PATH-(N-1), as N cameras
 * whose key units and frames are not in step, at the cost of one encoder:
 * one stream is encoded and mount k sends each access unit k x GOP / N
 * frame intervals after it was made (its first one a key unit), timed when
 * it is sent: the whole frames of that delay by sending an older access
 * unit, the rest by waiting. Receivers that age frames from the stream's
 * capture times see a camera of its own; the stamp in the pixels is the
 * time the picture was drawn, older than that by the mount's delay.
 *
 * The capture time also travels in the stream, as cameras send it: RTCP
 * sender reports map RTP time to this host's wall clock (NTP) at the moment
 * each frame was stamped (rtpbin's rtcp-sync-send-time=false: capture time,
 * not send time), and every packet carries it in an RFC 6051 NTP-64 header
 * extension, so that a receiver knows it from the first frames rather than
 * after the first sender report (rtspsrc add-reference-timestamp-meta=true
 * turns it into a timestamp/x-ntp reference timestamp meta). Run with
 * --help. */
#include "latestframe/scene.h"
#include "latestframe/stamp.h"
#include "latestframe/thread_annotations.h"

#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/rtp/rtp.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <gst/video/video.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace scene = latestframe::scene;
namespace stamp = latestframe::stamp;
namespace lf = latestframe;
using steady = std::chrono::steady_clock;

namespace
{

struct options
{
  gchar *address = nullptr;
  gint port = 8554;
  gchar *path = nullptr;
  gint width = 1280;
  gint height = 720;
  gint fps = 30;
  gint bitrate = 2000; /* kbit/s */
  gint gop = 30;       /* frames between key units */
  gint b_frames = 0;   /* non-reference B-frames between references */
  gchar *preset = nullptr; /* x264's speed preset (ultrafast) */
  gchar *file = nullptr;
  gdouble duration = 0;
  gdouble pause_after = -1;
  gdouble pause_for = 0;
  gdouble resize_after = -1;
  gchar *resize = nullptr;
  gdouble resize_every = 0;
  gdouble corrupt = 0;
  gdouble drop = 0;
  gboolean refuse = FALSE;
  gboolean no_ntp64 = FALSE;
  gint clock_offset_ms = 0;
  gint mounts = 1;
  /* RTSP basic authentication when user is given. */
  gchar *user = nullptr;
  gchar *password = nullptr;
};

struct mount;

/* Where the frames go: one mount (raw frames, encoded by its media) or,
 * with --mounts, an encoder whose access units the mounts send. */
struct camera
{
  options opts;
  lf::checked_mutex lock;
  std::vector<std::unique_ptr<mount>> mounts;
  /* --mounts: the encoder pipeline, its input, and the last GOP of access
   * units it made (touched by its streaming thread only). */
  GstElement *encoder = nullptr;
  GstElement *raw = nullptr;
  std::deque<GstBuffer *> coded;
  /* --mounts: access units a mount sends later in the frame interval, by
   * when (under lock; the pacer thread sends them). */
  std::multimap<steady::time_point, std::pair<mount *, GstBuffer *>>
      paced LF_GUARDED_BY (lock);
  GstCaps *caps LF_GUARDED_BY (lock) = nullptr; /* the access units', a ref */
  std::condition_variable paced_changed;
  std::atomic<bool> running{ true };
  std::atomic<guint64> frames_sent{ 0 };
  GMainLoop *loop = nullptr;
  std::mt19937 random{ 12345 };
  /* --clock-offset: NTP times come from the media's (offset) clock. */
  bool ntp_from_clock = false;
  /* --no-ntp64: capture times from sender reports only. */
  bool ntp64 = true;
};

/* One mount point: the appsrc of the media being served there, if any. */
struct mount
{
  camera *cam = nullptr;
  std::string path;
  /* --mounts: frames of the shared stream between its access units and
   * this mount's, and how long after the frame's moment it sends each
   * (under a frame interval); whether the mount's current media got its
   * first key unit yet. */
  guint delay = 0;
  steady::duration offset{};
  bool started LF_GUARDED_BY (cam->lock) = false;
  GstElement *appsrc LF_GUARDED_BY (cam->lock) = nullptr; /* a ref */
};

/* A frame and its layout. */
struct produced_frame
{
  GstBuffer *buffer = nullptr;
  GstVideoInfo info;
};

/* Decodes a video file into I420 frames of a given size, looping. */
class file_frames
{
public:
  file_frames (const char *path, int width, int height)
  {
    gchar *launch = g_strdup_printf (
        "filesrc location=\"%s\" ! decodebin ! videoconvert ! videoscale "
        "! capsfilter name=size ! appsink name=sink sync=false "
        "max-buffers=2",
        path);
    pipeline_ = gst_parse_launch (launch, NULL);
    g_free (launch);
    if (!pipeline_)
      return;
    sink_ = gst_bin_get_by_name (GST_BIN (pipeline_), "sink");
    resize (width, height);
    /* A missing or unreadable file fails here, before anything is served. */
    gst_element_set_state (pipeline_, GST_STATE_PAUSED);
    if (gst_element_get_state (pipeline_, NULL, NULL, 10 * GST_SECOND)
        != GST_STATE_CHANGE_SUCCESS)
      {
        GstBus *bus = gst_element_get_bus (pipeline_);
        GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
        GError *error = NULL;
        if (msg)
          gst_message_parse_error (msg, &error, NULL);
        g_printerr ("cannot read %s: %s\n", path,
                    error ? error->message : "no preroll in 10 s");
        g_clear_error (&error);
        if (msg)
          gst_message_unref (msg);
        gst_object_unref (bus);
        return;
      }
    gst_element_set_state (pipeline_, GST_STATE_PLAYING);
    ok_ = true;
  }
  file_frames (const file_frames &) = delete;
  file_frames &operator= (const file_frames &) = delete;
  ~file_frames ()
  {
    if (pipeline_)
      {
        gst_element_set_state (pipeline_, GST_STATE_NULL);
        gst_clear_object (&sink_);
        gst_object_unref (pipeline_);
      }
  }

  bool ok () const { return ok_; }

  void resize (int width, int height)
  {
    GstElement *size = gst_bin_get_by_name (GST_BIN (pipeline_), "size");
    GstCaps *caps = gst_caps_new_simple (
        "video/x-raw", "format", G_TYPE_STRING, "I420", "width", G_TYPE_INT,
        width, "height", G_TYPE_INT, height, "pixel-aspect-ratio",
        GST_TYPE_FRACTION, 1, 1, NULL);
    g_object_set (size, "caps", caps, NULL);
    gst_caps_unref (caps);
    gst_object_unref (size);
  }

  /* The next frame with its own layout (frames decoded before a resize
   * still have the old size), starting over at the end. */
  produced_frame next ()
  {
    produced_frame frame;
    for (int attempt = 0; attempt < 2 && !frame.buffer; attempt++)
      {
        GstSample *sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink_),
                                                          5 * GST_SECOND);
        if (!sample)
          {
            /* End of the file: loop. */
            gst_element_seek_simple (
                pipeline_, GST_FORMAT_TIME,
                static_cast<GstSeekFlags> (GST_SEEK_FLAG_FLUSH
                                           | GST_SEEK_FLAG_KEY_UNIT),
                0);
            continue;
          }
        if (gst_video_info_from_caps (&frame.info,
                                      gst_sample_get_caps (sample)))
          {
            frame.buffer
                = gst_buffer_copy_deep (gst_sample_get_buffer (sample));
            /* The camera's clock times the frame (running_time_of),
             * not the file: its timestamps would pace the stream at the
             * file's rate. */
            GST_BUFFER_PTS (frame.buffer) = GST_CLOCK_TIME_NONE;
            GST_BUFFER_DTS (frame.buffer) = GST_CLOCK_TIME_NONE;
            GST_BUFFER_DURATION (frame.buffer) = GST_CLOCK_TIME_NONE;
          }
        gst_sample_unref (sample);
      }
    return frame;
  }

private:
  GstElement *pipeline_ = nullptr;
  GstElement *sink_ = nullptr;
  bool ok_ = false;
};

/* The synthetic scene at `capture_time_ns`, stamped with that time, in
 * I420 with flat chroma. Laid out as GStreamer lays I420 out (strides
 * rounded up), whatever the size. */
produced_frame
synthetic_frame (int width, int height, std::uint64_t capture_time_ns)
{
  produced_frame frame;
  gst_video_info_set_format (&frame.info, GST_VIDEO_FORMAT_I420, width, height);
  frame.buffer
      = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&frame.info), NULL);
  GstMapInfo map;
  gst_buffer_map (frame.buffer, &map, GST_MAP_WRITE);
  scene::render_luma (map.data + GST_VIDEO_INFO_PLANE_OFFSET (&frame.info, 0),
                      GST_VIDEO_INFO_PLANE_STRIDE (&frame.info, 0), width,
                      height, capture_time_ns);
  const gsize chroma = GST_VIDEO_INFO_PLANE_OFFSET (&frame.info, 1);
  memset (map.data + chroma, 128, map.size - chroma);
  gst_buffer_unmap (frame.buffer, &map);
  return frame;
}

/* H.264 4:2:0 wants even sizes: x264 refuses odd ones. */
bool
valid_size (int width, int height)
{
  return width >= 16 && height >= 16 && width % 2 == 0 && height % 2 == 0;
}

bool
parse_size (const char *text, int *width, int *height)
{
  return text && sscanf (text, "%dx%d", width, height) == 2
         && valid_size (*width, *height);
}

/* Writes the capture time into a frame of the file, which has its own
 * size and stride (frames made before a resize keep the old ones). */
void
stamp_file_frame (produced_frame &frame, std::uint64_t capture_time_ns)
{
  GstMapInfo map;
  if (!gst_buffer_map (frame.buffer, &map, GST_MAP_READWRITE))
    return;
  stamp::write (map.data + GST_VIDEO_INFO_PLANE_OFFSET (&frame.info, 0),
                GST_VIDEO_INFO_PLANE_STRIDE (&frame.info, 0),
                GST_VIDEO_INFO_WIDTH (&frame.info),
                GST_VIDEO_INFO_HEIGHT (&frame.info), capture_time_ns);
  gst_buffer_unmap (frame.buffer, &map);
}

/* The media's running time now, once it plays; nothing before. The
 * frames are timed here and not by appsrc do-timestamp: a frame pushed
 * while the media was still prerolling was timed with a base time of 0,
 * its running time became the clock's absolute time, and the server's
 * sink (sync=true) waited hours for it; nothing reached the client
 * (1 run in 20-40 under load, found by the integration tests). */
std::optional<GstClockTime>
running_time_of (GstElement *appsrc)
{
  GstState state = GST_STATE_NULL;
  gst_element_get_state (appsrc, &state, NULL, 0);
  if (state != GST_STATE_PLAYING)
    return std::nullopt;
  GstClock *clock = gst_element_get_clock (appsrc);
  if (!clock)
    return std::nullopt;
  const GstClockTime now = gst_clock_get_time (clock);
  gst_object_unref (clock);
  const GstClockTime base = gst_element_get_base_time (appsrc);
  if (now < base)
    return std::nullopt;
  return now - base;
}

/* The producer: one frame per tick, stamped with its capture time. */
void
produce (camera *cam, file_frames *file)
{
  options &o = cam->opts;
  int width = o.width, height = o.height;
  const steady::time_point started = steady::now ();
  const auto period = std::chrono::nanoseconds (1000000000 / o.fps);
  steady::time_point tick = started;
  /* Resizes done so far: odd means the --resize size, even the first
   * one (with --resize-every the size goes back and forth). */
  long resizes = 0;
  while (cam->running)
    {
      tick += period;
      std::this_thread::sleep_until (tick);
      const double elapsed
          = std::chrono::duration<double> (steady::now () - started).count ();
      if (o.pause_after >= 0 && elapsed >= o.pause_after
          && elapsed < o.pause_after + o.pause_for)
        continue; /* stalled: nothing sent, connection kept */
      if (o.resize_after >= 0 && elapsed >= o.resize_after)
        {
          const long due = o.resize_every > 0
                               ? 1 + long ((elapsed - o.resize_after)
                                           / o.resize_every)
                               : 1;
          if (due != resizes)
            {
              resizes = due;
              if (resizes % 2 == 1)
                parse_size (o.resize, &width, &height);
              else
                width = o.width, height = o.height;
              if (file)
                file->resize (width, height);
              g_print ("resized to %dx%d\n", width, height);
            }
        }
      /* One clock reading per synthetic frame: the scene is drawn for the
       * time its stamp says. A file frame is stamped once it has arrived
       * (pulling it may wait on the decoder). */
      produced_frame frame;
      if (file)
        {
          frame = file->next ();
          if (frame.buffer)
            stamp_file_frame (frame, stamp::monotonic_now_ns ());
        }
      else
        frame = synthetic_frame (width, height, stamp::monotonic_now_ns ());
      if (!frame.buffer)
        continue;
      GstElement *appsrc = nullptr;
      if (cam->raw)
        appsrc = GST_ELEMENT (gst_object_ref (cam->raw));
      else
        {
          const mount &only = *cam->mounts[0];
          lf::checked_lock lock (only.cam->lock);
          if (only.appsrc)
            appsrc = GST_ELEMENT (gst_object_ref (only.appsrc));
        }
      if (!appsrc)
        {
          gst_buffer_unref (frame.buffer);
          continue;
        }
      const std::optional<GstClockTime> running = running_time_of (appsrc);
      if (!running)
        {
          gst_buffer_unref (frame.buffer);
          gst_object_unref (appsrc);
          continue;
        }
      GST_BUFFER_PTS (frame.buffer) = *running;
      GST_VIDEO_INFO_FPS_N (&frame.info) = o.fps;
      GST_VIDEO_INFO_FPS_D (&frame.info) = 1;
      GstCaps *caps = gst_video_info_to_caps (&frame.info);
      gst_app_src_set_caps (GST_APP_SRC (appsrc), caps); /* no-op if same */
      gst_caps_unref (caps);
      gst_app_src_push_buffer (GST_APP_SRC (appsrc), frame.buffer);
      gst_object_unref (appsrc);
      cam->frames_sent++;
    }
}

/* --mounts: sends one access unit of the shared stream on mount `m`,
 * timed now. */
void
send_access_unit (mount *m, GstBuffer *unit)
{
  GstElement *appsrc = nullptr;
  GstCaps *caps = nullptr;
  {
    lf::checked_lock lock (m->cam->lock);
    if (!m->appsrc)
      return;
    if (!m->started && GST_BUFFER_FLAG_IS_SET (unit, GST_BUFFER_FLAG_DELTA_UNIT))
      return;
    m->started = true;
    appsrc = GST_ELEMENT (gst_object_ref (m->appsrc));
    caps = gst_caps_ref (m->cam->caps);
  }
  const std::optional<GstClockTime> running = running_time_of (appsrc);
  if (running)
    {
      /* The data is shared; the timestamps are this mount's. */
      GstBuffer *sent = gst_buffer_copy (unit);
      GST_BUFFER_PTS (sent) = GST_BUFFER_DTS (sent) = *running;
      gst_app_src_set_caps (GST_APP_SRC (appsrc), caps); /* no-op if same */
      gst_app_src_push_buffer (GST_APP_SRC (appsrc), sent);
    }
  gst_caps_unref (caps);
  gst_object_unref (appsrc);
}

/* --mounts: sends the access units mounts send later in the frame
 * interval, each at its time, until the camera stops (main stops it under
 * the lock, and frees those left once the encoder has stopped). */
void
pace (camera *cam)
{
  lf::checked_lock lock (cam->lock);
  while (cam->running)
    {
      if (cam->paced.empty ())
        lock.wait (cam->paced_changed);
      else if (const auto next = cam->paced.begin ();
               next->first > steady::now ())
        lock.wait_until (cam->paced_changed, next->first);
      else
        {
          const auto [m, unit] = next->second;
          cam->paced.erase (next);
          lock.unlock ();
          send_access_unit (m, unit);
          gst_buffer_unref (unit);
          lock.lock ();
        }
    }
}

/* --mounts: each access unit the encoder makes goes into the last GOP,
 * and every mount sends the one of `delay` frames before, `offset` after
 * now (the pacer sends it then): a mount starts on a key unit and its key
 * units keep their place in the GOP, `delay` frames and `offset` after
 * the encoder's. Real cameras' frames are not in step either: 48 mounts
 * sending at the same instant woke 48 receivers at once. */
GstFlowReturn
coded_access_unit (GstAppSink *sink, gpointer data)
{
  camera *cam = static_cast<camera *> (data);
  GstSample *sample = gst_app_sink_pull_sample (sink);
  if (!sample)
    return GST_FLOW_EOS;
  {
    lf::checked_lock lock (cam->lock);
    gst_caps_replace (&cam->caps, gst_sample_get_caps (sample));
  }
  cam->coded.push_front (gst_buffer_ref (gst_sample_get_buffer (sample)));
  if (cam->coded.size () > static_cast<std::size_t> (cam->opts.gop))
    {
      gst_buffer_unref (cam->coded.back ());
      cam->coded.pop_back ();
    }
  const steady::time_point made = steady::now ();
  for (const std::unique_ptr<mount> &m : cam->mounts)
    {
      if (m->delay >= cam->coded.size ())
        continue;
      GstBuffer *unit = cam->coded[m->delay];
      if (m->offset == steady::duration::zero ())
        send_access_unit (m.get (), unit);
      else
        {
          lf::checked_lock lock (cam->lock);
          cam->paced.emplace (made + m->offset,
                              std::make_pair (m.get (), gst_buffer_ref (unit)));
          cam->paced_changed.notify_one ();
        }
    }
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

/* Scrambles the slice data of one RTP packet: not its RTP header (12
 * bytes), nor the H.264 payload headers after it (NAL or FU indicator and
 * FU header, 2 bytes). A scrambled NAL type is not damage a decoder can
 * conceal: rtph264depay rejects the stream with an error, and the test of
 * a degraded stream became a test of that error whenever the seeded
 * choice of packets hit an IDR fragment's header. */
void
scramble (GstBuffer *packet)
{
  const gsize first_scrambled = 12 + 2;
  GstMapInfo map;
  if (gst_buffer_map (packet, &map, GST_MAP_READWRITE))
    {
      for (gsize i = first_scrambled; i < map.size; i += 7)
        map.data[i] ^= 0x5a;
      gst_buffer_unmap (packet, &map);
    }
}

/* What happens to one packet on its way out. */
enum class packet_fate
{
  sent,
  scrambled,
  lost,
};

packet_fate
choose_fate (camera *cam)
{
  std::uniform_real_distribution<double> chance (0.0, 1.0);
  if (cam->opts.drop > 0 && chance (cam->random) < cam->opts.drop)
    return packet_fate::lost;
  if (cam->opts.corrupt > 0 && chance (cam->random) < cam->opts.corrupt)
    return packet_fate::scrambled;
  return packet_fate::sent;
}

gboolean
damage_in_list (GstBuffer **packet, guint, gpointer data)
{
  switch (choose_fate (static_cast<camera *> (data)))
    {
    case packet_fate::lost:
      gst_clear_buffer (packet); /* removed from the list */
      break;
    case packet_fate::scrambled:
      *packet = gst_buffer_make_writable (*packet);
      scramble (*packet);
      break;
    case packet_fate::sent:
      break;
    }
  return TRUE;
}

/* Packets go out alone or in lists (fragmented frames): both count. */
GstPadProbeReturn
damage_packets (GstPad *, GstPadProbeInfo *info, gpointer data)
{
  camera *cam = static_cast<camera *> (data);
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER_LIST)
    {
      GstBufferList *list = gst_buffer_list_make_writable (
          GST_PAD_PROBE_INFO_BUFFER_LIST (info));
      GST_PAD_PROBE_INFO_DATA (info) = list;
      gst_buffer_list_foreach (list, damage_in_list, cam);
      return GST_PAD_PROBE_OK;
    }
  switch (choose_fate (cam))
    {
    case packet_fate::lost:
      return GST_PAD_PROBE_DROP;
    case packet_fate::scrambled:
      {
        GstBuffer *packet
            = gst_buffer_make_writable (GST_PAD_PROBE_INFO_BUFFER (info));
        GST_PAD_PROBE_INFO_DATA (info) = packet;
        scramble (packet);
        break;
      }
    case packet_fate::sent:
      break;
    }
  return GST_PAD_PROBE_OK;
}

void
media_unprepared (GstRTSPMedia *, gpointer data)
{
  mount *m = static_cast<mount *> (data);
  lf::checked_lock lock (m->cam->lock);
  gst_clear_object (&m->appsrc);
}

/* The media's rtpbin, once the server adds it: sender reports map RTP time
 * to the moment a frame was captured, not sent. */
void
rtpbin_added (GstBin *, GstElement *element, gpointer data)
{
  GstElementFactory *factory = gst_element_get_factory (element);
  if (factory
      && g_strcmp0 (gst_plugin_feature_get_name (GST_PLUGIN_FEATURE (factory)),
                    "rtpbin")
             == 0)
    {
      g_object_set (element, "rtcp-sync-send-time", FALSE, NULL);
      if (static_cast<camera *> (data)->ntp_from_clock)
        gst_util_set_object_arg (G_OBJECT (element), "ntp-time-source",
                                 "clock-time");
    }
}

/* Every packet carries its capture time (RFC 6051), as id 1. */
void
add_ntp64_extension (GstElement *bin)
{
  GstElement *pay = gst_bin_get_by_name (GST_BIN (bin), "pay0");
  GstRTPHeaderExtension *extension = gst_rtp_header_extension_create_from_uri (
      "urn:ietf:params:rtp-hdrext:ntp-64");
  if (extension)
    {
      gst_rtp_header_extension_set_id (extension, 1);
      g_signal_emit_by_name (pay, "add-extension", extension);
      gst_object_unref (extension);
    }
  else
    g_printerr ("no RTP header extension for NTP-64 (gst-plugins-good's "
                "rtpmanager): receivers learn capture times from sender "
                "reports only\n");
  gst_object_unref (pay);
}

void
media_configure (GstRTSPMediaFactory *, GstRTSPMedia *media, gpointer data)
{
  mount *m = static_cast<mount *> (data);
  camera *cam = m->cam;
  GstElement *bin = gst_rtsp_media_get_element (media);
  GstElement *appsrc = gst_bin_get_by_name (GST_BIN (bin), "cam");
  if (cam->ntp64)
    add_ntp64_extension (bin);
  GstObject *pipeline = gst_object_get_parent (GST_OBJECT (bin));
  if (pipeline)
    {
      g_signal_connect (pipeline, "element-added", G_CALLBACK (rtpbin_added),
                        cam);
      gst_object_unref (pipeline);
    }
  if (cam->opts.corrupt > 0 || cam->opts.drop > 0)
    {
      GstElement *pay = gst_bin_get_by_name (GST_BIN (bin), "pay0");
      GstPad *src = gst_element_get_static_pad (pay, "src");
      gst_pad_add_probe (
          src,
          static_cast<GstPadProbeType> (GST_PAD_PROBE_TYPE_BUFFER
                                        | GST_PAD_PROBE_TYPE_BUFFER_LIST),
          damage_packets, cam, NULL);
      gst_object_unref (src);
      gst_object_unref (pay);
    }
  g_signal_connect (media, "unprepared", G_CALLBACK (media_unprepared), m);
  {
    lf::checked_lock lock (m->cam->lock);
    gst_clear_object (&m->appsrc);
    m->appsrc = appsrc;
    m->started = false;
  }
  gst_object_unref (bin);
}

void
client_connected (GstRTSPServer *, GstRTSPClient *client, gpointer)
{
  g_print ("refusing a connection\n");
  gst_rtsp_client_close (client);
}

gboolean
stop_camera (gpointer data)
{
  camera *cam = static_cast<camera *> (data);
  g_print ("stopping after the configured duration\n");
  g_main_loop_quit (cam->loop);
  return G_SOURCE_REMOVE;
}

} // namespace

int
main (int argc, char **argv)
{
  camera cam;
  options &o = cam.opts;
  GOptionEntry entries[] = {
    { "address", 0, 0, G_OPTION_ARG_STRING, &o.address,
      "Address to serve on (default 127.0.0.1)", "ADDR" },
    { "port", 0, 0, G_OPTION_ARG_INT, &o.port,
      "Port (default 8554; 0 = any free port)", "PORT" },
    { "path", 0, 0, G_OPTION_ARG_STRING, &o.path, "Mount path (default /cam)",
      "PATH" },
    { "width", 0, 0, G_OPTION_ARG_INT, &o.width,
      "Frame width in pixels (default 1280)", "W" },
    { "height", 0, 0, G_OPTION_ARG_INT, &o.height,
      "Frame height in pixels (default 720)", "H" },
    { "fps", 0, 0, G_OPTION_ARG_INT, &o.fps, "Frames per second (default 30)",
      "FPS" },
    { "bitrate", 0, 0, G_OPTION_ARG_INT, &o.bitrate,
      "H.264 bitrate in kbit/s (default 2000)", "KBPS" },
    { "gop", 0, 0, G_OPTION_ARG_INT, &o.gop,
      "Frames from one key unit (IDR frame) to the next (default 30)",
      "FRAMES" },
    { "keyint", 0, 0, G_OPTION_ARG_INT, &o.gop, "Same as --gop", "FRAMES" },
    { "b-frames", 0, 0, G_OPTION_ARG_INT, &o.b_frames,
      "Non-reference B-frames between reference frames, 0-16 (default 0 = "
      "none; each adds a frame of encoder latency)",
      "N" },
    { "preset", 0, 0, G_OPTION_ARG_STRING, &o.preset,
      "x264 speed preset (default ultrafast: no CABAC, no deblocking, the "
      "cheapest stream to decode; veryfast or slower code as cameras do, "
      "with CABAC and the deblocking filter, in the high profile, and cost "
      "the camera more CPU)",
      "NAME" },
    { "file", 0, 0, G_OPTION_ARG_FILENAME, &o.file,
      "Loop this video file instead of the synthetic scene", "FILE" },
    { "duration", 0, 0, G_OPTION_ARG_DOUBLE, &o.duration,
      "Stop after this many seconds (0 = never)", "S" },
    { "pause-after", 0, 0, G_OPTION_ARG_DOUBLE, &o.pause_after,
      "Stop sending frames after S seconds, keeping connections open", "S" },
    { "pause-for", 0, 0, G_OPTION_ARG_DOUBLE, &o.pause_for,
      "How long the stall lasts, in seconds", "S" },
    { "resize-after", 0, 0, G_OPTION_ARG_DOUBLE, &o.resize_after,
      "Change the resolution after S seconds", "S" },
    { "resize", 0, 0, G_OPTION_ARG_STRING, &o.resize, "The new resolution, WxH",
      "WxH" },
    { "resize-every", 0, 0, G_OPTION_ARG_DOUBLE, &o.resize_every,
      "After --resize-after, switch between --resize and the first "
      "resolution every S seconds (default 0 = resize once)",
      "S" },
    { "corrupt", 0, 0, G_OPTION_ARG_DOUBLE, &o.corrupt,
      "Fraction of RTP packets to scramble (0-1)", "F" },
    { "drop", 0, 0, G_OPTION_ARG_DOUBLE, &o.drop,
      "Fraction of RTP packets to lose, as a lossy network would (0-1)",
      "F" },
    { "refuse", 0, 0, G_OPTION_ARG_NONE, &o.refuse, "Refuse every connection",
      NULL },
    { "no-ntp64", 0, 0, G_OPTION_ARG_NONE, &o.no_ntp64,
      "Send no NTP-64 header extension (RFC 6051): receivers learn capture "
      "times from RTCP sender reports only",
      NULL },
    { "clock-offset", 0, 0, G_OPTION_ARG_INT, &o.clock_offset_ms,
      "Put the capture times the stream carries (sender reports, NTP-64) "
      "this many ms ahead (negative: behind) of this host's clock, as a "
      "camera whose clock is not in step (default 0)",
      "MS" },
    { "mounts", 0, 0, G_OPTION_ARG_INT, &o.mounts,
      "Serve N cameras, PATH-0 to PATH-(N-1), from one encoder: mount k "
      "sends each frame k x GOP / N frame intervals later, so that their "
      "key units and frames are out of step (default 1: PATH alone; no "
      "--b-frames with more)",
      "N" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &o.user,
      "Ask for RTSP basic authentication as this user (default: none)",
      "NAME" },
    { "password", 0, 0, G_OPTION_ARG_STRING, &o.password,
      "The password of --user, any characters (default empty)", "PW" },
    { NULL, 0, 0, G_OPTION_ARG_NONE, NULL, NULL, NULL },
  };
  GOptionContext *context = g_option_context_new (
      "- a live H.264 RTSP test camera whose frames carry their capture time");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_group (context, gst_init_get_option_group ());
  GError *error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }
  g_option_context_free (context);
  int resized_w, resized_h;
  if (!valid_size (o.width, o.height) || o.fps < 1 || o.fps > 240
      || o.bitrate < 16 || o.gop < 1 || o.b_frames < 0 || o.b_frames > 16
      || o.corrupt < 0 || o.corrupt > 1 || o.drop < 0 || o.drop > 1
      || o.resize_every < 0 || o.mounts < 1 || o.mounts > 1024
      || (o.mounts > 1 && o.b_frames > 0)
      || (o.resize_after >= 0
          && !parse_size (o.resize, &resized_w, &resized_h)))
    {
      g_printerr ("invalid options (sizes must be even, at least 16x16; "
                  "--mounts 1-1024, and 1 with --b-frames): "
                  "see --help\n");
      return 2;
    }

  /* The file is opened (and checked) before anything is served. */
  std::unique_ptr<file_frames> file;
  if (o.file)
    {
      file = std::make_unique<file_frames> (o.file, o.width, o.height);
      if (!file->ok ())
        return 1;
    }

  cam.loop = g_main_loop_new (NULL, FALSE);
  GstRTSPServer *server = gst_rtsp_server_new ();
  gst_rtsp_server_set_address (server, o.address ? o.address : "127.0.0.1");
  gchar *service = g_strdup_printf ("%d", o.port);
  gst_rtsp_server_set_service (server, service);
  g_free (service);
  /* A client thread per mount, as N cameras answer each their own clients.
   * Preparing a mount's media (DESCRIBE) waits for its next key unit, up to
   * a GOP, in the client's thread; with the server's one thread every other
   * mount's client waited behind it, and a client's PLAY came seconds after
   * its DESCRIBE. Meanwhile the mount's media, playing but held by
   * gst-rtsp-server until that PLAY, queued its frames in its appsrc and
   * then sent them all: seconds old by their capture time, which receivers
   * took for a camera clock out of step. */
  GstRTSPThreadPool *threads = gst_rtsp_server_get_thread_pool (server);
  gst_rtsp_thread_pool_set_max_threads (threads, o.mounts);
  g_object_unref (threads);

  /* x264enc applies tune=zerolatency (which alone means no B-frames)
   * first and the properties set here after it, so bframes wins and the
   * rest of zerolatency (no lookahead) stays: the encoder holds back
   * --b-frames frames, no more. What would still undo it is the profile,
   * applied last: rtph264pay, linked to the server's rtpbin, prefers
   * constrained-baseline, which has no B-frames, so the caps ask for main
   * (no CABAC nor 8x8 transform at ultrafast: main is all it uses).
   * B-frames come in a fixed pattern (b-adapt off) and none is a
   * reference (b-pyramid off), so that a receiver may skip any of them
   * without damaging another. */
  const char *preset = o.preset ? o.preset : "ultrafast";
  const bool ultrafast = g_strcmp0 (preset, "ultrafast") == 0;
  /* The same goes for CABAC and the 8x8 transform of the slower presets:
   * the high profile keeps them. */
  gchar *b_frame_settings
      = o.b_frames > 0
            ? g_strdup_printf ("bframes=%d b-adapt=false b-pyramid=false "
                               "! video/x-h264,profile=%s ",
                               o.b_frames, ultrafast ? "main" : "high")
        : !ultrafast ? g_strdup ("! video/x-h264,profile=high ")
                     : g_strdup ("");
  gchar *encode = g_strdup_printf (
      "x264enc tune=zerolatency speed-preset=%s threads=1 bitrate=%d "
      "key-int-max=%d %s",
      preset, o.bitrate, o.gop, b_frame_settings);
  g_free (b_frame_settings);
  gchar *launch;
  if (o.mounts > 1)
    {
      /* One encoder; each mount pays out its access units (see
       * coded_access_unit). */
      gchar *encoder = g_strdup_printf (
          "appsrc name=raw is-live=true format=time ! %s"
          "! video/x-h264,stream-format=byte-stream,alignment=au "
          "! appsink name=coded sync=false",
          encode);
      cam.encoder = gst_parse_launch (encoder, NULL);
      g_free (encoder);
      if (!cam.encoder)
        {
          g_printerr ("cannot make the encoder\n");
          return 1;
        }
      cam.raw = gst_bin_get_by_name (GST_BIN (cam.encoder), "raw");
      GstElement *coded = gst_bin_get_by_name (GST_BIN (cam.encoder), "coded");
      GstAppSinkCallbacks callbacks = {};
      callbacks.new_sample = coded_access_unit;
      gst_app_sink_set_callbacks (GST_APP_SINK (coded), &callbacks, &cam, NULL);
      gst_object_unref (coded);
      gst_element_set_state (cam.encoder, GST_STATE_PLAYING);
      launch = g_strdup ("( appsrc name=cam is-live=true format=time "
                         "! rtph264pay name=pay0 pt=96 config-interval=-1 )");
    }
  else
    launch = g_strdup_printf ("( appsrc name=cam is-live=true format=time "
                              "! %s! rtph264pay name=pay0 pt=96 "
                              "config-interval=-1 )",
                              encode);
  g_free (encode);
  GstClock *clock = nullptr;
  if (o.clock_offset_ms != 0)
    {
      /* rtpbin ntp-time-source=clock-time reads this clock as NTP time:
       * this host's wall clock, from 1900, plus the offset. */
      clock = GST_CLOCK (g_object_new (GST_TYPE_SYSTEM_CLOCK, "clock-type",
                                       GST_CLOCK_TYPE_REALTIME, NULL));
      const GstClockTime now = gst_clock_get_internal_time (clock);
      const gint64 ntp_offset = G_GINT64_CONSTANT (2208988800) * GST_SECOND
                                + gint64 (o.clock_offset_ms) * GST_MSECOND;
      gst_clock_set_calibration (clock, now, now + ntp_offset, 1, 1);
      cam.ntp_from_clock = true;
    }
  cam.ntp64 = !o.no_ntp64;
  if (o.user)
    {
      /* Basic authentication: only this user may see (access) and start
       * (construct) the stream; anyone else gets 401. */
      GstRTSPAuth *auth = gst_rtsp_auth_new ();
      GstRTSPToken *token = gst_rtsp_token_new (
          GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, "camera-user",
          NULL);
      gchar *basic
          = gst_rtsp_auth_make_basic (o.user, o.password ? o.password : "");
      gst_rtsp_auth_add_basic (auth, basic, token);
      g_free (basic);
      gst_rtsp_token_unref (token);
      gst_rtsp_server_set_auth (server, auth);
      g_object_unref (auth);
    }
  GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points (server);
  const char *path = o.path ? o.path : "/cam";
  for (int k = 0; k < o.mounts; k++)
    {
      auto m = std::make_unique<mount> ();
      m->cam = &cam;
      m->path = o.mounts > 1 ? std::string (path) + "-" + std::to_string (k)
                             : std::string (path);
      m->delay = static_cast<guint> (k * o.gop / o.mounts);
      /* The rest of k x GOP / N frame intervals, in ns. */
      m->offset = std::chrono::nanoseconds (
          gint64 (k * o.gop % o.mounts) * GST_SECOND / (gint64 (o.mounts) * o.fps));
      GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new ();
      gst_rtsp_media_factory_set_launch (factory, launch);
      gst_rtsp_media_factory_set_shared (factory, TRUE);
      if (clock)
        gst_rtsp_media_factory_set_clock (factory, clock);
      g_signal_connect (factory, "media-configure",
                        G_CALLBACK (media_configure), m.get ());
      if (o.user)
        {
          GstRTSPPermissions *permissions = gst_rtsp_permissions_new ();
          gst_rtsp_permissions_add_role (
              permissions, "camera-user", GST_RTSP_PERM_MEDIA_FACTORY_ACCESS,
              G_TYPE_BOOLEAN, TRUE, GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT,
              G_TYPE_BOOLEAN, TRUE, NULL);
          gst_rtsp_media_factory_set_permissions (factory, permissions);
          gst_rtsp_permissions_unref (permissions);
        }
      gst_rtsp_mount_points_add_factory (mounts, m->path.c_str (), factory);
      cam.mounts.push_back (std::move (m));
    }
  g_free (launch);
  if (clock)
    gst_object_unref (clock);
  g_object_unref (mounts);
  if (o.refuse)
    g_signal_connect (server, "client-connected", G_CALLBACK (client_connected),
                      NULL);

  if (gst_rtsp_server_attach (server, NULL) == 0)
    {
      g_printerr ("cannot listen on %s:%d\n",
                  o.address ? o.address : "127.0.0.1", o.port);
      return 1;
    }
  /* One line per mount, the first first. */
  for (const std::unique_ptr<mount> &m : cam.mounts)
    g_print ("rtsp://%s:%d%s\n", o.address ? o.address : "127.0.0.1",
             gst_rtsp_server_get_bound_port (server), m->path.c_str ());
  if (o.duration > 0)
    g_timeout_add (static_cast<guint> (o.duration * 1000), stop_camera, &cam);

  std::thread producer (produce, &cam, file.get ());
  std::thread pacer;
  if (cam.encoder)
    pacer = std::thread (pace, &cam);
  g_main_loop_run (cam.loop);
  {
    /* Under the lock: the pacer either sees it or is already waiting. */
    lf::checked_lock lock (cam.lock);
    cam.running = false;
  }
  cam.paced_changed.notify_one ();
  producer.join ();
  if (pacer.joinable ())
    pacer.join ();
  if (cam.encoder)
    {
      gst_element_set_state (cam.encoder, GST_STATE_NULL);
      gst_clear_object (&cam.raw);
      gst_clear_object (&cam.encoder);
      /* The encoder has stopped: nothing adds to them any more. */
      lf::checked_lock lock (cam.lock);
      gst_clear_caps (&cam.caps);
      for (auto &[when, unsent] : cam.paced)
        gst_buffer_unref (unsent.second);
      cam.paced.clear ();
      for (GstBuffer *unit : cam.coded)
        gst_buffer_unref (unit);
      cam.coded.clear ();
    }
  for (const std::unique_ptr<mount> &m : cam.mounts)
    {
      lf::checked_lock lock (m->cam->lock);
      gst_clear_object (&m->appsrc);
    }
  g_print ("sent %" G_GUINT64_FORMAT " frames\n", cam.frames_sent.load ());
  g_object_unref (server);
  g_main_loop_unref (cam.loop);
  g_free (o.address);
  g_free (o.path);
  g_free (o.file);
  g_free (o.preset);
  g_free (o.resize);
  g_free (o.user);
  g_free (o.password);
  return 0;
}
