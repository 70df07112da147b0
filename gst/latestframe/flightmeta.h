/* A meta that keeps a handed-over frame's bytes counted in flight until the
 * buffer is finally released.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/accounting.h"

#include <gst/gst.h>

namespace latestframe
{

/* Attaches `charge` (in flight) to a writable buffer. The charge lands when
 * the buffer's last reference goes: the buffer is freed, or returned to its
 * pool (pools drop unpooled metas). Copies of the buffer (gst_buffer_copy,
 * make_writable) share the charge, so the frame stays counted until its last
 * copy goes. Elements that make a new frame out of this one (videoconvert,
 * scalers) do not carry it over: the meta has a tag they do not know.
 *
 * Costs no allocation of ours: the charge lives in the meta itself (which
 * GStreamer takes from GLib's slice allocator); only the first copy of a
 * buffer moves it into a shared, reference-counted charge. */
void attach_flight_charge (GstBuffer *buffer, in_flight_charge charge);

} // namespace latestframe
