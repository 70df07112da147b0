/* A video buffer pool that allocates a buffer only when one is acquired
 * and none is free, never ahead, and keeps none between rare frames.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "lazypool.h"

/* Frames acquired further apart than this are rare: a free one is not
 * worth keeping until the next (at one decode a second, a 720p frame idle
 * for a second per camera), and freed memory serves other pipelines of
 * the process meanwhile. Four frames a second and more keep theirs. */
static constexpr gint64 rare_frame_interval_us = 250 * G_TIME_SPAN_MILLISECOND;

struct LatestFrameLazyPool
{
  GstVideoBufferPool parent;
  /* Under the object lock: when a buffer was last acquired, and how long
   * before that the one before (0 while unknown). */
  gint64 last_acquired_us;
  gint64 acquire_interval_us;
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

static GstFlowReturn
acquire_noting_when (GstBufferPool *pool, GstBuffer **buffer,
                     GstBufferPoolAcquireParams *params)
{
  LatestFrameLazyPool *self = reinterpret_cast<LatestFrameLazyPool *> (pool);
  const gint64 now = g_get_monotonic_time ();
  GST_OBJECT_LOCK (pool);
  if (self->last_acquired_us != 0)
    self->acquire_interval_us = now - self->last_acquired_us;
  self->last_acquired_us = now;
  GST_OBJECT_UNLOCK (pool);
  return GST_BUFFER_POOL_CLASS (latest_frame_lazy_pool_parent_class)
      ->acquire_buffer (pool, buffer, params);
}

/* A buffer of rare frames is freed (GstBufferPool discards a buffer whose
 * memory is tagged) rather than kept. */
static void
release_unless_rare (GstBufferPool *pool, GstBuffer *buffer)
{
  LatestFrameLazyPool *self = reinterpret_cast<LatestFrameLazyPool *> (pool);
  GST_OBJECT_LOCK (pool);
  const bool rare = self->acquire_interval_us > rare_frame_interval_us;
  GST_OBJECT_UNLOCK (pool);
  if (rare)
    GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_TAG_MEMORY);
  GST_BUFFER_POOL_CLASS (latest_frame_lazy_pool_parent_class)
      ->release_buffer (pool, buffer);
}

static void
latest_frame_lazy_pool_class_init (LatestFrameLazyPoolClass *klass)
{
  GstBufferPoolClass *pool_class = GST_BUFFER_POOL_CLASS (klass);
  pool_class->start = start_with_no_buffer;
  pool_class->acquire_buffer = acquire_noting_when;
  pool_class->release_buffer = release_unless_rare;
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
