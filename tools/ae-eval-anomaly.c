/* ae-eval-anomaly.c: an anomaly model on a labelled clip (see the header). */
#include "ae-eval-anomaly.h"
#include "ae-anomaly.h"
#include "ae-engine.h"
#include "ae-json.h"
#include "ae-media.h"
#include "ae-table.h"
#include "ae-tool.h"

#include <gst/video/video.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int first, last;              /* clip frames */
  const char *label;
  int first_hit;                /* first frame above the threshold, or -1 */
  int peak;                     /* frame of the highest score */
} Event;

typedef struct {
  double score;
  AeAnomalyFeature dominant;
  gboolean below;
} FrameScore;

/* The clip's frame-level figures. */
typedef struct {
  double auc;                   /* < 0 without both normal and event frames */
  int n_frames, n_normal, false_alarms;
  int top_normal;               /* highest-scoring normal frame, or -1 */
} Summary;

/* Reads "frame,label" lines into @labels (one string per frame, frames 0,
 * 1, 2... in order). */
static gboolean
read_labels (const char *path, GPtrArray *labels, GError **error)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents (path, &text, NULL, error))
    return FALSE;

  /* a spreadsheet's UTF-8 byte-order mark */
  const char *start = g_str_has_prefix (text, "\xEF\xBB\xBF") ? text + 3 :
      text;
  g_auto (GStrv) lines = g_strsplit (start, "\n", -1);
  for (int i = 0; lines[i]; i++) {
    char *line = g_strstrip (lines[i]);
    if (!*line || *line == '#' || g_str_equal (line, "frame,label"))
      continue;
    char *comma = strchr (line, ',');
    char *end = NULL;
    gint64 frame = comma ? g_ascii_strtoll (line, &end, 10) : -1;
    const char *label = comma ? g_strstrip (comma + 1) : NULL;
    if (!comma || end != comma || !*label || strchr (label, ',')) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
          "%s:%d: expected \"frame,label\", got \"%s\"", path, i + 1, line);
      return FALSE;
    }
    if (frame != labels->len) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
          "%s:%d: frame %" G_GINT64_FORMAT " where frame %u was expected "
          "(one line per frame, in order from 0)", path, i + 1, frame,
          labels->len);
      return FALSE;
    }
    g_ptr_array_add (labels, g_strdup (label));
  }
  if (labels->len == 0) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
        "%s: no labelled frames", path);
    return FALSE;
  }
  return TRUE;
}

static gboolean
is_normal (const char *label)
{
  return g_str_equal (label, "normal");
}

/* Runs of consecutive frames with one non-normal label. */
static GArray *
find_events (GPtrArray *labels)
{
  GArray *events = g_array_new (FALSE, FALSE, sizeof (Event));
  for (guint i = 0; i < labels->len;) {
    const char *l = labels->pdata[i];
    guint j = i;
    while (j + 1 < labels->len && g_str_equal (labels->pdata[j + 1], l))
      j++;
    if (!is_normal (l)) {
      Event e = {.first = i,.last = j,.label = l };
      g_array_append_val (events, e);
    }
    i = j + 1;
  }
  return events;
}

static int
compare_score (const void *a, const void *b)
{
  double x = **(const double **) a, y = **(const double **) b;
  return (x > y) - (x < y);
}

/* Area under the ROC curve of @scores for the non-normal frames against
 * the normal ones (Mann-Whitney, ties count half); -1 if either is empty. */
static double
roc_auc (const FrameScore *fs, GPtrArray *labels)
{
  int n = labels->len;
  g_autofree double *s = g_new (double, n);
  g_autofree double **order = g_new (double *, n);
  double rank_sum = 0;
  int n_pos = 0;

  for (int i = 0; i < n; i++) {
    s[i] = fs[i].score;
    order[i] = &s[i];
  }
  qsort (order, n, sizeof (double *), compare_score);
  for (int i = 0; i < n;) {
    int j = i;
    while (j + 1 < n && *order[j + 1] == *order[i])
      j++;
    double rank = (i + j) / 2.0 + 1;
    for (int k = i; k <= j; k++)
      if (!is_normal (labels->pdata[order[k] - s])) {
        rank_sum += rank;
        n_pos++;
      }
    i = j + 1;
  }
  int n_neg = n - n_pos;
  if (!n_pos || !n_neg)
    return -1;
  return (rank_sum - n_pos * (n_pos + 1) / 2.0) / ((double) n_pos * n_neg);
}

/* Scores every frame of @clip into @scores (FrameScore). */
static gboolean
score_clip (AeModel *model, const AeAnomalyCalibration *cal,
    const char *clip, const char *device, int threads, GArray *scores,
    char **backend, GError **error)
{
  AeEngineParams ep = {.device = device,.threads = threads };
  g_autoptr (AeEngine) engine = ae_engine_new (&ep, error);
  if (!engine)
    return FALSE;
  *backend = g_strdup (ae_engine_get_backend_name (engine));
  g_autoptr (AeMediaReader) reader = ae_media_reader_new (clip, error);
  if (!reader)
    return FALSE;
  g_autoptr (AeAnomalyScorer) scorer = ae_anomaly_scorer_new ();
  if (cal->has_colours)
    ae_anomaly_scorer_set_colours (scorer, &cal->colours);
  g_autoptr (AePlan) plan = NULL;
  int plan_w = 0, plan_h = 0;
  GstSample *sample;

  while ((sample = ae_media_reader_pull (reader, error))) {
    GstVideoInfo info;
    GstVideoFrame vf;
    AeFrameFormat format;
    gboolean ok = FALSE;

    if (!gst_video_info_from_caps (&info, gst_sample_get_caps (sample))
        || !gst_video_frame_map (&vf, &info, gst_sample_get_buffer (sample),
            GST_MAP_READ)) {
      gst_sample_unref (sample);
      g_set_error (error, AE_MEDIA_ERROR, 0, "%s: cannot map a decoded "
          "frame", clip);
      return FALSE;
    }
    switch (GST_VIDEO_INFO_FORMAT (&info)) {
      case GST_VIDEO_FORMAT_GRAY8:
        format = AE_FRAME_GRAY8;
        break;
      case GST_VIDEO_FORMAT_RGBA:
        format = AE_FRAME_RGBA;
        break;
      default:
        format = AE_FRAME_RGBX;
        break;
    }
    AeFrame frame = {
      .format = format,
      .width = GST_VIDEO_FRAME_WIDTH (&vf),
      .height = GST_VIDEO_FRAME_HEIGHT (&vf),
      .data = GST_VIDEO_FRAME_PLANE_DATA (&vf, 0),
      .stride = GST_VIDEO_FRAME_PLANE_STRIDE (&vf, 0),
      .matrix = ae_media_reader_get_luma_matrix (reader, AE_MATRIX_BT601),
    };
    if (!plan || frame.width != plan_w || frame.height != plan_h) {
      AePlanParams pp = {.width = frame.width,.height = frame.height };
      g_clear_pointer (&plan, ae_plan_free);
      plan = ae_plan_new (engine, model, &pp, error);
      plan_w = frame.width;
      plan_h = frame.height;
    }
    AeAnomalyFeatures f;
    FrameScore fs;
    if (plan && ae_anomaly_scorer_measure (scorer, plan, &frame, &f, NULL, 0,
            0, error)) {
      fs.score = ae_anomaly_score (cal, &f, &fs.dominant, &fs.below);
      g_array_append_val (scores, fs);
      ok = TRUE;
    }
    gst_video_frame_unmap (&vf);
    gst_sample_unref (sample);
    if (!ok)
      return FALSE;
  }
  return error == NULL || *error == NULL;
}

/* A frame's score as @score_name, with the feature that gave it. */
static void
add_score_members (JsonBuilder *b, const char *score_name,
    const FrameScore *f)
{
  json_builder_set_member_name (b, score_name);
  json_builder_add_double_value (b, f->score);
  json_builder_set_member_name (b, "feature");
  json_builder_add_string_value (b, ae_anomaly_feature_name (f->dominant));
  json_builder_set_member_name (b, "below");
  json_builder_add_boolean_value (b, f->below);
}

static void
print_json (AeModel *model, const char *clip, const char *backend,
    const AeAnomalyCalibration *cal, const Summary *sum, const FrameScore *fs,
    GArray *events)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  int caught = 0;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "model");
  json_builder_add_string_value (b, ae_model_get_name (model));
  json_builder_set_member_name (b, "clip");
  json_builder_add_string_value (b, clip);
  json_builder_set_member_name (b, "backend");
  json_builder_add_string_value (b, backend);
  json_builder_set_member_name (b, "threshold");
  json_builder_add_double_value (b, cal->threshold);
  json_builder_set_member_name (b, "frames");
  json_builder_add_int_value (b, sum->n_frames);
  json_builder_set_member_name (b, "normal_frames");
  json_builder_add_int_value (b, sum->n_normal);
  json_builder_set_member_name (b, "auc");
  if (sum->auc >= 0)
    json_builder_add_double_value (b, sum->auc);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "false_alarms");
  json_builder_add_int_value (b, sum->false_alarms);
  json_builder_set_member_name (b, "false_alarm_rate");
  json_builder_add_double_value (b, sum->n_normal ?
      (double) sum->false_alarms / sum->n_normal : 0.0);
  json_builder_set_member_name (b, "top_normal");
  if (sum->top_normal >= 0) {
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "frame");
    json_builder_add_int_value (b, sum->top_normal);
    add_score_members (b, "score", &fs[sum->top_normal]);
    json_builder_end_object (b);
  } else {
    json_builder_add_null_value (b);
  }
  json_builder_set_member_name (b, "events");
  json_builder_begin_array (b);
  for (guint i = 0; i < events->len; i++) {
    const Event *e = &g_array_index (events, Event, i);
    int first_hit = e->first_hit, peak = e->peak;
    caught += first_hit >= 0;
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "label");
    json_builder_add_string_value (b, e->label);
    json_builder_set_member_name (b, "first");
    json_builder_add_int_value (b, e->first);
    json_builder_set_member_name (b, "last");
    json_builder_add_int_value (b, e->last);
    json_builder_set_member_name (b, "caught");
    json_builder_add_boolean_value (b, first_hit >= 0);
    json_builder_set_member_name (b, "delay");
    if (first_hit >= 0)
      json_builder_add_int_value (b, first_hit - e->first);
    else
      json_builder_add_null_value (b);
    add_score_members (b, "peak", &fs[peak]);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  json_builder_set_member_name (b, "events_caught");
  json_builder_add_int_value (b, caught);
  json_builder_end_object (b);

  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = ae_json_to_string (root, TRUE);
  printf ("%s\n", text);
}

static void
print_tables (AeModel *model, const char *clip, const char *backend,
    const AeAnomalyCalibration *cal, const Summary *sum, const FrameScore *fs,
    GArray *events)
{
  g_autoptr (AeTable) t = ae_table_new ("event|label|frames|caught|delay|"
      "peak score|by", "rlllrrl");
  int caught = 0;

  for (guint i = 0; i < events->len; i++) {
    const Event *e = &g_array_index (events, Event, i);
    int first_hit = e->first_hit, peak = e->peak;
    caught += first_hit >= 0;
    ae_table_row (t);
    ae_table_cell (t, "%u", i + 1);
    ae_table_cell (t, "%s", e->label);
    ae_table_cell (t, "%d-%d", e->first, e->last);
    ae_table_cell (t, "%s", first_hit >= 0 ? "yes" : "NO");
    if (first_hit >= 0)
      ae_table_cell (t, "%d", first_hit - e->first);
    else
      ae_table_skip (t);
    ae_table_cell (t, "%.2f", fs[peak].score);
    ae_table_cell (t, "%s %s", ae_anomaly_feature_name (fs[peak].dominant),
        fs[peak].below ? "low" : "high");
  }

  printf ("model:     %s (threshold %.3g, stored in the model)\n",
      ae_model_get_name (model), cal->threshold);
  printf ("clip:      %s, %d frames, %d normal, %u events\n", clip,
      sum->n_frames, sum->n_normal, events->len);
  printf ("backend:   %s\n\n", backend);
  if (sum->auc >= 0)
    printf ("frame ROC AUC:       %.4f\n", sum->auc);
  else
    printf ("frame ROC AUC:       n/a (needs normal and event frames)\n");
  printf ("events caught:       %d of %u\n", caught, events->len);
  printf ("false alarms:        %d of %d normal frames (%.1f%%)\n",
      sum->false_alarms, sum->n_normal, sum->n_normal ?
      100.0 * sum->false_alarms / sum->n_normal : 0);
  if (sum->top_normal >= 0) {
    const FrameScore *top = &fs[sum->top_normal];
    printf ("highest normal:      %.2f (%.2f x threshold), frame %d, %s %s\n",
        top->score, top->score / cal->threshold, sum->top_normal,
        ae_anomaly_feature_name (top->dominant), top->below ? "low" : "high");
  }
  printf ("\n");
  if (events->len)
    ae_table_print (t, stdout, "  ");
}

int
ae_eval_anomaly (AeModel *model, const char *clip, const char *labels,
    const char *device, int threads, gboolean json)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) lab = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) scores = g_array_new (FALSE, FALSE, sizeof (FrameScore));
  g_autofree char *backend = NULL;
  AeAnomalyCalibration cal;
  const AeGraph *g = ae_model_get_graph (model);

  if (ae_graph_get_task (g) != AE_TASK_ANOMALY) {
    ae_tool_error ("%s: a %s model; anomaly evaluation needs an anomaly "
        "model", ae_model_get_name (model),
        ae_task_name (ae_graph_get_task (g)));
    return AE_EXIT_FAILURE;
  }
  if (!ae_graph_get_anomaly (g, &cal)) {
    ae_tool_error ("%s: the model has no anomaly calibration (the trainer "
        "stores one); nothing to score against", ae_model_get_name (model));
    return AE_EXIT_FAILURE;
  }
  if (!read_labels (labels, lab, &error)
      || !score_clip (model, &cal, clip, device, threads, scores, &backend,
              &error)) {
    ae_tool_error ("%s", error->message);
    return AE_EXIT_FAILURE;
  }
  if (scores->len != lab->len) {
    ae_tool_error ("%s has %u frames but %s labels %u: they do not belong "
        "together", clip, scores->len, labels, lab->len);
    return AE_EXIT_FAILURE;
  }

  const FrameScore *fs = (const FrameScore *) scores->data;
  g_autoptr (GArray) events = find_events (lab);
  Summary sum = { roc_auc (fs, lab), scores->len, 0, 0, -1 };
  for (guint i = 0; i < lab->len; i++)
    if (is_normal (lab->pdata[i])) {
      sum.n_normal++;
      sum.false_alarms += fs[i].score > cal.threshold;
      if (sum.top_normal < 0 || fs[i].score > fs[sum.top_normal].score)
        sum.top_normal = i;
    }
  for (guint i = 0; i < events->len; i++) {
    Event *e = &g_array_index (events, Event, i);
    e->first_hit = -1;
    e->peak = e->first;
    for (int k = e->first; k <= e->last; k++) {
      if (e->first_hit < 0 && fs[k].score > cal.threshold)
        e->first_hit = k;
      if (fs[k].score > fs[e->peak].score)
        e->peak = k;
    }
  }

  if (json)
    print_json (model, clip, backend, &cal, &sum, fs, events);
  else
    print_tables (model, clip, backend, &cal, &sum, fs, events);
  return AE_EXIT_OK;
}
