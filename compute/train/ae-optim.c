#include "ae-optim.h"

#include <math.h>

struct _AeAdam {
  const AeParam *params;
  int n;
  float **m, **v;
  gint64 step;
};

AeAdam *
ae_adam_new (const AeParam *params, int n_params)
{
  AeAdam *a = g_new0 (AeAdam, 1);
  a->params = params;
  a->n = n_params;
  a->m = g_new0 (float *, n_params);
  a->v = g_new0 (float *, n_params);
  for (int i = 0; i < n_params; i++) {
    a->m[i] = g_new0 (float, params[i].n);
    a->v[i] = g_new0 (float, params[i].n);
  }
  return a;
}

void
ae_adam_free (AeAdam *a)
{
  if (!a)
    return;
  for (int i = 0; i < a->n; i++) {
    g_free (a->m[i]);
    g_free (a->v[i]);
  }
  g_free (a->m);
  g_free (a->v);
  g_free (a);
}

void
ae_adam_step (AeAdam *a, const AeAdamParams *p)
{
  a->step++;
  double c1 = 1 - pow (p->beta1, a->step), c2 = 1 - pow (p->beta2, a->step);
  float b1 = p->beta1, b2 = p->beta2;
  float step = p->lr / c1, rc2 = 1 / sqrt (c2), eps = p->eps;
  float decay = p->lr * p->weight_decay;

  for (int i = 0; i < a->n; i++) {
    const AeParam *pr = &a->params[i];
    float *m = a->m[i], *v = a->v[i], *w = pr->value;
    float d = pr->decay ? decay : 0.0f;
    for (gsize j = 0; j < pr->n; j++) {
      float g = pr->grad[j];
      m[j] = b1 * m[j] + (1 - b1) * g;
      v[j] = b2 * v[j] + (1 - b2) * g * g;
      w[j] -= step * m[j] / (sqrtf (v[j]) * rc2 + eps) + d * w[j];
    }
  }
}

gint64
ae_adam_get_step (const AeAdam *a)
{
  return a->step;
}

void
ae_adam_set_step (AeAdam *a, gint64 step)
{
  a->step = step;
}

float *
ae_adam_get_moment (AeAdam *a, int i, int which)
{
  g_return_val_if_fail (i >= 0 && i < a->n, NULL);
  return which == 1 ? a->m[i] : a->v[i];
}

double
ae_clip_grad_norm (const AeParam *params, int n_params, double max_norm)
{
  double sq = 0;
  for (int i = 0; i < n_params; i++)
    for (gsize j = 0; j < params[i].n; j++)
      sq += (double) params[i].grad[j] * params[i].grad[j];
  double norm = sqrt (sq);
  if (max_norm > 0 && norm > max_norm) {
    float s = max_norm / norm;
    for (int i = 0; i < n_params; i++)
      for (gsize j = 0; j < params[i].n; j++)
        params[i].grad[j] *= s;
  }
  return norm;
}

double
ae_lr_schedule (gint64 step, gint64 total, gint64 warmup, double base,
    double final_fraction)
{
  if (step < warmup)
    return base * (step + 1) / warmup;
  if (total <= warmup)
    return base;
  double t = MIN (1.0, (double) (step - warmup) / (total - warmup));
  double lo = base * final_fraction;
  return lo + (base - lo) * 0.5 * (1 + cos (G_PI * t));
}
