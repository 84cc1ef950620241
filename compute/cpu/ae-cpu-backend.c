/* The OpenBLAS CPU backend: channels-last buffers, convolutions as im2col
 * blocks times repacked weights through cblas_sgemm, every op split across
 * the engine's pool. Buffers are assigned once per plan by liveness. */
#include "ae-backend-private.h"
#include "ae-cpu-ops.h"
#include "ae-error.h"

struct _AeBackendPlan {
  AeModel *model;
  const AeGraph *graph;
  AeParallel *pool;
  int max_w, max_h;
  int n_nodes;
  int *buffer_of;               /* node → index into buffers */
  float **buffers;
  int n_buffers;
  float **packed;               /* per conv node */
  float **thin;                 /* per direct conv node of < 8 outputs */
  float **scratch;              /* per worker */
  AeShape *shapes;
  double *profile;              /* seconds per node, or NULL */
};

static void
cpu_plan_free (AeBackendPlan *bp)
{
  if (!bp)
    return;
  for (int i = 0; i < bp->n_buffers; i++)
    g_free (bp->buffers[i]);
  for (int i = 0; i < bp->n_nodes; i++) {
    g_free (bp->packed[i]);
    g_free (bp->thin[i]);
  }
  g_free (bp->thin);
  if (bp->scratch)
    for (int i = 0; i < ae_parallel_get_n_threads (bp->pool); i++)
      g_free (bp->scratch[i]);
  g_free (bp->scratch);
  g_free (bp->buffers);
  g_free (bp->buffer_of);
  g_free (bp->packed);
  g_free (bp->shapes);
  ae_model_unref (bp->model);
  g_free (bp);
}

static float *
try_alloc (gsize n_floats, GError **error)
{
  float *p = n_floats < G_MAXSIZE / sizeof (float) ?
      g_try_malloc (MAX (n_floats, 1) * sizeof (float)) : NULL;
  if (!p)
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_MEMORY,
        "cannot allocate %" G_GSIZE_FORMAT " MB for a CPU buffer; use a "
        "smaller tile-size", n_floats * sizeof (float) >> 20);
  return p;
}

static AeBackendPlan *
cpu_plan_new (AeModel *m, AeParallel *pool, int max_w, int max_h,
    GError **error)
{
  const AeGraph *g = ae_model_get_graph (m);
  int n = ae_graph_get_n_nodes (g);
  g_autoptr (GArray) sizes = NULL;
  AeBackendPlan *bp = g_new0 (AeBackendPlan, 1);
  gsize scratch = 0;

  bp->model = ae_model_ref (m);
  bp->graph = g;
  bp->pool = pool;
  bp->max_w = max_w;
  bp->max_h = max_h;
  bp->n_nodes = n;
  bp->shapes = g_new0 (AeShape, n);
  bp->packed = g_new0 (float *, n);
  bp->thin = g_new0 (float *, n);
  bp->buffer_of = g_new0 (int, n);
  if (!ae_graph_infer_shapes (g, max_w, max_h, bp->shapes, error))
    goto error;
  /* the kernels count a tensor's pixels in an int */
  for (int i = 0; i < n; i++)
    if ((gint64) bp->shapes[i].h * bp->shapes[i].w > G_MAXINT) {
      g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_UNSUPPORTED,
          "a %dx%d tile makes node %d %dx%d, over the CPU's 2^31 pixels "
          "per tensor; use a smaller tile-size", max_w, max_h, i,
          bp->shapes[i].w, bp->shapes[i].h);
      goto error;
    }

  sizes = ae_backend_assign_buffers (g, bp->shapes, bp->buffer_of);
  for (int i = 0; i < n; i++) {
    const AeNode *nd = ae_graph_get_node (g, i);
    if (ae_node_is_conv (nd)) {
      const float *w = ae_model_get_weight (m, i);
      bp->packed[i] = ae_cpu_pack_conv (nd, w);
      if (ae_cpu_direct_supported (nd))
        bp->thin[i] = ae_cpu_direct_pack_thin (nd, w);
      else
        scratch = MAX (scratch, ae_cpu_conv_scratch (nd));
    }
  }
  bp->n_buffers = sizes->len;
  bp->buffers = g_new0 (float *, bp->n_buffers);
  for (int b = 0; b < bp->n_buffers; b++)
    if (!(bp->buffers[b] = try_alloc (g_array_index (sizes, gsize, b), error)))
      goto error;
  bp->scratch = g_new0 (float *, ae_parallel_get_n_threads (pool));
  for (int t = 0; scratch && t < ae_parallel_get_n_threads (pool); t++)
    if (!(bp->scratch[t] = try_alloc (scratch, error)))
      goto error;
  return bp;

error:
  cpu_plan_free (bp);
  return NULL;
}

static float *
cpu_input (AeBackendPlan *bp)
{
  return bp->buffers[bp->buffer_of[0]];
}

static gboolean
cpu_run (AeBackendPlan *bp, int w, int h, const float **out, GError **error)
{
  const AeGraph *g = bp->graph;
  AeShape *shapes = bp->shapes;

  g_return_val_if_fail (w <= bp->max_w && h <= bp->max_h, FALSE);
  if (!ae_graph_infer_shapes (g, w, h, shapes, error))
    return FALSE;

  for (int i = 1; i < bp->n_nodes; i++) {
    const AeNode *nd = ae_graph_get_node (g, i);
    gint64 t0 = bp->profile ? g_get_monotonic_time () : 0;
    float *dst = bp->buffers[bp->buffer_of[i]];
    AeCpuIn ins[AE_NODE_MAX_INPUTS];
    for (int k = 0; k < nd->n_inputs; k++) {
      ins[k].data = bp->buffers[bp->buffer_of[nd->inputs[k]]];
      ins[k].shape = shapes[nd->inputs[k]];
    }
    switch (nd->op) {
      case AE_OP_CONV2D:
        if (ae_cpu_direct_supported (nd)) {
          ae_cpu_conv2d_direct (bp->pool, nd, ins[0], bp->packed[i],
              bp->thin[i], ae_model_get_bias (bp->model, i), dst, shapes[i]);
          break;
        }
        ae_cpu_conv2d (bp->pool, nd, ins[0], bp->packed[i],
            ae_model_get_bias (bp->model, i), dst, shapes[i], bp->scratch);
        break;
      case AE_OP_CONV_TRANSPOSE2D:
        ae_cpu_conv_transpose2d (bp->pool, nd, ins[0], bp->packed[i],
            ae_model_get_bias (bp->model, i), dst, shapes[i], bp->scratch);
        break;
      default:
        ae_cpu_simple_op (bp->pool, nd, ins, dst, shapes[i]);
        break;
    }
    if (bp->profile)
      bp->profile[i] += (g_get_monotonic_time () - t0) * 1e-6;
  }
  *out = bp->buffers[bp->buffer_of[ae_graph_get_output (g)]];
  return TRUE;
}

static void
cpu_set_profile (AeBackendPlan *bp, double *seconds)
{
  bp->profile = seconds;
}

const AeBackend ae_cpu_backend = {
  .name = "cpu",
  .plan_new = cpu_plan_new,
  .plan_free = cpu_plan_free,
  .input = cpu_input,
  .run = cpu_run,
  .set_profile = cpu_set_profile,
};
