/* The faults of a live RTSP camera (latestframe-testcam on 127.0.0.1):
 * killed and restarted, stalled with its connection kept open, changing
 * resolution mid-stream, sending corrupt packets, losing packets over UDP.
 * Each runs against the pipeline shapes this project ships: a launch line
 * (rtspsrc ! decodebin ! latestframe ! videoconvert ! cvmotion, as in the
 * front page) and the C++ capture. The Python binding's rows come from
 * faults_python.py. */
#include "faults.h"

#include "common/testcam.h"

#include <latestframe/capture.h>

#include <gst/gst.h>

#include <signal.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <set>
#include <string>
#include <thread>

namespace latestframe::faults
{

namespace
{

using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

/* A small camera: the faults are about the stream's life, not its size. */
std::vector<std::string>
camera_args (std::vector<std::string> more)
{
  std::vector<std::string> args{ "--width=320", "--height=240", "--fps=30" };
  args.insert (args.end (), more.begin (), more.end ());
  return args;
}

/* The front page's launch line on one camera, in this process, with a frame
 * counter and the picture sizes seen where the analysis ends. */
class launch_pipeline
{
public:
  launch_pipeline (const std::string &url, const std::string &protocols)
  {
    const std::string description
        = "rtspsrc location=" + url + " protocols=" + protocols
          + " latency=0 ! decodebin ! latestframe name=lf ! videoconvert"
            " ! cvmotion ! fakesink name=sink sync=false";
    GError *error = nullptr;
    pipeline_ = gst_parse_launch (description.c_str (), &error);
    if (error)
      {
        errors_.push_back (error->message);
        g_clear_error (&error);
      }
    if (!pipeline_)
      return;
    GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline_), "sink");
    GstPad *pad = gst_element_get_static_pad (sink, "sink");
    gst_pad_add_probe (
        pad,
        static_cast<GstPadProbeType> (GST_PAD_PROBE_TYPE_BUFFER
                                      | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
        on_sink_data, this, NULL);
    gst_object_unref (pad);
    gst_object_unref (sink);
    gst_element_set_state (pipeline_, GST_STATE_PLAYING);
  }
  launch_pipeline (const launch_pipeline &) = delete;
  launch_pipeline &operator= (const launch_pipeline &) = delete;

  ~launch_pipeline ()
  {
    if (!pipeline_)
      return;
    gst_element_set_state (pipeline_, GST_STATE_NULL);
    gst_object_unref (pipeline_);
  }

  bool ok () const { return pipeline_ && errors_.empty (); }
  std::uint64_t frames () const { return frames_.load (); }
  std::uint64_t size_changes () const { return size_changes_.load (); }
  const std::vector<std::string> &errors () const { return errors_; }

  /* Reads the bus until `done` holds or `deadline` passes; false then, or
   * on an error message. */
  bool wait_until (const std::function<bool ()> &done,
                   std::chrono::milliseconds deadline)
  {
    const steady::time_point until = steady::now () + deadline;
    GstBus *bus = gst_element_get_bus (pipeline_);
    bool met = false;
    while (!(met = done ()) && steady::now () < until && errors_.empty ())
      {
        GstMessage *message = gst_bus_timed_pop_filtered (
            bus, 20 * GST_MSECOND,
            static_cast<GstMessageType> (GST_MESSAGE_ERROR | GST_MESSAGE_EOS));
        if (!message)
          continue;
        if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR)
          {
            GError *error = nullptr;
            gst_message_parse_error (message, &error, NULL);
            errors_.push_back (error->message);
            g_clear_error (&error);
          }
        else
          errors_.push_back ("end of stream");
        gst_message_unref (message);
      }
    gst_object_unref (bus);
    return met;
  }

  /* Waits for `count` more frames at the sink. */
  bool wait_frames (std::uint64_t count, std::chrono::milliseconds deadline)
  {
    const std::uint64_t target = frames () + count;
    return wait_until ([&] { return frames () >= target; }, deadline);
  }

  frame_counts counts () const
  {
    frame_counts counts;
    GstElement *lf = gst_bin_get_by_name (GST_BIN (pipeline_), "lf");
    counts.add_element (lf);
    gst_object_unref (lf);
    return counts;
  }

private:
  static GstPadProbeReturn on_sink_data (GstPad *, GstPadProbeInfo *info,
                                         gpointer data)
  {
    auto *self = static_cast<launch_pipeline *> (data);
    if (info->type & GST_PAD_PROBE_TYPE_BUFFER)
      self->frames_++;
    else if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_CAPS)
      {
        GstCaps *caps = nullptr;
        gst_event_parse_caps (GST_PAD_PROBE_INFO_EVENT (info), &caps);
        gint width = 0, height = 0;
        const GstStructure *s = gst_caps_get_structure (caps, 0);
        gst_structure_get_int (s, "width", &width);
        gst_structure_get_int (s, "height", &height);
        const long size = long (width) << 16 | height;
        if (self->last_size_ != 0 && self->last_size_ != size)
          self->size_changes_++;
        self->last_size_ = size;
      }
    return GST_PAD_PROBE_OK;
  }

  GstElement *pipeline_ = nullptr;
  std::vector<std::string> errors_;
  std::atomic<std::uint64_t> frames_{ 0 };
  /* Streaming thread only. */
  long last_size_ = 0;
  std::atomic<std::uint64_t> size_changes_{ 0 };
};

/* The C++ capture on one camera, with a reader thread that reads as fast
 * as frames come and remembers what it saw. */
class capture_reader
{
public:
  capture_reader (const std::string &url, capture_options options)
  {
    opened_ = capture_.open (url, options);
    if (opened_)
      reader_ = std::thread ([this] { read_all (); });
  }
  capture_reader (const capture_reader &) = delete;
  capture_reader &operator= (const capture_reader &) = delete;
  ~capture_reader () { stop (); }

  bool opened () const { return opened_; }
  std::uint64_t frames () const { return frames_.load (); }
  std::uint64_t connection () const { return connection_.load (); }
  std::uint64_t size_changes () const { return size_changes_.load (); }
  capture_stats stats () const { return capture_.stats (); }
  std::string last_error () const { return capture_.last_error (); }

  /* Polls `done` until it holds or `deadline` passes. The reader thread
   * does the work; this only watches its figures. */
  static bool wait_until (const std::function<bool ()> &done,
                          std::chrono::milliseconds deadline)
  {
    const steady::time_point until = steady::now () + deadline;
    while (!done ())
      {
        if (steady::now () >= until)
          return false;
        std::this_thread::sleep_for (10ms);
      }
    return true;
  }
  bool wait_frames (std::uint64_t count, std::chrono::milliseconds deadline)
  {
    const std::uint64_t target = frames () + count;
    return wait_until ([&] { return frames () >= target; }, deadline);
  }

  /* Stops reading; the capture stays open for its final figures. */
  void stop ()
  {
    stopping_ = true;
    if (reader_.joinable ())
      reader_.join ();
  }

  /* The capture's counts in the matrix's terms. */
  frame_counts counts () const
  {
    const capture_stats s = capture_.stats ();
    frame_counts counts;
    counts.received = s.received;
    counts.pushed = s.pushed;
    counts.held = s.held_frames;
    for (const drop_reason_info &reason : drop_reasons)
      counts.dropped[reason.name] = s.dropped_for (reason.reason);
    return counts;
  }

private:
  void read_all ()
  {
    cv::Mat frame;
    frame_info info;
    int width = 0;
    while (!stopping_)
      {
        if (!capture_.read (frame, 100ms, &info))
          continue;
        if (width != 0 && frame.cols != width)
          size_changes_++;
        width = frame.cols;
        connection_ = info.connection;
        frames_++;
      }
  }

  capture capture_;
  bool opened_ = false;
  std::atomic<bool> stopping_{ false };
  std::atomic<std::uint64_t> frames_{ 0 };
  std::atomic<std::uint64_t> connection_{ 0 };
  std::atomic<std::uint64_t> size_changes_{ 0 };
  std::thread reader_;
};

capture_options
tcp_capture_options ()
{
  capture_options options;
  options.protocols = "tcp";
  options.open_timeout = 20s;
  options.stall_timeout = 3s;
  options.backoff_initial = 100ms;
  options.backoff_max = 1s;
  return options;
}

/* The first error of a launch line, for the note. */
std::string
first_error (const std::vector<std::string> &errors)
{
  return errors.empty () ? std::string () : "error: " + errors.front ();
}

/* Waits for the first frame: then the row's RSS at start is taken, else
 * its note says why not. */
bool
first_frame (capture_reader &reader, fault_row &row)
{
  if (reader.opened () && reader.wait_frames (1, 20s))
    {
      row.rss_start_kb = rss_kb ();
      return true;
    }
  row.note = "did not open: " + reader.last_error ();
  return false;
}

bool
first_frame (launch_pipeline &pipeline, fault_row &row)
{
  if (pipeline.wait_frames (1, 20s))
    {
      row.rss_start_kb = rss_kb ();
      return true;
    }
  row.note = "no frames: " + first_error (pipeline.errors ());
  return false;
}

fault_row
no_camera (fault_row &row)
{
  row.note = "the test camera did not start (LATESTFRAME_TESTCAM)";
  return row;
}

/* ---- camera-restart: killed (SIGKILL) and restarted on its port. */

fault_row
camera_restart (const fault_settings &settings, const std::string &)
{
  fault_row row;
  row.repetitions = settings.full ? 100 : 3;
  testcam camera (camera_args ({}));
  if (camera.url ().empty ())
    return no_camera (row);
  capture_reader reader (camera.url (), tcp_capture_options ());
  if (!first_frame (reader, row))
    return row;
  for (std::uint64_t i = 0; i < row.repetitions; i++)
    {
      const std::uint64_t before = reader.connection ();
      camera.stop (SIGKILL);
      if (!camera.restart ())
        {
          row.note = "the camera did not restart on its port";
          break;
        }
      /* Recovered: a frame of a later connection was read. */
      if (reader.wait_until ([&] { return reader.connection () > before; },
                             30s))
        row.recovered++;
      else if (row.note.empty ())
        row.note = "repetition " + std::to_string (i + 1)
                   + " not recovered in 30 s: " + reader.last_error ();
    }
  reader.stop ();
  const capture_stats stats = reader.stats ();
  row.analysed = stats.returned;
  row.rss_end_kb = rss_kb ();
  row.counts = reader.counts ();
  if (row.note.empty ())
    row.note = std::to_string (stats.reconnects) + " reconnections";
  return row;
}

/* ---- stall: no frame for a while, the connection kept open. */

fault_row
stall (const fault_settings &settings, const std::string &shape)
{
  fault_row row;
  row.repetitions = 1;
  const double stall_s = settings.full ? 60 : 6;
  testcam camera (camera_args (
      { "--pause-after=3", "--pause-for=" + std::to_string (stall_s) }));
  if (camera.url ().empty ())
    return no_camera (row);
  const auto resumed_by = std::chrono::milliseconds (
      static_cast<long> ((3 + stall_s) * 1000) + 30000);
  if (shape == "capture")
    {
      capture_reader reader (camera.url (), tcp_capture_options ());
      if (!first_frame (reader, row))
        return row;
      /* The watchdog fires, then frames come again (new connection). */
      const bool fired = reader.wait_until (
          [&] { return reader.stats ().stalls >= 1; }, resumed_by);
      const std::uint64_t first = reader.connection ();
      const bool resumed
          = fired
            && reader.wait_until ([&] { return reader.connection () > first; },
                                  resumed_by);
      reader.stop ();
      const capture_stats stats = reader.stats ();
      row.recovered = resumed && stats.stalls == 1;
      row.analysed = stats.returned;
      row.rss_end_kb = rss_kb ();
      row.counts = reader.counts ();
      row.note = "stall " + std::to_string (int (stall_s)) + " s; watchdog "
                 + std::to_string (stats.stalls) + " time(s) (3 s), "
                 + std::to_string (stats.reconnects) + " reconnections";
      return row;
    }
  launch_pipeline pipeline (camera.url (), "tcp");
  if (!first_frame (pipeline, row))
    return row;
  /* Frames stop, then come again on the same connection. */
  const bool stalled = pipeline.wait_until (
      [&, last = pipeline.frames (), since = steady::now ()] () mutable {
        const std::uint64_t now = pipeline.frames ();
        if (now != last)
          last = now, since = steady::now ();
        return steady::now () - since > 2s;
      },
      20s);
  const bool resumed = stalled && pipeline.wait_frames (30, resumed_by);
  row.recovered = resumed && pipeline.errors ().empty ();
  row.analysed = pipeline.frames ();
  row.rss_end_kb = rss_kb ();
  row.counts = pipeline.counts ();
  row.note = "stall " + std::to_string (int (stall_s)) + " s on one connection"
             + (stalled ? "" : " (not seen)") + " "
             + first_error (pipeline.errors ());
  return row;
}

/* ---- resize: the resolution changes mid-stream (320x240 <-> 480x272). */

fault_row
resize (const fault_settings &settings, const std::string &shape)
{
  fault_row row;
  row.repetitions = settings.full ? 20 : 3;
  const double every_s = 1.5;
  testcam camera (
      camera_args ({ "--resize-after=3", "--resize=480x272",
                     "--resize-every=" + std::to_string (every_s) }));
  if (camera.url ().empty ())
    return no_camera (row);
  const auto deadline = std::chrono::milliseconds (
      static_cast<long> ((3 + every_s * row.repetitions) * 1000) + 30000);
  if (shape == "capture")
    {
      capture_reader reader (camera.url (), tcp_capture_options ());
      if (!first_frame (reader, row))
        return row;
      reader.wait_until (
          [&] { return reader.size_changes () >= row.repetitions; }, deadline);
      /* Recovered: frames of the last size were read. */
      const bool flowing = reader.wait_frames (10, 10s);
      reader.stop ();
      row.recovered = flowing ? std::min<std::uint64_t> (reader.size_changes (),
                                                         row.repetitions)
                              : 0;
      const capture_stats stats = reader.stats ();
      row.analysed = stats.returned;
      row.rss_end_kb = rss_kb ();
      row.counts = reader.counts ();
      row.note = std::to_string (reader.size_changes ())
                 + " size changes read, " + std::to_string (stats.reconnects)
                 + " reconnections";
      return row;
    }
  launch_pipeline pipeline (camera.url (), "tcp");
  if (!first_frame (pipeline, row))
    return row;
  pipeline.wait_until (
      [&] { return pipeline.size_changes () >= row.repetitions; }, deadline);
  const bool flowing = pipeline.wait_frames (10, 10s);
  row.recovered = flowing ? std::min<std::uint64_t> (pipeline.size_changes (),
                                                     row.repetitions)
                          : 0;
  row.analysed = pipeline.frames ();
  row.rss_end_kb = rss_kb ();
  row.counts = pipeline.counts ();
  row.note = std::to_string (pipeline.size_changes ())
             + " size changes at the analysis "
             + first_error (pipeline.errors ());
  return row;
}

/* ---- damaged packets: scrambled (TCP) or lost (UDP) for a while. */

fault_row
damaged_stream (const std::string &shape, const std::string &camera_option,
                const std::string &protocols, double seconds)
{
  fault_row row;
  row.repetitions = 1;
  testcam camera (camera_args ({ camera_option }));
  if (camera.url ().empty ())
    return no_camera (row);
  const auto duration
      = std::chrono::milliseconds (static_cast<long> (seconds * 1000));
  if (shape == "capture")
    {
      capture_options options = tcp_capture_options ();
      options.protocols = protocols;
      capture_reader reader (camera.url (), options);
      if (!first_frame (reader, row))
        return row;
      std::this_thread::sleep_for (duration); /* the fault's length */
      /* Recovered: still reading frames at the end. */
      row.recovered = reader.wait_frames (10, 20s);
      reader.stop ();
      const capture_stats stats = reader.stats ();
      row.analysed = stats.returned;
      row.rss_end_kb = rss_kb ();
      row.counts = reader.counts ();
      row.note = std::to_string (int (seconds)) + " s, "
                 + std::to_string (stats.reconnects) + " reconnections";
      return row;
    }
  launch_pipeline pipeline (camera.url (), protocols);
  if (!first_frame (pipeline, row))
    return row;
  pipeline.wait_until ([] { return false; }, duration); /* bus errors end it */
  row.recovered = pipeline.wait_frames (10, 20s) && pipeline.errors ().empty ();
  row.analysed = pipeline.frames ();
  row.rss_end_kb = rss_kb ();
  row.counts = pipeline.counts ();
  row.note = std::to_string (int (seconds)) + " s "
             + first_error (pipeline.errors ());
  return row;
}

fault_row
corrupt (const fault_settings &settings, const std::string &shape)
{
  return damaged_stream (shape, "--corrupt=0.05", "tcp",
                         settings.full ? 300 : 5);
}

fault_row
udp_loss (const fault_settings &settings, const std::string &shape)
{
  return damaged_stream (shape, "--drop=0.02", "udp", settings.full ? 60 : 5);
}

} // namespace

std::vector<fault>
camera_faults ()
{
  return {
    { "camera-restart",
      { "capture" },
      camera_restart,
      "the camera killed (SIGKILL) and restarted: 100 times (short: 3)" },
    { "stall",
      { "launch", "capture" },
      stall,
      "no frame for 60 s (short: 6), the connection kept open" },
    { "resize",
      { "launch", "capture" },
      resize,
      "the resolution changes mid-stream: 20 times (short: 3)" },
    { "corrupt",
      { "launch", "capture" },
      corrupt,
      "5% of RTP packets scrambled for 5 min (short: 5 s), TCP" },
    { "udp-loss",
      { "launch", "capture" },
      udp_loss,
      "2% of RTP packets lost for 60 s (short: 5 s), UDP" },
  };
}

} // namespace latestframe::faults
