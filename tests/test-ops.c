/* Every CPU kernel (compute/cpu/ae-cpu-ops.h) against a naive reference
 * written here: plain loops over C x H x W tensors with double accumulation,
 * following PyTorch's definitions of the ops. Shapes, weights and inputs
 * come from a fixed-seed GRand, so every run tests the same cases; each
 * case is its own TAP test. The kernels take H x W x C data. */
#include "ae-cpu-ops.h"

#include <math.h>
#include <string.h>

#define SEED 20240612
#define TOL 1e-4

static AeParallel *pool;

/* ------------------------------------------------------------------ */
/* tensors */

typedef struct {
  int c, h, w;
  float *d;                     /* C x H x W */
} Tensor;

static Tensor
tensor_new (int c, int h, int w)
{
  Tensor t = { c, h, w, g_new0 (float, (gsize) c * h * w) };
  return t;
}

static void
tensor_clear (Tensor *t)
{
  g_clear_pointer (&t->d, g_free);
}

static inline float
at (const Tensor *t, int c, int y, int x)
{
  return t->d[((gsize) c * t->h + y) * t->w + x];
}

static void
fill_uniform (GRand *r, float *d, gsize n, double lo, double hi)
{
  for (gsize i = 0; i < n; i++)
    d[i] = g_rand_double_range (r, lo, hi);
}

static Tensor
random_tensor (GRand *r, int c, int h, int w)
{
  Tensor t = tensor_new (c, h, w);
  fill_uniform (r, t.d, (gsize) c * h * w, -1.0, 1.0);
  return t;
}

/* C x H x W -> H x W x C */
static float *
to_hwc (const Tensor *t)
{
  float *o = g_new (float, (gsize) t->c * t->h * t->w);
  for (int c = 0; c < t->c; c++)
    for (int y = 0; y < t->h; y++)
      for (int x = 0; x < t->w; x++)
        o[((gsize) y * t->w + x) * t->c + c] = at (t, c, y, x);
  return o;
}

/* Max abs difference of @hwc (the kernel's output, H x W x C) from @ref
 * (C x H x W, doubles), relative to max(1, max |ref|). */
static void
assert_close (const double *ref, const float *hwc, int C, int H, int W)
{
  double err = 0, mag = 1;
  int worst = -1;
  for (int c = 0; c < C; c++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) {
        double r = ref[((gsize) c * H + y) * W + x];
        double g = hwc[((gsize) y * W + x) * C + c];
        double e = fabs (g - r);
        mag = MAX (mag, fabs (r));
        if (!(e <= err)) {      /* NaN counts as the worst */
          err = isnan (e) ? INFINITY : e;
          worst = ((c * H) + y) * W + x;
        }
      }
  g_test_message ("max abs error %.3g (scale %.3g)", err, mag);
  if (!(err <= TOL * mag)) {
    int c = worst / (H * W), y = worst / W % H, x = worst % W;
    g_test_message ("worst at c=%d y=%d x=%d: ref %.9g, got %.9g", c, y, x,
        ref[worst], hwc[((gsize) y * W + x) * C + c]);
    g_test_fail ();
  }
}

static double
act_ref (double v, AeAct act, double slope)
{
  switch (act) {
    case AE_ACT_NONE:
      return v;
    case AE_ACT_RELU:
      return v > 0 ? v : 0;
    case AE_ACT_LEAKY_RELU:
      return v > 0 ? v : v * slope;
    case AE_ACT_SIGMOID:
      return 1.0 / (1.0 + exp (-v));
    case AE_ACT_TANH:
      return tanh (v);
  }
  g_assert_not_reached ();
}

static const AeAct all_acts[] = { AE_ACT_NONE, AE_ACT_RELU,
  AE_ACT_LEAKY_RELU, AE_ACT_SIGMOID, AE_ACT_TANH
};

/* ------------------------------------------------------------------ */
/* conv2d and conv_transpose2d */

typedef struct {
  gboolean transposed;
  int cin, cout, h, w;
  int kernel, stride, padding, dilation, output_padding;
  gboolean bias;
  AeAct act;
  float slope;
  guint32 seed;
} ConvCase;

static int
conv_out_size (const ConvCase *cc, int n)
{
  int ext = (cc->kernel - 1) * cc->dilation;
  if (cc->transposed)
    return (n - 1) * cc->stride - 2 * cc->padding + ext + cc->output_padding
        + 1;
  int v = n + 2 * cc->padding - ext - 1;
  return v < 0 ? 0 : v / cc->stride + 1;
}

/* PyTorch conv2d: out[o][y][x] = b[o] + sum w[o][i][ky][kx] *
 * in[i][y*s - p + ky*d][x*s - p + kx*d], zero outside. */
static double *
conv2d_ref (const ConvCase *cc, const Tensor *in, const float *w,
    const float *b, int oh, int ow)
{
  double *o = g_new0 (double, (gsize) cc->cout * oh * ow);
  int k = cc->kernel;
  for (int co = 0; co < cc->cout; co++)
    for (int y = 0; y < oh; y++)
      for (int x = 0; x < ow; x++) {
        double acc = b ? b[co] : 0.0;
        for (int ci = 0; ci < cc->cin; ci++)
          for (int ky = 0; ky < k; ky++) {
            int iy = y * cc->stride - cc->padding + ky * cc->dilation;
            if (iy < 0 || iy >= in->h)
              continue;
            for (int kx = 0; kx < k; kx++) {
              int ix = x * cc->stride - cc->padding + kx * cc->dilation;
              if (ix < 0 || ix >= in->w)
                continue;
              acc += (double) w[(((gsize) co * cc->cin + ci) * k + ky) * k
                  + kx] * at (in, ci, iy, ix);
            }
          }
        o[((gsize) co * oh + y) * ow + x] = act_ref (acc, cc->act, cc->slope);
      }
  return o;
}

/* PyTorch conv_transpose2d: every input pixel scatters w[i][o] into
 * out[o][iy*s - p + ky*d][ix*s - p + kx*d]. */
static double *
conv_transpose2d_ref (const ConvCase *cc, const Tensor *in, const float *w,
    const float *b, int oh, int ow)
{
  double *o = g_new0 (double, (gsize) cc->cout * oh * ow);
  int k = cc->kernel;
  for (int ci = 0; ci < cc->cin; ci++)
    for (int iy = 0; iy < in->h; iy++)
      for (int ix = 0; ix < in->w; ix++)
        for (int co = 0; co < cc->cout; co++)
          for (int ky = 0; ky < k; ky++) {
            int y = iy * cc->stride - cc->padding + ky * cc->dilation;
            if (y < 0 || y >= oh)
              continue;
            for (int kx = 0; kx < k; kx++) {
              int x = ix * cc->stride - cc->padding + kx * cc->dilation;
              if (x < 0 || x >= ow)
                continue;
              o[((gsize) co * oh + y) * ow + x] += (double) at (in, ci, iy, ix)
                  * w[(((gsize) ci * cc->cout + co) * k + ky) * k + kx];
            }
          }
  for (int co = 0; co < cc->cout; co++)
    for (gsize i = 0; i < (gsize) oh * ow; i++) {
      double *v = &o[co * (gsize) oh * ow + i];
      *v = act_ref (*v + (b ? b[co] : 0.0), cc->act, cc->slope);
    }
  return o;
}

static void
test_conv (gconstpointer data)
{
  const ConvCase *cc = data;
  GRand *r = g_rand_new_with_seed (cc->seed);
  int k = cc->kernel, oh = conv_out_size (cc, cc->h),
      ow = conv_out_size (cc, cc->w);
  gsize nw = (gsize) cc->cin * cc->cout * k * k;
  g_autofree float *w = g_new (float, nw);
  g_autofree float *b = cc->bias ? g_new (float, cc->cout) : NULL;
  /* weights scaled so that outputs stay around 1 */
  double ws = 1.5 / sqrt ((double) cc->cin * k * k);

  g_assert_cmpint (oh, >=, 1);
  g_assert_cmpint (ow, >=, 1);
  Tensor in = random_tensor (r, cc->cin, cc->h, cc->w);
  fill_uniform (r, w, nw, -ws, ws);
  if (b)
    fill_uniform (r, b, cc->cout, -0.5, 0.5);

  AeNode nd = {
    .name = (char *) "c",
    .op = cc->transposed ? AE_OP_CONV_TRANSPOSE2D : AE_OP_CONV2D,
    .n_inputs = 1,
    .channels = cc->cout,
  };
  nd.p.conv = (AeConvParams) {
    .out_channels = cc->cout,.in_channels = cc->cin,.kernel = k,
    .stride = cc->stride,.padding = cc->padding,.dilation = cc->dilation,
    .output_padding = cc->output_padding,.has_bias = cc->bias,
    .act = cc->act,.slope = cc->slope,
  };

  g_autofree float *packed = ae_cpu_pack_conv (&nd, w);
  g_autofree float *hwc = to_hwc (&in);
  gsize n_out = (gsize) cc->cout * oh * ow;
  /* one guard float past the output catches overruns */
  g_autofree float *out = g_new (float, n_out + 1);
  for (gsize i = 0; i <= n_out; i++)
    out[i] = NAN;
  out[n_out] = 12345.0f;
  AeCpuIn ain = { hwc, { cc->cin, cc->h, cc->w } };
  AeShape os = { cc->cout, oh, ow };
  g_autofree double *ref = NULL;

  int nt = ae_parallel_get_n_threads (pool);
  gsize ns = ae_cpu_conv_scratch (&nd);
  g_autofree float **scratch = g_new0 (float *, nt);
  for (int t = 0; t < nt; t++)
    scratch[t] = ns ? g_new (float, ns) : NULL;
  if (cc->transposed) {
    ae_cpu_conv_transpose2d (pool, &nd, ain, packed, b, out, os, scratch);
    ref = conv_transpose2d_ref (cc, &in, w, b, oh, ow);
  } else {
    ae_cpu_conv2d (pool, &nd, ain, packed, b, out, os, scratch);
    ref = conv2d_ref (cc, &in, w, b, oh, ow);
  }
  for (int t = 0; t < nt; t++)
    g_free (scratch[t]);
  g_assert_cmpfloat (out[n_out], ==, 12345.0f);
  assert_close (ref, out, cc->cout, oh, ow);

  /* the direct kernels this CPU has (AE_CPU_CONV picks narrower ones) */
  if (!cc->transposed && ae_cpu_direct_supported (&nd)) {
    g_autofree float *thin = ae_cpu_direct_pack_thin (&nd, w);
    for (gsize i = 0; i < n_out; i++)
      out[i] = NAN;
    ae_cpu_conv2d_direct (pool, &nd, ain, packed, thin, b, out, os);
    g_assert_cmpfloat (out[n_out], ==, 12345.0f);
    assert_close (ref, out, cc->cout, oh, ow);
  }
  tensor_clear (&in);
  g_rand_free (r);
}

/* ------------------------------------------------------------------ */
/* the simple ops */

typedef struct {
  AeOp op;
  int n_inputs;
  int c[3];                     /* channels of each input */
  int h, w;
  int factor;
  AeUpsampleMode mode;
  int kernel, stride, padding;
  AeAct act;
  float slope;
  guint32 seed;
} SimpleCase;

static AeShape
simple_out_shape (const SimpleCase *sc)
{
  AeShape s = { sc->c[0], sc->h, sc->w };
  switch (sc->op) {
    case AE_OP_PIXEL_SHUFFLE:
      s.c /= sc->factor * sc->factor;
      s.h *= sc->factor;
      s.w *= sc->factor;
      break;
    case AE_OP_PIXEL_UNSHUFFLE:
      s.c *= sc->factor * sc->factor;
      s.h /= sc->factor;
      s.w /= sc->factor;
      break;
    case AE_OP_UPSAMPLE:
      s.h *= sc->factor;
      s.w *= sc->factor;
      break;
    case AE_OP_MAX_POOL2D:
    case AE_OP_AVG_POOL2D:
      /* floor((n + 2p - k) / s) + 1, ceil_mode=False */
      s.h = (sc->h + 2 * sc->padding - sc->kernel) / sc->stride + 1;
      s.w = (sc->w + 2 * sc->padding - sc->kernel) / sc->stride + 1;
      break;
    case AE_OP_CONCAT:
      for (int k = 1; k < sc->n_inputs; k++)
        s.c += sc->c[k];
      break;
    default:
      break;
  }
  return s;
}

/* PyTorch's upsample_bilinear2d source index, align_corners=False. */
static void
bilinear_src (int dst, int f, int n, int *i0, int *i1, double *lambda)
{
  double src = (dst + 0.5) / f - 0.5;
  if (src < 0)
    src = 0;
  *i0 = MIN ((int) floor (src), n - 1);
  *i1 = MIN (*i0 + 1, n - 1);
  *lambda = src - *i0;
}

static double *
simple_ref (const SimpleCase *sc, const Tensor *ins, AeShape os)
{
  double *o = g_new0 (double, (gsize) os.c * os.h * os.w);
  const Tensor *in = &ins[0];
  const int f = sc->factor;

  for (int c = 0; c < os.c; c++)
    for (int y = 0; y < os.h; y++)
      for (int x = 0; x < os.w; x++) {
        double v = 0;
        switch (sc->op) {
          case AE_OP_PIXEL_SHUFFLE:
            /* out[c][y][x] = in[c*f*f + (y%f)*f + x%f][y/f][x/f] */
            v = at (in, c * f * f + (y % f) * f + x % f, y / f, x / f);
            break;
          case AE_OP_PIXEL_UNSHUFFLE:{
            int ic = c / (f * f), sub = c % (f * f);
            v = at (in, ic, y * f + sub / f, x * f + sub % f);
            break;
          }
          case AE_OP_UPSAMPLE:
            if (sc->mode == AE_UPSAMPLE_NEAREST) {
              v = at (in, c, y / f, x / f);
            } else {
              int y0, y1, x0, x1;
              double ly, lx;
              bilinear_src (y, f, in->h, &y0, &y1, &ly);
              bilinear_src (x, f, in->w, &x0, &x1, &lx);
              v = (1 - ly) * ((1 - lx) * at (in, c, y0, x0)
                  + lx * at (in, c, y0, x1))
                  + ly * ((1 - lx) * at (in, c, y1, x0)
                  + lx * at (in, c, y1, x1));
            }
            break;
          case AE_OP_MAX_POOL2D:
          case AE_OP_AVG_POOL2D:{
            gboolean is_max = sc->op == AE_OP_MAX_POOL2D;
            double acc = is_max ? -INFINITY : 0;
            for (int ky = 0; ky < sc->kernel; ky++)
              for (int kx = 0; kx < sc->kernel; kx++) {
                int iy = y * sc->stride - sc->padding + ky;
                int ix = x * sc->stride - sc->padding + kx;
                if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w)
                  continue;     /* max ignores padding, avg counts zeros */
                acc = is_max ? MAX (acc, at (in, c, iy, ix))
                    : acc + at (in, c, iy, ix);
              }
            v = is_max ? acc : acc / (sc->kernel * sc->kernel);
            break;
          }
          case AE_OP_ADD:
            for (int k = 0; k < sc->n_inputs; k++)
              v += at (&ins[k], c, y, x);
            break;
          case AE_OP_CONCAT:{
            int k = 0, cc = c;
            while (cc >= ins[k].c)
              cc -= ins[k++].c;
            v = at (&ins[k], cc, y, x);
            break;
          }
          case AE_OP_ACT:
            v = act_ref (at (in, c, y, x), sc->act, sc->slope);
            break;
          default:
            g_assert_not_reached ();
        }
        o[((gsize) c * os.h + y) * os.w + x] = v;
      }
  return o;
}

static void
test_simple (gconstpointer data)
{
  const SimpleCase *sc = data;
  GRand *r = g_rand_new_with_seed (sc->seed);
  Tensor ins[3] = { 0 };
  float *hwc[3] = { 0 };
  AeCpuIn ains[3];
  AeShape os = simple_out_shape (sc);

  g_assert_cmpint (os.h, >=, 1);
  g_assert_cmpint (os.w, >=, 1);
  for (int k = 0; k < sc->n_inputs; k++) {
    ins[k] = random_tensor (r, sc->c[k], sc->h, sc->w);
    if (sc->op == AE_OP_ACT)    /* reach the tails of the activations */
      for (gsize i = 0; i < (gsize) sc->c[k] * sc->h * sc->w; i++)
        ins[k].d[i] *= 6;
    hwc[k] = to_hwc (&ins[k]);
    ains[k] = (AeCpuIn) { hwc[k], { sc->c[k], sc->h, sc->w } };
  }

  AeNode nd = {
    .name = (char *) "n",.op = sc->op,.n_inputs = sc->n_inputs,
    .channels = os.c,
  };
  for (int k = 0; k < sc->n_inputs; k++)
    nd.inputs[k] = k;
  switch (sc->op) {
    case AE_OP_PIXEL_SHUFFLE:
    case AE_OP_PIXEL_UNSHUFFLE:
    case AE_OP_UPSAMPLE:
      nd.p.resample = (AeResampleParams) { sc->factor, sc->mode };
      break;
    case AE_OP_MAX_POOL2D:
    case AE_OP_AVG_POOL2D:
      nd.p.pool = (AePoolParams) { sc->kernel, sc->stride, sc->padding };
      break;
    case AE_OP_ACT:
      nd.p.act = (AeActParams) { sc->act, sc->slope };
      break;
    default:
      break;
  }

  gsize n_out = (gsize) os.c * os.h * os.w;
  g_autofree float *out = g_new (float, n_out + 1);
  for (gsize i = 0; i < n_out; i++)
    out[i] = NAN;
  out[n_out] = 12345.0f;
  ae_cpu_simple_op (pool, &nd, ains, out, os);
  g_assert_cmpfloat (out[n_out], ==, 12345.0f);

  g_autofree double *ref = simple_ref (sc, ins, os);
  assert_close (ref, out, os.c, os.h, os.w);
  for (int k = 0; k < sc->n_inputs; k++) {
    tensor_clear (&ins[k]);
    g_free (hwc[k]);
  }
  g_rand_free (r);
}

/* ae_cpu_activate on its own, at extreme values too. */
static void
test_activate (void)
{
  static const float xs[] = { -1e30f, -1000, -100, -20, -1, -0.5f, -1e-6f,
    0, 1e-6f, 0.5f, 1, 20, 100, 1000, 1e30f
  };
  const int n = G_N_ELEMENTS (xs);
  for (guint a = 0; a < G_N_ELEMENTS (all_acts); a++) {
    float v[G_N_ELEMENTS (xs)];
    memcpy (v, xs, sizeof v);
    ae_cpu_activate (v, n, all_acts[a], 0.2f);
    for (int i = 0; i < n; i++) {
      double want = act_ref (xs[i], all_acts[a], 0.2f);
      g_assert_true (isfinite (v[i]));
      g_assert_cmpfloat (fabs (v[i] - want), <=, 1e-6 * MAX (1, fabs (want)));
    }
  }
  /* n = 0 touches nothing */
  ae_cpu_activate (NULL, 0, AE_ACT_SIGMOID, 0.01f);
  /* NaN stays NaN through sigmoid and tanh, in vector groups and tails */
  for (int k = 0; k < 2; k++) {
    float v[11];
    for (int i = 0; i < 11; i++)
      v[i] = i % 5 ? 0.25f : NAN;
    ae_cpu_activate (v, 11, k ? AE_ACT_TANH : AE_ACT_SIGMOID, 0);
    for (int i = 0; i < 11; i++)
      g_assert_true (i % 5 ? isfinite (v[i]) : isnan (v[i]));
  }
}

/* ------------------------------------------------------------------ */
/* case generation */

typedef struct {
  int h, w;
} Size;

static const Size sizes[] = {
  {1, 1}, {2, 2}, {9, 17}, {17, 9}, {33, 40}, {7, 5}, {40, 33},
};

static char *
size_str (int h, int w)
{
  return g_strdup_printf ("%dx%d", w, h);
}

static void
add_conv_case (ConvCase *cc, GRand *r)
{
  cc->seed = g_rand_int (r);
  g_autofree char *sz = size_str (cc->h, cc->w);
  g_autofree char *path = cc->transposed ?
      g_strdup_printf ("/ops/conv_transpose2d/k%d-s%d-d%d-p%d-op%d-%s-%s/"
      "%s-c%d-c%d", cc->kernel, cc->stride, cc->dilation, cc->padding,
      cc->output_padding, ae_act_name (cc->act), cc->bias ? "bias" : "nobias",
      sz, cc->cin, cc->cout) :
      g_strdup_printf ("/ops/conv2d/k%d-s%d-d%d-p%d-%s-%s/%s-c%d-c%d",
      cc->kernel, cc->stride, cc->dilation, cc->padding,
      ae_act_name (cc->act), cc->bias ? "bias" : "nobias", sz, cc->cin,
      cc->cout);
  g_test_add_data_func_full (path, g_memdup2 (cc, sizeof *cc), test_conv,
      g_free);
}

/* Picks a size for @cc (starting at @hint) that gives a non-empty output and
 * keeps the reference under ~30 M multiply-adds. */
static gboolean
pick_size (ConvCase *cc, int hint)
{
  for (guint t = 0; t < G_N_ELEMENTS (sizes); t++) {
    const Size *s = &sizes[(hint + t) % G_N_ELEMENTS (sizes)];
    cc->h = s->h;
    cc->w = s->w;
    int oh = conv_out_size (cc, cc->h), ow = conv_out_size (cc, cc->w);
    double macs = (double) cc->cin * cc->cout * cc->kernel * cc->kernel *
        (cc->transposed ? cc->h * cc->w : oh * ow);
    if (oh >= 1 && ow >= 1 && macs <= 30e6)
      return TRUE;
  }
  return FALSE;
}

static const int chans[][2] = {
  {1, 1}, {1, 17}, {3, 5}, {5, 3}, {17, 32}, {32, 64}, {64, 32}, {64, 1},
  {3, 64}, {32, 32}, {5, 17}, {64, 64}, {17, 1}, {1, 3}, {8, 24}, {24, 40},
};

static int
add_conv_cases (GRand *r)
{
  int n = 0, idx = 0;
  for (int k = 1; k <= 5; k += 2)
    for (int s = 1; s <= 2; s++)
      for (int d = 1; d <= 2; d++) {
        int ext = (k - 1) * d;
        /* PyTorch-style "same" padding, none, and one at random */
        int pads[3] = { (k / 2) * d, 0, g_rand_int_range (r, 0, ext + 1) };
        for (int pi = 0; pi < 3; pi++) {
          if (pi > 0 && pads[pi] == pads[0])
            continue;
          if (pi == 2 && pads[2] == pads[1])
            continue;
          for (int rep = 0; rep < 2; rep++, idx++) {
            ConvCase cc = {
              .kernel = k,.stride = s,.dilation = d,.padding = pads[pi],
              .act = all_acts[idx % G_N_ELEMENTS (all_acts)],
              .slope = idx % 2 ? 0.01f : 0.2f,
              .bias = (idx / 5) % 2 == 0,
              .cin = chans[idx % G_N_ELEMENTS (chans)][0],
              .cout = chans[idx % G_N_ELEMENTS (chans)][1],
            };
            if (pick_size (&cc, idx * 3)) {
              add_conv_case (&cc, r);
              n++;
            }
          }
        }
      }
  /* 1x1 frames: "same" padding keeps them 1x1, at any stride */
  for (int k = 1; k <= 5; k += 2)
    for (int s = 1; s <= 2; s++) {
      ConvCase cc = {
        .kernel = k,.stride = s,.dilation = 1,.padding = k / 2,
        .act = AE_ACT_RELU,.bias = TRUE,.cin = 3,.cout = 17,.h = 1,.w = 1,
      };
      add_conv_case (&cc, r);
      n++;
    }
  /* a wide frame, so pixel blocks cross rows and the pool splits it */
  ConvCase wide = {
    .kernel = 3,.stride = 1,.dilation = 1,.padding = 1,.act = AE_ACT_NONE,
    .bias = TRUE,.cin = 16,.cout = 16,.h = 13,.w = 301,
  };
  add_conv_case (&wide, r);
  wide.stride = 2;
  wide.padding = 0;
  add_conv_case (&wide, r);
  /* 24 channels: a 16-channel block and the 12-pixel x 8-channel one */
  wide.stride = 1;
  wide.padding = 1;
  wide.cin = wide.cout = 24;
  wide.act = AE_ACT_RELU;
  add_conv_case (&wide, r);
  /* widths off the multiples of 8: the last 8-channel group overlaps */
  wide.cout = 12;
  add_conv_case (&wide, r);
  wide.cout = 20;
  wide.act = AE_ACT_LEAKY_RELU;
  wide.slope = 0.1f;
  add_conv_case (&wide, r);
  /* 48 channels (a 32-channel group and a 16), on rows whose interior is
   * a block and a part (the last block moves back to overlap), under one
   * block, and exactly one */
  wide.cout = 48;
  wide.h = 5;
  int widths[] = { 20, 9, 14 };
  for (guint i = 0; i < G_N_ELEMENTS (widths); i++) {
    wide.w = widths[i];
    add_conv_case (&wide, r);
  }
  n += 5 + G_N_ELEMENTS (widths);
  /* thin outputs from 8k inputs (the last conv of an image network): 1 to
   * 4 channels in two-pixel blocks, 5 to 7 in four-pixel ones; odd
   * interiors leave a pixel over */
  wide.cin = 24;
  wide.h = 4;
  wide.w = 31;
  wide.act = AE_ACT_NONE;
  for (int co = 1; co <= 5; co++) {
    wide.cout = co;
    wide.stride = co % 2 ? 1 : 2;
    add_conv_case (&wide, r);
    n++;
  }
  return n;
}

static int
add_conv_transpose_cases (GRand *r)
{
  int n = 0, idx = 0;
  for (int k = 2; k <= 4; k++)
    for (int s = 1; s <= 2; s++)
      for (int d = 1; d <= 2; d++) {
        int ext = (k - 1) * d;
        int pads[2] = { 0, g_rand_int_range (r, 1, ext + 1) };
        for (int pi = 0; pi < 2; pi++)
          for (int op = 0; op < s; op++, idx++) {
            ConvCase cc = {
              .transposed = TRUE,.kernel = k,.stride = s,.dilation = d,
              .padding = pads[pi],.output_padding = op,
              .act = all_acts[idx % G_N_ELEMENTS (all_acts)],
              .slope = 0.1f,.bias = idx % 3 != 0,
              .cin = chans[(idx + 3) % G_N_ELEMENTS (chans)][0],
              .cout = chans[(idx + 3) % G_N_ELEMENTS (chans)][1],
            };
            if (pick_size (&cc, idx)) {
              add_conv_case (&cc, r);
              n++;
            }
          }
      }
  /* stride 3 (phases of unequal tap counts) and a kernel smaller than the
   * stride (outputs no tap reaches) */
  for (int k = 1; k <= 5; k += 2)
    for (int op = 0; op < 3; op += 2, idx++) {
      ConvCase cc = {
        .transposed = TRUE,.kernel = k,.stride = 3,.dilation = 1,
        .padding = k / 2,.output_padding = op,
        .act = all_acts[idx % G_N_ELEMENTS (all_acts)],.bias = TRUE,
        .cin = chans[idx % G_N_ELEMENTS (chans)][0],
        .cout = chans[idx % G_N_ELEMENTS (chans)][1],
      };
      if (pick_size (&cc, idx)) {
        add_conv_case (&cc, r);
        n++;
      }
    }
  /* the decoder layer of the fixtures: k4 s2 p1, and k3 s2 p1 op1 */
  ConvCase dec = {
    .transposed = TRUE,.kernel = 4,.stride = 2,.dilation = 1,.padding = 1,
    .act = AE_ACT_RELU,.bias = TRUE,.cin = 32,.cout = 17,.h = 17,.w = 9,
  };
  add_conv_case (&dec, r);
  dec.kernel = 3;
  dec.output_padding = 1;
  dec.h = dec.w = 1;
  add_conv_case (&dec, r);
  return n + 2;
}

static void
add_simple_case (SimpleCase *sc, GRand *r, const char *what)
{
  sc->seed = g_rand_int (r);
  g_autofree char *sz = size_str (sc->h, sc->w);
  GString *ch = g_string_new (NULL);
  for (int k = 0; k < sc->n_inputs; k++)
    g_string_append_printf (ch, "-c%d", sc->c[k]);
  g_autofree char *path = g_strdup_printf ("/ops/%s/%s/%s%s",
      ae_op_name (sc->op), what, sz, ch->str);
  g_string_free (ch, TRUE);
  g_test_add_data_func_full (path, g_memdup2 (sc, sizeof *sc), test_simple,
      g_free);
}

static int
add_simple_cases (GRand *r)
{
  int n = 0;
  const int nsz = G_N_ELEMENTS (sizes);

  for (int f = 2; f <= 3; f++) {
    const int base_c[] = { 1, 3, 5 };
    for (int i = 0; i < 3; i++) {
      /* shuffle: any size; unshuffle: sizes that divide by f */
      const Size *s = &sizes[(i * 2 + f) % nsz];
      SimpleCase sh = {.op = AE_OP_PIXEL_SHUFFLE,.n_inputs = 1,
        .c = { base_c[i] * f * f },.h = s->h,.w = s->w,.factor = f
      };
      g_autofree char *w1 = g_strdup_printf ("f%d", f);
      add_simple_case (&sh, r, w1);
      const int um[][2] = { {1, 1}, {3, 7}, {11, 5} };
      SimpleCase un = {.op = AE_OP_PIXEL_UNSHUFFLE,.n_inputs = 1,
        .c = { base_c[i] },.h = f * um[i][0],.w = f * um[i][1],.factor = f
      };
      add_simple_case (&un, r, w1);
      n += 2;
    }
    /* upsample: about half the sizes per mode and factor, always 1x1 */
    for (int m = 0; m < 2; m++)
      for (guint i = 0; i < G_N_ELEMENTS (sizes); i++) {
        if (i % 2 != (guint) (f + m) % 2 && sizes[i].h != 1)
          continue;
        SimpleCase up = {.op = AE_OP_UPSAMPLE,.n_inputs = 1,
          .c = { i % 3 == 0 ? 1 : i % 3 == 1 ? 3 : 17 },.h = sizes[i].h,
          .w = sizes[i].w,.factor = f,.mode = m ? AE_UPSAMPLE_BILINEAR :
              AE_UPSAMPLE_NEAREST
        };
        g_autofree char *w2 = g_strdup_printf ("%s-f%d",
            m ? "bilinear" : "nearest", f);
        add_simple_case (&up, r, w2);
        n++;
      }
  }

  for (int op = 0; op < 2; op++)
    for (int k = 2; k <= 3; k++)
      for (int s = 1; s <= 2; s++)
        for (int p = 0; p <= k / 2; p++) {
          for (int t = 0; t < 2; t++) {
            const Size *sz = &sizes[(k * 3 + s * 2 + p + t * 3 + op) % nsz];
            if (sz->h + 2 * p < k || sz->w + 2 * p < k)
              sz = &sizes[4];
            SimpleCase pc = {.op = op ? AE_OP_AVG_POOL2D : AE_OP_MAX_POOL2D,
              .n_inputs = 1,.c = { t ? 17 : 3 },.h = sz->h,.w = sz->w,
              .kernel = k,.stride = s,.padding = p
            };
            g_autofree char *w = g_strdup_printf ("k%d-s%d-p%d", k, s, p);
            add_simple_case (&pc, r, w);
            n++;
          }
          if (p > 0) {          /* a 1x1 frame needs padding to pool */
            SimpleCase pc = {.op = op ? AE_OP_AVG_POOL2D : AE_OP_MAX_POOL2D,
              .n_inputs = 1,.c = { 5 },.h = 1,.w = 1,.kernel = k,.stride = s,
              .padding = p
            };
            g_autofree char *w = g_strdup_printf ("k%d-s%d-p%d", k, s, p);
            add_simple_case (&pc, r, w);
            n++;
          }
        }

  for (int ni = 2; ni <= 3; ni++)
    for (guint i = 0; i < G_N_ELEMENTS (sizes); i += 2) {
      SimpleCase ad = {.op = AE_OP_ADD,.n_inputs = ni,
        .c = { 5 + 12 * (i % 2), 5 + 12 * (i % 2), 5 + 12 * (i % 2) },
        .h = sizes[i].h,.w = sizes[i].w
      };
      g_autofree char *w = g_strdup_printf ("%d-inputs", ni);
      add_simple_case (&ad, r, w);
      SimpleCase cat = {.op = AE_OP_CONCAT,.n_inputs = ni,
        .c = { 1 + 2 * i, 3, 32 },.h = sizes[i + 1 < G_N_ELEMENTS (sizes) ?
            i + 1 : 0].h,.w = sizes[i + 1 < G_N_ELEMENTS (sizes) ?
            i + 1 : 0].w
      };
      add_simple_case (&cat, r, w);
      n += 2;
    }

  for (guint a = 0; a < G_N_ELEMENTS (all_acts); a++)
    for (int t = 0; t < 2; t++) {
      const Size *sz = &sizes[(a * 2 + t) % nsz];
      SimpleCase ac = {.op = AE_OP_ACT,.n_inputs = 1,.c = { t ? 1 : 17 },
        .h = sz->h,.w = sz->w,.act = all_acts[a],.slope = t ? 0.01f : 0.3f
      };
      add_simple_case (&ac, r, ae_act_name (all_acts[a]));
      n++;
    }
  return n;
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  GRand *r = g_rand_new_with_seed (SEED);
  int n = add_conv_cases (r);
  n += add_conv_transpose_cases (r);
  n += add_simple_cases (r);
  g_rand_free (r);
  g_assert_cmpint (n, >, 150);
  g_test_add_func ("/ops/activate", test_activate);

  pool = ae_parallel_new (2);
  int ret = g_test_run ();
  ae_parallel_free (pool);
  return ret;
}
