/* ae-batch.h: training batches of random patches from a dataset, with the
 * degradation of the task, made ahead of time by a loader thread.
 *
 * Each sample: a random image (uniform over the dataset), a random patch
 * position, optionally one of the 8 flips/rotations, then by task:
 * - denoise: target = the clean patch; input = clean + Gaussian noise of a
 *   standard deviation drawn uniformly in [sigma_min, sigma_max] (blind
 *   denoising), or for a fraction @poisson_prob of samples Poisson-Gaussian
 *   noise (ae_add_poisson_gaussian_noise(): the gain is such that the shot
 *   noise at mid-grey, sqrt (128 / gain), is uniform in [max (sigma_min, 1),
 *   max (sigma_max, 1)], plus read noise uniform in [0, sigma_min]), or for
 *   a fraction @clean_prob of samples (drawn first) no noise at all; then,
 *   for a fraction @jpeg_prob of samples when jpeg_max > 0, a JPEG round
 *   trip at a quality uniform in [jpeg_min, jpeg_max]. The noisy
 *   input is clipped to 0..255 and rounded to whole levels, as real 8-bit
 *   video is and as `ae-model eval` makes its inputs (compute/ae-degrade.h).
 * - superres: target = the high-resolution patch (placed on a multiple of
 *   @scale); input = the matching patch/scale pixels of the whole image
 *   shrunk by @scale with bicubic antialiasing (ae_resize_bicubic(), after
 *   cropping the image to a multiple of @scale), rounded to 8 bits.
 * - anomaly: input = target = the clean patch.
 *
 * Floats are 0..1 (8-bit level / 255), channels last, sample after sample:
 * input is batch x in x in x C (in = patch / scale for superres, else
 * patch), target batch x patch x patch x C.
 *
 * Reproducible: batch k depends only on the dataset, the params and k
 * (sample j of batch k draws from the random stream k · batch + j of
 * @seed), never on timing or threads, so a run resumed at batch k sees the
 * batches the uninterrupted run would have.
 */
#pragma once

#include "ae-dataset.h"
#include "ae-graph.h"

G_BEGIN_DECLS

typedef struct {
  AeTask task;                  /* AE_TASK_DENOISE / SUPERRES / ANOMALY */
  int channels;                 /* 1 or 3, the dataset's */
  int patch;                    /* side of the target patch in pixels */
  int scale;                    /* superres: 2, 3 or 4, dividing patch */
  int batch;                    /* samples per batch */
  double sigma_min, sigma_max;  /* Gaussian noise std, 0..255 units */
  double poisson_prob;          /* fraction with Poisson-Gaussian noise */
  double clean_prob;            /* fraction left without noise */
  int jpeg_min, jpeg_max;       /* JPEG quality range 1..100; 0 = off */
  gboolean augment;             /* the 8 flips/rotations */
  guint64 seed;
  double jpeg_prob;             /* fraction JPEG-compressed; 0 = 0.5 */
  int threads;                  /* loader threads; 0 = 1 */
} AeBatchParams;

typedef struct _AeBatcher AeBatcher;

/* Checks @p against @ds (which must outlive the batcher and not change
 * while it lives); the loader threads start on batch @first_batch at the
 * first ae_batcher_next(). Fails with AE_DATASET_ERROR_INVALID for bad
 * parameters and AE_DATASET_ERROR_TOO_SMALL, naming the image, if an image
 * is smaller than the patch. */
AeBatcher *ae_batcher_new (AeDataset *ds, const AeBatchParams *p,
    guint64 first_batch, GError **error);
void ae_batcher_free (AeBatcher *b);

/* Side of input patches (patch / scale for superres, else patch). */
int ae_batcher_get_input_side (const AeBatcher *b);

/* Copies the next batch into @input and @target (sizes above), blocking
 * until the loader has it ready; then the loader prepares a later one. */
void ae_batcher_next (AeBatcher *b, float *input, float *target);

/* Makes batch @index in the calling thread, independently of the loader
 * (validation sets, tests): the same content ae_batcher_next() gives for
 * that index. Thread-safe. */
void ae_batcher_make (AeBatcher *b, guint64 index, float *input,
    float *target);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeBatcher, ae_batcher_free)

G_END_DECLS
