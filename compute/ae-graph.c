#include "ae-graph.h"
#include "ae-anomaly.h"
#include "ae-error.h"
#include "ae-json.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define MAX_CHANNELS 4096
#define MAX_TENSOR_WEIGHTS (1 << 28)

struct _AeGraph {
  char *json;
  AeTask task;
  AeColor color;
  int scale;
  int n_nodes;
  AeNode *nodes;
  int output;
  int *last_use;
  /* each node's resolution relative to the input, as num/den */
  int *ratio_num, *ratio_den;
  int stride;
  int halo;
  int receptive_field;
  double flops_per_pixel;
  gint64 n_params;
  gboolean has_anomaly;
  AeAnomalyCalibration anomaly;
};

static const char *op_names[AE_N_OPS] = {
  "input", "conv2d", "conv_transpose2d", "pixel_shuffle", "pixel_unshuffle",
  "upsample", "max_pool2d", "avg_pool2d", "add", "concat", "act",
};

static const char *act_names[] = {
  "none", "relu", "leaky_relu", "sigmoid", "tanh",
};

const char *
ae_op_name (AeOp op)
{
  return op < AE_N_OPS ? op_names[op] : "?";
}

const char *
ae_act_name (AeAct act)
{
  return act <= AE_ACT_TANH ? act_names[act] : "?";
}

const char *
ae_task_name (AeTask task)
{
  static const char *n[] = { "denoise", "superres", "anomaly" };
  return task <= AE_TASK_ANOMALY ? n[task] : "?";
}

const char *
ae_color_name (AeColor color)
{
  return color == AE_COLOR_LUMA ? "luma" : "rgb";
}

void
ae_graph_free (AeGraph *g)
{
  if (!g)
    return;
  for (int i = 0; i < g->n_nodes; i++)
    g_free (g->nodes[i].name);
  g_free (g->nodes);
  g_free (g->last_use);
  g_free (g->ratio_num);
  g_free (g->ratio_den);
  g_free (g->json);
  g_free (g);
}

/* Reads an integer member into *out: absent → @def (or an error if @def is
 * G_MININT, meaning required); outside [lo, hi] → error. @node is the node
 * the member belongs to, NULL for the graph's top level. */
static gboolean
get_int (JsonObject *o, const char *what, const char *node, const char *key,
    int def, int lo, int hi, int *out, GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  g_autofree char *where = node ? g_strdup_printf ("node '%s'", node) :
      g_strdup ("ae.graph");
  if (!n || JSON_NODE_HOLDS_NULL (n)) {
    if (def == G_MININT) {
      ae_set_model_error (error, what, "%s needs '%s'", where, key);
      return FALSE;
    }
    *out = def;
    return TRUE;
  }
  if (!JSON_NODE_HOLDS_VALUE (n)
      || json_node_get_value_type (n) != G_TYPE_INT64) {
    ae_set_model_error (error, what, "%s: '%s' must be an integer", where, key);
    return FALSE;
  }
  gint64 v = json_node_get_int (n);
  if (v < lo || v > hi) {
    ae_set_model_error (error, what, "%s: %s = %" G_GINT64_FORMAT
        " is out of range (%d..%d)", where, key, v, lo, hi);
    return FALSE;
  }
  *out = v;
  return TRUE;
}

static gboolean
get_act (JsonObject *o, const char *what, const char *node, gboolean required,
    AeAct *act, float *slope, GError **error)
{
  JsonNode *n = json_object_get_member (o, "act");
  *act = AE_ACT_NONE;
  *slope = 0.01f;
  if (!n) {
    if (required) {
      ae_set_model_error (error, what, "node '%s' needs 'act'", node);
      return FALSE;
    }
  } else {
    const char *s = JSON_NODE_HOLDS_VALUE (n)
        && json_node_get_value_type (n) == G_TYPE_STRING ?
        json_node_get_string (n) : "";
    gboolean found = FALSE;
    for (guint i = 0; i < G_N_ELEMENTS (act_names); i++)
      if (g_str_equal (s, act_names[i])) {
        *act = i;
        found = TRUE;
      }
    if (!found) {
      ae_set_model_error (error, what, "node '%s': unknown act '%s' (none, relu, "
          "leaky_relu, sigmoid, tanh)", node, s);
      return FALSE;
    }
  }
  JsonNode *sl = json_object_get_member (o, "slope");
  if (sl) {
    if (!JSON_NODE_HOLDS_VALUE (sl)
        || (json_node_get_value_type (sl) != G_TYPE_DOUBLE
            && json_node_get_value_type (sl) != G_TYPE_INT64)) {
      ae_set_model_error (error, what, "node '%s': 'slope' must be a number", node);
      return FALSE;
    }
    double v = json_node_get_double (sl);
    if (!isfinite (v) || fabs (v) > 100) {
      ae_set_model_error (error, what, "node '%s': slope %g is out of range", node, v);
      return FALSE;
    }
    *slope = v;
  }
  return TRUE;
}

static gboolean
valid_name (const char *s)
{
  size_t n = strlen (s);
  if (n == 0 || n > 64)
    return FALSE;
  for (size_t i = 0; i < n; i++)
    if (!g_ascii_isalnum (s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
      return FALSE;
  return TRUE;
}

static const char *
get_string (JsonObject *o, const char *key)
{
  JsonNode *n = json_object_get_member (o, key);
  if (!n || !JSON_NODE_HOLDS_VALUE (n)
      || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

/* Parses one node's op and parameters; inputs are resolved later. */
static gboolean
parse_node (JsonObject *o, const char *what, AeNode *nd, GError **error)
{
  const char *name = nd->name;
  const char *op = get_string (o, "op");
  int v;

  nd->op = AE_N_OPS;
  for (int i = 1; i < AE_N_OPS; i++)
    if (op && g_str_equal (op, op_names[i]))
      nd->op = i;
  if (nd->op == AE_N_OPS) {
    ae_set_model_error (error, what, "node '%s' has unknown op '%s'", name,
        op ? op : "(none)");
    return FALSE;
  }

  switch (nd->op) {
    case AE_OP_CONV2D:
    case AE_OP_CONV_TRANSPOSE2D:{
      AeConvParams *c = &nd->p.conv;
      gboolean tr = nd->op == AE_OP_CONV_TRANSPOSE2D;
      if (!get_int (o, what, name, "out", G_MININT, 1, MAX_CHANNELS,
              &c->out_channels, error)
          || !get_int (o, what, name, "kernel", G_MININT, 1, 15, &c->kernel,
              error)
          || !get_int (o, what, name, "stride", 1, 1, 8, &c->stride, error)
          || !get_int (o, what, name, "dilation", 1, 1, 16, &c->dilation,
              error)
          || !get_int (o, what, name, "padding",
              tr ? 0 : (c->kernel / 2) * c->dilation, 0, 64, &c->padding,
              error)
          || !get_act (o, what, name, FALSE, &c->act, &c->slope, error))
        return FALSE;
      if (tr) {
        if (!get_int (o, what, name, "output_padding", 0, 0, 7,
                &c->output_padding, error))
          return FALSE;
        if (c->output_padding >= c->stride) {
          ae_set_model_error (error, what, "node '%s': output_padding = %d is out of range "
              "(it must be less than the stride, %d)", name,
              c->output_padding, c->stride);
          return FALSE;
        }
      } else if (json_object_has_member (o, "output_padding")) {
        ae_set_model_error (error, what, "node '%s': output_padding is only for "
            "conv_transpose2d", name);
        return FALSE;
      }
      JsonNode *b = json_object_get_member (o, "bias");
      c->has_bias = TRUE;
      if (b) {
        if (!JSON_NODE_HOLDS_VALUE (b)
            || json_node_get_value_type (b) != G_TYPE_BOOLEAN) {
          ae_set_model_error (error, what, "node '%s': 'bias' must be true or false", name);
          return FALSE;
        }
        c->has_bias = json_node_get_boolean (b);
      }
      nd->channels = c->out_channels;
      break;
    }
    case AE_OP_PIXEL_SHUFFLE:
    case AE_OP_PIXEL_UNSHUFFLE:
    case AE_OP_UPSAMPLE:{
      AeResampleParams *r = &nd->p.resample;
      if (!get_int (o, what, name, "factor", G_MININT, 2, 8, &r->factor,
              error))
        return FALSE;
      r->mode = AE_UPSAMPLE_NEAREST;
      if (nd->op == AE_OP_UPSAMPLE && json_object_has_member (o, "mode")) {
        const char *m = get_string (o, "mode");
        if (m && g_str_equal (m, "bilinear"))
          r->mode = AE_UPSAMPLE_BILINEAR;
        else if (!m || !g_str_equal (m, "nearest")) {
          ae_set_model_error (error, what, "node '%s': unknown upsample mode '%s' "
              "(nearest, bilinear)", name, m ? m : "?");
          return FALSE;
        }
      }
      break;
    }
    case AE_OP_MAX_POOL2D:
    case AE_OP_AVG_POOL2D:{
      AePoolParams *p = &nd->p.pool;
      if (!get_int (o, what, name, "kernel", G_MININT, 1, 15, &p->kernel,
              error)
          || !get_int (o, what, name, "stride", p->kernel, 1, 15, &p->stride,
              error)
          || !get_int (o, what, name, "padding", 0, 0, p->kernel / 2, &v,
              error))
        return FALSE;
      p->padding = v;
      break;
    }
    case AE_OP_ACT:
      if (!get_act (o, what, name, TRUE, &nd->p.act.act, &nd->p.act.slope,
              error))
        return FALSE;
      break;
    default:
      break;
  }
  return TRUE;
}

static int
gcd (int a, int b)
{
  while (b) {
    int t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* Channels, resolution ratio and receptive radius of every node, in order. */
static gboolean
infer_static (AeGraph *g, const char *what, double *radius, GError **error)
{
  for (int i = 1; i < g->n_nodes; i++) {
    AeNode *nd = &g->nodes[i];
    const AeNode *in0 = &g->nodes[nd->inputs[0]];
    int num = g->ratio_num[nd->inputs[0]], den = g->ratio_den[nd->inputs[0]];
    double q_in = (double) den / num;   /* input pixels per node pixel */
    double r = radius[nd->inputs[0]];
    int cin = in0->channels;

    if ((nd->op == AE_OP_ADD || nd->op == AE_OP_CONCAT) && nd->n_inputs < 2) {
      ae_set_model_error (error, what, "node '%s' (%s) needs at least 2 inputs", nd->name,
          op_names[nd->op]);
      return FALSE;
    }
    if (nd->op != AE_OP_ADD && nd->op != AE_OP_CONCAT && nd->n_inputs != 1) {
      ae_set_model_error (error, what, "node '%s' (%s) takes exactly 1 input, has %d",
          nd->name, op_names[nd->op], nd->n_inputs);
      return FALSE;
    }

    switch (nd->op) {
      case AE_OP_CONV2D:
      case AE_OP_CONV_TRANSPOSE2D:{
        AeConvParams *c = &nd->p.conv;
        int ext = (c->kernel - 1) * c->dilation;
        c->in_channels = cin;
        if ((gint64) cin * c->out_channels * c->kernel * c->kernel >
            MAX_TENSOR_WEIGHTS) {
          ae_set_model_error (error, what, "node '%s' weight %dx%dx%dx%d is out of range "
              "(too large)", nd->name, c->out_channels, cin, c->kernel,
              c->kernel);
          return FALSE;
        }
        if (nd->op == AE_OP_CONV2D) {
          if (c->padding > ext) {
            ae_set_model_error (error, what, "node '%s': padding %d is out of range for "
                "kernel %d dilation %d", nd->name, c->padding, c->kernel,
                c->dilation);
            return FALSE;
          }
          den *= c->stride;
          r += q_in * MAX (MAX (c->padding, ext + 1 - c->padding - c->stride),
              0);
        } else {
          num *= c->stride;
          double q_out = q_in / c->stride;
          r += MAX (ext - c->padding, c->padding) * q_out + q_in;
        }
        break;
      }
      case AE_OP_PIXEL_SHUFFLE:{
        int f2 = nd->p.resample.factor * nd->p.resample.factor;
        if (cin % f2) {
          ae_set_model_error (error, what, "node '%s': pixel_shuffle by %d needs a channel "
              "count divisible by %d, input has %d channels", nd->name,
              nd->p.resample.factor, f2, cin);
          return FALSE;
        }
        nd->channels = cin / f2;
        num *= nd->p.resample.factor;
        /* a fine pixel needs its whole coarse pixel */
        r += q_in - q_in / nd->p.resample.factor;
        break;
      }
      case AE_OP_PIXEL_UNSHUFFLE:
        nd->channels = cin * nd->p.resample.factor * nd->p.resample.factor;
        den *= nd->p.resample.factor;
        break;
      case AE_OP_UPSAMPLE:{
        /* nearest: a fine pixel needs its whole coarse pixel, up to
         * q_in - q_out beyond it; bilinear reaches the next coarse pixel
         * centre, up to (1.5 - 0.5 / factor) coarse pixels beyond it */
        double q_out = q_in / nd->p.resample.factor;
        nd->channels = cin;
        num *= nd->p.resample.factor;
        r += nd->p.resample.mode == AE_UPSAMPLE_BILINEAR ?
            q_in + (q_in - q_out) / 2 : q_in - q_out;
        break;
      }
      case AE_OP_MAX_POOL2D:
      case AE_OP_AVG_POOL2D:{
        AePoolParams *p = &nd->p.pool;
        nd->channels = cin;
        den *= p->stride;
        r += q_in * MAX (MAX (p->padding, p->kernel - p->padding - p->stride),
            0);
        break;
      }
      case AE_OP_ADD:
      case AE_OP_CONCAT:{
        int sum = 0;
        for (int k = 0; k < nd->n_inputs; k++) {
          int j = nd->inputs[k];
          const AeNode *in = &g->nodes[j];
          if (nd->op == AE_OP_ADD && in->channels != cin) {
            ae_set_model_error (error, what, "node '%s' adds inputs with different channel "
                "counts: '%s' has %d, '%s' has %d", nd->name, in0->name, cin,
                in->name, in->channels);
            return FALSE;
          }
          if ((gint64) g->ratio_num[j] * den != (gint64) g->ratio_den[j] * num) {
            ae_set_model_error (error, what, "node '%s' joins inputs of different "
                "resolutions: '%s' is %d/%d of the input, '%s' is %d/%d",
                nd->name, in0->name, num, den, in->name, g->ratio_num[j],
                g->ratio_den[j]);
            return FALSE;
          }
          sum += in->channels;
          r = MAX (r, radius[j]);
        }
        nd->channels = nd->op == AE_OP_ADD ? cin : sum;
        break;
      }
      case AE_OP_ACT:
        nd->channels = cin;
        break;
      default:
        g_assert_not_reached ();
    }
    if (nd->channels > MAX_CHANNELS) {
      ae_set_model_error (error, what, "node '%s' has %d channels, out of range (at most "
          "%d)", nd->name, nd->channels, MAX_CHANNELS);
      return FALSE;
    }
    int d = gcd (num, den);
    num /= d;
    den /= d;
    if (num > 64 || den > 64) {
      ae_set_model_error (error, what, "node '%s' resolution %d/%d of the input is out of "
          "range", nd->name, num, den);
      return FALSE;
    }
    g->ratio_num[i] = num;
    g->ratio_den[i] = den;
    radius[i] = r;
  }
  return TRUE;
}

static gboolean
parse_meta (AeGraph *g, JsonObject *root, const char *what, GError **error)
{
  const char *task = get_string (root, "task");
  const char *color = get_string (root, "color");

  if (!task || !(g_str_equal (task, "denoise") || g_str_equal (task,
              "superres") || g_str_equal (task, "anomaly"))) {
    ae_set_model_error (error, what, "unknown task '%s' (denoise, superres, anomaly)",
        task ? task : "(none)");
    return FALSE;
  }
  g->task = g_str_equal (task, "denoise") ? AE_TASK_DENOISE :
      g_str_equal (task, "superres") ? AE_TASK_SUPERRES : AE_TASK_ANOMALY;

  if (color && g_str_equal (color, "rgb"))
    g->color = AE_COLOR_RGB;
  else if (!color || g_str_equal (color, "luma"))
    g->color = AE_COLOR_LUMA;
  else {
    ae_set_model_error (error, what, "unknown color '%s' (luma, rgb)", color);
    return FALSE;
  }

  if (!get_int (root, what, NULL, "scale", 1, 1, 8, &g->scale, error))
    return FALSE;
  if (g->task != AE_TASK_SUPERRES && g->scale != 1) {
    ae_set_model_error (error, what, "scale %d is only valid for task superres; a %s "
        "model has scale 1", g->scale, ae_task_name (g->task));
    return FALSE;
  }

  JsonNode *an = json_object_get_member (root, "anomaly");
  if (an) {
    g_autoptr (GError) local = NULL;
    g_autofree char *text = ae_json_to_string (an, FALSE);
    if (!ae_anomaly_calibration_from_json (text, &g->anomaly, &local)) {
      ae_set_model_error (error, what, "%s", local->message);
      return FALSE;
    }
    g->has_anomaly = TRUE;
  }
  return TRUE;
}

/* Kahn's algorithm over name-resolved edges: fills @order and returns how
 * many nodes it could order (fewer than @n if there is a cycle). */
static int
topo_sort (int n, int (*inputs)[AE_NODE_MAX_INPUTS], const int *n_inputs,
    int *order)
{
  g_autofree int *indeg = g_new0 (int, n);
  int head = 0, tail = 0;

  for (int i = 0; i < n; i++)
    for (int k = 0; k < n_inputs[i]; k++)
      if (inputs[i][k] >= 0)
        indeg[i]++;
  for (int i = 0; i < n; i++)
    if (!indeg[i])
      order[tail++] = i;
  while (head < tail) {
    int u = order[head++];
    for (int i = 0; i < n; i++)
      for (int k = 0; k < n_inputs[i]; k++)
        if (inputs[i][k] == u && --indeg[i] == 0)
          order[tail++] = i;
  }
  return tail;
}

/* After topo_sort failed: names one cycle among the nodes it could not
 * order. Each of them has an input that is also unordered (else it would
 * have been ordered), so walking back along such inputs must repeat. */
static char *
describe_cycle (int n, int (*inputs)[AE_NODE_MAX_INPUTS], const int *n_inputs,
    const int *order, int n_ordered, const AeNode *nodes)
{
  g_autofree gboolean *done = g_new0 (gboolean, n);
  g_autofree int *seen_at = g_new (int, n);
  g_autofree int *path = g_new (int, n);
  int len = 0, u = -1;

  for (int k = 0; k < n; k++)
    seen_at[k] = -1;
  for (int k = 0; k < n_ordered; k++)
    done[order[k]] = TRUE;
  for (int i = 0; i < n && u < 0; i++)
    if (!done[i])
      u = i;
  while (u >= 0 && seen_at[u] < 0) {
    seen_at[u] = len;
    path[len++] = u;
    int next = -1;
    for (int k = 0; k < n_inputs[u] && next < 0; k++)
      if (inputs[u][k] >= 0 && !done[inputs[u][k]])
        next = inputs[u][k];
    u = next;
  }
  if (u < 0)
    return g_strdup ("(unknown)");
  /* path[seen_at[u]..len-1] is the cycle, each node reading the next one;
   * print it in data-flow order */
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "'%s'", nodes[u].name);
  for (int k = len - 1; k >= seen_at[u]; k--)
    g_string_append_printf (s, " -> '%s'", nodes[path[k]].name);
  return g_string_free (s, FALSE);
}

AeGraph *
ae_graph_new_from_json (const char *json, const char *what, GError **error)
{
  g_autoptr (AeGraph) g = NULL;
  g_autoptr (JsonParser) parser = ae_json_parse_object (json, -1, what,
      "ae.graph", error);
  if (!parser)
    return NULL;
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));

  g = g_new0 (AeGraph, 1);
  g->json = g_strdup (json);
  if (!parse_meta (g, root, what, error))
    return NULL;

  JsonNode *nodesn = json_object_get_member (root, "nodes");
  if (!nodesn || !JSON_NODE_HOLDS_ARRAY (nodesn)) {
    ae_set_model_error (error, what, "ae.graph has no 'nodes' array");
    return NULL;
  }
  JsonArray *arr = json_node_get_array (nodesn);
  int n = json_array_get_length (arr);
  if (n == 0) {
    ae_set_model_error (error, what, "ae.graph has no nodes");
    return NULL;
  }
  if (n >= AE_GRAPH_MAX_NODES) {
    ae_set_model_error (error, what, "ae.graph has %d nodes, out of range (at most %d)", n,
        AE_GRAPH_MAX_NODES - 1);
    return NULL;
  }

  /* Parse into file order first (slot 0 = input), then sort. */
  int total = n + 1;
  g_autofree AeNode *raw = g_new0 (AeNode, total);
  g_autofree int (*ins)[AE_NODE_MAX_INPUTS] =
      g_malloc0_n (total, sizeof (int[AE_NODE_MAX_INPUTS]));
  g_autofree int *n_ins = g_new0 (int, total);
  g_autoptr (GHashTable) by_name = g_hash_table_new (g_str_hash, g_str_equal);
  gboolean ok = TRUE;

  raw[0].name = g_strdup ("input");
  raw[0].op = AE_OP_INPUT;
  raw[0].channels = g->color == AE_COLOR_LUMA ? 1 : 3;
  g_hash_table_insert (by_name, raw[0].name, GINT_TO_POINTER (1));

  for (int i = 1; ok && i < total; i++) {
    JsonNode *jn = json_array_get_element (arr, i - 1);
    if (!JSON_NODE_HOLDS_OBJECT (jn)) {
      ae_set_model_error (error, what, "node %d is not a JSON object", i - 1);
      ok = FALSE;
      break;
    }
    JsonObject *o = json_node_get_object (jn);
    const char *name = get_string (o, "name");
    if (!name || !valid_name (name) || g_str_equal (name, "input")) {
      ae_set_model_error (error, what, "node %d has an invalid name '%s' (1-64 of "
          "A-Z a-z 0-9 _ . -, not 'input')", i - 1, name ? name : "(none)");
      ok = FALSE;
      break;
    }
    if (g_hash_table_contains (by_name, name)) {
      ae_set_model_error (error, what, "duplicate node name '%s'", name);
      ok = FALSE;
      break;
    }
    raw[i].name = g_strdup (name);
    g_hash_table_insert (by_name, raw[i].name, GINT_TO_POINTER (i + 1));
    ok = parse_node (o, what, &raw[i], error);
  }
  /* resolve inputs by name */
  for (int i = 1; ok && i < total; i++) {
    JsonObject *o = json_node_get_object (json_array_get_element (arr, i - 1));
    JsonNode *in = json_object_get_member (o, "inputs");
    if (!in || !JSON_NODE_HOLDS_ARRAY (in)) {
      ae_set_model_error (error, what, "node '%s' has no 'inputs' array", raw[i].name);
      ok = FALSE;
      break;
    }
    JsonArray *ia = json_node_get_array (in);
    int k = json_array_get_length (ia);
    if (k < 1 || k > AE_NODE_MAX_INPUTS) {
      ae_set_model_error (error, what, "node '%s' has %d inputs, out of range (1..%d)",
          raw[i].name, k, AE_NODE_MAX_INPUTS);
      ok = FALSE;
      break;
    }
    n_ins[i] = k;
    for (int j = 0; ok && j < k; j++) {
      JsonNode *e = json_array_get_element (ia, j);
      const char *s = JSON_NODE_HOLDS_VALUE (e)
          && json_node_get_value_type (e) == G_TYPE_STRING ?
          json_node_get_string (e) : NULL;
      int idx = s ? GPOINTER_TO_INT (g_hash_table_lookup (by_name, s)) : 0;
      if (!idx) {
        ae_set_model_error (error, what, "node '%s' has unknown input '%s'", raw[i].name,
            s ? s : "(not a string)");
        ok = FALSE;
      }
      ins[i][j] = idx - 1;
    }
  }
  const char *outname = get_string (root, "output");
  int out_raw = -1;
  if (ok) {
    int idx = outname ? GPOINTER_TO_INT (g_hash_table_lookup (by_name,
            outname)) : 0;
    if (!json_object_has_member (root, "output")) {
      ae_set_model_error (error, what, "ae.graph has no 'output' (the name of the node "
          "whose value the model returns)");
      ok = FALSE;
    } else if (!outname) {
      ae_set_model_error (error, what, "ae.graph 'output' must be a node name (a string)");
      ok = FALSE;
    } else if (idx == 1) {
      ae_set_model_error (error, what, "output is 'input': the graph computes nothing");
      ok = FALSE;
    } else if (idx == 0) {
      ae_set_model_error (error, what, "output '%s' is not a node of the graph", outname);
      ok = FALSE;
    }
    out_raw = idx - 1;
  }

  g_autofree int *order = g_new0 (int, total);
  int n_ordered = ok ? topo_sort (total, ins, n_ins, order) : 0;
  if (ok && n_ordered != total) {
    g_autofree char *cycle = describe_cycle (total, ins, n_ins, order,
        n_ordered, raw);
    ae_set_model_error (error, what, "the graph has a cycle: %s", cycle);
    ok = FALSE;
  }
  /* every node must contribute to the output */
  if (ok) {
    g_autofree gboolean *used = g_new0 (gboolean, total);
    used[out_raw] = TRUE;
    for (int k = total - 1; k >= 0; k--) {
      int i = order[k];
      if (used[i])
        for (int j = 0; j < n_ins[i]; j++)
          used[ins[i][j]] = TRUE;
    }
    for (int i = 0; ok && i < total; i++)
      if (!used[i]) {
        ae_set_model_error (error, what, i == 0 ? "the output does not depend on the "
            "input (%s unused)" : "node '%s' is unused (the output does not "
            "depend on it)", raw[i].name);
        ok = FALSE;
      }
  }
  if (!ok) {
    for (int i = 0; i < total; i++)
      g_free (raw[i].name);
    return NULL;
  }

  /* renumber into topological order; input stays 0 since it has no inputs
   * and Kahn's queue starts with the zero-in-degree nodes in index order */
  g_autofree int *pos = g_new0 (int, total);
  for (int k = 0; k < total; k++)
    pos[order[k]] = k;
  g->n_nodes = total;
  g->nodes = g_new0 (AeNode, total);
  for (int k = 0; k < total; k++) {
    int i = order[k];
    g->nodes[k] = raw[i];
    g->nodes[k].n_inputs = n_ins[i];
    for (int j = 0; j < n_ins[i]; j++)
      g->nodes[k].inputs[j] = pos[ins[i][j]];
  }
  g->output = pos[out_raw];
  if (g->nodes[0].op != AE_OP_INPUT) {
    ae_set_model_error (error, what, "the graph has a node without inputs");
    return NULL;
  }

  g->ratio_num = g_new0 (int, total);
  g->ratio_den = g_new0 (int, total);
  g->ratio_num[0] = g->ratio_den[0] = 1;
  g_autofree double *radius = g_new0 (double, total);
  if (!infer_static (g, what, radius, error))
    return NULL;

  const AeNode *out = &g->nodes[g->output];
  if (out->channels != g->nodes[0].channels) {
    ae_set_model_error (error, what, "output '%s' has %d channels; a %s model must output "
        "%d channel%s", out->name, out->channels, ae_color_name (g->color),
        g->nodes[0].channels, g->nodes[0].channels > 1 ? "s" : "");
    return NULL;
  }
  if (g->ratio_den[g->output] != 1 || g->ratio_num[g->output] != g->scale) {
    ae_set_model_error (error, what, "the network scales frames by %d/%d but the graph "
        "declares scale %d", g->ratio_num[g->output], g->ratio_den[g->output],
        g->scale);
    return NULL;
  }

  g->stride = 1;
  for (int i = 0; i < total; i++) {
    int d = g->ratio_den[i] / gcd (g->ratio_den[i], g->ratio_num[i]);
    g->stride = g->stride / gcd (g->stride, d) * d;
  }
  if (g->stride > 64) {
    ae_set_model_error (error, what, "total stride %d is out of range (at most 64)",
        g->stride);
    return NULL;
  }
  int r = (int) ceil (radius[g->output] - 1e-9);
  g->receptive_field = 2 * r + 1;
  g->halo = (r + g->stride - 1) / g->stride * g->stride;

  /* Check that every node really has size input * ratio, so that tiles and
   * padding are well defined (a conv without padding would shrink). */
  g_autofree AeShape *shapes = g_new0 (AeShape, total);
  if (!ae_graph_infer_shapes (g, 3 * g->stride, 2 * g->stride, shapes, error))
    return NULL;
  g->flops_per_pixel = 0;
  for (int i = 1; i < total; i++) {
    const AeNode *nd = &g->nodes[i];
    if (shapes[i].w * g->ratio_den[i] != 3 * g->stride * g->ratio_num[i]
        || shapes[i].h * g->ratio_den[i] != 2 * g->stride * g->ratio_num[i]) {
      ae_set_model_error (error, what, "node '%s' changes the frame size beyond its "
          "stride (check its padding): %dx%d from a %dx%d input", nd->name,
          shapes[i].w, shapes[i].h, 3 * g->stride, 2 * g->stride);
      return NULL;
    }
    g->flops_per_pixel += ae_node_flops (g, i, shapes);
    if (ae_node_is_conv (nd))
      g->n_params += (gint64) ae_node_weight_size (nd)
          + (nd->p.conv.has_bias ? nd->p.conv.out_channels : 0);
  }
  g->flops_per_pixel /= 6.0 * g->stride * g->stride;

  g->last_use = g_new0 (int, total);
  for (int i = 0; i < total; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++)
      g->last_use[g->nodes[i].inputs[k]] = i;
  g->last_use[g->output] = total;
  return g_steal_pointer (&g);
}

gboolean
ae_graph_infer_shapes (const AeGraph *g, int width, int height,
    AeShape *shapes, GError **error)
{
  if (width < 1 || height < 1 || width % g->stride || height % g->stride) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_FAILED,
        "input size %dx%d is not a positive multiple of the network's "
        "stride %d", width, height, g->stride);
    return FALSE;
  }
  shapes[0] = (AeShape) { g->nodes[0].channels, height, width };
  for (int i = 1; i < g->n_nodes; i++) {
    const AeNode *nd = &g->nodes[i];
    AeShape s = shapes[nd->inputs[0]];
    s.c = nd->channels;
    switch (nd->op) {
      case AE_OP_CONV2D:{
        const AeConvParams *c = &nd->p.conv;
        int ext = (c->kernel - 1) * c->dilation;
        s.h = (s.h + 2 * c->padding - ext - 1) / c->stride + 1;
        s.w = (s.w + 2 * c->padding - ext - 1) / c->stride + 1;
        break;
      }
      case AE_OP_CONV_TRANSPOSE2D:{
        const AeConvParams *c = &nd->p.conv;
        int ext = (c->kernel - 1) * c->dilation;
        s.h = (s.h - 1) * c->stride - 2 * c->padding + ext + c->output_padding
            + 1;
        s.w = (s.w - 1) * c->stride - 2 * c->padding + ext + c->output_padding
            + 1;
        break;
      }
      case AE_OP_PIXEL_SHUFFLE:
      case AE_OP_UPSAMPLE:
        s.h *= nd->p.resample.factor;
        s.w *= nd->p.resample.factor;
        break;
      case AE_OP_PIXEL_UNSHUFFLE:
        s.h /= nd->p.resample.factor;
        s.w /= nd->p.resample.factor;
        break;
      case AE_OP_MAX_POOL2D:
      case AE_OP_AVG_POOL2D:{
        const AePoolParams *p = &nd->p.pool;
        s.h = (s.h + 2 * p->padding - p->kernel) / p->stride + 1;
        s.w = (s.w + 2 * p->padding - p->kernel) / p->stride + 1;
        break;
      }
      case AE_OP_ADD:
      case AE_OP_CONCAT:
        for (int k = 1; k < nd->n_inputs; k++) {
          const AeShape *o = &shapes[nd->inputs[k]];
          if (o->h != s.h || o->w != s.w) {
            g_set_error (error, AE_COMPUTE_ERROR,
                AE_COMPUTE_ERROR_INVALID_MODEL, "node '%s' joins inputs of "
                "sizes %dx%d and %dx%d", nd->name, s.w, s.h, o->w, o->h);
            return FALSE;
          }
        }
        break;
      default:
        break;
    }
    if (s.h < 1 || s.w < 1) {
      g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
          "node '%s' produces an empty %dx%d output from a %dx%d input",
          nd->name, s.w, s.h, width, height);
      return FALSE;
    }
    shapes[i] = s;
  }
  return TRUE;
}

gboolean
ae_node_is_conv (const AeNode *nd)
{
  return nd->op == AE_OP_CONV2D || nd->op == AE_OP_CONV_TRANSPOSE2D;
}

gsize
ae_node_weight_size (const AeNode *nd)
{
  const AeConvParams *c = &nd->p.conv;
  if (!ae_node_is_conv (nd))
    return 0;
  return (gsize) c->out_channels * c->in_channels * c->kernel * c->kernel;
}

double
ae_node_flops (const AeGraph *g, int index, const AeShape *shapes)
{
  const AeNode *nd = &g->nodes[index];
  const AeShape *s = &shapes[index];
  double elems = (double) s->c * s->h * s->w;

  switch (nd->op) {
    case AE_OP_CONV2D:{
      const AeConvParams *c = &nd->p.conv;
      return 2.0 * c->in_channels * c->kernel * c->kernel * elems;
    }
    case AE_OP_CONV_TRANSPOSE2D:{
      const AeConvParams *c = &nd->p.conv;
      const AeShape *in = &shapes[nd->inputs[0]];
      return 2.0 * c->out_channels * c->kernel * c->kernel *
          ((double) in->c * in->h * in->w);
    }
    case AE_OP_MAX_POOL2D:
    case AE_OP_AVG_POOL2D:
      return elems * nd->p.pool.kernel * nd->p.pool.kernel;
    case AE_OP_ADD:
      return elems * (nd->n_inputs - 1);
    case AE_OP_ACT:
      return elems;
    case AE_OP_UPSAMPLE:
      return nd->p.resample.mode == AE_UPSAMPLE_BILINEAR ? 4 * elems : 0;
    default:
      return 0;
  }
}

const char *
ae_graph_get_json (const AeGraph *g)
{
  return g->json;
}

int
ae_graph_get_n_nodes (const AeGraph *g)
{
  return g->n_nodes;
}

const AeNode *
ae_graph_get_node (const AeGraph *g, int index)
{
  g_return_val_if_fail (index >= 0 && index < g->n_nodes, NULL);
  return &g->nodes[index];
}

int
ae_graph_find_node (const AeGraph *g, const char *name)
{
  for (int i = 0; i < g->n_nodes; i++)
    if (g_str_equal (g->nodes[i].name, name))
      return i;
  return -1;
}

int
ae_graph_get_output (const AeGraph *g)
{
  return g->output;
}

int
ae_graph_last_use (const AeGraph *g, int index)
{
  return g->last_use[index];
}

AeTask
ae_graph_get_task (const AeGraph *g)
{
  return g->task;
}

AeColor
ae_graph_get_color (const AeGraph *g)
{
  return g->color;
}

int
ae_graph_get_channels (const AeGraph *g)
{
  return g->nodes[0].channels;
}

int
ae_graph_get_scale (const AeGraph *g)
{
  return g->scale;
}

int
ae_graph_get_stride (const AeGraph *g)
{
  return g->stride;
}

int
ae_graph_get_halo (const AeGraph *g)
{
  return g->halo;
}

int
ae_graph_get_receptive_field (const AeGraph *g)
{
  return g->receptive_field;
}

double
ae_graph_get_flops_per_pixel (const AeGraph *g)
{
  return g->flops_per_pixel;
}

gint64
ae_graph_get_n_params (const AeGraph *g)
{
  return g->n_params;
}

gboolean
ae_graph_get_anomaly_calibration (const AeGraph *g, double *mean, double *std,
    double *threshold)
{
  if (!g->has_anomaly)
    return FALSE;
  if (mean)
    *mean = g->anomaly.mse_mean;
  if (std)
    *std = g->anomaly.mse_std;
  if (threshold)
    *threshold = g->anomaly.threshold;
  return TRUE;
}

gboolean
ae_graph_get_anomaly (const AeGraph *g, AeAnomalyCalibration *cal)
{
  if (!g->has_anomaly)
    return FALSE;
  if (cal)
    *cal = g->anomaly;
  return TRUE;
}
