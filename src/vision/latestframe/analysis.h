/* latestframe — OpenCV analyses as plain classes on cv::Mat.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/drawn_box.h"

#include <opencv2/core.hpp>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace latestframe
{

/* One thing an analysis found, in the coordinates of the image it was
 * given. */
struct detection
{
  std::string label;
  double confidence = 0.0;
  cv::Rect box;
  std::string text; /* decoded text, where there is one */
};

/* A named figure an analysis reports besides its detections. */
struct result_field
{
  std::string name;
  std::variant<bool, double> value;
};

struct analysis_result
{
  std::vector<detection> detections;
  std::vector<result_field> fields;
};

/* An analysis of 8-bit grayscale images (CV_8UC1, any stride). Each call
 * may keep state (a background model); one thread at a time. */
class analysis
{
public:
  virtual ~analysis () = default;
  virtual analysis_result analyse (const cv::Mat &gray) = 0;
};

/* Runs `what` on `gray` shrunk to `analysis_width` pixels wide (0, or not
 * smaller than the image: as it is), and maps the detections back to
 * `gray`'s coordinates. */
analysis_result analyse_at_width (analysis &what, const cv::Mat &gray,
                                  int analysis_width);

/* A grayscale view or copy of an 8-bit image of 1, 3 or 4 channels in the
 * given channel order: no copy for 1 channel. */
enum class channel_order
{
  gray,
  bgr,
  rgb,
  bgrx,
  rgbx,
};
cv::Mat to_gray (const cv::Mat &image, channel_order order);

/* Intersection over union of two boxes, 0 to 1. */
double overlap (const cv::Rect &a, const cv::Rect &b);

/* MOG2 background subtraction into motion regions. */
class motion_detector : public analysis
{
public:
  struct settings
  {
    int history = 500;
    double var_threshold = 16.0;
    double min_area = 0.001;     /* of the frame, for a region to count */
    double learning_rate = -1.0; /* < 0: automatic */
    /* Gaussians a pixel's background may be made of (OpenCV's default 5).
     * The model is 12 bytes a pixel a Gaussian: at 320x180, 3.3 MiB with
     * 5 and 0.66 MiB with 1, which still learns a still scene but not one
     * whose pixels switch between looks (leaves and sky). 1 to
     * max_mixtures. */
    int mixtures = 5;
  };
  static constexpr int max_mixtures = 5;

  /* Both throw std::invalid_argument when mixtures is not 1 to
   * max_mixtures (OpenCV would make a model of no Gaussian, which calls
   * every pixel motion); configure() then leaves the detector as it was. */
  explicit motion_detector (const settings &initial);
  ~motion_detector () override;
  void configure (const settings &wanted);
  analysis_result analyse (const cv::Mat &gray) override;

private:
  struct impl;
  settings settings_;
  std::unique_ptr<impl> impl_;
};

/* Haar cascade detection (faces with OpenCV's frontal-face cascade). */
class face_detector : public analysis
{
public:
  struct settings
  {
    double scale_factor = 1.1;
    int min_neighbors = 3;
    int min_size = 0; /* pixels, square; 0 = the cascade's own */
  };

  /* Throws std::runtime_error naming the path when the cascade cannot be
   * loaded. */
  face_detector (const std::string &cascade_path, const settings &initial);
  ~face_detector () override;
  void configure (const settings &wanted);
  analysis_result analyse (const cv::Mat &gray) override;

private:
  struct impl;
  settings settings_;
  std::unique_ptr<impl> impl_;
};

/* HOG with OpenCV's default people detector. */
class people_detector : public analysis
{
public:
  struct settings
  {
    double hit_threshold = 0.0;
    int win_stride = 8; /* pixels */
    double scale = 1.05;
  };

  explicit people_detector (const settings &initial);
  ~people_detector () override;
  void configure (const settings &wanted);
  analysis_result analyse (const cv::Mat &gray) override;

private:
  struct impl;
  settings settings_;
  std::unique_ptr<impl> impl_;
};

/* QR code detection and decoding; detections carry the decoded text. */
class qr_decoder : public analysis
{
public:
  qr_decoder ();
  ~qr_decoder () override;
  analysis_result analyse (const cv::Mat &gray) override;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/* Draws boxes with their labels (and confidence) on an 8-bit image of 1, 3
 * or 4 channels in place. */
void draw_boxes (cv::Mat &image, channel_order order,
                 const std::vector<drawn_box> &boxes);

} // namespace latestframe
