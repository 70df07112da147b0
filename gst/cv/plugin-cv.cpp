/* Registers the latestframecv plugin: the OpenCV analysis elements.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "gstcvelements.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean registered = GST_ELEMENT_REGISTER (cvmotion, plugin);
  registered &= GST_ELEMENT_REGISTER (cvfacedetect, plugin);
  registered &= GST_ELEMENT_REGISTER (cvpeopledetect, plugin);
  registered &= GST_ELEMENT_REGISTER (cvqrdecode, plugin);
  registered &= GST_ELEMENT_REGISTER (cvoverlay, plugin);
  return registered;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, latestframecv,
                   "OpenCV analyses that publish region-of-interest metas and "
                   "bus messages",
                   plugin_init, VERSION, "LGPL", PACKAGE, PACKAGE_ORIGIN)
