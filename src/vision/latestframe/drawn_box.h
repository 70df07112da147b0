/* latestframe — a detection as it is drawn on its frame.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Its own header, installed with the capture's: the capture hands out the
 * boxes of an analysed frame (capture::last_analysed) in this form, and
 * draw_boxes (analysis.h) draws them, as cvoverlay does. */
#pragma once

#include <opencv2/core.hpp>

#include <string>

namespace latestframe
{

/* A box to draw: where, what, how sure. */
struct drawn_box
{
  cv::Rect box;
  std::string label;
  double confidence = -1.0; /* < 0: not shown */
};

} // namespace latestframe
