/* Registers the latestframe plugin's elements.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "gstlatestframe.h"
#ifdef HAVE_OPENCV
#include "gstcvelements.h"
#endif

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean registered = GST_ELEMENT_REGISTER (latestframe, plugin);
#ifdef HAVE_OPENCV
  registered &= GST_ELEMENT_REGISTER (cvmotion, plugin);
  registered &= GST_ELEMENT_REGISTER (cvfacedetect, plugin);
  registered &= GST_ELEMENT_REGISTER (cvpeopledetect, plugin);
  registered &= GST_ELEMENT_REGISTER (cvqrdecode, plugin);
  registered &= GST_ELEMENT_REGISTER (cvoverlay, plugin);
#endif
  return registered;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, latestframe,
                   "Newest-frame queueing and real-time video analysis",
                   plugin_init, VERSION, "LGPL", PACKAGE, PACKAGE_ORIGIN)
