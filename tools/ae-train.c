/* ae-train: trains a model file from images, video files or GStreamer
 * pipelines (docs/TRAINING.md).
 *
 *   ae-train --task denoise --data DIR -o model.safetensors
 *   ae-train --resume model.safetensors.ckpt
 *
 * The data side (decoding, patches, degradations) is tools/ae-dataset.c and
 * tools/ae-batch.c; the maths is compute/train/. This file holds the
 * command line, the loop, progress, validation, checkpoints and the final
 * model (with the anomaly calibration for anomaly models).
 */
#include "ae-anomaly.h"
#include "ae-batch.h"
#include "ae-checkpoint.h"
#include "ae-engine.h"
#include "ae-json.h"
#include "ae-model-path.h"
#include "ae-presets.h"
#include "ae-trainer.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>
#include <locale.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_INTERRUPTED 130
#define N_VAL_BATCHES 4

typedef struct {
  char *task, *preset, *graph, *init, *color, *loss, *sigma, *jpeg, *output;
  char *variational;
  char **data;
  int scale, steps, batch, patch, warmup, val, frame_step, max_frames;
  int threads, checkpoint_every, val_every, log_every;
  double lr, weight_decay, clip, poisson, clean, kl_weight;
  gint64 seed;
  gboolean no_augment, list_presets, uniform_loss;
} Options;

static volatile sig_atomic_t interrupted;

static void
on_sigint (int sig)
{
  interrupted = 1;
}

static void
options_free (Options *o)
{
  g_free (o->task);
  g_free (o->preset);
  g_free (o->graph);
  g_free (o->init);
  g_free (o->color);
  g_free (o->loss);
  g_free (o->sigma);
  g_free (o->jpeg);
  g_free (o->output);
  g_free (o->variational);
  g_strfreev (o->data);
}

static GOptionContext *
make_context (Options *o, char **resume)
{
  GOptionEntry entries[] = {
    {"task", 't', 0, G_OPTION_ARG_STRING, &o->task,
        "denoise, superres or anomaly", "TASK"},
    {"data", 'd', 0, G_OPTION_ARG_FILENAME_ARRAY, &o->data,
          "training data: a folder of images, an image or video file, or a "
          "GStreamer pipeline description (repeatable)", "SOURCE"},
    {"output", 'o', 0, G_OPTION_ARG_FILENAME, &o->output,
        "the model file to write", "MODEL"},
    {"preset", 'p', 0, G_OPTION_ARG_STRING, &o->preset,
        "network architecture (--list-presets; default: the task's fast one)",
        "NAME"},
    {"graph", 0, 0, G_OPTION_ARG_FILENAME, &o->graph,
        "network from an ae.graph JSON file instead of a preset", "FILE"},
    {"init", 0, 0, G_OPTION_ARG_FILENAME, &o->init,
          "start from this model's weights (fine-tuning): its network, task, "
          "colour and scale are the run's", "MODEL"},
    {"color", 0, 0, G_OPTION_ARG_STRING, &o->color,
        "luma (Y' only, default) or rgb", "MODE"},
    {"scale", 0, 0, G_OPTION_ARG_INT, &o->scale,
        "superres factor: 2 (default), 3 or 4", "N"},
    {"steps", 0, 0, G_OPTION_ARG_INT, &o->steps,
        "optimiser steps (default 20000)", "N"},
    {"batch", 0, 0, G_OPTION_ARG_INT, &o->batch,
        "patches per step (default 16)", "N"},
    {"patch", 0, 0, G_OPTION_ARG_INT, &o->patch,
        "side of the (output) training patches (default 64)", "PX"},
    {"lr", 0, 0, G_OPTION_ARG_DOUBLE, &o->lr,
        "peak learning rate (default 1e-3)", "LR"},
    {"warmup", 0, 0, G_OPTION_ARG_INT, &o->warmup,
        "linear warm-up steps before the cosine decay (default steps/50)",
        "N"},
    {"weight-decay", 0, 0, G_OPTION_ARG_DOUBLE, &o->weight_decay,
        "AdamW decoupled weight decay (default 0)", "W"},
    {"clip", 0, 0, G_OPTION_ARG_DOUBLE, &o->clip,
        "gradient norm clipping (default 1; 0 = off)", "NORM"},
    {"loss", 0, 0, G_OPTION_ARG_STRING, &o->loss,
        "mse (default), l1 or charbonnier", "LOSS"},
    {"sigma", 0, 0, G_OPTION_ARG_STRING, &o->sigma,
        "denoise: gaussian sigma range in 8-bit levels (default 0,55)",
        "MIN,MAX"},
    {"poisson", 0, 0, G_OPTION_ARG_DOUBLE, &o->poisson,
        "denoise: fraction of patches with poisson-gaussian noise instead "
        "(default 0.2)", "P"},
    {"clean", 0, 0, G_OPTION_ARG_DOUBLE, &o->clean,
        "denoise: fraction of patches left without noise, which must come "
        "back unchanged (default 0)", "P"},
    {"jpeg", 0, 0, G_OPTION_ARG_STRING, &o->jpeg,
        "denoise: also JPEG artefacts at a quality in this range (default off)",
        "MIN,MAX"},
    {"variational", 0, 0, G_OPTION_ARG_STRING, &o->variational,
        "anomaly: make this latent conv node variational (ae-bottleneck: z)",
        "NODE"},
    {"kl-weight", 0, 0, G_OPTION_ARG_DOUBLE, &o->kl_weight,
        "weight of the KL term per latent value (default 1e-3)", "W"},
    {"uniform-loss", 0, 0, G_OPTION_ARG_NONE, &o->uniform_loss,
          "denoise: weigh every patch alike (default: by 1/(sigma^2 + 25) of "
          "its measured noise, so clean-ish patches count as much as noisy "
          "ones)", NULL},
    {"no-augment", 0, 0, G_OPTION_ARG_NONE, &o->no_augment,
        "no flips or rotations of the patches", NULL},
    {"val", 0, 0, G_OPTION_ARG_INT, &o->val,
        "images held back for validation (and anomaly calibration); "
        "default 5% (at least 2, at most 50)", "N"},
    {"frame-step", 0, 0, G_OPTION_ARG_INT, &o->frame_step,
        "videos and pipelines: keep every Nth frame (default 1)", "N"},
    {"max-frames", 0, 0, G_OPTION_ARG_INT, &o->max_frames,
        "keep at most N frames of each video or pipeline, the first N "
        "files of each folder (default all; required for live sources)",
        "N"},
    {"seed", 0, 0, G_OPTION_ARG_INT64, &o->seed,
        "random seed (default 1): same seed, data and threads = same model",
        "N"},
    {"threads", 0, 0, G_OPTION_ARG_INT, &o->threads,
        "compute threads (default: one per core)", "N"},
    {"checkpoint-every", 0, 0, G_OPTION_ARG_INT, &o->checkpoint_every,
        "steps between checkpoints to MODEL.ckpt (default 500)", "N"},
    {"val-every", 0, 0, G_OPTION_ARG_INT, &o->val_every,
        "steps between validations (default 500)", "N"},
    {"log-every", 0, 0, G_OPTION_ARG_INT, &o->log_every,
        "steps between progress lines when not on a terminal (default 100)",
        "N"},
    {"resume", 0, 0, G_OPTION_ARG_FILENAME, resume,
          "continue the run saved in this checkpoint (other options then "
          "only override --steps, --threads and the intervals)", "CKPT"},
    {"list-presets", 0, 0, G_OPTION_ARG_NONE, &o->list_presets,
        "print the architecture presets and exit", NULL},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- train a gst-autoencoder "
      "model");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_set_description (ctx,
      "Examples:\n"
      "  ae-train --task denoise --data photos/ -o denoise.safetensors\n"
      "  ae-train --task superres --scale 2 --preset sr-espcn --data photos/ "
      "-o sr.safetensors\n"
      "  ae-train --task anomaly --data camera.mkv --frame-step 5 "
      "-o scene.safetensors\n"
      "  ae-train --task anomaly --data 'v4l2src ! videoconvert' "
      "--max-frames 2000 -o scene.safetensors\n"
      "  ae-train --init models/denoise-luma-fast.safetensors --data photos/ "
      "--steps 5000 --lr 2e-4 -o mine.safetensors\n"
      "  ae-train --resume denoise.safetensors.ckpt --steps 40000\n");
  return ctx;
}

static void
set_defaults (Options *o)
{
  o->steps = 20000;
  o->batch = 16;
  o->patch = 64;
  o->lr = 1e-3;
  o->warmup = -1;
  o->clip = 1.0;
  o->poisson = 0.2;
  o->kl_weight = 1e-3;
  o->val = G_MININT;             /* unset: 5% */
  o->frame_step = 1;
  o->seed = 1;
  o->checkpoint_every = 500;
  o->val_every = 500;
  o->log_every = 100;
}

/* The options a resume may override start unset, so that one given with
 * its default value still counts as given. */
#define UNSET G_MININT
#define N_OVERRIDABLE 5

static void
overridable (Options *o, int *fields[N_OVERRIDABLE])
{
  fields[0] = &o->steps;
  fields[1] = &o->threads;
  fields[2] = &o->checkpoint_every;
  fields[3] = &o->val_every;
  fields[4] = &o->log_every;
}

/* The first option of @argv that a resume may not take, or NULL: a resumed
 * run keeps the options it started with. */
static const char *
not_overridable (char **argv)
{
  static const char *const ok[] = { "--resume", "--steps", "--threads",
    "--checkpoint-every", "--val-every", "--log-every", NULL
  };
  for (char **a = argv + 1; *a; a++) {
    g_autofree char *name = g_strndup (*a, strcspn (*a, "="));
    if ((*a)[0] == '-' && !g_strv_contains (ok, name))
      return *a;
  }
  return NULL;
}

static void
unset_overridable (Options *o)
{
  int *f[N_OVERRIDABLE];
  overridable (o, f);
  for (int i = 0; i < N_OVERRIDABLE; i++)
    *f[i] = UNSET;
}

/* dst takes the overridable options that src sets */
static void
take_given (Options *dst, Options *src)
{
  int *d[N_OVERRIDABLE], *s[N_OVERRIDABLE];
  overridable (dst, d);
  overridable (src, s);
  for (int i = 0; i < N_OVERRIDABLE; i++)
    if (*s[i] != UNSET)
      *d[i] = *s[i];
}

static void
fail (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static void
fail (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_printerr ("ae-train: %s\n", msg);
}

static gboolean
parse_range (const char *s, const char *what, double lo, double hi,
    double *a, double *b)
{
  char *end;
  *a = g_ascii_strtod (s, &end);
  if (*end == ',')
    *b = g_ascii_strtod (end + 1, &end);
  else
    *b = *a;
  if (*end || *a < lo || *b > hi || *a > *b) {
    fail ("--%s '%s': expected MIN,MAX with %g <= MIN <= MAX <= %g", what,
        s, lo, hi);
    return FALSE;
  }
  return TRUE;
}

/* Everything the run needs, derived from the options. */
typedef struct {
  AeTask task;
  AeColor color;
  AeLoss loss;
  char *graph_json;
  char *preset;
  AeModel *init;                /* --init's model, or NULL */
  AeBatchParams bp;
} Setup;

static char *
read_graph_file (const char *path)
{
  g_autoptr (GError) error = NULL;
  char *text;
  if (!g_file_get_contents (path, &text, NULL, &error)) {
    fail ("--graph: %s", error->message);
    return NULL;
  }
  return text;
}

/* @graph_json (a validated graph document) with its records replaced: what
 * a run measured ("training") and an anomaly model's calibration, each
 * removed where NULL. */
static char *
graph_with_records (const char *graph_json, JsonNode *training,
    const char *anomaly_json)
{
  g_autoptr (JsonParser) p = json_parser_new ();
  json_parser_load_from_data (p, graph_json, -1, NULL);
  JsonObject *root = json_node_get_object (json_parser_get_root (p));
  if (training)
    json_object_set_member (root, "training", json_node_copy (training));
  else
    json_object_remove_member (root, "training");
  if (anomaly_json) {
    g_autoptr (JsonParser) a = json_parser_new ();
    json_parser_load_from_data (a, anomaly_json, -1, NULL);
    json_object_set_member (root, "anomaly",
        json_node_copy (json_parser_get_root (a)));
  } else {
    json_object_remove_member (root, "anomaly");
  }
  return ae_json_to_string (json_parser_get_root (p), FALSE);
}

/* --init: the run takes a model's network and starts from its weights;
 * the task, colour and scale are the model's (any given must match). */
static gboolean
load_init (Options *o, Setup *s)
{
  g_autoptr (GError) error = NULL;

  if (o->graph || o->preset) {
    fail ("--init takes the network from %s: give no --preset or --graph",
        o->init);
    return FALSE;
  }
  g_autofree char *path = ae_model_path_resolve (o->init, &error);
  if (!path || !(s->init = ae_model_load (path, &error))) {
    fail ("--init: %s", error->message);
    return FALSE;
  }
  const AeGraph *g = ae_model_get_graph (s->init);
  const char *task = ae_task_name (ae_graph_get_task (g));
  const char *color = ae_color_name (ae_graph_get_color (g));
  int scale = ae_graph_get_scale (g);
  if ((o->task && g_strcmp0 (o->task, task))
      || (o->color && g_strcmp0 (o->color, color))
      || (o->scale && g_str_equal (task, "superres") && o->scale != scale)) {
    fail ("--init: %s is a %s %s model (scale %d); leave out --task, "
        "--color and --scale or give ones that match it", o->init, color,
        task, scale);
    return FALSE;
  }
  g_free (o->task);
  o->task = g_strdup (task);
  g_free (o->color);
  o->color = g_strdup (color);
  o->scale = scale;

  /* the preset it was trained as, for this run's record */
  g_autoptr (JsonParser) p = json_parser_new ();
  json_parser_load_from_data (p, ae_graph_get_json (g), -1, NULL);
  JsonObject *root = json_node_get_object (json_parser_get_root (p));
  JsonNode *rn = json_object_get_member (root, "training");
  JsonObject *record = rn && JSON_NODE_HOLDS_OBJECT (rn) ?
      json_node_get_object (rn) : NULL;
  JsonNode *pn = record ? json_object_get_member (record, "preset") : NULL;
  if (pn && JSON_NODE_HOLDS_VALUE (pn)
      && json_node_get_value_type (pn) == G_TYPE_STRING)
    s->preset = g_strdup (json_node_get_string (pn));
  else
    s->preset = g_path_get_basename (o->init);
  /* the network alone: this run writes its own record and calibration */
  s->graph_json = graph_with_records (ae_graph_get_json (g), NULL, NULL);
  return TRUE;
}

static gboolean
setup_from_options (Options *o, Setup *s)
{
  static const char *const tasks[] = { "denoise", "superres", "anomaly" };
  gboolean found = FALSE;

  if (o->init && !load_init (o, s))
    return FALSE;
  if (!o->scale)
    o->scale = 2;

  for (guint i = 0; i < G_N_ELEMENTS (tasks); i++)
    if (g_strcmp0 (o->task, tasks[i]) == 0) {
      s->task = i;
      found = TRUE;
    }
  if (!found) {
    fail ("--task must be denoise, superres or anomaly%s",
        o->task ? "" : " (it is required)");
    return FALSE;
  }
  if (!o->data || !o->data[0]) {
    fail ("no training data: give --data SOURCE (a folder, a media file or "
        "a pipeline)");
    return FALSE;
  }
  if (!o->output) {
    fail ("no output: give -o MODEL.safetensors");
    return FALSE;
  }
  if (!o->color || g_str_equal (o->color, "luma"))
    s->color = AE_COLOR_LUMA;
  else if (g_str_equal (o->color, "rgb"))
    s->color = AE_COLOR_RGB;
  else {
    fail ("--color must be luma or rgb, not '%s'", o->color);
    return FALSE;
  }
  if (!ae_loss_from_string (o->loss ? o->loss : "mse", &s->loss)) {
    fail ("--loss must be mse, l1 or charbonnier, not '%s'", o->loss);
    return FALSE;
  }
  if (s->task == AE_TASK_SUPERRES && (o->scale < 2 || o->scale > 4)) {
    fail ("--scale must be 2, 3 or 4");
    return FALSE;
  }
  if (o->steps < 1 || o->batch < 1 || o->patch < 8 || o->patch > 1024
      || o->lr <= 0 || o->clip < 0 || o->weight_decay < 0
      || o->poisson < 0 || o->poisson > 1 || o->clean < 0 || o->clean > 1
      || o->frame_step < 1
      || o->max_frames < 0 || o->checkpoint_every < 1 || o->val_every < 1
      || o->log_every < 1 || o->kl_weight < 0
      || (o->val != G_MININT && o->val < 0)) {
    fail ("an option is out of range: --steps, --batch >= 1; --patch "
        "8..1024; --lr > 0; --clip, --weight-decay, --kl-weight, --val "
        ">= 0; --poisson, --clean 0..1; --frame-step, intervals >= 1");
    return FALSE;
  }
  if (o->graph && o->preset) {
    fail ("give --preset or --graph, not both");
    return FALSE;
  }

  const AePreset *preset = NULL;
  if (o->graph) {
    if (!(s->graph_json = read_graph_file (o->graph)))
      return FALSE;
    s->preset = g_path_get_basename (o->graph);
  } else if (!s->init) {
    preset = o->preset ? ae_preset_find (o->preset)
        : ae_preset_default (s->task);
    if (!preset) {
      fail ("unknown preset '%s' (ae-train --list-presets)", o->preset);
      return FALSE;
    }
    if (preset->task != s->task) {
      fail ("preset '%s' is for %s, not %s", preset->name,
          ae_task_name (preset->task), ae_task_name (s->task));
      return FALSE;
    }
    s->graph_json = preset->build (s->color,
        s->task == AE_TASK_SUPERRES ? o->scale : 1);
    s->preset = g_strdup (preset->name);
  }

  AeBatchParams *bp = &s->bp;
  bp->task = s->task;
  bp->channels = s->color == AE_COLOR_RGB ? 3 : 1;
  bp->patch = o->patch;
  bp->scale = s->task == AE_TASK_SUPERRES ? o->scale : 1;
  bp->batch = o->batch;
  bp->augment = !o->no_augment;
  bp->seed = o->seed;
  bp->poisson_prob = o->poisson;
  bp->clean_prob = o->clean;
  if (s->task == AE_TASK_DENOISE) {
    if (!parse_range (o->sigma ? o->sigma : "0,55", "sigma", 0, 255,
            &bp->sigma_min, &bp->sigma_max))
      return FALSE;
    if (o->jpeg) {
      double a, b;
      if (!parse_range (o->jpeg, "jpeg", 1, 100, &a, &b))
        return FALSE;
      bp->jpeg_min = a;
      bp->jpeg_max = b;
    }
  }
  return TRUE;
}

/* @dst and @src have the same network. */
static void
copy_weights (AeModel *dst, const AeModel *src)
{
  const AeGraph *g = ae_model_get_graph (src);
  for (int i = 0; i < ae_graph_get_n_nodes (g); i++) {
    const AeNode *nd = ae_graph_get_node (g, i);
    if (!ae_node_is_conv (nd))
      continue;
    memcpy (ae_model_get_weight (dst, i), ae_model_get_weight (src, i),
        sizeof (float) * ae_node_weight_size (nd));
    if (nd->p.conv.has_bias)
      memcpy (ae_model_get_bias (dst, i), ae_model_get_bias (src, i),
          sizeof (float) * nd->channels);
  }
}

static AeModel *
model_with_graph (AeModel *m, const char *json, GError **error)
{
  AeModel *out = ae_model_new (json, error);
  if (out)
    copy_weights (out, m);
  return out;
}

/* The colours the images of @ds (RGB) show into @out; FALSE if they are all
 * grey. */
static gboolean
scene_colours (const AeDataset *ds, AeColours *out)
{
  g_autoptr (AeColourCounter) counter = ae_colour_counter_new ();

  for (int i = 0; i < ae_dataset_get_size (ds); i++) {
    const AeImage *im = ae_dataset_get (ds, i);
    ae_colour_counter_add (counter, im->data, im->stride, im->width,
        im->height, 3);
  }
  return ae_colour_counter_finish (counter, out);
}

/* Runs the trained model over the held-back frames (whole, through the
 * engine and the scorer the element uses) and calibrates the anomaly score
 * on them. */
static char *
calibrate (AeModel *m, AeDataset *val, const AeColours *colours, int threads,
    GError **error)
{
  AeEngineParams ep = { "cpu", threads };
  g_autoptr (AeEngine) e = ae_engine_new (&ep, error);
  if (!e)
    return NULL;
  int n = ae_dataset_get_size (val);
  g_autofree AeAnomalyFeatures *f = g_new0 (AeAnomalyFeatures, n);
  g_autoptr (AeAnomalyScorer) scorer = ae_anomaly_scorer_new ();
  ae_anomaly_scorer_set_colours (scorer, colours);

  for (int i = 0; i < n; i++) {
    const AeImage *im = ae_dataset_get (val, i);
    AePlanParams pp = { im->width, im->height, 0 };
    g_autoptr (AePlan) plan = ae_plan_new (e, m, &pp, error);
    AeFrame frame = { 0 };
    frame.format = im->channels == 3 ? AE_FRAME_RGB : AE_FRAME_GRAY8;
    frame.width = im->width;
    frame.height = im->height;
    frame.data = im->data;
    frame.stride = im->stride;
    frame.matrix = im->matrix;
    if (!plan || !ae_anomaly_scorer_measure (scorer, plan, &frame, &f[i],
            NULL, 0, 0, error))
      return NULL;
  }
  AeAnomalyCalibration cal;
  if (!ae_anomaly_calibrate (f, n, colours, &cal, error))
    return NULL;
  return ae_anomaly_calibration_to_json (&cal);
}

typedef struct {
  float *in, *target, *out;
  int n_batches;
  double baseline_psnr;         /* input against target, same size only */
} ValSet;

static double
psnr_of (double mse)
{
  return mse > 0 ? 10 * log10 (1 / mse) : 99;
}

static double
validate (AeTrainer *t, const ValSet *v, int batch)
{
  gsize in_n = ae_trainer_get_input_size (t) * batch;
  gsize out_n = ae_trainer_get_output_size (t) * batch;
  double se = 0;
  for (int b = 0; b < v->n_batches; b++) {
    const float *tg = v->target + b * out_n;
    ae_trainer_forward (t, v->in + b * in_n, v->out, batch);
    for (gsize i = 0; i < out_n; i++) {
      /* as the 8-bit frame will hold it */
      float o = CLAMP (v->out[i], 0.0f, 1.0f);
      double d = roundf (o * 255) / 255 - tg[i];
      se += d * d;
    }
  }
  return psnr_of (se / (out_n * v->n_batches));
}

static char *
format_duration (double s)
{
  if (!isfinite (s) || s < 0)
    return g_strdup ("?");
  int t = (int) (s + 0.5);
  if (t >= 3600)
    return g_strdup_printf ("%dh%02dm", t / 3600, t / 60 % 60);
  return g_strdup_printf ("%dm%02ds", t / 60, t % 60);
}

static char *
state_json (char **argv, gint64 step, double elapsed, double val_psnr)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "argv");
  json_builder_begin_array (b);
  for (char **a = argv; *a; a++)
    json_builder_add_string_value (b, *a);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "step");
  json_builder_add_int_value (b, step);
  json_builder_set_member_name (b, "elapsed");
  json_builder_add_double_value (b, elapsed);
  json_builder_set_member_name (b, "val_psnr");
  json_builder_add_double_value (b, val_psnr);
  /* the run's relative paths (data, output) are relative to it */
  g_autofree char *cwd = g_get_current_dir ();
  json_builder_set_member_name (b, "cwd");
  json_builder_add_string_value (b, cwd);
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return ae_json_to_string (root, FALSE);
}

/* The run's own arguments, without --resume and its value, for the
 * checkpoint (re-parsed on resume). */
static char **
run_arguments (int argc, char **argv)
{
  GPtrArray *a = g_ptr_array_new ();
  for (int i = 1; i < argc; i++) {
    if (g_str_equal (argv[i], "--resume")) {
      i++;
      continue;
    }
    if (g_str_has_prefix (argv[i], "--resume="))
      continue;
    g_ptr_array_add (a, g_strdup (argv[i]));
  }
  g_ptr_array_add (a, NULL);
  return (char **) g_ptr_array_free (a, FALSE);
}

typedef struct {
  gint64 step;
  double elapsed, val_psnr;
  char **argv;
  char *cwd;                    /* NULL in checkpoints of older builds */
} Resumed;

static gboolean
read_state (const char *json, Resumed *r, GError **error)
{
  g_autoptr (JsonParser) p = ae_json_parse_object (json, -1, NULL,
      "the checkpoint's run state", error);
  if (!p)
    return FALSE;
  JsonObject *o = json_node_get_object (json_parser_get_root (p));
  JsonNode *an = json_object_get_member (o, "argv");
  JsonNode *sn = json_object_get_member (o, "step");
  JsonArray *args = an && JSON_NODE_HOLDS_ARRAY (an) ?
      json_node_get_array (an) : NULL;
  gboolean strings = args != NULL;
  for (guint i = 0; strings && i < json_array_get_length (args); i++) {
    JsonNode *e = json_array_get_element (args, i);
    strings = JSON_NODE_HOLDS_VALUE (e)
        && json_node_get_value_type (e) == G_TYPE_STRING;
  }
  if (!strings || !sn || !JSON_NODE_HOLDS_VALUE (sn)
      || json_node_get_value_type (sn) != G_TYPE_INT64
      || json_node_get_int (sn) < 0 || json_node_get_int (sn) > G_MAXINT) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "its 'ae.train' state lacks argv (a list of strings) or step (a "
        "count from 0)");
    return FALSE;
  }
  r->step = json_node_get_int (sn);
  r->elapsed = json_object_get_double_member_with_default (o, "elapsed", 0);
  r->val_psnr = json_object_get_double_member_with_default (o, "val_psnr",
      0);
  r->cwd = g_strdup (json_object_get_string_member_with_default (o, "cwd",
          NULL));
  r->argv = g_new0 (char *, json_array_get_length (args) + 2);
  r->argv[0] = g_strdup ("ae-train");
  for (guint i = 0; i < json_array_get_length (args); i++)
    r->argv[i + 1] = g_strdup (json_array_get_string_element (args, i));
  return TRUE;
}

static int
list_presets (void)
{
  printf ("%-14s %-9s %-12s %s\n", "preset", "task", "kFLOP/px", "");
  for (const AePreset *p = ae_presets; p->name; p++) {
    g_autofree char *json = p->build (AE_COLOR_LUMA,
        p->task == AE_TASK_SUPERRES ? 2 : 1);
    g_autoptr (AeGraph) g = ae_graph_new_from_json (json, p->name, NULL);
    double f = g ? ae_graph_get_flops_per_pixel (g) : 0;
    if (p->task == AE_TASK_SUPERRES)
      f /= 4;                   /* per output pixel */
    printf ("%-14s %-9s %-12.1f %s\n", p->name, ae_task_name (p->task),
        f / 1000, p->summary);
  }
  printf ("\nFLOPs for luma, per output pixel (superres at x2).\n");
  return 0;
}

/* Blind denoising over a sigma range: a plain mean squared error is ruled
 * by the noisiest patches, and a small network learns to smooth everything
 * alike (it lost 3 dB on sigma 5 inputs: measured). Each patch's weight is
 * 1/(sigma² + 25) of its measured noise (8-bit levels), normalised to mean
 * 1: every noise level counts about as much in PSNR terms. */
static void
noise_weights (const float *in, const float *target, int batch, gsize n,
    float *w)
{
  double sum = 0;
  for (int b = 0; b < batch; b++) {
    double se = 0;
    for (gsize i = 0; i < n; i++) {
      double d = (in[b * n + i] - target[b * n + i]) * 255.0;
      se += d * d;
    }
    w[b] = 1 / (se / n + 25);
    sum += w[b];
  }
  for (int b = 0; b < batch; b++)
    w[b] *= batch / sum;
}

/* The run itself, once the options are checked. */
static int
train (Options *o, Setup *s, AeCheckpoint *ckpt, Resumed *res,
    char **run_args)
{
  g_autoptr (GError) error = NULL;

  gst_init (NULL, NULL);

  /* the network */
  const char *graph_json = ckpt ? ae_checkpoint_get_graph (ckpt) :
      s->graph_json;
  g_autoptr (AeModel) model = ae_model_new (graph_json, &error);
  if (!model) {
    fail ("%s", error->message);
    return 1;
  }
  const AeGraph *graph = ae_model_get_graph (model);
  if (ae_graph_get_task (graph) != s->task
      || ae_graph_get_color (graph) != s->color
      || (s->task == AE_TASK_SUPERRES && ae_graph_get_scale (graph) != o->scale)) {
    fail ("the graph is a %s %s model (scale %d); the options ask for %s %s "
        "(scale %d)", ae_color_name (ae_graph_get_color (graph)),
        ae_task_name (ae_graph_get_task (graph)), ae_graph_get_scale (graph),
        ae_color_name (s->color), ae_task_name (s->task), s->bp.scale);
    return 1;
  }
  int stride = ae_graph_get_stride (graph);
  int in_side = o->patch / s->bp.scale;
  if (o->patch % s->bp.scale || in_side % stride) {
    fail ("--patch %d does not suit this network: the input patch side "
        "(patch / scale = %d) must be a multiple of its stride %d",
        o->patch, in_side, stride);
    return 1;
  }

  /* the data; an anomaly model's in colour whatever the model's, for the
   * scene's colours */
  gboolean anomaly = s->task == AE_TASK_ANOMALY;
  g_autoptr (AeDataset) data = ae_dataset_new (anomaly ? 3 : s->bp.channels);
  for (char **src = o->data; *src; src++) {
    if (!ae_dataset_add (data, *src, o->frame_step, o->max_frames, &error)) {
      fail ("%s", error->message);
      return 1;
    }
  }
  int total = ae_dataset_get_size (data);
  int n_val = o->val >= 0 ? o->val : CLAMP (total / 20, 2, 50);
  if (s->task == AE_TASK_ANOMALY && n_val < 2) {
    fail ("anomaly models calibrate on held-back frames: --val must be at "
        "least 2");
    return 1;
  }
  if (n_val >= total) {
    fail ("%d images in all: too few to hold %d back for validation (use "
        "more data or a smaller --val)", total, n_val);
    return 1;
  }
  g_autoptr (AeDataset) val = n_val > 0 ?
      ae_dataset_split (data, n_val, &error) : NULL;
  if (n_val > 0 && !val) {
    fail ("%s", error->message);
    return 1;
  }
  /* the colours of the training frames (none if they are grey); the
   * held-back frames stay in colour for the calibration */
  AeColours colours;
  gboolean has_colours = anomaly && scene_colours (data, &colours);
  g_autoptr (AeDataset) calib = NULL;
  if (anomaly && s->bp.channels == 1) {
    AeDataset *luma = ae_dataset_to_luma (data);
    ae_dataset_free (data);
    data = luma;
    calib = g_steal_pointer (&val);
    val = ae_dataset_to_luma (calib);
  }

  g_autoptr (AeBatcher) batcher = ae_batcher_new (data, &s->bp,
      ckpt ? res->step : 0, &error);
  if (!batcher) {
    fail ("%s", error->message);
    return 1;
  }

  /* the trainer */
  AeTrainerParams tp = { o->batch, in_side, in_side, o->threads, s->loss,
    o->variational, o->kl_weight, (guint64) o->seed
  };
  g_autoptr (AeTrainer) trainer = ae_trainer_new (model, &tp, &error);
  if (!trainer) {
    fail ("%s", error->message);
    return 1;
  }
  ae_trainer_init_weights (trainer, o->seed);
  if (s->init)
    copy_weights (model, s->init);
  int n_params;
  const AeParam *params = ae_trainer_get_params (trainer, &n_params);
  g_autoptr (AeAdam) adam = ae_adam_new (params, n_params);
  if (ckpt && !ae_checkpoint_restore (ckpt, params, n_params, adam,
          res->step, &error)) {
    fail ("cannot resume: %s", error->message);
    return 1;
  }

  /* a fixed validation set */
  ValSet vs = { 0 };
  g_autofree float *vs_in = NULL, *vs_target = NULL, *vs_out = NULL;
  g_autoptr (AeBatcher) vb = NULL;
  gsize in_n = ae_trainer_get_input_size (trainer) * o->batch;
  gsize out_n = ae_trainer_get_output_size (trainer) * o->batch;
  if (val) {
    AeBatchParams vp = s->bp;
    vp.seed = o->seed + 1000003;
    vp.threads = 1;
    if (!(vb = ae_batcher_new (val, &vp, 0, &error))) {
      fail ("validation images: %s", error->message);
      return 1;
    }
    vs.n_batches = N_VAL_BATCHES;
    vs.in = vs_in = g_new (float, in_n * vs.n_batches);
    vs.target = vs_target = g_new (float, out_n * vs.n_batches);
    vs.out = vs_out = g_new (float, out_n);
    for (int b = 0; b < vs.n_batches; b++)
      ae_batcher_make (vb, b, vs.in + b * in_n, vs.target + b * out_n);
    if (s->task == AE_TASK_DENOISE) {
      double se = 0;
      for (gsize i = 0; i < out_n * vs.n_batches; i++) {
        double d = vs.in[i] - vs.target[i];
        se += d * d;
      }
      vs.baseline_psnr = psnr_of (se / (out_n * vs.n_batches));
    }
  }

  g_autofree char *ckpt_path = g_strconcat (o->output, ".ckpt", NULL);
  double fpp = ae_graph_get_flops_per_pixel (graph);
  gint64 n_weights = ae_graph_get_n_params (graph);
  g_autofree char *resumed_at = ckpt ?
      g_strdup_printf ("%" G_GINT64_FORMAT, res->step) : g_strdup ("");
  g_print ("ae-train: %s %s, preset %s%s%s: %.1f kFLOP/input pixel, %"
      G_GINT64_FORMAT " parameters\n", ae_color_name (s->color),
      ae_task_name (s->task), s->preset, o->init ? ", from " : "",
      o->init ? o->init : "", fpp / 1000, n_weights);
  int threads = o->threads > 0 ? o->threads : (int) g_get_num_processors ();
  g_print ("ae-train: %d images (%d held back), batch %d of %dpx patches, "
      "%d steps, %d thread%s%s%s\n", total, n_val, o->batch, o->patch,
      o->steps, threads, threads == 1 ? "" : "s",
      ckpt ? ", resuming at step " : "", resumed_at);

  struct sigaction sa = { 0 };
  sa.sa_handler = on_sigint;
  sigaction (SIGINT, &sa, NULL);
  sigaction (SIGTERM, &sa, NULL);

  gboolean tty = isatty (STDOUT_FILENO);
  g_autofree float *in = g_new (float, in_n);
  g_autofree float *target = g_new (float, out_n);
  g_autofree float *weights = g_new (float, o->batch);
  int warmup = o->warmup >= 0 ? o->warmup : MAX (o->steps / 50, 1);
  AeAdamParams ap = { 0, 0.9, 0.999, 1e-8, o->weight_decay };
  gint64 step = ckpt ? res->step : 0;
  double elapsed0 = ckpt ? res->elapsed : 0, val_psnr = res->val_psnr;
  double loss_avg = NAN;
  gint64 t0 = g_get_monotonic_time (), since = step;
  gint64 t_rate = t0;

  for (; step < o->steps && !interrupted; step++) {
    ae_batcher_next (batcher, in, target);
    if (s->task == AE_TASK_DENOISE && !o->uniform_loss) {
      noise_weights (in, target, o->batch, in_n / o->batch, weights);
      ae_trainer_set_sample_weights (trainer, weights);
    }
    ap.lr = ae_lr_schedule (step, o->steps, warmup, o->lr, 0.01);
    double loss = ae_trainer_compute_gradients (trainer, in, target, step);
    if (!isfinite (loss)) {
      fail ("the loss became %g at step %" G_GINT64_FORMAT "; start again "
          "with a lower --lr (now %g) or a longer --warmup", loss, step,
          o->lr);
      return 1;
    }
    ae_clip_grad_norm (params, n_params, o->clip);
    ae_adam_step (adam, &ap);
    loss_avg = isnan (loss_avg) ? loss : 0.98 * loss_avg + 0.02 * loss;

    gint64 done = step + 1;
    if (val && (done % o->val_every == 0 || done == o->steps))
      val_psnr = validate (trainer, &vs, o->batch);
    double elapsed = (g_get_monotonic_time () - t0) * 1e-6;
    if (done % o->checkpoint_every == 0 && done < o->steps) {
      g_autofree char *st = state_json (run_args, done, elapsed0 + elapsed,
          val_psnr);
      if (!ae_checkpoint_save (ckpt_path, graph_json, st, params, n_params,
              adam, &error)) {
        fail ("cannot write the checkpoint: %s", error->message);
        return 1;
      }
    }
    if (tty || done % o->log_every == 0 || done == o->steps) {
      double rate = (done - since) * o->batch
          / MAX ((g_get_monotonic_time () - t_rate) * 1e-6, 1e-9);
      g_autofree char *eta = format_duration ((o->steps - done) * o->batch
          / rate);
      g_autofree char *vtxt = val_psnr > 0 ? (vs.baseline_psnr > 0 ?
          g_strdup_printf ("val %.2f dB (input %.2f)", val_psnr,
              vs.baseline_psnr) : g_strdup_printf ("val %.2f dB", val_psnr))
          : g_strdup ("val -");
      printf ("%sstep %" G_GINT64_FORMAT "/%d  loss %.3g  %s  lr %.2g  "
          "%.1f samples/s  ETA %s%s", tty ? "\r\033[K" : "", done, o->steps,
          loss_avg, vtxt, ap.lr, rate, eta, tty ? "" : "\n");
      fflush (stdout);
      if (done - since >= 200) {
        since = done;
        t_rate = g_get_monotonic_time ();
      }
    }
  }
  if (tty)
    printf ("\n");
  double elapsed = elapsed0 + (g_get_monotonic_time () - t0) * 1e-6;

  if (interrupted) {
    g_autofree char *st = state_json (run_args, step, elapsed, val_psnr);
    if (!ae_checkpoint_save (ckpt_path, graph_json, st, params, n_params,
            adam, &error)) {
      fail ("interrupted, and the checkpoint could not be written: %s",
          error->message);
      return 1;
    }
    g_printerr ("ae-train: interrupted at step %" G_GINT64_FORMAT "; saved "
        "%s\nae-train: continue with: ae-train --resume %s\n", step,
        ckpt_path, ckpt_path);
    return EXIT_INTERRUPTED;
  }

  /* the model file */
  g_autoptr (JsonBuilder) tb = json_builder_new ();
  json_builder_begin_object (tb);
  json_builder_set_member_name (tb, "preset");
  json_builder_add_string_value (tb, s->preset);
  if (o->init) {
    g_autofree char *base = g_path_get_basename (o->init);
    json_builder_set_member_name (tb, "init");
    json_builder_add_string_value (tb, base);
  }
  json_builder_set_member_name (tb, "data");
  json_builder_begin_array (tb);
  for (char **src = o->data; *src; src++) {
    g_autofree char *base = g_path_get_basename (*src);
    json_builder_add_string_value (tb, strchr (*src, '!') ? *src : base);
  }
  json_builder_end_array (tb);
  json_builder_set_member_name (tb, "images");
  json_builder_add_int_value (tb, total);
  json_builder_set_member_name (tb, "steps");
  json_builder_add_int_value (tb, o->steps);
  json_builder_set_member_name (tb, "batch");
  json_builder_add_int_value (tb, o->batch);
  json_builder_set_member_name (tb, "patch");
  json_builder_add_int_value (tb, o->patch);
  json_builder_set_member_name (tb, "loss");
  json_builder_add_string_value (tb, ae_loss_name (s->loss));
  if (s->task == AE_TASK_DENOISE) {
    json_builder_set_member_name (tb, "sigma");
    json_builder_begin_array (tb);
    json_builder_add_double_value (tb, s->bp.sigma_min);
    json_builder_add_double_value (tb, s->bp.sigma_max);
    json_builder_end_array (tb);
  }
  json_builder_set_member_name (tb, "seed");
  json_builder_add_int_value (tb, o->seed);
  if (val_psnr > 0) {          /* 0: nothing was held back (--val 0) */
    json_builder_set_member_name (tb, "val_psnr");
    json_builder_add_double_value (tb, round (val_psnr * 100) / 100);
  }
  json_builder_set_member_name (tb, "seconds");
  json_builder_add_int_value (tb, (gint64) elapsed);
  json_builder_end_object (tb);
  g_autoptr (JsonNode) training = json_builder_get_root (tb);

  g_autofree char *calibration = NULL;
  const char *failed = NULL;
  if (anomaly && !(calibration = calibrate (model, calib ? calib : val,
              has_colours ? &colours : NULL, o->threads, &error))) {
    failed = "calibration failed";
  } else {
    g_autofree char *final_json = graph_with_records (graph_json, training,
        calibration);
    g_autoptr (AeModel) final = model_with_graph (model, final_json, &error);
    if (!final || !ae_model_save (final, o->output, AE_DTYPE_F32, &error))
      failed = "cannot write the model";
  }
  if (failed) {
    /* the trained weights are kept: resuming at the last step retries */
    g_autoptr (GError) ckpt_error = NULL;
    g_autofree char *st = state_json (run_args, step, elapsed, val_psnr);
    if (ae_checkpoint_save (ckpt_path, graph_json, st, params, n_params,
            adam, &ckpt_error))
      fail ("%s: %s; the trained weights are in %s (ae-train --resume %s "
          "retries)", failed, error->message, ckpt_path, ckpt_path);
    else
      fail ("%s: %s; nor could the checkpoint be written: %s", failed,
          error->message, ckpt_error->message);
    return 1;
  }
  g_autofree char *dur = format_duration (elapsed);
  g_autofree char *val_text = val_psnr > 0 ?
      g_strdup_printf ("validation PSNR %.2f dB", val_psnr) :
      g_strdup ("no validation images");
  g_print ("ae-train: wrote %s (%s of training, %s)\n", o->output, dur,
      val_text);
  return 0;

}

int
main (int argc, char **argv)
{
  Options o = { 0 };
  g_autofree char *resume = NULL;
  g_auto (GStrv) run_args = NULL;
  Resumed res = { 0 };
  g_autoptr (GError) error = NULL;
  Setup s = { 0 };

  setlocale (LC_ALL, "");
  /* progress lines reach a log file (tail -f) as they are printed */
  setvbuf (stdout, NULL, _IOLBF, 0);
  g_set_prgname ("ae-train");
  set_defaults (&o);
  unset_overridable (&o);
  /* parsing consumes argv; the checkpoint keeps the run's own arguments */
  g_auto (GStrv) original = g_strdupv (argv);
  int original_argc = argc;
  {
    GOptionContext *ctx = make_context (&o, &resume);
    gboolean ok = g_option_context_parse (ctx, &argc, &argv, &error);
    g_option_context_free (ctx);
    if (!ok) {
      fail ("%s (ae-train --help)", error->message);
      return EXIT_USAGE;
    }
  }
  if (o.list_presets)
    return list_presets ();
  if (argc > 1) {
    fail ("unexpected argument '%s' (ae-train --help)", argv[1]);
    return EXIT_USAGE;
  }

  g_autoptr (AeCheckpoint) ckpt = NULL;
  if (resume) {
    /* the checkpoint's own options, then this command line's overrides */
    Options cli = o;
    const char *extra = not_overridable (original);
    if (extra) {
      fail ("%s cannot be given with --resume: the run keeps the options it "
          "started with (--steps, --threads, --checkpoint-every, --val-every "
          "and --log-every may change)", extra);
      return EXIT_USAGE;
    }
    if (!(ckpt = ae_checkpoint_load (resume, &error))
        || !read_state (ae_checkpoint_get_state (ckpt), &res, &error)) {
      fail ("cannot resume from %s: %s", resume, error->message);
      return 1;
    }
    Options saved = { 0 };
    set_defaults (&saved);
    g_autofree char *unused = NULL;
    GOptionContext *ctx = make_context (&saved, &unused);
    /* parsing consumes its array; res.argv stays whole for later resumes */
    g_auto (GStrv) copy = g_strdupv (res.argv);
    gboolean ok = g_option_context_parse_strv (ctx, &copy, &error);
    g_option_context_free (ctx);
    if (!ok) {
      fail ("cannot resume from %s: its options: %s", resume,
          error->message);
      return 1;
    }
    take_given (&saved, &cli);
    options_free (&o);
    o = saved;
    if (res.step > o.steps) {
      fail ("%s is at step %" G_GINT64_FORMAT ", past --steps %d: give "
          "--steps %" G_GINT64_FORMAT " or more", resume, res.step, o.steps,
          res.step);
      return EXIT_USAGE;
    }
    /* where the run started: its relative --data and -o paths */
    g_autofree char *here = g_get_current_dir ();
    if (res.cwd && !g_str_equal (res.cwd, here)) {
      if (g_chdir (res.cwd) != 0) {
        int e = errno;
        fail ("cannot resume from %s: the run started in %s: %s", resume,
            res.cwd, g_strerror (e));
        return 1;
      }
      g_printerr ("ae-train: resuming in %s, where the run started\n",
          res.cwd);
    }
    run_args = g_strdupv (res.argv + 1);
    /* later resumes see the extended step count */
    for (char **a = run_args; *a; a++)
      if (g_str_equal (*a, "--steps") && a[1]) {
        g_free (a[1]);
        a[1] = g_strdup_printf ("%d", o.steps);
      }
    if (!g_strv_contains ((const char *const *) run_args, "--steps")) {
      char **more = g_new0 (char *, g_strv_length (run_args) + 3);
      int k = 0;
      for (char **a = run_args; *a; a++)
        more[k++] = g_strdup (*a);
      more[k++] = g_strdup ("--steps");
      more[k++] = g_strdup_printf ("%d", o.steps);
      g_strfreev (run_args);
      run_args = more;
    }
  } else {
    /* the defaults where the command line set none */
    Options def = { 0 };
    set_defaults (&def);
    take_given (&def, &o);
    take_given (&o, &def);
    run_args = run_arguments (original_argc, original);
  }

  int status = EXIT_USAGE;
  if (setup_from_options (&o, &s)) {
    status = train (&o, &s, ckpt, &res, run_args);
    /* joins GStreamer's pooled streaming threads: a thread still winding
     * down at exit can crash LeakSanitizer's tracer */
    gst_deinit ();
  }
  g_strfreev (res.argv);
  g_free (res.cwd);
  g_free (s.graph_json);
  g_free (s.preset);
  g_clear_pointer (&s.init, ae_model_unref);
  options_free (&o);
  return status;
}
