/* ae-trainer.h: forward and backward passes of a model over a batch.
 *
 * The trainer holds the model's weights (it writes them through
 * ae_model_get_weight()), a gradient for each, and per-thread buffers for
 * every node's activation and gradient. Samples of a batch are spread over
 * the threads, each running whole samples with the CPU forward ops (convs
 * as im2col + GEMM, transposed ones as ae-backward.h's GEMM + col2im) and
 * the backward ops of ae-backward.h; per-thread weight gradients are summed
 * in a fixed order, so a run is reproducible for a given seed and thread
 * count.
 *
 * Tensors are channels last: a batch is batch x H x W x C floats.
 */
#pragma once

#include "ae-model.h"
#include "ae-loss.h"
#include "ae-optim.h"

G_BEGIN_DECLS

typedef struct {
  int batch;
  int width, height;            /* input patch; multiples of the stride */
  int threads;                  /* 0 = one per core */
  AeLoss loss;
  /* Variational bottleneck: a conv2d node (act none) whose output becomes
   * the latent mean. Training adds a log-variance conv beside it (saved in
   * checkpoints, not in the model) and feeds z = mu + exp(logvar / 2) · ε to
   * the rest of the network; the KL term is weighted by @kl_weight per
   * latent value relative to the loss per output value. NULL = off. */
  const char *variational;
  double kl_weight;
  guint64 seed;
} AeTrainerParams;

typedef struct _AeTrainer AeTrainer;

AeTrainer *ae_trainer_new (AeModel *m, const AeTrainerParams *p,
    GError **error);
void ae_trainer_free (AeTrainer *t);

/* Fills weights with He/LeCun-uniform values (a tenth of that for the conv
 * that makes a residual output) and biases with zeros. */
void ae_trainer_init_weights (AeTrainer *t, guint64 seed);

/* Forward and backward over one batch; the gradients of the mean loss are
 * left in the parameters' grad arrays. @step seeds the latent noise. Returns
 * the mean loss per output value (plus the KL term when variational). */
double ae_trainer_compute_gradients (AeTrainer *t, const float *input,
    const float *target, gint64 step);

/* Weights of the next batches' samples in the loss (@batch floats, copied;
 * NULL = all 1): the loss is the weighted mean. */
void ae_trainer_set_sample_weights (AeTrainer *t, const float *weights);

/* Forward only (the latent mean, no noise) for the first @n samples. */
void ae_trainer_forward (AeTrainer *t, const float *input, float *output,
    int n);

/* Every trainable tensor: conv weights and biases, then the variational
 * log-variance conv if any. */
const AeParam *ae_trainer_get_params (AeTrainer *t, int *n_params);

/* Floats in one sample's input and output. */
gsize ae_trainer_get_input_size (const AeTrainer *t);
gsize ae_trainer_get_output_size (const AeTrainer *t);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeTrainer, ae_trainer_free)

G_END_DECLS
