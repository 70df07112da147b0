/* latestframe — OpenCV analyses as plain classes on cv::Mat.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "latestframe/analysis.h"

#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>
#include <opencv2/video/background_segm.hpp>

#ifdef HAVE_ZBAR
#include <zbar.h>
#endif

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace latestframe
{

analysis_result
analyse_at_width (analysis &what, const cv::Mat &gray, int analysis_width)
{
  if (analysis_width <= 0 || analysis_width >= gray.cols)
    return what.analyse (gray);
  const double scale = static_cast<double> (analysis_width) / gray.cols;
  const int height
      = std::max (1, static_cast<int> (std::lround (gray.rows * scale)));
  cv::Mat small;
  cv::resize (gray, small, cv::Size (analysis_width, height), 0, 0,
              cv::INTER_AREA);
  analysis_result result = what.analyse (small);
  const cv::Rect frame (0, 0, gray.cols, gray.rows);
  /* The height was rounded: each axis maps back with its own scale. */
  const double x_scale = static_cast<double> (small.cols) / gray.cols;
  const double y_scale = static_cast<double> (small.rows) / gray.rows;
  for (detection &found : result.detections)
    {
      cv::Rect &box = found.box;
      int x0 = static_cast<int> (std::lround (box.x / x_scale));
      int y0 = static_cast<int> (std::lround (box.y / y_scale));
      int x1 = static_cast<int> (std::lround ((box.x + box.width) / x_scale));
      int y1 = static_cast<int> (std::lround ((box.y + box.height) / y_scale));
      box = cv::Rect (cv::Point (x0, y0), cv::Point (x1, y1)) & frame;
    }
  return result;
}

cv::Mat
to_gray (const cv::Mat &image, channel_order order)
{
  if (order == channel_order::gray)
    return image;
  static const int codes[] = { 0, cv::COLOR_BGR2GRAY, cv::COLOR_RGB2GRAY,
                               cv::COLOR_BGRA2GRAY, cv::COLOR_RGBA2GRAY };
  cv::Mat gray;
  cv::cvtColor (image, gray, codes[static_cast<int> (order)]);
  return gray;
}

double
overlap (const cv::Rect &a, const cv::Rect &b)
{
  double shared = (a & b).area ();
  double either = a.area () + b.area () - shared;
  return either > 0 ? shared / either : 0.0;
}

struct motion_detector::impl
{
  cv::Ptr<cv::BackgroundSubtractorMOG2> subtractor;
  cv::Mat mask;
};

namespace
{

cv::Ptr<cv::BackgroundSubtractorMOG2>
make_subtractor (const motion_detector::settings &wanted)
{
  if (wanted.mixtures < 1 || wanted.mixtures > motion_detector::max_mixtures)
    throw std::invalid_argument (
        "motion: mixtures must be 1 to "
        + std::to_string (motion_detector::max_mixtures) + ", not "
        + std::to_string (wanted.mixtures));
  /* No shadow detection: a shadow that moves is motion here. */
  cv::Ptr<cv::BackgroundSubtractorMOG2> subtractor
      = cv::createBackgroundSubtractorMOG2 (wanted.history,
                                            wanted.var_threshold, false);
  subtractor->setNMixtures (wanted.mixtures);
  return subtractor;
}

} // namespace

motion_detector::motion_detector (const settings &initial)
    : settings_ (initial), impl_ (std::make_unique<impl> ())
{
  impl_->subtractor = make_subtractor (initial);
}

motion_detector::~motion_detector () = default;

void
motion_detector::configure (const settings &wanted)
{
  /* OpenCV sizes the model by the number of Gaussians when it first sees
   * a frame, and setNMixtures() on a model in use would read it with the
   * wrong stride: another number means a new model, learnt again. */
  if (wanted.mixtures != settings_.mixtures)
    impl_->subtractor = make_subtractor (wanted);
  else
    {
      if (wanted.history != settings_.history)
        impl_->subtractor->setHistory (wanted.history);
      if (wanted.var_threshold != settings_.var_threshold)
        impl_->subtractor->setVarThreshold (wanted.var_threshold);
    }
  settings_ = wanted;
}

analysis_result
motion_detector::analyse (const cv::Mat &gray)
{
  cv::Mat &mask = impl_->mask;
  impl_->subtractor->apply (gray, mask, settings_.learning_rate);
  /* Isolated pixels are noise, not motion. */
  cv::morphologyEx (
      mask, mask, cv::MORPH_OPEN,
      cv::getStructuringElement (cv::MORPH_RECT, cv::Size (3, 3)));
  const double frame_area = static_cast<double> (gray.total ());
  const double moving = cv::countNonZero (mask);

  std::vector<std::vector<cv::Point>> contours;
  cv::findContours (mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
  analysis_result result;
  for (const auto &contour : contours)
    {
      cv::Rect box = cv::boundingRect (contour);
      if (box.area () < settings_.min_area * frame_area)
        continue;
      /* How much of the region really moves. */
      double filled
          = cv::countNonZero (mask (box)) / static_cast<double> (box.area ());
      result.detections.push_back ({ "motion", filled, box, {} });
    }
  result.fields.push_back ({ "motion", !result.detections.empty () });
  result.fields.push_back ({ "motion-fraction", moving / frame_area });
  return result;
}

struct face_detector::impl
{
  cv::CascadeClassifier cascade;
  cv::Mat equalized;
};

face_detector::face_detector (const std::string &cascade_path,
                              const settings &initial)
    : settings_ (initial), impl_ (std::make_unique<impl> ())
{
  bool loaded = false;
  try
    {
      loaded = impl_->cascade.load (cascade_path);
    }
  catch (const cv::Exception &error)
    {
      throw std::runtime_error ("cannot load the cascade '" + cascade_path
                                + "': " + error.what ());
    }
  if (!loaded || impl_->cascade.empty ())
    throw std::runtime_error ("cannot load the cascade '" + cascade_path
                              + "': missing or not a cascade file");
}

face_detector::~face_detector () = default;

void
face_detector::configure (const settings &wanted)
{
  settings_ = wanted;
}

analysis_result
face_detector::analyse (const cv::Mat &gray)
{
  cv::equalizeHist (gray, impl_->equalized);
  std::vector<cv::Rect> faces;
  std::vector<int> neighbours;
  impl_->cascade.detectMultiScale (
      impl_->equalized, faces, neighbours, settings_.scale_factor,
      settings_.min_neighbors, 0,
      cv::Size (settings_.min_size, settings_.min_size));
  analysis_result result;
  for (std::size_t i = 0; i < faces.size (); i++)
    {
      /* Neighbour support mapped to 0..1: more overlapping hits, surer. */
      double support = i < neighbours.size () ? neighbours[i] : 0;
      result.detections.push_back (
          { "face", support / (support + 3.0), faces[i], {} });
    }
  return result;
}

struct people_detector::impl
{
  cv::HOGDescriptor hog;
};

people_detector::people_detector (const settings &initial)
    : settings_ (initial), impl_ (std::make_unique<impl> ())
{
  impl_->hog.setSVMDetector (cv::HOGDescriptor::getDefaultPeopleDetector ());
}

people_detector::~people_detector () = default;

void
people_detector::configure (const settings &wanted)
{
  settings_ = wanted;
}

analysis_result
people_detector::analyse (const cv::Mat &gray)
{
  analysis_result result;
  const cv::Size window = impl_->hog.winSize;
  if (gray.cols < window.width || gray.rows < window.height)
    return result;
  std::vector<cv::Rect> people;
  std::vector<double> weights;
  const int stride = std::max (1, settings_.win_stride);
  impl_->hog.detectMultiScale (gray, people, weights, settings_.hit_threshold,
                               cv::Size (stride, stride), cv::Size (),
                               std::max (1.01, settings_.scale));
  const cv::Rect frame (0, 0, gray.cols, gray.rows);
  for (std::size_t i = 0; i < people.size (); i++)
    {
      /* The SVM margin, squashed to 0..1. */
      double margin = i < weights.size () ? weights[i] : 0.0;
      result.detections.push_back ({ "person",
                                     1.0 / (1.0 + std::exp (-margin)),
                                     people[i] & frame,
                                     {} });
    }
  return result;
}

struct qr_decoder::impl
{
  cv::QRCodeDetector detector;
#ifdef HAVE_ZBAR
  zbar::ImageScanner scanner;
#endif
};

qr_decoder::qr_decoder () : impl_ (std::make_unique<impl> ())
{
#ifdef HAVE_ZBAR
  impl_->scanner.set_config (zbar::ZBAR_NONE, zbar::ZBAR_CFG_ENABLE, 0);
  impl_->scanner.set_config (zbar::ZBAR_QRCODE, zbar::ZBAR_CFG_ENABLE, 1);
#endif
}

qr_decoder::~qr_decoder () = default;

analysis_result
qr_decoder::analyse (const cv::Mat &gray)
{
  analysis_result result;
  const cv::Rect frame (0, 0, gray.cols, gray.rows);
#ifdef HAVE_ZBAR
  /* Debian's OpenCV is built without its QR decoder (QUIRC): zbar finds and
   * decodes the codes. It wants rows without padding. */
  cv::Mat packed = gray.isContinuous () ? gray : gray.clone ();
  zbar::Image image (packed.cols, packed.rows, "Y800", packed.data,
                     packed.total ());
  impl_->scanner.scan (image);
  for (auto symbol = image.symbol_begin (); symbol != image.symbol_end ();
       ++symbol)
    {
      std::vector<cv::Point> corners;
      for (int i = 0; i < symbol->get_location_size (); i++)
        corners.emplace_back (symbol->get_location_x (i),
                              symbol->get_location_y (i));
      cv::Rect box
          = corners.empty () ? cv::Rect () : cv::boundingRect (corners) & frame;
      result.detections.push_back ({ "qrcode", 1.0, box, symbol->get_data () });
    }
  image.set_data (nullptr, 0);
#else
  std::vector<std::string> texts;
  std::vector<cv::Point> corners;
  if (!impl_->detector.detectAndDecodeMulti (gray, texts, corners))
    return result;
  for (std::size_t i = 0; i < texts.size () && 4 * i + 3 < corners.size (); i++)
    {
      std::vector<cv::Point> quad (corners.begin () + 4 * i,
                                   corners.begin () + 4 * i + 4);
      cv::Rect box = cv::boundingRect (quad) & frame;
      /* Found but not decoded (an OpenCV without QUIRC): half sure. */
      result.detections.push_back (
          { "qrcode", texts[i].empty () ? 0.5 : 1.0, box, texts[i] });
    }
#endif
  return result;
}

void
draw_boxes (cv::Mat &image, channel_order order,
            const std::vector<drawn_box> &boxes)
{
  /* Yellow on colour, white on gray: visible on most scenes. */
  cv::Scalar colour;
  switch (order)
    {
    case channel_order::gray:
      colour = cv::Scalar (255);
      break;
    case channel_order::bgr:
    case channel_order::bgrx:
      colour = cv::Scalar (0, 255, 255, 255);
      break;
    case channel_order::rgb:
    case channel_order::rgbx:
      colour = cv::Scalar (255, 255, 0, 255);
      break;
    }
  for (const drawn_box &drawn : boxes)
    {
      cv::rectangle (image, drawn.box, colour, 2);
      std::string caption = drawn.label;
      if (drawn.confidence >= 0)
        caption += cv::format (" %.2f", drawn.confidence);
      if (caption.empty ())
        continue;
      int baseline = 0;
      cv::Size size = cv::getTextSize (caption, cv::FONT_HERSHEY_SIMPLEX, 0.5,
                                       1, &baseline);
      cv::Point origin (drawn.box.x, std::max (size.height, drawn.box.y - 4));
      cv::putText (image, caption, origin, cv::FONT_HERSHEY_SIMPLEX, 0.5,
                   colour, 1, cv::LINE_AA);
    }
}

} // namespace latestframe
