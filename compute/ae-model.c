#include "ae-model.h"
#include "ae-error.h"

#include <math.h>
#include <string.h>

struct _AeModel {
  gint ref;
  char *name;
  AeGraph *graph;
  float **weight;               /* per node, NULL for non-conv */
  float **bias;
};

/* Expected PyTorch shape of a node's weight. */
static void
weight_shape (const AeNode *nd, gint64 shape[4])
{
  const AeConvParams *c = &nd->p.conv;
  gboolean tr = nd->op == AE_OP_CONV_TRANSPOSE2D;
  shape[0] = tr ? c->in_channels : c->out_channels;
  shape[1] = tr ? c->out_channels : c->in_channels;
  shape[2] = shape[3] = c->kernel;
}

static char *
shape_str (int n, const gint64 *shape)
{
  GString *s = g_string_new ("[");
  for (int i = 0; i < n; i++)
    g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "",
        shape[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static AeModel *
model_alloc (AeGraph *graph, const char *name)
{
  AeModel *m = g_new0 (AeModel, 1);
  int n = ae_graph_get_n_nodes (graph);

  m->ref = 1;
  m->name = g_strdup (name);
  m->graph = graph;
  m->weight = g_new0 (float *, n);
  m->bias = g_new0 (float *, n);
  for (int i = 0; i < n; i++) {
    const AeNode *nd = ae_graph_get_node (graph, i);
    if (!ae_node_is_conv (nd))
      continue;
    m->weight[i] = g_new0 (float, ae_node_weight_size (nd));
    if (nd->p.conv.has_bias)
      m->bias[i] = g_new0 (float, nd->p.conv.out_channels);
  }
  return m;
}

static char *
tensor_name (const AeNode *nd, const char *kind)
{
  return g_strdup_printf ("%s.%s", nd->name, kind);
}

/* Checks that the tensor @nd.@kind exists and has @shape. */
static gboolean
check_tensor_shape (const AeSafetensors *st, const char *what,
    const AeNode *nd, const char *kind, int n_dims, const gint64 *shape,
    GError **error)
{
  g_autofree char *tname = tensor_name (nd, kind);
  const AeTensorView *v = ae_safetensors_lookup (st, tname);
  gboolean tr = nd->op == AE_OP_CONV_TRANSPOSE2D;

  g_assert (v);
  gboolean same = v->n_dims == n_dims;
  for (int i = 0; same && i < n_dims; i++)
    same = v->shape[i] == shape[i];
  if (!same) {
    g_autofree char *want = shape_str (n_dims, shape);
    g_autofree char *have = shape_str (v->n_dims, v->shape);
    ae_set_model_error (error, what, "node '%s' expects %s %s (%s for %s with %d input "
        "and %d output channels), tensor '%s' is %s", nd->name, kind, want,
        n_dims == 1 ? "[out]" : tr ? "[in, out, k, k]" : "[out, in, k, k]",
        ae_op_name (nd->op), nd->p.conv.in_channels,
        nd->p.conv.out_channels, tname, have);
    return FALSE;
  }
  return TRUE;
}

/* Copies one tensor, already checked, into @dst and checks its values. */
static gboolean
read_tensor (const AeSafetensors *st, const char *what, const AeNode *nd,
    const char *kind, float *dst, GError **error)
{
  g_autofree char *tname = tensor_name (nd, kind);
  const AeTensorView *v = ae_safetensors_lookup (st, tname);

  ae_tensor_view_read_f32 (v, dst);
  for (gint64 i = 0; i < v->n_elements; i++)
    if (!isfinite (dst[i])) {
      ae_set_model_error (error, what, "tensor '%s' element %" G_GINT64_FORMAT
          " is not finite (%g); weights and biases must be finite numbers",
          tname, i, dst[i]);
      return FALSE;
    }
  return TRUE;
}

/* Why no node uses tensor @tn, or NULL if one does. */
static char *
unused_reason (const AeGraph *graph, const char *tn)
{
  const char *dot = strrchr (tn, '.');
  g_autofree char *node = dot ? g_strndup (tn, dot - tn) : g_strdup (tn);
  int idx = ae_graph_find_node (graph, node);
  const AeNode *nd = idx >= 0 ? ae_graph_get_node (graph, idx) : NULL;

  if (!nd || !dot || !(g_str_equal (dot, ".weight")
          || g_str_equal (dot, ".bias")))
    return g_strdup ("no node of the graph uses it (tensors are named "
        "<node>.weight and <node>.bias)");
  if (!ae_node_is_conv (nd))
    return g_strdup_printf ("node '%s' (%s) has no weights", nd->name,
        ae_op_name (nd->op));
  if (g_str_equal (dot, ".bias") && !nd->p.conv.has_bias)
    return g_strdup_printf ("node '%s' has \"bias\": false", nd->name);
  return NULL;
}

AeModel *
ae_model_load_from_bytes (GBytes *bytes, const char *what, GError **error)
{
  g_autoptr (AeSafetensors) st = ae_safetensors_parse (bytes, what, error);
  if (!st)
    return NULL;

  const char *fmt = ae_safetensors_get_metadata (st, "ae.format");
  const char *json = ae_safetensors_get_metadata (st, "ae.graph");
  if (!json) {
    ae_set_model_error (error, what, "no 'ae.graph' in the file's __metadata__; this is "
        "not a gst-autoencoder model");
    return NULL;
  }
  if (!fmt || !g_str_equal (fmt, "1")) {
    ae_set_model_error (error, what, "ae.format is '%s'; this version reads format 1",
        fmt ? fmt : "(missing)");
    return NULL;
  }
  g_autoptr (AeGraph) graph = ae_graph_new_from_json (json, what, error);
  if (!graph)
    return NULL;

  /* Check every tensor against the graph before allocating anything the
   * graph asks for: a small malformed file must not make us allocate
   * gigabytes. Order: missing, unexpected, shape, values. */
  int n = ae_graph_get_n_nodes (graph);
  for (int i = 0; i < n; i++) {
    const AeNode *nd = ae_graph_get_node (graph, i);
    if (!ae_node_is_conv (nd))
      continue;
    for (int k = 0; k < (nd->p.conv.has_bias ? 2 : 1); k++) {
      g_autofree char *tname = tensor_name (nd, k ? "bias" : "weight");
      if (!ae_safetensors_lookup (st, tname)) {
        ae_set_model_error (error, what, "missing tensor '%s' for node '%s' (%s)", tname,
            nd->name, ae_op_name (nd->op));
        return NULL;
      }
    }
  }
  for (guint t = 0; t < ae_safetensors_get_n_tensors (st); t++) {
    const char *tn = ae_safetensors_get_tensor (st, t)->name;
    g_autofree char *why = unused_reason (graph, tn);
    if (why) {
      ae_set_model_error (error, what, "unexpected tensor '%s': %s", tn, why);
      return NULL;
    }
  }
  for (int i = 0; i < n; i++) {
    const AeNode *nd = ae_graph_get_node (graph, i);
    if (!ae_node_is_conv (nd))
      continue;
    gint64 ws[4], bs = nd->p.conv.out_channels;
    weight_shape (nd, ws);
    if (!check_tensor_shape (st, what, nd, "weight", 4, ws, error)
        || (nd->p.conv.has_bias
            && !check_tensor_shape (st, what, nd, "bias", 1, &bs, error)))
      return NULL;
  }

  g_autoptr (AeModel) m = model_alloc (g_steal_pointer (&graph), what);
  for (int i = 0; i < n; i++) {
    const AeNode *nd = ae_graph_get_node (m->graph, i);
    if (!ae_node_is_conv (nd))
      continue;
    if (!read_tensor (st, what, nd, "weight", m->weight[i], error)
        || (nd->p.conv.has_bias
            && !read_tensor (st, what, nd, "bias", m->bias[i], error)))
      return NULL;
  }
  return g_steal_pointer (&m);
}

AeModel *
ae_model_load (const char *path, GError **error)
{
  g_autoptr (GBytes) bytes = ae_safetensors_map_file (path, error);
  if (!bytes) {
    g_prefix_error (error, "cannot read model: ");
    return NULL;
  }
  g_autofree char *base = g_path_get_basename (path);
  return ae_model_load_from_bytes (bytes, base, error);
}

AeModel *
ae_model_new (const char *graph_json, GError **error)
{
  AeGraph *graph = ae_graph_new_from_json (graph_json, "graph", error);
  return graph ? model_alloc (graph, "(memory)") : NULL;
}

AeModel *
ae_model_ref (AeModel *m)
{
  g_atomic_int_inc (&m->ref);
  return m;
}

void
ae_model_unref (AeModel *m)
{
  if (!m || !g_atomic_int_dec_and_test (&m->ref))
    return;
  int n = ae_graph_get_n_nodes (m->graph);
  for (int i = 0; i < n; i++) {
    g_free (m->weight[i]);
    g_free (m->bias[i]);
  }
  g_free (m->weight);
  g_free (m->bias);
  ae_graph_free (m->graph);
  g_free (m->name);
  g_free (m);
}

gboolean
ae_model_save (const AeModel *m, const char *path, AeDType dtype,
    GError **error)
{
  int n = ae_graph_get_n_nodes (m->graph);
  g_autoptr (GArray) ts = g_array_new (FALSE, TRUE, sizeof (AeTensorOut));
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

  for (int i = 0; i < n; i++) {
    const AeNode *nd = ae_graph_get_node (m->graph, i);
    if (!ae_node_is_conv (nd))
      continue;
    AeTensorOut w = { .dtype = dtype, .n_dims = 4, .data = m->weight[i] };
    weight_shape (nd, w.shape);
    w.name = g_strdup_printf ("%s.weight", nd->name);
    g_ptr_array_add (names, (char *) w.name);
    g_array_append_val (ts, w);
    if (m->bias[i]) {
      AeTensorOut b = { .dtype = dtype, .n_dims = 1, .data = m->bias[i],
        .shape = { nd->p.conv.out_channels }
      };
      b.name = g_strdup_printf ("%s.bias", nd->name);
      g_ptr_array_add (names, (char *) b.name);
      g_array_append_val (ts, b);
    }
  }
  const char *meta[] = { "ae.format", "1", "ae.graph",
    ae_graph_get_json (m->graph), NULL
  };
  return ae_safetensors_save (path, (AeTensorOut *) ts->data, ts->len, meta,
      error);
}

const AeGraph *
ae_model_get_graph (const AeModel *m)
{
  return m->graph;
}

float *
ae_model_get_weight (const AeModel *m, int node)
{
  return m->weight[node];
}

float *
ae_model_get_bias (const AeModel *m, int node)
{
  return m->bias[node];
}

const char *
ae_model_get_name (const AeModel *m)
{
  return m->name;
}
