/* Integration tests of latestframe-testcam: a real RTSP server on
 * 127.0.0.1 read by rtspsrc and a real H.264 decoder. */
#include "latestframe/stamp.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

namespace stamp = latestframe::stamp;

namespace
{

/* A test camera process on a free port, stopped at the end. */
class testcam
{
public:
  explicit testcam (std::vector<std::string> args)
  {
    const char *program = std::getenv ("LATESTFRAME_TESTCAM");
    std::vector<gchar *> argv;
    argv.push_back (g_strdup (program ? program : "latestframe-testcam"));
    argv.push_back (g_strdup ("--port=0"));
    for (const std::string &arg : args)
      argv.push_back (g_strdup (arg.c_str ()));
    argv.push_back (nullptr);
    GError *error = nullptr;
    gint out = -1;
    spawned_ = g_spawn_async_with_pipes (NULL, argv.data (), NULL,
                                         G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                         &pid_, NULL, &out, NULL, &error);
    for (gchar *arg : argv)
      g_free (arg);
    EXPECT_TRUE (spawned_) << (error ? error->message : "");
    g_clear_error (&error);
    if (!spawned_)
      return;
    /* Its first line is the URL it serves. */
    GIOChannel *channel = g_io_channel_unix_new (out);
    g_io_channel_set_close_on_unref (channel, TRUE);
    gchar *line = nullptr;
    g_io_channel_read_line (channel, &line, NULL, NULL, NULL);
    if (line)
      url_ = g_strstrip (line);
    g_free (line);
    g_io_channel_unref (channel);
  }
  testcam (const testcam &) = delete;
  testcam &operator= (const testcam &) = delete;
  ~testcam ()
  {
    if (spawned_)
      {
        kill (pid_, SIGTERM);
        int status;
        waitpid (pid_, &status, 0);
        g_spawn_close_pid (pid_);
      }
  }
  const std::string &url () const { return url_; }

private:
  bool spawned_ = false;
  GPid pid_ = 0;
  std::string url_;
};

struct stamp_tally
{
  int frames = 0;
  int decoded = 0;
  std::vector<double> ages_ms;
};

/* Reads `frames` frames of `url` as I420 and decodes each one's stamp. */
stamp_tally
read_stamps (const std::string &url, int frames, const char *protocols = "tcp")
{
  std::string launch
      = "rtspsrc location=" + url + " latency=0 protocols=" + protocols
        + " ! decodebin ! videoconvert ! video/x-raw,format=I420 "
          "! appsink name=sink sync=false max-buffers=400";
  GstElement *pipeline = gst_parse_launch (launch.c_str (), NULL);
  EXPECT_TRUE (pipeline != NULL);
  stamp_tally tally;
  if (!pipeline)
    return tally;
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  while (tally.frames < frames)
    {
      GstSample *sample
          = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 20 * GST_SECOND);
      if (!sample)
        break;
      const std::uint64_t now = stamp::monotonic_now_ns ();
      GstMapInfo map;
      GstBuffer *buffer = gst_sample_get_buffer (sample);
      GstStructure *caps
          = gst_caps_get_structure (gst_sample_get_caps (sample), 0);
      gint width = 0, height = 0;
      gst_structure_get_int (caps, "width", &width);
      gst_structure_get_int (caps, "height", &height);
      if (gst_buffer_map (buffer, &map, GST_MAP_READ))
        {
          std::optional<std::uint64_t> captured
              = stamp::read (map.data, GST_ROUND_UP_4 (width), width, height);
          if (captured && *captured <= now)
            {
              tally.decoded++;
              tally.ages_ms.push_back ((now - *captured) / 1e6);
            }
          gst_buffer_unmap (buffer, &map);
        }
      tally.frames++;
      gst_sample_unref (sample);
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  return tally;
}

} // namespace

// Every frame of a 720p30 stream at the default bitrate carries a stamp
// that decodes, and says the frame is young.
TEST (Testcam, StampsDecodeOnEveryFrameOf720p30)
{
  testcam camera ({});
  ASSERT_FALSE (camera.url ().empty ());
  stamp_tally tally = read_stamps (camera.url (), 90);
  ASSERT_EQ (tally.frames, 90);
  EXPECT_EQ (tally.decoded, tally.frames);
  std::sort (tally.ages_ms.begin (), tally.ages_ms.end ());
  ASSERT_FALSE (tally.ages_ms.empty ());
  EXPECT_LT (tally.ages_ms[tally.ages_ms.size () / 2], 1000.0)
      << "a stamp from another clock?";
}

// The looped file source (vtest.avi) is served and stamped too, over UDP.
TEST (Testcam, ServesLoopedFileOverUdp)
{
  const char *data = std::getenv ("LATESTFRAME_SAMPLE_DATA");
  std::string file
      = std::string (data ? data : "/usr/share/doc/opencv-doc/examples/data")
        + "/vtest.avi";
  testcam camera ({ "--file=" + file, "--width=768", "--height=576" });
  ASSERT_FALSE (camera.url ().empty ());
  stamp_tally tally = read_stamps (camera.url (), 30, "udp");
  ASSERT_EQ (tally.frames, 30);
  EXPECT_EQ (tally.decoded, tally.frames);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  ::testing::InitGoogleTest (&argc, argv);
  int failed = RUN_ALL_TESTS ();
  gst_deinit ();
  return failed;
}
