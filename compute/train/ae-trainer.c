#include "ae-trainer.h"
#include "ae-backward.h"
#include "ae-cpu-ops.h"
#include "ae-degrade.h"
#include "ae-error.h"
#include "ae-parallel.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* One thread's share of a batch: its own serial op pool, a buffer for every
 * node's activation and gradient, and its sum of the weight gradients. */
typedef struct {
  AeParallel *serial;
  float **act, **grad;
  float *scratch;
  float **dw, **db;             /* packed like the forward weights */
  float *z, *logvar, *dlogvar, *dw_lv, *db_lv;  /* variational only */
  double loss;
} Worker;

struct _AeTrainer {
  AeModel *model;
  const AeGraph *graph;
  AeTrainerParams p;
  int n_nodes;
  AeShape *shapes;
  gboolean *needs_grad;
  float **packed, **thin;       /* this step's weights, per conv node */
  AeParallel *pool;
  int n_workers;
  Worker *workers;
  float *weights;               /* per sample, or NULL */
  GArray *params;               /* AeParam */
  GPtrArray *names;
  float **wgrad, **bgrad;       /* PyTorch layout, per conv node */
  /* variational */
  int vnode;
  AeNode lv_node;
  float *lv_w, *lv_b, *lv_wgrad, *lv_bgrad, *lv_packed, *lv_thin;
  /* current job */
  const float *input, *target;
  float *output;
  int n_samples;
  gint64 step;
  gboolean backward;
};

static gsize
shape_size (AeShape s)
{
  return (gsize) s.c * s.h * s.w;
}

static void
add_param (AeTrainer *t, char *name, float *value, float *grad, gsize n,
    gboolean decay)
{
  AeParam pr = { name, value, grad, n, decay };
  g_ptr_array_add (t->names, name);
  g_array_append_val (t->params, pr);
}

void
ae_trainer_free (AeTrainer *t)
{
  if (!t)
    return;
  for (int w = 0; t->workers && w < t->n_workers; w++) {
    Worker *wk = &t->workers[w];
    ae_parallel_free (wk->serial);
    /* a failed ae_trainer_new() leaves the later workers unallocated */
    for (int i = 0; wk->act && i < t->n_nodes; i++) {
      if (i > 0)
        g_free (wk->act[i]);
      g_free (wk->grad[i]);
      g_free (wk->dw[i]);
      g_free (wk->db[i]);
    }
    g_free (wk->act);
    g_free (wk->grad);
    g_free (wk->dw);
    g_free (wk->db);
    g_free (wk->scratch);
    g_free (wk->z);
    g_free (wk->logvar);
    g_free (wk->dlogvar);
    g_free (wk->dw_lv);
    g_free (wk->db_lv);
  }
  g_free (t->workers);
  g_free (t->weights);
  for (int i = 0; t->packed && i < t->n_nodes; i++) {
    g_free (t->packed[i]);
    g_free (t->thin[i]);
    g_free (t->wgrad[i]);
    g_free (t->bgrad[i]);
  }
  g_free (t->packed);
  g_free (t->thin);
  g_free (t->wgrad);
  g_free (t->bgrad);
  g_free (t->lv_w);
  g_free (t->lv_b);
  g_free (t->lv_wgrad);
  g_free (t->lv_bgrad);
  g_free (t->lv_packed);
  g_free (t->lv_thin);
  g_free (t->shapes);
  g_free (t->needs_grad);
  if (t->params)
    g_array_unref (t->params);
  if (t->names)
    g_ptr_array_unref (t->names);
  ae_parallel_free (t->pool);
  if (t->model)
    ae_model_unref (t->model);
  g_free ((char *) t->p.variational);
  g_free (t);
}

static gboolean
setup_variational (AeTrainer *t, GError **error)
{
  const AeGraph *g = t->graph;
  int v = ae_graph_find_node (g, t->p.variational);
  const AeNode *nd = v > 0 ? ae_graph_get_node (g, v) : NULL;

  if (!nd || nd->op != AE_OP_CONV2D || nd->p.conv.act != AE_ACT_NONE
      || v == ae_graph_get_output (g)) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_ARGUMENT,
        "variational bottleneck '%s' must name a conv2d node with act "
        "'none' that is not the output", t->p.variational);
    return FALSE;
  }
  t->vnode = v;
  t->lv_node = *nd;
  t->lv_node.p.conv.has_bias = TRUE;
  gsize n = ae_node_weight_size (nd);
  t->lv_w = g_new0 (float, n);
  t->lv_wgrad = g_new0 (float, n);
  t->lv_b = g_new0 (float, nd->channels);
  t->lv_bgrad = g_new0 (float, nd->channels);
  add_param (t, g_strdup_printf ("%s.logvar.weight", nd->name), t->lv_w,
      t->lv_wgrad, n, TRUE);
  add_param (t, g_strdup_printf ("%s.logvar.bias", nd->name), t->lv_b,
      t->lv_bgrad, nd->channels, FALSE);
  return TRUE;
}

AeTrainer *
ae_trainer_new (AeModel *m, const AeTrainerParams *p, GError **error)
{
  g_autoptr (AeTrainer) t = g_new0 (AeTrainer, 1);
  const AeGraph *g = ae_model_get_graph (m);
  int n = ae_graph_get_n_nodes (g);
  int stride = ae_graph_get_stride (g);

  t->model = ae_model_ref (m);
  t->graph = g;
  t->p = *p;
  t->p.variational = g_strdup (p->variational);
  t->n_nodes = n;
  t->vnode = -1;
  t->params = g_array_new (FALSE, FALSE, sizeof (AeParam));
  t->names = g_ptr_array_new_with_free_func (g_free);

  /* the backward tells leaky_relu's branches apart by the output's sign,
   * which a negative slope makes positive on both */
  for (int i = 1; i < n; i++) {
    const AeNode *nd = ae_graph_get_node (g, i);
    gboolean conv = ae_node_is_conv (nd), act = nd->op == AE_OP_ACT;
    AeAct a = conv ? nd->p.conv.act : act ? nd->p.act.act : AE_ACT_NONE;
    float slope = conv ? nd->p.conv.slope : act ? nd->p.act.slope : 0.0f;
    if (a == AE_ACT_LEAKY_RELU && slope < 0) {
      g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_UNSUPPORTED,
          "node '%s': leaky_relu with a negative slope (%g) cannot be "
          "trained here (the engine runs it)", nd->name, slope);
      return NULL;
    }
  }
  if (p->batch < 1 || p->width < 1 || p->height < 1
      || p->width % stride || p->height % stride) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_ARGUMENT,
        "training patches of %dx%d (batch %d) do not suit this network: "
        "sides must be positive multiples of its stride %d", p->width,
        p->height, p->batch, stride);
    return NULL;
  }
  t->shapes = g_new0 (AeShape, n);
  if (!ae_graph_infer_shapes (g, p->width, p->height, t->shapes, error))
    return NULL;

  t->needs_grad = g_new0 (gboolean, n);
  t->packed = g_new0 (float *, n);
  t->thin = g_new0 (float *, n);
  t->wgrad = g_new0 (float *, n);
  t->bgrad = g_new0 (float *, n);
  for (int i = 1; i < n; i++) {
    const AeNode *nd = ae_graph_get_node (g, i);
    t->needs_grad[i] = ae_node_is_conv (nd);
    for (int k = 0; k < nd->n_inputs; k++)
      t->needs_grad[i] |= t->needs_grad[nd->inputs[k]];
    if (!ae_node_is_conv (nd))
      continue;
    t->wgrad[i] = g_new0 (float, ae_node_weight_size (nd));
    add_param (t, g_strdup_printf ("%s.weight", nd->name),
        ae_model_get_weight (m, i), t->wgrad[i], ae_node_weight_size (nd), TRUE);
    if (nd->p.conv.has_bias) {
      t->bgrad[i] = g_new0 (float, nd->channels);
      add_param (t, g_strdup_printf ("%s.bias", nd->name),
          ae_model_get_bias (m, i), t->bgrad[i], nd->channels, FALSE);
    }
  }
  if (p->variational && !setup_variational (t, error))
    return NULL;

  openblas_set_num_threads (1);
  t->pool = ae_parallel_new (p->threads);
  t->n_workers = MIN (ae_parallel_get_n_threads (t->pool), p->batch);
  t->workers = g_new0 (Worker, t->n_workers);
  for (int w = 0; w < t->n_workers; w++) {
    Worker *wk = &t->workers[w];
    gsize scratch = 0;
    wk->serial = ae_parallel_new (1);
    wk->act = g_new0 (float *, n);
    wk->grad = g_new0 (float *, n);
    wk->dw = g_new0 (float *, n);
    wk->db = g_new0 (float *, n);
    for (int i = 0; i < n; i++) {
      const AeNode *nd = ae_graph_get_node (g, i);
      gsize sz = shape_size (t->shapes[i]);
      if (i > 0)
        wk->act[i] = g_try_new (float, sz);
      if (t->needs_grad[i])
        wk->grad[i] = g_try_new (float, sz);
      if ((i > 0 && !wk->act[i]) || (t->needs_grad[i] && !wk->grad[i])) {
        g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_MEMORY,
            "cannot allocate training buffers for %dx%d patches; use "
            "smaller patches or fewer threads", p->width, p->height);
        return NULL;
      }
      if (!ae_node_is_conv (nd))
        continue;
      wk->dw[i] = g_new0 (float, ae_node_weight_size (nd));
      if (nd->p.conv.has_bias)
        wk->db[i] = g_new0 (float, nd->channels);
      AeShape in = t->shapes[nd->inputs[0]];
      /* the engine's kernels run only its conv2d forwards (run_conv) */
      if (nd->op == AE_OP_CONV2D)
        scratch = MAX (scratch, ae_cpu_conv_scratch (nd));
      scratch = MAX (scratch, ae_backward_conv_scratch (nd, in, t->shapes[i]));
    }
    wk->scratch = g_try_new (float, MAX (scratch, 1));
    if (!wk->scratch) {
      g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_MEMORY,
          "cannot allocate %" G_GSIZE_FORMAT " MB of training scratch",
          scratch * sizeof (float) >> 20);
      return NULL;
    }
    if (t->vnode > 0) {
      gsize sz = shape_size (t->shapes[t->vnode]);
      wk->z = g_new (float, sz);
      wk->logvar = g_new (float, sz);
      wk->dlogvar = g_new (float, sz);
      wk->dw_lv = g_new0 (float, ae_node_weight_size (&t->lv_node));
      wk->db_lv = g_new0 (float, t->lv_node.channels);
    }
  }
  return g_steal_pointer (&t);
}

/* The conv whose output, through pixel_shuffle only, is added at the
 * graph's output: the residual head of a denoiser or upscaler; -1 if none. */
static int
find_residual_head (const AeGraph *g)
{
  const AeNode *out = ae_graph_get_node (g, ae_graph_get_output (g));
  if (out->op != AE_OP_ADD)
    return -1;
  for (int k = 0; k < out->n_inputs; k++) {
    int i = out->inputs[k];
    while (ae_graph_get_node (g, i)->op == AE_OP_PIXEL_SHUFFLE)
      i = ae_graph_get_node (g, i)->inputs[0];
    if (ae_node_is_conv (ae_graph_get_node (g, i)))
      return i;
  }
  return -1;
}

void
ae_trainer_init_weights (AeTrainer *t, guint64 seed)
{
  AeRng rng;
  ae_rng_init (&rng, seed, 0);
  int head = find_residual_head (t->graph);

  for (int i = 1; i <= t->n_nodes; i++) {
    const AeNode *nd;
    float *w, *b;
    if (i == t->n_nodes) {
      if (t->vnode < 0)
        break;
      nd = &t->lv_node;
      w = t->lv_w;
      b = t->lv_b;
    } else {
      nd = ae_graph_get_node (t->graph, i);
      if (!ae_node_is_conv (nd))
        continue;
      w = ae_model_get_weight (t->model, i);
      b = ae_model_get_bias (t->model, i);
    }
    const AeConvParams *c = &nd->p.conv;
    double fan_in = (double) c->in_channels * c->kernel * c->kernel;
    if (nd->op == AE_OP_CONV_TRANSPOSE2D)
      fan_in /= (double) c->stride * c->stride;
    gboolean rectified = c->act == AE_ACT_RELU || c->act == AE_ACT_LEAKY_RELU;
    double bound = sqrt ((rectified ? 6.0 : 3.0) / MAX (fan_in, 1.0));
    /* A residual head at full scale makes the untrained network add noise
     * as strong as the picture; the first steps' large gradients then
     * seem to have silenced the ReLUs of an RGB dn-fast: it still returned
     * its input exactly 4,700 steps later. A tenth starts close to the
     * identity. */
    if (i == head)
      bound *= 0.1;
    for (gsize j = 0; j < ae_node_weight_size (nd); j++)
      w[j] = (float) ((2 * ae_rng_uniform (&rng) - 1) * bound);
    if (b)
      memset (b, 0, sizeof (float) * nd->channels);
  }
}

/* conv2d on the engine's direct kernels where they take it (faster than
 * im2col + GEMM on training patches too, now that every pixel of a row,
 * borders included, runs in multi-pixel register blocks), else im2col +
 * GEMM; transposed convs as one GEMM + col2im. */
static void
run_conv (Worker *wk, const AeNode *nd, AeCpuIn in, const float *packed,
    const float *thin, const float *bias, float *out, AeShape os)
{
  if (nd->op == AE_OP_CONV_TRANSPOSE2D)
    ae_backward_conv_transpose2d_forward (nd, in, packed, bias, out, os,
        wk->scratch);
  else if (ae_cpu_direct_supported (nd))
    ae_cpu_conv2d_direct (wk->serial, nd, in, packed, thin, bias, out, os);
  else
    ae_cpu_conv2d (wk->serial, nd, in, packed, bias, out, os, &wk->scratch);
}

/* The activation a node's consumers read: z instead of the latent mean. */
static float *
consumed (AeTrainer *t, Worker *wk, int i)
{
  return i == t->vnode && t->backward ? wk->z : wk->act[i];
}

/* XORed into the seed of the latent noise ("latent" in ASCII) */
#define LATENT_SEED G_GUINT64_CONSTANT (0x6c6174656e74)

static void
forward_sample (AeTrainer *t, Worker *wk, int s)
{
  const AeGraph *g = t->graph;

  wk->act[0] = (float *) t->input + s * shape_size (t->shapes[0]);
  for (int i = 1; i < t->n_nodes; i++) {
    const AeNode *nd = ae_graph_get_node (g, i);
    AeCpuIn ins[AE_NODE_MAX_INPUTS];
    for (int k = 0; k < nd->n_inputs; k++) {
      ins[k].data = consumed (t, wk, nd->inputs[k]);
      ins[k].shape = t->shapes[nd->inputs[k]];
    }
    if (ae_node_is_conv (nd))
      run_conv (wk, nd, ins[0], t->packed[i], t->thin[i],
          ae_model_get_bias (t->model, i), wk->act[i], t->shapes[i]);
    else
      ae_cpu_simple_op (wk->serial, nd, ins, wk->act[i], t->shapes[i]);

    if (i == t->vnode && t->backward) {
      gsize sz = shape_size (t->shapes[i]);
      AeRng rng;
      /* one stream per (step, sample): noise independent of the threads;
       * the seed differs from the batch sampler's, whose streams are
       * numbered the same way */
      ae_rng_init (&rng, t->p.seed ^ LATENT_SEED,
          (guint64) t->step * t->p.batch + s);
      run_conv (wk, &t->lv_node, ins[0], t->lv_packed, t->lv_thin, t->lv_b,
          wk->logvar, t->shapes[i]);
      for (gsize j = 0; j < sz; j++)
        wk->z[j] = wk->act[i][j] + expf (0.5f * wk->logvar[j])
            * (float) ae_rng_normal (&rng);
    }
  }
}

static void
backward_sample (AeTrainer *t, Worker *wk, int s)
{
  const AeGraph *g = t->graph;
  int out = ae_graph_get_output (g);
  gsize n_out = shape_size (t->shapes[out]);
  float scale = (t->weights ? t->weights[s] : 1.0f)
      / ((double) n_out * t->p.batch);

  for (int i = 1; i < t->n_nodes; i++)
    if (wk->grad[i])
      memset (wk->grad[i], 0, sizeof (float) * shape_size (t->shapes[i]));
  wk->loss += scale * ae_loss_eval (t->p.loss, wk->act[out],
      t->target + s * n_out, n_out, scale, wk->grad[out]);

  for (int i = t->n_nodes - 1; i >= 1; i--) {
    const AeNode *nd = ae_graph_get_node (g, i);
    AeCpuIn ins[AE_NODE_MAX_INPUTS];
    float *dx[AE_NODE_MAX_INPUTS];
    for (int k = 0; k < nd->n_inputs; k++) {
      int src = nd->inputs[k];
      ins[k].data = consumed (t, wk, src);
      ins[k].shape = t->shapes[src];
      dx[k] = t->needs_grad[src] ? wk->grad[src] : NULL;
    }
    float *dy = wk->grad[i];
    gsize sz = shape_size (t->shapes[i]);

    if (i == t->vnode) {
      /* d/dz arrived in dy: reparameterise, then add the KL term */
      float kl_scale = t->p.kl_weight / ((double) sz * t->p.batch);
      /* dz/dlogvar = sd·ε/2 = (z - mu)/2, with no division by an sd
       * that may have underflowed to 0 */
      for (gsize j = 0; j < sz; j++)
        wk->dlogvar[j] = 0.5f * dy[j] * (wk->z[j] - wk->act[i][j]);
      wk->loss += kl_scale
          * ae_loss_kl (wk->act[i], wk->logvar, sz, kl_scale, dy, wk->dlogvar);
      ae_backward_conv (&t->lv_node, ins[0], wk->dlogvar, t->shapes[i],
          t->lv_packed, dx[0], wk->dw_lv, wk->db_lv, wk->scratch);
    }
    if (ae_node_is_conv (nd)) {
      ae_backward_act (nd->p.conv.act, nd->p.conv.slope, wk->act[i], dy, sz);
      ae_backward_conv (nd, ins[0], dy, t->shapes[i], t->packed[i], dx[0],
          wk->dw[i], wk->db[i], wk->scratch);
    } else {
      ae_backward_simple (nd, ins, wk->act[i], t->shapes[i], dy, dx);
    }
  }
}

static void
worker_task (gpointer data, int w, int thread)
{
  AeTrainer *t = data;
  Worker *wk = &t->workers[w];
  int out = ae_graph_get_output (t->graph);
  gsize n_out = shape_size (t->shapes[out]);

  for (int s = w; s < t->n_samples; s += t->n_workers) {
    forward_sample (t, wk, s);
    if (t->backward)
      backward_sample (t, wk, s);
    else
      memcpy (t->output + s * n_out, wk->act[out], sizeof (float) * n_out);
  }
}

static void
pack_weights (AeTrainer *t)
{
  for (int i = 1; i < t->n_nodes; i++) {
    const AeNode *nd = ae_graph_get_node (t->graph, i);
    if (!ae_node_is_conv (nd))
      continue;
    g_free (t->packed[i]);
    g_free (t->thin[i]);
    t->packed[i] = ae_backward_pack_weight (nd,
        ae_model_get_weight (t->model, i));
    t->thin[i] = ae_cpu_direct_supported (nd) ?
        ae_cpu_direct_pack_thin (nd, ae_model_get_weight (t->model, i)) : NULL;
  }
  if (t->vnode > 0) {
    g_free (t->lv_packed);
    g_free (t->lv_thin);
    t->lv_packed = ae_backward_pack_weight (&t->lv_node, t->lv_w);
    t->lv_thin = ae_cpu_direct_supported (&t->lv_node) ?
        ae_cpu_direct_pack_thin (&t->lv_node, t->lv_w) : NULL;
  }
}

static void
sum_packed (AeTrainer *t, const AeNode *nd, float *const *per_worker,
    float *grad)
{
  gsize n = ae_node_weight_size (nd);
  float *acc = per_worker[0];
  /* in worker order, so the sum does not depend on timing */
  for (int w = 1; w < t->n_workers; w++)
    for (gsize j = 0; j < n; j++)
      acc[j] += per_worker[w][j];
  memset (grad, 0, sizeof (float) * n);
  ae_backward_unpack_weight (nd, acc, grad);
}

static void
sum_bias (AeTrainer *t, int c, float *const *per_worker, float *grad)
{
  for (int o = 0; o < c; o++) {
    float s = 0;
    for (int w = 0; w < t->n_workers; w++)
      s += per_worker[w][o];
    grad[o] = s;
  }
}

double
ae_trainer_compute_gradients (AeTrainer *t, const float *input,
    const float *target, gint64 step)
{
  g_autofree float **dws = g_new (float *, t->n_workers);
  g_autofree float **dbs = g_new (float *, t->n_workers);
  double loss = 0;

  pack_weights (t);
  for (int w = 0; w < t->n_workers; w++) {
    Worker *wk = &t->workers[w];
    wk->loss = 0;
    for (int i = 1; i < t->n_nodes; i++) {
      const AeNode *nd = ae_graph_get_node (t->graph, i);
      if (!ae_node_is_conv (nd))
        continue;
      memset (wk->dw[i], 0, sizeof (float) * ae_node_weight_size (nd));
      if (wk->db[i])
        memset (wk->db[i], 0, sizeof (float) * nd->channels);
    }
    if (t->vnode > 0) {
      memset (wk->dw_lv, 0, sizeof (float) * ae_node_weight_size (&t->lv_node));
      memset (wk->db_lv, 0, sizeof (float) * t->lv_node.channels);
    }
  }
  t->input = input;
  t->target = target;
  t->n_samples = t->p.batch;
  t->step = step;
  t->backward = TRUE;
  ae_parallel_run (t->pool, t->n_workers, worker_task, t);

  for (int i = 1; i < t->n_nodes; i++) {
    const AeNode *nd = ae_graph_get_node (t->graph, i);
    if (!ae_node_is_conv (nd))
      continue;
    for (int w = 0; w < t->n_workers; w++) {
      dws[w] = t->workers[w].dw[i];
      dbs[w] = t->workers[w].db[i];
    }
    sum_packed (t, nd, dws, t->wgrad[i]);
    if (t->bgrad[i])
      sum_bias (t, nd->channels, dbs, t->bgrad[i]);
  }
  if (t->vnode > 0) {
    for (int w = 0; w < t->n_workers; w++) {
      dws[w] = t->workers[w].dw_lv;
      dbs[w] = t->workers[w].db_lv;
    }
    sum_packed (t, &t->lv_node, dws, t->lv_wgrad);
    sum_bias (t, t->lv_node.channels, dbs, t->lv_bgrad);
  }
  for (int w = 0; w < t->n_workers; w++)
    loss += t->workers[w].loss;
  return loss;
}

void
ae_trainer_set_sample_weights (AeTrainer *t, const float *weights)
{
  g_free (t->weights);
  t->weights = weights ? g_memdup2 (weights, sizeof (float) * t->p.batch)
      : NULL;
}

void
ae_trainer_forward (AeTrainer *t, const float *input, float *output, int n)
{
  g_return_if_fail (n >= 0 && n <= t->p.batch);
  pack_weights (t);
  t->input = input;
  t->output = output;
  t->n_samples = n;
  t->backward = FALSE;
  ae_parallel_run (t->pool, t->n_workers, worker_task, t);
}

const AeParam *
ae_trainer_get_params (AeTrainer *t, int *n_params)
{
  *n_params = t->params->len;
  return (const AeParam *) t->params->data;
}

gsize
ae_trainer_get_input_size (const AeTrainer *t)
{
  return shape_size (t->shapes[0]);
}

gsize
ae_trainer_get_output_size (const AeTrainer *t)
{
  return shape_size (t->shapes[ae_graph_get_output (t->graph)]);
}
