/* latestframe — keeps the newest frames for a slow consumer.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#define GST_TYPE_LATEST_FRAME (gst_latest_frame_get_type ())
#define GST_LATEST_FRAME(obj)                                                  \
  (G_TYPE_CHECK_INSTANCE_CAST ((obj), GST_TYPE_LATEST_FRAME, GstLatestFrame))
#define GST_LATEST_FRAME_CAST(obj) ((GstLatestFrame *)(obj))
#define GST_IS_LATEST_FRAME(obj)                                               \
  (G_TYPE_CHECK_INSTANCE_TYPE ((obj), GST_TYPE_LATEST_FRAME))

#define GST_TYPE_LATEST_FRAME_LEAKY (gst_latest_frame_leaky_get_type ())
#define GST_TYPE_LATEST_FRAME_DELIVERY (gst_latest_frame_delivery_get_type ())
#define GST_TYPE_LATEST_FRAME_AGE_FROM (gst_latest_frame_age_from_get_type ())
#define GST_TYPE_LATEST_FRAME_DECODE (gst_latest_frame_decode_get_type ())

/**
 * GstLatestFrameLeaky:
 * @GST_LATEST_FRAME_LEAKY_NO: never drop; block upstream while full, like
 *   `queue`.
 * @GST_LATEST_FRAME_LEAKY_UPSTREAM: drop the arriving frame when full.
 * @GST_LATEST_FRAME_LEAKY_DOWNSTREAM: drop the oldest held frames when full,
 *   so the newest frame is always kept.
 *
 * What #GstLatestFrame does with a frame that does not fit.
 */
typedef enum
{
  GST_LATEST_FRAME_LEAKY_NO,
  GST_LATEST_FRAME_LEAKY_UPSTREAM,
  GST_LATEST_FRAME_LEAKY_DOWNSTREAM,
} GstLatestFrameLeaky;

/**
 * GstLatestFrameDelivery:
 * @GST_LATEST_FRAME_DELIVERY_PUSH: the element's streaming thread pushes
 *   the held frames on its src pad, in order.
 * @GST_LATEST_FRAME_DELIVERY_ON_REQUEST: nothing is pushed: an application
 *   thread takes the newest frame with #GstLatestFrame::try-pull-frame; the
 *   element is the pipeline's sink.
 *
 * Who takes the frames #GstLatestFrame holds.
 */
typedef enum
{
  GST_LATEST_FRAME_DELIVERY_PUSH,
  GST_LATEST_FRAME_DELIVERY_ON_REQUEST,
} GstLatestFrameDelivery;

/**
 * GstLatestFrameAgeFrom:
 * @GST_LATEST_FRAME_AGE_FROM_AUTO: the capture time when the frame carries
 *   one (a `timestamp/x-ntp` or `timestamp/x-unix` reference timestamp meta,
 *   as rtspsrc add-reference-timestamp-meta=true attaches), else the running
 *   time.
 * @GST_LATEST_FRAME_AGE_FROM_CAPTURE: the capture time only: a frame without
 *   one has no age.
 * @GST_LATEST_FRAME_AGE_FROM_RUNNING_TIME: the frame's running time (for a
 *   live RTSP source, when the receiver got it).
 * @GST_LATEST_FRAME_AGE_FROM_ARRIVAL: when the frame reached this element.
 *
 * What a frame's age (max-age, the age figures) runs from.
 */
typedef enum
{
  GST_LATEST_FRAME_AGE_FROM_AUTO,
  GST_LATEST_FRAME_AGE_FROM_CAPTURE,
  GST_LATEST_FRAME_AGE_FROM_RUNNING_TIME,
  GST_LATEST_FRAME_AGE_FROM_ARRIVAL,
} GstLatestFrameAgeFrom;

/**
 * GstLatestFrameDecode:
 * @GST_LATEST_FRAME_DECODE_ALL: every frame kept goes to the decoder, in
 *   whole dependency chains (a key unit and the delta units after it).
 * @GST_LATEST_FRAME_DECODE_ON_DEMAND: when downstream is ready for a frame,
 *   the newest chain goes, from where the decoder stopped (or its key unit)
 *   up to the newest frame; all but that frame are decode-only (a segment
 *   starting after each makes a #GstVideoDecoder drop its picture).
 * @GST_LATEST_FRAME_DECODE_KEY_UNITS: key units only: delta units are
 *   dropped as they arrive, and the segment downstream is marked as a
 *   key-unit trick mode, so that a #GstVideoDecoder outputs each key unit
 *   at once (while the stream's key units are ones a decoder in that mode
 *   decodes: IDR, recovery point or IRAP).
 * @GST_LATEST_FRAME_DECODE_AUTO: key units when #GstLatestFrame:analysis-rate
 *   and #GstLatestFrame:max-age both allow one key interval, else on demand.
 *
 * How much of encoded video #GstLatestFrame placed before a decoder lets
 * through; raw video ignores it.
 */
typedef enum
{
  GST_LATEST_FRAME_DECODE_ALL,
  GST_LATEST_FRAME_DECODE_ON_DEMAND,
  GST_LATEST_FRAME_DECODE_KEY_UNITS,
  GST_LATEST_FRAME_DECODE_AUTO,
} GstLatestFrameDecode;

typedef struct _GstLatestFrame GstLatestFrame;
typedef struct _GstLatestFrameClass GstLatestFrameClass;
typedef struct _GstLatestFrameState GstLatestFrameState;

struct _GstLatestFrame
{
  GstElement element;

  /*< private >*/
  GstPad *sinkpad;
  GstPad *srcpad;

  /* C++ state: constructed in instance_init, destroyed in finalize. */
  GstLatestFrameState *state;
};

struct _GstLatestFrameClass
{
  GstElementClass parent_class;

  /* actions */
  GstSample *(*try_pull_frame) (GstLatestFrame *self, GstClockTime timeout);
};

GType gst_latest_frame_get_type (void);
GType gst_latest_frame_leaky_get_type (void);
GType gst_latest_frame_delivery_get_type (void);
GType gst_latest_frame_age_from_get_type (void);
GType gst_latest_frame_decode_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (latestframe);

G_END_DECLS
