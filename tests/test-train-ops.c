/* Every backward op against finite differences: each case is a small graph
 * input → conv "a" → (op under test) → conv "b" → output, so the op's input
 * gradient is exercised through a's weights and its forward through b's.
 * a and b are smooth (tanh), so that the kinks met are those of the op
 * under test.
 * For each parameter tensor the analytic derivative along a random unit
 * direction must match a finite difference to 1e-3 (relative). */
#include "ae-engine.h"
#include "ae-error.h"
#include "ae-trainer.h"

#include <math.h>
#include <string.h>

typedef struct {
  const char *name;
  const char *task;             /* "denoise" or "superres" */
  int scale;
  const char *nodes;            /* JSON array items between "a" and "b" */
  const char *b_input;          /* what conv b reads */
  const char *loss;
  const char *variational;
  int size;
} Case;

/* a: 1 → 4 channels, leaky_relu; b: → 1 channel, tanh (smooth everywhere) */
static const Case cases[] = {
  {"conv3x3", "denoise", 1, "", "a", "mse", NULL, 10},
  {"conv-stride2+convT4", "denoise", 1,
   "{\"name\":\"s\",\"op\":\"conv2d\",\"inputs\":[\"a\"],\"out\":8,\"kernel\":3,\"stride\":2,\"padding\":1,\"act\":\"tanh\"},"
   "{\"name\":\"t\",\"op\":\"conv_transpose2d\",\"inputs\":[\"s\"],\"out\":5,\"kernel\":4,\"stride\":2,\"padding\":1,\"act\":\"sigmoid\"},",
   "t", "mse", NULL, 12},
  {"convT3-outpad", "denoise", 1,
   "{\"name\":\"s\",\"op\":\"conv2d\",\"inputs\":[\"a\"],\"out\":3,\"kernel\":2,\"stride\":2,\"padding\":0,\"act\":\"none\"},"
   "{\"name\":\"t\",\"op\":\"conv_transpose2d\",\"inputs\":[\"s\"],\"out\":6,\"kernel\":3,\"stride\":2,\"padding\":1,\"output_padding\":1,\"act\":\"leaky_relu\",\"slope\":0.2},",
   "t", "mse", NULL, 12},
  {"convT2-nobias", "denoise", 1,
   "{\"name\":\"s\",\"op\":\"conv2d\",\"inputs\":[\"a\"],\"out\":4,\"kernel\":3,\"stride\":2,\"padding\":1,\"act\":\"tanh\"},"
   "{\"name\":\"t\",\"op\":\"conv_transpose2d\",\"inputs\":[\"s\"],\"out\":3,\"kernel\":2,\"stride\":2,\"padding\":0,\"bias\":false,\"act\":\"none\"},",
   "t", "mse", NULL, 8},
  {"conv-dilated", "denoise", 1,
   "{\"name\":\"d\",\"op\":\"conv2d\",\"inputs\":[\"a\"],\"out\":5,\"kernel\":3,\"padding\":2,\"dilation\":2,\"act\":\"tanh\"},",
   "d", "mse", NULL, 9},
  {"conv-pointwise", "denoise", 1,
   "{\"name\":\"p\",\"op\":\"conv2d\",\"inputs\":[\"a\"],\"out\":6,\"kernel\":1,\"padding\":0,\"act\":\"sigmoid\"},",
   "p", "mse", NULL, 9},
  {"conv-direct-8x16", "denoise", 1,
   "{\"name\":\"w\",\"op\":\"conv2d\",\"inputs\":[\"a\"],\"out\":8,\"kernel\":3,\"padding\":1,\"act\":\"leaky_relu\",\"slope\":0.1},"
   "{\"name\":\"x\",\"op\":\"conv2d\",\"inputs\":[\"w\"],\"out\":16,\"kernel\":3,\"padding\":1,\"act\":\"tanh\"},"
   "{\"name\":\"y\",\"op\":\"conv2d\",\"inputs\":[\"x\"],\"out\":8,\"kernel\":5,\"padding\":2,\"act\":\"none\"},",
   "y", "mse", NULL, 13},
  {"conv-relu", "denoise", 1,
   "{\"name\":\"r\",\"op\":\"conv2d\",\"inputs\":[\"a\"],\"out\":4,\"kernel\":3,\"padding\":1,\"act\":\"relu\"},",
   "r", "mse", NULL, 8},
  {"pixel-unshuffle-shuffle", "denoise", 1,
   "{\"name\":\"u\",\"op\":\"pixel_unshuffle\",\"inputs\":[\"a\"],\"factor\":2},"
   "{\"name\":\"m\",\"op\":\"conv2d\",\"inputs\":[\"u\"],\"out\":8,\"kernel\":3,\"padding\":1,\"act\":\"tanh\"},"
   "{\"name\":\"s\",\"op\":\"pixel_shuffle\",\"inputs\":[\"m\"],\"factor\":2},",
   "s", "mse", NULL, 8},
  {"unshuffle4-wide", "denoise", 1,
   "{\"name\":\"u\",\"op\":\"pixel_unshuffle\",\"inputs\":[\"a\"],\"factor\":4},"
   "{\"name\":\"c1\",\"op\":\"conv2d\",\"inputs\":[\"u\"],\"out\":32,\"kernel\":3,\"padding\":1,\"act\":\"tanh\"},"
   "{\"name\":\"c2\",\"op\":\"conv2d\",\"inputs\":[\"c1\"],\"out\":32,\"kernel\":3,\"padding\":1,\"act\":\"tanh\"},"
   "{\"name\":\"o\",\"op\":\"conv2d\",\"inputs\":[\"c2\"],\"out\":16,\"kernel\":3,\"padding\":1,\"act\":\"none\"},"
   "{\"name\":\"s\",\"op\":\"pixel_shuffle\",\"inputs\":[\"o\"],\"factor\":4},"
   "{\"name\":\"r\",\"op\":\"add\",\"inputs\":[\"s\",\"input\"]},",
   "r", "mse", NULL, 16},
  {"shuffle-superres", "superres", 3,
   "{\"name\":\"m\",\"op\":\"conv2d\",\"inputs\":[\"a\"],\"out\":18,\"kernel\":3,\"padding\":1,\"act\":\"tanh\"},"
   "{\"name\":\"s\",\"op\":\"pixel_shuffle\",\"inputs\":[\"m\"],\"factor\":3},",
   "s", "mse", NULL, 5},
  {"upsample-nearest", "superres", 2,
   "{\"name\":\"s\",\"op\":\"upsample\",\"inputs\":[\"a\"],\"factor\":2,\"mode\":\"nearest\"},",
   "s", "mse", NULL, 6},
  {"upsample-bilinear2", "superres", 2,
   "{\"name\":\"s\",\"op\":\"upsample\",\"inputs\":[\"a\"],\"factor\":2,\"mode\":\"bilinear\"},",
   "s", "mse", NULL, 6},
  {"upsample-bilinear3", "superres", 3,
   "{\"name\":\"s\",\"op\":\"upsample\",\"inputs\":[\"a\"],\"factor\":3,\"mode\":\"bilinear\"},",
   "s", "mse", NULL, 5},
  {"maxpool2+upsample", "denoise", 1,
   "{\"name\":\"p\",\"op\":\"max_pool2d\",\"inputs\":[\"a\"],\"kernel\":2},"
   "{\"name\":\"s\",\"op\":\"upsample\",\"inputs\":[\"p\"],\"factor\":2,\"mode\":\"nearest\"},",
   "s", "mse", NULL, 8},
  {"maxpool3-s1-pad", "denoise", 1,
   "{\"name\":\"p\",\"op\":\"max_pool2d\",\"inputs\":[\"a\"],\"kernel\":3,\"stride\":1,\"padding\":1},",
   "p", "mse", NULL, 7},
  {"avgpool2+upsample", "denoise", 1,
   "{\"name\":\"p\",\"op\":\"avg_pool2d\",\"inputs\":[\"a\"],\"kernel\":2},"
   "{\"name\":\"s\",\"op\":\"upsample\",\"inputs\":[\"p\"],\"factor\":2,\"mode\":\"bilinear\"},",
   "s", "mse", NULL, 8},
  {"avgpool3-s1-pad", "denoise", 1,
   "{\"name\":\"p\",\"op\":\"avg_pool2d\",\"inputs\":[\"a\"],\"kernel\":3,\"stride\":1,\"padding\":1},",
   "p", "mse", NULL, 7},
  {"add", "denoise", 1,
   "{\"name\":\"a2\",\"op\":\"conv2d\",\"inputs\":[\"input\"],\"out\":4,\"kernel\":3,\"padding\":1,\"act\":\"tanh\"},"
   "{\"name\":\"s\",\"op\":\"add\",\"inputs\":[\"a\",\"a2\",\"a\"]},",
   "s", "mse", NULL, 7},
  {"concat", "denoise", 1,
   "{\"name\":\"a2\",\"op\":\"conv2d\",\"inputs\":[\"a\"],\"out\":3,\"kernel\":3,\"padding\":1,\"act\":\"tanh\"},"
   "{\"name\":\"s\",\"op\":\"concat\",\"inputs\":[\"a2\",\"a\",\"input\"]},",
   "s", "mse", NULL, 7},
  {"act-relu", "denoise", 1,
   "{\"name\":\"s\",\"op\":\"act\",\"inputs\":[\"a\"],\"act\":\"relu\"},", "s", "mse", NULL, 7},
  {"act-leaky", "denoise", 1,
   "{\"name\":\"s\",\"op\":\"act\",\"inputs\":[\"a\"],\"act\":\"leaky_relu\",\"slope\":0.3},", "s", "mse", NULL, 7},
  {"act-sigmoid", "denoise", 1,
   "{\"name\":\"s\",\"op\":\"act\",\"inputs\":[\"a\"],\"act\":\"sigmoid\"},", "s", "mse", NULL, 7},
  {"act-tanh", "denoise", 1,
   "{\"name\":\"s\",\"op\":\"act\",\"inputs\":[\"a\"],\"act\":\"tanh\"},", "s", "mse", NULL, 7},
  {"loss-l1", "denoise", 1, "", "a", "l1", NULL, 8},
  {"loss-charbonnier", "denoise", 1, "", "a", "charbonnier", NULL, 8},
  {"variational", "denoise", 1,
   "{\"name\":\"z\",\"op\":\"conv2d\",\"inputs\":[\"a\"],\"out\":3,\"kernel\":3,\"stride\":2,\"padding\":1,\"act\":\"none\"},"
   "{\"name\":\"t\",\"op\":\"conv_transpose2d\",\"inputs\":[\"z\"],\"out\":4,\"kernel\":4,\"stride\":2,\"padding\":1,\"act\":\"tanh\"},",
   "t", "mse", "z", 8},
};

static char *
graph_json (const Case *c)
{
  return g_strdup_printf ("{\"task\":\"%s\",\"color\":\"luma\",\"scale\":%d,"
      "\"nodes\":["
      "{\"name\":\"a\",\"op\":\"conv2d\",\"inputs\":[\"input\"],\"out\":4,"
      "\"kernel\":3,\"padding\":1,\"act\":\"tanh\"},%s"
      "{\"name\":\"b\",\"op\":\"conv2d\",\"inputs\":[\"%s\"],\"out\":1,"
      "\"kernel\":3,\"padding\":1,\"act\":\"tanh\"}],\"output\":\"b\"}",
      c->task, c->scale, c->nodes, c->b_input);
}

static void
fill (GRand *r, float *x, gsize n, double lo, double hi)
{
  for (gsize i = 0; i < n; i++)
    x[i] = g_rand_double_range (r, lo, hi);
}

static void
test_case (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *json = graph_json (c);
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) m = ae_model_new (json, &error);
  g_assert_no_error (error);

  AeTrainerParams p = { .batch = 3, .width = c->size, .height = c->size,
    .threads = 2, .variational = c->variational, .kl_weight = 0.5,
    .seed = 7 };
  g_assert_true (ae_loss_from_string (c->loss, &p.loss));
  g_autoptr (AeTrainer) t = ae_trainer_new (m, &p, &error);
  g_assert_no_error (error);
  ae_trainer_init_weights (t, 11);

  g_autoptr (GRand) r = g_rand_new_with_seed (3);
  int n_params;
  const AeParam *params = ae_trainer_get_params (t, &n_params);
  /* biases start at zero; make them matter */
  for (int i = 0; i < n_params; i++)
    if (!params[i].decay)
      fill (r, params[i].value, params[i].n, -0.2, 0.2);

  gsize n_in = ae_trainer_get_input_size (t) * p.batch;
  gsize n_out = ae_trainer_get_output_size (t) * p.batch;
  g_autofree float *in = g_new (float, n_in);
  g_autofree float *target = g_new (float, n_out);
  fill (r, in, n_in, 0, 1);
  fill (r, target, n_out, -0.5, 0.5);

  for (int i = 0; i < n_params; i++) {
    const AeParam *pr = &params[i];
    /* the previous parameter's differences left their own gradients */
    double l0 = ae_trainer_compute_gradients (t, in, target, 5);
    g_autofree float *dir = g_new (float, pr->n);
    g_autofree float *grad = g_memdup2 (pr->grad, sizeof (float) * pr->n);
    g_autofree float *orig = g_memdup2 (pr->value, sizeof (float) * pr->n);
    double norm = 0, analytic = 0, magnitude = 0, best = G_MAXDOUBLE;
    double numeric = 0;
    fill (r, dir, pr->n, -1, 1);
    for (gsize j = 0; j < pr->n; j++)
      norm += dir[j] * (double) dir[j];
    for (gsize j = 0; j < pr->n; j++) {
      dir[j] /= sqrt (norm);
      analytic += grad[j] * (double) dir[j];
      magnitude += fabs (grad[j] * (double) dir[j]);
    }
    /* Large steps lose to curvature and to kinks (relu, max, L1) crossed,
     * small ones to float rounding: a right gradient matches at one of
     * these, a wrong one at none. A kink a little off the point (closer
     * than the smallest step float rounding leaves usable) puts the
     * central difference off by a constant at every step; the one-sided
     * difference away from it is then right to O(step). */
    static const double steps[] = { 1e-2, 3e-3, 1e-3, 3e-4, 1e-4 };
    for (guint s = 0; s < G_N_ELEMENTS (steps) && best > 1e-3; s++) {
      double h = steps[s], l[2];
      for (int k = 0; k < 2; k++) {
        for (gsize j = 0; j < pr->n; j++)
          pr->value[j] = orig[j] + (k ? -h : h) * dir[j];
        l[k] = ae_trainer_compute_gradients (t, in, target, 5);
      }
      const double nums[3] = { (l[0] - l[1]) / (2 * h), (l[0] - l0) / h,
        (l0 - l[1]) / h
      };
      for (int d = 0; d < 3; d++) {
        /* relative to the terms' size, not their sum, which may cancel */
        double rel = fabs (nums[d] - analytic) / MAX (magnitude, 1e-6);
        if (rel < best) {
          best = rel;
          numeric = nums[d];
        }
      }
    }
    memcpy (pr->value, orig, sizeof (float) * pr->n);
    g_test_message ("%s %s: analytic %.6g numeric %.6g rel %.2g", c->name,
        pr->name, analytic, numeric, best);
    if (best > 1e-3)
      g_test_fail_printf ("%s: %s gradient off: analytic %.7g, numeric "
          "%.7g (relative error %.2g)", c->name, pr->name, analytic,
          numeric, best);
  }
}

/* The trainer runs convs its own ways (im2col + GEMM, transposed convs as
 * GEMM + col2im), so the gradients above only prove it consistent with
 * itself: its forward must also be what the engine computes from the same
 * weights. */
static void
test_forward (gconstpointer data)
{
  const Case *c = data;
  g_autofree char *json = graph_json (c);
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) m = ae_model_new (json, &error);
  g_assert_no_error (error);

  AeTrainerParams p = { .batch = 3, .width = c->size, .height = c->size,
    .threads = 2, .variational = c->variational, .seed = 7 };
  g_autoptr (AeTrainer) t = ae_trainer_new (m, &p, &error);
  g_assert_no_error (error);
  ae_trainer_init_weights (t, 11);
  g_autoptr (GRand) r = g_rand_new_with_seed (5);
  int n_params;
  const AeParam *params = ae_trainer_get_params (t, &n_params);
  for (int i = 0; i < n_params; i++)
    if (!params[i].decay)
      fill (r, params[i].value, params[i].n, -0.2, 0.2);

  gsize n_in = ae_trainer_get_input_size (t);
  gsize n_out = ae_trainer_get_output_size (t);
  g_autofree float *in = g_new (float, n_in * p.batch);
  g_autofree float *out = g_new (float, n_out * p.batch);
  g_autofree float *ref = g_new (float, n_out);
  fill (r, in, n_in * p.batch, 0, 1);
  ae_trainer_forward (t, in, out, p.batch);

  AeEngineParams ep = { "cpu", 1 };
  g_autoptr (AeEngine) e = ae_engine_new (&ep, &error);
  g_assert_no_error (error);
  AePlanParams pp = { c->size, c->size, -1 };
  g_autoptr (AePlan) plan = ae_plan_new (e, m, &pp, &error);
  g_assert_no_error (error);
  for (int s = 0; s < p.batch; s++) {
    /* one channel in and out: planar is channels-last */
    g_assert_true (ae_plan_run_tensor (plan, in + s * n_in, ref, &error));
    g_assert_no_error (error);
    for (gsize j = 0; j < n_out; j++)
      if (!(fabsf (out[s * n_out + j] - ref[j]) <= 1e-5f * (1 + fabsf (ref[j]))))
        g_test_fail_printf ("%s: sample %d value %" G_GSIZE_FORMAT ": trainer "
            "%.7g, engine %.7g", c->name, s, j, out[s * n_out + j], ref[j]);
  }
}

/* An RGB denoiser at half resolution, its head added to the input or not. */
static AeModel *
rgb_model (gboolean residual)
{
  g_autofree char *json = g_strdup_printf ("{\"nodes\": ["
      "{\"name\":\"u\",\"op\":\"pixel_unshuffle\",\"inputs\":[\"input\"],\"factor\":2},"
      "{\"name\":\"c\",\"op\":\"conv2d\",\"inputs\":[\"u\"],\"out\":24,\"kernel\":3,\"stride\":1,\"padding\":1,\"act\":\"relu\"},"
      "{\"name\":\"o\",\"op\":\"conv2d\",\"inputs\":[\"c\"],\"out\":12,\"kernel\":3,\"stride\":1,\"padding\":1,\"act\":\"none\"},"
      "{\"name\":\"s\",\"op\":\"pixel_shuffle\",\"inputs\":[\"o\"],\"factor\":2}%s],"
      "\"task\":\"denoise\",\"color\":\"rgb\",\"output\":\"%s\"}",
      residual ? ",{\"name\":\"y\",\"op\":\"add\",\"inputs\":[\"s\",\"input\"]}"
      : "", residual ? "y" : "s");
  g_autoptr (GError) error = NULL;
  AeModel *m = ae_model_new (json, &error);
  g_assert_no_error (error);
  return m;
}

/* RMS of the untrained network's output, less its input when @residual:
 * an RGB denoiser at half resolution, its head added to the input or not. */
static double
untrained_rms (gboolean residual)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) m = rgb_model (residual);
  AeTrainerParams p = { .batch = 2, .width = 16, .height = 16, .threads = 1,
    .seed = 7 };
  g_autoptr (AeTrainer) t = ae_trainer_new (m, &p, &error);
  g_assert_no_error (error);
  ae_trainer_init_weights (t, 11);

  gsize n = ae_trainer_get_input_size (t) * p.batch;
  g_autofree float *in = g_new (float, n);
  g_autofree float *out = g_new (float, n);
  g_autoptr (GRand) r = g_rand_new_with_seed (5);
  fill (r, in, n, 0, 1);
  ae_trainer_forward (t, in, out, p.batch);
  double se = 0;
  for (gsize i = 0; i < n; i++) {
    double d = out[i] - (residual ? in[i] : 0);
    se += d * d;
  }
  return sqrt (se / n);
}

/* A residual network starts close to the identity (its head at a tenth of
 * the usual scale); other heads keep the full scale. */
static void
test_init_residual_head (void)
{
  double res = untrained_rms (TRUE), plain = untrained_rms (FALSE);
  g_test_message ("untrained output RMS: residual %.4f, plain %.4f", res,
      plain);
  g_assert_cmpfloat (res, <, 0.1);
  g_assert_cmpfloat (plain, >, 0.3);
  g_assert_cmpfloat (fabs (res * 10 - plain), <, 1e-3 * plain);
}

/* Buffers too large to allocate are an error, not a crash, with any number
 * of workers (each worker's buffers are freed whether it got them or not). */
static void
test_no_memory (void)
{
  g_autoptr (AeModel) m = rgb_model (TRUE);
  g_autoptr (GError) error = NULL;
  AeTrainerParams p = { .batch = 2, .width = 1 << 20, .height = 1 << 20,
    .threads = 2, .seed = 7 };
  g_autoptr (AeTrainer) t = ae_trainer_new (m, &p, &error);
  g_assert_null (t);
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_MEMORY);
  g_assert_nonnull (strstr (error->message, "smaller patches"));
}

/* leaky_relu with a negative slope runs in the engine but is refused by
 * the trainer, whose backward could not tell its branches apart. */
static void
test_negative_slope (void)
{
  const char *json = "{\"task\":\"denoise\",\"color\":\"luma\",\"nodes\":["
      "{\"name\":\"c\",\"op\":\"conv2d\",\"inputs\":[\"input\"],\"out\":4,"
      "\"kernel\":3,\"padding\":1,\"act\":\"leaky_relu\",\"slope\":-0.3},"
      "{\"name\":\"o\",\"op\":\"conv2d\",\"inputs\":[\"c\"],\"out\":1,"
      "\"kernel\":3,\"padding\":1}],\"output\":\"o\"}";
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) m = ae_model_new (json, &error);
  g_assert_no_error (error);
  AeTrainerParams p = { .batch = 1, .width = 8, .height = 8, .threads = 1 };
  g_autoptr (AeTrainer) t = ae_trainer_new (m, &p, &error);
  g_assert_null (t);
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "negative slope"));
}

/* The sanitizer build: a failed allocation returns NULL, as malloc does,
 * rather than aborting (for /train/no-memory). */
const char *__asan_default_options (void);
const char *
__asan_default_options (void)
{
  return "allocator_may_return_null=1";
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/init/residual-head", test_init_residual_head);
  g_test_add_func ("/train/no-memory", test_no_memory);
  g_test_add_func ("/train/negative-slope", test_negative_slope);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *path = g_strdup_printf ("/backward/%s", cases[i].name);
    g_test_add_data_func (path, &cases[i], test_case);
    g_autofree char *fpath = g_strdup_printf ("/forward/%s", cases[i].name);
    g_test_add_data_func (fpath, &cases[i], test_forward);
  }
  return g_test_run ();
}
