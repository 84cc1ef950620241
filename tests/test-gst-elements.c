/* test-gst-elements.c: the autoencoder plugin's elements under GstHarness.
 *
 * aedenoise: the identity model returns every format's bytes exactly; a
 * random model equals the engine run directly; strength blends; bad models
 * and task or colour mismatches are element errors. aenoise: reproducible
 * per seed, with the requested standard deviation. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include <gst/gst.h>
#include <gst/check/gstharness.h>
#include <gst/base/gstbasetransform.h>
#include <gst/video/video.h>

#include "ae-engine.h"

static const char *formats[] = {
  "GRAY8", "I420", "NV12", "Y444", "RGBA", "BGRA", "ARGB", "ABGR", "RGBx",
  "BGRx", "xRGB", "xBGR", "RGB", "BGR",
};

static char *
model_path (const char *name)
{
  return g_test_build_filename (G_TEST_DIST, "data", "models", name, NULL);
}

/* An element with @first_prop... set, in a harness in PLAYING, caps set. */
static GstHarness *
harness_new (const char *factory, const GstVideoInfo * info,
    const char *first_prop, ...)
{
  GstElement *el = gst_element_factory_make (factory, NULL);
  va_list ap;

  g_assert_nonnull (el);
  va_start (ap, first_prop);
  if (first_prop)
    g_object_set_valist (G_OBJECT (el), first_prop, ap);
  va_end (ap);

  GstHarness *h = gst_harness_new_with_element (el, "sink", "src");
  gst_object_unref (el);
  GstCaps *caps = gst_video_info_to_caps (info);
  gst_harness_set_src_caps (h, caps);
  return h;
}

static void
video_info (GstVideoInfo * info, const char *format, int w, int h)
{
  gst_video_info_init (info);
  g_assert_true (gst_video_info_set_format (info,
          gst_video_format_from_string (format), w, h));
}

/* A buffer of @info filled with a fixed pseudo-random pattern. */
static GstBuffer *
pattern_buffer (const GstVideoInfo * info, guint32 seed)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, info->size, NULL);
  GstMapInfo map;
  guint32 x = seed * 2654435761u + 1;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < map.size; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    map.data[i] = x >> 24;
  }
  gst_buffer_unmap (buf, &map);
  return buf;
}

static GstBuffer *
flat_buffer (const GstVideoInfo * info, guint8 value)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, info->size, NULL);
  gst_buffer_memset (buf, 0, value, info->size);
  return buf;
}

/* Bytes of one row of plane @p that are pixels (not stride padding). */
static gsize
plane_row_bytes (const GstVideoFrame * f, guint p)
{
  gint comp[GST_VIDEO_MAX_COMPONENTS];
  gst_video_format_info_component (f->info.finfo, p, comp);
  return (gsize) GST_VIDEO_FRAME_COMP_WIDTH (f, comp[0]) *
      GST_VIDEO_FRAME_COMP_PSTRIDE (f, comp[0]);
}

static gsize
plane_rows (const GstVideoFrame * f, guint p)
{
  gint comp[GST_VIDEO_MAX_COMPONENTS];
  gst_video_format_info_component (f->info.finfo, p, comp);
  return GST_VIDEO_FRAME_COMP_HEIGHT (f, comp[0]);
}

static const guint8 *
plane_row (const GstVideoFrame * f, guint p, gsize y)
{
  return (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (f, p) +
      y * GST_VIDEO_FRAME_PLANE_STRIDE (f, p);
}

/* Number of pixel bytes of plane @p that differ between @a and @b. */
static gsize
plane_diff (GstBuffer * a, GstBuffer * b, const GstVideoInfo * info, guint p)
{
  GstVideoFrame fa, fb;
  gsize n = 0;

  g_assert_true (gst_video_frame_map (&fa, (GstVideoInfo *) info, a,
          GST_MAP_READ));
  g_assert_true (gst_video_frame_map (&fb, (GstVideoInfo *) info, b,
          GST_MAP_READ));
  for (gsize y = 0; y < plane_rows (&fa, p); y++) {
    const guint8 *ra = plane_row (&fa, p, y), *rb = plane_row (&fb, p, y);
    for (gsize x = 0; x < plane_row_bytes (&fa, p); x++)
      n += ra[x] != rb[x];
  }
  gst_video_frame_unmap (&fa);
  gst_video_frame_unmap (&fb);
  return n;
}

static gsize
frame_diff (GstBuffer * a, GstBuffer * b, const GstVideoInfo * info)
{
  gsize n = 0;
  for (guint p = 0; p < GST_VIDEO_INFO_N_PLANES (info); p++)
    n += plane_diff (a, b, info, p);
  return n;
}

/* Pushes @in (ref kept by the caller) and returns the output buffer. */
static GstBuffer *
push_pull (GstHarness * h, GstBuffer * in)
{
  g_assert_cmpint (gst_harness_push (h, gst_buffer_ref (in)), ==,
      GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (h);
  g_assert_nonnull (out);
  return out;
}

/* Raw frames from filesrc come in a BYTES segment: no stream time to sync
 * controlled properties to, and no CRITICAL for it (fatal here). */
static void
test_bytes_segment (void)
{
  g_autofree char *model = model_path ("identity.safetensors");
  GstVideoInfo info;
  GstSegment seg;
  video_info (&info, "I420", 32, 32);
  GstHarness *h = harness_new ("aedenoise", &info, "model", model,
      "strength", 0.5, NULL);
  gst_segment_init (&seg, GST_FORMAT_BYTES);
  g_assert_true (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  GstBuffer *in = pattern_buffer (&info, 3);
  GST_BUFFER_PTS (in) = 0;
  GstBuffer *out = push_pull (h, in);
  /* the identity model, half strength: the frame itself */
  GstMapInfo m;
  g_assert_true (gst_buffer_map (in, &m, GST_MAP_READ));
  g_assert_cmpint (gst_buffer_memcmp (out, 0, m.data, m.size), ==, 0);
  gst_buffer_unmap (in, &m);
  gst_buffer_unref (in);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

static void
test_identity_formats (void)
{
  g_autofree char *model = model_path ("identity.safetensors");
  static const int sizes[][2] = { {1, 1}, {17, 9}, {640, 480}, {1921, 1081}
  };

  for (gsize f = 0; f < G_N_ELEMENTS (formats); f++) {
    for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++) {
      GstVideoInfo info;
      video_info (&info, formats[f], sizes[s][0], sizes[s][1]);
      GstHarness *h = harness_new ("aedenoise", &info, "model", model, NULL);
      GstBuffer *in = pattern_buffer (&info, f * 7 + s);
      GstBuffer *out = push_pull (h, in);
      if (frame_diff (in, out, &info) != 0)
        g_error ("%s %dx%d: %" G_GSIZE_FORMAT " bytes differ", formats[f],
            sizes[s][0], sizes[s][1], frame_diff (in, out, &info));
      gst_buffer_unref (in);
      gst_buffer_unref (out);
      gst_harness_teardown (h);
    }
  }
}

static void
test_strength_zero (void)
{
  g_autofree char *model = model_path ("light.safetensors");

  for (gsize f = 0; f < G_N_ELEMENTS (formats); f++) {
    GstVideoInfo info;
    video_info (&info, formats[f], 17, 9);
    GstHarness *h = harness_new ("aedenoise", &info, "model", model,
        "strength", 0.0, NULL);
    GstBuffer *in = pattern_buffer (&info, f);
    GstBuffer *out = push_pull (h, in);
    g_assert_cmpuint (frame_diff (in, out, &info), ==, 0);
    gst_buffer_unref (in);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
}

/* The first plane of @in run through the engine directly: a tightly
 * packed copy (stride = width × bpp). */
static guint8 *
engine_reference_scaled (const char *path, GstBuffer * in,
    const GstVideoInfo * info, AeFrameFormat format, int scale,
    gsize * stride)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) m = ae_model_load (path, &error);
  g_assert_no_error (error);
  AeEngineParams ep = {.device = "cpu" };
  g_autoptr (AeEngine) e = ae_engine_new (&ep, &error);
  g_assert_no_error (error);
  AePlanParams pp = {.width = info->width,.height = info->height };
  g_autoptr (AePlan) plan = ae_plan_new (e, m, &pp, &error);
  g_assert_no_error (error);

  GstVideoFrame vf;
  g_assert_true (gst_video_frame_map (&vf, (GstVideoInfo *) info, in,
          GST_MAP_READ));
  AeFrame fin = {
    .format = format,.width = info->width,.height = info->height,
    .data = GST_VIDEO_FRAME_PLANE_DATA (&vf, 0),
    .stride = GST_VIDEO_FRAME_PLANE_STRIDE (&vf, 0),
    .matrix = AE_MATRIX_BT601,
  };
  *stride = (gsize) info->width * scale * ae_frame_format_bpp (format);
  guint8 *data = g_malloc0 (*stride * info->height * scale);
  AeFrame fout = fin;
  fout.width = info->width * scale;
  fout.height = info->height * scale;
  fout.data = data;
  fout.stride = *stride;
  g_assert_true (ae_plan_run (plan, &fin, &fout, &error));
  g_assert_no_error (error);
  gst_video_frame_unmap (&vf);
  return data;
}

static guint8 *
engine_reference (const char *path, GstBuffer * in, const GstVideoInfo * info,
    AeFrameFormat format, gsize * stride)
{
  return engine_reference_scaled (path, in, info, format, 1, stride);
}

static void
check_light (const char *format, AeFrameFormat ae_format, double strength)
{
  g_autofree char *model = model_path ("light.safetensors");
  GstVideoInfo info;
  video_info (&info, format, 61, 47);
  GstHarness *h = harness_new ("aedenoise", &info, "model", model,
      "strength", strength, NULL);
  GstBuffer *in = pattern_buffer (&info, 3);
  GstBuffer *out = push_pull (h, in);
  gsize ref_stride;
  g_autofree guint8 *ref = engine_reference (model, in, &info, ae_format,
      &ref_stride);
  const int w = (int) (strength * 256.0 + 0.5);

  g_assert_cmpuint (plane_diff (in, out, &info, 0), >, 0);
  GstVideoFrame fin, fout;
  gst_video_frame_map (&fin, &info, in, GST_MAP_READ);
  gst_video_frame_map (&fout, &info, out, GST_MAP_READ);
  for (gsize y = 0; y < plane_rows (&fin, 0); y++) {
    const guint8 *ri = plane_row (&fin, 0, y), *ro = plane_row (&fout, 0, y);
    const guint8 *rr = ref + y * ref_stride;
    for (gsize x = 0; x < plane_row_bytes (&fin, 0); x++) {
      int expect = strength >= 1.0 ? rr[x] :
          (ri[x] * (256 - w) + rr[x] * w + 128) >> 8;
      if (ro[x] != expect)
        g_error ("%s strength %g: byte (%" G_GSIZE_FORMAT ", %" G_GSIZE_FORMAT
            ") is %d, expected %d", format, strength, x, y, ro[x], expect);
    }
  }
  gst_video_frame_unmap (&fin);
  gst_video_frame_unmap (&fout);
  /* chroma of YUV is copied */
  for (guint p = 1; p < GST_VIDEO_INFO_N_PLANES (&info); p++)
    g_assert_cmpuint (plane_diff (in, out, &info, p), ==, 0);
  gst_buffer_unref (in);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

static void
test_light_equals_engine (void)
{
  check_light ("GRAY8", AE_FRAME_GRAY8, 1.0);
  check_light ("I420", AE_FRAME_GRAY8, 1.0);
  check_light ("NV12", AE_FRAME_GRAY8, 1.0);
  check_light ("BGRx", AE_FRAME_BGRX, 1.0);
  check_light ("RGB", AE_FRAME_RGB, 1.0);
}

static void
test_strength_blend (void)
{
  check_light ("GRAY8", AE_FRAME_GRAY8, 0.5);
  check_light ("Y444", AE_FRAME_GRAY8, 0.25);
  check_light ("RGBA", AE_FRAME_RGBA, 0.75);
}

/* aenoise on @in with @seed; returns the output. */
static GstBuffer *
noise_run (const GstVideoInfo * info, GstBuffer * in, const char *first_prop,
    ...)
{
  GstElement *el = gst_element_factory_make ("aenoise", NULL);
  va_list ap;
  va_start (ap, first_prop);
  g_object_set_valist (G_OBJECT (el), first_prop, ap);
  va_end (ap);
  GstHarness *h = gst_harness_new_with_element (el, "sink", "src");
  gst_object_unref (el);
  gst_harness_set_src_caps (h, gst_video_info_to_caps (info));
  GstBuffer *out = push_pull (h, in);
  gst_harness_teardown (h);
  return out;
}

static void
plane_stats (GstBuffer * buf, const GstVideoInfo * info, double *mean,
    double *sd)
{
  GstVideoFrame f;
  double s = 0, s2 = 0;
  gsize n = 0;

  gst_video_frame_map (&f, (GstVideoInfo *) info, buf, GST_MAP_READ);
  for (gsize y = 0; y < plane_rows (&f, 0); y++)
    for (gsize x = 0; x < plane_row_bytes (&f, 0); x++) {
      double v = plane_row (&f, 0, y)[x];
      s += v;
      s2 += v * v;
      n++;
    }
  gst_video_frame_unmap (&f);
  *mean = s / n;
  *sd = sqrt (s2 / n - *mean * *mean);
}

static void
test_noise_reproducible (void)
{
  GstVideoInfo info;
  video_info (&info, "I420", 64, 48);
  GstBuffer *in = pattern_buffer (&info, 1);
  GstBuffer *a = noise_run (&info, in, "seed", 7, NULL);
  GstBuffer *b = noise_run (&info, in, "seed", 7, NULL);
  GstBuffer *c = noise_run (&info, in, "seed", 8, NULL);
  GstBuffer *d = noise_run (&info, in, "seed", 7, "chroma", TRUE, NULL);

  g_assert_cmpuint (frame_diff (a, b, &info), ==, 0);
  g_assert_cmpuint (plane_diff (a, c, &info, 0), >, 0);
  g_assert_cmpuint (plane_diff (in, a, &info, 0), >, 0);
  /* chroma untouched unless asked for */
  g_assert_cmpuint (plane_diff (in, a, &info, 1), ==, 0);
  g_assert_cmpuint (plane_diff (in, a, &info, 2), ==, 0);
  g_assert_cmpuint (plane_diff (in, d, &info, 1), >, 0);
  gst_buffer_unref (in);
  gst_buffer_unref (a);
  gst_buffer_unref (b);
  gst_buffer_unref (c);
  gst_buffer_unref (d);
}

static void
test_noise_sigma (void)
{
  GstVideoInfo info;
  double mean, sd;

  video_info (&info, "GRAY8", 640, 480);
  GstBuffer *in = flat_buffer (&info, 128);
  GstBuffer *out = noise_run (&info, in, "sigma", 25.0, NULL);
  plane_stats (out, &info, &mean, &sd);
  g_test_message ("gaussian sigma 25: mean %.2f sd %.2f", mean, sd);
  g_assert_cmpfloat (fabs (mean - 128), <, 1.0);
  g_assert_cmpfloat (fabs (sd - 25) / 25, <, 0.1);
  gst_buffer_unref (out);
  gst_buffer_unref (in);

  /* poisson-gaussian at level 100, gain 1, sigma 3: var = 100 + 9 */
  in = flat_buffer (&info, 100);
  out = noise_run (&info, in, "mode", 1, "sigma", 3.0, "gain", 1.0, NULL);
  plane_stats (out, &info, &mean, &sd);
  g_test_message ("poisson-gaussian at 100: mean %.2f sd %.2f", mean, sd);
  g_assert_cmpfloat (fabs (mean - 100), <, 1.0);
  g_assert_cmpfloat (fabs (sd - sqrt (109.0)) / sqrt (109.0), <, 0.1);
  gst_buffer_unref (out);
  gst_buffer_unref (in);

  /* exact Poisson branch: level 10, gain 0.5 -> λ 5, sd = sqrt(10/0.5) */
  in = flat_buffer (&info, 10);
  out = noise_run (&info, in, "mode", 1, "sigma", 0.0, "gain", 0.5, NULL);
  plane_stats (out, &info, &mean, &sd);
  g_test_message ("poisson at 10, gain 0.5: mean %.2f sd %.2f", mean, sd);
  g_assert_cmpfloat (fabs (mean - 10), <, 0.5);
  g_assert_cmpfloat (fabs (sd - sqrt (20.0)) / sqrt (20.0), <, 0.1);
  gst_buffer_unref (out);
  gst_buffer_unref (in);
}

/* Sets @model on a lone aedenoise, takes it to PAUSED (which must fail)
 * and returns the error message posted on its bus. */
static char *
start_error_on (const char *factory, const char *model, GQuark * domain,
    int *code)
{
  GstElement *el = gst_element_factory_make (factory, NULL);
  GstBus *bus = gst_bus_new ();
  GError *error = NULL;
  char *debug = NULL;

  gst_element_set_bus (el, bus);
  g_object_set (el, "model", model, NULL);
  g_assert_cmpint (gst_element_set_state (el, GST_STATE_PAUSED), ==,
      GST_STATE_CHANGE_FAILURE);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  gst_message_parse_error (msg, &error, &debug);
  g_test_message ("%s: %s", model, error->message);
  char *text = g_strdup (error->message);
  *domain = error->domain;
  *code = error->code;
  g_clear_error (&error);
  g_free (debug);
  gst_message_unref (msg);
  gst_element_set_state (el, GST_STATE_NULL);
  gst_element_set_bus (el, NULL);
  gst_object_unref (bus);
  gst_object_unref (el);
  return text;
}

static char *
start_error (const char *model, GQuark * domain, int *code)
{
  return start_error_on ("aedenoise", model, domain, code);
}

static void
test_error_missing_model (void)
{
  g_autofree char *path = model_path ("no-such-model.safetensors");
  GQuark domain;
  int code;
  g_autofree char *text = start_error (path, &domain, &code);

  g_assert_nonnull (strstr (text, path));
  g_assert_true (domain == GST_RESOURCE_ERROR);
  g_assert_cmpint (code, ==, GST_RESOURCE_ERROR_NOT_FOUND);
}

static void
test_error_broken_model (void)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data",
      "broken", "cycle.safetensors", NULL);
  GQuark domain;
  int code;
  g_autofree char *text = start_error (path, &domain, &code);

  g_assert_nonnull (strstr (text, "cycle.safetensors"));
  g_assert_true (domain == GST_RESOURCE_ERROR);
  g_assert_cmpint (code, ==, GST_RESOURCE_ERROR_SETTINGS);
}

static void
test_error_task_mismatch (void)
{
  g_autofree char *path = model_path ("espcn2.safetensors");
  GQuark domain;
  int code;
  g_autofree char *text = start_error (path, &domain, &code);

  g_assert_nonnull (strstr (text, "is a model for superres"));
  g_assert_nonnull (strstr (text, "aedenoise needs a model for denoise"));
  g_assert_true (domain == GST_RESOURCE_ERROR);
  g_assert_cmpint (code, ==, GST_RESOURCE_ERROR_SETTINGS);
}

static void
test_backend_property (void)
{
  g_autofree char *path = model_path ("identity.safetensors");
  GstVideoInfo info;
  char *backend = NULL;

  video_info (&info, "GRAY8", 8, 8);
  GstHarness *h = harness_new ("aedenoise", &info, "model", path,
      "device", "cpu", "threads", 1, "tile-size", -1, NULL);
  g_object_get (h->element, "backend", &backend, NULL);
  g_assert_cmpstr (backend, ==, "cpu");
  g_free (backend);
  gst_harness_teardown (h);
}

static void
test_property_ranges (void)
{
  GstElement *dn = gst_element_factory_make ("aedenoise", NULL);
  GstElement *nz = gst_element_factory_make ("aenoise", NULL);
  double d;
  int i;

  g_test_expect_message ("GLib-GObject", G_LOG_LEVEL_WARNING, "*strength*");
  g_object_set (dn, "strength", 1.5, NULL);
  g_test_assert_expected_messages ();
  g_object_get (dn, "strength", &d, NULL);
  g_assert_cmpfloat (d, ==, 1.0);

  g_test_expect_message ("GLib-GObject", G_LOG_LEVEL_WARNING, "*tile-size*");
  g_object_set (dn, "tile-size", -2, NULL);
  g_test_assert_expected_messages ();
  g_object_get (dn, "tile-size", &i, NULL);
  g_assert_cmpint (i, ==, 0);

  g_test_expect_message ("GLib-GObject", G_LOG_LEVEL_WARNING, "*threads*");
  g_object_set (dn, "threads", -1, NULL);
  g_test_assert_expected_messages ();
  g_object_get (dn, "threads", &i, NULL);
  g_assert_cmpint (i, ==, 0);

  g_test_expect_message ("GLib-GObject", G_LOG_LEVEL_WARNING, "*sigma*");
  g_object_set (nz, "sigma", 300.0, NULL);
  g_test_assert_expected_messages ();
  g_object_get (nz, "sigma", &d, NULL);
  g_assert_cmpfloat (d, ==, 25.0);

  g_test_expect_message ("GLib-GObject", G_LOG_LEVEL_WARNING, "*gain*");
  g_object_set (nz, "gain", 0.0, NULL);
  g_test_assert_expected_messages ();
  g_object_get (nz, "gain", &d, NULL);
  g_assert_cmpfloat (d, ==, 1.0);

  gst_object_unref (dn);
  gst_object_unref (nz);
}

/* aesuperres */

static const char *sr_formats[] = { "GRAY8", "I420", "NV12", "Y444", "RGBx",
  "RGB" };

/* The caps the harness's sink pad received (the element's output). */
static void
output_info (GstHarness * h, GstVideoInfo * out)
{
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  g_assert_nonnull (caps);
  g_assert_true (gst_video_info_from_caps (out, caps));
  gst_caps_unref (caps);
}

static void
check_superres_caps (const char *model_name)
{
  g_autofree char *model = model_path (model_name);
  static const int sizes[][2] = { {1, 1}, {17, 9}, {64, 48} };

  for (gsize f = 0; f < G_N_ELEMENTS (sr_formats); f++) {
    for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++) {
      GstVideoInfo info, oinfo;
      video_info (&info, sr_formats[f], sizes[s][0], sizes[s][1]);
      GstHarness *h = harness_new ("aesuperres", &info, "model", model, NULL);
      GstBuffer *in = pattern_buffer (&info, f * 5 + s);
      GstBuffer *out = push_pull (h, in);
      output_info (h, &oinfo);
      g_assert_cmpint (GST_VIDEO_INFO_FORMAT (&oinfo), ==,
          GST_VIDEO_INFO_FORMAT (&info));
      g_assert_cmpint (oinfo.width, ==, 2 * sizes[s][0]);
      g_assert_cmpint (oinfo.height, ==, 2 * sizes[s][1]);
      g_assert_cmpint (oinfo.par_n, ==, info.par_n);
      g_assert_cmpint (oinfo.par_d, ==, info.par_d);
      g_assert_cmpuint (gst_buffer_get_size (out), >=, oinfo.size);
      gst_buffer_unref (in);
      gst_buffer_unref (out);
      gst_harness_teardown (h);
    }
  }
}

static void
test_superres_caps (void)
{
  check_superres_caps ("espcn2.safetensors");
  check_superres_caps ("bilinear.safetensors");
}

static void
check_superres_luma (const char *format)
{
  g_autofree char *model = model_path ("espcn2.safetensors");
  GstVideoInfo info, oinfo;
  video_info (&info, format, 61, 47);
  GstHarness *h = harness_new ("aesuperres", &info, "model", model, NULL);
  GstBuffer *in = pattern_buffer (&info, 11);
  GstBuffer *out = push_pull (h, in);
  output_info (h, &oinfo);
  gsize ref_stride;
  g_autofree guint8 *ref = engine_reference_scaled (model, in, &info,
      AE_FRAME_GRAY8, 2, &ref_stride);
  GstVideoFrame fout;

  g_assert_cmpint (oinfo.width, ==, 122);
  g_assert_cmpint (oinfo.height, ==, 94);
  g_assert_true (gst_video_frame_map (&fout, &oinfo, out, GST_MAP_READ));
  for (gsize y = 0; y < plane_rows (&fout, 0); y++) {
    const guint8 *ro = plane_row (&fout, 0, y), *rr = ref + y * ref_stride;
    for (gsize x = 0; x < plane_row_bytes (&fout, 0); x++)
      if (ro[x] != rr[x])
        g_error ("%s: luma (%" G_GSIZE_FORMAT ", %" G_GSIZE_FORMAT
            ") is %d, expected %d", format, x, y, ro[x], rr[x]);
  }
  gst_video_frame_unmap (&fout);
  gst_buffer_unref (in);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

static void
test_superres_luma_equals_engine (void)
{
  check_superres_luma ("GRAY8");
  check_superres_luma ("I420");
}

/* I420 chroma: flat chroma stays flat; a non-flat one matches a bilinear
 * (align_corners=false) reference within 1. */
static void
test_superres_chroma (void)
{
  g_autofree char *model = model_path ("espcn2.safetensors");
  GstVideoInfo info, oinfo;
  GstVideoFrame fin, fout;

  /* flat */
  video_info (&info, "I420", 17, 9);
  GstHarness *h = harness_new ("aesuperres", &info, "model", model, NULL);
  GstBuffer *in = pattern_buffer (&info, 2);
  g_assert_true (gst_video_frame_map (&fin, &info, in, GST_MAP_WRITE));
  for (guint p = 1; p < 3; p++)
    for (gsize y = 0; y < plane_rows (&fin, p); y++)
      memset ((guint8 *) plane_row (&fin, p, y), p == 1 ? 77 : 201,
          plane_row_bytes (&fin, p));
  gst_video_frame_unmap (&fin);
  GstBuffer *out = push_pull (h, in);
  output_info (h, &oinfo);
  g_assert_true (gst_video_frame_map (&fout, &oinfo, out, GST_MAP_READ));
  for (guint p = 1; p < 3; p++) {
    g_assert_cmpuint (plane_rows (&fout, p), ==, 9);
    g_assert_cmpuint (plane_row_bytes (&fout, p), ==, 17);
    for (gsize y = 0; y < plane_rows (&fout, p); y++)
      for (gsize x = 0; x < plane_row_bytes (&fout, p); x++)
        g_assert_cmpint (plane_row (&fout, p, y)[x], ==, p == 1 ? 77 : 201);
  }
  gst_video_frame_unmap (&fout);
  gst_buffer_unref (in);
  gst_buffer_unref (out);
  gst_harness_teardown (h);

  /* random chroma against a reference */
  video_info (&info, "I420", 64, 48);
  h = harness_new ("aesuperres", &info, "model", model, NULL);
  in = pattern_buffer (&info, 9);
  out = push_pull (h, in);
  output_info (h, &oinfo);
  g_assert_true (gst_video_frame_map (&fin, &info, in, GST_MAP_READ));
  g_assert_true (gst_video_frame_map (&fout, &oinfo, out, GST_MAP_READ));
  for (guint p = 1; p < 3; p++) {
    const int iw = plane_row_bytes (&fin, p), ih = plane_rows (&fin, p);
    const int ow = plane_row_bytes (&fout, p), oh = plane_rows (&fout, p);
    g_assert_cmpint (ow, ==, 2 * iw);
    g_assert_cmpint (oh, ==, 2 * ih);
    for (int y = 0; y < oh; y++) {
      double sy = CLAMP ((y + 0.5) * ih / oh - 0.5, 0, ih - 1);
      int j0 = (int) sy, j1 = MIN (j0 + 1, ih - 1);
      double wy = sy - j0;
      for (int x = 0; x < ow; x++) {
        double sx = CLAMP ((x + 0.5) * iw / ow - 0.5, 0, iw - 1);
        int i0 = (int) sx, i1 = MIN (i0 + 1, iw - 1);
        double wx = sx - i0;
        double v = (1 - wy) * ((1 - wx) * plane_row (&fin, p, j0)[i0] +
            wx * plane_row (&fin, p, j0)[i1]) +
            wy * ((1 - wx) * plane_row (&fin, p, j1)[i0] +
            wx * plane_row (&fin, p, j1)[i1]);
        int got = plane_row (&fout, p, y)[x];
        if (fabs (got - v) > 1.0)
          g_error ("plane %u (%d, %d): %d, expected %.2f", p, x, y, got, v);
      }
    }
  }
  gst_video_frame_unmap (&fin);
  gst_video_frame_unmap (&fout);
  gst_buffer_unref (in);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}

static void
test_superres_error_denoise_model (void)
{
  g_autofree char *path = model_path ("identity.safetensors");
  GQuark domain;
  int code;
  g_autofree char *text = start_error_on ("aesuperres", path, &domain, &code);

  g_assert_nonnull (strstr (text, "is a model for denoise"));
  g_assert_nonnull (strstr (text, "aesuperres needs a model for superres"));
  g_assert_true (domain == GST_RESOURCE_ERROR);
  g_assert_cmpint (code, ==, GST_RESOURCE_ERROR_SETTINGS);
}

/* Downstream fixed at a size that is not 2x the input: not negotiated. A
 * fixed 2x size negotiates. */
static void
test_superres_fixed_downstream (void)
{
  g_autofree char *model = model_path ("espcn2.safetensors");
  GstVideoInfo info, sinfo;

  video_info (&info, "GRAY8", 17, 9);
  for (int ok = 0; ok < 2; ok++) {
    GstElement *el = gst_element_factory_make ("aesuperres", NULL);
    g_object_set (el, "model", model, NULL);
    GstHarness *h = gst_harness_new_with_element (el, "sink", "src");
    gst_object_unref (el);
    video_info (&sinfo, "GRAY8", ok ? 34 : 40, ok ? 18 : 40);
    gst_harness_set_sink_caps (h, gst_video_info_to_caps (&sinfo));
    gst_harness_set_src_caps (h, gst_video_info_to_caps (&info));
    GstBuffer *in = pattern_buffer (&info, 4);
    GstFlowReturn ret = gst_harness_push (h, in);
    if (ok) {
      g_assert_cmpint (ret, ==, GST_FLOW_OK);
      GstBuffer *out = gst_harness_pull (h);
      g_assert_nonnull (out);
      gst_buffer_unref (out);
    } else {
      g_assert_cmpint (ret, ==, GST_FLOW_NOT_NEGOTIATED);
    }
    gst_harness_teardown (h);
  }
}

typedef struct {
  GstElement *el;
  const char *models[2];
  gint stop;
} ModelSetter;

static gpointer
set_models (gpointer data)
{
  ModelSetter *ms = data;
  for (int i = 0; !g_atomic_int_get (&ms->stop); i++)
    g_object_set (ms->el, "model", ms->models[i & 1], NULL);
  return NULL;
}

/* Setting `model` while another thread queries caps (which loads the model
 * to learn its scale) does not deadlock: the two took the object lock and
 * the model lock in opposite orders. */
static void
test_superres_model_vs_caps (void)
{
  g_autofree char *a = model_path ("espcn2.safetensors");
  g_autofree char *b = model_path ("bilinear.safetensors");
  ModelSetter ms = { gst_element_factory_make ("aesuperres", NULL), {a, b},
    0
  };
  g_autoptr (GstPad) src = gst_element_get_static_pad (ms.el, "src");
  GThread *t = g_thread_new ("set-models", set_models, &ms);
  gint64 end = g_get_monotonic_time () + G_USEC_PER_SEC / 2;
  int n = 0;

  while (g_get_monotonic_time () < end) {
    gst_caps_unref (gst_pad_query_caps (src, NULL));
    n++;
  }
  g_atomic_int_set (&ms.stop, 1);
  g_thread_join (t);
  g_test_message ("%d caps queries", n);
  g_assert_cmpint (n, >, 0);
  gst_object_unref (ms.el);
}

/* transform_caps: ranges map to multiples and back; without a loadable
 * model the caps pass through unscaled. */
static void
test_superres_transform_caps (void)
{
  g_autofree char *model = model_path ("espcn2.safetensors");
  GstElement *el = gst_element_factory_make ("aesuperres", NULL);
  GstCaps *caps, *res, *expect;

  g_object_set (el, "model", model, NULL);
  caps = gst_caps_from_string ("video/x-raw,format=GRAY8,width=[1,100],"
      "height=17,pixel-aspect-ratio=4/3");
  GstBaseTransformClass *klass = GST_BASE_TRANSFORM_GET_CLASS (el);
  res = klass->transform_caps (GST_BASE_TRANSFORM (el), GST_PAD_SINK, caps,
      NULL);
  expect = gst_caps_from_string ("video/x-raw,format=GRAY8,"
      "width=[2,200,2],height=34,pixel-aspect-ratio=4/3");
  g_test_message ("sink->src: %" GST_PTR_FORMAT, res);
  g_assert_true (gst_caps_is_equal (res, expect));
  gst_caps_unref (res);
  gst_caps_unref (expect);
  gst_caps_unref (caps);

  caps = gst_caps_from_string ("video/x-raw,format=GRAY8,width=[3,101],"
      "height=34,framerate=30/1; video/x-raw,format=GRAY8,width=35,"
      "height=34");
  res = klass->transform_caps (GST_BASE_TRANSFORM (el), GST_PAD_SRC, caps,
      NULL);
  expect = gst_caps_from_string ("video/x-raw,format=GRAY8,width=[2,50],"
      "height=17,framerate=30/1");
  g_test_message ("src->sink: %" GST_PTR_FORMAT, res);
  g_assert_true (gst_caps_is_equal (res, expect));
  gst_caps_unref (res);
  gst_caps_unref (expect);

  /* unloadable model: unscaled */
  g_object_set (el, "model", "/nonexistent.safetensors", NULL);
  res = klass->transform_caps (GST_BASE_TRANSFORM (el), GST_PAD_SRC, caps,
      NULL);
  g_assert_true (gst_caps_is_equal (res, caps));
  gst_caps_unref (res);
  gst_caps_unref (caps);

  gst_object_unref (el);
}

/* ------------------------------------------------------------------ */
/* models the tests write: nearest-neighbour upscalers (a 1x1 conv with
 * scale² outputs of weight 1, then pixel_shuffle), exact by design */

static char *tmp_dir;

static char *
write_nearest_model (int scale)
{
  g_autofree char *json = g_strdup_printf ("{\"task\": \"superres\", "
      "\"color\": \"luma\", \"scale\": %d, \"nodes\": ["
      "{\"name\": \"c\", \"op\": \"conv2d\", \"inputs\": [\"input\"], "
      "\"out\": %d, \"kernel\": 1, \"stride\": 1, \"padding\": 0, "
      "\"act\": \"none\"}, {\"name\": \"u\", \"op\": \"pixel_shuffle\", "
      "\"inputs\": [\"c\"], \"factor\": %d}], \"output\": \"u\"}", scale,
      scale * scale, scale);
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) m = ae_model_new (json, &error);
  g_assert_no_error (error);
  float *w = ae_model_get_weight (m, ae_graph_find_node (ae_model_get_graph
          (m), "c"));
  for (int i = 0; i < scale * scale; i++)
    w[i] = 1.0f;
  g_autofree char *name = g_strdup_printf ("nearest-x%d.safetensors", scale);
  char *path = g_build_filename (tmp_dir, name, NULL);
  g_assert_true (ae_model_save (m, path, AE_DTYPE_F32, &error));
  g_assert_no_error (error);
  return path;
}

/* An RGB denoise model, a 1x1 conv: output channel o = input channel
 * @from[o]. {0, 1, 2} returns its input (what it changes on YUV is the
 * colour conversion alone); {0, 0, 0} turns R' into grey. */
static char *
write_rgb_model (const char *name, const int from[3])
{
  static const char json[] = "{\"task\": \"denoise\", \"color\": \"rgb\", "
      "\"nodes\": [{\"name\": \"c\", \"op\": \"conv2d\", \"inputs\": "
      "[\"input\"], \"out\": 3, \"kernel\": 1, \"stride\": 1, "
      "\"padding\": 0, \"act\": \"none\"}], \"output\": \"c\"}";
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) m = ae_model_new (json, &error);
  g_assert_no_error (error);
  float *w = ae_model_get_weight (m, ae_graph_find_node (ae_model_get_graph
          (m), "c"));
  for (int o = 0; o < 3; o++)
    w[o * 3 + from[o]] = 1.0f;
  char *path = g_build_filename (tmp_dir, name, NULL);
  g_assert_true (ae_model_save (m, path, AE_DTYPE_F32, &error));
  g_assert_no_error (error);
  return path;
}

/* Every format at 1x1, 17x9, 640x480 (and 1921x1081 at x2) and every
 * scale: output caps scaled exactly; the Y' plane (GRAY8, YUV) is the
 * nearest-neighbour upscale of the input's. */
static void
test_superres_scales (void)
{
  static const int sizes[][2] = { {1, 1}, {17, 9}, {640, 480}, {1921, 1081} };

  for (int scale = 2; scale <= 4; scale++) {
    g_autofree char *model = write_nearest_model (scale);
    for (gsize f = 0; f < G_N_ELEMENTS (formats); f++) {
      for (gsize s = 0; s < G_N_ELEMENTS (sizes); s++) {
        if (s == 3 && scale > 2)
          continue;             /* 1921x1081 x3, x4: big, nothing new */
        GstVideoInfo info, oinfo;
        video_info (&info, formats[f], sizes[s][0], sizes[s][1]);
        GstHarness *h = harness_new ("aesuperres", &info, "model", model,
            NULL);
        GstBuffer *in = pattern_buffer (&info, f + s);
        GstBuffer *out = push_pull (h, in);
        GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
        g_assert_true (gst_video_info_from_caps (&oinfo, caps));
        gst_caps_unref (caps);
        g_assert_cmpint (oinfo.width, ==, info.width * scale);
        g_assert_cmpint (oinfo.height, ==, info.height * scale);
        g_assert_cmpint (oinfo.finfo->format, ==, info.finfo->format);
        if (GST_VIDEO_INFO_IS_YUV (&info) || GST_VIDEO_INFO_IS_GRAY (&info)) {
          GstVideoFrame fi, fo;
          g_assert_true (gst_video_frame_map (&fi, &info, in, GST_MAP_READ));
          g_assert_true (gst_video_frame_map (&fo, &oinfo, out,
                  GST_MAP_READ));
          for (int y = 0; y < oinfo.height; y++) {
            const guint8 *ro = plane_row (&fo, 0, y);
            const guint8 *ri = plane_row (&fi, 0, y / scale);
            for (int x = 0; x < oinfo.width; x++)
              if (ro[x] != ri[x / scale])
                g_error ("x%d %s %dx%d: Y'(%d, %d) = %d, input %d", scale,
                    formats[f], info.width, info.height, x, y, ro[x],
                    ri[x / scale]);
          }
          gst_video_frame_unmap (&fi);
          gst_video_frame_unmap (&fo);
        }
        gst_buffer_unref (in);
        gst_buffer_unref (out);
        gst_harness_teardown (h);
      }
    }
  }
}

/* Downstream allows a range: fixation picks exactly in x scale (sink ->
 * src), and in / scale the other way. */
static void
test_superres_fixate (void)
{
  for (int scale = 2; scale <= 4; scale++) {
    g_autofree char *model = write_nearest_model (scale);
    GstVideoInfo info, oinfo;
    video_info (&info, "I420", 30, 18);
    GstElement *el = gst_element_factory_make ("aesuperres", NULL);
    g_object_set (el, "model", model, NULL);
    GstHarness *h = gst_harness_new_with_element (el, "sink", "src");
    gst_harness_set_sink_caps_str (h, "video/x-raw, width=(int)[1, 10000], "
        "height=(int)[1, 10000], format=(string){ RGBA, I420 }");
    gst_harness_set_src_caps (h, gst_video_info_to_caps (&info));
    GstBuffer *in = pattern_buffer (&info, scale);
    GstBuffer *out = push_pull (h, in);
    GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
    g_assert_true (gst_video_info_from_caps (&oinfo, caps));
    gst_caps_unref (caps);
    g_assert_cmpint (oinfo.width, ==, 30 * scale);
    g_assert_cmpint (oinfo.height, ==, 18 * scale);
    g_assert_cmpstr (GST_VIDEO_INFO_NAME (&oinfo), ==, "I420");

    /* src -> sink: a fixed output size and a range on the input side */
    GstBaseTransformClass *bt = GST_BASE_TRANSFORM_GET_CLASS (el);
    GstCaps *src = gst_caps_from_string ("video/x-raw, format=I420, "
        "width=120, height=84, framerate=25/1");
    GstCaps *other = gst_caps_from_string ("video/x-raw, format=I420, "
        "width=[1, 1000], height=[1, 1000], framerate=[0/1, 100/1]");
    GstCaps *fixed = bt->fixate_caps (GST_BASE_TRANSFORM (el), GST_PAD_SRC,
        src, other);
    GstStructure *st = gst_caps_get_structure (fixed, 0);
    int w, hh, n, d;
    g_assert_true (gst_structure_get_int (st, "width", &w));
    g_assert_true (gst_structure_get_int (st, "height", &hh));
    g_assert_true (gst_structure_get_fraction (st, "framerate", &n, &d));
    g_assert_cmpint (w, ==, 120 / scale);
    g_assert_cmpint (hh, ==, 84 / scale);
    g_assert_cmpint (n, ==, 25);
    g_assert_cmpint (d, ==, 1);
    gst_caps_unref (fixed);
    gst_caps_unref (src);
    gst_buffer_unref (in);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
    gst_object_unref (el);
  }
}

/* A smooth test picture: gradients and a soft disc, so that chroma
 * resamplers agree and differences measure the colour conversion. */
static GstBuffer *
smooth_buffer (const GstVideoInfo * info)
{
  GstVideoInfo rgb;
  gst_video_info_set_format (&rgb, GST_VIDEO_FORMAT_RGB, info->width,
      info->height);
  rgb.colorimetry = info->colorimetry;
  GstBuffer *buf = gst_buffer_new_allocate (NULL, rgb.size, NULL);
  GstVideoFrame f;
  g_assert_true (gst_video_frame_map (&f, &rgb, buf, GST_MAP_WRITE));
  for (int y = 0; y < rgb.height; y++) {
    guint8 *row = (guint8 *) plane_row (&f, 0, y);
    for (int x = 0; x < rgb.width; x++) {
      double dx = x - rgb.width * 0.6, dy = y - rgb.height * 0.4;
      double disc = 1.0 / (1.0 + (dx * dx + dy * dy) / 200.0);
      row[3 * x + 0] = 30 + 190 * x / rgb.width;
      row[3 * x + 1] = 40 + 150 * y / rgb.height * (1 - disc) + 60 * disc;
      row[3 * x + 2] = 200 - 150 * disc;
    }
  }
  gst_video_frame_unmap (&f);

  /* to the wanted format with the same colorimetry */
  GstVideoConverter *conv = gst_video_converter_new (&rgb, (GstVideoInfo *)
      info, gst_structure_new ("options", GST_VIDEO_CONVERTER_OPT_DITHER_METHOD,
          GST_TYPE_VIDEO_DITHER_METHOD, GST_VIDEO_DITHER_NONE, NULL));
  GstBuffer *out = gst_buffer_new_allocate (NULL, info->size, NULL);
  GstVideoFrame fi, fo;
  g_assert_true (gst_video_frame_map (&fi, &rgb, buf, GST_MAP_READ));
  g_assert_true (gst_video_frame_map (&fo, (GstVideoInfo *) info, out,
          GST_MAP_WRITE));
  gst_video_converter_frame (conv, &fi, &fo);
  gst_video_frame_unmap (&fi);
  gst_video_frame_unmap (&fo);
  gst_video_converter_free (conv);
  gst_buffer_unref (buf);
  return out;
}

/* Mean and max absolute difference of plane @p. */
static void
plane_abs_diff (GstBuffer * a, GstBuffer * b, const GstVideoInfo * info,
    guint p, double *mean, int *max)
{
  GstVideoFrame fa, fb;
  double sum = 0;
  gsize n = 0;

  *max = 0;
  g_assert_true (gst_video_frame_map (&fa, (GstVideoInfo *) info, a,
          GST_MAP_READ));
  g_assert_true (gst_video_frame_map (&fb, (GstVideoInfo *) info, b,
          GST_MAP_READ));
  for (gsize y = 0; y < plane_rows (&fa, p); y++) {
    const guint8 *ra = plane_row (&fa, p, y), *rb = plane_row (&fb, p, y);
    for (gsize x = 0; x < plane_row_bytes (&fa, p); x++, n++) {
      int d = abs ((int) ra[x] - (int) rb[x]);
      sum += d;
      *max = MAX (*max, d);
    }
  }
  *mean = sum / n;
  gst_video_frame_unmap (&fa);
  gst_video_frame_unmap (&fb);
}

/* RGB models on YUV, with the matrix and range the caps say. An identity
 * model keeps a smooth picture's Y' (and Y444's chroma) to the code; a
 * model that turns R' into grey gives, on a flat colour, the grey the
 * textbook Y'CbCr -> R' formula predicts for that matrix and range. */
static void
test_rgb_model_on_yuv (void)
{
  static const int keep[3] = { 0, 1, 2 }, red[3] = { 0, 0, 0 };
  g_autofree char *identity = write_rgb_model ("rgb-identity.safetensors",
      keep);
  g_autofree char *grey = write_rgb_model ("rgb-red-grey.safetensors", red);
  static const char *yuv[] = { "I420", "NV12", "Y444" };
  static const struct {
    GstVideoColorMatrix matrix;
    const char *name;
    double kr;
  } matrices[] = {
    {GST_VIDEO_COLOR_MATRIX_BT601, "BT.601", 0.299},
    {GST_VIDEO_COLOR_MATRIX_BT709, "BT.709", 0.2126},
    {GST_VIDEO_COLOR_MATRIX_BT2020, "BT.2020", 0.2627},
  };

  for (gsize f = 0; f < G_N_ELEMENTS (yuv); f++)
    for (int full = 0; full < 2; full++)
      for (guint m = 0; m < G_N_ELEMENTS (matrices); m++) {
        GstVideoInfo info;
        video_info (&info, yuv[f], 37, 21);
        info.colorimetry.range = full ? GST_VIDEO_COLOR_RANGE_0_255 :
            GST_VIDEO_COLOR_RANGE_16_235;
        info.colorimetry.matrix = matrices[m].matrix;

        GstBuffer *in = smooth_buffer (&info);
        GstHarness *h = harness_new ("aedenoise", &info, "model", identity,
            NULL);
        GstBuffer *out = push_pull (h, in);
        gst_harness_teardown (h);
        for (guint p = 0; p < (f == 2 ? 3 : 1); p++) {
          double mean;
          int max;
          plane_abs_diff (in, out, &info, p, &mean, &max);
          g_assert_cmpint (max, <=, 1);
        }
        gst_buffer_unref (in);
        gst_buffer_unref (out);

        /* flat Y' 120, Cb 100, Cr 170 */
        GstVideoFrame fr;
        in = gst_buffer_new_allocate (NULL, info.size, NULL);
        g_assert_true (gst_video_frame_map (&fr, &info, in, GST_MAP_WRITE));
        for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (&fr); p++)
          for (gsize y = 0; y < plane_rows (&fr, p); y++) {
            guint8 *row = (guint8 *) plane_row (&fr, p, y);
            for (gsize x = 0; x < plane_row_bytes (&fr, p); x++)
              row[x] = p == 0 ? 120 : (p == 1 && (f == 1 ? x % 2 == 0 :
                      TRUE)) ? 100 : 170;
          }
        gst_video_frame_unmap (&fr);
        double kr = matrices[m].kr;
        double yo = full ? 0 : 16, ys = full ? 255 : 219, cs = full ? 255 : 224;
        double r = CLAMP ((120 - yo) / ys + 2 * (1 - kr) * (170 - 128) / cs,
            0.0, 1.0);
        int want[3] = { (int) floor (yo + ys * r + 0.5), 128, 128 };
        h = harness_new ("aedenoise", &info, "model", grey, NULL);
        out = push_pull (h, in);
        gst_harness_teardown (h);
        g_assert_true (gst_video_frame_map (&fr, &info, out, GST_MAP_READ));
        for (guint c = 0; c < 3; c++) {
          const guint8 *v = GST_VIDEO_FRAME_COMP_DATA (&fr, c);
          if (abs (v[0] - want[c]) > 1)
            g_error ("%s %s %s: component %u is %d, want %d", yuv[f],
                full ? "full" : "limited", matrices[m].name, c,
                v[0], want[c]);
        }
        gst_video_frame_unmap (&fr);
        gst_buffer_unref (in);
        gst_buffer_unref (out);
      }
}

/* Without `model`: the fast model on the CPU, found via AE_MODEL_PATH (a
 * search path; missing directories skipped); a missing default is an error
 * naming it; the blurb names both defaults. */
static void
test_default_model (void)
{
  g_autofree char *dir = g_build_filename (tmp_dir, "defaults", NULL);
  g_autofree char *fast = g_build_filename (dir,
      "denoise-luma-fast.safetensors", NULL);
  g_autofree char *quality = g_build_filename (dir,
      "denoise-luma.safetensors", NULL);
  g_autofree char *identity = model_path ("identity.safetensors");
  g_autofree char *light = model_path ("light.safetensors");
  g_autofree char *search = g_strjoin (G_SEARCHPATH_SEPARATOR_S,
      "/nonexistent", dir, NULL);
  g_autofree char *old = g_strdup (g_getenv ("AE_MODEL_PATH"));
  GstVideoInfo info;

  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  g_assert_cmpint (symlink (identity, fast), ==, 0);
  g_assert_cmpint (symlink (light, quality), ==, 0);
  g_setenv ("AE_MODEL_PATH", search, TRUE);
  video_info (&info, "NV12", 33, 17);
  GstHarness *h = harness_new ("aedenoise", &info, "device", "cpu", NULL);
  GstBuffer *in = pattern_buffer (&info, 5);
  GstBuffer *out = push_pull (h, in);
  /* the identity model stands in for the fast one: nothing changes */
  g_assert_cmpuint (frame_diff (in, out, &info), ==, 0);
  gst_buffer_unref (out);
  gst_harness_teardown (h);

  /* `model` as a bare name, with or without the extension, is looked up
   * there too: the light model is no identity */
  const char *names[] = { "denoise-luma", "denoise-luma.safetensors" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    h = harness_new ("aedenoise", &info, "device", "cpu", "model", names[i],
        NULL);
    out = push_pull (h, in);
    g_assert_cmpuint (frame_diff (in, out, &info), >, 0);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
  gst_buffer_unref (in);
  GQuark domain;
  int code;
  g_autofree char *unknown = start_error ("no-such-model", &domain, &code);
  g_assert_nonnull (strstr (unknown, "'no-such-model' is neither a file"));
  g_assert_cmpint (code, ==, GST_RESOURCE_ERROR_NOT_FOUND);

  /* no fast model: the error names the file it looked for */
  g_assert_cmpint (g_unlink (fast), ==, 0);
  g_autofree char *text = start_error (NULL, &domain, &code);
  g_assert_nonnull (strstr (text, "denoise-luma-fast.safetensors"));
  g_assert_cmpint (code, ==, GST_RESOURCE_ERROR_NOT_FOUND);
  g_unlink (quality);
  g_rmdir (dir);

  GstElementFactory *factory = gst_element_factory_find ("aedenoise");
  GstElement *el = gst_element_factory_create (factory, NULL);
  GParamSpec *ps = g_object_class_find_property (G_OBJECT_GET_CLASS (el),
      "model");
  g_assert_nonnull (strstr (g_param_spec_get_blurb (ps),
          "denoise-luma-fast.safetensors on the CPU"));
  g_assert_nonnull (strstr (g_param_spec_get_blurb (ps),
          "denoise-luma.safetensors on a GPU"));
  gst_object_unref (el);
  gst_object_unref (factory);
  if (old)
    g_setenv ("AE_MODEL_PATH", old, TRUE);
  else
    g_unsetenv ("AE_MODEL_PATH");
}

/* A format the elements do not take is refused at negotiation. */
static void
test_unsupported_caps (void)
{
  g_autofree char *model = model_path ("identity.safetensors");
  GstVideoInfo info;

  video_info (&info, "YUY2", 16, 16);
  GstHarness *h = harness_new ("aedenoise", &info, "model", model, NULL);
  GstBuffer *in = pattern_buffer (&info, 0);
  g_assert_cmpint (gst_harness_push (h, in), ==, GST_FLOW_NOT_NEGOTIATED);
  gst_harness_teardown (h);
}

/* On the CPU frames are processed in the chain function: the element adds no
 * latency to upstream's, live or not. */
static void
test_latency (void)
{
  g_autofree char *model = model_path ("identity.safetensors");
  GstVideoInfo info;

  video_info (&info, "I420", 16, 16);
  GstHarness *h = harness_new ("aedenoise", &info, "model", model, NULL);
  gst_harness_set_upstream_latency (h, 40 * GST_MSECOND);
  g_assert_cmpuint (gst_harness_query_latency (h), ==, 40 * GST_MSECOND);
  gst_harness_teardown (h);
}

static GstBuffer *
timed_buffer (const GstVideoInfo * info, GstClockTime pts)
{
  GstBuffer *buf = pattern_buffer (info, pts / GST_MSECOND);
  GST_BUFFER_PTS (buf) = pts;
  GST_BUFFER_DURATION (buf) = 40 * GST_MSECOND;
  return buf;
}

/* QoS is on: after downstream reports being a second late, a frame due
 * before that is dropped (and a QoS message posted); later ones pass. */
static void
test_qos (void)
{
  g_autofree char *model = model_path ("identity.safetensors");
  GstVideoInfo info;
  gboolean qos;

  video_info (&info, "GRAY8", 16, 16);
  GstHarness *h = harness_new ("aedenoise", &info, "model", model, NULL);
  g_object_get (h->element, "qos", &qos, NULL);
  g_assert_true (qos);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  g_assert_cmpint (gst_harness_push (h, timed_buffer (&info, 0)), ==,
      GST_FLOW_OK);
  gst_buffer_unref (gst_harness_pull (h));
  g_assert_true (gst_harness_push_upstream_event (h,
          gst_event_new_qos (GST_QOS_TYPE_UNDERFLOW, 0.5, GST_SECOND,
              40 * GST_MSECOND)));
  g_assert_cmpint (gst_harness_push (h, timed_buffer (&info,
              80 * GST_MSECOND)), ==, GST_FLOW_OK);
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 0);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_QOS);
  g_assert_nonnull (msg);
  gst_message_unref (msg);
  g_assert_cmpint (gst_harness_push (h, timed_buffer (&info,
              3 * GST_SECOND)), ==, GST_FLOW_OK);
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 1);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

/* A flushing seek's events mid-stream, then more frames and EOS. */
static void
test_flush_eos (void)
{
  g_autofree char *model = model_path ("light.safetensors");
  GstVideoInfo info;
  GstSegment seg;

  video_info (&info, "NV12", 33, 17);
  GstHarness *h = harness_new ("aedenoise", &info, "model", model, NULL);
  GstBuffer *in = timed_buffer (&info, 0);
  GstBuffer *first = push_pull (h, in);
  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_start ()));
  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  g_assert_true (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  GstBuffer *again = push_pull (h, in);
  g_assert_cmpuint (frame_diff (first, again, &info), ==, 0);
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  GstEvent *ev;
  gboolean eos = FALSE;
  while ((ev = gst_harness_try_pull_event (h))) {
    eos |= GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    gst_event_unref (ev);
  }
  g_assert_true (eos);
  gst_buffer_unref (in);
  gst_buffer_unref (first);
  gst_buffer_unref (again);
  gst_harness_teardown (h);
}

/* A pipeline run to EOS, five times over, from NULL each time. */
static void
test_state_cycles (void)
{
  g_autofree char *model = model_path ("light.safetensors");
  g_autofree char *sr = write_nearest_model (2);
  g_autofree char *launch = g_strdup_printf ("videotestsrc num-buffers=3 ! "
      "video/x-raw,format=I420,width=64,height=48 ! aenoise ! aedenoise "
      "model=%s ! aesuperres model=%s ! fakesink", model, sr);
  g_autoptr (GError) error = NULL;
  GstElement *pipe = gst_parse_launch (launch, &error);
  g_assert_no_error (error);
  GstBus *bus = gst_element_get_bus (pipe);

  for (int i = 0; i < 5; i++) {
    g_assert_cmpint (gst_element_set_state (pipe, GST_STATE_PLAYING), !=,
        GST_STATE_CHANGE_FAILURE);
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    g_assert_nonnull (msg);
    g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
    gst_message_unref (msg);
    /* PAUSED <-> PLAYING too, then all the way down */
    gst_element_set_state (pipe, GST_STATE_PAUSED);
    gst_element_set_state (pipe, GST_STATE_NULL);
  }
  gst_object_unref (bus);
  gst_object_unref (pipe);
}

/* New caps mid-stream (size, then format): the plan is rebuilt and every
 * frame still comes out right. */
static void
test_caps_change (void)
{
  g_autofree char *model = model_path ("identity.safetensors");
  g_autofree char *sr = write_nearest_model (2);
  static const struct {
    const char *format;
    int w, h;
  } steps[] = {
    {"I420", 64, 48}, {"I420", 33, 17}, {"RGBA", 33, 17}, {"GRAY8", 640,
        480}, {"NV12", 7, 5},
  };
  GstVideoInfo info;

  video_info (&info, steps[0].format, steps[0].w, steps[0].h);
  GstHarness *dn = harness_new ("aedenoise", &info, "model", model, NULL);
  GstHarness *up = harness_new ("aesuperres", &info, "model", sr, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (steps); i++) {
    GstVideoInfo oinfo;
    video_info (&info, steps[i].format, steps[i].w, steps[i].h);
    gst_harness_set_src_caps (dn, gst_video_info_to_caps (&info));
    gst_harness_set_src_caps (up, gst_video_info_to_caps (&info));
    GstBuffer *in = pattern_buffer (&info, i);
    GstBuffer *out = push_pull (dn, in);
    g_assert_cmpuint (frame_diff (in, out, &info), ==, 0);
    gst_buffer_unref (out);
    out = push_pull (up, in);
    GstCaps *caps = gst_pad_get_current_caps (up->sinkpad);
    g_assert_true (gst_video_info_from_caps (&oinfo, caps));
    gst_caps_unref (caps);
    g_assert_cmpint (oinfo.width, ==, 2 * steps[i].w);
    g_assert_cmpint (oinfo.height, ==, 2 * steps[i].h);
    g_assert_cmpuint (gst_buffer_get_size (out), ==, oinfo.size);
    gst_buffer_unref (out);
    gst_buffer_unref (in);
  }
  gst_harness_teardown (dn);
  gst_harness_teardown (up);
}

/* An aedenoise or aesuperres on the Vulkan backend with @fif frames in
 * flight, or NULL (the test skipped) when no Vulkan device runs it. */
static GstHarness *
vulkan_harness (const char *factory, const char *model,
    const GstVideoInfo * info, int fif)
{
  GstHarness *h = harness_new (factory, info, "model", model, "device",
      "vulkan", "frames-in-flight", fif, NULL);
  g_autofree char *backend = NULL;

  g_object_get (h->element, "backend", &backend, NULL);
  if (!g_str_has_prefix (backend, "vulkan")) {
    g_test_skip ("no Vulkan device");
    gst_harness_teardown (h);
    return NULL;
  }
  return h;
}

/* @n timed pattern frames through @h, then EOS: the outputs in order. On
 * a GPU with 2 frames in flight each frame comes out when the next one
 * goes in, and the last one at EOS. */
static GPtrArray *
run_frames (GstHarness * h, const GstVideoInfo * info, int n, int fif)
{
  GPtrArray *out = g_ptr_array_new_with_free_func (
      (GDestroyNotify) gst_buffer_unref);

  for (int i = 0; i < n; i++) {
    g_assert_cmpint (gst_harness_push (h, timed_buffer (info,
                i * 40 * GST_MSECOND)), ==, GST_FLOW_OK);
    g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==,
        fif == 2 ? (i > 0) : 1);
    GstBuffer *b;
    while ((b = gst_harness_try_pull (h)))
      g_ptr_array_add (out, b);
  }
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  GstBuffer *b;
  while ((b = gst_harness_try_pull (h)))
    g_ptr_array_add (out, b);
  g_assert_cmpuint (out->len, ==, n);
  for (int i = 0; i < n; i++)
    g_assert_cmpuint (GST_BUFFER_PTS (out->pdata[i]), ==,
        i * 40 * GST_MSECOND);
  return out;
}

/* Two frames in flight give the bytes one at a time gives, for every
 * frame and in order: aedenoise at strength 1 and 0.5 (blended when its
 * frame completes) and aesuperres on I420 (chroma resized then). */
static void
test_in_flight_same_output (void)
{
  g_autofree char *light = model_path ("light.safetensors");
  g_autofree char *sr = write_nearest_model (2);
  static const struct {
    const char *factory;
    double strength;
  } cases[] = {
    {"aedenoise", 1.0}, {"aedenoise", 0.5}, {"aesuperres", 0.0},
  };
  GstVideoInfo info;

  video_info (&info, "I420", 33, 17);
  for (gsize c = 0; c < G_N_ELEMENTS (cases); c++) {
    const char *model = cases[c].strength > 0 ? light : sr;
    GPtrArray *runs[2];
    for (int fif = 1; fif <= 2; fif++) {
      GstHarness *h = vulkan_harness (cases[c].factory, model, &info, fif);
      if (!h)
        return;
      if (cases[c].strength > 0)
        g_object_set (h->element, "strength", cases[c].strength, NULL);
      runs[fif - 1] = run_frames (h, &info, 5, fif);
      gst_harness_teardown (h);
    }
    GstVideoInfo oinfo;
    video_info (&oinfo, "I420", cases[c].strength > 0 ? 33 : 66,
        cases[c].strength > 0 ? 17 : 34);
    for (guint i = 0; i < runs[0]->len; i++)
      g_assert_cmpuint (frame_diff (runs[0]->pdata[i], runs[1]->pdata[i],
              &oinfo), ==, 0);
    g_ptr_array_unref (runs[0]);
    g_ptr_array_unref (runs[1]);
  }
}

/* The held frame is one frame of latency (25 fps: 40 ms) on top of
 * upstream's; none with one frame in flight. */
static void
test_in_flight_latency (void)
{
  g_autofree char *model = model_path ("light.safetensors");
  GstVideoInfo info;

  video_info (&info, "GRAY8", 16, 16);
  info.fps_n = 25;
  info.fps_d = 1;
  for (int fif = 1; fif <= 2; fif++) {
    GstHarness *h = vulkan_harness ("aedenoise", model, &info, fif);
    if (!h)
      return;
    gst_harness_set_upstream_latency (h, 40 * GST_MSECOND);
    /* the plan (and with it the backend in use) comes with the first
     * frame's caps */
    gst_harness_push (h, timed_buffer (&info, 0));
    g_assert_cmpuint (gst_harness_query_latency (h), ==,
        fif * 40 * GST_MSECOND);
    gst_harness_teardown (h);
  }
}

/* The pool proposed upstream allows one more buffer per held frame. */
static void
test_in_flight_allocation (void)
{
  g_autofree char *model = model_path ("light.safetensors");
  GstVideoInfo info;
  guint min[2];

  video_info (&info, "GRAY8", 16, 16);
  for (int fif = 1; fif <= 2; fif++) {
    GstHarness *h = vulkan_harness ("aedenoise", model, &info, fif);
    if (!h)
      return;
    gst_harness_push (h, timed_buffer (&info, 0));
    g_autoptr (GstCaps) caps = gst_video_info_to_caps (&info);
    GstQuery *q = gst_query_new_allocation (caps, TRUE);
    g_assert_true (gst_pad_peer_query (h->srcpad, q));
    g_assert_cmpuint (gst_query_get_n_allocation_pools (q), >=, 1);
    gst_query_parse_nth_allocation_pool (q, 0, NULL, NULL, &min[fif - 1],
        NULL);
    gst_query_unref (q);
    gst_harness_teardown (h);
  }
  g_test_message ("proposed min-buffers: %u with 1 frame in flight, %u with "
      "2", min[0], min[1]);
  g_assert_cmpuint (min[1], ==, min[0] + 1);
}

/* A flush drops the held frame; a caps change and EOS push it first. */
static void
test_in_flight_flush_caps (void)
{
  g_autofree char *model = model_path ("identity.safetensors");
  GstVideoInfo info, small;
  GstSegment seg;

  video_info (&info, "GRAY8", 16, 16);
  video_info (&small, "GRAY8", 8, 4);
  GstHarness *h = vulkan_harness ("aedenoise", model, &info, 2);
  if (!h)
    return;
  GstBuffer *a = pattern_buffer (&info, 1), *b = pattern_buffer (&info, 2);
  g_assert_cmpint (gst_harness_push (h, gst_buffer_ref (a)), ==, GST_FLOW_OK);
  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_start ()));
  g_assert_true (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  gst_segment_init (&seg, GST_FORMAT_TIME);
  g_assert_true (gst_harness_push_event (h, gst_event_new_segment (&seg)));
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 0);

  /* b is held, then pushed at the caps change, before the new caps */
  g_assert_cmpint (gst_harness_push (h, gst_buffer_ref (b)), ==, GST_FLOW_OK);
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 0);
  gst_harness_set_src_caps (h, gst_video_info_to_caps (&small));
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 1);
  GstBuffer *out = gst_harness_pull (h);
  g_assert_cmpuint (gst_buffer_get_size (out), ==, info.size);
  g_assert_cmpuint (frame_diff (b, out, &info), ==, 0);
  gst_buffer_unref (out);

  GstBuffer *c = pattern_buffer (&small, 3);
  g_assert_cmpint (gst_harness_push (h, gst_buffer_ref (c)), ==, GST_FLOW_OK);
  g_assert_true (gst_harness_push_event (h, gst_event_new_eos ()));
  out = gst_harness_pull (h);
  g_assert_cmpuint (frame_diff (c, out, &small), ==, 0);
  gst_buffer_unref (out);
  g_assert_cmpuint (gst_harness_buffers_in_queue (h), ==, 0);
  gst_buffer_unref (a);
  gst_buffer_unref (b);
  gst_buffer_unref (c);
  gst_harness_teardown (h);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);

  g_test_add_func ("/aedenoise/identity-formats", test_identity_formats);
  g_test_add_func ("/aedenoise/bytes-segment", test_bytes_segment);
  g_test_add_func ("/aedenoise/strength-zero", test_strength_zero);
  g_test_add_func ("/aedenoise/light-equals-engine", test_light_equals_engine);
  g_test_add_func ("/aedenoise/strength-blend", test_strength_blend);
  g_test_add_func ("/aedenoise/backend", test_backend_property);
  g_test_add_func ("/aedenoise/default-model", test_default_model);
  g_test_add_func ("/aedenoise/error-missing-model", test_error_missing_model);
  g_test_add_func ("/aedenoise/error-broken-model", test_error_broken_model);
  g_test_add_func ("/aedenoise/error-task-mismatch", test_error_task_mismatch);
  g_test_add_func ("/aesuperres/caps", test_superres_caps);
  g_test_add_func ("/aesuperres/luma-equals-engine",
      test_superres_luma_equals_engine);
  g_test_add_func ("/aesuperres/chroma", test_superres_chroma);
  g_test_add_func ("/aesuperres/error-denoise-model",
      test_superres_error_denoise_model);
  g_test_add_func ("/aesuperres/fixed-downstream",
      test_superres_fixed_downstream);
  g_test_add_func ("/aesuperres/transform-caps", test_superres_transform_caps);
  g_test_add_func ("/aesuperres/model-vs-caps", test_superres_model_vs_caps);
  g_test_add_func ("/aenoise/reproducible", test_noise_reproducible);
  g_test_add_func ("/aenoise/sigma", test_noise_sigma);
  g_test_add_func ("/properties/ranges", test_property_ranges);
  g_test_add_func ("/aedenoise/rgb-model-on-yuv", test_rgb_model_on_yuv);
  g_test_add_func ("/aedenoise/unsupported-caps", test_unsupported_caps);
  g_test_add_func ("/aedenoise/latency", test_latency);
  g_test_add_func ("/aedenoise/qos", test_qos);
  g_test_add_func ("/aedenoise/flush-eos", test_flush_eos);
  g_test_add_func ("/aesuperres/scales", test_superres_scales);
  g_test_add_func ("/aesuperres/fixate", test_superres_fixate);
  g_test_add_func ("/elements/state-cycles", test_state_cycles);
  g_test_add_func ("/elements/caps-change", test_caps_change);
  g_test_add_func ("/elements/in-flight-same-output",
      test_in_flight_same_output);
  g_test_add_func ("/elements/in-flight-latency", test_in_flight_latency);
  g_test_add_func ("/elements/in-flight-allocation",
      test_in_flight_allocation);
  g_test_add_func ("/elements/in-flight-flush-caps",
      test_in_flight_flush_caps);

  g_autoptr (GError) error = NULL;
  tmp_dir = g_dir_make_tmp ("test-gst-elements-XXXXXX", &error);
  g_assert_no_error (error);
  int ret = g_test_run ();
  /* the models the tests wrote */
  GDir *dir = g_dir_open (tmp_dir, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name (dir))) {
    g_autofree char *path = g_build_filename (tmp_dir, name, NULL);
    g_unlink (path);
  }
  if (dir)
    g_dir_close (dir);
  g_rmdir (tmp_dir);
  g_free (tmp_dir);
  gst_deinit ();
  return ret;
}
