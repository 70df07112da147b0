/* mqttpublish — each frame's detections as a JSON message to an MQTT broker.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

#define GST_TYPE_MQTT_PUBLISH (gst_mqtt_publish_get_type ())
#define GST_MQTT_PUBLISH(obj)                                                  \
  (G_TYPE_CHECK_INSTANCE_CAST ((obj), GST_TYPE_MQTT_PUBLISH, GstMqttPublish))
#define GST_MQTT_PUBLISH_CLASS(klass)                                          \
  (G_TYPE_CHECK_CLASS_CAST ((klass), GST_TYPE_MQTT_PUBLISH,                    \
                            GstMqttPublishClass))
#define GST_IS_MQTT_PUBLISH(obj)                                               \
  (G_TYPE_CHECK_INSTANCE_TYPE ((obj), GST_TYPE_MQTT_PUBLISH))

typedef struct _GstMqttPublish GstMqttPublish;
typedef struct _GstMqttPublishClass GstMqttPublishClass;
typedef struct _GstMqttPublishState GstMqttPublishState;

struct _GstMqttPublish
{
  GstBaseTransform parent;

  /*< private >*/
  /* C++ state: constructed in instance_init, destroyed in finalize. */
  GstMqttPublishState *state;
};

struct _GstMqttPublishClass
{
  GstBaseTransformClass parent_class;

  /* actions */
  gboolean (*publish) (GstMqttPublish *self, const gchar *topic,
                       const gchar *payload);
  gboolean (*publish_record) (GstMqttPublish *self, const gchar *camera,
                              const gchar *topic, const gchar *payload);
};

GType gst_mqtt_publish_get_type (void);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GstMqttPublish, gst_object_unref)

GST_ELEMENT_REGISTER_DECLARE (mqttpublish);

G_END_DECLS
