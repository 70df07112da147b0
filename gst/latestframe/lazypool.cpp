/* A video buffer pool that allocates a buffer only when one is acquired
 * and none is free, never ahead.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "lazypool.h"

struct LatestFrameLazyPool
{
  GstVideoBufferPool parent;
};

struct LatestFrameLazyPoolClass
{
  GstVideoBufferPoolClass parent_class;
};

G_DEFINE_TYPE (LatestFrameLazyPool, latest_frame_lazy_pool,
               GST_TYPE_VIDEO_BUFFER_POOL)

/* GstBufferPool's start allocates min-buffers; acquire allocates the rest
 * as needed, which is all this pool wants. */
static gboolean
start_with_no_buffer (GstBufferPool *)
{
  return TRUE;
}

static void
latest_frame_lazy_pool_class_init (LatestFrameLazyPoolClass *klass)
{
  GST_BUFFER_POOL_CLASS (klass)->start = start_with_no_buffer;
}

static void
latest_frame_lazy_pool_init (LatestFrameLazyPool *)
{
}

namespace latestframe
{

GstBufferPool *
lazy_video_buffer_pool_new ()
{
  /* Not floating, as gst_video_buffer_pool_new() returns its pools. */
  return GST_BUFFER_POOL_CAST (gst_object_ref_sink (
      g_object_new (latest_frame_lazy_pool_get_type (), nullptr)));
}

} // namespace latestframe
