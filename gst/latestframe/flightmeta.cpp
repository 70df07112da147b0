/* A meta that keeps a handed-over frame's bytes counted in flight until the
 * buffer is finally released.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "flightmeta.h"

#include <memory>
#include <mutex>
#include <new>

namespace
{

struct LatestFrameFlightMeta
{
  GstMeta meta;
  /* C++ members, constructed in flight_meta_init() and destroyed in
   * flight_meta_free(). `own` holds the charge until the buffer is first
   * copied; from then on `shared` does, for the buffer and all its
   * copies. */
  latestframe::in_flight_charge own;
  std::shared_ptr<latestframe::in_flight_charge> shared;
};

/* Copies are rare (a tee, a writer making a shared buffer writable): one
 * process-wide lock serialises moving a charge into its shared form, which
 * concurrent copies of one buffer could otherwise both do. */
std::mutex &
copy_lock ()
{
  static std::mutex lock;
  return lock;
}

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

/* `params`: the charge to take over, or NULL (a copy's meta). */
gboolean
flight_meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  (void)buffer;
  auto *flight = reinterpret_cast<LatestFrameFlightMeta *> (meta);
  auto *charge = static_cast<latestframe::in_flight_charge *> (params);
  if (charge)
    new (&flight->own) latestframe::in_flight_charge (std::move (*charge));
  else
    new (&flight->own) latestframe::in_flight_charge ();
  new (&flight->shared) std::shared_ptr<latestframe::in_flight_charge> ();
  return TRUE;
}

void
flight_meta_free (GstMeta *meta, GstBuffer *buffer)
{
  (void)buffer;
  /* The buffer's last reference is gone: no copy of it can be under way,
   * and every copy made before is ordered before this by the reference
   * count. */
  auto *flight = reinterpret_cast<LatestFrameFlightMeta *> (meta);
  flight->shared.~shared_ptr ();
  flight->own.~in_flight_charge ();
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
  auto *copy = reinterpret_cast<LatestFrameFlightMeta *> (
      gst_buffer_add_meta (dest, flight_meta_get_info (), NULL));
  if (!copy)
    return FALSE;
  std::lock_guard<std::mutex> lock (copy_lock ());
  if (!source->shared)
    source->shared = std::make_shared<latestframe::in_flight_charge> (
        std::move (source->own));
  copy->shared = source->shared;
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
attach_flight_charge (GstBuffer *buffer, in_flight_charge charge)
{
  gst_buffer_add_meta (buffer, flight_meta_get_info (), &charge);
}

} // namespace latestframe
