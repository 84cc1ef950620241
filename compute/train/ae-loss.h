/* ae-loss.h: training losses between a network's output and its target. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  AE_LOSS_MSE,
  AE_LOSS_L1,
  AE_LOSS_CHARBONNIER,          /* sqrt(d² + ε²), ε = 1e-3: a smooth L1 */
} AeLoss;

/* Parses "mse", "l1", "charbonnier"; FALSE if unknown. */
gboolean ae_loss_from_string (const char *name, AeLoss *loss);
const char *ae_loss_name (AeLoss loss);

/* Sum of the per-element loss over @n elements. When @grad is non-NULL it
 * receives d(sum · @scale)/d(out). */
double ae_loss_eval (AeLoss loss, const float *out, const float *target,
    gsize n, float scale, float *grad);

/* KL divergence of N(mu, exp(logvar)) from N(0, 1), summed over @n latent
 * values; adds d(KL · @scale)/d(mu, logvar) to @dmu and @dlogvar. */
double ae_loss_kl (const float *mu, const float *logvar, gsize n, float scale,
    float *dmu, float *dlogvar);

G_END_DECLS
