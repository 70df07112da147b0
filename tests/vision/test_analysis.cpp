/* Unit tests of the OpenCV analyses on OpenCV's sample data (Debian's
 * opencv-doc): no GStreamer involved. */
#include "common/sample_data.h"
#include "latestframe/analysis.h"

#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <opencv2/videoio.hpp>

#include <cstdlib>
#include <stdexcept>
#include <string>

using namespace latestframe;

namespace
{

std::vector<cv::Mat>
vtest_frames (int count)
{
  cv::VideoCapture capture (sample ("vtest.avi"));
  EXPECT_TRUE (capture.isOpened ()) << "vtest.avi (Debian package opencv-doc)";
  std::vector<cv::Mat> frames;
  cv::Mat frame;
  while (static_cast<int> (frames.size ()) < count && capture.read (frame))
    frames.push_back (to_gray (frame, channel_order::bgr));
  return frames;
}

cv::Mat
messi_gray ()
{
  cv::Mat image = cv::imread (sample ("messi5.jpg"), cv::IMREAD_GRAYSCALE);
  EXPECT_FALSE (image.empty ()) << "messi5.jpg (Debian package opencv-doc)";
  return image;
}

/* The one face in messi5.jpg is at about x=227 y=94, 37x37. */
bool
is_messis_face (const cv::Rect &box)
{
  cv::Point centre = (box.tl () + box.br ()) / 2;
  return std::abs (centre.x - (227 + 18)) <= 12
         && std::abs (centre.y - (94 + 18)) <= 12 && box.width >= 25
         && box.width <= 60;
}

std::string
default_cascade ()
{
  return "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml";
}

/* An analysis that finds one fixed box, to check coordinate mapping. */
class fixed_box : public analysis
{
public:
  cv::Size seen;
  analysis_result analyse (const cv::Mat &gray) override
  {
    seen = gray.size ();
    return { { { "box", 1.0, cv::Rect (10, 20, 30, 40), {} } }, {} };
  }
};

} // namespace

// People walking in vtest.avi make motion regions once the model learnt.
TEST (Analysis_Motion, FindsMotionOnVtest)
{
  motion_detector motion ({});
  int frames_with_motion = 0;
  std::vector<cv::Mat> frames = vtest_frames (60);
  ASSERT_EQ (frames.size (), 60u);
  for (std::size_t i = 0; i < frames.size (); i++)
    {
      analysis_result result = motion.analyse (frames[i]);
      if (i >= 20 && !result.detections.empty ())
        frames_with_motion++;
      for (const detection &found : result.detections)
        EXPECT_EQ ((found.box & cv::Rect (0, 0, 768, 576)), found.box);
    }
  EXPECT_GE (frames_with_motion, 35);
}

// A still frame, once learnt, shows no motion.
TEST (Analysis_Motion, NoMotionOnStillFrame)
{
  motion_detector motion ({});
  cv::Mat still = vtest_frames (1).at (0);
  analysis_result result;
  for (int i = 0; i < 40; i++)
    result = motion.analyse (still);
  EXPECT_TRUE (result.detections.empty ());
  ASSERT_EQ (result.fields.size (), 2u);
  EXPECT_EQ (std::get<bool> (result.fields[0].value), false);
  EXPECT_DOUBLE_EQ (std::get<double> (result.fields[1].value), 0.0);
}

// One Gaussian a pixel (the light model) still finds the people walking
// in vtest.avi, and still learns a still frame.
TEST (Analysis_Motion, OneGaussianFindsMotionAndLearnsStillness)
{
  motion_detector::settings one_gaussian;
  one_gaussian.mixtures = 1;
  motion_detector motion (one_gaussian);
  std::vector<cv::Mat> frames = vtest_frames (60);
  ASSERT_EQ (frames.size (), 60u);
  int frames_with_motion = 0;
  for (std::size_t i = 0; i < frames.size (); i++)
    if (!motion.analyse (frames[i]).detections.empty () && i >= 20)
      frames_with_motion++;
  EXPECT_GE (frames_with_motion, 35);

  motion_detector still_scene (one_gaussian);
  analysis_result result;
  for (int i = 0; i < 40; i++)
    result = still_scene.analyse (frames[0]);
  EXPECT_TRUE (result.detections.empty ());
}

// Another number of Gaussians while running starts a new model: a model
// sized for one read as five would overrun it (ASan) or see motion
// everywhere. Learnt again, a still frame is still.
TEST (Analysis_Motion, ChangingMixturesLearnsAgain)
{
  motion_detector::settings settings;
  settings.mixtures = 1;
  motion_detector motion (settings);
  cv::Mat still = vtest_frames (1).at (0);
  for (int i = 0; i < 10; i++)
    motion.analyse (still);
  for (int mixtures : { 5, 2 })
    {
      settings.mixtures = mixtures;
      motion.configure (settings);
      analysis_result result;
      for (int i = 0; i < 40; i++)
        result = motion.analyse (still);
      EXPECT_TRUE (result.detections.empty ()) << mixtures << " Gaussians";
      EXPECT_DOUBLE_EQ (std::get<double> (result.fields[1].value), 0.0);
    }
}

// A model of no Gaussian (or more than the element offers) is refused,
// and a refused change leaves the detector learning as it was.
TEST (Analysis_Motion, MixturesOutOfRangeAreRefused)
{
  motion_detector::settings none;
  none.mixtures = 0;
  EXPECT_THROW (motion_detector{ none }, std::invalid_argument);

  motion_detector motion (motion_detector::settings{});
  cv::Mat still = vtest_frames (1).at (0);
  for (int mixtures : { 0, motion_detector::max_mixtures + 1 })
    {
      motion_detector::settings wanted;
      wanted.mixtures = mixtures;
      EXPECT_THROW (motion.configure (wanted), std::invalid_argument)
          << mixtures;
    }
  analysis_result result;
  for (int i = 0; i < 40; i++)
    result = motion.analyse (still);
  EXPECT_TRUE (result.detections.empty ());
}

// The face in messi5.jpg is found where it is.
TEST (Analysis_Face, FindsMessisFace)
{
  face_detector faces (default_cascade (), {});
  analysis_result result = faces.analyse (messi_gray ());
  ASSERT_FALSE (result.detections.empty ());
  bool found = false;
  for (const detection &face : result.detections)
    found = found || is_messis_face (face.box);
  EXPECT_TRUE (found);
  EXPECT_EQ (result.detections[0].label, "face");
  EXPECT_GT (result.detections[0].confidence, 0.0);
  EXPECT_LE (result.detections[0].confidence, 1.0);
}

// Shrunk to 400 pixels for the analysis, the face maps back to its place.
TEST (Analysis_Face, FindsMessisFaceThroughAnalysisWidth)
{
  face_detector faces (default_cascade (), {});
  cv::Mat messi = messi_gray ();
  analysis_result result = analyse_at_width (faces, messi, 400);
  bool found = false;
  for (const detection &face : result.detections)
    found = found || is_messis_face (face.box);
  EXPECT_TRUE (found);
}

// A missing or invalid cascade is an exception naming the path.
TEST (Analysis_Face, BadCascadeThrowsNamingThePath)
{
  try
    {
      face_detector faces ("/nonexistent/cascade.xml", {});
      FAIL () << "no exception";
    }
  catch (const std::runtime_error &error)
    {
      EXPECT_NE (std::string (error.what ()).find ("/nonexistent/cascade.xml"),
                 std::string::npos);
    }
  EXPECT_THROW (face_detector (sample ("messi5.jpg"), {}), std::runtime_error);
}

// People in vtest.avi are found by HOG.
TEST (Analysis_People, FindsPeopleOnVtest)
{
  people_detector people ({});
  std::vector<cv::Mat> frames = vtest_frames (41);
  std::size_t found = 0;
  for (std::size_t i = 0; i < frames.size (); i += 20)
    {
      analysis_result result = people.analyse (frames[i]);
      for (const detection &person : result.detections)
        {
          EXPECT_EQ (person.label, "person");
          EXPECT_GT (person.box.area (), 0);
        }
      found += result.detections.size ();
    }
  EXPECT_GE (found, 3u);
}

// A QR code made with OpenCV's encoder is decoded to its text.
TEST (Analysis_Qr, DecodesEncodedText)
{
  cv::Mat code;
  cv::QRCodeEncoder::create ()->encode ("latestframe 42", code);
  ASSERT_FALSE (code.empty ());
  cv::Mat big, framed;
  cv::resize (code, big, cv::Size (), 8, 8, cv::INTER_NEAREST);
  cv::copyMakeBorder (big, framed, 60, 60, 90, 90, cv::BORDER_CONSTANT,
                      cv::Scalar (255));
  qr_decoder qr;
  analysis_result result = qr.analyse (framed);
  ASSERT_EQ (result.detections.size (), 1u);
  EXPECT_EQ (result.detections[0].text, "latestframe 42");
  /* The encoder's image has a quiet zone of 2 modules (8 pixels each). */
  const cv::Rect symbol (90 + 16, 60 + 16, big.cols - 32, big.rows - 32);
  EXPECT_GT (overlap (result.detections[0].box, symbol), 0.8);
}

// analyse_at_width analyses a smaller image and maps boxes back.
TEST (Analysis_Scaling, MapsBoxesBackToFullFrame)
{
  fixed_box stub;
  cv::Mat frame (600, 800, CV_8UC1, cv::Scalar (0));
  analysis_result result = analyse_at_width (stub, frame, 400);
  EXPECT_EQ (stub.seen, cv::Size (400, 300));
  EXPECT_EQ (result.detections[0].box, cv::Rect (20, 40, 60, 80));
  analyse_at_width (stub, frame, 0);
  EXPECT_EQ (stub.seen, cv::Size (800, 600));
  analyse_at_width (stub, frame, 1000);
  EXPECT_EQ (stub.seen, cv::Size (800, 600)) << "never upscaled";
}

// Every channel order gives the gray OpenCV gives.
TEST (Analysis_Gray, ChannelOrdersMatchCvtColor)
{
  cv::Mat bgr (7, 5, CV_8UC3);
  cv::randu (bgr, 0, 255);
  cv::Mat expected, rgb, bgrx, rgbx;
  cv::cvtColor (bgr, expected, cv::COLOR_BGR2GRAY);
  cv::cvtColor (bgr, rgb, cv::COLOR_BGR2RGB);
  cv::cvtColor (bgr, bgrx, cv::COLOR_BGR2BGRA);
  cv::cvtColor (bgr, rgbx, cv::COLOR_BGR2RGBA);
  EXPECT_EQ (cv::norm (to_gray (bgr, channel_order::bgr), expected), 0);
  EXPECT_EQ (cv::norm (to_gray (rgb, channel_order::rgb), expected), 0);
  EXPECT_EQ (cv::norm (to_gray (bgrx, channel_order::bgrx), expected), 0);
  EXPECT_EQ (cv::norm (to_gray (rgbx, channel_order::rgbx), expected), 0);
  cv::Mat gray = to_gray (expected, channel_order::gray);
  EXPECT_EQ (gray.data, expected.data) << "gray is a view, not a copy";
}

// Boxes are drawn where they are said to be, nowhere else.
TEST (Analysis_Draw, DrawsBoxesWhereTold)
{
  cv::Mat image (100, 120, CV_8UC3, cv::Scalar (0, 0, 0));
  draw_boxes (image, channel_order::bgr,
              { { cv::Rect (30, 40, 50, 30), "", -1 } });
  EXPECT_EQ (image.at<cv::Vec3b> (40, 30), cv::Vec3b (0, 255, 255));
  EXPECT_EQ (image.at<cv::Vec3b> (55, 80), cv::Vec3b (0, 255, 255));
  EXPECT_EQ (image.at<cv::Vec3b> (55, 55), cv::Vec3b (0, 0, 0)) << "inside";
  EXPECT_EQ (image.at<cv::Vec3b> (5, 5), cv::Vec3b (0, 0, 0)) << "outside";
}

// Each axis maps back with its own scale: the analysed height is rounded.
TEST (Analysis_Scaling, MapsEachAxisWithItsOwnScale)
{
  fixed_box stub;
  cv::Mat frame (1080, 1920, CV_8UC1, cv::Scalar (0));
  analysis_result result = analyse_at_width (stub, frame, 100);
  ASSERT_EQ (stub.seen, cv::Size (100, 56));
  /* y 20..60 of 56 rows is 385.7..1157 of 1080: clamped to the frame. */
  EXPECT_EQ (result.detections[0].box.y, 386);
  EXPECT_EQ (result.detections[0].box.y + result.detections[0].box.height,
             1080);
}
