/* The region-of-interest metas of a frame as boxes to draw: one reading of
 * GstVideoRegionOfInterestMeta (its label, and the `detection` param's
 * confidence and text) for cvoverlay and for the capture's analysed
 * frames, so that a snapshot shows what cvoverlay would. C++, header only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/drawn_box.h"

#include <gst/video/video.h>

#include <vector>

namespace latestframe
{

inline std::vector<drawn_box>
boxes_of (GstBuffer *buffer)
{
  std::vector<drawn_box> boxes;
  gpointer state = NULL;
  GstMeta *meta;
  while ((meta = gst_buffer_iterate_meta_filtered (
              buffer, &state, GST_VIDEO_REGION_OF_INTEREST_META_API_TYPE)))
    {
      auto *region = reinterpret_cast<GstVideoRegionOfInterestMeta *> (meta);
      drawn_box box;
      box.box = cv::Rect (region->x, region->y, region->w, region->h);
      /* roi_type 0 (a meta added without a label) has no string. */
      const gchar *label = g_quark_to_string (region->roi_type);
      box.label = label ? label : "";
      GstStructure *detection
          = gst_video_region_of_interest_meta_get_param (region, "detection");
      gdouble confidence;
      if (detection
          && gst_structure_get_double (detection, "confidence", &confidence))
        box.confidence = confidence;
      const gchar *text
          = detection ? gst_structure_get_string (detection, "text") : NULL;
      if (text)
        box.label += std::string (": ") + text;
      boxes.push_back (std::move (box));
    }
  return boxes;
}

} // namespace latestframe
