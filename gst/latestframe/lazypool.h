/* A video buffer pool that allocates a buffer only when one is acquired
 * and none is free, never ahead.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/video/video.h>

namespace latestframe
{

/* A GstVideoBufferPool (video meta, alignment) whose activation allocates
 * nothing: GstBufferPool's own start allocates min-buffers at once, and
 * GstVideoDecoder and gst-libav make or configure their pool with the
 * min-buffers downstream asks for. latestframe asks room for the frames it
 * may keep (as min-buffers, so that a bounded pool never waits on it), and
 * proposes this pool when nothing downstream proposes one: a decoder that
 * takes it allocates the frames in use and no more. At one frame a second
 * (decode=key-units) that is one frame per camera instead of the two a
 * started pool holds. Free buffers stay pooled, as in any pool. */
GstBufferPool *lazy_video_buffer_pool_new ();

} // namespace latestframe
