/* The Vulkan backend against the CPU backend and PyTorch, on whatever Vulkan
 * device exists (lavapipe in CI), with the Khronos validation layer on when
 * AE_VK_VALIDATION=1 (meson sets it): a validation message is a g_warning,
 * which fails the test. Without any Vulkan device every test is skipped.
 *
 * fp32 storage must match the CPU within 1e-4, fp16 storage within 2e-3
 * (relative to max(1, |reference|)); 8-bit frames within one level. */
#include "ae-engine.h"
#include "ae-error.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static gboolean have_device;
static gboolean have_fp16;

static AeEngine *
engine (const char *device, gboolean fp16)
{
  g_autoptr (GError) error = NULL;
  AeEngineParams ep = { .device = device, .threads = 2 };
  g_setenv ("AE_VK_FP16", fp16 ? "1" : "0", TRUE);
  AeEngine *e = ae_engine_new (&ep, &error);
  g_assert_no_error (error);
  return e;
}

static gboolean
need_device (void)
{
  if (!have_device)
    g_test_skip ("no Vulkan device");
  return have_device;
}

static AeModel *
fixture_model (const char *name)
{
  g_autofree char *file = g_strdup_printf ("%s.safetensors", name);
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data",
      "models", file, NULL);
  g_autoptr (GError) error = NULL;
  AeModel *m = ae_model_load (path, &error);
  g_assert_no_error (error);
  return m;
}

static void
fill_random (float *d, gsize n, guint32 seed)
{
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < n; i++)
    d[i] = g_rand_double (r);
}

/* Runs @m on a @w x @h tensor with tile @tile; returns the output. */
static float *
run_tensor (AeEngine *e, AeModel *m, const float *in, int w, int h, int tile,
    gsize *n_out)
{
  const AeGraph *g = ae_model_get_graph (m);
  int s = ae_graph_get_scale (g), c = ae_graph_get_channels (g);
  AePlanParams pp = { .width = w, .height = h, .tile_size = tile };
  g_autoptr (GError) error = NULL;
  g_autoptr (AePlan) p = ae_plan_new (e, m, &pp, &error);
  g_assert_no_error (error);
  *n_out = (gsize) c * w * s * h * s;
  float *out = g_new0 (float, *n_out);
  g_assert_true (ae_plan_run_tensor (p, in, out, &error));
  g_assert_no_error (error);
  return out;
}

static double
max_error (const float *a, const float *b, gsize n)
{
  double err = 0;
  for (gsize i = 0; i < n; i++) {
    double e = fabs ((double) a[i] - b[i]) / MAX (1.0, fabs (b[i]));
    err = isnan (e) ? INFINITY : MAX (err, e);
  }
  return err;
}

/* ------------------------------------------------------------------ */
/* every op, in a small graph: conv → op(s) → conv */

typedef struct {
  const char *name;
  const char *task;
  int scale;
  int channels;                 /* of "pre" */
  const char *nodes;            /* reading "pre", the last one named "x" */
} OpCase;

static const OpCase op_cases[] = {
  {"conv-gemm-relu", "denoise", 1, 12,
    "{\"name\": \"x\", \"op\": \"conv2d\", \"inputs\": [\"pre\"], \"out\": 20,"
      " \"kernel\": 3, \"stride\": 1, \"padding\": 1, \"act\": \"relu\"}"},
  {"conv-gemm-wide-leaky", "denoise", 1, 12,
    "{\"name\": \"x\", \"op\": \"conv2d\", \"inputs\": [\"pre\"], \"out\": 40,"
      " \"kernel\": 3, \"stride\": 1, \"padding\": 1, \"act\": \"leaky_relu\","
      " \"slope\": 0.1}"},
  {"conv-dilated-tanh", "denoise", 1, 8,
    "{\"name\": \"x\", \"op\": \"conv2d\", \"inputs\": [\"pre\"], \"out\": 8,"
      " \"kernel\": 3, \"stride\": 1, \"padding\": 2, \"dilation\": 2,"
      " \"act\": \"tanh\"}"},
  {"conv-1x1-nobias-sigmoid", "denoise", 1, 12,
    "{\"name\": \"x\", \"op\": \"conv2d\", \"inputs\": [\"pre\"], \"out\": 9,"
      " \"kernel\": 1, \"stride\": 1, \"padding\": 0, \"bias\": false,"
      " \"act\": \"sigmoid\"}"},
  {"conv-stride2-transpose", "denoise", 1, 8,
    "{\"name\": \"d\", \"op\": \"conv2d\", \"inputs\": [\"pre\"], \"out\": 16,"
      " \"kernel\": 5, \"stride\": 2, \"padding\": 2, \"act\": \"relu\"},"
      "{\"name\": \"x\", \"op\": \"conv_transpose2d\", \"inputs\": [\"d\"],"
      " \"out\": 6, \"kernel\": 4, \"stride\": 2, \"padding\": 1,"
      " \"act\": \"none\"}"},
  {"conv-transpose-output-padding", "superres", 2, 6,
    "{\"name\": \"x\", \"op\": \"conv_transpose2d\", \"inputs\": [\"pre\"],"
      " \"out\": 5, \"kernel\": 3, \"stride\": 2, \"padding\": 1,"
      " \"output_padding\": 1, \"act\": \"tanh\"}"},
  {"pixel-shuffle-unshuffle", "denoise", 1, 12,
    "{\"name\": \"s\", \"op\": \"pixel_shuffle\", \"inputs\": [\"pre\"],"
      " \"factor\": 2},"
      "{\"name\": \"x\", \"op\": \"pixel_unshuffle\", \"inputs\": [\"s\"],"
      " \"factor\": 2}"},
  {"pixel-shuffle-superres", "superres", 2, 8,
    "{\"name\": \"x\", \"op\": \"pixel_shuffle\", \"inputs\": [\"pre\"],"
      " \"factor\": 2}"},
  {"upsample-nearest-maxpool", "denoise", 1, 5,
    "{\"name\": \"u\", \"op\": \"upsample\", \"inputs\": [\"pre\"],"
      " \"factor\": 2, \"mode\": \"nearest\"},"
      "{\"name\": \"x\", \"op\": \"max_pool2d\", \"inputs\": [\"u\"],"
      " \"kernel\": 2, \"stride\": 2}"},
  {"upsample-bilinear-avgpool", "denoise", 1, 5,
    "{\"name\": \"u\", \"op\": \"upsample\", \"inputs\": [\"pre\"],"
      " \"factor\": 2, \"mode\": \"bilinear\"},"
      "{\"name\": \"x\", \"op\": \"avg_pool2d\", \"inputs\": [\"u\"],"
      " \"kernel\": 3, \"stride\": 2, \"padding\": 1}"},
  {"maxpool-k3-s2-p1", "denoise", 1, 6,
    "{\"name\": \"p\", \"op\": \"max_pool2d\", \"inputs\": [\"pre\"],"
      " \"kernel\": 3, \"stride\": 2, \"padding\": 1},"
      "{\"name\": \"x\", \"op\": \"upsample\", \"inputs\": [\"p\"],"
      " \"factor\": 2, \"mode\": \"bilinear\"}"},
  {"add-concat-act", "denoise", 1, 6,
    "{\"name\": \"a\", \"op\": \"act\", \"inputs\": [\"pre\"],"
      " \"act\": \"tanh\"},"
      "{\"name\": \"b\", \"op\": \"act\", \"inputs\": [\"pre\"],"
      " \"act\": \"leaky_relu\", \"slope\": 0.3},"
      "{\"name\": \"s\", \"op\": \"add\", \"inputs\": [\"pre\", \"a\", \"b\"]},"
      "{\"name\": \"x\", \"op\": \"concat\", \"inputs\": [\"s\", \"a\", \"b\"]}"},
};

static AeModel *
op_model (const OpCase *oc)
{
  g_autofree char *json = g_strdup_printf ("{\"task\": \"%s\", "
      "\"color\": \"luma\", \"scale\": %d, \"nodes\": ["
      "{\"name\": \"pre\", \"op\": \"conv2d\", \"inputs\": [\"input\"],"
      " \"out\": %d, \"kernel\": 3, \"stride\": 1, \"padding\": 1,"
      " \"act\": \"none\"}, %s,"
      "{\"name\": \"post\", \"op\": \"conv2d\", \"inputs\": [\"x\"], \"out\": 1,"
      " \"kernel\": 3, \"stride\": 1, \"padding\": 1, \"act\": \"none\"}],"
      " \"output\": \"post\"}", oc->task, oc->scale, oc->channels, oc->nodes);
  g_autoptr (GError) error = NULL;
  AeModel *m = ae_model_new (json, &error);
  g_assert_no_error (error);
  const AeGraph *g = ae_model_get_graph (m);
  g_autoptr (GRand) r = g_rand_new_with_seed (7);
  for (int i = 0; i < ae_graph_get_n_nodes (g); i++) {
    const AeNode *nd = ae_graph_get_node (g, i);
    if (nd->op != AE_OP_CONV2D && nd->op != AE_OP_CONV_TRANSPOSE2D)
      continue;
    const AeConvParams *c = &nd->p.conv;
    gsize n = (gsize) c->in_channels * c->out_channels * c->kernel * c->kernel;
    double a = 1.5 / sqrt (c->in_channels * c->kernel * c->kernel);
    float *w = ae_model_get_weight (m, i), *b = ae_model_get_bias (m, i);
    for (gsize k = 0; k < n; k++)
      w[k] = g_rand_double_range (r, -a, a);
    for (int k = 0; b && k < c->out_channels; k++)
      b[k] = g_rand_double_range (r, -0.2, 0.2);
  }
  return m;
}

static void
test_op (gconstpointer data)
{
  const OpCase *oc = data;
  const int w = 23, h = 17;
  if (!need_device ())
    return;
  g_autoptr (AeModel) m = op_model (oc);
  g_autoptr (AeEngine) cpu = engine ("cpu", FALSE);
  g_autofree float *in = g_new (float, w * h);
  gsize n;
  fill_random (in, w * h, 3);
  g_autofree float *want = run_tensor (cpu, m, in, w, h, -1, &n);

  for (int fp16 = 0; fp16 <= have_fp16; fp16++) {
    g_autoptr (AeEngine) vk = engine ("vulkan", fp16);
    g_autofree float *got = run_tensor (vk, m, in, w, h, -1, &n);
    double err = max_error (got, want, n);
    g_test_message ("%s, %s storage: max error %.3g", oc->name,
        fp16 ? "fp16" : "fp32", err);
    g_assert_cmpfloat (err, <=, fp16 ? 2e-3 : 1e-4);
  }
}

/* ------------------------------------------------------------------ */
/* the PyTorch fixtures: every io pair (1x1 up to 61x47), whole and tiled */

static void
test_fixture (gconstpointer data)
{
  const char *name = data;
  if (!need_device ())
    return;
  g_autoptr (AeModel) m = fixture_model (name);
  g_autoptr (AeEngine) vk = engine ("vulkan", FALSE);
  g_autofree char *file = g_strdup_printf ("%s.io.safetensors", name);
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data",
      "models", file, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AeSafetensors) io = ae_safetensors_load (path, &error);
  g_assert_no_error (error);
  int stride = ae_graph_get_stride (ae_model_get_graph (m));

  for (int k = 0;; k++) {
    g_autofree char *in_name = g_strdup_printf ("input.%d", k);
    g_autofree char *out_name = g_strdup_printf ("output.%d", k);
    const AeTensorView *vi = ae_safetensors_lookup (io, in_name);
    const AeTensorView *vo = ae_safetensors_lookup (io, out_name);
    if (!vi)
      break;
    g_autofree float *in = g_new (float, vi->n_elements);
    g_autofree float *want = g_new (float, vo->n_elements);
    ae_tensor_view_read_f32 (vi, in);
    ae_tensor_view_read_f32 (vo, want);
    int w = vi->shape[3], h = vi->shape[2];
    /* tiled only on the small pairs: lavapipe is slow, and /vulkan/tiled
     * covers tiling */
    for (int t = 0; t < (w * h <= 17 * 17 ? 2 : 1); t++) {
      int tile = t ? 3 * stride : -1;
      gsize n;
      g_autofree float *got = run_tensor (vk, m, in, w, h, tile, &n);
      g_assert_cmpuint (n, ==, vo->n_elements);
      double err = max_error (got, want, n);
      g_test_message ("%s %dx%d tile %d: max error %.3g", name, w, h, tile,
          err);
      g_assert_cmpfloat (err, <=, 1e-4);
    }
  }
}

/* ------------------------------------------------------------------ */
/* 8-bit frames converted on the device, against the CPU */

typedef struct {
  const char *model;
  AeFrameFormat format;
  int w, h;
  int tile;
} FrameCase;

static const FrameCase frame_cases[] = {
  {"identity", AE_FRAME_GRAY8, 1, 1, 0},
  {"unet", AE_FRAME_GRAY8, 17, 9, 0},
  {"unet", AE_FRAME_GRAY8, 37, 29, 8},      /* tiled on the device */
  {"unet", AE_FRAME_BGRX, 17, 9, 0},        /* luma model on RGB */
  {"espcn2", AE_FRAME_RGBA, 13, 7, 0},      /* + chroma interpolation */
  {"espcn2", AE_FRAME_RGB, 17, 9, 6},
  {"rgb", AE_FRAME_BGR, 17, 9, 0},
  {"rgb", AE_FRAME_XRGB, 9, 17, 4},
  {"light", AE_FRAME_I420, 17, 9, 0},       /* the Y' plane */
  {"rgb", AE_FRAME_NV12, 18, 10, 0},        /* RGB on YUV: CPU conversion */
  {"identity", AE_FRAME_GRAY8, 1921, 1081, 0},
  {"bilinear", AE_FRAME_GRAY8, 321, 181, 0},
  {"identity", AE_FRAME_RGBX, 1921, 1081, 0},
};

typedef struct {
  AeFrame f;
  guint8 *y, *c0, *c1;
} Frame;

static void
frame_init (Frame *fr, AeFrameFormat format, int w, int h, guint32 seed)
{
  int bpp = ae_frame_format_bpp (format), rows;
  gsize crow;
  memset (fr, 0, sizeof *fr);
  fr->f.format = format;
  fr->f.width = w;
  fr->f.height = h;
  fr->f.stride = (gsize) w * bpp + 5;       /* not a multiple of 4 */
  fr->f.data = fr->y = g_malloc (fr->f.stride * h);
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  for (gsize i = 0; i < fr->f.stride * h; i++)
    fr->y[i] = g_rand_int_range (r, 0, 256);
  int nc = ae_frame_chroma_planes (format, w, h, &rows, &crow);
  for (int c = 0; c < nc; c++) {
    guint8 *p = g_malloc (crow * rows);
    for (gsize i = 0; i < crow * rows; i++)
      p[i] = g_rand_int_range (r, 0, 256);
    fr->f.chroma[c] = p;
    fr->f.chroma_stride[c] = crow;
    *(c ? &fr->c1 : &fr->c0) = p;
  }
}

static void
frame_clear (Frame *fr)
{
  g_free (fr->y);
  g_free (fr->c0);
  g_free (fr->c1);
}

static void
run_frame (AeEngine *e, AeModel *m, const AeFrame *in, AeFrame *out,
    int tile)
{
  AePlanParams pp = { .width = in->width, .height = in->height,
    .tile_size = tile
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (AePlan) p = ae_plan_new (e, m, &pp, &error);
  g_assert_no_error (error);
  g_assert_true (ae_plan_run (p, in, out, &error));
  g_assert_no_error (error);
}

static int
max_byte_diff (const AeFrame *a, const AeFrame *b)
{
  int bpp = ae_frame_format_bpp (a->format), d = 0;
  for (int y = 0; y < a->height; y++)
    for (int x = 0; x < a->width * bpp; x++)
      d = MAX (d, abs (a->data[y * a->stride + x] - b->data[y * b->stride
                  + x]));
  return d;
}

static void
test_frame (gconstpointer data)
{
  const FrameCase *fc = data;
  if (!need_device ())
    return;
  g_autoptr (AeModel) m = fixture_model (fc->model);
  int s = ae_graph_get_scale (ae_model_get_graph (m));
  g_autoptr (AeEngine) cpu = engine ("cpu", FALSE);
  Frame in, want, got;
  frame_init (&in, fc->format, fc->w, fc->h, 11);
  frame_init (&want, fc->format, fc->w * s, fc->h * s, 12);
  frame_init (&got, fc->format, fc->w * s, fc->h * s, 13);
  run_frame (cpu, m, &in.f, &want.f, fc->tile);

  for (int fp16 = 0; fp16 <= have_fp16; fp16++) {
    g_autoptr (AeEngine) vk = engine ("vulkan", fp16);
    run_frame (vk, m, &in.f, &got.f, fc->tile);
    int d = max_byte_diff (&got.f, &want.f);
    g_test_message ("%s %s %dx%d, %s: max difference %d", fc->model,
        ae_frame_format_name (fc->format), fc->w, fc->h,
        fp16 ? "fp16" : "fp32", d);
    /* fp16 storage: a level or two on frames of random noise */
    g_assert_cmpint (d, <=, fp16 ? 2 : 1);
  }
  frame_clear (&in);
  frame_clear (&want);
  frame_clear (&got);
}

/* One plan, the same RGB frame with each matrix in turn, and back to the
 * first: each run uses its own Y' weights (the recorded commands depend
 * on the matrix), as the CPU does. */
static void
test_frame_matrix (void)
{
  if (!need_device ())
    return;
  g_autoptr (AeModel) m = fixture_model ("unet");
  g_autoptr (AeEngine) cpu = engine ("cpu", FALSE);
  g_autoptr (AeEngine) vk = engine ("vulkan", FALSE);
  AePlanParams pp = {.width = 17,.height = 9 };
  g_autoptr (GError) error = NULL;
  g_autoptr (AePlan) p = ae_plan_new (vk, m, &pp, &error);
  g_assert_no_error (error);
  const AeMatrix order[] = { AE_MATRIX_BT601, AE_MATRIX_BT2020,
    AE_MATRIX_BT709, AE_MATRIX_BT601
  };
  Frame in, want, got, first;
  frame_init (&in, AE_FRAME_BGRX, 17, 9, 21);
  frame_init (&want, AE_FRAME_BGRX, 17, 9, 22);
  frame_init (&got, AE_FRAME_BGRX, 17, 9, 23);
  frame_init (&first, AE_FRAME_BGRX, 17, 9, 24);
  for (guint i = 0; i < G_N_ELEMENTS (order); i++) {
    in.f.matrix = want.f.matrix = got.f.matrix = order[i];
    run_frame (cpu, m, &in.f, &want.f, 0);
    g_assert_true (ae_plan_run (p, &in.f, &got.f, &error));
    g_assert_no_error (error);
    g_assert_cmpint (max_byte_diff (&got.f, &want.f), <=, 1);
    if (i == 0)
      memcpy (first.y, got.y, got.f.stride * got.f.height);
    else if (order[i] != order[0])
      g_assert_cmpint (max_byte_diff (&got.f, &first.f), >, 1);
    else
      g_assert_cmpint (max_byte_diff (&got.f, &first.f), ==, 0);
  }
  frame_clear (&in);
  frame_clear (&want);
  frame_clear (&got);
  frame_clear (&first);
}

/* The automatic tile of a stride-3 model fits the device's buffer limit
 * after it is made even: fp32 storage, 32 channels at full HD went over
 * lavapipe's 128 MB by the evening-out and fell back to the CPU. */
static void
test_auto_tile_odd_stride (void)
{
  if (!need_device ())
    return;
  g_autoptr (AeEngine) vk = engine ("vulkan", FALSE);
  for (int c = 24; c <= 48; c += 8) {
    g_autofree char *json = g_strdup_printf ("{\"task\": \"denoise\", "
        "\"nodes\": [{\"name\": \"a\", \"op\": \"conv2d\", \"inputs\": "
        "[\"input\"], \"out\": %d, \"kernel\": 3, \"act\": \"relu\"}, "
        "{\"name\": \"p\", \"op\": \"avg_pool2d\", \"inputs\": [\"a\"], "
        "\"kernel\": 3}, {\"name\": \"u\", \"op\": \"upsample\", "
        "\"inputs\": [\"p\"], \"factor\": 3}, {\"name\": \"b\", \"op\": "
        "\"conv2d\", \"inputs\": [\"u\"], \"out\": 1, \"kernel\": 1}], "
        "\"output\": \"b\"}", c);
    g_autoptr (GError) error = NULL;
    g_autoptr (AeModel) m = ae_model_new (json, &error);
    g_assert_no_error (error);
    AePlanParams pp = {.width = 1920,.height = 1080 };
    g_autoptr (AePlan) p = ae_plan_new (vk, m, &pp, &error);
    g_assert_no_error (error);
    g_test_message ("%d channels: tile %d, %s", c, ae_plan_get_tile_size (p),
        ae_plan_is_on_device (p) ? "on the device" : "on the CPU");
    g_assert_true (ae_plan_is_on_device (p));
  }
}

/* A model whose second conv sums @ks² x @channels products per output
 * (one input spread over @channels), weights that make it a mean. */
static AeModel *
long_sum_model (int channels, int ks)
{
  g_autofree char *json = g_strdup_printf ("{\"task\": \"denoise\", "
      "\"nodes\": [{\"name\": \"a\", \"op\": \"conv2d\", \"inputs\": "
      "[\"input\"], \"out\": %d, \"kernel\": 1}, {\"name\": \"b\", "
      "\"op\": \"conv2d\", \"inputs\": [\"a\"], \"out\": 8, \"kernel\": "
      "%d, \"padding\": %d}, {\"name\": \"c\", \"op\": \"conv2d\", "
      "\"inputs\": [\"b\"], \"out\": 1, \"kernel\": 1}], \"output\": "
      "\"c\"}", channels, ks, ks / 2);
  g_autoptr (GError) error = NULL;
  AeModel *m = ae_model_new (json, &error);
  g_assert_no_error (error);
  float *wa = ae_model_get_weight (m, 1), *wb = ae_model_get_weight (m, 2);
  float *wc = ae_model_get_weight (m, 3);
  const int terms = channels * ks * ks;
  for (int i = 0; i < channels; i++)
    wa[i] = 1.0f + (i % 7) * 0.01f;
  for (int i = 0; i < 8 * terms; i++)
    wb[i] = 1.0f / terms;
  for (int i = 0; i < 8; i++)
    wc[i] = 1.0f / 8 / 1.03f;
  return m;
}

/* lavapipe ends a shader invocation's loops after 65,535 iterations in
 * all, without an error: a conv with more terms than fit runs on the CPU
 * instead of coming out short, and one well under stays on the device. */
static void
test_long_sums (void)
{
  if (!need_device ())
    return;
  g_autoptr (AeEngine) vk = engine ("vulkan", FALSE);
  g_autoptr (AeEngine) cpu = engine ("cpu", FALSE);
  if (!strstr (ae_engine_get_backend_name (vk), "llvmpipe")) {
    g_test_skip ("a GPU: no loop limit");
    return;
  }
  /* 10,800 terms (17,000 would be cut short), then 50,000 */
  const struct {
    int channels, ks;
    gboolean on_device;
  } cases[] = { {1200, 3, TRUE}, {2000, 5, FALSE} };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (AeModel) m = long_sum_model (cases[i].channels, cases[i].ks);
    AePlanParams pp = {.width = 16,.height = 8 };
    g_autoptr (GError) error = NULL;
    if (!cases[i].on_device)
      g_test_expect_message ("ae-compute", G_LOG_LEVEL_WARNING,
          "*node 'b': its 50000-term sums are past the loop limit*");
    g_autoptr (AePlan) p = ae_plan_new (vk, m, &pp, &error);
    g_test_assert_expected_messages ();
    g_assert_no_error (error);
    g_assert_cmpint (ae_plan_is_on_device (p), ==, cases[i].on_device);
    Frame in, want, got;
    frame_init (&in, AE_FRAME_GRAY8, 16, 8, 31);
    frame_init (&want, AE_FRAME_GRAY8, 16, 8, 32);
    frame_init (&got, AE_FRAME_GRAY8, 16, 8, 33);
    run_frame (cpu, m, &in.f, &want.f, 0);
    g_assert_true (ae_plan_run (p, &in.f, &got.f, &error));
    g_assert_no_error (error);
    g_assert_cmpint (max_byte_diff (&got.f, &want.f), <=, 1);
    frame_clear (&in);
    frame_clear (&want);
    frame_clear (&got);
  }
}

/* tiled == untiled on the device, bit for bit on floats */
static void
test_tiled (void)
{
  if (!need_device ())
    return;
  g_autoptr (AeModel) m = fixture_model ("unet");
  g_autoptr (AeEngine) vk = engine ("vulkan", FALSE);
  const int w = 45, h = 31;
  g_autofree float *in = g_new (float, w * h);
  gsize n;
  fill_random (in, w * h, 5);
  g_autofree float *whole = run_tensor (vk, m, in, w, h, -1, &n);
  for (int tile = 4; tile <= 16; tile += 12) {
    g_autofree float *tiled = run_tensor (vk, m, in, w, h, tile, &n);
    g_assert_cmpfloat (max_error (tiled, whole, n), <=, 1e-6);
  }
}

/* Several frames in flight give what one at a time gives. */
static void
test_in_flight (void)
{
  if (!need_device ())
    return;
  enum { N = 5 };
  g_autoptr (AeModel) m = fixture_model ("light");
  g_autoptr (AeEngine) vk = engine ("vulkan", FALSE);
  AePlanParams pp = { .width = 33, .height = 21 };
  g_autoptr (GError) error = NULL;
  g_autoptr (AePlan) p = ae_plan_new (vk, m, &pp, &error);
  g_assert_no_error (error);
  g_assert_true (ae_plan_is_on_device (p));
  g_assert_cmpint (ae_plan_get_max_in_flight (p), >=, 2);
  Frame in[N], one[N], many[N];
  for (int i = 0; i < N; i++) {
    frame_init (&in[i], AE_FRAME_GRAY8, 33, 21, 100 + i);
    frame_init (&one[i], AE_FRAME_GRAY8, 33, 21, 200 + i);
    frame_init (&many[i], AE_FRAME_GRAY8, 33, 21, 300 + i);
    g_assert_true (ae_plan_run (p, &in[i].f, &one[i].f, &error));
  }
  /* keep the pipeline full: two submitted, then wait one, submit one */
  int waited = 0;
  for (int i = 0; i < N; i++) {
    if (i >= ae_plan_get_max_in_flight (p)) {
      g_assert_true (ae_plan_wait (p, &error));
      waited++;
    }
    g_assert_true (ae_plan_submit (p, &in[i].f, &many[i].f, &error));
    g_assert_no_error (error);
  }
  while (waited < N) {
    g_assert_true (ae_plan_wait (p, &error));
    waited++;
  }
  for (int i = 0; i < N; i++) {
    g_assert_cmpint (max_byte_diff (&many[i].f, &one[i].f), ==, 0);
    frame_clear (&in[i]);
    frame_clear (&one[i]);
    frame_clear (&many[i]);
  }
}

/* ------------------------------------------------------------------ */
/* devices and fallbacks (in subprocesses: they change the environment) */

static void
test_devices (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) list = ae_engine_list_devices (&error);
  g_assert_no_error (error);
  g_assert_cmpuint (list->len, >=, 1);
  const AeDeviceInfo *cpu = list->pdata[0];
  g_assert_cmpstr (cpu->id, ==, "cpu");
  for (guint i = 1; i < list->len; i++) {
    const AeDeviceInfo *d = list->pdata[i];
    g_test_message ("%s: %s (%s)", d->id, d->name, d->type);
    g_assert_true (g_str_has_prefix (d->id, "vulkan:"));
    /* lavapipe and other CPU-type devices: never chosen by "auto" */
    if (g_str_has_prefix (d->type, "CPU"))
      g_assert_false (d->auto_eligible);
  }
  if (!need_device ())
    return;
  /* auto on a machine whose only Vulkan device is a CPU: the CPU backend */
  gboolean gpu = FALSE;
  for (guint i = 1; i < list->len; i++)
    gpu |= ((const AeDeviceInfo *) list->pdata[i])->auto_eligible;
  g_unsetenv ("AE_DEVICE");
  if (!gpu) {
    /* quietly: no GPU is the normal case, not a warning */
    g_autoptr (AeEngine) a = engine ("auto", FALSE);
    g_assert_cmpstr (ae_engine_get_backend_name (a), ==, "cpu");
  }
  /* a device number past the list */
  AeEngineParams ep = { .device = "vulkan:63" };
  g_assert_null (ae_engine_new (&ep, &error));
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_DEVICE);
}

static void
test_no_device (void)
{
  if (g_test_subprocess ()) {
    g_autoptr (GError) error = NULL;
    /* a loader that finds no driver at all */
    g_setenv ("VK_ICD_FILENAMES", "/nonexistent/icd.json", TRUE);
    g_setenv ("VK_DRIVER_FILES", "/nonexistent/icd.json", TRUE);
    AeEngineParams ep = { .device = "vulkan" };
    g_assert_null (ae_engine_new (&ep, &error));
    g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_DEVICE);
    g_test_message ("%s", error->message);
    g_unsetenv ("AE_DEVICE");
    /* any warning would fail the test: none is expected */
    g_autoptr (AeEngine) e = engine ("auto", FALSE);
    g_assert_cmpstr (ae_engine_get_backend_name (e), ==, "cpu");
    /* and the device list is the CPU alone, not an error */
    g_clear_error (&error);
    g_autoptr (GPtrArray) list = ae_engine_list_devices (&error);
    g_assert_no_error (error);
    g_assert_cmpuint (list->len, ==, 1);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* An engine with the validation layer, then one without: freeing the
 * first still destroys its debug messenger (volk's global function pointer
 * followed the second instance, which lacks the extension: NULL). */
static void
test_validation_engines (void)
{
  if (!need_device ())
    return;
  g_autofree char *was = g_strdup (g_getenv ("AE_VK_VALIDATION"));
  g_setenv ("AE_VK_VALIDATION", "1", TRUE);
  AeEngine *a = engine ("vulkan", FALSE);
  g_setenv ("AE_VK_VALIDATION", "0", TRUE);
  AeEngine *b = engine ("vulkan", FALSE);
  ae_engine_free (a);
  ae_engine_free (b);
  if (was)
    g_setenv ("AE_VK_VALIDATION", was, TRUE);
  else
    g_unsetenv ("AE_VK_VALIDATION");
}

static void
test_self_check_fp16 (void)
{
  if (!need_device () || !have_fp16)
    return;
  if (g_test_subprocess ()) {
    g_setenv ("AE_VK_FAULT", "selfcheck-fp16", TRUE);
    g_test_expect_message ("ae-compute", G_LOG_LEVEL_WARNING,
        "*using fp32 storage*");
    g_autoptr (AeEngine) e = engine ("vulkan", TRUE);
    g_test_assert_expected_messages ();
    g_assert_null (strstr (ae_engine_get_backend_name (e), "fp16"));
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

static void
test_self_check_fails (void)
{
  if (!need_device ())
    return;
  if (g_test_subprocess ()) {
    g_autoptr (GError) error = NULL;
    g_setenv ("AE_VK_FAULT", "selfcheck", TRUE);
    g_setenv ("AE_VK_FP16", "0", TRUE);
    AeEngineParams ep = { .device = "vulkan" };
    g_assert_null (ae_engine_new (&ep, &error));
    g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_DEVICE);
    g_assert_nonnull (strstr (error->message, "self-check"));
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* The device is lost (or out of memory) mid-stream: every frame still
 * comes out right, from the CPU, after one warning. */
static void
fallback_run (const char *fault, const char *expect)
{
  g_autoptr (AeModel) m = fixture_model ("unet");
  g_autoptr (AeEngine) cpu = engine ("cpu", FALSE);
  g_autoptr (AeEngine) vk = engine ("vulkan", FALSE);
  g_setenv ("AE_VK_FAULT", fault, TRUE);
  g_autoptr (GError) error = NULL;
  AePlanParams pp = { .width = 21, .height = 13 };
  g_autoptr (AePlan) pc = ae_plan_new (cpu, m, &pp, &error);
  g_test_expect_message ("ae-compute", G_LOG_LEVEL_WARNING, expect);
  g_autoptr (AePlan) pv = ae_plan_new (vk, m, &pp, &error);
  g_assert_no_error (error);
  for (int i = 0; i < 4; i++) {
    Frame in, want, got;
    frame_init (&in, AE_FRAME_GRAY8, 21, 13, 40 + i);
    frame_init (&want, AE_FRAME_GRAY8, 21, 13, 50 + i);
    frame_init (&got, AE_FRAME_GRAY8, 21, 13, 60 + i);
    g_assert_true (ae_plan_run (pc, &in.f, &want.f, &error));
    g_assert_true (ae_plan_submit (pv, &in.f, &got.f, &error));
    g_assert_true (ae_plan_wait (pv, &error));
    g_assert_no_error (error);
    g_assert_cmpint (max_byte_diff (&got.f, &want.f), <=, 1);
    frame_clear (&in);
    frame_clear (&want);
    frame_clear (&got);
  }
  g_test_assert_expected_messages ();
  g_assert_false (ae_plan_is_on_device (pv));
}

static void
test_device_lost (void)
{
  if (!need_device ())
    return;
  if (g_test_subprocess ()) {
    /* the third frame finds the device lost; later plans use the CPU */
    fallback_run ("lost:3", "*device lost*continuing on the CPU*");
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

static void
test_out_of_memory (void)
{
  if (!need_device ())
    return;
  if (g_test_subprocess ()) {
    /* the plan's third buffer cannot be allocated */
    fallback_run ("oom:3", "*out of device memory*on the CPU*");
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* A device that stops finishing its work (a fence wait times out) is left
 * alone: the frame is redone on the CPU, later plans use the CPU, and
 * freeing the plan and engine neither waits on it nor frees what it may
 * still use (the test process ends: nothing hangs). */
static void
test_hung (void)
{
  if (!need_device ())
    return;
  if (g_test_subprocess ()) {
    /* the third frame's wait times out */
    fallback_run ("hang:3", "*did not finish within a minute*on the "
        "CPU*");
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* A frame whose buffer exceeds the device's storage-buffer limit runs its
 * plan on the CPU; the engine keeps the device for other plans (it once
 * took the failed allocation at the first frame for a lost device). */
static void
test_frame_too_large (void)
{
  if (!need_device ())
    return;
  if (g_test_subprocess ()) {
    g_autoptr (GError) error = NULL;
    g_autoptr (AeEngine) e = engine ("vulkan", FALSE);
    g_autoptr (AeModel) m = fixture_model ("identity");
    /* 2^15 x 2^15 pixels, 4 GiB at 4 bytes a pixel: over lavapipe's
     * 128 MB and the 4 GiB that GPUs allow at most */
    AePlanParams big = { .width = 1 << 15, .height = 1 << 15 };
    g_test_expect_message ("ae-compute", G_LOG_LEVEL_WARNING,
        "*exceeds the device's limit*on the CPU*");
    g_autoptr (AePlan) p = ae_plan_new (e, m, &big, &error);
    g_assert_no_error (error);
    g_test_assert_expected_messages ();
    g_assert_false (ae_plan_is_on_device (p));
    AePlanParams small = { .width = 64, .height = 64 };
    g_autoptr (AePlan) q = ae_plan_new (e, m, &small, &error);
    g_assert_no_error (error);
    g_assert_true (ae_plan_is_on_device (q));
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

/* The pipeline cache is written under the XDG cache dir and read back. */
static void
test_pipeline_cache (void)
{
  if (!need_device ())
    return;
  if (g_test_subprocess ()) {
    g_autoptr (GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp ("ae-vk-cache-XXXXXX", &error);
    g_assert_no_error (error);
    g_setenv ("XDG_CACHE_HOME", dir, TRUE);
    AeEngine *e = engine ("vulkan", FALSE);
    ae_engine_free (e);
    g_autofree char *vdir = g_build_filename (dir, "gst-autoencoder",
        "vulkan", NULL);
    g_autoptr (GDir) d = g_dir_open (vdir, 0, &error);
    g_assert_no_error (error);
    const char *name = g_dir_read_name (d);
    g_assert_nonnull (name);
    g_autofree char *file = g_build_filename (vdir, name, NULL);
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true (g_file_get_contents (file, &data, &len, NULL));
    /* at least the header (lavapipe stores nothing else): its length and
     * version one */
    g_assert_cmpuint (len, >=, 32);
    guint32 head[2];
    memcpy (head, data, sizeof head);
    g_assert_cmpuint (GUINT32_FROM_LE (head[0]), >=, 32);
    g_assert_cmpuint (GUINT32_FROM_LE (head[1]), ==, 1);
    /* a second engine starts from it; a corrupt one is only ignored */
    e = engine ("vulkan", FALSE);
    ae_engine_free (e);
    g_assert_true (g_file_set_contents (file, "garbage", -1, NULL));
    e = engine ("vulkan", FALSE);
    ae_engine_free (e);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  /* is there a device at all? (no warning: "vulkan" asks explicitly) */
  {
    g_autoptr (GError) error = NULL;
    AeEngineParams ep = { .device = "vulkan" };
    g_setenv ("AE_VK_FP16", "1", TRUE);
    g_autoptr (AeEngine) e = g_test_subprocess () ? NULL
        : ae_engine_new (&ep, &error);
    have_device = e != NULL || g_test_subprocess ();
    have_fp16 = e && strstr (ae_engine_get_backend_name (e), "fp16");
    if (g_test_subprocess ())
      have_fp16 = g_getenv ("AE_TEST_HAVE_FP16") != NULL;
    else if (have_fp16)
      g_setenv ("AE_TEST_HAVE_FP16", "1", TRUE);
    if (error)
      g_printerr ("# no Vulkan device: %s\n", error->message);
  }

  for (guint i = 0; i < G_N_ELEMENTS (op_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/vulkan/op/%s",
        op_cases[i].name);
    g_test_add_data_func (path, &op_cases[i], test_op);
  }
  static const char *fixtures[] = { "identity", "dncnn", "light", "unet",
    "espcn2", "ops_misc", "bilinear", "rgb", "anomaly"
  };
  for (guint i = 0; i < G_N_ELEMENTS (fixtures); i++) {
    g_autofree char *path = g_strdup_printf ("/vulkan/pytorch/%s",
        fixtures[i]);
    g_test_add_data_func (path, fixtures[i], test_fixture);
  }
  for (guint i = 0; i < G_N_ELEMENTS (frame_cases); i++) {
    const FrameCase *fc = &frame_cases[i];
    g_autofree char *path = g_strdup_printf ("/vulkan/frame/%s-%s-%dx%d%s",
        fc->model, ae_frame_format_name (fc->format), fc->w, fc->h,
        fc->tile ? "-tiled" : "");
    g_test_add_data_func (path, fc, test_frame);
  }
  g_test_add_func ("/vulkan/frame-matrix", test_frame_matrix);
  g_test_add_func ("/vulkan/auto-tile-odd-stride", test_auto_tile_odd_stride);
  g_test_add_func ("/vulkan/long-sums", test_long_sums);
  g_test_add_func ("/vulkan/tiled", test_tiled);
  g_test_add_func ("/vulkan/in-flight", test_in_flight);
  g_test_add_func ("/vulkan/devices", test_devices);
  g_test_add_func ("/vulkan/validation-engines", test_validation_engines);
  g_test_add_func ("/vulkan/fallback/no-device", test_no_device);
  g_test_add_func ("/vulkan/fallback/self-check-fp16", test_self_check_fp16);
  g_test_add_func ("/vulkan/fallback/self-check", test_self_check_fails);
  g_test_add_func ("/vulkan/fallback/device-lost", test_device_lost);
  g_test_add_func ("/vulkan/fallback/out-of-memory", test_out_of_memory);
  g_test_add_func ("/vulkan/fallback/hung", test_hung);
  g_test_add_func ("/vulkan/fallback/frame-too-large", test_frame_too_large);
  g_test_add_func ("/vulkan/pipeline-cache", test_pipeline_cache);
  return g_test_run ();
}
