/* The start-up self-check: a tiny network that uses each kind of shader
 * (direct and GEMM convolutions, a strided one, pixel shuffle, concat, add,
 * the tensor conversions) runs on the device and on the CPU backend; the
 * device is used only if they agree. It catches broken drivers and fp16
 * storage that is advertised but wrong, before any frame is at stake. */
#include "ae-vk-private.h"
#include "ae-error.h"

#include <math.h>
#include <string.h>

#define W 19
#define H 13

static const char graph[] =
    "{\"task\": \"denoise\", \"color\": \"luma\", \"scale\": 1, \"nodes\": ["
    "{\"name\": \"a\", \"op\": \"conv2d\", \"inputs\": [\"input\"], \"out\": 8,"
    " \"kernel\": 3, \"stride\": 1, \"padding\": 1, \"act\": \"relu\"},"
    "{\"name\": \"b\", \"op\": \"conv2d\", \"inputs\": [\"a\"], \"out\": 16,"
    " \"kernel\": 3, \"stride\": 2, \"padding\": 1, \"act\": \"tanh\"},"
    "{\"name\": \"u\", \"op\": \"pixel_shuffle\", \"inputs\": [\"b\"],"
    " \"factor\": 2},"
    "{\"name\": \"c\", \"op\": \"concat\", \"inputs\": [\"u\", \"a\"]},"
    "{\"name\": \"o\", \"op\": \"conv2d\", \"inputs\": [\"c\"], \"out\": 1,"
    " \"kernel\": 3, \"stride\": 1, \"padding\": 1, \"act\": \"none\"},"
    "{\"name\": \"y\", \"op\": \"add\", \"inputs\": [\"o\", \"input\"]}],"
    " \"output\": \"y\"}";

/* Fills the weights with a fixed pseudo-random pattern. */
static void
fill (AeModel *m)
{
  const AeGraph *g = ae_model_get_graph (m);
  guint32 x = 12345;
  for (int i = 0; i < ae_graph_get_n_nodes (g); i++) {
    const AeNode *nd = ae_graph_get_node (g, i);
    if (nd->op != AE_OP_CONV2D)
      continue;
    const AeConvParams *c = &nd->p.conv;
    gsize n = (gsize) c->out_channels * c->in_channels * c->kernel * c->kernel;
    float *w = ae_model_get_weight (m, i), *b = ae_model_get_bias (m, i);
    float scale = 1.0f / sqrtf (c->in_channels * c->kernel * c->kernel);
    for (gsize k = 0; k < n; k++) {
      x = x * 1664525u + 1013904223u;
      w[k] = ((x >> 8) / 16777216.0f - 0.5f) * 2 * scale;
    }
    for (int k = 0; b && k < c->out_channels; k++)
      b[k] = 0.05f * (k % 5) - 0.1f;
  }
}

gboolean
ae_vk_self_check (AeVkDevice *d, GError **error)
{
  g_autoptr (AeModel) m = ae_model_new (graph, error);
  g_autoptr (AeEngine) cpu = NULL;
  g_autoptr (AePlan) ref = NULL;
  AeEngineParams cp = { .device = "cpu", .threads = 1 };
  AePlanParams pp = { .width = W, .height = H, .tile_size = -1 };
  float in[W * H], want[W * H], got[W * H];
  AeBackendPlan *bp = NULL;
  gboolean ok = FALSE;

  if (!m)
    return FALSE;
  fill (m);
  for (int i = 0; i < W * H; i++)
    in[i] = (float) ((i * 37) % 101) / 100.0f;
  if (!(cpu = ae_engine_new (&cp, error))
      || !(ref = ae_plan_new (cpu, m, &pp, error))
      || !ae_plan_run_tensor (ref, in, want, error))
    return FALSE;

  /* one tile: the padded frame (stride 2) */
  AeTile t = { 0, 0, W + 1, H + 1, 0, 0, W + 1, H + 1 };
  AeBackendPlanInfo info = { W, H, W + 1, H + 1, &t, 1 };
  AeBackendIo io = { .tin = in, .tout = got };
  if (!(bp = ae_vk_backend.plan_new_on (d, m, &info, error))
      || !ae_vk_backend.submit (bp, 0, &io, error)
      || !ae_vk_backend.wait (bp, 0, error))
    goto out;

  /* test hook: pretend the device computes wrongly */
  const char *fault = g_getenv ("AE_VK_FAULT");
  if (fault && (strstr (fault, "selfcheck-fp16") ? d->fp16
          : strstr (fault, "selfcheck") != NULL))
    got[W * H / 2] += 0.5f;

  double err = 0, tol = d->fp16 ? 1e-2 : 1e-4;
  for (int i = 0; i < W * H; i++)
    err = isnan (got[i]) ? INFINITY : MAX (err, fabs (got[i] - want[i]));
  if (!(err <= tol)) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_DEVICE,
        "results differ from the CPU's by %.3g (at most %.0e allowed)%s",
        err, tol, d->fp16 ? " with fp16 storage" : "");
    goto out;
  }
  ok = TRUE;
out:
  ae_vk_backend.plan_free (bp);
  return ok;
}
