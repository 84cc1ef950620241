/* Whole models against PyTorch: tests/data/gen_fixtures.py built each
 * fixture with random weights and stored inputs and float64 reference
 * outputs; every pair must match to 1e-4, whole-frame and tiled. */
#include "ae-engine.h"
#include "ae-error.h"
#include "ae-model-path.h"

#include <glib/gstdio.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct {
  char *name;
  int n_pairs;
} Fixture;

static AeSafetensors *
load_io (const char *name)
{
  g_autofree char *file = g_strdup_printf ("%s.io.safetensors", name);
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data",
      "models", file, NULL);
  g_autoptr (GError) error = NULL;
  AeSafetensors *st = ae_safetensors_load (path, &error);
  g_assert_no_error (error);
  return st;
}

static float *
read_view (const AeTensorView *v)
{
  float *d = g_new (float, v->n_elements);
  ae_tensor_view_read_f32 (v, d);
  return d;
}

/* Runs one io pair with the given tile size; returns the max abs error. */
static double
run_pair (AeEngine *e, AeModel *m, AeSafetensors *io, int k, int tile)
{
  g_autofree char *in_name = g_strdup_printf ("input.%d", k);
  g_autofree char *out_name = g_strdup_printf ("output.%d", k);
  const AeTensorView *vi = ae_safetensors_lookup (io, in_name);
  const AeTensorView *vo = ae_safetensors_lookup (io, out_name);
  g_autoptr (GError) error = NULL;

  g_assert_nonnull (vi);
  g_assert_nonnull (vo);
  g_assert_cmpint (vi->n_dims, ==, 4);
  g_autofree float *in = read_view (vi);
  g_autofree float *want = read_view (vo);
  g_autofree float *got = g_new0 (float, vo->n_elements);
  AePlanParams pp = { .width = vi->shape[3], .height = vi->shape[2],
    .tile_size = tile
  };
  g_autoptr (AePlan) plan = ae_plan_new (e, m, &pp, &error);
  g_assert_no_error (error);
  g_assert_true (ae_plan_run_tensor (plan, in, got, &error));
  g_assert_no_error (error);

  double err = 0;
  for (gint64 i = 0; i < vo->n_elements; i++)
    err = MAX (err, fabs ((double) got[i] - want[i]));
  return err;
}

static void
test_fixture (gconstpointer data)
{
  const Fixture *f = data;
  g_autofree char *file = g_strdup_printf ("%s.safetensors", f->name);
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data",
      "models", file, NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) m = ae_model_load (path, &error);
  g_assert_no_error (error);
  g_autoptr (AeSafetensors) io = load_io (f->name);
  AeEngineParams ep = { .device = "cpu", .threads = 2 };
  g_autoptr (AeEngine) e = ae_engine_new (&ep, &error);
  g_assert_no_error (error);

  int stride = ae_graph_get_stride (ae_model_get_graph (m));
  for (int k = 0; k < f->n_pairs; k++) {
    double whole = run_pair (e, m, io, k, -1);
    g_test_message ("%s pair %d: max abs error %.3g", f->name, k, whole);
    g_assert_cmpfloat (whole, <=, 1e-4);
    /* the smallest tiles the stride allows, and an odd multiple of it */
    double tiled = run_pair (e, m, io, k, stride);
    g_assert_cmpfloat (tiled, <=, 1e-4);
    tiled = run_pair (e, m, io, k, 3 * stride);
    g_assert_cmpfloat (tiled, <=, 1e-4);
    /* any tile larger than the frame is the whole frame (G_MAXINT once
     * overflowed as it was rounded up to the stride) */
    tiled = run_pair (e, m, io, k, G_MAXINT);
    g_assert_cmpfloat (tiled, <=, 1e-4);
  }
}

typedef struct {
  AeEngine *engine;
  AeModel *model;
  const float *in, *want;
  int w, h, frames, n_wrong;
} SharedRun;

static gpointer
shared_run (gpointer data)
{
  SharedRun *r = data;
  AePlanParams pp = { .width = r->w, .height = r->h, .tile_size = -1 };
  g_autoptr (GError) error = NULL;
  g_autoptr (AePlan) plan = ae_plan_new (r->engine, r->model, &pp, &error);
  g_assert_no_error (error);
  g_autofree float *got = g_new (float, r->w * r->h);

  for (int k = 0; k < r->frames; k++) {
    g_assert_true (ae_plan_run_tensor (plan, r->in, got, &error));
    if (memcmp (got, r->want, sizeof (float) * r->w * r->h))
      r->n_wrong++;
  }
  return NULL;
}

/* Plans of one engine run from several threads at once give each its own
 * right result (the engine's worker pool once mixed their jobs up, giving
 * wrong frames or hanging). */
static void
test_shared_engine (void)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data",
      "models", "dncnn.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) m = ae_model_load (path, &error);
  g_assert_no_error (error);
  AeEngineParams ep = { .device = "cpu", .threads = 2 };
  g_autoptr (AeEngine) e = ae_engine_new (&ep, &error);
  g_assert_no_error (error);
  const int w = 96, h = 64;
  g_autofree float *in = g_new (float, w * h);
  g_autofree float *want = g_new (float, w * h);
  for (int i = 0; i < w * h; i++)
    in[i] = (float) ((i * 7919) % 256) / 255.0f;
  {
    AePlanParams pp = { .width = w, .height = h, .tile_size = -1 };
    g_autoptr (AePlan) plan = ae_plan_new (e, m, &pp, &error);
    g_assert_no_error (error);
    g_assert_true (ae_plan_run_tensor (plan, in, want, &error));
  }
  SharedRun runs[3];
  GThread *threads[3];
  for (int t = 0; t < 3; t++) {
    runs[t] = (SharedRun) { e, m, in, want, w, h, 20, 0 };
    threads[t] = g_thread_new ("shared", shared_run, &runs[t]);
  }
  for (int t = 0; t < 3; t++) {
    g_thread_join (threads[t]);
    g_assert_cmpint (runs[t].n_wrong, ==, 0);
  }
}

/* The CPU backend's own kernels run the convs (docs/ENGINE.md), not
 * OpenBLAS's GEMM. */
static gboolean
direct_kernels (void)
{
#if defined(__x86_64__) && defined(__GNUC__)
  return __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma")
      && g_strcmp0 (g_getenv ("AE_CPU_CONV"), "gemm") != 0;
#else
  return FALSE;
#endif
}

/* Runs @m on @in (w x h) whole or in tiles of @tile into a new array. */
static float *
run_tiles (AeEngine *e, AeModel *m, const float *in, int w, int h, int tile)
{
  const AeGraph *g = ae_model_get_graph (m);
  int s = ae_graph_get_scale (g), c = ae_graph_get_channels (g);
  AePlanParams pp = { .width = w, .height = h, .tile_size = tile };
  g_autoptr (GError) error = NULL;
  g_autoptr (AePlan) plan = ae_plan_new (e, m, &pp, &error);
  g_assert_no_error (error);
  float *out = g_new (float, (gsize) c * w * h * s * s);
  g_assert_true (ae_plan_run_tensor (plan, in, out, &error));
  g_assert_no_error (error);
  return out;
}

/* Tiles give the whole frame's bits (the direct kernels; GEMM within
 * rounding), for graphs whose fine pixels depend
 * on whole coarse pixels (nearest upsampling and pixel_shuffle after a
 * stride: the halo once left them short at the seams), bilinear x3 and x4
 * (whose weights once depended on the pixel's place), a thin last layer
 * and sigmoid (computed by different code at the rows' ends). */
static void
test_tile_seams (void)
{
  static const char *const graphs[] = {
    "{\"name\":\"a\",\"op\":\"conv2d\",\"inputs\":[\"input\"],\"out\":8,\"kernel\":3,\"stride\":2,\"padding\":1,\"act\":\"relu\"},"
    "{\"name\":\"u\",\"op\":\"upsample\",\"inputs\":[\"a\"],\"factor\":2,\"mode\":\"nearest\"},"
    "{\"name\":\"o\",\"op\":\"conv2d\",\"inputs\":[\"u\"],\"out\":1,\"kernel\":3,\"padding\":1,\"act\":\"sigmoid\"}",
    "{\"name\":\"a\",\"op\":\"conv2d\",\"inputs\":[\"input\"],\"out\":16,\"kernel\":3,\"stride\":2,\"padding\":1,\"act\":\"relu\"},"
    "{\"name\":\"b\",\"op\":\"conv2d\",\"inputs\":[\"a\"],\"out\":4,\"kernel\":1,\"act\":\"none\"},"
    "{\"name\":\"u\",\"op\":\"pixel_shuffle\",\"inputs\":[\"b\"],\"factor\":2},"
    "{\"name\":\"o\",\"op\":\"conv2d\",\"inputs\":[\"u\"],\"out\":1,\"kernel\":3,\"padding\":1,\"act\":\"none\"}",
    "{\"name\":\"p\",\"op\":\"avg_pool2d\",\"inputs\":[\"input\"],\"kernel\":4},"
    "{\"name\":\"a\",\"op\":\"conv2d\",\"inputs\":[\"p\"],\"out\":16,\"kernel\":3,\"padding\":1,\"act\":\"relu\"},"
    "{\"name\":\"u\",\"op\":\"upsample\",\"inputs\":[\"a\"],\"factor\":4,\"mode\":\"bilinear\"},"
    "{\"name\":\"o\",\"op\":\"conv2d\",\"inputs\":[\"u\"],\"out\":3,\"kernel\":3,\"padding\":1,\"act\":\"tanh\"}",
    "{\"name\":\"u\",\"op\":\"upsample\",\"inputs\":[\"input\"],\"factor\":3,\"mode\":\"bilinear\"},"
    "{\"name\":\"o\",\"op\":\"conv2d\",\"inputs\":[\"u\"],\"out\":1,\"kernel\":3,\"padding\":1,\"act\":\"none\"}",
  };
  g_autoptr (GError) error = NULL;
  AeEngineParams ep = { .device = "cpu", .threads = 2 };
  g_autoptr (AeEngine) e = ae_engine_new (&ep, &error);
  g_assert_no_error (error);
  g_autoptr (GRand) r = g_rand_new_with_seed (42);

  for (guint k = 0; k < G_N_ELEMENTS (graphs); k++) {
    gboolean sr = k == 3, rgb = k == 2;
    g_autofree char *json = g_strdup_printf ("{\"task\":\"%s\","
        "\"color\":\"%s\",%s\"nodes\":[%s],\"output\":\"o\"}",
        sr ? "superres" : "denoise", rgb ? "rgb" : "luma",
        sr ? "\"scale\":3," : "", graphs[k]);
    g_autoptr (AeModel) m = ae_model_new (json, &error);
    g_assert_no_error (error);
    const AeGraph *g = ae_model_get_graph (m);
    for (int i = 0; i < ae_graph_get_n_nodes (g); i++) {
      const AeNode *nd = ae_graph_get_node (g, i);
      if (!ae_node_is_conv (nd))
        continue;
      float *w = ae_model_get_weight (m, i), *b = ae_model_get_bias (m, i);
      for (gsize j = 0; j < ae_node_weight_size (nd); j++)
        w[j] = g_rand_double_range (r, -0.5, 0.5);
      for (int j = 0; b && j < nd->p.conv.out_channels; j++)
        b[j] = g_rand_double_range (r, -0.1, 0.1);
    }
    const int w = 70, h = 45, c = ae_graph_get_channels (g);
    const int n = c * w * h * ae_graph_get_scale (g) * ae_graph_get_scale (g);
    g_autofree float *in = g_new (float, c * w * h);
    for (int i = 0; i < c * w * h; i++)
      in[i] = g_rand_double (r);
    g_autofree float *whole = run_tiles (e, m, in, w, h, -1);
    const int tiles[] = { 4, 8, 12, 24 };
    for (guint t = 0; t < G_N_ELEMENTS (tiles); t++) {
      g_autofree float *tiled = run_tiles (e, m, in, w, h, tiles[t]);
      int differ = 0;
      double most = 0;
      for (int i = 0; i < n; i++) {
        differ += memcmp (&whole[i], &tiled[i], sizeof (float)) != 0;
        most = MAX (most, fabs (whole[i] - tiled[i]));
      }
      if (differ)
        g_test_message ("graph %u, tile %d: %d of %d values differ, by up "
            "to %.3g", k, tiles[t], differ, n, most);
      /* OpenBLAS sums in an order that depends on the matrix size */
      g_assert_cmpfloat (most, <=, 1e-5);
      if (direct_kernels ())
        g_assert_cmpint (differ, ==, 0);
    }
  }
}

/* Saving as F32 reproduces every weight bit for bit; F16 to half
 * precision; and both files load back with the same graph. */
static void
test_save_roundtrip (void)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data",
      "models", "unet.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) m = ae_model_load (path, &error);
  g_assert_no_error (error);
  const AeGraph *g = ae_model_get_graph (m);

  for (int f16 = 0; f16 <= 1; f16++) {
    g_autofree char *dir = g_dir_make_tmp ("ae-save-XXXXXX", &error);
    g_assert_no_error (error);
    g_autofree char *out = g_build_filename (dir, "m.safetensors", NULL);
    g_assert_true (ae_model_save (m, out, f16 ? AE_DTYPE_F16 : AE_DTYPE_F32,
            &error));
    g_assert_no_error (error);
    g_autoptr (AeModel) back = ae_model_load (out, &error);
    g_assert_no_error (error);
    const AeGraph *gb = ae_model_get_graph (back);
    g_assert_cmpint (ae_graph_get_n_nodes (gb), ==, ae_graph_get_n_nodes (g));
    g_assert_cmpint (ae_graph_get_n_params (gb), ==, ae_graph_get_n_params (g));
    for (int i = 0; i < ae_graph_get_n_nodes (g); i++) {
      const AeNode *nd = ae_graph_get_node (g, i);
      if (nd->op != AE_OP_CONV2D && nd->op != AE_OP_CONV_TRANSPOSE2D)
        continue;
      gsize n = (gsize) nd->p.conv.in_channels * nd->p.conv.out_channels *
          nd->p.conv.kernel * nd->p.conv.kernel;
      const float *a = ae_model_get_weight (m, i);
      const float *b = ae_model_get_weight (back, i);
      for (gsize k = 0; k < n; k++) {
        if (f16)
          g_assert_cmpfloat (fabsf (a[k] - b[k]), <=,
              fabsf (a[k]) * (1.0f / 1024) + 6e-8f);
        else
          g_assert_cmpfloat (a[k], ==, b[k]);
      }
    }
    g_assert_cmpint (g_unlink (out), ==, 0);
    g_assert_cmpint (g_rmdir (dir), ==, 0);
  }
}

/* A model given by name: looked up in AE_MODEL_PATH's directories, with
 * or without its extension; a file or a path is taken as it is; a name
 * found nowhere is an error saying where it looked. */
static void
test_path_resolve (void)
{
  g_autofree char *models = g_test_build_filename (G_TEST_DIST, "data",
      "models", NULL);
  g_autofree char *unet = g_build_filename (models, "unet.safetensors", NULL);
  g_autofree char *search = g_strjoin (G_SEARCHPATH_SEPARATOR_S,
      "/nonexistent", "", models, NULL);
  g_autofree char *old = g_strdup (g_getenv ("AE_MODEL_PATH"));
  g_autoptr (GError) error = NULL;

  g_setenv ("AE_MODEL_PATH", search, TRUE);
  const char *names[] = { "unet", "unet.safetensors" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    g_autofree char *path = ae_model_path_resolve (names[i], &error);
    g_assert_no_error (error);
    g_assert_cmpstr (path, ==, unet);
  }
  g_autofree char *as_is = ae_model_path_resolve ("no/such/dir.safetensors",
      &error);
  g_assert_no_error (error);
  g_assert_cmpstr (as_is, ==, "no/such/dir.safetensors");
  g_autofree char *missing = ae_model_path_resolve ("no-such-model", &error);
  g_assert_null (missing);
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "no-such-model"));
  g_assert_nonnull (strstr (error->message, models));
  if (old)
    g_setenv ("AE_MODEL_PATH", old, TRUE);
  else
    g_unsetenv ("AE_MODEL_PATH");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_autofree char *list = g_test_build_filename (G_TEST_DIST, "data",
      "models", "fixtures.txt", NULL);
  g_autofree char *text = NULL;
  g_assert_true (g_file_get_contents (list, &text, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (int i = 0; lines[i]; i++) {
    Fixture *f = g_new0 (Fixture, 1);
    char name[128];
    if (sscanf (lines[i], "%127s %d", name, &f->n_pairs) != 2) {
      g_free (f);
      continue;
    }
    f->name = g_strdup (name);
    g_autofree char *tp = g_strdup_printf ("/models/pytorch/%s", name);
    g_test_add_data_func_full (tp, f, test_fixture, NULL);
  }
  g_test_add_func ("/models/save-roundtrip", test_save_roundtrip);
  g_test_add_func ("/models/path-resolve", test_path_resolve);
  g_test_add_func ("/models/shared-engine", test_shared_engine);
  g_test_add_func ("/models/tile-seams", test_tile_seams);
  return g_test_run ();
}
