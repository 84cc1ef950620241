/**
 * SECTION:element-aeanomaly
 * @title: aeanomaly
 *
 * Scores every video frame for anomalies with an autoencoder trained on
 * normal footage of one scene (a model of task "anomaly", see
 * docs/MODEL-FORMAT.md). The video passes through unchanged unless
 * `overlay` is set.
 *
 * Each scored frame is compared with the model's reconstruction of it:
 * the reconstruction error (over the frame and over its worst patches, so
 * that a small object counts) and the frame's detail, brightness and
 * contrast are set against the calibration stored in the model. Errors or
 * detail far *below* normal count too: a defocused, covered or blinded
 * camera is easier to reconstruct than the scene. The score is the largest
 * deviation (in robust standard deviations); above `threshold` a frame is
 * anomalous, and an event starts once frames stay above it for
 * `min-duration`; it ends once they stay below `threshold` × `hysteresis`
 * for `min-duration`.
 *
 * Every buffer carries a #GstAeAnomalyMeta (gst/autoencoder/
 * gstaeanomalymeta.h) with the score, the event flag and a low-resolution
 * error map. Events are posted as element messages named "ae-anomaly"
 * whose "type" is "start" or "end" (and "frame" for every scored frame
 * with `post-scores`), with fields:
 *
 * * "timestamp", "stream-time", "running-time" (GstClockTime): of the
 *   event's first frame (start), of the first frame after it (end), of the
 *   frame (frame)
 * * "score" (double): the frame's score; "normalized": score / threshold;
 *   "threshold"; "peak" (double): the highest score of the event so far
 * * "feature" (string): what drove the score (mse, worst, detail,
 *   brightness, contrast, changed, colour); "below" (boolean): the feature
 *   was below normal
 * * "x", "y", "width", "height" (int): where the anomaly is, in pixels
 *   (of the peak frame for "end"): the worst region of reconstruction
 *   error, the changed cells, the cells of colours the scene does not
 *   show, or the whole frame for frame-wide detail, brightness or contrast
 * * end only: "duration" (GstClockTime), "reason" ("score", "eos",
 *   "flush", "stop")
 * * frame only: "anomalous" (boolean): an event is in progress
 *
 * `events-location` appends one JSON line per event to a file when it
 * ends, flushed at once.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 -m filesrc location=vtest.avi ! decodebin ! videoconvert ! \
 *     aeanomaly model=anomaly-vtest.safetensors overlay=box \
 *     events-location=events.jsonl ! videoconvert ! autovideosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "aeanomaly.h"
#include "gstaeanomalymeta.h"
#include "ae-anomaly.h"
#include "ae-json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <json-glib/json-glib.h>

GST_DEBUG_CATEGORY_STATIC (gst_ae_anomaly_debug);
#define GST_CAT_DEFAULT gst_ae_anomaly_debug

typedef enum
{
  GST_AE_ANOMALY_OVERLAY_NONE,
  GST_AE_ANOMALY_OVERLAY_HEATMAP,
  GST_AE_ANOMALY_OVERLAY_BOX,
} GstAeAnomalyOverlay;

enum
{
  PROP_0,
  PROP_THRESHOLD,
  PROP_HYSTERESIS,
  PROP_MIN_DURATION,
  PROP_INTERVAL,
  PROP_POST_SCORES,
  PROP_OVERLAY,
  PROP_EVENTS_LOCATION,
};

#define DEFAULT_THRESHOLD 0.0
#define DEFAULT_HYSTERESIS 0.8
#define DEFAULT_MIN_DURATION 0
#define DEFAULT_INTERVAL 1
#define DEFAULT_POST_SCORES FALSE
#define DEFAULT_OVERLAY GST_AE_ANOMALY_OVERLAY_NONE
#define DEFAULT_EVENTS_LOCATION NULL

/* columns of the error map (rows follow the aspect ratio) */
#define MAP_COLUMNS 32

/* An event, or a run of frames above the threshold that may become one. */
typedef struct
{
  GstClockTime start_pts, start_running, start_stream, start_time;
  gdouble peak;
  GstClockTime peak_pts;
  AeAnomalyBox peak_box;
  AeAnomalyFeature peak_feature;
  gboolean peak_below;
  guint frames;
} GstAeAnomalyEvent;

struct _GstAeAnomaly
{
  GstAeFilter parent;

  /* properties, under the object lock */
  gdouble threshold;
  gdouble hysteresis;
  GstClockTime min_duration;
  guint interval;
  gboolean post_scores;
  GstAeAnomalyOverlay overlay;
  gchar *events_location;

  /* from start() to stop() */
  AeAnomalyCalibration cal;
  AeColor color;
  AeAnomalyScorer *scorer;
  FILE *events_file;

  /* per negotiated format */
  GstBuffer *scratch;           /* the model's output frame */
  /* frames without R'G'B' bytes, converted for the colour feature as
   * videoconvert converted the trainer's (NULL: not needed) */
  GstVideoConverter *to_rgb;
  GstVideoInfo rgb_info;
  GstBuffer *rgb;
  guint map_w, map_h;

  /* streaming state */
  guint64 n_frames;
  gboolean have_score;
  AeAnomalyFeatures features;   /* of the last scored frame */
  AeAnomalyBox region;          /* where its anomaly is */
  gdouble score;
  AeAnomalyFeature feature;
  gboolean below;
  gfloat *map;
  gboolean in_event;
  gboolean candidate;           /* above the threshold, not yet an event */
  GstAeAnomalyEvent event;
  /* the run of frames below the release level in an event, if any: its
   * first frame's time (for min-duration), PTS and running time */
  gboolean below_run;
  GstClockTime below_since, below_pts, below_running;
  guint frames_before_below;    /* event frames before that run */
  GstClockTime last_pts, last_end;
};

static GstStaticPadTemplate gst_ae_anomaly_sink_template =
GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_AE_FILTER_CAPS));
static GstStaticPadTemplate gst_ae_anomaly_src_template =
GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_AE_FILTER_CAPS));

GType
gst_ae_anomaly_overlay_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_AE_ANOMALY_OVERLAY_NONE, "Leave the video unchanged", "none"},
    {GST_AE_ANOMALY_OVERLAY_HEATMAP,
        "Tint each part of the frame by its reconstruction error", "heatmap"},
    {GST_AE_ANOMALY_OVERLAY_BOX,
        "Outline the anomaly's region while an event is in progress", "box"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstAeAnomalyOverlay", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

#define gst_ae_anomaly_parent_class parent_class
G_DEFINE_TYPE (GstAeAnomaly, gst_ae_anomaly, GST_TYPE_AE_FILTER);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (aeanomaly, "aeanomaly", GST_RANK_NONE,
    GST_TYPE_AE_ANOMALY,
    GST_DEBUG_CATEGORY_INIT (gst_ae_anomaly_debug, "aeanomaly", 0,
        "autoencoder anomaly scoring"));

static void gst_ae_anomaly_finalize (GObject * object);
static void gst_ae_anomaly_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_ae_anomaly_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static gboolean gst_ae_anomaly_start (GstBaseTransform * trans);
static gboolean gst_ae_anomaly_stop (GstBaseTransform * trans);
static gboolean gst_ae_anomaly_sink_event (GstBaseTransform * trans,
    GstEvent * event);
static gboolean gst_ae_anomaly_set_info (GstVideoFilter * filter,
    GstCaps * incaps, GstVideoInfo * in_info, GstCaps * outcaps,
    GstVideoInfo * out_info);
static GstFlowReturn gst_ae_anomaly_transform_ip (GstBaseTransform * trans,
    GstBuffer * buf);

static void
gst_ae_anomaly_class_init (GstAeAnomalyClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *vfilter_class = GST_VIDEO_FILTER_CLASS (klass);
  GstAeFilterClass *ae_class = GST_AE_FILTER_CLASS (klass);

  gobject_class->finalize = gst_ae_anomaly_finalize;
  gobject_class->set_property = gst_ae_anomaly_set_property;
  gobject_class->get_property = gst_ae_anomaly_get_property;

  ae_class->task = AE_TASK_ANOMALY;
  ae_class->default_model = "anomaly-vtest.safetensors";
  gst_ae_filter_class_install_model_property (ae_class);

  g_object_class_install_property (gobject_class, PROP_THRESHOLD,
      g_param_spec_double ("threshold", "Threshold",
          "Score above which a frame is anomalous, in robust standard "
          "deviations from normal (0 = the threshold calibrated into the "
          "model)", 0.0, 1e6, DEFAULT_THRESHOLD,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_HYSTERESIS,
      g_param_spec_double ("hysteresis", "Hysteresis",
          "An event ends when the score stays below threshold x hysteresis "
          "(1 = the threshold itself)", 0.0, 1.0, DEFAULT_HYSTERESIS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MIN_DURATION,
      g_param_spec_uint64 ("min-duration", "Minimum duration",
          "Nanoseconds of running time the score must stay above the "
          "threshold before an event starts, and below the release level "
          "before it ends (0 = at the first frame; without timestamps or "
          "frame rate, 0)",
          0, G_MAXUINT64, DEFAULT_MIN_DURATION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_INTERVAL,
      g_param_spec_uint ("interval", "Interval",
          "Score every Nth frame; the others carry the last score", 1,
          G_MAXINT, DEFAULT_INTERVAL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_POST_SCORES,
      g_param_spec_boolean ("post-scores", "Post scores",
          "Post an \"ae-anomaly\" element message (type \"frame\") for "
          "every scored frame", DEFAULT_POST_SCORES,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_OVERLAY,
      g_param_spec_enum ("overlay", "Overlay",
          "What to draw on the video", GST_TYPE_AE_ANOMALY_OVERLAY,
          DEFAULT_OVERLAY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_EVENTS_LOCATION,
      g_param_spec_string ("events-location", "Events location",
          "File to which one JSON line per event is appended (and flushed) "
          "when the event ends; NULL: none", DEFAULT_EVENTS_LOCATION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  gst_element_class_set_static_metadata (element_class,
      "Autoencoder anomaly detector", "Filter/Analyzer/Video",
      "Scores video frames for anomalies against an autoencoder trained on "
      "normal footage (default model: anomaly-vtest); posts events, "
      "attaches a GstAeAnomalyMeta, can draw a heat map or a box",
      "gst-autoencoder developers");
  gst_element_class_add_static_pad_template (element_class,
      &gst_ae_anomaly_sink_template);
  gst_element_class_add_static_pad_template (element_class,
      &gst_ae_anomaly_src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_ae_anomaly_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_ae_anomaly_stop);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_ae_anomaly_sink_event);
  trans_class->transform_ip = GST_DEBUG_FUNCPTR (gst_ae_anomaly_transform_ip);
  vfilter_class->set_info = GST_DEBUG_FUNCPTR (gst_ae_anomaly_set_info);

  gst_type_mark_as_plugin_api (GST_TYPE_AE_ANOMALY_OVERLAY, 0);
}

static void
gst_ae_anomaly_init (GstAeAnomaly * self)
{
  self->threshold = DEFAULT_THRESHOLD;
  self->hysteresis = DEFAULT_HYSTERESIS;
  self->min_duration = DEFAULT_MIN_DURATION;
  self->interval = DEFAULT_INTERVAL;
  self->post_scores = DEFAULT_POST_SCORES;
  self->overlay = DEFAULT_OVERLAY;
  self->events_location = g_strdup (DEFAULT_EVENTS_LOCATION);
  /* the video passes through: in place, never a copy of the frame */
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
}

static void
gst_ae_anomaly_finalize (GObject * object)
{
  GstAeAnomaly *self = GST_AE_ANOMALY (object);

  g_free (self->events_location);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_ae_anomaly_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstAeAnomaly *self = GST_AE_ANOMALY (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_THRESHOLD:
      self->threshold = g_value_get_double (value);
      break;
    case PROP_HYSTERESIS:
      self->hysteresis = g_value_get_double (value);
      break;
    case PROP_MIN_DURATION:
      self->min_duration = g_value_get_uint64 (value);
      break;
    case PROP_INTERVAL:
      self->interval = g_value_get_uint (value);
      break;
    case PROP_POST_SCORES:
      self->post_scores = g_value_get_boolean (value);
      break;
    case PROP_OVERLAY:
      self->overlay = g_value_get_enum (value);
      break;
    case PROP_EVENTS_LOCATION:
      g_free (self->events_location);
      self->events_location = g_value_dup_string (value);
      break;
    default:
      GST_OBJECT_UNLOCK (self);
      G_OBJECT_CLASS (parent_class)->set_property (object, prop_id, value,
          pspec);
      return;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ae_anomaly_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstAeAnomaly *self = GST_AE_ANOMALY (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_THRESHOLD:
      g_value_set_double (value, self->threshold);
      break;
    case PROP_HYSTERESIS:
      g_value_set_double (value, self->hysteresis);
      break;
    case PROP_MIN_DURATION:
      g_value_set_uint64 (value, self->min_duration);
      break;
    case PROP_INTERVAL:
      g_value_set_uint (value, self->interval);
      break;
    case PROP_POST_SCORES:
      g_value_set_boolean (value, self->post_scores);
      break;
    case PROP_OVERLAY:
      g_value_set_enum (value, self->overlay);
      break;
    case PROP_EVENTS_LOCATION:
      g_value_set_string (value, self->events_location);
      break;
    default:
      GST_OBJECT_UNLOCK (self);
      G_OBJECT_CLASS (parent_class)->get_property (object, prop_id, value,
          pspec);
      return;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ae_anomaly_reset (GstAeAnomaly * self)
{
  self->n_frames = 0;
  self->have_score = FALSE;
  self->score = 0;
  self->feature = AE_ANOMALY_MSE;
  self->below = FALSE;
  memset (&self->features, 0, sizeof self->features);
  memset (&self->region, 0, sizeof self->region);
  if (self->map)
    memset (self->map, 0, sizeof (gfloat) * self->map_w * self->map_h);
  self->in_event = self->candidate = self->below_run = FALSE;
  self->last_pts = self->last_end = GST_CLOCK_TIME_NONE;
}

static gboolean
gst_ae_anomaly_start (GstBaseTransform * trans)
{
  GstAeAnomaly *self = GST_AE_ANOMALY (trans);
  g_autofree gchar *location = NULL;

  if (!GST_BASE_TRANSFORM_CLASS (parent_class)->start (trans))
    return FALSE;

  AeModel *model = gst_ae_filter_get_model (GST_AE_FILTER (self));
  const AeGraph *graph = ae_model_get_graph (model);
  if (!ae_graph_get_anomaly (graph, &self->cal)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("%s: the anomaly model has no calibration (the trainer stores one "
            "measured on normal frames); it cannot be scored",
            ae_model_get_name (model)), (NULL));
    GST_BASE_TRANSFORM_CLASS (parent_class)->stop (trans);
    return FALSE;
  }
  self->color = ae_graph_get_color (graph);

  GST_OBJECT_LOCK (self);
  location = g_strdup (self->events_location);
  GST_OBJECT_UNLOCK (self);
  if (location && *location) {
    self->events_file = fopen (location, "a");
    if (!self->events_file) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
          ("Cannot open events file \"%s\" for appending: %s", location,
              g_strerror (errno)), (NULL));
      GST_BASE_TRANSFORM_CLASS (parent_class)->stop (trans);
      return FALSE;
    }
  }
  self->scorer = ae_anomaly_scorer_new ();
  if (self->cal.has_colours)
    ae_anomaly_scorer_set_colours (self->scorer, &self->cal.colours);
  gst_ae_anomaly_reset (self);
  GST_INFO_OBJECT (self, "calibrated on %d frames, threshold %g",
      self->cal.n_frames, self->cal.threshold);
  return TRUE;
}

static gdouble
gst_ae_anomaly_threshold (GstAeAnomaly * self)
{
  gdouble t;

  GST_OBJECT_LOCK (self);
  t = self->threshold > 0 ? self->threshold : self->cal.threshold;
  GST_OBJECT_UNLOCK (self);
  return t;
}

/* A member @name: @t in seconds, or null. */
static void
gst_ae_anomaly_add_seconds (JsonBuilder * b, const gchar * name,
    GstClockTime t)
{
  json_builder_set_member_name (b, name);
  if (GST_CLOCK_TIME_IS_VALID (t))
    json_builder_add_double_value (b, t / (gdouble) GST_SECOND);
  else
    json_builder_add_null_value (b);
}

/* Appends the event's JSON line to the events file and flushes it. */
static void
gst_ae_anomaly_write_event (GstAeAnomaly * self, GstClockTime end_pts,
    GstClockTime end_running, const gchar * reason)
{
  const GstAeAnomalyEvent *ev = &self->event;
  g_autoptr (JsonBuilder) b = json_builder_new ();

  if (!self->events_file)
    return;
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "element");
  json_builder_add_string_value (b, GST_OBJECT_NAME (self));
  gst_ae_anomaly_add_seconds (b, "start", ev->start_pts);
  gst_ae_anomaly_add_seconds (b, "end", end_pts);
  gst_ae_anomaly_add_seconds (b, "start_running_time", ev->start_running);
  gst_ae_anomaly_add_seconds (b, "end_running_time", end_running);
  gst_ae_anomaly_add_seconds (b, "peak_time", ev->peak_pts);
  json_builder_set_member_name (b, "peak");
  json_builder_add_double_value (b, ev->peak);
  json_builder_set_member_name (b, "threshold");
  json_builder_add_double_value (b, gst_ae_anomaly_threshold (self));
  json_builder_set_member_name (b, "feature");
  json_builder_add_string_value (b, ae_anomaly_feature_name
      (ev->peak_feature));
  json_builder_set_member_name (b, "below");
  json_builder_add_boolean_value (b, ev->peak_below);
  json_builder_set_member_name (b, "box");
  json_builder_begin_array (b);
  json_builder_add_int_value (b, ev->peak_box.x);
  json_builder_add_int_value (b, ev->peak_box.y);
  json_builder_add_int_value (b, ev->peak_box.width);
  json_builder_add_int_value (b, ev->peak_box.height);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "frames");
  json_builder_add_int_value (b, ev->frames);
  json_builder_set_member_name (b, "reason");
  json_builder_add_string_value (b, reason);
  json_builder_end_object (b);

  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree gchar *line = ae_json_to_string (root, FALSE);
  if (fprintf (self->events_file, "%s\n", line) < 0
      || fflush (self->events_file) != 0)
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
        ("Cannot write to the events file: %s", g_strerror (errno)), (NULL));
}

/* Running time of @pts in the current segment, or NONE. */
static GstClockTime
gst_ae_anomaly_running_time (GstAeAnomaly * self, GstClockTime pts)
{
  GstSegment *seg = &GST_BASE_TRANSFORM (self)->segment;

  if (!GST_CLOCK_TIME_IS_VALID (pts) || seg->format != GST_FORMAT_TIME)
    return GST_CLOCK_TIME_NONE;
  return gst_segment_to_running_time (seg, GST_FORMAT_TIME, pts);
}

/* An "ae-anomaly" message structure of @type for a frame at @pts; the
 * caller may add fields, then posts it with gst_ae_anomaly_post(). */
static GstStructure *
gst_ae_anomaly_message (GstAeAnomaly * self, const gchar * type,
    GstClockTime pts, gdouble score, gdouble peak, const AeAnomalyBox * box,
    AeAnomalyFeature feature, gboolean below)
{
  GstSegment *seg = &GST_BASE_TRANSFORM (self)->segment;
  gdouble threshold = gst_ae_anomaly_threshold (self);
  GstClockTime running = GST_CLOCK_TIME_NONE, stream = GST_CLOCK_TIME_NONE;

  if (GST_CLOCK_TIME_IS_VALID (pts) && seg->format == GST_FORMAT_TIME) {
    running = gst_segment_to_running_time (seg, GST_FORMAT_TIME, pts);
    stream = gst_segment_to_stream_time (seg, GST_FORMAT_TIME, pts);
  }
  return gst_structure_new ("ae-anomaly",
      "type", G_TYPE_STRING, type,
      "timestamp", GST_TYPE_CLOCK_TIME, pts,
      "stream-time", GST_TYPE_CLOCK_TIME, stream,
      "running-time", GST_TYPE_CLOCK_TIME, running,
      "score", G_TYPE_DOUBLE, score,
      "normalized", G_TYPE_DOUBLE, score / threshold,
      "threshold", G_TYPE_DOUBLE, threshold,
      "peak", G_TYPE_DOUBLE, peak,
      "feature", G_TYPE_STRING, ae_anomaly_feature_name (feature),
      "below", G_TYPE_BOOLEAN, below,
      "x", G_TYPE_INT, box->x, "y", G_TYPE_INT, box->y,
      "width", G_TYPE_INT, box->width, "height", G_TYPE_INT, box->height,
      NULL);
}

static void
gst_ae_anomaly_post (GstAeAnomaly * self, GstStructure * s)
{
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

/* Ends the event in progress: message and events file. @end_pts is the
 * first frame after it (or the end of the last one); when frames below the
 * release level were waiting out min-duration, the first of them. */
static void
gst_ae_anomaly_end_event (GstAeAnomaly * self, GstClockTime end_pts,
    const gchar * reason)
{
  GstAeAnomalyEvent *ev = &self->event;
  GstClockTime end_running, duration = GST_CLOCK_TIME_NONE;

  if (!self->in_event)
    return;
  if (self->below_run) {
    /* the event is the frames before the first one below */
    ev->frames = self->frames_before_below;
    if (GST_CLOCK_TIME_IS_VALID (self->below_pts))
      end_pts = self->below_pts;
    end_running = self->below_running;
  } else {
    end_running = gst_ae_anomaly_running_time (self, end_pts);
  }
  /* in running time, which rises through new segments and reverse play */
  if (GST_CLOCK_TIME_IS_VALID (end_running)
      && GST_CLOCK_TIME_IS_VALID (ev->start_running)
      && end_running >= ev->start_running)
    duration = end_running - ev->start_running;
  else if (GST_CLOCK_TIME_IS_VALID (end_pts)
      && GST_CLOCK_TIME_IS_VALID (ev->start_pts) && end_pts >= ev->start_pts)
    duration = end_pts - ev->start_pts;
  GST_INFO_OBJECT (self, "event ends (%s) at %" GST_TIME_FORMAT ", peak %g",
      reason, GST_TIME_ARGS (end_pts), ev->peak);

  GstStructure *s = gst_ae_anomaly_message (self, "end", end_pts, self->score,
      ev->peak, &ev->peak_box, ev->peak_feature, ev->peak_below);
  gst_structure_set (s, "duration", GST_TYPE_CLOCK_TIME, duration,
      "reason", G_TYPE_STRING, reason, NULL);
  if (self->below_run)
    gst_structure_set (s, "running-time", GST_TYPE_CLOCK_TIME, end_running,
        NULL);
  gst_ae_anomaly_post (self, s);
  gst_ae_anomaly_write_event (self, end_pts, end_running, reason);
  self->in_event = self->candidate = self->below_run = FALSE;
}

/* Time of a frame for min-duration: its running time (which, unlike the
 * PTS, keeps rising through new segments, loops and reverse playback),
 * else its index at the negotiated frame rate, else NONE (then
 * min-duration is met at once). */
static GstClockTime
gst_ae_anomaly_frame_time (GstAeAnomaly * self, GstBuffer * buf)
{
  const GstVideoInfo *info = &GST_VIDEO_FILTER (self)->in_info;
  GstClockTime t = gst_ae_anomaly_running_time (self, GST_BUFFER_PTS (buf));

  if (GST_CLOCK_TIME_IS_VALID (t))
    return t;
  if (info->fps_n > 0)
    return gst_util_uint64_scale (self->n_frames, info->fps_d * GST_SECOND,
        info->fps_n);
  return GST_CLOCK_TIME_NONE;
}

static gboolean
gst_ae_anomaly_lasted (GstClockTime since, GstClockTime now,
    GstClockTime min_duration)
{
  if (!GST_CLOCK_TIME_IS_VALID (since) || !GST_CLOCK_TIME_IS_VALID (now))
    return TRUE;
  return now >= since && now - since >= min_duration;
}

/* The event state machine, on each scored frame. */
static void
gst_ae_anomaly_update (GstAeAnomaly * self, GstBuffer * buf)
{
  GstAeAnomalyEvent *ev = &self->event;
  GstSegment *seg = &GST_BASE_TRANSFORM (self)->segment;
  GstClockTime pts = GST_BUFFER_PTS (buf);
  GstClockTime now = gst_ae_anomaly_frame_time (self, buf);
  gdouble threshold, release;
  GstClockTime min_duration;

  GST_OBJECT_LOCK (self);
  threshold = self->threshold > 0 ? self->threshold : self->cal.threshold;
  release = threshold * self->hysteresis;
  min_duration = self->min_duration;
  GST_OBJECT_UNLOCK (self);

  if (!self->in_event) {
    if (self->score <= threshold) {
      self->candidate = FALSE;
      return;
    }
    if (!self->candidate) {
      self->candidate = TRUE;
      memset (ev, 0, sizeof *ev);
      ev->start_pts = pts;
      ev->start_time = now;
      ev->start_running = ev->start_stream = GST_CLOCK_TIME_NONE;
      if (GST_CLOCK_TIME_IS_VALID (pts) && seg->format == GST_FORMAT_TIME) {
        ev->start_running = gst_segment_to_running_time (seg,
            GST_FORMAT_TIME, pts);
        ev->start_stream = gst_segment_to_stream_time (seg, GST_FORMAT_TIME,
            pts);
      }
      ev->peak = -1;
    }
  }

  ev->frames++;
  if (self->score > ev->peak) {
    ev->peak = self->score;
    ev->peak_pts = pts;
    ev->peak_box = self->region;
    ev->peak_feature = self->feature;
    ev->peak_below = self->below;
  }

  if (!self->in_event) {
    if (!gst_ae_anomaly_lasted (ev->start_time, now, min_duration))
      return;
    self->in_event = TRUE;
    self->below_run = FALSE;
    GST_INFO_OBJECT (self, "event starts at %" GST_TIME_FORMAT ", score %g "
        "(%s %s)", GST_TIME_ARGS (ev->start_pts), self->score,
        ae_anomaly_feature_name (self->feature),
        self->below ? "below" : "above");
    GstStructure *s = gst_ae_anomaly_message (self, "start", ev->start_pts,
        self->score, ev->peak, &self->region, self->feature,
        self->below);
    /* the start's times, also when min-duration delayed the message */
    gst_structure_set (s, "running-time", GST_TYPE_CLOCK_TIME,
        ev->start_running, "stream-time", GST_TYPE_CLOCK_TIME,
        ev->start_stream, NULL);
    gst_ae_anomaly_post (self, s);
    return;
  }

  if (self->score >= release) {
    self->below_run = FALSE;
    return;
  }
  if (!self->below_run) {
    self->below_run = TRUE;
    self->below_since = now;
    self->below_pts = pts;
    self->below_running = gst_ae_anomaly_running_time (self, pts);
    self->frames_before_below = ev->frames - 1;
  }
  /* a frame without any time (below_since NONE) ends it at once */
  if (gst_ae_anomaly_lasted (self->below_since, now, min_duration))
    gst_ae_anomaly_end_event (self, pts, "score");
}

static void
gst_ae_anomaly_clear_rgb (GstAeAnomaly * self)
{
  g_clear_pointer (&self->to_rgb, gst_video_converter_free);
  gst_clear_buffer (&self->rgb);
}

/* The colour feature counts colours as the trainer saw them: R'G'B' that
 * videoconvert made. Frames without R'G'B' bytes (YUV, BGR...) go through
 * the same converter; without one the scorer converts them itself. */
static gboolean
gst_ae_anomaly_setup_rgb (GstAeAnomaly * self, const GstVideoInfo * in_info)
{
  GstVideoFormat f = GST_VIDEO_INFO_FORMAT (in_info);
  AeFrameFormat af;

  gst_ae_anomaly_clear_rgb (self);
  if (!self->cal.has_colours || !gst_ae_filter_video_format (f, &af)
      || af == AE_FRAME_GRAY8 || ae_frame_format_has_rgb_bytes (af))
    return TRUE;
  gst_video_info_set_format (&self->rgb_info, GST_VIDEO_FORMAT_RGBx,
      GST_VIDEO_INFO_WIDTH (in_info), GST_VIDEO_INFO_HEIGHT (in_info));
  /* the converter wants the rest of the stream's description unchanged */
  self->rgb_info.fps_n = in_info->fps_n;
  self->rgb_info.fps_d = in_info->fps_d;
  self->rgb_info.par_n = in_info->par_n;
  self->rgb_info.par_d = in_info->par_d;
  self->rgb_info.interlace_mode = in_info->interlace_mode;
  self->to_rgb = gst_video_converter_new ((GstVideoInfo *) in_info,
      &self->rgb_info, NULL);
  if (!self->to_rgb) {
    GST_WARNING_OBJECT (self, "no converter from %s to RGBx: the colour "
        "feature converts the frames itself",
        gst_video_format_to_string (f));
    return TRUE;
  }
  self->rgb = gst_buffer_new_allocate (NULL,
      GST_VIDEO_INFO_SIZE (&self->rgb_info), NULL);
  if (!self->rgb) {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("Cannot allocate a %dx%d frame", GST_VIDEO_INFO_WIDTH (in_info),
            GST_VIDEO_INFO_HEIGHT (in_info)), (NULL));
    return FALSE;
  }
  return TRUE;
}

static gboolean
gst_ae_anomaly_set_info (GstVideoFilter * filter, GstCaps * incaps,
    GstVideoInfo * in_info, GstCaps * outcaps, GstVideoInfo * out_info)
{
  GstAeAnomaly *self = GST_AE_ANOMALY (filter);

  if (!GST_VIDEO_FILTER_CLASS (parent_class)->set_info (filter, incaps,
          in_info, outcaps, out_info))
    return FALSE;

  gint w = GST_VIDEO_INFO_WIDTH (in_info), h = GST_VIDEO_INFO_HEIGHT (in_info);
  guint map_w = MIN (MAP_COLUMNS, w);
  guint map_h = CLAMP ((guint) ((gdouble) map_w * h / w + 0.5), 1,
      (guint) MIN (MAP_COLUMNS, h));

  gst_clear_buffer (&self->scratch);
  self->scratch = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (in_info),
      NULL);
  if (!self->scratch) {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("Cannot allocate a %dx%d frame", w, h), (NULL));
    return FALSE;
  }
  if (!gst_ae_anomaly_setup_rgb (self, in_info))
    return FALSE;
  if (map_w != self->map_w || map_h != self->map_h) {
    g_free (self->map);
    self->map = g_new0 (gfloat, map_w * map_h);
    self->map_w = map_w;
    self->map_h = map_h;
  }
  /* a new size: the last score's map and region no longer apply */
  self->have_score = FALSE;
  GST_DEBUG_OBJECT (self, "%dx%d, error map %ux%u", w, h, map_w, map_h);
  return TRUE;
}

/* Pointers to the R, G, B (or only Y) bytes of row @y and their pixel
 * stride. Returns the number of channels (3 for RGB, 1 for Y). */
static gint
gst_ae_anomaly_row (GstVideoFrame * frame, gint y, guint8 * ch[3],
    gint * pstride)
{
  gint n = GST_VIDEO_FORMAT_INFO_IS_RGB (frame->info.finfo) ? 3 : 1;

  for (gint c = 0; c < n; c++)
    ch[c] = (guint8 *) GST_VIDEO_FRAME_COMP_DATA (frame, c) +
        (gsize) y * GST_VIDEO_FRAME_COMP_STRIDE (frame, c);
  *pstride = GST_VIDEO_FRAME_COMP_PSTRIDE (frame, 0);
  return n;
}

/* Tints pixel @x of a row towards red (RGB) or white (luma) by @a (0..1). */
static inline void
gst_ae_anomaly_tint (guint8 * ch[3], gint n, gint pstride, gint x, gfloat a)
{
  gsize o = (gsize) x * pstride;

  ch[0][o] = (guint8) (ch[0][o] + (255 - ch[0][o]) * a + 0.5f);
  if (n == 3) {
    ch[1][o] = (guint8) (ch[1][o] * (1.0f - a) + 0.5f);
    ch[2][o] = (guint8) (ch[2][o] * (1.0f - a) + 0.5f);
  }
}

/* Heat map: each cell tinted by log2 of its error over the calibrated
 * typical frame error, full at 16 times normal. */
static void
gst_ae_anomaly_draw_heatmap (GstAeAnomaly * self, GstVideoFrame * frame)
{
  const AeAnomalyFeatureCalibration *mse = &self->cal.feature[AE_ANOMALY_MSE];
  gdouble typical = mse->log ? exp (mse->center) : self->cal.mse_mean;
  gint w = GST_VIDEO_FRAME_WIDTH (frame), h = GST_VIDEO_FRAME_HEIGHT (frame);
  gfloat alpha[MAP_COLUMNS * MAP_COLUMNS];

  typical = MAX (typical, 1e-8);
  for (guint i = 0; i < self->map_w * self->map_h; i++) {
    gdouble v = log2 (MAX (self->map[i], 1e-12) / typical) / 4.0;
    alpha[i] = 0.7f * (gfloat) CLAMP (v, 0.0, 1.0);
  }
  for (gint y = 0; y < h; y++) {
    guint8 *ch[3];
    gint ps, n = gst_ae_anomaly_row (frame, y, ch, &ps);
    const gfloat *arow = alpha + (gsize) ((gint64) y * self->map_h / h) *
        self->map_w;
    for (gint x = 0; x < w; x++) {
      gfloat a = arow[(gint64) x * self->map_w / w];
      if (a > 0)
        gst_ae_anomaly_tint (ch, n, ps, x, a);
    }
  }
}

/* A 2-pixel outline of the anomaly's region. */
static void
gst_ae_anomaly_draw_box (GstAeAnomaly * self, GstVideoFrame * frame)
{
  gint w = GST_VIDEO_FRAME_WIDTH (frame), h = GST_VIDEO_FRAME_HEIGHT (frame);
  const AeAnomalyBox *b = &self->region;
  gint x0 = CLAMP (b->x, 0, w - 1), y0 = CLAMP (b->y, 0, h - 1);
  gint x1 = CLAMP (b->x + b->width - 1, x0, w - 1);
  gint y1 = CLAMP (b->y + b->height - 1, y0, h - 1);

  for (gint y = y0; y <= y1; y++) {
    guint8 *ch[3];
    gint ps, n = gst_ae_anomaly_row (frame, y, ch, &ps);
    gboolean edge_row = y - y0 < 2 || y1 - y < 2;
    for (gint x = x0; x <= x1; x++)
      if (edge_row || x - x0 < 2 || x1 - x < 2)
        gst_ae_anomaly_tint (ch, n, ps, x, 1.0f);
  }
}

/* Scores @frame: the model's output into the scratch frame, then the
 * features and the score. */
static gboolean
gst_ae_anomaly_score_frame (GstAeAnomaly * self, GstVideoFrame * frame,
    GError ** error)
{
  GstVideoFrame out, rgb;
  AeFrame fin, fout, frgb;
  gboolean ok, rgb_mapped = FALSE, have_rgb = FALSE;

  /* the scratch frame has the caps' default layout, whatever the layout
   * (GstVideoMeta) of the buffer scored */
  if (!gst_video_frame_map (&out, &GST_VIDEO_FILTER (self)->in_info,
          self->scratch, GST_MAP_WRITE)) {
    g_set_error_literal (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
        "cannot map the scratch frame");
    return FALSE;
  }
  if (self->to_rgb && gst_video_frame_map (&rgb, &self->rgb_info, self->rgb,
          GST_MAP_READWRITE)) {
    rgb_mapped = TRUE;
    gst_video_converter_frame (self->to_rgb, frame, &rgb);
    have_rgb = gst_ae_filter_map_frame (&rgb, &frgb);
  }
  ok = gst_ae_filter_run (GST_AE_FILTER (self), frame, &out, error)
      && gst_ae_filter_map_frame (frame, &fin)
      && gst_ae_filter_map_frame (&out, &fout)
      && ae_anomaly_scorer_measure_output (self->scorer, self->color, &fin,
      &fout, have_rgb ? &frgb : NULL, &self->features, self->map, self->map_w,
      self->map_h, error);
  gst_video_frame_unmap (&out);
  if (rgb_mapped)
    gst_video_frame_unmap (&rgb);
  if (!ok)
    return FALSE;
  self->score = ae_anomaly_score (&self->cal, &self->features, &self->feature,
      &self->below);
  ae_anomaly_region (&self->cal, &self->features, self->feature,
      GST_VIDEO_FRAME_WIDTH (frame), GST_VIDEO_FRAME_HEIGHT (frame),
      &self->region);
  self->have_score = TRUE;
  return TRUE;
}

static GstFlowReturn
gst_ae_anomaly_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstAeAnomaly *self = GST_AE_ANOMALY (trans);
  GstVideoFilter *vfilter = GST_VIDEO_FILTER (trans);
  GstVideoFrame frame;
  GError *error = NULL;
  GstAeAnomalyOverlay overlay;
  gboolean post_scores;
  guint interval;

  if (!vfilter->negotiated) {
    GST_ELEMENT_ERROR (self, CORE, NOT_IMPLEMENTED, (NULL),
        ("unknown format"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GST_OBJECT_LOCK (self);
  overlay = self->overlay;
  post_scores = self->post_scores;
  interval = self->interval;
  GST_OBJECT_UNLOCK (self);

  /* read-only unless drawing, so the frame's memory is never copied for
   * us; no ref, so the buffer stays writable for the meta */
  if (!gst_video_frame_map (&frame, &vfilter->in_info, buf,
          GST_VIDEO_FRAME_MAP_FLAG_NO_REF | (overlay !=
              GST_AE_ANOMALY_OVERLAY_NONE ? GST_MAP_READWRITE :
              GST_MAP_READ))) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Cannot map a video frame"),
        (NULL));
    return GST_FLOW_ERROR;
  }

  gboolean scored = self->n_frames % interval == 0 || !self->have_score;
  if (scored) {
    if (!gst_ae_anomaly_score_frame (self, &frame, &error)) {
      gst_video_frame_unmap (&frame);
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s", error->message),
          (NULL));
      g_clear_error (&error);
      return GST_FLOW_ERROR;
    }
    gst_ae_anomaly_update (self, buf);
    if (post_scores) {
      GstStructure *s = gst_ae_anomaly_message (self, "frame",
          GST_BUFFER_PTS (buf), self->score,
          self->in_event ? self->event.peak : self->score,
          &self->region, self->feature, self->below);
      gst_structure_set (s, "anomalous", G_TYPE_BOOLEAN, self->in_event,
          NULL);
      gst_ae_anomaly_post (self, s);
    }
  }
  self->last_pts = GST_BUFFER_PTS (buf);
  self->last_end = GST_BUFFER_PTS_IS_VALID (buf)
      && GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_PTS (buf) +
      GST_BUFFER_DURATION (buf) : self->last_pts;
  self->n_frames++;

  GstAeAnomalyMeta *meta = gst_buffer_add_ae_anomaly_meta (buf, self->map_w,
      self->map_h);
  if (meta) {
    meta->scored = scored;
    meta->score = self->score;
    meta->normalized = self->score / gst_ae_anomaly_threshold (self);
    meta->anomalous = self->in_event;
    meta->feature = ae_anomaly_feature_name (self->feature);
    meta->below = self->below;
    meta->x = self->region.x;
    meta->y = self->region.y;
    meta->width = self->region.width;
    meta->height = self->region.height;
    memcpy (meta->map, self->map, sizeof (gfloat) * self->map_w *
        self->map_h);
  }

  if (overlay == GST_AE_ANOMALY_OVERLAY_HEATMAP)
    gst_ae_anomaly_draw_heatmap (self, &frame);
  else if (overlay == GST_AE_ANOMALY_OVERLAY_BOX && self->in_event)
    gst_ae_anomaly_draw_box (self, &frame);
  gst_video_frame_unmap (&frame);
  return GST_FLOW_OK;
}

static gboolean
gst_ae_anomaly_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstAeAnomaly *self = GST_AE_ANOMALY (trans);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_EOS:
      gst_ae_anomaly_end_event (self, self->last_end, "eos");
      break;
    case GST_EVENT_FLUSH_STOP:
      gst_ae_anomaly_end_event (self, self->last_end, "flush");
      gst_ae_anomaly_reset (self);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static gboolean
gst_ae_anomaly_stop (GstBaseTransform * trans)
{
  GstAeAnomaly *self = GST_AE_ANOMALY (trans);

  if (self->scorer)
    gst_ae_anomaly_end_event (self, self->last_end, "stop");
  if (self->events_file) {
    fclose (self->events_file);
    self->events_file = NULL;
  }
  g_clear_pointer (&self->scorer, ae_anomaly_scorer_free);
  gst_clear_buffer (&self->scratch);
  gst_ae_anomaly_clear_rgb (self);
  g_clear_pointer (&self->map, g_free);
  self->map_w = self->map_h = 0;
  return GST_BASE_TRANSFORM_CLASS (parent_class)->stop (trans);
}
