/* Training batches (see ae-batch.h).
 *
 * Loader threads take batch indices in order and fill a ring of slots;
 * ae_batcher_next() hands the slots out in index order. A worker may run
 * ahead of the consumer by at most the ring's depth.
 */
#include "ae-batch.h"
#include "ae-degrade.h"
#include "ae-jpeg.h"

#include <stdarg.h>
#include <string.h>

/* Per thread: patch buffers and a JPEG pipeline when the params ask. */
typedef struct {
  guint8 *clean;                /* patch x patch x C */
  guint8 *degraded;             /* in x in x C */
  AeJpeg *jpeg;
} Scratch;

typedef struct {
  float *input, *target;
  guint64 index;
  gboolean ready;
} Slot;

struct _AeBatcher {
  AeDataset *ds;
  AeBatchParams p;
  int in_side;
  gsize in_floats, target_floats;       /* per batch */

  GMutex lock;
  GCond cond;
  Slot *slots;
  int depth;
  guint64 next_claim;           /* next index a worker makes */
  guint64 next_out;             /* next index ae_batcher_next() returns */
  gboolean stop;

  GThread **threads;
  Scratch *scratch;             /* one per thread */
  int n_threads;
  gint jpeg_warned;             /* atomic */
};

static void
scratch_clear (Scratch *s)
{
  g_clear_pointer (&s->clean, g_free);
  g_clear_pointer (&s->degraded, g_free);
  g_clear_pointer (&s->jpeg, ae_jpeg_free);
}

static gboolean
scratch_init (Scratch *s, const AeBatcher *b, GError **error)
{
  const int c = b->p.channels;
  s->clean = g_malloc ((gsize) b->p.patch * b->p.patch * c);
  s->degraded = g_malloc ((gsize) b->in_side * b->in_side * c);
  s->jpeg = NULL;
  if (b->p.task == AE_TASK_DENOISE && b->p.jpeg_max > 0
      && !(s->jpeg = ae_jpeg_new (b->in_side, b->in_side, c, error))) {
    scratch_clear (s);
    return FALSE;
  }
  return TRUE;
}

/* dst (n x n x C floats, 0..1) = orientation @t of src (n x n x C bytes):
 * bit 2 transposes, bit 0 mirrors columns, bit 1 mirrors rows; the eight
 * values give the eight symmetries of the square. */
static void
orient_to_float (const guint8 *src, int n, int c, int t, float *dst)
{
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++) {
      int sy = (t & 4) ? x : y, sx = (t & 4) ? y : x;
      if (t & 1)
        sx = n - 1 - sx;
      if (t & 2)
        sy = n - 1 - sy;
      const guint8 *s = src + ((gsize) sy * n + sx) * c;
      float *d = dst + ((gsize) y * n + x) * c;
      for (int k = 0; k < c; k++)
        d[k] = s[k] * (1.0f / 255.0f);
    }
}

static double
uniform_in (AeRng *rng, double lo, double hi)
{
  return lo + (hi - lo) * ae_rng_uniform (rng);
}

static void
degrade_denoise (AeBatcher *b, Scratch *s, AeRng *rng)
{
  const AeBatchParams *p = &b->p;
  const int n = p->patch, c = p->channels;
  const gsize stride = (gsize) n * c;

  /* drawn only when asked for, so other runs keep their random streams */
  if (p->clean_prob > 0.0 && ae_rng_uniform (rng) < p->clean_prob) {
    memcpy (s->degraded, s->clean, (gsize) n * stride);
  } else if (ae_rng_uniform (rng) < p->poisson_prob) {
    double shot = uniform_in (rng, MAX (p->sigma_min, 1.0),
        MAX (p->sigma_max, 1.0));
    double read = uniform_in (rng, 0.0, p->sigma_min);
    ae_add_poisson_gaussian_noise (s->clean, stride, s->degraded, stride, n,
        n, c, 128.0 / (shot * shot), read, rng);
  } else {
    double sigma = uniform_in (rng, p->sigma_min, p->sigma_max);
    ae_add_gaussian_noise (s->clean, stride, s->degraded, stride, n, n, c,
        sigma, rng);
  }

  if (p->jpeg_max > 0) {
    double prob = p->jpeg_prob > 0.0 ? p->jpeg_prob : 0.5;
    if (ae_rng_uniform (rng) < prob) {
      int q = p->jpeg_min + ae_rng_below (rng, p->jpeg_max - p->jpeg_min + 1);
      g_autoptr (GError) error = NULL;
      /* s->jpeg is only missing if ae_batcher_make() could not start it */
      if (s->jpeg && !ae_jpeg_apply (s->jpeg, s->degraded, stride, q, &error)
          && g_atomic_int_compare_and_exchange (&b->jpeg_warned, 0, 1))
        g_printerr ("warning: %s; samples stay uncompressed\n",
            error->message);
    }
  }
}

/* Sample @j of batch @k into @in and @target. */
static void
make_sample (AeBatcher *b, Scratch *s, guint64 k, int j, float *in,
    float *target)
{
  const AeBatchParams *p = &b->p;
  const int n = p->patch, c = p->channels;
  const int scale = p->task == AE_TASK_SUPERRES ? p->scale : 1;
  AeRng rng;

  ae_rng_init (&rng, p->seed, k * (guint64) p->batch + j);
  const AeImage *im = ae_dataset_get (b->ds,
      ae_rng_below (&rng, ae_dataset_get_size (b->ds)));
  /* superres crops images to a multiple of the scale and puts patches on
   * that grid, so the input is exactly a piece of the shrunk image */
  const int w = im->width - im->width % scale;
  const int h = im->height - im->height % scale;
  const int x = ae_rng_below (&rng, (w - n) / scale + 1) * scale;
  const int y = ae_rng_below (&rng, (h - n) / scale + 1) * scale;
  const int t = p->augment ? (int) ae_rng_below (&rng, 8) : 0;

  for (int r = 0; r < n; r++)
    memcpy (s->clean + (gsize) r * n * c,
        im->data + (gsize) (y + r) * im->stride + (gsize) x * c,
        (gsize) n * c);

  const guint8 *input = s->degraded;
  switch (p->task) {
    case AE_TASK_DENOISE:
      degrade_denoise (b, s, &rng);
      break;
    case AE_TASK_SUPERRES:
      ae_resize_bicubic (im->data, im->stride, w, h, c, w / scale, h / scale,
          x / scale, y / scale, b->in_side, b->in_side, s->degraded,
          (gsize) b->in_side * c);
      break;
    default:
      input = s->clean;
      break;
  }
  orient_to_float (s->clean, n, c, t, target);
  orient_to_float (input, b->in_side, c, t, in);
}

static void
make_batch (AeBatcher *b, Scratch *s, guint64 k, float *input, float *target)
{
  const gsize in_n = b->in_floats / b->p.batch;
  const gsize target_n = b->target_floats / b->p.batch;
  for (int j = 0; j < b->p.batch; j++)
    make_sample (b, s, k, j, input + j * in_n, target + j * target_n);
}

typedef struct {
  AeBatcher *b;
  Scratch *s;
} Worker;

static gpointer
worker_main (gpointer data)
{
  Worker *w = data;
  AeBatcher *b = w->b;

  for (;;) {
    g_mutex_lock (&b->lock);
    while (!b->stop && b->next_claim >= b->next_out + b->depth)
      g_cond_wait (&b->cond, &b->lock);
    if (b->stop) {
      g_mutex_unlock (&b->lock);
      break;
    }
    guint64 k = b->next_claim++;
    Slot *slot = &b->slots[k % b->depth];
    g_mutex_unlock (&b->lock);

    make_batch (b, w->s, k, slot->input, slot->target);

    g_mutex_lock (&b->lock);
    slot->index = k;
    slot->ready = TRUE;
    g_cond_broadcast (&b->cond);
    g_mutex_unlock (&b->lock);
  }
  g_free (w);
  return NULL;
}

static gboolean
invalid (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, AE_DATASET_ERROR, AE_DATASET_ERROR_INVALID,
      msg);
  return FALSE;
}

static gboolean
check_params (const AeDataset *ds, const AeBatchParams *p, GError **error)
{
  if (p->task != AE_TASK_DENOISE && p->task != AE_TASK_SUPERRES
      && p->task != AE_TASK_ANOMALY)
    return invalid (error, "unknown task %d", (int) p->task);
  if (p->channels != ae_dataset_get_channels (ds))
    return invalid (error, "batches of %d channels from a dataset of %d",
        p->channels, ae_dataset_get_channels (ds));
  if (p->patch < 1 || p->batch < 1)
    return invalid (error, "patch size and batch size must be at least 1 "
        "(got %d and %d)", p->patch, p->batch);
  if (p->task == AE_TASK_SUPERRES && (p->scale < 2 || p->scale > 4
          || p->patch % p->scale != 0))
    return invalid (error, "superres needs a scale of 2, 3 or 4 that "
        "divides the patch size (got scale %d, patch %d)", p->scale,
        p->patch);
  if (!(p->sigma_min >= 0.0 && p->sigma_min <= p->sigma_max
          && p->sigma_max <= 255.0))
    return invalid (error, "the noise range must satisfy 0 <= min <= max "
        "<= 255 (got %g..%g)", p->sigma_min, p->sigma_max);
  if (!(p->poisson_prob >= 0.0 && p->poisson_prob <= 1.0
          && p->clean_prob >= 0.0 && p->clean_prob <= 1.0)
      || !(p->jpeg_prob >= 0.0 && p->jpeg_prob <= 1.0))
    return invalid (error, "fractions of samples must lie in 0..1 (got "
        "poisson %g, clean %g, jpeg %g)", p->poisson_prob, p->clean_prob,
        p->jpeg_prob);
  if (p->jpeg_max != 0 && !(p->jpeg_min >= 1 && p->jpeg_min <= p->jpeg_max
          && p->jpeg_max <= 100))
    return invalid (error, "the JPEG quality range must satisfy 1 <= min "
        "<= max <= 100, or max = 0 for none (got %d..%d)", p->jpeg_min,
        p->jpeg_max);
  if (p->threads < 0 || p->threads > 64)
    return invalid (error, "loader threads must be 0..64 (got %d)",
        p->threads);
  if (ae_dataset_get_size (ds) == 0)
    return invalid (error, "the dataset is empty");

  for (int i = 0; i < ae_dataset_get_size (ds); i++) {
    const AeImage *im = ae_dataset_get (ds, i);
    if (im->width < p->patch || im->height < p->patch) {
      g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_TOO_SMALL,
          "%s: the image (%dx%d) is smaller than the %dx%d training patch; "
          "use a smaller patch or drop the image", im->origin, im->width,
          im->height, p->patch, p->patch);
      return FALSE;
    }
  }
  return TRUE;
}

AeBatcher *
ae_batcher_new (AeDataset *ds, const AeBatchParams *p, guint64 first_batch,
    GError **error)
{
  g_return_val_if_fail (ds && p, NULL);
  if (!check_params (ds, p, error))
    return NULL;

  AeBatcher *b = g_new0 (AeBatcher, 1);
  b->ds = ds;
  b->p = *p;
  b->in_side = p->task == AE_TASK_SUPERRES ? p->patch / p->scale : p->patch;
  b->in_floats = (gsize) p->batch * b->in_side * b->in_side * p->channels;
  b->target_floats = (gsize) p->batch * p->patch * p->patch * p->channels;
  b->n_threads = p->threads > 0 ? p->threads : 1;
  b->depth = b->n_threads + 2;
  b->next_claim = b->next_out = first_batch;
  g_mutex_init (&b->lock);
  g_cond_init (&b->cond);

  b->scratch = g_new0 (Scratch, b->n_threads);
  for (int t = 0; t < b->n_threads; t++) {
    if (!scratch_init (&b->scratch[t], b, error)) {
      ae_batcher_free (b);
      return NULL;
    }
  }
  b->slots = g_new0 (Slot, b->depth);
  for (int i = 0; i < b->depth; i++) {
    b->slots[i].input = g_new (float, b->in_floats);
    b->slots[i].target = g_new (float, b->target_floats);
  }
  return b;
}

/* The loader threads start with the first ae_batcher_next(), so a batcher
 * used only through ae_batcher_make() (a validation set) makes nothing in
 * the background. */
static void
start_loader (AeBatcher *b)
{
  b->threads = g_new0 (GThread *, b->n_threads);
  for (int t = 0; t < b->n_threads; t++) {
    Worker *w = g_new (Worker, 1);
    w->b = b;
    w->s = &b->scratch[t];
    b->threads[t] = g_thread_new ("ae-loader", worker_main, w);
  }
}

void
ae_batcher_free (AeBatcher *b)
{
  if (!b)
    return;
  g_mutex_lock (&b->lock);
  b->stop = TRUE;
  g_cond_broadcast (&b->cond);
  g_mutex_unlock (&b->lock);
  for (int t = 0; b->threads && t < b->n_threads; t++)
    g_thread_join (b->threads[t]);
  g_free (b->threads);

  for (int i = 0; b->slots && i < b->depth; i++) {
    g_free (b->slots[i].input);
    g_free (b->slots[i].target);
  }
  g_free (b->slots);
  for (int t = 0; b->scratch && t < b->n_threads; t++)
    scratch_clear (&b->scratch[t]);
  g_free (b->scratch);
  g_mutex_clear (&b->lock);
  g_cond_clear (&b->cond);
  g_free (b);
}

int
ae_batcher_get_input_side (const AeBatcher *b)
{
  return b->in_side;
}

void
ae_batcher_next (AeBatcher *b, float *input, float *target)
{
  if (!b->threads)
    start_loader (b);
  g_mutex_lock (&b->lock);
  Slot *slot = &b->slots[b->next_out % b->depth];
  while (!(slot->ready && slot->index == b->next_out))
    g_cond_wait (&b->cond, &b->lock);
  g_mutex_unlock (&b->lock);

  /* no worker touches this slot until next_out moves past it */
  memcpy (input, slot->input, b->in_floats * sizeof (float));
  memcpy (target, slot->target, b->target_floats * sizeof (float));

  g_mutex_lock (&b->lock);
  slot->ready = FALSE;
  b->next_out++;
  g_cond_broadcast (&b->cond);
  g_mutex_unlock (&b->lock);
}

void
ae_batcher_make (AeBatcher *b, guint64 index, float *input, float *target)
{
  g_autoptr (GError) error = NULL;
  Scratch s;

  if (!scratch_init (&s, b, &error)) {
    /* ae_batcher_new() made the same pipeline: this is not expected */
    g_printerr ("warning: %s; samples stay uncompressed\n", error->message);
    s.clean = g_malloc ((gsize) b->p.patch * b->p.patch * b->p.channels);
    s.degraded = g_malloc ((gsize) b->in_side * b->in_side * b->p.channels);
  }
  make_batch (b, &s, index, input, target);
  scratch_clear (&s);
}
