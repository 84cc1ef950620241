/* test-gst-elements.c: the autoencoder plugin's elements under GstHarness.
 *
 * aedenoise: the identity model returns every format's bytes exactly; a
 * random model equals the engine run directly; strength blends; bad models
 * and task or colour mismatches are element errors. aenoise: reproducible
 * per seed, with the requested standard deviation. */
#include <math.h>
#include <string.h>

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

static void
test_identity_formats (void)
{
  g_autofree char *model = model_path ("identity.safetensors");
  static const int sizes[][2] = { {1, 1}, {17, 9}, {640, 480} };

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

  g_assert_nonnull (strstr (text, "is a superres model"));
  g_assert_nonnull (strstr (text, "aedenoise needs a denoise model"));
  g_assert_true (domain == GST_RESOURCE_ERROR);
  g_assert_cmpint (code, ==, GST_RESOURCE_ERROR_SETTINGS);
}

static void
test_error_rgb_model_on_yuv (void)
{
  g_autofree char *path = model_path ("rgb.safetensors");
  GstElement *el = gst_element_factory_make ("aedenoise", NULL);
  GstBus *bus = gst_bus_new ();
  GstVideoInfo info;

  gst_element_set_bus (el, bus);
  g_object_set (el, "model", path, NULL);
  GstHarness *h = gst_harness_new_with_element (el, "sink", "src");
  video_info (&info, "I420", 16, 16);
  gst_harness_set_src_caps (h, gst_video_info_to_caps (&info));
  GstBuffer *in = pattern_buffer (&info, 0);
  g_assert_cmpint (gst_harness_push (h, in), ==, GST_FLOW_NOT_NEGOTIATED);

  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  GError *error = NULL;
  gst_message_parse_error (msg, &error, NULL);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, "RGB"));
  g_assert_true (error->domain == GST_CORE_ERROR);
  g_clear_error (&error);
  gst_message_unref (msg);
  gst_harness_teardown (h);
  gst_element_set_bus (el, NULL);
  gst_object_unref (el);
  gst_object_unref (bus);

  /* the same model on RGBA runs */
  video_info (&info, "RGBA", 16, 16);
  h = harness_new ("aedenoise", &info, "model", path, NULL);
  in = pattern_buffer (&info, 0);
  GstBuffer *out = push_pull (h, in);
  g_assert_cmpuint (plane_diff (in, out, &info, 0), >, 0);
  gst_buffer_unref (in);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
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

/* Without `model`, the shipped denoise model is found via AE_MODEL_PATH
 * (a search path; missing directories are skipped). */
static void
test_default_model (void)
{
  g_autofree char *models = g_test_build_filename (G_TEST_DIST, "..",
      "models", NULL);
  g_autofree char *search = g_strjoin (G_SEARCHPATH_SEPARATOR_S,
      "/nonexistent", models, NULL);
  g_autofree char *old = g_strdup (g_getenv ("AE_MODEL_PATH"));
  GstVideoInfo info;

  g_setenv ("AE_MODEL_PATH", search, TRUE);
  video_info (&info, "NV12", 33, 17);
  GstHarness *h = harness_new ("aedenoise", &info, NULL);
  GstBuffer *in = pattern_buffer (&info, 5);
  GstBuffer *out = push_pull (h, in);
  /* the sample model blurs: luma changes, chroma is copied */
  g_assert_cmpuint (plane_diff (in, out, &info, 0), >, 0);
  g_assert_cmpuint (plane_diff (in, out, &info, 1), ==, 0);
  gst_buffer_unref (in);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
  if (old)
    g_setenv ("AE_MODEL_PATH", old, TRUE);
  else
    g_unsetenv ("AE_MODEL_PATH");
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

  g_assert_nonnull (strstr (text, "is a denoise model"));
  g_assert_nonnull (strstr (text, "aesuperres needs a superres model"));
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);

  g_test_add_func ("/aedenoise/identity-formats", test_identity_formats);
  g_test_add_func ("/aedenoise/strength-zero", test_strength_zero);
  g_test_add_func ("/aedenoise/light-equals-engine", test_light_equals_engine);
  g_test_add_func ("/aedenoise/strength-blend", test_strength_blend);
  g_test_add_func ("/aedenoise/backend", test_backend_property);
  g_test_add_func ("/aedenoise/default-model", test_default_model);
  g_test_add_func ("/aedenoise/error-missing-model", test_error_missing_model);
  g_test_add_func ("/aedenoise/error-broken-model", test_error_broken_model);
  g_test_add_func ("/aedenoise/error-task-mismatch", test_error_task_mismatch);
  g_test_add_func ("/aedenoise/error-rgb-model-on-yuv",
      test_error_rgb_model_on_yuv);
  g_test_add_func ("/aesuperres/caps", test_superres_caps);
  g_test_add_func ("/aesuperres/luma-equals-engine",
      test_superres_luma_equals_engine);
  g_test_add_func ("/aesuperres/chroma", test_superres_chroma);
  g_test_add_func ("/aesuperres/error-denoise-model",
      test_superres_error_denoise_model);
  g_test_add_func ("/aesuperres/fixed-downstream",
      test_superres_fixed_downstream);
  g_test_add_func ("/aesuperres/transform-caps", test_superres_transform_caps);
  g_test_add_func ("/aenoise/reproducible", test_noise_reproducible);
  g_test_add_func ("/aenoise/sigma", test_noise_sigma);
  g_test_add_func ("/properties/ranges", test_property_ranges);

  int ret = g_test_run ();
  gst_deinit ();
  return ret;
}
