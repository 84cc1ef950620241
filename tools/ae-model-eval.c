/* ae-model eval: the quality of a model on a set of images, next to the
 * baseline it has to beat.
 *
 * Denoise: for each sigma, Gaussian noise (compute/ae-degrade.h, the noise
 * ae-train trains with: clipped to 0..255, whole levels) is added to every
 * image; PSNR/SSIM of the model's output and of the noisy input against the
 * clean image. The noise of image i at sigma s is stream
 * (round (1000 s) << 32 | i) of --seed, so figures are reproducible.
 * Superres: each image, cropped to a multiple of the scale, is shrunk with
 * bicubic antialiasing; the model's enlargement and the bicubic enlargement
 * of that small image are compared with the original, after cropping
 * `scale` pixels of border (as the super-resolution literature does).
 * Metrics are on the model's channels: Y' for luma models, RGB for rgb
 * ones, averaged over images. Anomaly models go to ae_eval_anomaly().
 */
#include "ae-tool.h"
#include "ae-dataset.h"
#include "ae-degrade.h"
#include "ae-engine.h"
#include "ae-json.h"
#include "ae-metrics.h"
#include "ae-table.h"
#include "ae-eval-anomaly.h"

#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_SIGMAS "15,25,50"

typedef struct {
  double psnr, ssim;
} Score;

typedef struct {
  /* options */
  const char *device;
  int threads;
  gint64 seed;
  int max_images;

  AeModel *model;
  AeEngine *engine;
  AePlan *plan;
  int plan_w, plan_h;
  AeDataset *ds;
  int channels, scale;
} Eval;

static void
eval_clear (Eval *e)
{
  g_clear_pointer (&e->plan, ae_plan_free);
  g_clear_pointer (&e->engine, ae_engine_free);
  g_clear_pointer (&e->ds, ae_dataset_free);
  g_clear_pointer (&e->model, ae_model_unref);
}

/* Runs the model on @in (w x h, the model's channels, packed rows) into
 * @out, planning again when the size changes. */
static gboolean
run_model (Eval *e, const guint8 *in, int w, int h, guint8 *out,
    GError **error)
{
  if (!e->plan || e->plan_w != w || e->plan_h != h) {
    AePlanParams pp = {.width = w,.height = h };
    g_clear_pointer (&e->plan, ae_plan_free);
    if (!(e->plan = ae_plan_new (e->engine, e->model, &pp, error)))
      return FALSE;
    e->plan_w = w;
    e->plan_h = h;
  }
  AeFrameFormat format = e->channels == 1 ? AE_FRAME_GRAY8 : AE_FRAME_RGB;
  AeFrame fin = {.format = format,.width = w,.height = h,
    .data = (guint8 *) in,.stride = (gsize) w * e->channels
  };
  AeFrame fout = {.format = format,.width = w * e->scale,
    .height = h * e->scale,.data = out,
    .stride = (gsize) w * e->scale * e->channels
  };
  return ae_plan_run (e->plan, &fin, &fout, error);
}

static Score
score (const guint8 *ref, const guint8 *test, int w, int h, int channels,
    int crop)
{
  gsize stride = (gsize) w * channels;
  Score s;
  s.psnr = ae_psnr_u8 (ref, stride, test, stride, w, h, channels, crop);
  s.ssim = ae_ssim_u8 (ref, stride, test, stride, w, h, channels, crop);
  return s;
}

static void
add_score (Score *sum, Score s)
{
  sum->psnr += s.psnr;
  sum->ssim += s.ssim;
}

static Score
mean_score (Score sum, int n)
{
  Score s = {.psnr = sum.psnr / n,.ssim = sum.ssim / n };
  return s;
}

/* Denoise: @noisy[k] and @model[k] for each sigma k. */
static gboolean
eval_denoise (Eval *e, const double *sigmas, int n_sigmas, Score *noisy,
    Score *model, GError **error)
{
  const int n = ae_dataset_get_size (e->ds);
  for (int k = 0; k < n_sigmas; k++) {
    Score sn = { 0 }, sm = { 0 };
    for (int i = 0; i < n; i++) {
      const AeImage *im = ae_dataset_get (e->ds, i);
      gsize size = im->stride * im->height;
      g_autofree guint8 *in = g_malloc (size);
      g_autofree guint8 *out = g_malloc (size);
      AeRng rng;
      ae_rng_init (&rng, e->seed, (guint64) llround (sigmas[k] * 1000) << 32
          | (guint64) i);
      ae_add_gaussian_noise (im->data, im->stride, in, im->stride,
          im->width, im->height, im->channels, sigmas[k], &rng);
      if (!run_model (e, in, im->width, im->height, out, error)) {
        g_prefix_error (error, "%s: ", im->origin);
        return FALSE;
      }
      add_score (&sn, score (im->data, in, im->width, im->height,
              im->channels, 0));
      add_score (&sm, score (im->data, out, im->width, im->height,
              im->channels, 0));
    }
    noisy[k] = mean_score (sn, n);
    model[k] = mean_score (sm, n);
  }
  return TRUE;
}

static gboolean
eval_superres (Eval *e, Score *bicubic, Score *model, GError **error)
{
  const int n = ae_dataset_get_size (e->ds), s = e->scale, c = e->channels;
  Score sb = { 0 }, sm = { 0 };
  for (int i = 0; i < n; i++) {
    const AeImage *im = ae_dataset_get (e->ds, i);
    const int w = im->width - im->width % s, h = im->height - im->height % s;
    const gsize hr_stride = (gsize) w * c;
    g_autofree guint8 *hr = g_malloc (hr_stride * h);
    g_autofree guint8 *lr = g_malloc (hr_stride / s * (h / s));
    g_autofree guint8 *up = g_malloc (hr_stride * h);
    g_autofree guint8 *out = g_malloc (hr_stride * h);
    for (int y = 0; y < h; y++)
      memcpy (hr + y * hr_stride, im->data + y * im->stride, hr_stride);
    ae_resize_bicubic (hr, hr_stride, w, h, c, w / s, h / s, 0, 0, w / s,
        h / s, lr, hr_stride / s);
    ae_resize_bicubic (lr, hr_stride / s, w / s, h / s, c, w, h, 0, 0, w, h,
        up, hr_stride);
    if (!run_model (e, lr, w / s, h / s, out, error)) {
      g_prefix_error (error, "%s: ", im->origin);
      return FALSE;
    }
    add_score (&sb, score (hr, up, w, h, c, s));
    add_score (&sm, score (hr, out, w, h, c, s));
  }
  *bicubic = mean_score (sb, n);
  *model = mean_score (sm, n);
  return TRUE;
}

/* Every image must leave an SSIM window after the border crop (and, for
 * superres, after shrinking). */
static gboolean
check_sizes (Eval *e, GError **error)
{
  const int crop = e->scale > 1 ? e->scale : 0;
  /* images are cut to a multiple of the scale first */
  const int min = (AE_SSIM_WINDOW + 2 * crop + e->scale - 1) / e->scale
      * e->scale;
  for (int i = 0; i < ae_dataset_get_size (e->ds); i++) {
    const AeImage *im = ae_dataset_get (e->ds, i);
    int w = im->width - im->width % e->scale;
    int h = im->height - im->height % e->scale;
    if (w < min || h < min) {
      g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_TOO_SMALL,
          "%s: the image (%dx%d) is too small to measure: SSIM needs at "
          "least %dx%d%s", im->origin, im->width, im->height, min, min,
          crop ? " with the border crop and the size cut to a multiple of "
          "the scale" : "");
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
parse_sigmas (const char *const *args, GArray *out)
{
  const char *const defaults[] = { DEFAULT_SIGMAS, NULL };
  if (!args || !args[0])
    args = defaults;
  for (int i = 0; args[i]; i++) {
    g_auto (GStrv) parts = g_strsplit (args[i], ",", -1);
    for (int k = 0; parts[k]; k++) {
      char *end;
      double v = g_ascii_strtod (parts[k], &end);
      if (end == parts[k] || *end || !(v >= 0 && v <= 255)) {
        g_printerr ("%s: --sigma takes noise levels in 0..255, not '%s'\n",
            g_get_prgname (), parts[k]);
        return FALSE;
      }
      g_array_append_val (out, v);
    }
  }
  return TRUE;
}

/* JSON cannot hold infinities (identical images): they become null. */
static void
add_score_json (JsonBuilder *b, const char *name, Score s)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "psnr");
  if (isfinite (s.psnr))
    json_builder_add_double_value (b, s.psnr);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "ssim");
  json_builder_add_double_value (b, s.ssim);
  json_builder_end_object (b);
}

static void
print_json (JsonBuilder *b)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = ae_json_to_string (root, TRUE);
  printf ("%s\n", text);
}

static void
begin_json (JsonBuilder *b, Eval *e, const char *model_path, const char *data)
{
  const AeGraph *g = ae_model_get_graph (e->model);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, model_path);
  json_builder_set_member_name (b, "task");
  json_builder_add_string_value (b, ae_task_name (ae_graph_get_task (g)));
  json_builder_set_member_name (b, "color");
  json_builder_add_string_value (b, ae_color_name (ae_graph_get_color (g)));
  json_builder_set_member_name (b, "data");
  json_builder_add_string_value (b, data);
  json_builder_set_member_name (b, "images");
  json_builder_add_int_value (b, ae_dataset_get_size (e->ds));
  json_builder_set_member_name (b, "device");
  json_builder_add_string_value (b, ae_engine_get_backend_name (e->engine));
}

static void
print_header (Eval *e, const char *model_path, const char *data)
{
  const AeGraph *g = ae_model_get_graph (e->model);
  printf ("model:   %s (%s, %s)\n", model_path,
      ae_task_name (ae_graph_get_task (g)),
      ae_color_name (ae_graph_get_color (g)));
  printf ("data:    %s (%d image%s)\n", data, ae_dataset_get_size (e->ds),
      ae_dataset_get_size (e->ds) == 1 ? "" : "s");
  printf ("device:  %s\n", ae_engine_get_backend_name (e->engine));
}

static char *
format_psnr (double v)
{
  return isfinite (v) ? g_strdup_printf ("%.2f", v) : g_strdup ("inf");
}

static int
eval_images (Eval *e, const char *model_path, const char *data,
    GArray *sigmas, gboolean json)
{
  g_autoptr (GError) error = NULL;
  AeEngineParams ep = {.device = e->device,.threads = e->threads };
  const AeGraph *g = ae_model_get_graph (e->model);
  const AeTask task = ae_graph_get_task (g);

  e->channels = ae_graph_get_channels (g);
  e->scale = ae_graph_get_scale (g);
  e->ds = ae_dataset_new (e->channels);
  if (!ae_dataset_add (e->ds, data, 1, e->max_images, &error)
      || !check_sizes (e, &error)
      || !(e->engine = ae_engine_new (&ep, &error))) {
    ae_tool_error ("%s", error->message);
    return AE_EXIT_FAILURE;
  }

  g_autoptr (JsonBuilder) b = json_builder_new ();
  if (json)
    begin_json (b, e, model_path, data);
  else
    print_header (e, model_path, data);

  if (task == AE_TASK_DENOISE) {
    const int n = sigmas->len;
    g_autofree Score *noisy = g_new (Score, n);
    g_autofree Score *model = g_new (Score, n);
    if (!eval_denoise (e, (const double *) sigmas->data, n, noisy, model,
            &error)) {
      ae_tool_error ("%s", error->message);
      return AE_EXIT_FAILURE;
    }
    if (json) {
      json_builder_set_member_name (b, "seed");
      json_builder_add_int_value (b, e->seed);
      json_builder_set_member_name (b, "results");
      json_builder_begin_array (b);
      for (int k = 0; k < n; k++) {
        json_builder_begin_object (b);
        json_builder_set_member_name (b, "sigma");
        json_builder_add_double_value (b, g_array_index (sigmas, double, k));
        add_score_json (b, "noisy", noisy[k]);
        add_score_json (b, "model", model[k]);
        json_builder_end_object (b);
      }
      json_builder_end_array (b);
    } else {
      printf ("noise:   gaussian, clipped to 0..255, seed %" G_GINT64_FORMAT
          "\n\n", e->seed);
      g_autoptr (AeTable) t = ae_table_new ("sigma|noisy PSNR|noisy SSIM|"
          "model PSNR|model SSIM|gain dB", "rrrrrr");
      for (int k = 0; k < n; k++) {
        g_autofree char *np = format_psnr (noisy[k].psnr);
        g_autofree char *mp = format_psnr (model[k].psnr);
        ae_table_row (t);
        ae_table_cell (t, "%g", g_array_index (sigmas, double, k));
        ae_table_cell (t, "%s", np);
        ae_table_cell (t, "%.4f", noisy[k].ssim);
        ae_table_cell (t, "%s", mp);
        ae_table_cell (t, "%.4f", model[k].ssim);
        ae_table_cell (t, "%+.2f", model[k].psnr - noisy[k].psnr);
      }
      ae_table_print (t, stdout, "");
    }
  } else {
    Score bicubic, model;
    if (!eval_superres (e, &bicubic, &model, &error)) {
      ae_tool_error ("%s", error->message);
      return AE_EXIT_FAILURE;
    }
    if (json) {
      json_builder_set_member_name (b, "scale");
      json_builder_add_int_value (b, e->scale);
      json_builder_set_member_name (b, "crop");
      json_builder_add_int_value (b, e->scale);
      /* beside the top level's "model", the path */
      json_builder_set_member_name (b, "results");
      json_builder_begin_object (b);
      add_score_json (b, "bicubic", bicubic);
      add_score_json (b, "model", model);
      json_builder_end_object (b);
    } else {
      printf ("scale:   %d, bicubic-downscaled inputs, %d-pixel border "
          "cropped\n\n", e->scale, e->scale);
      g_autoptr (AeTable) t = ae_table_new ("method|PSNR|SSIM|gain dB",
          "lrrr");
      g_autofree char *bp = format_psnr (bicubic.psnr);
      g_autofree char *mp = format_psnr (model.psnr);
      ae_table_row (t);
      ae_table_cell (t, "bicubic");
      ae_table_cell (t, "%s", bp);
      ae_table_cell (t, "%.4f", bicubic.ssim);
      ae_table_skip (t);
      ae_table_row (t);
      ae_table_cell (t, "model");
      ae_table_cell (t, "%s", mp);
      ae_table_cell (t, "%.4f", model.ssim);
      ae_table_cell (t, "%+.2f", model.psnr - bicubic.psnr);
      ae_table_print (t, stdout, "");
    }
  }
  if (json) {
    json_builder_end_object (b);
    print_json (b);
  }
  return AE_EXIT_OK;
}

int
ae_cmd_eval (int argc, char **argv)
{
  g_autofree char *device = NULL, *labels = NULL;
  g_auto (GStrv) sigma_args = NULL;
  gboolean json = FALSE;
  Eval e = {.seed = 0 };
  const GOptionEntry entries[] = {
    {"sigma", 's', 0, G_OPTION_ARG_STRING_ARRAY, &sigma_args,
        "Noise levels for denoise models, 0..255, repeated or "
          "comma-separated (default " DEFAULT_SIGMAS ")", "S"},
    {"seed", 0, 0, G_OPTION_ARG_INT64, &e.seed,
        "Seed of the noise (default 0)", "N"},
    {"max-images", 'n', 0, G_OPTION_ARG_INT, &e.max_images,
        "Use at most N images: the first N files of a folder (in path "
        "order), frames of a video or pipeline (default: all)", "N"},
    {"labels", 'l', 0, G_OPTION_ARG_FILENAME, &labels,
        "Anomaly models: CSV of per-frame labels of the clip DATA", "FILE"},
    {"device", 'd', 0, G_OPTION_ARG_STRING, &device,
        "Compute device: auto (default), cpu, vulkan, vulkan:N", "DEV"},
    {"threads", 't', 0, G_OPTION_ARG_INT, &e.threads,
        "CPU worker threads (default: one per core)", "N"},
    {"json", 'j', 0, G_OPTION_ARG_NONE, &json,
        "Print one JSON document instead of tables", NULL},
    {NULL}
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("MODEL DATA");
  g_option_context_set_summary (ctx, "Measures MODEL on DATA (a folder of "
      "images, an image or video file, or a\nGStreamer pipeline) against "
      "its baseline:\n"
      "  denoise   PSNR/SSIM of the output and of the noisy input, per "
      "sigma\n"
      "  superres  PSNR/SSIM of the output and of bicubic enlargement of "
      "the\n            bicubic-shrunk image (border of `scale` pixels "
      "cropped)\n"
      "  anomaly   ROC AUC, false alarms and events caught on a labelled "
      "clip\n            (--labels)");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!ae_tool_parse_args (ctx, 2, &argc, &argv))
    return AE_EXIT_USAGE;
  if (e.threads < 0 || e.max_images < 0) {
    g_printerr ("%s: --threads and --max-images must be 0 or more\n",
        g_get_prgname ());
    return AE_EXIT_USAGE;
  }
  g_autoptr (GArray) sigmas = g_array_new (FALSE, FALSE, sizeof (double));
  if (!parse_sigmas ((const char *const *) sigma_args, sigmas))
    return AE_EXIT_USAGE;
  if (!(e.model = ae_tool_load_model (argv[1], NULL)))
    return AE_EXIT_FAILURE;
  e.device = device;

  int status;
  const AeTask task = ae_graph_get_task (ae_model_get_graph (e.model));
  if (task == AE_TASK_ANOMALY) {
    if (!labels) {
      g_printerr ("%s: %s is an anomaly model: give the clip's labels with "
          "--labels FILE\n", g_get_prgname (), argv[1]);
      status = AE_EXIT_USAGE;
    } else if (e.max_images > 0 || sigma_args) {
      g_printerr ("%s: --max-images and --sigma are for image folders; an "
          "anomaly model is evaluated on the whole labelled clip\n",
          g_get_prgname ());
      status = AE_EXIT_USAGE;
    } else {
      status = ae_eval_anomaly (e.model, argv[2], labels, device, e.threads,
          json);
    }
  } else if (labels) {
    g_printerr ("%s: --labels is for anomaly models; %s is a %s model\n",
        g_get_prgname (), argv[1], ae_task_name (task));
    status = AE_EXIT_USAGE;
  } else {
    status = eval_images (&e, argv[1], argv[2], sigmas, json);
  }
  eval_clear (&e);
  gst_deinit ();
  return status;
}
