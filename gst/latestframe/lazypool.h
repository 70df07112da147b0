/* A video buffer pool that allocates a buffer only when one is acquired
 * and none is free, never ahead, and keeps none between rare frames.
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
 * takes it allocates the frames in use and no more. Free buffers stay
 * pooled, as in any pool, unless frames are rare (acquired more than
 * 250 ms apart): then each is freed when released, so that at one frame a
 * second (decode=key-units) a camera's decoder holds no frame between
 * decodes and malloc hands the memory to the next camera's. */
GstBufferPool *lazy_video_buffer_pool_new ();

} // namespace latestframe
