/* Registers the latestframe plugin: the latestframe element,
 * rtpinorderbuffer (the capture's jitter buffer for RTSP over TCP) and
 * rtph264audepay (its H.264 depayloader, whole access units), so that
 * using them never loads OpenCV (the analysis elements are in
 * latestframecv).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "gstlatestframe.h"
#include "gstrtph264audepay.h"
#include "gstrtpinorderbuffer.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  gboolean ok = GST_ELEMENT_REGISTER (latestframe, plugin);
  ok &= GST_ELEMENT_REGISTER (rtpinorderbuffer, plugin);
  ok &= GST_ELEMENT_REGISTER (rtph264audepay, plugin);
  return ok;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, latestframe,
                   "Newest-frame queueing with memory accounting", plugin_init,
                   VERSION, "LGPL", PACKAGE, PACKAGE_ORIGIN)
