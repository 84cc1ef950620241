#include "ae-cpu-ops.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* im2col blocks of about this many floats stay in L2 with room for the
 * GEMM's packed panels */
#define IM2COL_BLOCK_FLOATS (96 * 1024)

float *
ae_cpu_pack_weight (const AeNode *nd, const float *w)
{
  const AeConvParams *c = &nd->p.conv;
  int k = c->kernel, ci = c->in_channels, co = c->out_channels;
  gboolean tr = nd->op == AE_OP_CONV_TRANSPOSE2D;
  float *p = g_new0 (float, (gsize) k * k * ci * co + AE_CPU_PACK_SLACK);

  for (int o = 0; o < co; o++)
    for (int i = 0; i < ci; i++)
      for (int y = 0; y < k; y++)
        for (int x = 0; x < k; x++) {
          /* conv: [o][i][y][x]; transposed: [i][o][y][x] */
          gsize src = tr ? (((gsize) i * co + o) * k + y) * k + x
              : (((gsize) o * ci + i) * k + y) * k + x;
          p[(((gsize) y * k + x) * ci + i) * co + o] = w[src];
        }
  return p;
}

/* Transposed convs with dilation 1 and a kernel no smaller than the stride
 * run as stride² ordinary convs, one per output phase (ry, rx): output
 * (s·qy + ry, s·qx + rx) sums input rows base + qy + t (t < n taps) through
 * kernel rows k0 + s·(n − 1 − t), and the same across. Each phase is
 * im2col + GEMM over blocks of its pixels, as conv2d: no per-pixel gather. */
typedef struct {
  int k0, n, base;
} Phase;

static Phase
phase_of (const AeConvParams *c, int r)
{
  Phase ph;
  ph.k0 = (r + c->padding) % c->stride;
  ph.n = (c->kernel - ph.k0 + c->stride - 1) / c->stride;
  ph.base = (r + c->padding - ph.k0) / c->stride - (ph.n - 1);
  return ph;
}

static gboolean
convt_phased (const AeNode *nd)
{
  const AeConvParams *c = &nd->p.conv;
  return nd->op == AE_OP_CONV_TRANSPOSE2D && c->dilation == 1 &&
      c->kernel >= c->stride;
}

static float *
pack_convt (const AeNode *nd, const float *w)
{
  const AeConvParams *c = &nd->p.conv;
  const int s = c->stride, k = c->kernel;
  const int ci = c->in_channels, co = c->out_channels;
  float *p = g_new (float, (gsize) k * k * ci * co), *dst = p;

  /* phase by phase, each a (ny·nx·ci) x co GEMM operand; every tap belongs
   * to exactly one phase */
  for (int ry = 0; ry < s; ry++)
    for (int rx = 0; rx < s; rx++) {
      Phase py = phase_of (c, ry), px = phase_of (c, rx);
      for (int ty = 0; ty < py.n; ty++)
        for (int tx = 0; tx < px.n; tx++) {
          int ky = py.k0 + s * (py.n - 1 - ty);
          int kx = px.k0 + s * (px.n - 1 - tx);
          for (int i = 0; i < ci; i++, dst += co)
            for (int o = 0; o < co; o++)
              dst[o] = w[(((gsize) i * co + o) * k + ky) * k + kx];
        }
    }
  return p;
}

static int
convt_block (const AeConvParams *c)
{
  int n = (c->kernel + c->stride - 1) / c->stride;
  return CLAMP (IM2COL_BLOCK_FLOATS / (n * n * c->in_channels), 16, 1024);
}

static gsize
convt_scratch (const AeConvParams *c)
{
  int n = (c->kernel + c->stride - 1) / c->stride;
  return (gsize) convt_block (c) * (n * n * c->in_channels + c->out_channels);
}

float *
ae_cpu_pack_conv (const AeNode *nd, const float *w)
{
  return convt_phased (nd) ? pack_convt (nd, w) : ae_cpu_pack_weight (nd, w);
}

static int
block_pixels (const AeNode *nd)
{
  const AeConvParams *c = &nd->p.conv;
  int K = c->kernel * c->kernel * c->in_channels;
  return CLAMP (IM2COL_BLOCK_FLOATS / K, 16, 1024);
}

gboolean
ae_cpu_conv_is_pointwise (const AeConvParams *c)
{
  return c->kernel == 1 && c->stride == 1 && c->padding == 0;
}

gsize
ae_cpu_conv_scratch (const AeNode *nd)
{
  const AeConvParams *c = &nd->p.conv;
  if (convt_phased (nd))
    return convt_scratch (c);
  if (nd->op != AE_OP_CONV2D || ae_cpu_conv_is_pointwise (c))
    return 0;
  return (gsize) block_pixels (nd) * c->kernel * c->kernel * c->in_channels;
}

/* exp(x) without libm calls, so loops over it vectorise: x = n·ln2 + r,
 * |r| <= ln2/2, e^r by its degree-6 Taylor polynomial (relative error below
 * 2e-7), 2^n through the exponent bits. */
static inline float
exp_approx (float x)
{
  if (isnan (x))                /* converting it to an int below is UB */
    return x;
  x = CLAMP (x, -87.0f, 88.0f);
  /* round to nearest by the 1.5·2^23 trick: roundf is a libm call before
   * SSE4.1 and would stop the loop from vectorising */
  float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693145752f - n * 1.42860677e-6f;
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24
                  + r * (1.0f / 120 + r * (1.0f / 720))))));
  union {
    guint32 u;
    float f;
  } b = {.u = (guint32) ((gint32) n + 127) << 23 };
  return p * b.f;
}

void
ae_cpu_activate (float *x, gsize n, AeAct act, float slope)
{
  switch (act) {
    case AE_ACT_NONE:
      break;
    case AE_ACT_RELU:
      for (gsize i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] : 0.0f;
      break;
    case AE_ACT_LEAKY_RELU:
      for (gsize i = 0; i < n; i++)
        x[i] = x[i] > 0.0f ? x[i] : x[i] * slope;
      break;
    case AE_ACT_SIGMOID:
      for (gsize i = ae_cpu_have_avx2 () ? ae_cpu_activate_avx2 (x, n, act) : 0;
          i < n; i++)
        x[i] = 1.0f / (1.0f + exp_approx (-x[i]));
      break;
    case AE_ACT_TANH:
      /* odd function: compute on |x| so small inputs keep their precision */
      for (gsize i = ae_cpu_have_avx2 () ? ae_cpu_activate_avx2 (x, n, act) : 0;
          i < n; i++) {
        float a = fabsf (x[i]);
        float t = a < 0.0625f
            ? a * (1.0f - a * a * (1.0f / 3 - a * a * (2.0f / 15)))
            : 1.0f - 2.0f / (exp_approx (2.0f * a) + 1.0f);
        x[i] = copysignf (t, x[i]);
      }
      break;
  }
}

static void
bias_act (float *x, int n_pix, int co, const float *bias, AeAct act,
    float slope)
{
  if (bias)
    for (int p = 0; p < n_pix; p++) {
      float *r = x + (gsize) p * co;
      for (int o = 0; o < co; o++)
        r[o] += bias[o];
    }
  ae_cpu_activate (x, (gsize) n_pix * co, act, slope);
}

typedef struct {
  const AeNode *nd;
  AeCpuIn in;
  const float *w, *bias;
  float *out;
  AeShape os;
  float *const *scratch;
  int block;
} ConvJob;

/* One kernel row of a column: the @taps pixels x0, x0 + d, ... of input
 * row @y into @dst (taps x C floats), zeros where they fall outside. */
static void
gather_row (const float *src, AeShape ss, int y, int x0, int taps, int d,
    float *dst)
{
  const int ci = ss.c;

  if (y < 0 || y >= ss.h) {
    memset (dst, 0, sizeof (float) * taps * ci);
    return;
  }
  const float *row = src + (gsize) y * ss.w * ci;
  if (d == 1 && x0 >= 0 && x0 + taps <= ss.w) {
    /* the kernel's row is contiguous in HWC */
    memcpy (dst, row + (gsize) x0 * ci, sizeof (float) * taps * ci);
    return;
  }
  for (int t = 0; t < taps; t++, dst += ci) {
    int x = x0 + t * d;
    if (x < 0 || x >= ss.w)
      memset (dst, 0, sizeof (float) * ci);
    else
      memcpy (dst, row + (gsize) x * ci, sizeof (float) * ci);
  }
}

void
ae_cpu_im2col (const float *src, AeShape ss, const AeConvParams *c,
    int grid_w, int p0, int n, float *col)
{
  const int ci = ss.c, k = c->kernel, d = c->dilation;
  const gsize rowlen = (gsize) k * k * ci;

  for (int q = 0; q < n; q++) {
    int oy = (p0 + q) / grid_w, ox = (p0 + q) % grid_w;
    float *dst = col + q * rowlen;
    int y0 = oy * c->stride - c->padding, x0 = ox * c->stride - c->padding;
    for (int ky = 0; ky < k; ky++, dst += k * ci)
      gather_row (src, ss, y0 + ky * d, x0, k, d, dst);
  }
}

static void
conv_task (gpointer data, int task, int worker)
{
  const ConvJob *j = data;
  const AeConvParams *c = &j->nd->p.conv;
  const int co = c->out_channels;
  const int K = c->kernel * c->kernel * c->in_channels;
  const int total = j->os.h * j->os.w;
  int p0 = task * j->block;
  int n = MIN (j->block, total - p0);
  const float *a;

  if (ae_cpu_conv_is_pointwise (c)) {
    a = j->in.data + (gsize) p0 * c->in_channels;
  } else {
    ae_cpu_im2col (j->in.data, j->in.shape, c, j->os.w, p0, n,
        j->scratch[worker]);
    a = j->scratch[worker];
  }
  float *dst = j->out + (gsize) p0 * co;
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, co, K, 1.0f, a,
      K, j->w, co, 0.0f, dst, co);
  bias_act (dst, n, co, j->bias, c->act, c->slope);
}

void
ae_cpu_conv2d (AeParallel *pool, const AeNode *nd, AeCpuIn in,
    const float *packed, const float *bias, float *out, AeShape os,
    float *const *scratch)
{
  ConvJob j = { nd, in, packed, bias, out, os, scratch, block_pixels (nd) };
  int total = os.h * os.w;
  /* enough tasks to balance the threads, none smaller than needed */
  int per = (total + 4 * ae_parallel_get_n_threads (pool) - 1) /
      (4 * ae_parallel_get_n_threads (pool));
  if (per < j.block)
    j.block = MAX (per, 16);
  ae_parallel_run (pool, (total + j.block - 1) / j.block, conv_task, &j);
}

typedef struct {
  const ConvJob *conv;
  Phase py, px;
  int ry, rx, nqx, n_q;
  const float *w;
} PhaseJob;

static void
convt_phase_task (gpointer data, int task, int worker)
{
  const PhaseJob *j = data;
  const ConvJob *cj = j->conv;
  const AeConvParams *c = &cj->nd->p.conv;
  const int ci = c->in_channels, co = c->out_channels, s = c->stride;
  const int K = j->py.n * j->px.n * ci;
  const int q0 = task * cj->block, n = MIN (cj->block, j->n_q - q0);
  float *col = cj->scratch[worker], *res = col + (gsize) n * K;

  for (int q = 0; q < n; q++) {
    int qy = (q0 + q) / j->nqx, qx = (q0 + q) % j->nqx;
    float *dst = col + (gsize) q * K;
    for (int t = 0; t < j->py.n; t++, dst += j->px.n * ci)
      gather_row (cj->in.data, cj->in.shape, j->py.base + qy + t,
          j->px.base + qx, j->px.n, 1, dst);
  }
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, n, co, K, 1.0f, col,
      K, j->w, co, 0.0f, res, co);
  bias_act (res, n, co, cj->bias, c->act, c->slope);
  for (int q = 0; q < n; q++) {
    int qy = (q0 + q) / j->nqx, qx = (q0 + q) % j->nqx;
    gsize o = ((gsize) (s * qy + j->ry) * cj->os.w + s * qx + j->rx) * co;
    memcpy (cj->out + o, res + (gsize) q * co, sizeof (float) * co);
  }
}

/* The general case (dilated, or a kernel smaller than the stride): each
 * output pixel gathers the inputs that reach it. @w as ae_cpu_pack_weight()
 * packs it. */
static void
conv_transpose_task (gpointer data, int oy, int worker)
{
  const ConvJob *j = data;
  const AeConvParams *c = &j->nd->p.conv;
  const int ci = c->in_channels, co = c->out_channels, k = c->kernel;
  const int s = c->stride, d = c->dilation;
  const int ih = j->in.shape.h, iw = j->in.shape.w;

  for (int ox = 0; ox < j->os.w; ox++) {
    float *acc = j->out + ((gsize) oy * j->os.w + ox) * co;
    for (int o = 0; o < co; o++)
      acc[o] = j->bias ? j->bias[o] : 0.0f;
    /* output (oy, ox) receives input (iy, ix) through tap (ky, kx) when
     * oy = iy*s - pad + ky*d */
    for (int ky = 0; ky < k; ky++) {
      int ty = oy + c->padding - ky * d;
      if (ty < 0 || ty % s)
        continue;
      int iy = ty / s;
      if (iy >= ih)
        continue;
      for (int kx = 0; kx < k; kx++) {
        int tx = ox + c->padding - kx * d;
        if (tx < 0 || tx % s)
          continue;
        int ix = tx / s;
        if (ix >= iw)
          continue;
        const float *x = j->in.data + ((gsize) iy * iw + ix) * ci;
        const float *w = j->w + ((gsize) ky * k + kx) * ci * co;
        for (int i = 0; i < ci; i++) {
          const float xi = x[i];
          const float *wr = w + (gsize) i * co;
          for (int o = 0; o < co; o++)
            acc[o] += xi * wr[o];
        }
      }
    }
    ae_cpu_activate (acc, co, c->act, c->slope);
  }
}

void
ae_cpu_conv_transpose2d (AeParallel *pool, const AeNode *nd, AeCpuIn in,
    const float *packed, const float *bias, float *out, AeShape os,
    float *const *scratch)
{
  const AeConvParams *c = &nd->p.conv;
  ConvJob j = { nd, in, packed, bias, out, os, scratch, convt_block (c) };

  if (!convt_phased (nd)) {
    ae_parallel_run (pool, os.h, conv_transpose_task, &j);
    return;
  }
  const float *w = packed;
  for (int ry = 0; ry < c->stride; ry++)
    for (int rx = 0; rx < c->stride; rx++) {
      PhaseJob pj = { &j, phase_of (c, ry), phase_of (c, rx), ry, rx,
        0, 0, w
      };
      int nqy = ry < os.h ? (os.h - ry + c->stride - 1) / c->stride : 0;
      pj.nqx = rx < os.w ? (os.w - rx + c->stride - 1) / c->stride : 0;
      pj.n_q = nqy * pj.nqx;
      w += (gsize) pj.py.n * pj.px.n * c->in_channels * c->out_channels;
      if (pj.n_q)
        ae_parallel_run (pool, (pj.n_q + j.block - 1) / j.block,
            convt_phase_task, &pj);
    }
}

typedef struct {
  const AeNode *nd;
  const AeCpuIn *ins;
  float *out;
  AeShape os;
} SimpleJob;

static void
pool_row (const SimpleJob *j, int oy)
{
  const AePoolParams *p = &j->nd->p.pool;
  const AeCpuIn *in = &j->ins[0];
  const int C = j->os.c;
  const gboolean is_max = j->nd->op == AE_OP_MAX_POOL2D;
  const float inv = 1.0f / (p->kernel * p->kernel);

  for (int ox = 0; ox < j->os.w; ox++) {
    float *o = j->out + ((gsize) oy * j->os.w + ox) * C;
    for (int c = 0; c < C; c++)
      o[c] = is_max ? -INFINITY : 0.0f;
    for (int ky = 0; ky < p->kernel; ky++) {
      int y = oy * p->stride - p->padding + ky;
      if (y < 0 || y >= in->shape.h)
        continue;
      for (int kx = 0; kx < p->kernel; kx++) {
        int x = ox * p->stride - p->padding + kx;
        if (x < 0 || x >= in->shape.w)
          continue;
        const float *v = in->data + ((gsize) y * in->shape.w + x) * C;
        for (int c = 0; c < C; c++)
          /* NaN wins, as in PyTorch (MAX would drop an earlier one) */
          o[c] = !is_max ? o[c] + v[c] : o[c] > v[c] || isnan (o[c]) ? o[c]
              : v[c];
      }
    }
    if (!is_max)
      for (int c = 0; c < C; c++)
        o[c] *= inv;
  }
}

static void
upsample_row (const SimpleJob *j, int oy)
{
  const AeResampleParams *r = &j->nd->p.resample;
  const AeCpuIn *in = &j->ins[0];
  const int C = j->os.c, f = r->factor, iw = in->shape.w, ih = in->shape.h;
  float *o = j->out + (gsize) oy * j->os.w * C;

  if (r->mode == AE_UPSAMPLE_NEAREST) {
    const float *row = in->data + (gsize) (oy / f) * iw * C;
    for (int ox = 0; ox < j->os.w; ox++)
      memcpy (o + (gsize) ox * C, row + (gsize) (ox / f) * C,
          sizeof (float) * C);
    return;
  }
  int y0, x0;
  float ay, ax;
  ae_cpu_bilinear_source (oy, f, ih, &y0, &ay);
  int y1 = MIN (y0 + 1, ih - 1);
  for (int ox = 0; ox < j->os.w; ox++) {
    ae_cpu_bilinear_source (ox, f, iw, &x0, &ax);
    int x1 = MIN (x0 + 1, iw - 1);
    const float *a = in->data + ((gsize) y0 * iw + x0) * C;
    const float *b = in->data + ((gsize) y0 * iw + x1) * C;
    const float *cc = in->data + ((gsize) y1 * iw + x0) * C;
    const float *dd = in->data + ((gsize) y1 * iw + x1) * C;
    float *v = o + (gsize) ox * C;
    for (int c = 0; c < C; c++)
      v[c] = (1 - ay) * ((1 - ax) * a[c] + ax * b[c])
          + ay * ((1 - ax) * cc[c] + ax * dd[c]);
  }
}

static void
simple_task (gpointer data, int oy, int worker)
{
  const SimpleJob *j = data;
  const AeNode *nd = j->nd;
  const AeCpuIn *in = &j->ins[0];
  const int C = j->os.c, W = j->os.w;
  float *o = j->out + (gsize) oy * W * C;

  switch (nd->op) {
    case AE_OP_PIXEL_SHUFFLE:{
      int f = nd->p.resample.factor, ic = in->shape.c;
      const float *row = in->data + (gsize) (oy / f) * in->shape.w * ic;
      for (int ox = 0; ox < W; ox++) {
        const float *px = row + (gsize) (ox / f) * ic;
        int sub = (oy % f) * f + ox % f;
        for (int c = 0; c < C; c++)
          o[(gsize) ox * C + c] = px[c * f * f + sub];
      }
      break;
    }
    case AE_OP_PIXEL_UNSHUFFLE:{
      int f = nd->p.resample.factor, ic = in->shape.c;
      for (int ox = 0; ox < W; ox++)
        for (int i = 0; i < f; i++) {
          const float *src = in->data + ((gsize) (oy * f + i) * in->shape.w
              + ox * f) * ic;
          for (int jx = 0; jx < f; jx++)
            for (int c = 0; c < ic; c++)
              o[(gsize) ox * C + c * f * f + i * f + jx] = src[jx * ic + c];
        }
      break;
    }
    case AE_OP_UPSAMPLE:
      upsample_row (j, oy);
      break;
    case AE_OP_MAX_POOL2D:
    case AE_OP_AVG_POOL2D:
      pool_row (j, oy);
      break;
    case AE_OP_ADD:{
      gsize n = (gsize) W * C;
      memcpy (o, in->data + oy * n, sizeof (float) * n);
      for (int k = 1; k < nd->n_inputs; k++) {
        const float *b = j->ins[k].data + oy * n;
        for (gsize i = 0; i < n; i++)
          o[i] += b[i];
      }
      break;
    }
    case AE_OP_CONCAT:{
      int off = 0;
      for (int k = 0; k < nd->n_inputs; k++) {
        int kc = j->ins[k].shape.c;
        const float *b = j->ins[k].data + (gsize) oy * W * kc;
        for (int x = 0; x < W; x++)
          memcpy (o + (gsize) x * C + off, b + (gsize) x * kc,
              sizeof (float) * kc);
        off += kc;
      }
      break;
    }
    case AE_OP_ACT:{
      gsize n = (gsize) W * C;
      memcpy (o, in->data + oy * n, sizeof (float) * n);
      ae_cpu_activate (o, n, nd->p.act.act, nd->p.act.slope);
      break;
    }
    default:
      g_return_if_reached ();
  }
}

void
ae_cpu_simple_op (AeParallel *pool, const AeNode *nd, const AeCpuIn *ins,
    float *out, AeShape os)
{
  SimpleJob j = { nd, ins, out, os };
  ae_parallel_run (pool, os.h, simple_task, &j);
}
