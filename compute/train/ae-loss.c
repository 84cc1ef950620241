#include "ae-loss.h"

#include <math.h>

#define CHARBONNIER_EPS 1e-3

static const char *const names[] = { "mse", "l1", "charbonnier" };

gboolean
ae_loss_from_string (const char *name, AeLoss *loss)
{
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (g_strcmp0 (name, names[i]) == 0) {
      *loss = i;
      return TRUE;
    }
  return FALSE;
}

const char *
ae_loss_name (AeLoss loss)
{
  return names[loss];
}

double
ae_loss_eval (AeLoss loss, const float *out, const float *target, gsize n,
    float scale, float *grad)
{
  double sum = 0;

  for (gsize i = 0; i < n; i++) {
    double d = (double) out[i] - target[i];
    double g;
    switch (loss) {
      case AE_LOSS_MSE:
        sum += d * d;
        g = 2 * d;
        break;
      case AE_LOSS_L1:
        sum += fabs (d);
        g = d > 0 ? 1 : d < 0 ? -1 : 0;
        break;
      default:{
        double r = sqrt (d * d + CHARBONNIER_EPS * CHARBONNIER_EPS);
        sum += r;
        g = d / r;
        break;
      }
    }
    if (grad)
      grad[i] = (float) (g * scale);
  }
  return sum;
}

double
ae_loss_kl (const float *mu, const float *logvar, gsize n, float scale,
    float *dmu, float *dlogvar)
{
  double sum = 0;

  for (gsize i = 0; i < n; i++) {
    double e = exp (logvar[i]);
    sum += 0.5 * (mu[i] * (double) mu[i] + e - 1 - logvar[i]);
    dmu[i] += scale * mu[i];
    dlogvar[i] += (float) (scale * 0.5 * (e - 1));
  }
  return sum;
}
