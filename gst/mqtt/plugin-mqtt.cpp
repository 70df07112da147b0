/* Registers the latestframemqtt plugin: mqttpublish alone, so that neither
 * the latestframe plugin nor the OpenCV one needs libmosquitto.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "config.h"

#include "frameinfometa.h"
#include "gstmqttpublish.h"

static gboolean
plugin_init (GstPlugin *plugin)
{
  /* latestframe registers it too, whichever loads first. */
  latest_frame_info_meta_get_info ();
  return GST_ELEMENT_REGISTER (mqttpublish, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, latestframemqtt,
                   "Publishes each frame's detections to an MQTT broker as "
                   "JSON",
                   plugin_init, VERSION, "LGPL", PACKAGE, PACKAGE_ORIGIN)
