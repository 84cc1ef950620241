/* ae-optim.h: Adam with decoupled weight decay (AdamW), gradient clipping
 * and the warm-up + cosine learning-rate schedule. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* One parameter tensor: values, their gradient, and whether weight decay
 * applies (weights yes, biases no). */
typedef struct {
  const char *name;             /* for checkpoints: "<node>.weight" ... */
  float *value;
  float *grad;
  gsize n;
  gboolean decay;
} AeParam;

typedef struct {
  double lr;                    /* set per step by the schedule */
  double beta1, beta2, eps;
  double weight_decay;
} AeAdamParams;

typedef struct _AeAdam AeAdam;

/* Keeps pointers into @params, which must outlive the optimiser. */
AeAdam *ae_adam_new (const AeParam *params, int n_params);
void ae_adam_free (AeAdam *a);
void ae_adam_step (AeAdam *a, const AeAdamParams *p);
gint64 ae_adam_get_step (const AeAdam *a);
/* The moment estimates of parameter @i (for checkpoints): n floats each. */
float *ae_adam_get_moment (AeAdam *a, int i, int which /* 1 or 2 */);
void ae_adam_set_step (AeAdam *a, gint64 step);

/* Scales every gradient so that their global L2 norm is at most @max_norm
 * (no-op when @max_norm <= 0). Returns the norm before clipping. */
double ae_clip_grad_norm (const AeParam *params, int n_params,
    double max_norm);

/* Linear warm-up over @warmup steps to @base, then cosine decay to
 * @base · @final_fraction at @total. */
double ae_lr_schedule (gint64 step, gint64 total, gint64 warmup, double base,
    double final_fraction);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeAdam, ae_adam_free)

G_END_DECLS
