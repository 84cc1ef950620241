/* The model loader against malformed files: every file of
 * tests/data/broken/ (one defect each, listed in manifest.txt with the
 * substring its error message must contain), every truncation of a valid
 * model, random header corruption, and files that are not files at all.
 * Loading must fail cleanly with an AE_COMPUTE_ERROR, never crash; a
 * corrupted header that still loads must plan and run without a crash. */
#include "ae-model.h"
#include "ae-engine.h"
#include "ae-error.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
  char *file;
  char *substring;
  char *description;
} BrokenCase;

static void
broken_case_free (gpointer data)
{
  BrokenCase *c = data;
  g_free (c->file);
  g_free (c->substring);
  g_free (c->description);
  g_free (c);
}

static void
test_broken_file (gconstpointer data)
{
  const BrokenCase *c = data;
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data",
      "broken", c->file, NULL);
  g_autoptr (GError) error = NULL;

  g_test_message ("%s: %s", c->file, c->description);
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  g_autoptr (AeModel) m = ae_model_load (path, &error);
  g_assert_null (m);
  g_assert_nonnull (error);
  g_test_message ("message: %s", error->message);
  g_assert_true (error->domain == AE_COMPUTE_ERROR);
  if (!strstr (error->message, c->substring)) {
    g_test_message ("'%s' does not contain '%s'", error->message,
        c->substring);
    g_test_fail ();
  }
  /* messages name the file they are about */
  g_assert_nonnull (strstr (error->message, c->file));
}

static GBytes *
read_model (const char *name)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data",
      "models", name, NULL);
  g_autoptr (GError) error = NULL;
  char *text;
  gsize len;

  g_file_get_contents (path, &text, &len, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (text, len);
}

/* The valid model loads from memory as well as from its file. */
static void
test_valid_from_bytes (void)
{
  g_autoptr (GBytes) bytes = read_model ("light.safetensors");
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) m = ae_model_load_from_bytes (bytes, "light", &error);

  g_assert_no_error (error);
  g_assert_nonnull (m);
  g_assert_cmpstr (ae_model_get_name (m), ==, "light");
  g_assert_cmpint (ae_graph_get_n_nodes (ae_model_get_graph (m)), ==, 10);
}

/* Loads every proper prefix of @name whose length @cut passes @want (all
 * if NULL); each must fail, and a cut in the data section must be reported
 * as data out of range. Returns the number of prefixes tried. */
static int
check_prefixes (const char *name, gboolean (*want) (gsize cut, gpointer),
    gpointer data)
{
  g_autoptr (GBytes) bytes = read_model (name);
  gsize len = g_bytes_get_size (bytes);
  const guint8 *p = g_bytes_get_data (bytes, NULL);
  guint64 hlen = 0;
  int n = 0;

  for (int i = 7; i >= 0; i--)
    hlen = (hlen << 8) | p[i];
  g_assert_cmpuint (hlen, <, len);

  for (gsize cut = 0; cut < len; cut++) {
    if (want && !want (cut, data))
      continue;
    g_autoptr (GBytes) prefix = g_bytes_new_from_bytes (bytes, 0, cut);
    g_autoptr (GError) error = NULL;
    g_autoptr (AeModel) m = ae_model_load_from_bytes (prefix, "cut", &error);
    n++;
    if (m || !error || error->domain != AE_COMPUTE_ERROR) {
      g_test_message ("%s cut to %" G_GSIZE_FORMAT " bytes: %s", name, cut,
          m ? "loaded" : error ? error->message : "no error set");
      g_test_fail ();
      return n;
    }
    if (cut >= 8 + hlen && !strstr (error->message, "out of range")) {
      g_test_message ("%s cut to %" G_GSIZE_FORMAT " bytes: '%s'", name, cut,
          error->message);
      g_test_fail ();
      return n;
    }
  }
  return n;
}

typedef struct {
  gsize data_start;
  GArray *bounds;               /* gsize: tensor boundaries in the file */
} Sample;

/* Every header byte, every byte near a tensor boundary, and every 61st. */
static gboolean
sampled (gsize cut, gpointer data)
{
  const Sample *s = data;
  if (cut <= s->data_start + 16 || cut % 61 == 0)
    return TRUE;
  for (guint i = 0; i < s->bounds->len; i++) {
    gsize b = g_array_index (s->bounds, gsize, i);
    if (cut + 8 >= b && cut <= b + 8)
      return TRUE;
  }
  return FALSE;
}

/* Every proper prefix of a valid model is an error (the data section is
 * checked against the offsets before anything is read). light.safetensors
 * (220 kB) is cut at every offset with -m thorough (about 9 s), else at
 * every header offset, around every tensor boundary and at every 61st
 * byte; the smaller models are cut everywhere. */
static void
test_truncated_everywhere (void)
{
  g_autoptr (GBytes) bytes = read_model ("light.safetensors");
  g_autoptr (GError) error = NULL;
  g_autoptr (AeSafetensors) st = ae_safetensors_parse (bytes, "light",
      &error);
  const guint8 *base = g_bytes_get_data (bytes, NULL);
  Sample s = { 0, g_array_new (FALSE, FALSE, sizeof (gsize)) };
  int n;

  g_assert_no_error (error);
  s.data_start = g_bytes_get_size (bytes);
  for (guint i = 0; i < ae_safetensors_get_n_tensors (st); i++) {
    const AeTensorView *v = ae_safetensors_get_tensor (st, i);
    gsize b = v->data - base;
    gsize e = b + v->n_elements * (v->dtype == AE_DTYPE_F32 ? 4 : 2);
    s.data_start = MIN (s.data_start, b);
    g_array_append_val (s.bounds, b);
    g_array_append_val (s.bounds, e);
  }
  n = check_prefixes ("light.safetensors", g_test_thorough () ? NULL :
      sampled, &s);
  g_test_message ("light.safetensors: %d prefixes", n);
  g_array_unref (s.bounds);

  const char *small[] = { "identity.safetensors", "bilinear.safetensors",
    "ops_misc.safetensors", "light_f16.safetensors"
  };
  for (guint i = 0; i < G_N_ELEMENTS (small); i++) {
    if (!g_test_thorough () && g_str_equal (small[i], "light_f16.safetensors"))
      continue;
    n = check_prefixes (small[i], NULL, NULL);
    g_test_message ("%s: %d prefixes", small[i], n);
  }
}

/* Random corruption of the length prefix and the JSON header: either the
 * result still is a valid model, or loading fails with an error. */
/* Runs @m on a random small frame, tiled or not: a model the loader
 * accepted must run (the sanitizer build checks its memory). */
static void
run_loaded (AeEngine *e, AeModel *m, GRand *rand)
{
  const AeGraph *g = ae_model_get_graph (m);
  const int w = g_rand_int_range (rand, 5, 60);
  const int h = g_rand_int_range (rand, 5, 60);
  const int c = ae_graph_get_channels (g), s = ae_graph_get_scale (g);
  AePlanParams pp = { w, h, g_rand_boolean (rand) ? 0 : 16 };
  g_autoptr (GError) error = NULL;
  g_autoptr (AePlan) plan = ae_plan_new (e, m, &pp, &error);
  g_assert_no_error (error);
  g_autofree float *in = g_new (float, c * w * h);
  g_autofree float *out = g_new (float, c * w * h * s * s);
  for (int i = 0; i < c * w * h; i++)
    in[i] = g_rand_double (rand);
  g_assert_true (ae_plan_run_tensor (plan, in, out, &error));
  g_assert_no_error (error);
}

static void
test_header_flips (gconstpointer data)
{
  g_autoptr (GBytes) bytes = read_model (data);
  gsize len;
  const guint8 *orig = g_bytes_get_data (bytes, &len);
  guint64 hlen = 0;
  int n_loaded = 0, n_failed = 0;
  AeEngineParams ep = { "cpu", 1 };
  g_autoptr (GError) engine_error = NULL;
  g_autoptr (AeEngine) engine = ae_engine_new (&ep, &engine_error);
  g_assert_no_error (engine_error);

  for (int i = 7; i >= 0; i--)
    hlen = (hlen << 8) | orig[i];

  GRand *rand = g_rand_new_with_seed (20240611);
  for (int trial = 0; trial < 3000; trial++) {
    guint8 *buf = g_memdup2 (orig, len);
    int n_flips = 1 + g_rand_int_range (rand, 0, 3);
    for (int k = 0; k < n_flips; k++) {
      gsize at = g_rand_int_range (rand, 0, 8 + hlen);
      switch (g_rand_int_range (rand, 0, 4)) {
        case 0:                /* one bit */
          buf[at] ^= 1u << g_rand_int_range (rand, 0, 8);
          break;
        case 1:                /* a random byte */
          buf[at] = g_rand_int_range (rand, 0, 256);
          break;
        case 2:                /* a digit: another shape, offset or attribute */
          buf[at] = '0' + g_rand_int_range (rand, 0, 10);
          break;
        default:               /* a likely JSON character */
          buf[at] = "0123456789{}[]\",:.-eE \\"[g_rand_int_range (rand, 0,
                  24)];
          break;
      }
    }
    g_autoptr (GBytes) b = g_bytes_new_take (buf, len);
    GError *error = NULL;
    AeModel *m = ae_model_load_from_bytes (b, "flipped", &error);
    if (m) {
      g_assert_null (error);
      /* whatever loaded is self-consistent */
      const AeGraph *g = ae_model_get_graph (m);
      g_assert_cmpint (ae_graph_get_n_nodes (g), >=, 2);
      g_assert_cmpint (ae_graph_get_stride (g), >=, 1);
      run_loaded (engine, m, rand);
      ae_model_unref (m);
      n_loaded++;
    } else {
      g_assert_nonnull (error);
      g_assert_true (error->domain == AE_COMPUTE_ERROR);
      g_assert_cmpstr (error->message, !=, "");
      g_error_free (error);
      n_failed++;
    }
  }
  g_rand_free (rand);
  g_test_message ("%s: %d corrupted headers loaded and ran, %d failed",
      (const char *) data, n_loaded, n_failed);
  g_assert_cmpint (n_loaded, >, 0);
  g_assert_cmpint (n_failed, >, 0);
}

static void
test_missing_file (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ae-test-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "no-such-model.safetensors",
      NULL);
  g_autoptr (GError) error = NULL;

  g_assert_nonnull (dir);
  g_autoptr (AeModel) m = ae_model_load (path, &error);
  g_assert_null (m);
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_IO);
  g_assert_true (strstr (error->message, "no-such-model.safetensors")
      || strstr (error->message, "No such file"));
  g_clear_error (&error);

  g_autoptr (AeSafetensors) st = ae_safetensors_load (path, &error);
  g_assert_null (st);
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "no-such-model.safetensors"));
  g_rmdir (dir);
}

static void
test_directory (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ae-test-XXXXXX", NULL);
  g_autofree char *base = g_path_get_basename (dir);
  g_autoptr (GError) error = NULL;

  g_assert_nonnull (dir);
  g_autoptr (AeModel) m = ae_model_load (dir, &error);
  g_assert_null (m);
  g_assert_nonnull (error);
  g_test_message ("message: %s", error->message);
  g_assert_true (error->domain == AE_COMPUTE_ERROR);
  g_assert_nonnull (strstr (error->message, base));
  g_assert_nonnull (strstr (error->message, "directory"));
  g_clear_error (&error);

  g_autoptr (AeSafetensors) st = ae_safetensors_load (dir, &error);
  g_assert_null (st);
  g_assert_nonnull (error);
  g_assert_true (error->domain == AE_COMPUTE_ERROR);
  g_assert_nonnull (strstr (error->message, "directory"));
  g_rmdir (dir);
}

/* A FIFO (nothing writes to it) would block the open forever. */
static void
test_fifo (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ae-test-XXXXXX", NULL);
  g_autofree char *fifo = g_build_filename (dir, "m.safetensors", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  g_autoptr (AeModel) m = ae_model_load (fifo, &error);
  g_assert_null (m);
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "not a regular file"));
  g_unlink (fifo);
  g_rmdir (dir);
}

/* A tiny file whose graph asks for gigabytes of weights (16 convs of
 * 4096x4096x3x3, 600 MB each, 9 GB in all) but holds no tensors is refused
 * before anything of that size is allocated. */
static void
test_huge_graph_no_tensors (void)
{
  GString *g = g_string_new ("{\"task\": \"denoise\", \"color\": \"luma\", "
      "\"nodes\": [");
  for (int i = 0; i < 16; i++) {
    g_autofree char *in = i ? g_strdup_printf ("c%d", i - 1) :
        g_strdup ("input");
    g_string_append_printf (g, "{\"name\": \"c%d\", \"op\": \"conv2d\", "
        "\"inputs\": [\"%s\"], \"out\": 4096, \"kernel\": 3}, ", i, in);
  }
  g_string_append (g, "{\"name\": \"y\", \"op\": \"conv2d\", \"inputs\": "
      "[\"c15\"], \"out\": 1, \"kernel\": 3}], \"output\": \"y\"}");
  g_autofree char *json = g_string_free (g, FALSE);
  const char *meta[] = { "ae.format", "1", "ae.graph", json, NULL };
  g_autoptr (GError) error = NULL;

  /* the graph itself is valid */
  g_autoptr (AeGraph) graph = ae_graph_new_from_json (json, "huge", &error);
  g_assert_no_error (error);
  g_assert_cmpint (ae_graph_get_n_params (graph), >, 2000000000);

  g_autoptr (GBytes) bytes = ae_safetensors_serialize (NULL, 0, meta,
      &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (bytes), <, 4096);
  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (AeModel) m = ae_model_load_from_bytes (bytes, "huge.safetensors",
      &error);
  g_assert_null (m);
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "missing tensor 'c0.weight'"));
  g_test_message ("refused in %.3f s: %s",
      (g_get_monotonic_time () - t0) * 1e-6, error->message);
}

/* Graph errors the corpus does not cover, straight from JSON. */
static void
test_graph_messages (void)
{
  static const struct {
    const char *json, *substring;
  } cases[] = {
    {"{\"task\": \"superres\", \"scale\": 9, \"nodes\": [{\"name\": \"c\", "
          "\"op\": \"conv2d\", \"inputs\": [\"input\"], \"out\": 1, "
          "\"kernel\": 1}], \"output\": \"c\"}",
        "ae.graph: scale = 9 is out of range (1..8)"},
    {"{\"task\": \"denoise\", \"nodes\": [{\"name\": \"c\", \"op\": "
          "\"conv2d\", \"inputs\": [\"input\"], \"out\": 1, \"kernel\": 1}], "
          "\"output\": \"input\"}", "output is 'input'"},
    {"{\"task\": \"denoise\", \"nodes\": [{\"name\": \"c\", \"op\": "
          "\"conv2d\", \"inputs\": [\"input\"], \"out\": 1, \"kernel\": 1}], "
          "\"output\": 3}", "'output' must be a node name"},
    /* a -> b -> c -> a, fed by input and feeding y */
    {"{\"task\": \"denoise\", \"nodes\": ["
          "{\"name\": \"a\", \"op\": \"add\", \"inputs\": [\"input\", \"c\"]},"
          "{\"name\": \"b\", \"op\": \"act\", \"act\": \"relu\", "
          "\"inputs\": [\"a\"]},"
          "{\"name\": \"c\", \"op\": \"act\", \"act\": \"tanh\", "
          "\"inputs\": [\"b\"]},"
          "{\"name\": \"y\", \"op\": \"add\", \"inputs\": [\"c\", \"input\"]}"
          "], \"output\": \"y\"}", "cycle: 'a' -> 'b' -> 'c' -> 'a'"},
    {"{\"task\": \"denoise\", \"nodes\": [{\"name\": \"c\", \"op\": "
          "\"conv_transpose2d\", \"inputs\": [\"input\"], \"out\": 1, "
          "\"kernel\": 3, \"stride\": 2, \"output_padding\": 2}], "
          "\"output\": \"c\"}",
        "output_padding = 2 is out of range (it must be less than the "
          "stride, 2)"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autoptr (GError) error = NULL;
    g_autoptr (AeGraph) g = ae_graph_new_from_json (cases[i].json, "t",
        &error);
    g_assert_null (g);
    g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL);
    g_test_message ("%s", error->message);
    g_assert_nonnull (strstr (error->message, cases[i].substring));
  }
}

/* An empty file on disk (mapping a zero-length file is a special case). */
static void
test_empty_file (void)
{
  g_autofree char *dir = g_dir_make_tmp ("ae-test-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "empty.safetensors", NULL);
  g_autoptr (GError) error = NULL;

  g_assert_true (g_file_set_contents (path, "", 0, NULL));
  g_autoptr (AeModel) m = ae_model_load (path, &error);
  g_assert_null (m);
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "too short"));
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_autofree char *list = g_test_build_filename (G_TEST_DIST, "data",
      "broken", "manifest.txt", NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  g_file_get_contents (list, &text, NULL, &error);
  g_assert_no_error (error);

  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  int n_cases = 0;
  for (int i = 0; lines[i]; i++) {
    if (!lines[i][0] || lines[i][0] == '#')
      continue;
    g_auto (GStrv) f = g_strsplit (lines[i], "\t", 3);
    g_assert_cmpuint (g_strv_length (f), ==, 3);
    BrokenCase *c = g_new0 (BrokenCase, 1);
    c->file = g_strdup (f[0]);
    c->substring = g_strdup (f[1]);
    c->description = g_strdup (f[2]);
    g_autofree char *tp = g_strdup_printf ("/broken/%s", f[0]);
    g_test_add_data_func_full (tp, c, test_broken_file, broken_case_free);
    n_cases++;
  }
  g_assert_cmpint (n_cases, >, 40);

  g_test_add_func ("/broken/valid-from-bytes", test_valid_from_bytes);
  g_test_add_func ("/broken/truncated-everywhere", test_truncated_everywhere);
  /* graphs of every op between them */
  const char *flipped[] = { "light.safetensors", "anomaly.safetensors",
    "unet.safetensors", "espcn2.safetensors", "ops_misc.safetensors",
    "rgb.safetensors"
  };
  for (guint i = 0; i < G_N_ELEMENTS (flipped); i++) {
    g_autofree char *tp = g_strdup_printf ("/broken/header-flips/%s",
        flipped[i]);
    g_test_add_data_func (tp, flipped[i], test_header_flips);
  }
  g_test_add_func ("/broken/missing-file", test_missing_file);
  g_test_add_func ("/broken/directory", test_directory);
  g_test_add_func ("/broken/fifo", test_fifo);
  g_test_add_func ("/broken/empty-file", test_empty_file);
  g_test_add_func ("/broken/graph-messages", test_graph_messages);
  g_test_add_func ("/broken/huge-graph-no-tensors",
      test_huge_graph_no_tensors);
  return g_test_run ();
}
