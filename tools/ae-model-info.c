/* ae-model info: what a model file holds and what it costs. */
#include "ae-anomaly.h"
#include "ae-json.h"
#include "ae-tool.h"
#include "ae-table.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>

/* Node FLOPs are measured at this many strides per side: any multiple of
 * the stride gives the same per-pixel numbers. */
#define REF_STRIDES 16

typedef struct {
  const char *path;
  AeModel *model;
  const AeGraph *g;
  gint64 file_size;
  const char *dtype;            /* "F32", "F16", "F32+F16" */
  AeShape *shapes;              /* at ref_w x ref_h */
  int ref_w, ref_h;
  JsonNode *doc;                /* the ae.graph document, or NULL */
} Info;

static const char *
file_dtype (const char *path)
{
  g_autoptr (AeSafetensors) st = ae_safetensors_load (path, NULL);
  gboolean f32 = FALSE, f16 = FALSE;

  if (!st)
    return "?";
  for (guint i = 0; i < ae_safetensors_get_n_tensors (st); i++) {
    AeDType d = ae_safetensors_get_tensor (st, i)->dtype;
    f32 |= d == AE_DTYPE_F32;
    f16 |= d == AE_DTYPE_F16;
  }
  return f32 && f16 ? "F32+F16" : f16 ? "F16" : f32 ? "F32" : "none";
}

/* Resolution of a node relative to the input: "1", "2", "1/4", "3/2". */
static char *
relative_size (const Info *info, int i)
{
  int num = info->shapes[i].w, den = info->shapes[0].w;
  int a = num, b = den;

  while (b) {
    int t = a % b;
    a = b;
    b = t;
  }
  num /= a;
  den /= a;
  return den == 1 ? g_strdup_printf ("%d", num)
      : g_strdup_printf ("%d/%d", num, den);
}

static char *
input_names (const AeGraph *g, const AeNode *nd)
{
  GString *s = g_string_new (NULL);

  for (int k = 0; k < nd->n_inputs; k++)
    g_string_append_printf (s, "%s%s", k ? "," : "",
        ae_graph_get_node (g, nd->inputs[k])->name);
  return g_string_free (s, FALSE);
}

static void
append_act (GString *s, AeAct act, float slope)
{
  if (act == AE_ACT_NONE)
    return;
  g_string_append_printf (s, "%s%s", s->len ? " " : "", ae_act_name (act));
  if (act == AE_ACT_LEAKY_RELU)
    g_string_append_printf (s, "(%g)", slope);
}

/* The op's own fields, tersely: "k3 s2 p1 relu", "x2 bilinear". */
static char *
op_params (const AeNode *nd)
{
  GString *s = g_string_new (NULL);

  switch (nd->op) {
    case AE_OP_CONV2D:
    case AE_OP_CONV_TRANSPOSE2D:{
      const AeConvParams *c = &nd->p.conv;
      g_string_append_printf (s, "k%d s%d p%d", c->kernel, c->stride,
          c->padding);
      if (c->dilation != 1)
        g_string_append_printf (s, " d%d", c->dilation);
      if (c->output_padding)
        g_string_append_printf (s, " op%d", c->output_padding);
      if (!c->has_bias)
        g_string_append (s, " nobias");
      append_act (s, c->act, c->slope);
      break;
    }
    case AE_OP_PIXEL_SHUFFLE:
    case AE_OP_PIXEL_UNSHUFFLE:
      g_string_append_printf (s, "x%d", nd->p.resample.factor);
      break;
    case AE_OP_UPSAMPLE:
      g_string_append_printf (s, "x%d %s", nd->p.resample.factor,
          nd->p.resample.mode == AE_UPSAMPLE_BILINEAR ? "bilinear"
          : "nearest");
      break;
    case AE_OP_MAX_POOL2D:
    case AE_OP_AVG_POOL2D:
      g_string_append_printf (s, "k%d s%d p%d", nd->p.pool.kernel,
          nd->p.pool.stride, nd->p.pool.padding);
      break;
    case AE_OP_ACT:
      append_act (s, nd->p.act.act, nd->p.act.slope);
      if (nd->p.act.act == AE_ACT_NONE)
        g_string_append (s, "none");
      break;
    default:
      break;
  }
  return g_string_free (s, FALSE);
}

static gint64
node_params (const AeNode *nd)
{
  const AeConvParams *c = &nd->p.conv;

  if (nd->op != AE_OP_CONV2D && nd->op != AE_OP_CONV_TRANSPOSE2D)
    return 0;
  return (gint64) c->in_channels * c->out_channels * c->kernel * c->kernel
      + (c->has_bias ? c->out_channels : 0);
}

static double
node_flops_per_pixel (const Info *info, int i)
{
  return ae_node_flops (info->g, i, info->shapes) /
      ((double) info->ref_w * info->ref_h);
}

static JsonObject *
training_object (const Info *info)
{
  if (!info->doc || !JSON_NODE_HOLDS_OBJECT (info->doc))
    return NULL;
  JsonObject *root = json_node_get_object (info->doc);
  JsonNode *t = json_object_get_member (root, "training");
  return t && JSON_NODE_HOLDS_OBJECT (t) ? json_node_get_object (t) : NULL;
}

/* ---- text ---- */

static char *
kflop (double flops)
{
  return ae_tool_format_number (flops / 1000.0);
}

/* The calibration: the threshold and, where the model has them, each
 * feature's centre and scale (docs/MODEL-FORMAT.md). */
static void
print_anomaly (const AeGraph *g, double mean, double std, double threshold)
{
  AeAnomalyCalibration cal;

  printf ("\nanomaly calibration: threshold %g", threshold);
  if (!ae_graph_get_anomaly (g, &cal) || !cal.has_cells) {
    printf (" (mse only: mean %g, std %g)\n", mean, std);
    return;
  }
  if (cal.n_frames > 0)
    printf (", from %d normal frames", cal.n_frames);
  printf ("\n(a frame's score is its largest deviation, (t(value) - centre) "
      "/ scale,\nt = ln for log features):\n");
  g_autoptr (AeTable) t = ae_table_new ("feature|counts|t|centre|scale",
      "lllrr");
  for (int k = 0; k < AE_ANOMALY_N_FEATURES; k++) {
    const AeAnomalyFeatureCalibration *fc = &cal.feature[k];
    if (fc->side == AE_ANOMALY_SIDE_NONE)
      continue;
    ae_table_row (t);
    ae_table_cell (t, "%s", ae_anomaly_feature_name (k));
    ae_table_cell (t, "%s", fc->side == AE_ANOMALY_SIDE_BOTH ?
        "both ways" : "upwards");
    ae_table_cell (t, "%s", fc->log ? "ln" : "value");
    ae_table_cell (t, "%.4g", fc->center);
    ae_table_cell (t, "%.4g", fc->scale);
  }
  ae_table_print (t, stdout, "  ");
}

static void
print_text (const Info *info)
{
  const AeGraph *g = info->g;
  int channels = ae_graph_get_channels (g), scale = ae_graph_get_scale (g);
  int stride = ae_graph_get_stride (g), halo = ae_graph_get_halo (g);
  int rf = ae_graph_get_receptive_field (g);
  double fpp = ae_graph_get_flops_per_pixel (g);
  gint64 n_params = ae_graph_get_n_params (g);
  double mean, std, threshold;
  g_autofree char *k_in = kflop (fpp);
  g_autofree char *k_out = kflop (fpp / (scale * scale));
  g_autofree char *g720 = ae_tool_format_number (fpp * 1280 * 720 / 1e9);
  g_autofree char *g1080 = ae_tool_format_number (fpp * 1920 * 1080 / 1e9);

  printf ("file:             %s (%" G_GINT64_FORMAT " bytes, %s weights)\n",
      info->path, info->file_size, info->dtype);
  printf ("task:             %s\n", ae_task_name (ae_graph_get_task (g)));
  printf ("color:            %s (%d channel%s)\n",
      ae_color_name (ae_graph_get_color (g)), channels,
      channels == 1 ? "" : "s");
  printf ("scale:            %d\n", scale);
  printf ("stride:           %d (frames are padded to a multiple of %d)\n",
      stride, stride);
  printf ("receptive field:  %dx%d pixels\n", rf, rf);
  printf ("halo:             %d pixel%s (tile overlap per side)\n", halo,
      halo == 1 ? "" : "s");
  printf ("parameters:       %" G_GINT64_FORMAT, n_params);
  if (n_params >= 10000)
    printf (" (%.2f M)", n_params / 1e6);
  printf ("\n");
  printf ("FLOPs:            %s kFLOP per input pixel, %s kFLOP per output "
      "pixel\n", k_in, k_out);
  printf ("per frame:        %s GFLOP at 1280x720, %s GFLOP at 1920x1080 "
      "(input size)\n", g720, g1080);

  g_autoptr (AeTable) t = ae_table_new ("#|name|op|inputs|out|size|"
      "parameters|params|kFLOP/px|% FLOPs", "rlllrrlrrr");
  for (int i = 0; i < ae_graph_get_n_nodes (g); i++) {
    const AeNode *nd = ae_graph_get_node (g, i);
    g_autofree char *ins = input_names (g, nd);
    g_autofree char *size = relative_size (info, i);
    g_autofree char *par = op_params (nd);
    double f = node_flops_per_pixel (info, i);
    g_autofree char *kf = kflop (f);
    gint64 np = node_params (nd);

    ae_table_row (t);
    ae_table_cell (t, "%d", i);
    ae_table_cell (t, "%s%s", nd->name,
        i == ae_graph_get_output (g) ? " *" : "");
    ae_table_cell (t, "%s", ae_op_name (nd->op));
    ae_table_cell (t, "%s", i == 0 ? "-" : ins);
    ae_table_cell (t, "%d", nd->channels);
    ae_table_cell (t, "%s", size);
    ae_table_cell (t, "%s", par);
    if (np)
      ae_table_cell (t, "%" G_GINT64_FORMAT, np);
    else
      ae_table_skip (t);
    if (i > 0)
      ae_table_cell (t, "%s", kf);
    else
      ae_table_skip (t);
    if (f > 0 && fpp > 0)
      ae_table_cell (t, "%.1f", 100.0 * f / fpp);
    else
      ae_table_skip (t);
  }
  printf ("\nnodes (* = output; size = resolution relative to the input; "
      "k kernel, s stride,\np padding, d dilation, op output padding; "
      "kFLOP/px per input pixel):\n");
  ae_table_print (t, stdout, "  ");

  if (ae_graph_get_anomaly_calibration (g, &mean, &std, &threshold))
    print_anomaly (g, mean, std, threshold);

  JsonObject *training = training_object (info);
  if (training) {
    g_autoptr (GList) members = json_object_get_members (training);
    printf ("\ntraining:\n");
    for (GList * l = members; l; l = l->next) {
      JsonNode *v = json_object_get_member (training, l->data);
      g_autofree char *text = NULL;
      GType type = JSON_NODE_HOLDS_VALUE (v) ?
          json_node_get_value_type (v) : G_TYPE_INVALID;
      if (type == G_TYPE_STRING)
        text = g_strdup (json_node_get_string (v));
      else if (type == G_TYPE_DOUBLE)     /* 26.35, not 26.350000000000001 */
        text = g_strdup_printf ("%g", json_node_get_double (v));
      else
        text = ae_json_to_string (v, FALSE);
      printf ("  %s: %s\n", (const char *) l->data, text);
    }
  }
}

/* ---- JSON ---- */

static void
add_int (JsonBuilder *b, const char *key, gint64 v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_int_value (b, v);
}

static void
add_double (JsonBuilder *b, const char *key, double v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_double_value (b, v);
}

static void
add_string (JsonBuilder *b, const char *key, const char *v)
{
  json_builder_set_member_name (b, key);
  json_builder_add_string_value (b, v);
}

static void
add_node_fields (JsonBuilder *b, const AeNode *nd)
{
  switch (nd->op) {
    case AE_OP_CONV2D:
    case AE_OP_CONV_TRANSPOSE2D:{
      const AeConvParams *c = &nd->p.conv;
      add_int (b, "in", c->in_channels);
      add_int (b, "kernel", c->kernel);
      add_int (b, "stride", c->stride);
      add_int (b, "padding", c->padding);
      add_int (b, "dilation", c->dilation);
      if (nd->op == AE_OP_CONV_TRANSPOSE2D)
        add_int (b, "output_padding", c->output_padding);
      add_string (b, "act", ae_act_name (c->act));
      if (c->act == AE_ACT_LEAKY_RELU)
        add_double (b, "slope", c->slope);
      json_builder_set_member_name (b, "bias");
      json_builder_add_boolean_value (b, c->has_bias);
      break;
    }
    case AE_OP_PIXEL_SHUFFLE:
    case AE_OP_PIXEL_UNSHUFFLE:
      add_int (b, "factor", nd->p.resample.factor);
      break;
    case AE_OP_UPSAMPLE:
      add_int (b, "factor", nd->p.resample.factor);
      add_string (b, "mode", nd->p.resample.mode == AE_UPSAMPLE_BILINEAR ?
          "bilinear" : "nearest");
      break;
    case AE_OP_MAX_POOL2D:
    case AE_OP_AVG_POOL2D:
      add_int (b, "kernel", nd->p.pool.kernel);
      add_int (b, "stride", nd->p.pool.stride);
      add_int (b, "padding", nd->p.pool.padding);
      break;
    case AE_OP_ACT:
      add_string (b, "act", ae_act_name (nd->p.act.act));
      if (nd->p.act.act == AE_ACT_LEAKY_RELU)
        add_double (b, "slope", nd->p.act.slope);
      break;
    default:
      break;
  }
}

static void
print_json (const Info *info)
{
  const AeGraph *g = info->g;
  int scale = ae_graph_get_scale (g);
  double fpp = ae_graph_get_flops_per_pixel (g);
  double mean, std, threshold;
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  add_string (b, "file", info->path);
  add_int (b, "file_size", info->file_size);
  add_string (b, "dtype", info->dtype);
  add_string (b, "task", ae_task_name (ae_graph_get_task (g)));
  add_string (b, "color", ae_color_name (ae_graph_get_color (g)));
  add_int (b, "channels", ae_graph_get_channels (g));
  add_int (b, "scale", scale);
  add_int (b, "stride", ae_graph_get_stride (g));
  add_int (b, "receptive_field", ae_graph_get_receptive_field (g));
  add_int (b, "halo", ae_graph_get_halo (g));
  add_int (b, "parameters", ae_graph_get_n_params (g));
  add_double (b, "flops_per_input_pixel", fpp);
  add_double (b, "flops_per_output_pixel", fpp / (scale * scale));
  add_string (b, "output", ae_graph_get_node (g, ae_graph_get_output (g))->name);

  json_builder_set_member_name (b, "nodes");
  json_builder_begin_array (b);
  for (int i = 0; i < ae_graph_get_n_nodes (g); i++) {
    const AeNode *nd = ae_graph_get_node (g, i);
    json_builder_begin_object (b);
    add_string (b, "name", nd->name);
    add_string (b, "op", ae_op_name (nd->op));
    json_builder_set_member_name (b, "inputs");
    json_builder_begin_array (b);
    for (int k = 0; k < nd->n_inputs; k++)
      json_builder_add_string_value (b,
          ae_graph_get_node (g, nd->inputs[k])->name);
    json_builder_end_array (b);
    add_int (b, "out", nd->channels);
    add_node_fields (b, nd);
    /* resolution relative to the input, as a number */
    add_double (b, "size", (double) info->shapes[i].w / info->shapes[0].w);
    add_int (b, "params", node_params (nd));
    add_double (b, "flops_per_input_pixel", node_flops_per_pixel (info, i));
    json_builder_end_object (b);
  }
  json_builder_end_array (b);

  if (ae_graph_get_anomaly_calibration (g, &mean, &std, &threshold)) {
    json_builder_set_member_name (b, "anomaly");
    json_builder_begin_object (b);
    add_double (b, "mean", mean);
    add_double (b, "std", std);
    add_double (b, "threshold", threshold);
    /* the features as the model format writes them */
    AeAnomalyCalibration cal;
    g_autoptr (JsonParser) parser = json_parser_new ();
    if (ae_graph_get_anomaly (g, &cal) && cal.has_cells) {
      g_autofree char *js = ae_anomaly_calibration_to_json (&cal);
      if (json_parser_load_from_data (parser, js, -1, NULL)) {
        JsonObject *o = json_node_get_object (json_parser_get_root (parser));
        json_builder_set_member_name (b, "features");
        json_builder_add_value (b,
            json_node_copy (json_object_get_member (o, "features")));
      }
    }
    json_builder_end_object (b);
  }
  JsonObject *training = training_object (info);
  if (training) {
    JsonObject *root = json_node_get_object (info->doc);
    json_builder_set_member_name (b, "training");
    json_builder_add_value (b,
        json_node_copy (json_object_get_member (root, "training")));
  }
  json_builder_end_object (b);

  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *text = ae_json_to_string (root, TRUE);
  printf ("%s\n", text);
}

int
ae_cmd_info (int argc, char **argv)
{
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    {"json", 'j', 0, G_OPTION_ARG_NONE, &json,
        "Print one JSON object instead of text", NULL},
    {NULL}
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("MODEL");
  GStatBuf st;
  int status = AE_EXIT_FAILURE;
  Info info = { 0 };
  g_autoptr (GError) error = NULL;

  g_option_context_set_summary (ctx, "Prints a model's task, graph, "
      "parameters, FLOPs per pixel,\nreceptive field, anomaly calibration "
      "and training record.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!ae_tool_parse_args (ctx, 1, &argc, &argv))
    return AE_EXIT_USAGE;

  /* the file a name stands for: its size and dtype are printed */
  g_autofree char *path = NULL;
  info.model = ae_tool_load_model (argv[1], &path);
  if (!info.model)
    return AE_EXIT_FAILURE;
  info.path = path;
  info.g = ae_model_get_graph (info.model);
  info.file_size = g_stat (info.path, &st) == 0 ? (gint64) st.st_size : -1;
  info.dtype = file_dtype (info.path);
  info.ref_w = info.ref_h = REF_STRIDES * ae_graph_get_stride (info.g);
  info.shapes = g_new0 (AeShape, ae_graph_get_n_nodes (info.g));
  if (!ae_graph_infer_shapes (info.g, info.ref_w, info.ref_h, info.shapes,
          &error)) {
    ae_tool_error ("%s: %s", info.path, error->message);
    goto out;
  }
  info.doc = json_from_string (ae_graph_get_json (info.g), &error);
  if (!info.doc) {
    /* the loader already parsed it; this cannot really happen */
    ae_tool_error ("%s: cannot re-read the graph: %s", info.path,
        error->message);
    goto out;
  }

  if (json)
    print_json (&info);
  else
    print_text (&info);
  status = fflush (stdout) == 0 ? AE_EXIT_OK : AE_EXIT_FAILURE;

out:
  if (info.doc)
    json_node_unref (info.doc);
  g_free (info.shapes);
  ae_model_unref (info.model);
  return status;
}
