/* Registers the latestframe plugin: the latestframe element alone, so that
 * using it never loads OpenCV (the analysis elements are in latestframecv).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "gstlatestframe.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  return GST_ELEMENT_REGISTER (latestframe, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, latestframe,
                   "Newest-frame queueing with memory accounting", plugin_init,
                   VERSION, "LGPL", PACKAGE, PACKAGE_ORIGIN)
