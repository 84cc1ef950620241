/* test-gst-anomaly.c: the aeanomaly element under GstHarness.
 *
 * The model is built here: a "blur" autoencoder (avg_pool2d 4 then
 * bilinear upsample 4: it reconstructs smooth content and loses fine
 * detail, as an undercomplete autoencoder does), calibrated with
 * ae_anomaly_calibrate() on frames of a smooth synthetic scene with a
 * moving blob and sensor noise, and saved with its calibration, exactly
 * the path the trainer takes. Anomalies are pasted checkerboards, blur and
 * darkening. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include <gst/gst.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>

#include "ae-anomaly.h"
#include "ae-engine.h"
#include "gstaeanomalymeta.h"

#define W 96
#define H 64
#define FRAME_DURATION (GST_SECOND / 10)

static char *tmp_dir;
static char *model_file;        /* calibrated blur model */
static char *uncalibrated_file; /* the same without calibration */
static char *colour_file;       /* calibrated with the scene's colours */

static const char *formats[] = {
  "GRAY8", "I420", "NV12", "Y444", "RGBA", "BGRA", "ARGB", "ABGR", "RGBx",
  "BGRx", "xRGB", "xBGR", "RGB", "BGR",
};

static const char *blur_graph =
    "{\"task\": \"anomaly\", \"color\": \"luma\", \"nodes\": ["
    "{\"name\": \"p\", \"op\": \"avg_pool2d\", \"inputs\": [\"input\"], "
    "\"kernel\": 4}, "
    "{\"name\": \"u\", \"op\": \"upsample\", \"inputs\": [\"p\"], "
    "\"factor\": 4, \"mode\": \"bilinear\"}], \"output\": \"u\"%s}";

/* Normal frame @t of the scene (luma): smooth shading, a soft blob moving
 * across, and noise of a few levels. */
static void
scene (guint8 * y, gsize stride, int w, int h, int t)
{
  guint32 r = 1234567u + t * 7919u;
  double bx = fmod (t * 5.0, w), by = h * 0.5;

  for (int j = 0; j < h; j++)
    for (int i = 0; i < w; i++) {
      double v = 90 + 50.0 * i / MAX (1, w) + 30 * sin (j * 0.07);
      double d2 = ((i - bx) * (i - bx) + (j - by) * (j - by)) / 60.0;
      v -= 50 * exp (-d2);
      r ^= r << 13;
      r ^= r >> 17;
      r ^= r << 5;
      v += (double) (r >> 24) / 255.0 * 4 - 2;
      y[j * stride + i] = (guint8) CLAMP (v + 0.5, 0, 255);
    }
}

/* The scene as W x H R'G'B' from its luma @y: grey, under a bluish sky of
 * 8 rows (grey alone has no colours to learn). */
static void
scene_rgb (const guint8 * y, guint8 * rgb)
{
  for (int i = 0; i < W * H; i++) {
    gboolean sky = i < 8 * W;
    rgb[3 * i] = sky ? y[i] * 3 / 5 : y[i];
    rgb[3 * i + 1] = sky ? y[i] * 4 / 5 : y[i];
    rgb[3 * i + 2] = y[i];
  }
}

/* An 8x8-square checkerboard of @amp around the pixel, at @x0,@y0. */
static void
paste (guint8 * y, gsize stride, int x0, int y0, int size, int amp)
{
  for (int j = y0; j < y0 + size; j++)
    for (int i = x0; i < x0 + size; i++)
      y[j * stride + i] = (guint8) CLAMP (128 + ((i / 4 + j / 4) % 2 ? amp :
              -amp), 0, 255);
}

static char *
save_model (const char *name, const char *graph_json)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) m = ae_model_new (graph_json, &error);
  g_assert_no_error (error);
  char *path = g_build_filename (tmp_dir, name, NULL);
  g_assert_true (ae_model_save (m, path, AE_DTYPE_F32, &error));
  g_assert_no_error (error);
  return path;
}

/* The trainer's path: run the model on normal frames, calibrate, store. */
static void
make_models (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *plain = g_strdup_printf (blur_graph, "");
  uncalibrated_file = save_model ("uncalibrated.safetensors", plain);

  g_autoptr (AeModel) m = ae_model_load (uncalibrated_file, &error);
  g_assert_no_error (error);
  AeEngineParams ep = {.device = "cpu",.threads = 1 };
  g_autoptr (AeEngine) e = ae_engine_new (&ep, &error);
  g_assert_no_error (error);
  AePlanParams pp = {.width = W,.height = H };
  g_autoptr (AePlan) plan = ae_plan_new (e, m, &pp, &error);
  g_assert_no_error (error);
  g_autoptr (AeAnomalyScorer) scorer = ae_anomaly_scorer_new ();
  AeAnomalyFeatures feats[40];
  guint8 y[W * H];

  for (int t = 0; t < 40; t++) {
    scene (y, W, W, H, 100 + t);
    AeFrame f = {.format = AE_FRAME_GRAY8,.width = W,.height = H,
      .data = y,.stride = W
    };
    g_assert_true (ae_anomaly_scorer_measure (scorer, plan, &f, &feats[t],
            NULL, 0, 0, &error));
  }
  AeAnomalyCalibration cal;
  g_assert_true (ae_anomaly_calibrate (feats, 40, NULL, &cal, &error));
  g_assert_no_error (error);
  g_autofree char *cal_json = ae_anomaly_calibration_to_json (&cal);
  g_autofree char *member = g_strdup_printf (", \"anomaly\": %s", cal_json);
  g_autofree char *graph = g_strdup_printf (blur_graph, member);
  model_file = save_model ("blur.safetensors", graph);

  /* the scene in colour, its colours learnt as the trainer does them */
  g_autoptr (AeColourCounter) counter = ae_colour_counter_new ();
  g_autofree guint8 *rgb = g_new (guint8, W * H * 3);
  for (int t = 0; t < 40; t++) {
    scene (y, W, W, H, 100 + t);
    scene_rgb (y, rgb);
    ae_colour_counter_add (counter, rgb, W * 3, W, H, 3);
  }
  AeColours colours;
  g_assert_true (ae_colour_counter_finish (counter, &colours));
  ae_anomaly_scorer_set_colours (scorer, &colours);
  for (int t = 0; t < 40; t++) {
    scene (y, W, W, H, 100 + t);
    scene_rgb (y, rgb);
    AeFrame f = {.format = AE_FRAME_RGB,.width = W,.height = H,
      .data = rgb,.stride = W * 3
    };
    g_assert_true (ae_anomaly_scorer_measure (scorer, plan, &f, &feats[t],
            NULL, 0, 0, &error));
  }
  g_assert_true (ae_anomaly_calibrate (feats, 40, &colours, &cal, &error));
  g_assert_no_error (error);
  g_autofree char *colour_json = ae_anomaly_calibration_to_json (&cal);
  g_autofree char *colour_member = g_strdup_printf (", \"anomaly\": %s",
      colour_json);
  g_autofree char *colour_graph = g_strdup_printf (blur_graph, colour_member);
  colour_file = save_model ("colour.safetensors", colour_graph);
}

static void
video_info (GstVideoInfo * info, const char *format, int w, int h)
{
  gst_video_info_init (info);
  g_assert_true (gst_video_info_set_format (info,
          gst_video_format_from_string (format), w, h));
  info->fps_n = 10;
  info->fps_d = 1;
}

/* aeanomaly with the calibrated model and @first_prop..., caps set. */
static GstHarness *
harness_new (const GstVideoInfo * info, const char *first_prop, ...)
{
  GstElement *el = gst_element_factory_make ("aeanomaly", NULL);
  va_list ap;

  g_assert_nonnull (el);
  g_object_set (el, "model", model_file, "device", "cpu", "threads", 1, NULL);
  va_start (ap, first_prop);
  if (first_prop)
    g_object_set_valist (G_OBJECT (el), first_prop, ap);
  va_end (ap);
  GstHarness *h = gst_harness_new_with_element (el, "sink", "src");
  gst_object_unref (el);
  gst_harness_set_src_caps (h, gst_video_info_to_caps (info));
  return h;
}

/* Frame @t of the scene in @info's format (luma from the scene; RGB gets
 * R = G = B, YUV neutral chroma), @what: 0 normal, 1 a strong pasted
 * patch, 2 a weak one, 3 blurred, 4 darkened. */
static GstBuffer *
frame_buffer (const GstVideoInfo * info, int t, int what)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, info->size, NULL);
  GstVideoFrame f;
  int w = GST_VIDEO_INFO_WIDTH (info), h = GST_VIDEO_INFO_HEIGHT (info);

  gst_buffer_memset (buf, 0, 0, info->size);    /* padding and x bytes */
  g_autofree guint8 *y = g_new (guint8, w * h);
  g_autofree guint8 *tmp = g_new (guint8, w * h);

  scene (y, w, w, h, t);
  if (what == 1 || what == 2)
    paste (y, w, w * 3 / 5, h / 4, MIN (16, MIN (w, h) / 2), what == 1 ? 100 :
        18);
  if (what == 3)
    for (int pass = 0; pass < 3; pass++) {
      memcpy (tmp, y, w * h);
      for (int j = 0; j < h; j++)
        for (int i = 0; i < w; i++) {
          int s = 0;
          for (int d = -1; d <= 1; d++)
            s += tmp[j * w + CLAMP (i + d, 0, w - 1)] +
                tmp[CLAMP (j + d, 0, h - 1) * w + i];
          y[j * w + i] = (guint8) ((s + 3) / 6);
        }
    }
  if (what == 4)
    for (int i = 0; i < w * h; i++)
      y[i] = (guint8) (y[i] * 0.5);

  g_assert_true (gst_video_frame_map (&f, (GstVideoInfo *) info, buf,
          GST_MAP_WRITE));
  gboolean rgb = GST_VIDEO_FORMAT_INFO_IS_RGB (info->finfo);
  /* the same picture in limited-range YUV: Y' in 16..235 */
  if (!rgb && !GST_VIDEO_FORMAT_INFO_IS_GRAY (info->finfo)
      && info->colorimetry.range != GST_VIDEO_COLOR_RANGE_0_255)
    for (int i = 0; i < w * h; i++)
      y[i] = (guint8) (16 + y[i] * 219 / 255.0 + 0.5);
  for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (&f); c++) {
    int cw = GST_VIDEO_FRAME_COMP_WIDTH (&f, c);
    int ch = GST_VIDEO_FRAME_COMP_HEIGHT (&f, c);
    int ps = GST_VIDEO_FRAME_COMP_PSTRIDE (&f, c);
    for (int j = 0; j < ch; j++) {
      guint8 *row = (guint8 *) GST_VIDEO_FRAME_COMP_DATA (&f, c) +
          j * GST_VIDEO_FRAME_COMP_STRIDE (&f, c);
      for (int i = 0; i < cw; i++)
        row[i * ps] = (rgb || c == 0) && c < 3 ? y[j * h / ch * w + i * w /
            cw] : (c == 3 ? 255 : 128);
    }
  }
  gst_video_frame_unmap (&f);
  GST_BUFFER_PTS (buf) = t * FRAME_DURATION;
  GST_BUFFER_DURATION (buf) = FRAME_DURATION;
  return buf;
}

/* Pushes @buf, returns the output; checks the bytes are unchanged unless
 * @may_change. */
static GstBuffer *
push (GstHarness * h, GstBuffer * buf, gboolean may_change)
{
  GstBuffer *copy = gst_buffer_copy_deep (buf);
  GstBuffer *out = gst_harness_push_and_pull (h, buf);

  g_assert_nonnull (out);
  if (!may_change) {
    GstMapInfo a, b;
    gst_buffer_map (copy, &a, GST_MAP_READ);
    gst_buffer_map (out, &b, GST_MAP_READ);
    g_assert_cmpmem (a.data, a.size, b.data, b.size);
    gst_buffer_unmap (copy, &a);
    gst_buffer_unmap (out, &b);
  }
  gst_buffer_unref (copy);
  return out;
}

/* The "ae-anomaly" messages posted so far, in order. */
static GList *
pop_messages (GstBus * bus)
{
  GList *list = NULL;
  GstMessage *msg;

  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    if (gst_message_has_name (msg, "ae-anomaly"))
      list = g_list_append (list, msg);
    else
      gst_message_unref (msg);
  }
  return list;
}

static const char *
msg_type (GstMessage * m)
{
  return gst_structure_get_string (gst_message_get_structure (m), "type");
}

static GstClockTime
msg_time (GstMessage * m, const char *field)
{
  GstClockTime t = GST_CLOCK_TIME_NONE;
  g_assert_true (gst_structure_get_clock_time (gst_message_get_structure (m),
          field, &t));
  return t;
}

static GstBus *
attach_bus (GstHarness * h)
{
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  return bus;
}

static void
detach_bus (GstHarness * h, GstBus * bus)
{
  gst_element_set_bus (h->element, NULL);
  gst_bus_set_flushing (bus, TRUE);
  gst_object_unref (bus);
}

/* A pasted patch in frame 5 of 10: that frame alone is flagged, its meta
 * and the start/end messages say so, with the right times and region. */
static void
test_pasted_patch (void)
{
  GstVideoInfo info;
  video_info (&info, "GRAY8", W, H);
  GstHarness *h = harness_new (&info, NULL);
  GstBus *bus = attach_bus (h);

  for (int t = 0; t < 10; t++) {
    GstBuffer *out = push (h, frame_buffer (&info, t, t == 5), FALSE);
    GstAeAnomalyMeta *m = gst_buffer_get_ae_anomaly_meta (out);
    g_assert_nonnull (m);
    g_assert_true (m->scored);
    g_assert_cmpuint (m->map_width, ==, 32);
    g_assert_cmpuint (m->map_height, ==, 21);
    g_test_message ("frame %d: score %.2f (%.2f x threshold) %s", t,
        m->score, m->normalized, m->feature);
    if (t == 5) {
      g_assert_true (m->anomalous);
      g_assert_cmpfloat (m->normalized, >, 1.5);
      /* an error feature, above normal */
      g_assert_true (g_str_equal (m->feature, "worst")
          || g_str_equal (m->feature, "mse"));
      g_assert_false (m->below);
      /* the region overlaps the patch (57..73 x 16..32) */
      g_assert_cmpint (m->x, <, 73);
      g_assert_cmpint (m->x + m->width, >, 57);
      g_assert_cmpint (m->y, <, 32);
      g_assert_cmpint (m->y + m->height, >, 16);
      /* the map is hottest over the patch */
      guint hot = 0;
      for (guint i = 1; i < m->map_width * m->map_height; i++)
        if (m->map[i] > m->map[hot])
          hot = i;
      int cx = hot % m->map_width * W / 32, cy = hot / m->map_width * H / 21;
      g_assert_cmpint (cx, >=, 54);
      g_assert_cmpint (cx, <, 76);
      g_assert_cmpint (cy, >=, 13);
      g_assert_cmpint (cy, <, 35);
    } else {
      g_assert_false (m->anomalous);
      g_assert_cmpfloat (m->normalized, <, 1.0);
    }
    gst_buffer_unref (out);
  }

  GList *msgs = pop_messages (bus);
  g_assert_cmpuint (g_list_length (msgs), ==, 2);
  GstMessage *start = msgs->data, *end = msgs->next->data;
  const GstStructure *s = gst_message_get_structure (start);
  g_assert_cmpstr (msg_type (start), ==, "start");
  g_assert_cmpuint (msg_time (start, "timestamp"), ==, 5 * FRAME_DURATION);
  g_assert_cmpuint (msg_time (start, "running-time"), ==, 5 * FRAME_DURATION);
  g_assert_cmpuint (msg_time (start, "stream-time"), ==, 5 * FRAME_DURATION);
  double score, peak, norm, thr;
  int x, y, w, hh;
  g_assert_true (gst_structure_get (s, "score", G_TYPE_DOUBLE, &score, "peak",
          G_TYPE_DOUBLE, &peak, "normalized", G_TYPE_DOUBLE, &norm,
          "threshold", G_TYPE_DOUBLE, &thr, "x", G_TYPE_INT, &x, "y",
          G_TYPE_INT, &y, "width", G_TYPE_INT, &w, "height", G_TYPE_INT, &hh,
          NULL));
  g_assert_cmpfloat (score, >, thr);
  g_assert_cmpfloat (peak, ==, score);
  g_assert_cmpfloat_with_epsilon (norm, score / thr, 1e-9);
  g_assert_cmpint (x, <, 73);
  g_assert_cmpint (w, >, 0);
  g_assert_false (g_str_equal (gst_structure_get_string (s, "feature"),
          "brightness"));

  s = gst_message_get_structure (end);
  g_assert_cmpstr (msg_type (end), ==, "end");
  g_assert_cmpuint (msg_time (end, "timestamp"), ==, 6 * FRAME_DURATION);
  g_assert_cmpuint (msg_time (end, "duration"), ==, FRAME_DURATION);
  g_assert_cmpstr (gst_structure_get_string (s, "reason"), ==, "score");
  double end_peak;
  g_assert_true (gst_structure_get_double (s, "peak", &end_peak));
  g_assert_cmpfloat (end_peak, ==, peak);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);

  detach_bus (h, bus);
  gst_harness_teardown (h);
}

/* Camera tamper: blur and darkness are flagged from below, although blur
 * makes the frame easier to reconstruct. */
static void
test_tamper (void)
{
  GstVideoInfo info;
  video_info (&info, "I420", W, H);
  GstHarness *h = harness_new (&info, NULL);

  for (int what = 3; what <= 4; what++) {
    GstBuffer *out = push (h, frame_buffer (&info, 20 + what, 0), FALSE);
    GstAeAnomalyMeta *m = gst_buffer_get_ae_anomaly_meta (out);
    g_assert_false (m->anomalous);
    gst_buffer_unref (out);
    out = push (h, frame_buffer (&info, 21 + what, what), FALSE);
    m = gst_buffer_get_ae_anomaly_meta (out);
    g_test_message ("%s: %.2f x threshold, %s %s", what == 3 ? "blur" :
        "dark", m->normalized, m->feature, m->below ? "below" : "above");
    g_assert_true (m->anomalous);
    g_assert_true (m->below);
    g_assert_cmpstr (m->feature, !=, "worst");
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
}

/* min-duration: one anomalous frame is no event; three are, dated from
 * their first frame; the event ends after frames stay below. */
static void
test_min_duration (void)
{
  GstVideoInfo info;
  video_info (&info, "GRAY8", W, H);
  GstHarness *h = harness_new (&info, "min-duration",
      (guint64) (2 * FRAME_DURATION), NULL);
  GstBus *bus = attach_bus (h);
  /* frames: 2 single anomaly; 6, 7, 8 anomalous */
  static const int what[14] = { 0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0 };
  gboolean flagged[14];

  for (int t = 0; t < 14; t++) {
    GstBuffer *out = push (h, frame_buffer (&info, t, what[t]), FALSE);
    flagged[t] = gst_buffer_get_ae_anomaly_meta (out)->anomalous;
    gst_buffer_unref (out);
  }
  for (int t = 0; t < 14; t++)
    g_assert_cmpint (flagged[t], ==, t >= 8 && t <= 10);
  GList *msgs = pop_messages (bus);
  g_assert_cmpuint (g_list_length (msgs), ==, 2);
  g_assert_cmpstr (msg_type (msgs->data), ==, "start");
  g_assert_cmpuint (msg_time (msgs->data, "timestamp"), ==,
      6 * FRAME_DURATION);
  g_assert_cmpuint (msg_time (msgs->data, "running-time"), ==,
      6 * FRAME_DURATION);
  g_assert_cmpstr (msg_type (msgs->next->data), ==, "end");
  g_assert_cmpuint (msg_time (msgs->next->data, "timestamp"), ==,
      9 * FRAME_DURATION);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  detach_bus (h, bus);
  gst_harness_teardown (h);
}

/* Frame @t of the scene (@what as frame_buffer) at timestamp @pts. */
static GstBuffer *
frame_at (const GstVideoInfo * info, int t, int what, GstClockTime pts)
{
  GstBuffer *b = frame_buffer (info, t, what);
  GST_BUFFER_PTS (b) = pts;
  return b;
}

/* min-duration counts in running time: an anomaly that goes on across a
 * new segment whose timestamps start again at 0 (concatenated recordings)
 * becomes an event, dated in running time from its first frame. */
static void
test_new_segment (void)
{
  GstVideoInfo info;
  video_info (&info, "GRAY8", W, H);
  GstHarness *h = harness_new (&info, "min-duration",
      (guint64) (3 * FRAME_DURATION), NULL);
  GstBus *bus = attach_bus (h);
  int flagged = 0;

  /* frames 6 and 7 anomalous, then 6 more after the new segment */
  for (int t = 0; t < 8; t++) {
    GstBuffer *out = push (h, frame_buffer (&info, t, t >= 6), FALSE);
    flagged += gst_buffer_get_ae_anomaly_meta (out)->anomalous;
    gst_buffer_unref (out);
  }
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.base = 8 * FRAME_DURATION;
  g_assert_true (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  for (int t = 0; t < 6; t++) {
    GstBuffer *out = push (h, frame_at (&info, 20 + t, 1, t * FRAME_DURATION),
        FALSE);
    flagged += gst_buffer_get_ae_anomaly_meta (out)->anomalous;
    gst_buffer_unref (out);
  }
  /* frames 6..8 in running time wait out min-duration; 9..13 flagged */
  g_assert_cmpint (flagged, ==, 5);
  GList *msgs = pop_messages (bus);
  g_assert_cmpuint (g_list_length (msgs), ==, 1);
  g_assert_cmpstr (msg_type (msgs->data), ==, "start");
  g_assert_cmpuint (msg_time (msgs->data, "running-time"), ==,
      6 * FRAME_DURATION);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  detach_bus (h, bus);
  gst_harness_teardown (h);
}

/* An event that EOS ends while its score is already below the release
 * level (waiting out min-duration) ends at its first frame below: its
 * message and events-file line do not count the frames after it. */
static void
test_eos_while_below (void)
{
  g_autofree char *path = g_build_filename (tmp_dir, "eos-below.jsonl",
      NULL);
  g_unlink (path);
  GstVideoInfo info;
  video_info (&info, "GRAY8", W, H);
  GstHarness *h = harness_new (&info, "min-duration",
      (guint64) (3 * FRAME_DURATION), "events-location", path, NULL);
  GstBus *bus = attach_bus (h);

  /* frames 2..6 anomalous, 7..9 below, then EOS before 10 */
  for (int t = 0; t < 10; t++)
    gst_buffer_unref (push (h, frame_buffer (&info, t, t >= 2 && t <= 6),
            FALSE));
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  GList *msgs = pop_messages (bus);
  g_assert_cmpuint (g_list_length (msgs), ==, 2);
  GstMessage *end = msgs->next->data;
  g_assert_cmpstr (msg_type (end), ==, "end");
  g_assert_cmpuint (msg_time (end, "timestamp"), ==, 7 * FRAME_DURATION);
  g_assert_cmpuint (msg_time (end, "running-time"), ==, 7 * FRAME_DURATION);
  g_assert_cmpuint (msg_time (end, "duration"), ==, 5 * FRAME_DURATION);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  detach_bus (h, bus);
  gst_harness_teardown (h);

  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_autoptr (JsonNode) line = json_from_string (text, NULL);
  g_assert_nonnull (line);
  JsonObject *o = json_node_get_object (line);
  g_assert_cmpint (json_object_get_int_member (o, "frames"), ==, 5);
  g_assert_cmpfloat (json_object_get_double_member (o, "end"), ==, 0.7);
  g_assert_cmpstr (json_object_get_string_member (o, "reason"), ==, "eos");
}

/* Score of frame @what through a fresh element. */
static double
score_of (int what)
{
  GstVideoInfo info;
  video_info (&info, "GRAY8", W, H);
  GstHarness *h = harness_new (&info, NULL);
  GstBuffer *out = push (h, frame_buffer (&info, 3, what), FALSE);
  double s = gst_buffer_get_ae_anomaly_meta (out)->score;
  gst_buffer_unref (out);
  gst_harness_teardown (h);
  return s;
}

/* hysteresis: a weak anomaly after a strong one continues the event when
 * it stays above threshold x hysteresis, and ends it when not. */
static void
test_hysteresis (void)
{
  double strong = score_of (1), weak = score_of (2);
  g_test_message ("strong %.2f, weak %.2f", strong, weak);
  g_assert_cmpfloat (strong, >, 2 * weak);
  double threshold = 1.5 * weak;       /* weak is below it, strong above */

  for (int k = 0; k < 2; k++) {
    GstVideoInfo info;
    video_info (&info, "GRAY8", W, H);
    GstHarness *h = harness_new (&info, "threshold", threshold,
        "hysteresis", k == 0 ? 0.5 : 1.0, NULL);
    static const int what[5] = { 0, 1, 2, 2, 0 };
    gboolean flagged[5];
    for (int t = 0; t < 5; t++) {
      GstBuffer *out = push (h, frame_buffer (&info, t, what[t]), FALSE);
      GstAeAnomalyMeta *m = gst_buffer_get_ae_anomaly_meta (out);
      g_assert_cmpfloat_with_epsilon (m->normalized, m->score / threshold,
          1e-9);
      flagged[t] = m->anomalous;
      gst_buffer_unref (out);
    }
    for (int t = 0; t < 5; t++)
      g_assert_cmpint (flagged[t], ==, k == 0 ? t >= 1 && t <= 3 : t == 1);
    gst_harness_teardown (h);
  }
}

/* interval 3: frames 0, 3, 6... are scored and posted; the others carry
 * the last score; a patch on an unscored frame is not seen. */
static void
test_interval (void)
{
  GstVideoInfo info;
  video_info (&info, "GRAY8", W, H);
  GstHarness *h = harness_new (&info, "interval", 3, "post-scores", TRUE,
      NULL);
  GstBus *bus = attach_bus (h);
  double last = -1;

  for (int t = 0; t < 9; t++) {
    GstBuffer *out = push (h, frame_buffer (&info, t, t == 4 || t == 6),
        FALSE);
    GstAeAnomalyMeta *m = gst_buffer_get_ae_anomaly_meta (out);
    g_assert_cmpint (m->scored, ==, t % 3 == 0);
    if (t % 3)
      g_assert_cmpfloat (m->score, ==, last);
    g_assert_cmpint (m->anomalous, ==, t >= 6);
    last = m->score;
    gst_buffer_unref (out);
  }
  GList *msgs = pop_messages (bus);
  /* frame messages for 0, 3, 6 and the start at 6 */
  g_assert_cmpuint (g_list_length (msgs), ==, 4);
  int k = 0;
  for (GList * l = msgs; l; l = l->next) {
    if (g_str_equal (msg_type (l->data), "start")) {
      g_assert_cmpuint (msg_time (l->data, "timestamp"), ==,
          6 * FRAME_DURATION);
      continue;
    }
    g_assert_cmpstr (msg_type (l->data), ==, "frame");
    g_assert_cmpuint (msg_time (l->data, "timestamp"), ==,
        3 * k * FRAME_DURATION);
    gboolean anomalous;
    g_assert_true (gst_structure_get_boolean (gst_message_get_structure
            (l->data), "anomalous", &anomalous));
    g_assert_cmpint (anomalous, ==, k == 2);
    k++;
  }
  g_assert_cmpint (k, ==, 3);
  g_list_free_full (msgs, (GDestroyNotify) gst_message_unref);
  detach_bus (h, bus);
  gst_harness_teardown (h);
}

/* overlay: none never changes a byte (checked by push() everywhere);
 * heatmap changes the anomalous frame's pixels; box only during an event
 * and only on the outline. */
static void
test_overlay (void)
{
  const char *fmts[] = { "GRAY8", "I420", "RGBx", "BGR" };
  for (guint i = 0; i < G_N_ELEMENTS (fmts); i++) {
    GstVideoInfo info;
    video_info (&info, fmts[i], W, H);

    GstHarness *h = harness_new (&info, "overlay", 1 /* heatmap */ , NULL);
    GstBuffer *in = frame_buffer (&info, 5, 1);
    GstBuffer *ref = gst_buffer_copy_deep (in);
    GstBuffer *out = push (h, in, TRUE);
    GstMapInfo a, b;
    gst_buffer_map (ref, &a, GST_MAP_READ);
    gst_buffer_map (out, &b, GST_MAP_READ);
    gsize changed = 0;
    for (gsize k = 0; k < a.size; k++)
      changed += a.data[k] != b.data[k];
    gst_buffer_unmap (ref, &a);
    gst_buffer_unmap (out, &b);
    g_assert_cmpuint (changed, >, 0);
    gst_buffer_unref (out);
    gst_buffer_unref (ref);
    gst_harness_teardown (h);

    h = harness_new (&info, "overlay", 2 /* box */ , NULL);
    out = push (h, frame_buffer (&info, 4, 0), FALSE);  /* no event: as is */
    gst_buffer_unref (out);
    in = frame_buffer (&info, 5, 1);
    ref = gst_buffer_copy_deep (in);
    out = push (h, in, TRUE);
    GstAeAnomalyMeta *m = gst_buffer_get_ae_anomaly_meta (out);
    g_assert_true (m->anomalous);
    GstVideoFrame fa, fb;
    gst_video_frame_map (&fa, &info, ref, GST_MAP_READ);
    gst_video_frame_map (&fb, &info, out, GST_MAP_READ);
    changed = 0;
    int ps = GST_VIDEO_FRAME_COMP_PSTRIDE (&fa, 0);
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) {
        const guint8 *pa = (const guint8 *) GST_VIDEO_FRAME_COMP_DATA (&fa,
            0) + y * GST_VIDEO_FRAME_COMP_STRIDE (&fa, 0) + x * ps;
        const guint8 *pb = (const guint8 *) GST_VIDEO_FRAME_COMP_DATA (&fb,
            0) + y * GST_VIDEO_FRAME_COMP_STRIDE (&fb, 0) + x * ps;
        gboolean inside = x >= m->x + 2 && x < m->x + m->width - 2
            && y >= m->y + 2 && y < m->y + m->height - 2;
        gboolean outside = x < m->x || x >= m->x + m->width || y < m->y
            || y >= m->y + m->height;
        if (inside || outside)
          g_assert_cmpint (*pa, ==, *pb);
        else
          changed += *pa != *pb;
      }
    g_assert_cmpuint (changed, >, 0);
    gst_video_frame_unmap (&fa);
    gst_video_frame_unmap (&fb);
    gst_buffer_unref (out);
    gst_buffer_unref (ref);
    gst_harness_teardown (h);
  }
}

/* Every format at several sizes: bytes unchanged, a meta on every buffer;
 * the same luma gives the same score in every format. */
static void
test_formats (void)
{
  static const int sizes[][2] = { {1, 1}, {17, 9}, {W, H}, {640, 480},
  {1921, 1081}
  };
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
    double ref_score = -1;
    for (guint i = 0; i < G_N_ELEMENTS (formats); i++) {
      GstVideoInfo info;
      video_info (&info, formats[i], sizes[s][0], sizes[s][1]);
      GstHarness *h = harness_new (&info, NULL);
      GstBuffer *out = push (h, frame_buffer (&info, 7, 0), FALSE);
      GstAeAnomalyMeta *m = gst_buffer_get_ae_anomaly_meta (out);
      g_assert_nonnull (m);
      g_assert_true (isfinite (m->score));
      g_test_message ("%s %dx%d: %.3f (%s)", formats[i], sizes[s][0],
          sizes[s][1], m->score, m->feature);
      /* RGB carries the same luma as GRAY8 (R = G = B): the same score;
       * limited-range YUV the same picture with coarser steps, which this
       * smooth, low-error scene feels (well below the threshold of 5) */
      if (ref_score < 0)
        ref_score = m->score;
      else if (GST_VIDEO_INFO_IS_RGB (&info))
        g_assert_cmpfloat (fabs (m->score - ref_score), <=,
            0.05 * ref_score + 0.05);
      else if (sizes[s][0] > 1)
        g_assert_cmpfloat (fabs (m->score - ref_score), <, 2.5);
      gst_buffer_unref (out);
      gst_harness_teardown (h);
    }
  }
}

/* A copy of @buf whose planes have @pad more bytes per row than @info's
 * default, described by a GstVideoMeta (as v4l2src and decoders give). */
static GstBuffer *
padded_copy (const GstVideoInfo * info, GstBuffer * buf, int pad)
{
  GstVideoInfo pinfo = *info;
  gsize size = 0;

  for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES (info); p++) {
    pinfo.offset[p] = size;
    pinfo.stride[p] = info->stride[p] + pad;
    size += (gsize) pinfo.stride[p] *
        GST_VIDEO_FORMAT_INFO_SCALE_HEIGHT (info->finfo, p, info->height);
  }
  pinfo.size = size;
  GstBuffer *out = gst_buffer_new_allocate (NULL, size, NULL);
  gst_buffer_memset (out, 0, 0xAA, size);
  GstVideoFrame a, b;
  g_assert_true (gst_video_frame_map (&a, (GstVideoInfo *) info, buf,
          GST_MAP_READ));
  g_assert_true (gst_video_frame_map (&b, &pinfo, out, GST_MAP_WRITE));
  g_assert_true (gst_video_frame_copy (&b, &a));
  gst_video_frame_unmap (&a);
  gst_video_frame_unmap (&b);
  gst_buffer_add_video_meta_full (out, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_INFO_FORMAT (info), info->width, info->height,
      GST_VIDEO_INFO_N_PLANES (info), pinfo.offset, pinfo.stride);
  gst_buffer_copy_into (out, buf, GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
  return out;
}

/* Buffers whose rows are longer than the caps' default (a GstVideoMeta)
 * score as the same frames packed: the element's scratch frame keeps its
 * own layout (it was mapped with the buffer's and overran). */
static void
test_padded_stride (void)
{
  const char *fmts[] = { "GRAY8", "I420", "NV12", "RGBx", "RGB" };
  for (guint i = 0; i < G_N_ELEMENTS (fmts); i++) {
    GstVideoInfo info;
    video_info (&info, fmts[i], W, H);
    double score[2];
    for (int padded = 0; padded < 2; padded++) {
      GstHarness *h = harness_new (&info, NULL);
      GstBuffer *buf = frame_buffer (&info, 7, 1);
      if (padded) {
        GstBuffer *p = padded_copy (&info, buf, 512);
        gst_buffer_unref (buf);
        buf = p;
      }
      GstBuffer *out = push (h, buf, FALSE);
      GstAeAnomalyMeta *m = gst_buffer_get_ae_anomaly_meta (out);
      g_assert_nonnull (m);
      score[padded] = m->score;
      gst_buffer_unref (out);
      gst_harness_teardown (h);
    }
    g_test_message ("%s: %.4f packed, %.4f padded", fmts[i], score[0],
        score[1]);
    g_assert_cmpfloat (score[0], >, 1.0);
    g_assert_cmpfloat (score[1], ==, score[0]);
  }
}

/* @src converted to @dst_info's format by GStreamer's converter (what
 * videoconvert does). */
static GstBuffer *
convert_buffer (const GstVideoInfo * src_info, GstBuffer * src,
    const GstVideoInfo * dst_info)
{
  GstVideoConverter *c = gst_video_converter_new ((GstVideoInfo *) src_info,
      (GstVideoInfo *) dst_info, NULL);
  GstBuffer *dst = gst_buffer_new_allocate (NULL, dst_info->size, NULL);
  GstVideoFrame a, b;

  g_assert_nonnull (c);
  g_assert_true (gst_video_frame_map (&a, (GstVideoInfo *) src_info, src,
          GST_MAP_READ));
  g_assert_true (gst_video_frame_map (&b, (GstVideoInfo *) dst_info, dst,
          GST_MAP_WRITE));
  gst_video_converter_frame (c, &a, &b);
  gst_video_frame_unmap (&a);
  gst_video_frame_unmap (&b);
  gst_video_converter_free (c);
  gst_buffer_copy_into (dst, src, GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
  return dst;
}

/* The colour feature on frames without R'G'B' bytes, which the element
 * converts with GStreamer's converter as videoconvert converted the
 * trainer's frames: a magenta case in the scene is found in I420 as in the
 * RGBx that videoconvert makes of it, with the same score and region. */
static void
test_colour_yuv (void)
{
  GstVideoInfo rgb_info, i420_info, rgbx_info;
  video_info (&rgb_info, "RGB", W, H);
  video_info (&i420_info, "I420", W, H);
  video_info (&rgbx_info, "RGBx", W, H);
  i420_info.colorimetry.range = GST_VIDEO_COLOR_RANGE_0_255;
  i420_info.colorimetry.matrix = GST_VIDEO_COLOR_MATRIX_BT601;

  guint8 y[W * H], pix[W * H * 3];
  scene (y, W, W, H, 3);
  scene_rgb (y, pix);
  for (int j = 30; j < 42; j++)
    for (int i = 50; i < 62; i++) {
      pix[(j * W + i) * 3] = pix[(j * W + i) * 3 + 2] = 200;
      pix[(j * W + i) * 3 + 1] = 40;
    }
  GstBuffer *rgb = gst_buffer_new_allocate (NULL, rgb_info.size, NULL);
  GstVideoFrame f;
  g_assert_true (gst_video_frame_map (&f, &rgb_info, rgb, GST_MAP_WRITE));
  for (int j = 0; j < H; j++)
    memcpy ((guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&f, 0) + j *
        GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0), pix + j * W * 3, W * 3);
  gst_video_frame_unmap (&f);
  GstBuffer *i420 = convert_buffer (&rgb_info, rgb, &i420_info);
  GstBuffer *rgbx = convert_buffer (&i420_info, i420, &rgbx_info);
  gst_buffer_unref (rgb);

  double score[2];
  int box[2][4];
  const GstVideoInfo *infos[2] = { &i420_info, &rgbx_info };
  GstBuffer *bufs[2] = { i420, rgbx };
  for (int k = 0; k < 2; k++) {
    GstHarness *h = harness_new (infos[k], "model", colour_file, NULL);
    GstBuffer *out = push (h, bufs[k], FALSE);
    GstAeAnomalyMeta *m = gst_buffer_get_ae_anomaly_meta (out);
    g_assert_nonnull (m);
    g_test_message ("%s: %.4f (%s) at %d,%d %dx%d", k ? "RGBx" : "I420",
        m->score, m->feature, m->x, m->y, m->width, m->height);
    g_assert_cmpstr (m->feature, ==, "colour");
    g_assert_true (m->anomalous);
    score[k] = m->score;
    box[k][0] = m->x;
    box[k][1] = m->y;
    box[k][2] = m->width;
    box[k][3] = m->height;
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
  g_assert_cmpfloat (score[0], ==, score[1]);
  g_assert_cmpmem (box[0], sizeof box[0], box[1], sizeof box[1]);
  /* the box is on the case */
  g_assert_cmpint (box[0][0], <, 62);
  g_assert_cmpint (box[0][0] + box[0][2], >, 50);
  g_assert_cmpint (box[0][1], <, 42);
  g_assert_cmpint (box[0][1] + box[0][3], >, 30);
}

/* The meta survives a buffer copy, map and all. */
static void
test_meta_copy (void)
{
  GstVideoInfo info;
  video_info (&info, "GRAY8", W, H);
  GstHarness *h = harness_new (&info, NULL);
  GstBuffer *out = push (h, frame_buffer (&info, 1, 1), FALSE);
  GstBuffer *copy = gst_buffer_copy (out);
  GstAeAnomalyMeta *a = gst_buffer_get_ae_anomaly_meta (out);
  GstAeAnomalyMeta *b = gst_buffer_get_ae_anomaly_meta (copy);
  g_assert_nonnull (b);
  g_assert_cmpfloat (a->score, ==, b->score);
  g_assert_cmpint (a->x, ==, b->x);
  g_assert_true (a->map != b->map);
  g_assert_cmpmem (a->map, a->map_width * a->map_height * sizeof (float),
      b->map, b->map_width * b->map_height * sizeof (float));
  gst_buffer_unref (copy);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

/* events-location: one JSON line per event, appended; an event still in
 * progress at EOS is written with reason "eos". */
static void
test_events_file (void)
{
  g_autofree char *path = g_build_filename (tmp_dir, "events.jsonl", NULL);
  g_assert_true (g_file_set_contents (path, "{\"earlier\": true}\n", -1,
          NULL));
  GstVideoInfo info;
  video_info (&info, "NV12", W, H);
  GstHarness *h = harness_new (&info, "events-location", path, NULL);
  static const int what[8] = { 0, 1, 1, 0, 0, 0, 3, 3 };

  for (int t = 0; t < 8; t++) {
    gst_buffer_unref (push (h, frame_buffer (&info, t, what[t]), FALSE));
    if (t == 3) {
      /* written and flushed as soon as the event ended */
      g_autofree char *text = NULL;
      g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
      g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
      g_assert_cmpuint (g_strv_length (lines), ==, 3);
    }
  }
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  gst_harness_teardown (h);

  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 4);
  g_assert_cmpstr (lines[0], ==, "{\"earlier\": true}");
  g_assert_cmpstr (lines[3], ==, "");
  for (int k = 1; k <= 2; k++) {
    g_autoptr (JsonParser) p = json_parser_new ();
    g_assert_true (json_parser_load_from_data (p, lines[k], -1, NULL));
    JsonObject *o = json_node_get_object (json_parser_get_root (p));
    g_assert_cmpfloat (json_object_get_double_member (o, "start"), ==,
        k == 1 ? 0.1 : 0.6);
    g_assert_cmpfloat (json_object_get_double_member (o, "end"), ==,
        k == 1 ? 0.3 : 0.8);
    g_assert_cmpstr (json_object_get_string_member (o, "reason"), ==,
        k == 1 ? "score" : "eos");
    if (k == 2)                 /* blur: error or detail, from below */
      g_assert_cmpstr (json_object_get_string_member (o, "feature"), !=,
          "worst");
    g_assert_cmpint (json_object_get_boolean_member (o, "below"), ==, k == 2);
    g_assert_cmpint (json_object_get_int_member (o, "frames"), ==, 2);
    g_assert_cmpfloat (json_object_get_double_member (o, "peak"), >,
        json_object_get_double_member (o, "threshold"));
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (o,
                "box")), ==, 4);
  }
  g_unlink (path);
}

static void
test_property_ranges (void)
{
  GstElement *el = gst_element_factory_make ("aeanomaly", NULL);
  double d;
  guint u;

  g_test_expect_message ("GLib-GObject", G_LOG_LEVEL_WARNING, "*threshold*");
  g_object_set (el, "threshold", -1.0, NULL);
  g_test_assert_expected_messages ();
  g_test_expect_message ("GLib-GObject", G_LOG_LEVEL_WARNING, "*hysteresis*");
  g_object_set (el, "hysteresis", 1.5, NULL);
  g_test_assert_expected_messages ();
  g_test_expect_message ("GLib-GObject", G_LOG_LEVEL_WARNING, "*interval*");
  g_object_set (el, "interval", 0, NULL);
  g_test_assert_expected_messages ();
  g_object_get (el, "threshold", &d, NULL);
  g_assert_cmpfloat (d, ==, 0.0);
  g_object_get (el, "hysteresis", &d, NULL);
  g_assert_cmpfloat (d, ==, 0.8);
  g_object_get (el, "interval", &u, NULL);
  g_assert_cmpuint (u, ==, 1);
  g_object_set (el, "threshold", 6.5, "interval", 4, NULL);
  g_object_get (el, "threshold", &d, "interval", &u, NULL);
  g_assert_cmpfloat (d, ==, 6.5);
  g_assert_cmpuint (u, ==, 4);
  gst_object_unref (el);
}

/* Takes a lone aeanomaly with @model to PAUSED, which must fail; returns
 * the error's message. */
static char *
start_error (const char *model, const char *location, int *code)
{
  GstElement *el = gst_element_factory_make ("aeanomaly", NULL);
  GstBus *bus = gst_bus_new ();
  GError *error = NULL;
  char *debug = NULL;

  gst_element_set_bus (el, bus);
  g_object_set (el, "model", model, "device", "cpu", "events-location",
      location, NULL);
  g_assert_cmpint (gst_element_set_state (el, GST_STATE_PAUSED), ==,
      GST_STATE_CHANGE_FAILURE);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  gst_message_parse_error (msg, &error, &debug);
  g_test_message ("%s", error->message);
  g_assert_true (error->domain == GST_RESOURCE_ERROR);
  *code = error->code;
  char *text = g_strdup (error->message);
  g_clear_error (&error);
  g_free (debug);
  gst_message_unref (msg);
  gst_element_set_state (el, GST_STATE_NULL);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
  return text;
}

static void
test_errors (void)
{
  int code;
  g_autofree char *missing = g_build_filename (tmp_dir, "none.safetensors",
      NULL);
  g_autofree char *text = start_error (missing, NULL, &code);
  g_assert_nonnull (strstr (text, missing));
  g_assert_cmpint (code, ==, GST_RESOURCE_ERROR_NOT_FOUND);
  g_free (text);

  g_autofree char *denoise = g_test_build_filename (G_TEST_DIST, "data",
      "models", "identity.safetensors", NULL);
  text = start_error (denoise, NULL, &code);
  g_assert_nonnull (strstr (text, "model for denoise"));
  g_assert_nonnull (strstr (text, "aeanomaly needs"));
  g_assert_nonnull (strstr (text, "model for anomaly"));
  g_assert_cmpint (code, ==, GST_RESOURCE_ERROR_SETTINGS);
  g_free (text);

  g_autofree char *broken = g_test_build_filename (G_TEST_DIST, "data",
      "broken", "nan_weight.safetensors", NULL);
  text = start_error (broken, NULL, &code);
  g_assert_nonnull (strstr (text, "nan_weight.safetensors"));
  g_assert_cmpint (code, ==, GST_RESOURCE_ERROR_SETTINGS);
  g_free (text);

  text = start_error (uncalibrated_file, NULL, &code);
  g_assert_nonnull (strstr (text, "no calibration"));
  g_assert_cmpint (code, ==, GST_RESOURCE_ERROR_SETTINGS);
  g_free (text);

  g_autofree char *bad_dir = g_build_filename (tmp_dir, "no-dir", "e.jsonl",
      NULL);
  text = start_error (model_file, bad_dir, &code);
  g_assert_nonnull (strstr (text, bad_dir));
  g_assert_cmpint (code, ==, GST_RESOURCE_ERROR_OPEN_WRITE);
}

/* A model with only the first version's calibration still runs. */
static void
test_legacy_model (void)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data",
      "models", "anomaly.safetensors", NULL);
  GstVideoInfo info;
  video_info (&info, "RGBA", 33, 21);
  GstElement *el = gst_element_factory_make ("aeanomaly", NULL);
  g_object_set (el, "model", path, "device", "cpu", NULL);
  GstHarness *h = gst_harness_new_with_element (el, "sink", "src");
  gst_object_unref (el);
  gst_harness_set_src_caps (h, gst_video_info_to_caps (&info));
  GstBuffer *out = push (h, frame_buffer (&info, 0, 0), FALSE);
  GstAeAnomalyMeta *m = gst_buffer_get_ae_anomaly_meta (out);
  g_assert_nonnull (m);
  g_assert_cmpstr (m->feature, ==, "mse");
  g_assert_false (m->below);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);
  tmp_dir = g_dir_make_tmp ("test-gst-anomaly-XXXXXX", NULL);
  g_assert_nonnull (tmp_dir);
  make_models ();

  g_test_add_func ("/aeanomaly/pasted-patch", test_pasted_patch);
  g_test_add_func ("/aeanomaly/tamper", test_tamper);
  g_test_add_func ("/aeanomaly/min-duration", test_min_duration);
  g_test_add_func ("/aeanomaly/new-segment", test_new_segment);
  g_test_add_func ("/aeanomaly/eos-while-below", test_eos_while_below);
  g_test_add_func ("/aeanomaly/hysteresis", test_hysteresis);
  g_test_add_func ("/aeanomaly/interval", test_interval);
  g_test_add_func ("/aeanomaly/overlay", test_overlay);
  g_test_add_func ("/aeanomaly/formats", test_formats);
  g_test_add_func ("/aeanomaly/padded-stride", test_padded_stride);
  g_test_add_func ("/aeanomaly/colour-yuv", test_colour_yuv);
  g_test_add_func ("/aeanomaly/meta-copy", test_meta_copy);
  g_test_add_func ("/aeanomaly/events-file", test_events_file);
  g_test_add_func ("/aeanomaly/property-ranges", test_property_ranges);
  g_test_add_func ("/aeanomaly/errors", test_errors);
  g_test_add_func ("/aeanomaly/legacy-model", test_legacy_model);
  int ret = g_test_run ();

  g_unlink (model_file);
  g_unlink (uncalibrated_file);
  g_unlink (colour_file);
  g_rmdir (tmp_dir);
  g_free (model_file);
  g_free (uncalibrated_file);
  g_free (colour_file);
  g_free (tmp_dir);
  return ret;
}
