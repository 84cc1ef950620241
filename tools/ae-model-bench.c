/* ae-model bench: how fast a model runs on a backend at a frame size.
 *
 * Times the float tensor path (ae_plan_run_tensor: the network alone) and
 * the 8-bit frame path the elements use (ae_plan_run: + conversion), both
 * on synthetic noise; --layers adds per-node times from the engine's
 * profile, --gemm compares each convolution with one cblas_sgemm call of
 * its im2col shape, the best the CPU backend's GEMMs could do. On a
 * device (--device vulkan) it also measures the device's FMA peak, gives
 * each layer's share of it, the upload / compute / download split (with
 * --layers), and the CPU backend's time in the same run.
 */
#include "ae-tool.h"
#include "ae-engine.h"
#include "ae-table.h"

#include <cblas.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* --gemm measures at most this many rows of the im2col matrix */
#define GEMM_MAX_ROWS 65536
#define GEMM_REPEATS 3

typedef struct {
  const char *size;
  const char *device;
  int threads;
  int frames;
  int warmup;
  int tile;
  gboolean layers;
  gboolean gemm;
} Options;

typedef struct {
  const char *name;
  double median, min, max, mean;        /* seconds */
} Timing;

typedef struct {
  const Options *opt;
  const char *model_path;
  AeModel *model;
  const AeGraph *g;
  AeEngine *engine;
  AePlan *plan;
  int width, height, scale, channels;
  double flops_per_frame;
  double *profile;              /* seconds per node over the timed runs */
  double stages[3];             /* upload, compute, download, same runs */
  double peak;                  /* device GFLOP/s, 0: not measured */
} Bench;

static gboolean
parse_size (const char *s, int *w, int *h)
{
  char *end;
  gint64 a, b;

  a = g_ascii_strtoll (s, &end, 10);
  if (end == s || (*end != 'x' && *end != 'X'))
    return FALSE;
  s = end + 1;
  b = g_ascii_strtoll (s, &end, 10);
  if (end == s || *end || a < 1 || b < 1 || a > 32768 || b > 32768)
    return FALSE;
  *w = a;
  *h = b;
  return TRUE;
}

static char *
command_line (int argc, char **argv)
{
  GString *s = g_string_new (NULL);

  for (int i = -1; i < argc; i++) {
    const char *a = i < 0 ? ae_tool_argv0 : argv[i];
    gboolean plain = *a != '\0';
    for (const char *c = a; *c; c++)
      if (!g_ascii_isalnum (*c) && !strchr ("-_./=:,+@%", *c))
        plain = FALSE;
    if (s->len)
      g_string_append_c (s, ' ');
    if (plain) {
      g_string_append (s, a);
    } else {
      g_autofree char *q = g_shell_quote (a);
      g_string_append (s, q);
    }
  }
  return g_string_free (s, FALSE);
}

static char *
cpu_model (void)
{
  g_autofree char *text = NULL;
  static const char *keys[] = { "model name", "Model name", "cpu model",
    "Hardware", "Processor", "uarch"
  };

  if (!g_file_get_contents ("/proc/cpuinfo", &text, NULL, NULL))
    return g_strdup ("unknown CPU");
  for (guint k = 0; k < G_N_ELEMENTS (keys); k++) {
    g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
    for (char **l = lines; *l; l++) {
      char *colon = strchr (*l, ':');
      if (!colon || !g_str_has_prefix (*l, keys[k]))
        continue;
      *colon = '\0';
      if (!g_str_equal (g_strstrip (*l), keys[k]))
        continue;
      return g_strdup (g_strstrip (colon + 1));
    }
  }
  return g_strdup ("unknown CPU");
}

static int
compare_double (gconstpointer a, gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

static Timing
summarize (const char *name, double *t, int n)
{
  Timing r = { .name = name };

  for (int i = 0; i < n; i++)
    r.mean += t[i] / n;
  qsort (t, n, sizeof (double), compare_double);
  r.min = t[0];
  r.max = t[n - 1];
  r.median = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
  return r;
}

static gpointer
try_alloc (gsize n, gsize size, const char *what)
{
  gpointer p = n < G_MAXSIZE / size ? g_try_malloc (MAX (n * size, 1)) : NULL;

  if (!p)
    ae_tool_error ("cannot allocate %" G_GSIZE_FORMAT " MB for the %s",
        n * size >> 20, what);
  return p;
}

/* Runs @warmup + @frames times; profiling (if on) covers the timed runs. */
static gboolean
time_tensor (Bench *b, Timing *out)
{
  const Options *o = b->opt;
  gsize n_in = (gsize) b->channels * b->width * b->height;
  gsize n_out = n_in * b->scale * b->scale;
  g_autofree float *in = try_alloc (n_in, sizeof (float), "input tensor");
  g_autofree float *res = try_alloc (n_out, sizeof (float), "output tensor");
  g_autofree double *t = g_new (double, o->frames);
  g_autoptr (GRand) rand = g_rand_new_with_seed (1);
  g_autoptr (GError) error = NULL;

  if (!in || !res)
    return FALSE;
  for (gsize i = 0; i < n_in; i++)
    in[i] = g_rand_double (rand);
  for (int i = 0; i < o->warmup + o->frames; i++) {
    if (i == o->warmup && o->layers) {
      ae_plan_set_profiling (b->plan, TRUE);
      ae_plan_reset_profile (b->plan);
    }
    gint64 t0 = g_get_monotonic_time ();
    if (!ae_plan_run_tensor (b->plan, in, res, &error)) {
      ae_tool_error ("%s", error->message);
      return FALSE;
    }
    if (i >= o->warmup)
      t[i - o->warmup] = (g_get_monotonic_time () - t0) * 1e-6;
  }
  if (o->layers) {
    const double *p = ae_plan_get_profile (b->plan);
    b->profile = g_new0 (double, ae_graph_get_n_nodes (b->g));
    if (p)
      memcpy (b->profile, p, sizeof (double) * ae_graph_get_n_nodes (b->g));
    ae_plan_get_stage_times (b->plan, &b->stages[0], &b->stages[1],
        &b->stages[2]);
    ae_plan_set_profiling (b->plan, FALSE);
  }
  *out = summarize ("f32 tensor", t, o->frames);
  return TRUE;
}

static gboolean
time_frame (Bench *b, AeFrameFormat format, const char *name, Timing *out)
{
  const Options *o = b->opt;
  int bpp = ae_frame_format_bpp (format);
  AeFrame in = { .format = format, .width = b->width, .height = b->height,
    .stride = (gsize) b->width * bpp
  };
  AeFrame res = { .format = format, .width = b->width * b->scale,
    .height = b->height * b->scale, .stride = (gsize) b->width * b->scale * bpp
  };
  g_autofree guint8 *in_data = try_alloc (in.stride, in.height, "input frame");
  g_autofree guint8 *out_data = try_alloc (res.stride, res.height,
      "output frame");
  g_autofree double *t = g_new (double, o->frames);
  g_autoptr (GRand) rand = g_rand_new_with_seed (2);
  g_autoptr (GError) error = NULL;

  if (!in_data || !out_data)
    return FALSE;
  in.data = in_data;
  res.data = out_data;
  for (gsize i = 0; i < in.stride * in.height; i++)
    in_data[i] = g_rand_int (rand) & 0xff;
  for (int i = 0; i < o->warmup + o->frames; i++) {
    gint64 t0 = g_get_monotonic_time ();
    if (!ae_plan_run (b->plan, &in, &res, &error)) {
      ae_tool_error ("%s", error->message);
      return FALSE;
    }
    if (i >= o->warmup)
      t[i - o->warmup] = (g_get_monotonic_time () - t0) * 1e-6;
  }
  *out = summarize (name, t, o->frames);
  return TRUE;
}

static char *
gflops (double flops, double seconds)
{
  return seconds > 0 ? ae_tool_format_number (flops / seconds / 1e9)
      : g_strdup ("-");
}

static void
print_timings (const Bench *b, const Timing *t, int n)
{
  g_autoptr (AeTable) table = ae_table_new ("path|median ms|min ms|max ms|"
      "fps|GFLOP/s", "lrrrrr");

  for (int i = 0; i < n; i++) {
    g_autofree char *gf = gflops (b->flops_per_frame, t[i].median);
    ae_table_row (table);
    ae_table_cell (table, "%s", t[i].name);
    ae_table_cell (table, "%.2f", t[i].median * 1e3);
    ae_table_cell (table, "%.2f", t[i].min * 1e3);
    ae_table_cell (table, "%.2f", t[i].max * 1e3);
    ae_table_cell (table, "%.2f", t[i].median > 0 ? 1.0 / t[i].median : 0.0);
    ae_table_cell (table, "%s", gf);
  }
  printf ("\n");
  ae_table_print (table, stdout, "");
}

typedef struct {
  int m, n, k;
  double gflops;                /* < 0: could not measure */
} GemmResult;

/* Best of GEMM_REPEATS single cblas_sgemm calls of this shape. */
static double
measure_sgemm (int m, int n, int k)
{
  g_autofree float *a = g_try_malloc ((gsize) m * k * sizeof (float));
  g_autofree float *bm = g_try_malloc ((gsize) k * n * sizeof (float));
  g_autofree float *c = g_try_malloc ((gsize) m * n * sizeof (float));
  double best = G_MAXDOUBLE;

  if (!a || !bm || !c)
    return -1;
  for (gsize i = 0; i < (gsize) m * k; i++)
    a[i] = (float) (i % 97) / 97.0f;
  for (gsize i = 0; i < (gsize) k * n; i++)
    bm[i] = (float) (i % 89) / 89.0f - 0.5f;
  for (int r = 0; r < GEMM_REPEATS; r++) {
    gint64 t0 = g_get_monotonic_time ();
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a,
        k, bm, n, 0.0f, c, n);
    best = MIN (best, (g_get_monotonic_time () - t0) * 1e-6);
  }
  return 2.0 * m * n * k / MAX (best, 1e-9) / 1e9;
}

static void
print_layers (Bench *b, const AeShape *shapes, const Timing *tensor)
{
  const Options *o = b->opt;
  int n = ae_graph_get_n_nodes (b->g);
  double total = 0;
  g_autoptr (GArray) cache = g_array_new (FALSE, FALSE, sizeof (GemmResult));
  g_autoptr (AeTable) t = ae_table_new (o->gemm ?
      "#|name|op|output|ms|%|GFLOP/s|GEMM MxNxK|sgemm GFLOP/s|conv/sgemm"
      : b->peak > 0 ? "#|name|op|output|ms|%|GFLOP/s|% of peak"
      : "#|name|op|output|ms|%|GFLOP/s", "rlllrrrlrr");
  gboolean capped = FALSE;

  for (int i = 1; i < n; i++)
    total += b->profile[i];
  if (total <= 0) {
    printf ("\nno per-layer profile: backend %s does not report one\n",
        ae_engine_get_backend_name (b->engine));
    return;
  }

  if (o->gemm)
    /* one OpenBLAS call over all cores: what a single huge GEMM reaches;
     * the engine itself calls sgemm from its own pool, one thread each */
    openblas_set_num_threads (ae_engine_get_n_threads (b->engine));

  for (int i = 1; i < n; i++) {
    const AeNode *nd = ae_graph_get_node (b->g, i);
    double sec = b->profile[i] / o->frames;
    double flops = ae_node_flops (b->g, i, shapes);
    g_autofree char *gf = flops > 0 ? gflops (flops, sec) : g_strdup ("");

    ae_table_row (t);
    ae_table_cell (t, "%d", i);
    ae_table_cell (t, "%s", nd->name);
    ae_table_cell (t, "%s", ae_op_name (nd->op));
    ae_table_cell (t, "%dx%dx%d", shapes[i].c, shapes[i].h, shapes[i].w);
    ae_table_cell (t, "%.3f", sec * 1e3);
    ae_table_cell (t, "%.1f", 100.0 * b->profile[i] / total);
    ae_table_cell (t, "%s", gf);
    if (b->peak > 0 && !o->gemm)
      ae_table_cell (t, flops > 0 ? "%.1f" : "", 100.0 * flops / sec / 1e9
          / b->peak);
    if (!o->gemm || nd->op != AE_OP_CONV2D)
      continue;

    const AeConvParams *c = &nd->p.conv;
    GemmResult r = { .m = MIN (shapes[i].h * shapes[i].w, GEMM_MAX_ROWS),
      .n = c->out_channels, .k = c->in_channels * c->kernel * c->kernel
    };
    gboolean found = FALSE;
    for (guint k = 0; k < cache->len && !found; k++) {
      GemmResult *e = &g_array_index (cache, GemmResult, k);
      if (e->m == r.m && e->n == r.n && e->k == r.k) {
        r = *e;
        found = TRUE;
      }
    }
    if (!found) {
      r.gflops = measure_sgemm (r.m, r.n, r.k);
      g_array_append_val (cache, r);
    }
    gboolean cap = shapes[i].h * shapes[i].w > GEMM_MAX_ROWS;
    capped |= cap;
    ae_table_cell (t, "%dx%dx%d%s", shapes[i].h * shapes[i].w, r.n, r.k,
        cap ? "*" : "");
    if (r.gflops < 0) {
      ae_table_cell (t, "no memory");
      continue;
    }
    g_autofree char *sg = ae_tool_format_number (r.gflops);
    ae_table_cell (t, "%s", sg);
    if (sec > 0)
      ae_table_cell (t, "%.0f%%", 100.0 * flops / sec / 1e9 / r.gflops);
  }
  double peak = o->gemm ? measure_sgemm (2048, 2048, 2048) : 0;
  if (o->gemm)
    openblas_set_num_threads (1);

  printf ("\nlayers (f32 tensor path, mean of %d runs; GFLOP/s count the "
      "frame's FLOPs,\nnot the tiles' halos):\n", o->frames);
  ae_table_print (t, stdout, "");
  printf ("all nodes: %.3f ms per frame; the whole run: %.3f ms (means)\n",
      total / o->frames * 1e3, tensor->mean * 1e3);
  if (o->gemm) {
    printf ("gemm: the convolution as one im2col GEMM (M output pixels, N out "
        "channels,\nK in channels x k x k); sgemm GFLOP/s: best of %d "
        "single cblas_sgemm calls,\nrow-major, on %d OpenBLAS thread%s%s\n",
        GEMM_REPEATS, ae_engine_get_n_threads (b->engine),
        ae_engine_get_n_threads (b->engine) == 1 ? "" : "s",
        capped ? "; * = measured with M capped at 65536 rows" : "");
    printf ("OpenBLAS reference: sgemm 2048x2048x2048 reaches %.1f GFLOP/s "
        "on the same threads\n", peak);
  }
}

/* The same tensor runs on our CPU backend, so one table compares them. */
static gboolean
compare_cpu (Bench *b, const Timing *device)
{
  Bench cb = *b;
  AeEngineParams ep = { .device = "cpu", .threads = b->opt->threads };
  AePlanParams pp = { .width = b->width, .height = b->height };
  Options o = *b->opt;
  g_autoptr (GError) error = NULL;
  Timing t;
  gboolean ok = FALSE;

  o.layers = FALSE;
  cb.opt = &o;
  cb.profile = NULL;
  if (!(cb.engine = ae_engine_new (&ep, &error))
      || !(cb.plan = ae_plan_new (cb.engine, b->model, &pp, &error))) {
    ae_tool_error ("%s", error->message);
    goto out;
  }
  if (!time_tensor (&cb, &t))
    goto out;
  printf ("\nsame run on the CPU backend (%d threads): f32 tensor %.2f ms "
      "median, %.1f fps; the device runs at %.2fx the CPU's speed\n",
      ae_engine_get_n_threads (cb.engine), t.median * 1e3, 1 / t.median,
      t.median / device->median);
  ok = TRUE;
out:
  ae_plan_free (cb.plan);
  ae_engine_free (cb.engine);
  return ok;
}

static int
bench (Bench *b, const char *cmdline)
{
  const Options *o = b->opt;
  g_autoptr (GError) error = NULL;
  AeEngineParams ep = { .device = o->device, .threads = o->threads };
  Timing timings[3];
  int n_timings = 0;

  if (!(b->model = ae_tool_load_model (b->model_path, NULL)))
    return AE_EXIT_FAILURE;
  b->g = ae_model_get_graph (b->model);
  b->scale = ae_graph_get_scale (b->g);
  b->channels = ae_graph_get_channels (b->g);
  b->flops_per_frame = ae_graph_get_flops_per_pixel (b->g) * b->width
      * b->height;
  if (!(b->engine = ae_engine_new (&ep, &error))) {
    ae_tool_error ("%s", error->message);
    return AE_EXIT_FAILURE;
  }
  AePlanParams pp = { .width = b->width, .height = b->height,
    .tile_size = o->tile
  };
  if (!(b->plan = ae_plan_new (b->engine, b->model, &pp, &error))) {
    ae_tool_error ("%s: %dx%d: %s", b->model_path, b->width, b->height,
        error->message);
    return AE_EXIT_FAILURE;
  }

  /* padded to the stride, as the engine runs it */
  int stride = ae_graph_get_stride (b->g);
  int pw = (b->width + stride - 1) / stride * stride;
  int ph = (b->height + stride - 1) / stride * stride;
  g_autofree AeShape *shapes = g_new0 (AeShape, ae_graph_get_n_nodes (b->g));
  if (!ae_graph_infer_shapes (b->g, pw, ph, shapes, &error)) {
    ae_tool_error ("%s: %s", b->model_path, error->message);
    return AE_EXIT_FAILURE;
  }

  g_autofree char *cpu = cpu_model ();
  g_autofree char *kf = ae_tool_format_number (ae_graph_get_flops_per_pixel
      (b->g) / 1e3);
  int tiles = ae_plan_get_n_tiles (b->plan);
  printf ("$ %s\n", cmdline);
  printf ("machine:  %s, %ld online cores\n", cpu,
      sysconf (_SC_NPROCESSORS_ONLN));
  g_autofree char *blas = g_strstrip (g_strdup (openblas_get_config ()));
  printf ("BLAS:     %s (core %s)\n", blas, openblas_get_corename ());
  printf ("backend:  %s, %d thread%s\n", ae_engine_get_backend_name
      (b->engine), ae_engine_get_n_threads (b->engine),
      ae_engine_get_n_threads (b->engine) == 1 ? "" : "s");
  printf ("model:    %s: %s, %s, %s kFLOP per input pixel\n", b->model_path,
      ae_task_name (ae_graph_get_task (b->g)),
      ae_color_name (ae_graph_get_color (b->g)), kf);
  printf ("frame:    %dx%d -> %dx%d, tile %d (%d tile%s, halo %d)\n",
      b->width, b->height, b->width * b->scale, b->height * b->scale,
      ae_plan_get_tile_size (b->plan), tiles, tiles == 1 ? "" : "s",
      ae_graph_get_halo (b->g));
  printf ("runs:     %d timed after %d warm-up, per path; median reported\n",
      o->frames, o->warmup);
  fflush (stdout);

  if (ae_engine_measure_peak (b->engine, &b->peak, NULL))
    printf ("peak:     %.1f GFLOP/s fp32 (FMA-chain shader on the device)\n",
        b->peak);
  fflush (stdout);
  if (!time_tensor (b, &timings[n_timings++]))
    return AE_EXIT_FAILURE;
  if (b->channels == 1
      && !time_frame (b, AE_FRAME_GRAY8, "GRAY8 frame", &timings[n_timings++]))
    return AE_EXIT_FAILURE;
  if (!time_frame (b, AE_FRAME_RGBX, "RGBx frame", &timings[n_timings++]))
    return AE_EXIT_FAILURE;
  print_timings (b, timings, n_timings);
  if (o->layers)
    print_layers (b, shapes, &timings[0]);
  if (o->layers && b->profile) {
    printf ("\nstages (f32 tensor path, ms per frame): frames to network "
        "input %.3f, network %.3f, output to frames %.3f\n",
        b->stages[0] / o->frames * 1e3, b->stages[1] / o->frames * 1e3,
        b->stages[2] / o->frames * 1e3);
  }
  if (!g_str_equal (ae_engine_get_backend_name (b->engine), "cpu")
      && !compare_cpu (b, &timings[0]))
    return AE_EXIT_FAILURE;

  g_autofree char *gf = gflops (b->flops_per_frame, timings[0].median);
  printf ("\nRESULT model=%s size=%dx%d backend=%s threads=%d ms=%.3f "
      "gflops=%s frame_ms=%.3f\n", b->model_path, b->width, b->height,
      ae_engine_get_backend_name (b->engine),
      ae_engine_get_n_threads (b->engine), timings[0].median * 1e3, gf,
      timings[1].median * 1e3);
  return fflush (stdout) == 0 ? AE_EXIT_OK : AE_EXIT_FAILURE;
}

int
ae_cmd_bench (int argc, char **argv)
{
  g_autofree char *size = NULL, *device = NULL;
  Options o = { .frames = 10, .warmup = 2 };
  const GOptionEntry entries[] = {
    {"size", 's', 0, G_OPTION_ARG_STRING, &size,
        "Input frame size (default 1920x1080)", "WxH"},
    {"device", 'd', 0, G_OPTION_ARG_STRING, &device,
        "Compute device: auto (default), cpu, vulkan, vulkan:N", "DEV"},
    {"threads", 't', 0, G_OPTION_ARG_INT, &o.threads,
        "CPU worker threads (default: one per core)", "N"},
    {"frames", 'n', 0, G_OPTION_ARG_INT, &o.frames,
        "Timed runs per path (default 10)", "N"},
    {"warmup", 'w', 0, G_OPTION_ARG_INT, &o.warmup,
        "Untimed runs first (default 2)", "N"},
    {"tile", 0, 0, G_OPTION_ARG_INT, &o.tile,
        "Tile side in pixels (0: automatic, -1: never tile)", "N"},
    {"layers", 'l', 0, G_OPTION_ARG_NONE, &o.layers,
        "Time every node of the graph", NULL},
    {"gemm", 'g', 0, G_OPTION_ARG_NONE, &o.gemm,
        "With --layers, compare each conv2d with one cblas_sgemm of its "
          "im2col shape", NULL},
    {NULL}
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("MODEL");
  g_autofree char *cmdline = command_line (argc, argv);
  Bench b = { .opt = &o, .width = 1920, .height = 1080 };
  int status;

  g_option_context_set_summary (ctx, "Runs MODEL on a synthetic frame and "
      "prints ms per frame, fps and GFLOP/s\nfor the float tensor path and "
      "the 8-bit frame path, then a RESULT line\nfor scripts.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!ae_tool_parse_args (ctx, 1, &argc, &argv))
    return AE_EXIT_USAGE;
  if (size && !parse_size (size, &b.width, &b.height)) {
    g_printerr ("%s: --size must be WIDTHxHEIGHT (1 to 32768 each), not "
        "'%s'\n", g_get_prgname (), size);
    return AE_EXIT_USAGE;
  }
  if (o.frames < 1 || o.warmup < 0 || o.threads < 0) {
    g_printerr ("%s: --frames must be at least 1, --warmup and --threads "
        "at least 0\n", g_get_prgname ());
    return AE_EXIT_USAGE;
  }
  if (!ae_tool_check_tile (o.tile))
    return AE_EXIT_USAGE;
  o.layers |= o.gemm;
  o.device = device;
  b.model_path = argv[1];

  status = bench (&b, cmdline);
  g_free (b.profile);
  ae_plan_free (b.plan);
  ae_engine_free (b.engine);
  if (b.model)
    ae_model_unref (b.model);
  return status;
}
