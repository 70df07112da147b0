/* gst-check test of every writable property of every element of the
 * project's plugins (latestframe, and latestframecv when built with
 * OpenCV), found in the registry rather than listed here.
 *
 * For each property and each of its values (default, minimum, maximum,
 * each enum value, NULL and "" for strings, NULL for boxed and object
 * types), the element climbs NULL -> READY -> PAUSED -> PLAYING with
 * frames flowing from PAUSED on (a harness pushing raw video from its own
 * thread), the value is set in each state where GStreamer allows it
 * (GST_PARAM_MUTABLE_* flags; without one, NULL only; construct-only
 * values are given at construction), the default is set back while frames
 * still flow, and the element goes back to NULL.
 *
 * One loop iteration per (element, property): a crash fails that one only
 * (check runs each in its own process); each value is named on stderr
 * before its climb, so the last such line before a crash or a hang names
 * it. The check library turns any g_critical or g_warning into a failure.
 * Warnings posted on the bus are fine (the harness has none): some values
 * are meant to warn, some to stop frames (a state change may even fail, as
 * for a cascade that cannot be loaded); the element must still go back to
 * NULL. After each setting the test waits for two more pushes to return:
 * an element that holds a push for good in some state (a sink prerolling,
 * a wait on the clock in PAUSED) would hang here, reported as a timeout
 * with its value named last on stderr; none of ours does, and none may:
 * latestframe's leaky modes never block upstream, and with leaky=no the
 * harness always takes its frames. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include <string.h>

/* A plugin that is not built (no OpenCV, no libmosquitto) has no cases. */
static const gchar *plugin_names[]
    = { "latestframe", "latestframecv", "latestframemqtt" };

/* Raw video every element of both plugins accepts. */
#define CAPS "video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1"
#define RTP_CAPS                                                               \
  "application/x-rtp,media=video,clock-rate=90000,encoding-name=H264"
#define FRAME_BYTES (64 * 48)
#define FRAME_NS (GST_SECOND / 30)

typedef struct
{
  gchar *factory;
  gchar *property;
} Case;

static GPtrArray *cases;

static void
case_free (gpointer data)
{
  Case *c = (Case *)data;
  g_free (c->factory);
  g_free (c->property);
  g_free (c);
}

static gint
compare_features (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (GST_OBJECT_NAME (a), GST_OBJECT_NAME (b));
}

/* Every writable property of the plugin's elements but GstObject's own
 * (name, parent: plumbing, not the element's). */
static void
add_cases (const gchar *plugin)
{
  GList *features
      = gst_registry_get_feature_list_by_plugin (gst_registry_get (), plugin);
  features = g_list_sort (features, compare_features);
  for (GList *l = features; l; l = l->next)
    {
      if (!GST_IS_ELEMENT_FACTORY (l->data))
        continue;
      GstPluginFeature *loaded = gst_plugin_feature_load (l->data);
      if (!loaded)
        continue;
      GType type
          = gst_element_factory_get_element_type (GST_ELEMENT_FACTORY (loaded));
      GObjectClass *klass = (GObjectClass *)g_type_class_ref (type);
      guint n;
      GParamSpec **specs = g_object_class_list_properties (klass, &n);
      for (guint i = 0; i < n; i++)
        {
          if (!(specs[i]->flags & G_PARAM_WRITABLE)
              || specs[i]->owner_type == GST_TYPE_OBJECT)
            continue;
          Case *c = g_new0 (Case, 1);
          c->factory = g_strdup (GST_OBJECT_NAME (loaded));
          c->property = g_strdup (specs[i]->name);
          g_ptr_array_add (cases, c);
        }
      g_free (specs);
      g_type_class_unref (klass);
      gst_object_unref (loaded);
    }
  gst_plugin_feature_list_free (features);
}

static void
free_value (gpointer data)
{
  g_value_unset ((GValue *)data);
  g_free (data);
}

/* Adds `value` (taken) unless an equal one is there. */
static void
add_value (GPtrArray *values, GParamSpec *pspec, GValue *value)
{
  for (guint i = 0; i < values->len; i++)
    if (g_param_values_cmp (pspec, value, g_ptr_array_index (values, i)) == 0)
      {
        free_value (value);
        return;
      }
  g_ptr_array_add (values, value);
}

static GValue *
new_value (GParamSpec *pspec)
{
  GValue *value = g_new0 (GValue, 1);
  g_value_init (value, pspec->value_type);
  return value;
}

#define ADD_RANGE(SPEC, setter)                                                \
  G_STMT_START                                                                 \
  {                                                                            \
    GValue *low = new_value (pspec), *high = new_value (pspec);                \
    setter (low, SPEC (pspec)->minimum);                                       \
    setter (high, SPEC (pspec)->maximum);                                      \
    add_value (values, pspec, low);                                            \
    add_value (values, pspec, high);                                           \
  }                                                                            \
  G_STMT_END

/* The default first, then the extremes of the type. */
static GPtrArray *
values_for (GParamSpec *pspec)
{
  GPtrArray *values = g_ptr_array_new_with_free_func (free_value);
  GValue *value = new_value (pspec);
  g_value_copy (g_param_spec_get_default_value (pspec), value);
  add_value (values, pspec, value);

  if (G_IS_PARAM_SPEC_BOOLEAN (pspec))
    {
      for (gint b = 0; b <= 1; b++)
        {
          value = new_value (pspec);
          g_value_set_boolean (value, b);
          add_value (values, pspec, value);
        }
    }
  else if (G_IS_PARAM_SPEC_INT (pspec))
    ADD_RANGE (G_PARAM_SPEC_INT, g_value_set_int);
  else if (G_IS_PARAM_SPEC_UINT (pspec))
    ADD_RANGE (G_PARAM_SPEC_UINT, g_value_set_uint);
  else if (G_IS_PARAM_SPEC_INT64 (pspec))
    ADD_RANGE (G_PARAM_SPEC_INT64, g_value_set_int64);
  else if (G_IS_PARAM_SPEC_UINT64 (pspec))
    ADD_RANGE (G_PARAM_SPEC_UINT64, g_value_set_uint64);
  else if (G_IS_PARAM_SPEC_LONG (pspec))
    ADD_RANGE (G_PARAM_SPEC_LONG, g_value_set_long);
  else if (G_IS_PARAM_SPEC_ULONG (pspec))
    ADD_RANGE (G_PARAM_SPEC_ULONG, g_value_set_ulong);
  else if (G_IS_PARAM_SPEC_CHAR (pspec))
    ADD_RANGE (G_PARAM_SPEC_CHAR, g_value_set_schar);
  else if (G_IS_PARAM_SPEC_UCHAR (pspec))
    ADD_RANGE (G_PARAM_SPEC_UCHAR, g_value_set_uchar);
  else if (G_IS_PARAM_SPEC_FLOAT (pspec))
    ADD_RANGE (G_PARAM_SPEC_FLOAT, g_value_set_float);
  else if (G_IS_PARAM_SPEC_DOUBLE (pspec))
    ADD_RANGE (G_PARAM_SPEC_DOUBLE, g_value_set_double);
  else if (G_IS_PARAM_SPEC_ENUM (pspec))
    {
      GEnumClass *enums = G_PARAM_SPEC_ENUM (pspec)->enum_class;
      for (guint i = 0; i < enums->n_values; i++)
        {
          value = new_value (pspec);
          g_value_set_enum (value, enums->values[i].value);
          add_value (values, pspec, value);
        }
    }
  else if (G_IS_PARAM_SPEC_FLAGS (pspec))
    {
      value = new_value (pspec);
      g_value_set_flags (value, 0);
      add_value (values, pspec, value);
      value = new_value (pspec);
      g_value_set_flags (value, G_PARAM_SPEC_FLAGS (pspec)->flags_class->mask);
      add_value (values, pspec, value);
    }
  else if (G_IS_PARAM_SPEC_STRING (pspec))
    {
      add_value (values, pspec, new_value (pspec)); /* NULL */
      value = new_value (pspec);
      g_value_set_string (value, "");
      add_value (values, pspec, value);
    }
  else if (G_IS_PARAM_SPEC_BOXED (pspec) || G_IS_PARAM_SPEC_OBJECT (pspec)
           || G_IS_PARAM_SPEC_POINTER (pspec))
    add_value (values, pspec, new_value (pspec)); /* NULL */
  else if (GST_IS_PARAM_SPEC_FRACTION (pspec))
    {
      GstParamSpecFraction *f = GST_PARAM_SPEC_FRACTION (pspec);
      value = new_value (pspec);
      gst_value_set_fraction (value, f->min_num, f->min_den);
      add_value (values, pspec, value);
      value = new_value (pspec);
      gst_value_set_fraction (value, f->max_num, f->max_den);
      add_value (values, pspec, value);
    }
  return values;
}

/* Whether GStreamer lets the property be set in `state`. */
static gboolean
settable_in (GParamSpec *pspec, GstState state)
{
  if (pspec->flags & G_PARAM_CONSTRUCT_ONLY)
    return FALSE;
  switch (state)
    {
    case GST_STATE_NULL:
      return TRUE;
    case GST_STATE_READY:
      return (pspec->flags
              & (GST_PARAM_MUTABLE_READY | GST_PARAM_MUTABLE_PAUSED
                 | GST_PARAM_MUTABLE_PLAYING))
             != 0;
    case GST_STATE_PAUSED:
      return (pspec->flags
              & (GST_PARAM_MUTABLE_PAUSED | GST_PARAM_MUTABLE_PLAYING))
             != 0;
    case GST_STATE_PLAYING:
      return (pspec->flags & GST_PARAM_MUTABLE_PLAYING) != 0;
    default:
      return FALSE;
    }
}

/* Pushes frames from its own thread until told to stop or a push fails;
 * counts the pushes that returned. */
typedef struct
{
  GstHarness *h;
  GMutex lock;
  GCond cond;
  guint returned;
  gboolean stop;
  gboolean stopped;
  GThread *thread;
} Pusher;

static gpointer
pusher_run (gpointer user_data)
{
  Pusher *p = (Pusher *)user_data;
  for (guint64 n = 0;; n++)
    {
      g_mutex_lock (&p->lock);
      gboolean stop = p->stop;
      g_mutex_unlock (&p->lock);
      if (stop)
        break;
      GstBuffer *frame = gst_buffer_new_allocate (NULL, FRAME_BYTES, NULL);
      gst_buffer_memset (frame, 0, (guint8)(n * 7), FRAME_BYTES);
      GST_BUFFER_PTS (frame) = n * FRAME_NS;
      GST_BUFFER_DURATION (frame) = FRAME_NS;
      GstFlowReturn ret = gst_harness_push (p->h, frame);
      g_mutex_lock (&p->lock);
      p->returned++;
      if (ret != GST_FLOW_OK)
        p->stopped = TRUE;
      g_cond_broadcast (&p->cond);
      g_mutex_unlock (&p->lock);
      if (ret != GST_FLOW_OK)
        break;
    }
  g_mutex_lock (&p->lock);
  p->stopped = TRUE;
  g_cond_broadcast (&p->cond);
  g_mutex_unlock (&p->lock);
  return NULL;
}

static void
pusher_start (Pusher *p, GstHarness *h)
{
  memset (p, 0, sizeof (*p));
  p->h = h;
  g_mutex_init (&p->lock);
  g_cond_init (&p->cond);
  p->thread = g_thread_new ("pusher", pusher_run, p);
}

/* Waits until `more` pushes have returned, or the pusher has stopped (the
 * element refused a frame: an error, a value that stops the stream). */
static void
pusher_wait (Pusher *p, guint more)
{
  g_mutex_lock (&p->lock);
  guint target = p->returned + more;
  while (!p->stopped && p->returned < target)
    g_cond_wait (&p->cond, &p->lock);
  g_mutex_unlock (&p->lock);
}

static void
pusher_stop_and_join (Pusher *p)
{
  if (!p->thread)
    return;
  g_mutex_lock (&p->lock);
  p->stop = TRUE;
  g_mutex_unlock (&p->lock);
  g_thread_join (p->thread);
  p->thread = NULL;
  g_mutex_clear (&p->lock);
  g_cond_clear (&p->cond);
}

/* The stream's sticky events, again after the element's sink pad was
 * deactivated (it forgets them; the harness's pad does not resend them). */
static void
start_stream (GstHarness *h)
{
  GstSegment segment;
  GstCaps *caps = gst_caps_from_string (CAPS);
  /* An RTP element (rtpinorderbuffer) gets RTP caps; the frames are then
   * not RTP packets, which it drops: it must still take every push. */
  GstPad *sink = gst_pad_get_peer (h->srcpad);
  GstCaps *accepted = gst_pad_get_pad_template_caps (sink);
  if (!gst_caps_can_intersect (accepted, caps))
    {
      gst_caps_unref (caps);
      caps = gst_caps_from_string (RTP_CAPS);
    }
  gst_caps_unref (accepted);
  gst_object_unref (sink);
  gst_segment_init (&segment, GST_FORMAT_TIME);
  /* Refusals are the element's business (a value may make it refuse). */
  gst_pad_push_event (h->srcpad, gst_event_new_stream_start ("properties"));
  gst_pad_push_event (h->srcpad, gst_event_new_caps (caps));
  gst_pad_push_event (h->srcpad, gst_event_new_segment (&segment));
  gst_caps_unref (caps);
}

static const GstState ladder[]
    = { GST_STATE_NULL, GST_STATE_READY, GST_STATE_PAUSED, GST_STATE_PLAYING };

/* One climb with `value` (NULL: given at construction), then the default
 * back, then NULL. */
static void
climb (GstHarness *h, const gchar *what, GParamSpec *pspec, const GValue *value,
       gboolean must_flow)
{
  GstElement *element = h->element;
  Pusher pusher = { 0 };
  GstState reached = GST_STATE_NULL;
  for (guint s = 0; s < G_N_ELEMENTS (ladder); s++)
    {
      if (ladder[s] != GST_STATE_NULL)
        {
          if (gst_element_set_state (element, ladder[s])
              == GST_STATE_CHANGE_FAILURE)
            break;
          reached = ladder[s];
        }
      if (ladder[s] == GST_STATE_PAUSED)
        {
          start_stream (h);
          pusher_start (&pusher, h);
          pusher_wait (&pusher, 2);
        }
      if (value && settable_in (pspec, ladder[s]))
        {
          g_object_set_property (G_OBJECT (element), pspec->name, value);
          if (pusher.thread)
            pusher_wait (&pusher, 2);
        }
    }
  if (value && settable_in (pspec, reached))
    {
      g_object_set_property (G_OBJECT (element), pspec->name,
                             g_param_spec_get_default_value (pspec));
      if (pusher.thread)
        pusher_wait (&pusher, 2);
    }
  /* Stopping the pusher first would let a frame blocked in the element
   * (a value may hold upstream) wait forever: NULL unblocks it. */
  /* With the default values frames must flow, or this tests nothing. */
  if (must_flow)
    {
      fail_unless (pusher.thread != NULL, "%s: never reached PAUSED", what);
      g_mutex_lock (&pusher.lock);
      gboolean refused = pusher.stopped;
      g_mutex_unlock (&pusher.lock);
      fail_if (refused, "%s: a frame was refused", what);
    }
  if (pusher.thread)
    {
      g_mutex_lock (&pusher.lock);
      pusher.stop = TRUE;
      g_mutex_unlock (&pusher.lock);
    }
  GstStateChangeReturn back = gst_element_set_state (element, GST_STATE_NULL);
  fail_unless (back == GST_STATE_CHANGE_SUCCESS, "%s: back to NULL returned %s",
               what, gst_element_state_change_return_get_name (back));
  pusher_stop_and_join (&pusher);
  if (value)
    g_object_set_property (G_OBJECT (element), pspec->name,
                           g_param_spec_get_default_value (pspec));
}

/* A harness around `element` (a reference is taken), back in NULL. */
static GstHarness *
harness_around (GstElement *element)
{
  GstHarness *h = gst_harness_new_with_element (element, "sink", "src");
  gst_harness_set_drop_buffers (h, TRUE);
  /* A clock that runs: a value that makes an element wait on the clock
   * then slows frames down instead of stopping them for good. */
  gst_harness_use_systemclock (h);
  fail_unless_equals_int (gst_element_set_state (h->element, GST_STATE_NULL),
                          GST_STATE_CHANGE_SUCCESS);
  return h;
}

/* Steps: for each value of one writable property of one element: climb
 * NULL -> PLAYING with frames flowing from PAUSED, setting the value in
 * each state where allowed; set the default back while flowing; NULL.
 * Invariant: no crash, no g_critical or g_warning, and the element goes
 * back to NULL every time. */
GST_START_TEST (test_property_in_every_state)
{
  const Case *c = (const Case *)g_ptr_array_index (cases, __i__);
  GstElementFactory *factory = gst_element_factory_find (c->factory);
  fail_unless (factory != NULL);
  GType type = gst_element_factory_get_element_type (factory);
  GObjectClass *klass = (GObjectClass *)g_type_class_ref (type);
  GParamSpec *pspec = g_object_class_find_property (klass, c->property);
  fail_unless (pspec != NULL);
  GPtrArray *values = values_for (pspec);

  GstHarness *h = NULL;
  for (guint v = 0; v < values->len; v++)
    {
      const GValue *value = (const GValue *)g_ptr_array_index (values, v);
      gchar *shown = g_strdup_value_contents (value);
      gchar *what
          = g_strdup_printf ("%s:%s=%s", c->factory, c->property, shown);
      g_free (shown);
      /* Names the case before anything can crash or hang. */
      g_printerr ("properties: case %d: %s\n", __i__, what);
      if (pspec->flags & G_PARAM_CONSTRUCT_ONLY)
        {
          const gchar *names[] = { pspec->name };
          GstElement *element = GST_ELEMENT (
              g_object_new_with_properties (type, 1, names, value));
          gst_object_ref_sink (element);
          h = harness_around (element);
          gst_object_unref (element);
          climb (h, what, pspec, NULL, FALSE);
          gst_harness_teardown (h);
          h = NULL;
        }
      else
        {
          if (!h)
            {
              GstElement *element = gst_element_factory_create (factory, NULL);
              gst_object_ref_sink (element);
              h = harness_around (element);
              gst_object_unref (element);
            }
          climb (h, what, pspec, value, v == 0);
        }
      g_free (what);
    }
  if (h)
    gst_harness_teardown (h);
  g_ptr_array_unref (values);
  g_type_class_unref (klass);
  gst_object_unref (factory);
}
GST_END_TEST;

/* Steps: look the plugins up in the registry.
 * Invariant: the cases above were found: the latestframe plugin with its
 * element and, when built with OpenCV, latestframecv with its five. */
GST_START_TEST (test_plugins_found)
{
  GstRegistry *registry = gst_registry_get ();
  GstPlugin *plugin = gst_registry_find_plugin (registry, "latestframe");
  fail_unless (plugin != NULL, "no latestframe plugin in the registry");
  gst_object_unref (plugin);
  GstPluginFeature *feature
      = gst_registry_lookup_feature (registry, "latestframe");
  fail_unless (feature != NULL);
  gst_object_unref (feature);
#ifdef LATESTFRAME_HAVE_OPENCV
  static const gchar *cv[] = { "cvmotion", "cvfacedetect", "cvpeopledetect",
                               "cvqrdecode", "cvoverlay" };
  for (guint i = 0; i < G_N_ELEMENTS (cv); i++)
    {
      feature = gst_registry_lookup_feature (registry, cv[i]);
      fail_unless (feature != NULL, "no %s in the registry", cv[i]);
      fail_unless (g_str_equal (gst_plugin_feature_get_plugin_name (feature),
                                "latestframecv"));
      gst_object_unref (feature);
    }
#endif
#ifdef LATESTFRAME_HAVE_MQTT
  feature = gst_registry_lookup_feature (registry, "mqttpublish");
  fail_unless (feature != NULL, "no mqttpublish in the registry");
  gst_object_unref (feature);
#endif
  gboolean latestframe_has_cases = FALSE;
  for (guint i = 0; i < cases->len; i++)
    if (g_str_equal (((Case *)g_ptr_array_index (cases, i))->factory,
                     "latestframe"))
      latestframe_has_cases = TRUE;
  fail_unless (latestframe_has_cases);
}
GST_END_TEST;

static Suite *
properties_suite (void)
{
  Suite *s = suite_create ("properties");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 120);
  cases = g_ptr_array_new_with_free_func (case_free);
  for (guint i = 0; i < G_N_ELEMENTS (plugin_names); i++)
    add_cases (plugin_names[i]);
  tcase_add_test (tc, test_plugins_found);
  tcase_add_loop_test (tc, test_property_in_every_state, 0, (gint)cases->len);
  return s;
}

GST_CHECK_MAIN (properties);
