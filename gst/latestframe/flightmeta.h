/* A meta that keeps a pushed frame's bytes charged until the buffer is
 * finally released.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "latestframe/frame_ledger.h"

#include <gst/gst.h>

#include <memory>

namespace latestframe
{

/* Attaches `charge` (already taken off: in flight) to a writable buffer. The
 * charge is released when the buffer's last reference goes: the buffer is
 * freed, or returned to its pool (pools drop unpooled metas). Copies of the
 * buffer (gst_buffer_copy, make_writable) share the charge, so the frame
 * stays counted until its last copy goes. Elements that make a new frame
 * out of this one (videoconvert, scalers) do not carry it over: the meta has
 * a tag they do not know. */
void attach_flight_charge (GstBuffer *buffer,
                           std::shared_ptr<frame_charge> charge);

} // namespace latestframe
