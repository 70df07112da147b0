/* Tests of the OpenCV analysis elements on real media (opencv-doc's
 * vtest.avi and messi5.jpg) through GstHarness and real pipelines. */
#include "common/sample_data.h"
#include "latestframe/analysis.h"

#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

namespace
{

using latestframe::sample;

struct found_box
{
  std::string label;
  cv::Rect box;
  std::string text;
};

/* The detections of one element message. */
std::vector<found_box>
detections_of (const GstStructure *message)
{
  std::vector<found_box> found;
  const GValue *list = gst_structure_get_value (message, "detections");
  if (!list)
    return found;
  for (guint i = 0; i < gst_value_list_get_size (list); i++)
    {
      const GstStructure *s
          = gst_value_get_structure (gst_value_list_get_value (list, i));
      found_box box;
      gst_structure_get_int (s, "x", &box.box.x);
      gst_structure_get_int (s, "y", &box.box.y);
      gst_structure_get_int (s, "width", &box.box.width);
      gst_structure_get_int (s, "height", &box.box.height);
      box.label = gst_structure_get_string (s, "label");
      const gchar *text = gst_structure_get_string (s, "text");
      box.text = text ? text : "";
      found.push_back (box);
    }
  return found;
}

/* Runs a launch line to EOS; returns the element messages named `name`. */
std::vector<GstStructure *>
run_and_collect (const std::string &launch, const std::string &name)
{
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (launch.c_str (), &error);
  EXPECT_TRUE (pipeline != NULL) << (error ? error->message : "");
  g_clear_error (&error);
  std::vector<GstStructure *> messages;
  if (!pipeline)
    return messages;
  GstBus *bus = gst_element_get_bus (pipeline);
  EXPECT_NE (gst_element_set_state (pipeline, GST_STATE_PLAYING),
             GST_STATE_CHANGE_FAILURE);
  for (;;)
    {
      GstMessage *msg = gst_bus_timed_pop_filtered (
          bus, 120 * GST_SECOND,
          static_cast<GstMessageType> (GST_MESSAGE_EOS | GST_MESSAGE_ERROR
                                       | GST_MESSAGE_ELEMENT));
      EXPECT_TRUE (msg != NULL) << "no EOS in 120 s";
      if (!msg)
        break;
      GstMessageType type = GST_MESSAGE_TYPE (msg);
      if (type == GST_MESSAGE_ERROR)
        {
          GError *err = NULL;
          gst_message_parse_error (msg, &err, NULL);
          ADD_FAILURE () << err->message;
          g_clear_error (&err);
        }
      else if (type == GST_MESSAGE_ELEMENT
               && gst_structure_has_name (gst_message_get_structure (msg),
                                          name.c_str ()))
        messages.push_back (
            gst_structure_copy (gst_message_get_structure (msg)));
      gst_message_unref (msg);
      if (type != GST_MESSAGE_ELEMENT)
        break;
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return messages;
}

void
free_all (std::vector<GstStructure *> &messages)
{
  for (GstStructure *s : messages)
    gst_structure_free (s);
  messages.clear ();
}

bool
is_messis_face (const cv::Rect &box)
{
  cv::Point centre = (box.tl () + box.br ()) / 2;
  return std::abs (centre.x - (227 + 18)) <= 12
         && std::abs (centre.y - (94 + 18)) <= 12;
}

std::string
messi_launch (const std::string &format, const std::string &element)
{
  return "filesrc location=" + sample ("messi5.jpg")
         + " ! jpegdec ! videoconvert ! video/x-raw,format=" + format + " ! "
         + element + " ! fakesink";
}

/* A buffer holding `image` (8-bit, 1 or 3 channels) with rows `stride`
 * bytes apart, described by a GstVideoMeta. */
GstBuffer *
buffer_with_stride (const cv::Mat &image, GstVideoFormat format, int stride)
{
  const int row = image.cols * image.channels ();
  GstBuffer *buffer = gst_buffer_new_allocate (NULL, stride * image.rows, NULL);
  GstMapInfo map;
  gst_buffer_map (buffer, &map, GST_MAP_WRITE);
  memset (map.data, 0x5a, map.size); /* padding that must be ignored */
  for (int y = 0; y < image.rows; y++)
    memcpy (map.data + y * stride, image.ptr (y), row);
  gst_buffer_unmap (buffer, &map);
  gsize offsets[GST_VIDEO_MAX_PLANES] = { 0 };
  gint strides[GST_VIDEO_MAX_PLANES] = { stride };
  gst_buffer_add_video_meta_full (buffer, GST_VIDEO_FRAME_FLAG_NONE, format,
                                  image.cols, image.rows, 1, offsets, strides);
  return buffer;
}

std::string
caps_for (const cv::Mat &image, const char *format)
{
  return std::string ("video/x-raw,format=") + format
         + ",width=" + std::to_string (image.cols)
         + ",height=" + std::to_string (image.rows) + ",framerate=0/1";
}

/* The regions of interest a buffer carries, with their detection params. */
std::vector<found_box>
regions_of (GstBuffer *buffer)
{
  std::vector<found_box> found;
  gpointer state = NULL;
  GstMeta *meta;
  while ((meta = gst_buffer_iterate_meta_filtered (
              buffer, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE)))
    {
      auto *region = reinterpret_cast<GstVideoRegionOfInterestMeta *> (meta);
      found_box box;
      box.label = g_quark_to_string (region->roi_type);
      box.box = cv::Rect (region->x, region->y, region->w, region->h);
      GstStructure *detection
          = gst_video_region_of_interest_meta_get_param (region, "detection");
      if (detection && gst_structure_get_string (detection, "text"))
        box.text = gst_structure_get_string (detection, "text");
      found.push_back (box);
    }
  return found;
}

} // namespace

// cvmotion finds motion in vtest.avi's walking people.
TEST (CvMotion, FindsMotionInVtest)
{
  std::vector<GstStructure *> messages = run_and_collect (
      "filesrc location=" + sample ("vtest.avi")
          + " ! decodebin ! videoconvert ! video/x-raw,format=BGR "
            "! cvmotion ! fakesink sync=false",
      "cvmotion");
  ASSERT_GT (messages.size (), 100u);
  int moving = 0;
  for (std::size_t i = 20; i < messages.size (); i++)
    {
      gboolean motion = FALSE;
      EXPECT_TRUE (gst_structure_get_boolean (messages[i], "motion", &motion));
      if (motion && !detections_of (messages[i]).empty ())
        moving++;
    }
  EXPECT_GT (moving, static_cast<int> (messages.size ()) / 2);
  free_all (messages);
}

// cvmotion reports no motion on a still frame once it learnt it.
TEST (CvMotion, NoMotionOnStillFrame)
{
  std::vector<GstStructure *> messages = run_and_collect (
      "filesrc location=" + sample ("messi5.jpg")
          + " ! jpegdec ! imagefreeze num-buffers=40 ! videoconvert "
            "! cvmotion ! fakesink sync=false",
      "cvmotion");
  ASSERT_EQ (messages.size (), 40u);
  for (std::size_t i = 20; i < messages.size (); i++)
    EXPECT_TRUE (detections_of (messages[i]).empty ());
  free_all (messages);
}

// cvfacedetect finds messi5.jpg's face, in every format as in BGR. GRAY8,
// I420 and NV12 give the analysis the limited-range luma videoconvert makes,
// packed RGB a full-range gray: only the weakest hits (min-neighbors 3) can
// differ, so the faces are compared at min-neighbors 6.
TEST (CvFaceDetect, SameFaceInEveryFormat)
{
  std::vector<GstStructure *> bgr = run_and_collect (
      messi_launch ("BGR", "cvfacedetect min-neighbors=6"), "cvfacedetect");
  ASSERT_EQ (bgr.size (), 1u);
  std::vector<found_box> reference = detections_of (bgr[0]);
  ASSERT_FALSE (reference.empty ());
  bool messi = false;
  for (const found_box &face : reference)
    messi = messi || is_messis_face (face.box);
  EXPECT_TRUE (messi);
  free_all (bgr);
  for (const char *format :
       { "BGRx", "BGRA", "RGB", "RGBx", "RGBA", "GRAY8", "I420", "NV12" })
    {
      std::vector<GstStructure *> other = run_and_collect (
          messi_launch (format, "cvfacedetect min-neighbors=6"),
          "cvfacedetect");
      ASSERT_EQ (other.size (), 1u) << format;
      std::vector<found_box> faces = detections_of (other[0]);
      ASSERT_EQ (faces.size (), reference.size ()) << format;
      /* In any order: OpenCV's parallel search does not keep one. */
      for (const found_box &wanted : reference)
        {
          double best = 0;
          for (const found_box &face : faces)
            best = std::max (best, latestframe::overlap (face.box, wanted.box));
          EXPECT_GT (best, 0.8) << format;
        }
      free_all (other);
    }
}

// With analysis-width, the face is still reported where it is.
TEST (CvFaceDetect, AnalysisWidthMapsBackToFullFrame)
{
  std::vector<GstStructure *> messages = run_and_collect (
      messi_launch ("BGR", "cvfacedetect analysis-width=400"), "cvfacedetect");
  ASSERT_EQ (messages.size (), 1u);
  bool messi = false;
  for (const found_box &face : detections_of (messages[0]))
    messi = messi || is_messis_face (face.box);
  EXPECT_TRUE (messi);
  free_all (messages);
}

// A missing cascade fails READY->PAUSED with a RESOURCE error naming it.
TEST (CvFaceDetect, MissingCascadeIsAResourceError)
{
  for (const std::string &path :
       { std::string ("/nonexistent/cascade.xml"), sample ("messi5.jpg") })
    {
      GstElement *pipeline = gst_parse_launch (
          ("videotestsrc ! cvfacedetect cascade=" + path + " ! fakesink")
              .c_str (),
          NULL);
      ASSERT_TRUE (pipeline != NULL);
      EXPECT_EQ (gst_element_set_state (pipeline, GST_STATE_PAUSED),
                 GST_STATE_CHANGE_FAILURE);
      GstBus *bus = gst_element_get_bus (pipeline);
      GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
      ASSERT_TRUE (msg != NULL);
      GError *error = NULL;
      gst_message_parse_error (msg, &error, NULL);
      EXPECT_EQ (error->domain, GST_RESOURCE_ERROR);
      EXPECT_NE (std::string (error->message).find (path), std::string::npos)
          << error->message;
      g_clear_error (&error);
      gst_message_unref (msg);
      gst_object_unref (bus);
      gst_element_set_state (pipeline, GST_STATE_NULL);
      gst_object_unref (pipeline);
    }
}

// Padded and odd strides (a GstVideoMeta) give the same faces as packed rows.
TEST (CvFaceDetect, OddStridesGiveTheSameFaces)
{
  cv::Mat messi = cv::imread (sample ("messi5.jpg"));
  ASSERT_FALSE (messi.empty ());
  cv::Mat odd = messi (cv::Rect (0, 0, 451, 341)).clone (); /* odd width */
  std::vector<std::vector<found_box>> results;
  for (int stride : { 451 * 3, 451 * 3 + 61, 451 * 3 + 256 })
    {
      GstHarness *h = gst_harness_new ("cvfacedetect");
      gst_harness_set_src_caps_str (h, caps_for (odd, "BGR").c_str ());
      GstBuffer *out = gst_harness_push_and_pull (
          h, buffer_with_stride (odd, GST_VIDEO_FORMAT_BGR, stride));
      ASSERT_TRUE (out != NULL);
      results.push_back (regions_of (out));
      gst_buffer_unref (out);
      gst_harness_teardown (h);
    }
  ASSERT_FALSE (results[0].empty ());
  for (std::size_t r = 1; r < results.size (); r++)
    {
      ASSERT_EQ (results[r].size (), results[0].size ());
      for (std::size_t i = 0; i < results[0].size (); i++)
        EXPECT_EQ (results[r][i].box, results[0][i].box);
    }
}

// cvpeopledetect finds people in vtest.avi frames, as metas and messages.
TEST (CvPeopleDetect, FindsPeopleInVtest)
{
  cv::VideoCapture capture (sample ("vtest.avi"));
  ASSERT_TRUE (capture.isOpened ());
  GstHarness *h = gst_harness_new ("cvpeopledetect");
  cv::Mat frame;
  ASSERT_TRUE (capture.read (frame));
  gst_harness_set_src_caps_str (h, caps_for (frame, "BGR").c_str ());
  std::size_t people = 0;
  for (int i = 0; i < 60; i++)
    {
      ASSERT_TRUE (capture.read (frame));
      if (i % 20 != 0)
        continue;
      GstBuffer *out = gst_harness_push_and_pull (
          h, buffer_with_stride (frame, GST_VIDEO_FORMAT_BGR, frame.cols * 3));
      for (const found_box &person : regions_of (out))
        {
          EXPECT_EQ (person.label, "person");
          people++;
        }
      gst_buffer_unref (out);
    }
  EXPECT_GE (people, 3u);
  gst_harness_teardown (h);
}

/* What a whole run of a file pipeline gave: the element messages of the
 * analysis, and the final stats of the latestframe named "latest". */
struct file_run
{
  std::size_t analysed = 0;
  guint64 received = 0;
  guint64 pushed = 0;
  guint64 dropped = 0;
  gboolean upstream_live = TRUE;
};

file_run
run_file (const std::string &launch, const std::string &analysis)
{
  file_run run;
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (launch.c_str (), &error);
  EXPECT_TRUE (pipeline != NULL) << (error ? error->message : "");
  g_clear_error (&error);
  if (!pipeline)
    return run;
  GstElement *latest = gst_bin_get_by_name (GST_BIN (pipeline), "latest");
  GstBus *bus = gst_element_get_bus (pipeline);
  EXPECT_NE (gst_element_set_state (pipeline, GST_STATE_PLAYING),
             GST_STATE_CHANGE_FAILURE);
  for (bool done = false; !done;)
    {
      GstMessage *msg = gst_bus_timed_pop_filtered (
          bus, 300 * GST_SECOND,
          static_cast<GstMessageType> (GST_MESSAGE_EOS | GST_MESSAGE_ERROR
                                       | GST_MESSAGE_ELEMENT));
      EXPECT_TRUE (msg != NULL) << "no EOS in 300 s";
      if (!msg)
        break;
      if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT)
        run.analysed += gst_structure_has_name (
            gst_message_get_structure (msg), analysis.c_str ());
      else
        done = true;
      if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
        ADD_FAILURE () << "error from " << GST_OBJECT_NAME (GST_MESSAGE_SRC (msg));
      gst_message_unref (msg);
    }
  GstStructure *stats = NULL;
  g_object_get (latest, "stats", &stats, NULL);
  gst_structure_get_uint64 (stats, "received", &run.received);
  gst_structure_get_uint64 (stats, "pushed", &run.pushed);
  gst_structure_get_uint64 (stats, "dropped", &run.dropped);
  gst_structure_get_boolean (stats, "upstream-live", &run.upstream_live);
  gst_structure_free (stats);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (latest);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return run;
}

/* The acceptance line for files, with the analysis made small (people are
 * still found at 192 pixels wide) and a 3 ms stage after it, so that the
 * consumer is surely slower than the decoder. */
std::string
vtest_people (const std::string &latestframe_settings)
{
  return "filesrc location=" + sample ("vtest.avi")
         + " ! decodebin ! latestframe name=latest " + latestframe_settings
         + " ! videoconvert ! cvpeopledetect analysis-width=192"
           " ! identity sleep-time=3000 ! fakesink";
}

// A file is not a camera: by default latestframe holds the decoder up and
// every one of vtest.avi's 795 frames is analysed; none is dropped.
TEST (LatestFrameOnFiles, EveryFrameOfAFileIsAnalysed)
{
  file_run run = run_file (vtest_people (""), "cvpeopledetect");
  EXPECT_FALSE (run.upstream_live);
  EXPECT_EQ (run.received, 795u);
  EXPECT_EQ (run.pushed, 795u);
  EXPECT_EQ (run.dropped, 0u);
  EXPECT_EQ (run.analysed, 795u);
}

// leaky-non-live=true drops for a file as for a live camera: the slow
// analysis sees only some of the frames, the rest are counted as dropped.
TEST (LatestFrameOnFiles, LeakyNonLiveDropsForFilesToo)
{
  file_run run = run_file (vtest_people ("leaky-non-live=true"),
                           "cvpeopledetect");
  EXPECT_EQ (run.received, 795u);
  EXPECT_GT (run.dropped, 0u);
  EXPECT_EQ (run.pushed + run.dropped, 795u);
  EXPECT_EQ (run.analysed, run.pushed);
}

// cvqrdecode decodes a QR code made by OpenCV's encoder to its text.
TEST (CvQrDecode, DecodesOpenCvQrCode)
{
  cv::Mat code, big, framed;
  cv::QRCodeEncoder::create ()->encode ("rtsp://127.0.0.1:8554/cam", code);
  cv::resize (code, big, cv::Size (), 6, 6, cv::INTER_NEAREST);
  cv::copyMakeBorder (big, framed, 41, 41, 77, 78, cv::BORDER_CONSTANT,
                      cv::Scalar (255));
  GstHarness *h = gst_harness_new ("cvqrdecode");
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  gst_harness_set_src_caps_str (h, caps_for (framed, "GRAY8").c_str ());
  GstBuffer *out = gst_harness_push_and_pull (
      h, buffer_with_stride (framed, GST_VIDEO_FORMAT_GRAY8, framed.cols + 3));
  std::vector<found_box> regions = regions_of (out);
  ASSERT_EQ (regions.size (), 1u);
  EXPECT_EQ (regions[0].label, "qrcode");
  EXPECT_EQ (regions[0].text, "rtsp://127.0.0.1:8554/cam");
  gst_buffer_unref (out);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  ASSERT_TRUE (msg != NULL);
  std::vector<found_box> found
      = detections_of (gst_message_get_structure (msg));
  ASSERT_EQ (found.size (), 1u);
  EXPECT_EQ (found[0].text, "rtsp://127.0.0.1:8554/cam");
  gst_message_unref (msg);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

// cvoverlay draws where the metas say, and passes frames without metas
// untouched (the very buffer).
TEST (CvOverlay, DrawsWhereMetasSayOnly)
{
  cv::Mat black (48, 64, CV_8UC3, cv::Scalar (0, 0, 0));
  GstHarness *h = gst_harness_new ("cvoverlay");
  gst_harness_set_src_caps_str (h, caps_for (black, "BGR").c_str ());

  GstBuffer *plain = buffer_with_stride (black, GST_VIDEO_FORMAT_BGR, 64 * 3);
  GstBuffer *out = gst_harness_push_and_pull (h, gst_buffer_ref (plain));
  EXPECT_EQ (out, plain);
  gst_buffer_unref (out);
  gst_buffer_unref (plain);

  GstBuffer *marked = buffer_with_stride (black, GST_VIDEO_FORMAT_BGR, 64 * 3);
  gst_buffer_add_video_region_of_interest_meta (marked, "thing", 10, 12, 20,
                                                16);
  out = gst_harness_push_and_pull (h, marked);
  GstMapInfo map;
  ASSERT_TRUE (gst_buffer_map (out, &map, GST_MAP_READ));
  cv::Mat drawn (48, 64, CV_8UC3, map.data, 64 * 3);
  EXPECT_EQ (drawn.at<cv::Vec3b> (12, 10), cv::Vec3b (0, 255, 255));
  EXPECT_EQ (drawn.at<cv::Vec3b> (27, 29), cv::Vec3b (0, 255, 255));
  EXPECT_EQ (drawn.at<cv::Vec3b> (20, 20), cv::Vec3b (0, 0, 0)) << "inside";
  EXPECT_EQ (drawn.at<cv::Vec3b> (40, 60), cv::Vec3b (0, 0, 0)) << "outside";
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);

  /* A meta without a label (roi_type 0) is drawn, not a crash. */
  GstBuffer *unlabelled
      = buffer_with_stride (black, GST_VIDEO_FORMAT_BGR, 64 * 3);
  gst_buffer_add_video_region_of_interest_meta_id (unlabelled, 0, 5, 5, 10, 10);
  out = gst_harness_push_and_pull (h, unlabelled);
  ASSERT_TRUE (out != NULL);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
