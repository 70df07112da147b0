/* LatestFrameInfoMeta: what latestframe says of each frame it pushes, for
 * the elements downstream (mqttpublish) and applications. Plain C, header
 * only: the plugins that write or read it (latestframe, latestframemqtt)
 * and the tests include it; whichever loads first registers it, by name,
 * and the others find it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define LATEST_FRAME_INFO_META_API_NAME "LatestFrameInfoMetaAPI"
#define LATEST_FRAME_INFO_META_NAME "LatestFrameInfoMeta"

/**
 * LatestFrameInfoMeta:
 * @meta: the parent #GstMeta
 * @sequence: 1 for the first frame latestframe received (gaps: the frames
 *   it dropped)
 * @running_time: the frame's running time, ns, or %GST_CLOCK_TIME_NONE
 * @age: how old it was when handed over, ns, or -1 when unknown
 * @capture_time: when the camera captured it, Unix ns on this host's
 *   clock, when the frame was aged from its capture time; else
 *   %GST_CLOCK_TIME_NONE
 *
 * Plain fields: adding it costs the meta's slot and nothing else (no
 * structure), and copying it (videoconvert and the analyses keep it: its
 * API has no tags) copies the fields.
 */
typedef struct
{
  GstMeta meta;
  guint64 sequence;
  GstClockTime running_time;
  gint64 age;
  GstClockTime capture_time;
} LatestFrameInfoMeta;

static inline gboolean
latest_frame_info_meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  LatestFrameInfoMeta *info = (LatestFrameInfoMeta *)meta;
  (void)params;
  (void)buffer;
  info->sequence = 0;
  info->running_time = GST_CLOCK_TIME_NONE;
  info->age = -1;
  info->capture_time = GST_CLOCK_TIME_NONE;
  return TRUE;
}

static inline gboolean
latest_frame_info_meta_transform (GstBuffer *destination, GstMeta *meta,
                                  GstBuffer *source, GQuark type,
                                  gpointer data)
{
  (void)source;
  (void)data;
  /* Copies (whole or in part: the frame is the same frame); conversions of
   * the picture keep what it says too, it is about the frame, not its
   * pixels. */
  (void)type;
  LatestFrameInfoMeta *from = (LatestFrameInfoMeta *)meta;
  LatestFrameInfoMeta *to = (LatestFrameInfoMeta *)gst_buffer_add_meta (
      destination, meta->info, NULL);
  if (!to)
    return FALSE;
  to->sequence = from->sequence;
  to->running_time = from->running_time;
  to->age = from->age;
  to->capture_time = from->capture_time;
  return TRUE;
}

/* Registers the API and the implementation unless someone in the process
 * did already (both plugins call it; the first registration stands). */
static inline const GstMetaInfo *
latest_frame_info_meta_get_info (void)
{
  static gsize once = 0;
  static const GstMetaInfo *info = NULL;
  if (g_once_init_enter (&once))
    {
      GType api = g_type_from_name (LATEST_FRAME_INFO_META_API_NAME);
      if (api == 0)
        {
          static const gchar *no_tags[] = { NULL };
          api = gst_meta_api_type_register (LATEST_FRAME_INFO_META_API_NAME,
                                            no_tags);
        }
      info = gst_meta_get_info (LATEST_FRAME_INFO_META_NAME);
      if (!info)
        info = gst_meta_register (api, LATEST_FRAME_INFO_META_NAME,
                                  sizeof (LatestFrameInfoMeta),
                                  latest_frame_info_meta_init, NULL,
                                  latest_frame_info_meta_transform);
      g_once_init_leave (&once, 1);
    }
  return info;
}

/* The frame's meta, or NULL. */
static inline LatestFrameInfoMeta *
latest_frame_info_meta_get (GstBuffer *buffer)
{
  const GstMetaInfo *info = latest_frame_info_meta_get_info ();
  return info ? (LatestFrameInfoMeta *)gst_buffer_get_meta (buffer, info->api)
              : NULL;
}

G_END_DECLS
