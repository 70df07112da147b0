/* A meta that keeps a pushed frame's bytes charged until the buffer is
 * finally released.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "flightmeta.h"

#include <new>

namespace
{

struct FlightCharge
{
  std::shared_ptr<latestframe::frame_charge> charge;
};

struct LatestFrameFlightMeta
{
  GstMeta meta;
  /* C++ state: created in attach_flight_charge() or a copy, destroyed in
   * flight_meta_free(). */
  FlightCharge *flight;
};

GType
flight_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { "latestframe-flight", NULL };
  if (g_once_init_enter (&type))
    {
      GType api = gst_meta_api_type_register ("LatestFrameFlightMetaAPI", tags);
      g_once_init_leave (&type, api);
    }
  return type;
}

FlightCharge *
new_flight (std::shared_ptr<latestframe::frame_charge> charge)
{
  return new (g_malloc (sizeof (FlightCharge)))
      FlightCharge{ std::move (charge) };
}

gboolean
flight_meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  (void)params;
  (void)buffer;
  reinterpret_cast<LatestFrameFlightMeta *> (meta)->flight = NULL;
  return TRUE;
}

void
flight_meta_free (GstMeta *meta, GstBuffer *buffer)
{
  (void)buffer;
  auto *flight_meta = reinterpret_cast<LatestFrameFlightMeta *> (meta);
  if (flight_meta->flight)
    {
      flight_meta->flight->~FlightCharge ();
      g_free (flight_meta->flight);
      flight_meta->flight = NULL;
    }
}

const GstMetaInfo *flight_meta_get_info (void);

gboolean
flight_meta_transform (GstBuffer *dest, GstMeta *meta, GstBuffer *buffer,
                       GQuark type, gpointer data)
{
  (void)buffer;
  (void)data;
  if (!GST_META_TRANSFORM_IS_COPY (type))
    return FALSE;
  auto *source = reinterpret_cast<LatestFrameFlightMeta *> (meta);
  if (!source->flight)
    return TRUE;
  auto *copy = reinterpret_cast<LatestFrameFlightMeta *> (
      gst_buffer_add_meta (dest, flight_meta_get_info (), NULL));
  if (!copy)
    return FALSE;
  copy->flight = new_flight (source->flight->charge);
  return TRUE;
}

const GstMetaInfo *
flight_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;
  if (g_once_init_enter (&info))
    {
      const GstMetaInfo *registered = gst_meta_register (
          flight_meta_api_get_type (), "LatestFrameFlightMeta",
          sizeof (LatestFrameFlightMeta), flight_meta_init, flight_meta_free,
          flight_meta_transform);
      g_once_init_leave (&info, registered);
    }
  return info;
}

} // namespace

namespace latestframe
{

void
attach_flight_charge (GstBuffer *buffer, std::shared_ptr<frame_charge> charge)
{
  auto *meta = reinterpret_cast<LatestFrameFlightMeta *> (
      gst_buffer_add_meta (buffer, flight_meta_get_info (), NULL));
  meta->flight = new_flight (std::move (charge));
}

} // namespace latestframe
