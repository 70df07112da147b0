/* Benchmark: each cv* element's time per frame against the same analysis
 * on a bare cv::Mat of the same frames. Prints a Markdown table.
 *
 * The element's time is taken between its own pads (a probe on its sink
 * pad and one on its src pad, on the same streaming thread), so it covers
 * everything the element adds: mapping, views, metas, messages. The bare
 * time covers the same gray conversion and analysis. Runs alternate (bare,
 * element, bare, element...) and the medians are compared, so that a busy
 * machine slows both sides alike.
 *
 * Usage: bench_analysis [--quick] [--rounds N]   (GST_PLUGIN_PATH must find
 * the plugin; LATESTFRAME_SAMPLE_DATA may point at opencv-doc's data) */
#include "common/percentile.h"
#include "common/sample_data.h"
#include "latestframe/analysis.h"

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace lf = latestframe;
using steady = std::chrono::steady_clock;

namespace
{

using lf::percentile;
using lf::sample;

struct probe_clock
{
  steady::time_point entered;
  std::vector<double> ms;
};

GstPadProbeReturn
on_enter (GstPad *, GstPadProbeInfo *, gpointer data)
{
  static_cast<probe_clock *> (data)->entered = steady::now ();
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn
on_leave (GstPad *, GstPadProbeInfo *, gpointer data)
{
  auto *clock = static_cast<probe_clock *> (data);
  clock->ms.push_back (std::chrono::duration<double, std::milli> (
                           steady::now () - clock->entered)
                           .count ());
  return GST_PAD_PROBE_OK;
}

/* Per-frame milliseconds of `element` on `frames` (BGR). */
std::vector<double>
time_element (const std::string &element, const std::vector<cv::Mat> &frames)
{
  const cv::Mat &first = frames.front ();
  std::string launch
      = "appsrc name=src format=time caps=video/x-raw,format=BGR,width="
        + std::to_string (first.cols) + ",height=" + std::to_string (first.rows)
        + ",framerate=30/1 ! " + element
        + " name=analysis ! fakesink sync=false";
  GstElement *pipeline = gst_parse_launch (launch.c_str (), NULL);
  if (!pipeline)
    {
      std::fprintf (stderr, "cannot build: %s\n", launch.c_str ());
      std::exit (2);
    }
  GstElement *src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  GstElement *analysis = gst_bin_get_by_name (GST_BIN (pipeline), "analysis");
  probe_clock clock;
  GstPad *sink_pad = gst_element_get_static_pad (analysis, "sink");
  GstPad *src_pad = gst_element_get_static_pad (analysis, "src");
  gst_pad_add_probe (sink_pad, GST_PAD_PROBE_TYPE_BUFFER, on_enter, &clock,
                     NULL);
  gst_pad_add_probe (src_pad, GST_PAD_PROBE_TYPE_BUFFER, on_leave, &clock,
                     NULL);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  for (std::size_t i = 0; i < frames.size (); i++)
    {
      const cv::Mat &frame = frames[i];
      /* Aligned like cv::Mat's own rows and like decoders' buffers. */
      GstAllocationParams aligned;
      gst_allocation_params_init (&aligned);
      aligned.align = 63;
      GstBuffer *buffer
          = gst_buffer_new_allocate (NULL, frame.total () * 3, &aligned);
      gst_buffer_fill (buffer, 0, frame.data, frame.total () * 3);
      GST_BUFFER_PTS (buffer) = i * GST_SECOND / 30;
      gst_app_src_push_buffer (GST_APP_SRC (src), buffer);
    }
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered (
      bus, 600 * GST_SECOND,
      static_cast<GstMessageType> (GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  if (!msg || GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    {
      std::fprintf (stderr, "%s: the pipeline failed\n", element.c_str ());
      std::exit (1);
    }
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (sink_pad);
  gst_object_unref (src_pad);
  gst_object_unref (analysis);
  gst_object_unref (src);
  gst_object_unref (pipeline);
  return clock.ms;
}

/* Per-frame milliseconds of the bare analysis on `frames` (BGR). */
std::vector<double>
time_bare (const std::function<std::unique_ptr<lf::analysis> ()> &make,
           const std::vector<cv::Mat> &frames)
{
  std::unique_ptr<lf::analysis> analysis = make ();
  std::vector<double> ms;
  for (const cv::Mat &frame : frames)
    {
      steady::time_point started = steady::now ();
      cv::Mat gray = lf::to_gray (frame, lf::channel_order::bgr);
      lf::analysis_result result = analysis->analyse (gray);
      ms.push_back (
          std::chrono::duration<double, std::milli> (steady::now () - started)
              .count ());
    }
  return ms;
}

std::vector<cv::Mat>
vtest (int count)
{
  cv::VideoCapture capture (sample ("vtest.avi"));
  std::vector<cv::Mat> frames;
  cv::Mat frame;
  while (static_cast<int> (frames.size ()) < count && capture.read (frame))
    frames.push_back (frame.clone ());
  if (frames.empty ())
    {
      std::fprintf (stderr, "cannot read %s (Debian package opencv-doc)\n",
                    sample ("vtest.avi").c_str ());
      std::exit (2);
    }
  return frames;
}

} // namespace

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  bool quick = false;
  int rounds = 3;
  for (int i = 1; i < argc; i++)
    if (!std::strcmp (argv[i], "--quick"))
      quick = true;
    else if (!std::strcmp (argv[i], "--rounds") && i + 1 < argc)
      rounds = std::max (1, std::atoi (argv[++i]));
  if (quick)
    rounds = 1;

  cv::Mat messi = cv::imread (sample ("messi5.jpg"));
  std::vector<cv::Mat> faces (quick ? 3 : 20, messi);
  struct bench
  {
    const char *element;
    std::function<std::unique_ptr<lf::analysis> ()> make;
    std::vector<cv::Mat> frames;
  };
  const char *cascade = "/usr/share/opencv4/haarcascades/"
                        "haarcascade_frontalface_default.xml";
  std::vector<bench> benches = {
    { "cvmotion",
      [] {
        return std::make_unique<lf::motion_detector> (
            lf::motion_detector::settings{});
      },
      vtest (quick ? 5 : 60) },
    { "cvfacedetect",
      [cascade] {
        return std::make_unique<lf::face_detector> (
            cascade, lf::face_detector::settings{});
      },
      faces },
    { "cvpeopledetect",
      [] {
        return std::make_unique<lf::people_detector> (
            lf::people_detector::settings{});
      },
      vtest (quick ? 2 : 8) },
    { "cvqrdecode", [] { return std::make_unique<lf::qr_decoder> (); },
      vtest (quick ? 5 : 40) },
  };

  std::printf (
      "| element | frames x rounds | bare cv::Mat, ms/frame (median) "
      "| element, ms/frame (median) | element / bare | target <= 1.05 |\n"
      "| --- | --- | --- | --- | --- | --- |\n");
  int missed = 0;
  for (const bench &b : benches)
    {
      std::vector<double> bare, element;
      for (int round = 0; round < rounds; round++)
        {
          std::vector<double> times = time_bare (b.make, b.frames);
          bare.insert (bare.end (), times.begin (), times.end ());
          times = time_element (b.element, b.frames);
          element.insert (element.end (), times.begin (), times.end ());
        }
      double ratio = percentile (element, 0.5) / percentile (bare, 0.5);
      bool met = ratio <= 1.05;
      missed += met ? 0 : 1;
      std::printf ("| %s | %zu x %d | %.3f | %.3f | %.3f | %s |\n", b.element,
                   b.frames.size (), rounds, percentile (bare, 0.5),
                   percentile (element, 0.5), ratio, met ? "met" : "MISSED");
      std::fflush (stdout);
    }
  std::printf ("\n%d of %zu targets missed\n", missed, benches.size ());
  gst_deinit ();
  return 0;
}
