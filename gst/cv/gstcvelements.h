/* The OpenCV analysis elements of the latestframe plugin.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE (cvmotion);
GST_ELEMENT_REGISTER_DECLARE (cvfacedetect);
GST_ELEMENT_REGISTER_DECLARE (cvpeopledetect);
GST_ELEMENT_REGISTER_DECLARE (cvqrdecode);
GST_ELEMENT_REGISTER_DECLARE (cvoverlay);

G_END_DECLS
