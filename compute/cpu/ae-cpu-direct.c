/* Direct convolution for x86-64 with AVX2 + FMA (and AVX-512 where the CPU
 * has it), channels-last.
 *
 * im2col + sgemm spends its time copying taps and, for layers with few
 * output channels, in GEMM shapes OpenBLAS handles poorly (N = 1 for the
 * last layer of every denoiser). Here the packed weights [ky][kx][ci][co]
 * are read in place: a register block of 6 output pixels x 16 output
 * channels accumulates over every tap and input channel, then bias and
 * activation are applied while the block is still in registers. With
 * AVX-512 the block is 12 pixels x 32 channels (24 of the 32 registers),
 * or x 16, masked to the channels that exist.
 * Layers with fewer than 8 output channels use a dot-product kernel along
 * the input channels instead.
 */
#include "ae-cpu-ops.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include "ae-cpu-avx512.h"
#include <math.h>
#include <string.h>

#define TARGET __attribute__ ((target ("avx2,fma")))
#define R 6                     /* output pixels per register block */

typedef struct {
  const AeConvParams *c;
  const float *in;
  int ih, iw;
  const float *w;
  const float *bias;
  float *out;
  int oh, ow;
} Direct;

/* Where the taps of output pixel (oy, ox) are: kernel row @ky reads input
 * row tap_y(), kernel column @kx input column tap_x() (off the input when
 * < 0 or past its size). */
static inline int
tap_y (const Direct *d, int oy, int ky)
{
  return oy * d->c->stride - d->c->padding + ky * d->c->dilation;
}

static inline int
tap_x (const Direct *d, int ox, int kx)
{
  return ox * d->c->stride - d->c->padding + kx * d->c->dilation;
}

/* The input channels of pixel (iy, ix). */
static inline const float *
input_at (const Direct *d, int iy, int ix)
{
  return d->in + ((gsize) iy * d->iw + ix) * d->c->in_channels;
}

/* The packed weights [ci][co] of tap (ky, kx), from output channel @co0. */
static inline const float *
weights_at (const Direct *d, int ky, int kx, int co0)
{
  const AeConvParams *c = d->c;
  return d->w + (gsize) (ky * c->kernel + kx) * c->in_channels *
      c->out_channels + co0;
}

/* A register block walks each kernel row as nx runs of @run values: without
 * dilation a kernel row's taps x channels are contiguous in both the input
 * and the packed weights, one loop of k·ci instead of two. Returns nx. */
static inline int
tap_runs (const AeConvParams *c, int *run)
{
  *run = c->dilation == 1 ? c->kernel * c->in_channels : c->in_channels;
  return c->dilation == 1 ? 1 : c->kernel;
}

TARGET static inline __m256
act8 (__m256 v, AeAct act, float slope)
{
  switch (act) {
    case AE_ACT_RELU:
      return _mm256_max_ps (v, _mm256_setzero_ps ());
    case AE_ACT_LEAKY_RELU:{
      __m256 neg = _mm256_mul_ps (v, _mm256_set1_ps (slope));
      __m256 m = _mm256_cmp_ps (v, _mm256_setzero_ps (), _CMP_GT_OQ);
      return _mm256_blendv_ps (neg, v, m);
    }
    default:
      return v;
  }
}

/* e^x for 8 lanes, the same reduction as ae-cpu-ops.c's scalar version. */
TARGET static inline __m256
exp8 (__m256 x)
{
  /* x second: max and min return their second operand for NaN, which so
   * comes through (sigmoid and tanh of NaN are NaN, as on the scalar path) */
  x = _mm256_min_ps (_mm256_set1_ps (88.0f), _mm256_max_ps (_mm256_set1_ps
          (-87.0f), x));
  __m256 n = _mm256_round_ps (_mm256_mul_ps (x, _mm256_set1_ps (1.44269504f)),
      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps (n, _mm256_set1_ps (0.693145752f), x);
  r = _mm256_fnmadd_ps (n, _mm256_set1_ps (1.42860677e-6f), r);
  __m256 p = _mm256_set1_ps (1.0f / 720);
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 120));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 24));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f / 6));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (0.5f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f));
  p = _mm256_fmadd_ps (p, r, _mm256_set1_ps (1.0f));
  __m256i e = _mm256_slli_epi32 (_mm256_add_epi32 (_mm256_cvtps_epi32 (n),
          _mm256_set1_epi32 (127)), 23);
  return _mm256_mul_ps (p, _mm256_castsi256_ps (e));
}

TARGET static inline __m256
tanh8 (__m256 x)
{
  const __m256 sign = _mm256_set1_ps (-0.0f), one = _mm256_set1_ps (1.0f);
  __m256 a = _mm256_andnot_ps (sign, x);
  __m256 big = _mm256_sub_ps (one, _mm256_div_ps (_mm256_set1_ps (2.0f),
          _mm256_add_ps (exp8 (_mm256_add_ps (a, a)), one)));
  __m256 a2 = _mm256_mul_ps (a, a);
  __m256 small = _mm256_fnmadd_ps (a2, _mm256_set1_ps (2.0f / 15),
      _mm256_set1_ps (1.0f / 3));
  small = _mm256_mul_ps (a, _mm256_fnmadd_ps (a2, small, one));
  __m256 t = _mm256_blendv_ps (big, small, _mm256_cmp_ps (a,
          _mm256_set1_ps (0.0625f), _CMP_LT_OQ));
  return _mm256_or_ps (t, _mm256_and_ps (x, sign));
}

TARGET static inline __m256
sigmoid8 (__m256 x)
{
  const __m256 one = _mm256_set1_ps (1.0f);
  return _mm256_div_ps (one, _mm256_add_ps (one, exp8 (_mm256_sub_ps
              (_mm256_setzero_ps (), x))));
}

/* ae_cpu_activate's AVX2 path for sigmoid and tanh, all @n floats: the
 * tail too, through a padded copy, so that a value's result does not
 * depend on where it lies (tiles give the whole frame's bits). Returns
 * @n. */
TARGET gsize
ae_cpu_activate_avx2 (float *x, gsize n, AeAct act)
{
  gsize i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps (x + i);
    _mm256_storeu_ps (x + i, act == AE_ACT_TANH ? tanh8 (v) : sigmoid8 (v));
  }
  if (i < n) {
    float tail[8] = { 0 };
    memcpy (tail, x + i, sizeof (float) * (n - i));
    __m256 v = _mm256_loadu_ps (tail);
    _mm256_storeu_ps (tail, act == AE_ACT_TANH ? tanh8 (v) : sigmoid8 (v));
    memcpy (x + i, tail, sizeof (float) * (n - i));
  }
  return n;
}

/* Stores 8 channels with bias and the piecewise-linear activations;
 * sigmoid and tanh are applied per row afterwards (row_task). */
TARGET static inline void
store8 (float *dst, __m256 acc, const float *bias, const AeConvParams *c)
{
  if (bias)
    acc = _mm256_add_ps (acc, _mm256_loadu_ps (bias));
  _mm256_storeu_ps (dst, act8 (acc, c->act, c->slope));
}

/* The upper half of a 16-channel group of which only @n channels exist
 * (8 < n <= 16): bias read and output written through a mask. */
TARGET static inline void
store8_upper (float *dst, __m256 acc, const float *bias, const AeConvParams *c,
    int n)
{
  if (n == 16) {
    store8 (dst, acc, bias, c);
    return;
  }
  __m256i mask = _mm256_cmpgt_epi32 (_mm256_set1_epi32 (n - 8),
      _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7));
  if (bias)
    acc = _mm256_add_ps (acc, _mm256_maskload_ps (bias, mask));
  _mm256_maskstore_ps (dst, mask, act8 (acc, c->act, c->slope));
}

/* R pixels starting at (oy, ox), all taps inside the row, the @n (9..16)
 * channels from co0. Fewer than 16 read weights of the next row (or the
 * packing's slack) into lanes that are never stored. The accumulators are
 * named scalars: GCC spills an array of them to the stack on every
 * iteration. */
TARGET static void
block_r16 (const Direct *d, int oy, int ox, int co0, int n)
{
  const AeConvParams *c = d->c;
  const int ci = c->in_channels, co = c->out_channels, k = c->kernel;
  const int step = c->stride * ci;
  int run;
  const int nx = tap_runs (c, &run);
  __m256 a00 = _mm256_setzero_ps (), a01 = a00, a10 = a00, a11 = a00;
  __m256 a20 = a00, a21 = a00, a30 = a00, a31 = a00;
  __m256 a40 = a00, a41 = a00, a50 = a00, a51 = a00;

  for (int ky = 0; ky < k; ky++) {
    int iy = tap_y (d, oy, ky);
    if (iy < 0 || iy >= d->ih)
      continue;
    for (int kx = 0; kx < nx; kx++) {
      const float *x = input_at (d, iy, tap_x (d, ox, kx));
      const float *w = weights_at (d, ky, kx, co0);
      for (int i = 0; i < run; i++, w += co, x++) {
        __m256 w0 = _mm256_loadu_ps (w), w1 = _mm256_loadu_ps (w + 8), b;
#define TAP(r, lo, hi) \
        b = _mm256_broadcast_ss (x + r * step); \
        lo = _mm256_fmadd_ps (b, w0, lo); \
        hi = _mm256_fmadd_ps (b, w1, hi);
        TAP (0, a00, a01) TAP (1, a10, a11) TAP (2, a20, a21)
        TAP (3, a30, a31) TAP (4, a40, a41) TAP (5, a50, a51)
#undef TAP
      }
    }
  }
  const float *bias = d->bias ? d->bias + co0 : NULL;
  const float *bias8 = bias ? bias + 8 : NULL;
  float *o = d->out + ((gsize) oy * d->ow + ox) * co + co0;
  store8 (o, a00, bias, c);
  store8_upper (o + 8, a01, bias8, c, n);
  store8 (o + co, a10, bias, c);
  store8_upper (o + co + 8, a11, bias8, c, n);
  store8 (o + 2 * co, a20, bias, c);
  store8_upper (o + 2 * co + 8, a21, bias8, c, n);
  store8 (o + 3 * co, a30, bias, c);
  store8_upper (o + 3 * co + 8, a31, bias8, c, n);
  store8 (o + 4 * co, a40, bias, c);
  store8_upper (o + 4 * co + 8, a41, bias8, c, n);
  store8 (o + 5 * co, a50, bias, c);
  store8_upper (o + 5 * co + 8, a51, bias8, c, n);
}

#define R512 12                 /* output pixels per AVX-512 block */
#define SMALL_REST 8            /* interior pixels left to pixels4 */

/* Stores the channels of @m with bias and the piecewise-linear
 * activations. */
AE_TARGET_AVX512 static inline void
store16 (float *dst, __m512 acc, const float *bias, const AeConvParams *c,
    __mmask16 m)
{
  if (bias)
    acc = _mm512_add_ps (acc, _mm512_maskz_loadu_ps (m, bias));
  if (c->act == AE_ACT_RELU) {
    acc = _mm512_max_ps (acc, _mm512_setzero_ps ());
  } else if (c->act == AE_ACT_LEAKY_RELU) {
    __mmask16 pos = _mm512_cmp_ps_mask (acc, _mm512_setzero_ps (),
        _CMP_GT_OQ);
    acc = _mm512_mask_blend_ps (pos, _mm512_mul_ps (acc,
            _mm512_set1_ps (c->slope)), acc);
  }
  _mm512_mask_storeu_ps (dst, m, acc);
}

/* 12 pixels from (oy, ox), all taps inside the row, x the @n (17..32)
 * channels from co0: two registers a pixel, the second masked to the
 * n - 16 channels that exist (a 24-channel layer uses 3/4 of the lanes,
 * in half the instructions of 8-wide AVX2). */
AE_TARGET_AVX512 static void
block_r12x32 (const Direct *d, int oy, int ox, int co0, int n)
{
  const AeConvParams *c = d->c;
  const int ci = c->in_channels, co = c->out_channels, k = c->kernel;
  const int step = c->stride * ci;
  int run;
  const int nx = tap_runs (c, &run);
  const __mmask16 m1 = ae_lanes (n - 16);
  __m512 z = _mm512_setzero_ps ();
  __m512 a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z;
  __m512 a30 = z, a31 = z, a40 = z, a41 = z, a50 = z, a51 = z;
  __m512 a60 = z, a61 = z, a70 = z, a71 = z, a80 = z, a81 = z;
  __m512 a90 = z, a91 = z, aa0 = z, aa1 = z, ab0 = z, ab1 = z;

  for (int ky = 0; ky < k; ky++) {
    int iy = tap_y (d, oy, ky);
    if (iy < 0 || iy >= d->ih)
      continue;
    for (int kx = 0; kx < nx; kx++) {
      const float *x = input_at (d, iy, tap_x (d, ox, kx));
      const float *w = weights_at (d, ky, kx, co0);
      for (int i = 0; i < run; i++, w += co, x++) {
        __m512 w0 = _mm512_loadu_ps (w);
        __m512 w1 = _mm512_maskz_loadu_ps (m1, w + 16), b;
#define TAP(r, lo, hi) \
        b = _mm512_set1_ps (x[r * step]); \
        lo = _mm512_fmadd_ps (b, w0, lo); \
        hi = _mm512_fmadd_ps (b, w1, hi);
        TAP (0, a00, a01) TAP (1, a10, a11) TAP (2, a20, a21)
        TAP (3, a30, a31) TAP (4, a40, a41) TAP (5, a50, a51)
        TAP (6, a60, a61) TAP (7, a70, a71) TAP (8, a80, a81)
        TAP (9, a90, a91) TAP (10, aa0, aa1) TAP (11, ab0, ab1)
#undef TAP
      }
    }
  }
  const float *bias = d->bias ? d->bias + co0 : NULL;
  const float *bias16 = bias ? bias + 16 : NULL;
  float *o = d->out + ((gsize) oy * d->ow + ox) * co + co0;
#define OUT(r, lo, hi) \
  store16 (o + r * co, lo, bias, c, 0xffff); \
  store16 (o + r * co + 16, hi, bias16, c, m1);
  OUT (0, a00, a01) OUT (1, a10, a11) OUT (2, a20, a21)
  OUT (3, a30, a31) OUT (4, a40, a41) OUT (5, a50, a51)
  OUT (6, a60, a61) OUT (7, a70, a71) OUT (8, a80, a81)
  OUT (9, a90, a91) OUT (10, aa0, aa1) OUT (11, ab0, ab1)
#undef OUT
}

/* 12 pixels x the @n (1..16) channels from co0, one masked register a
 * pixel. */
AE_TARGET_AVX512 static void
block_r12x16 (const Direct *d, int oy, int ox, int co0, int n)
{
  const AeConvParams *c = d->c;
  const int ci = c->in_channels, co = c->out_channels, k = c->kernel;
  const int step = c->stride * ci;
  int run;
  const int nx = tap_runs (c, &run);
  const __mmask16 m = ae_lanes (n);
  __m512 a0 = _mm512_setzero_ps (), a1 = a0, a2 = a0, a3 = a0, a4 = a0;
  __m512 a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, aa = a0, ab = a0;

  for (int ky = 0; ky < k; ky++) {
    int iy = tap_y (d, oy, ky);
    if (iy < 0 || iy >= d->ih)
      continue;
    for (int kx = 0; kx < nx; kx++) {
      const float *x = input_at (d, iy, tap_x (d, ox, kx));
      const float *w = weights_at (d, ky, kx, co0);
      for (int i = 0; i < run; i++, w += co, x++) {
        __m512 w0 = _mm512_maskz_loadu_ps (m, w);
#define TAP(r, acc) \
        acc = _mm512_fmadd_ps (_mm512_set1_ps (x[r * step]), w0, acc);
        TAP (0, a0) TAP (1, a1) TAP (2, a2) TAP (3, a3) TAP (4, a4)
        TAP (5, a5) TAP (6, a6) TAP (7, a7) TAP (8, a8) TAP (9, a9)
        TAP (10, aa) TAP (11, ab)
#undef TAP
      }
    }
  }
  const float *bias = d->bias ? d->bias + co0 : NULL;
  float *o = d->out + ((gsize) oy * d->ow + ox) * co + co0;
  store16 (o, a0, bias, c, m);
  store16 (o + co, a1, bias, c, m);
  store16 (o + 2 * co, a2, bias, c, m);
  store16 (o + 3 * co, a3, bias, c, m);
  store16 (o + 4 * co, a4, bias, c, m);
  store16 (o + 5 * co, a5, bias, c, m);
  store16 (o + 6 * co, a6, bias, c, m);
  store16 (o + 7 * co, a7, bias, c, m);
  store16 (o + 8 * co, a8, bias, c, m);
  store16 (o + 9 * co, a9, bias, c, m);
  store16 (o + 10 * co, aa, bias, c, m);
  store16 (o + 11 * co, ab, bias, c, m);
}

/* Four pixels of row oy (columns @xs) x the @n (1..32) channels from co0,
 * with bounds checks. A tap off the input reads a zero: adding an exact
 * zero changes no sum, so every pixel gets the bits a block would give it
 * (tiled frames equal whole ones). The eight independent accumulators keep
 * the FMA pipes busy where one pixel's chain would wait on each add. */
AE_TARGET_AVX512 static void
pixels4 (const Direct *d, int oy, const int *xs, int co0, int n)
{
  static const float zero;
  const AeConvParams *c = d->c;
  const int ci = c->in_channels, co = c->out_channels, k = c->kernel;
  const __mmask16 m0 = ae_lanes (n), m1 = ae_lanes (n - 16);
  __m512 z = _mm512_setzero_ps ();
  __m512 a0 = z, a1 = z, a2 = z, a3 = z, b0 = z, b1 = z, b2 = z, b3 = z;

  for (int ky = 0; ky < k; ky++) {
    int iy = tap_y (d, oy, ky);
    if (iy < 0 || iy >= d->ih)
      continue;
    for (int kx = 0; kx < k; kx++) {
      const float *x[4];
      int keep[4];              /* index mask: 0 pins a zero tap to &zero */
      for (int p = 0; p < 4; p++) {
        int ix = tap_x (d, xs[p], kx);
        gboolean in = ix >= 0 && ix < d->iw;
        x[p] = in ? input_at (d, iy, ix) : &zero;
        keep[p] = in ? -1 : 0;
      }
      const float *w = weights_at (d, ky, kx, co0);
      for (int i = 0; i < ci; i++, w += co) {
        __m512 w0 = _mm512_maskz_loadu_ps (m0, w);
        __m512 w1 = _mm512_maskz_loadu_ps (m1, w + 16), v;
#define TAP(p, lo, hi) \
        v = _mm512_set1_ps (x[p][i & keep[p]]); \
        lo = _mm512_fmadd_ps (v, w0, lo); \
        hi = _mm512_fmadd_ps (v, w1, hi);
        TAP (0, a0, b0) TAP (1, a1, b1) TAP (2, a2, b2) TAP (3, a3, b3)
#undef TAP
      }
    }
  }
  const float *bias = d->bias ? d->bias + co0 : NULL;
  const float *bias16 = bias && n > 16 ? bias + 16 : NULL;
  __m512 lo[4] = { a0, a1, a2, a3 }, hi[4] = { b0, b1, b2, b3 };
  for (int p = 0; p < 4; p++) {
    float *o = d->out + ((gsize) oy * d->ow + xs[p]) * co + co0;
    store16 (o, lo[p], bias, c, m0);
    if (n > 16)
      store16 (o + 16, hi[p], bias16, c, m1);
  }
}

/* The @n (1..32) channels from co0 of row oy with AVX-512: the interior
 * [lo, hi) in 12-pixel blocks; more than SMALL_REST pixels left over get
 * one more block moved back to end at hi (recomputing a few pixels, to
 * the same bits), fewer join the borders, done four pixels at a time. On
 * the rows of training patches (16 and 32 pixels at half and quarter
 * resolution) that computes 16 and 32 pixels where an overlapping block
 * computed 28 and 40: 0.83x the time of a dn-unet training run. */
AE_TARGET_AVX512 static void
avx512_row (const Direct *d, int oy, int lo, int hi, int co0, int n)
{
  void (*block) (const Direct *, int, int, int, int) =
      n > 16 ? block_r12x32 : block_r12x16;
  int ox = lo;
  if (hi - lo >= R512) {
    for (; ox + R512 <= hi; ox += R512)
      block (d, oy, ox, co0, n);
    if (hi - ox > SMALL_REST) {
      block (d, oy, hi - R512, co0, n);
      ox = hi;
    }
  }
  /* the rest, [0, lo) and [ox, ow), four at a time (a last group of fewer
   * repeats its last pixel) */
  const int n_rest = lo + d->ow - ox;
  for (int j = 0; j < n_rest; j += 4) {
    int xs[4];
    for (int p = 0; p < 4; p++) {
      int q = MIN (j + p, n_rest - 1);
      xs[p] = q < lo ? q : ox + q - lo;
    }
    pixels4 (d, oy, xs, co0, n);
  }
}

/* 12 pixels x 8 channels from (oy, ox, co0), all taps inside the row: the
 * channels a layer has beyond a multiple of 16, 8 at a time. */
TARGET static void
block_r12x8 (const Direct *d, int oy, int ox, int co0)
{
  const AeConvParams *c = d->c;
  const int ci = c->in_channels, co = c->out_channels, k = c->kernel;
  const int step = c->stride * ci;
  int run;
  const int nx = tap_runs (c, &run);
  __m256 a0 = _mm256_setzero_ps (), a1 = a0, a2 = a0, a3 = a0, a4 = a0;
  __m256 a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0, aa = a0, ab = a0;

  for (int ky = 0; ky < k; ky++) {
    int iy = tap_y (d, oy, ky);
    if (iy < 0 || iy >= d->ih)
      continue;
    for (int kx = 0; kx < nx; kx++) {
      const float *x = input_at (d, iy, tap_x (d, ox, kx));
      const float *w = weights_at (d, ky, kx, co0);
      for (int i = 0; i < run; i++, w += co, x++) {
        __m256 w0 = _mm256_loadu_ps (w);
#define TAP(r, acc) \
        acc = _mm256_fmadd_ps (_mm256_broadcast_ss (x + r * step), w0, acc);
        TAP (0, a0) TAP (1, a1) TAP (2, a2) TAP (3, a3) TAP (4, a4)
        TAP (5, a5) TAP (6, a6) TAP (7, a7) TAP (8, a8) TAP (9, a9)
        TAP (10, aa) TAP (11, ab)
#undef TAP
      }
    }
  }
  const float *bias = d->bias ? d->bias + co0 : NULL;
  float *o = d->out + ((gsize) oy * d->ow + ox) * co + co0;
  store8 (o, a0, bias, c);
  store8 (o + co, a1, bias, c);
  store8 (o + 2 * co, a2, bias, c);
  store8 (o + 3 * co, a3, bias, c);
  store8 (o + 4 * co, a4, bias, c);
  store8 (o + 5 * co, a5, bias, c);
  store8 (o + 6 * co, a6, bias, c);
  store8 (o + 7 * co, a7, bias, c);
  store8 (o + 8 * co, a8, bias, c);
  store8 (o + 9 * co, a9, bias, c);
  store8 (o + 10 * co, aa, bias, c);
  store8 (o + 11 * co, ab, bias, c);
}

/* One pixel, 8 channels from co0, with bounds checks on every tap. One
 * accumulator, summing in the blocks' order: a pixel gives the same bits
 * whether a block or this computes it, so tiled frames equal whole ones. */
TARGET static void
pixel_8 (const Direct *d, int oy, int ox, int co0)
{
  const AeConvParams *c = d->c;
  const int ci = c->in_channels, co = c->out_channels, k = c->kernel;
  __m256 a = _mm256_setzero_ps ();

  for (int ky = 0; ky < k; ky++) {
    int iy = tap_y (d, oy, ky);
    if (iy < 0 || iy >= d->ih)
      continue;
    for (int kx = 0; kx < k; kx++) {
      int ix = tap_x (d, ox, kx);
      if (ix < 0 || ix >= d->iw)
        continue;
      const float *x = input_at (d, iy, ix);
      const float *w = weights_at (d, ky, kx, co0);
      for (int i = 0; i < ci; i++, w += co)
        a = _mm256_fmadd_ps (_mm256_broadcast_ss (x + i), _mm256_loadu_ps (w),
            a);
    }
  }
  store8 (d->out + ((gsize) oy * d->ow + ox) * co + co0, a,
      d->bias ? d->bias + co0 : NULL, c);
}

TARGET static float
hsum (__m256 v)
{
  __m128 s = _mm_add_ps (_mm256_castps256_ps128 (v),
      _mm256_extractf128_ps (v, 1));
  s = _mm_add_ps (s, _mm_movehl_ps (s, s));
  s = _mm_add_ss (s, _mm_movehdup_ps (s));
  return _mm_cvtss_f32 (s);
}

/* Fewer than 8 output channels: dot products along the input channels
 * (ci a multiple of 8), the weights repacked per output channel. */
TARGET static void
pixel_dot (const Direct *d, const float *wt, int oy, int ox)
{
  const AeConvParams *c = d->c;
  const int ci = c->in_channels, co = c->out_channels, k = c->kernel;
  float *o = d->out + ((gsize) oy * d->ow + ox) * co;

  for (int j = 0; j < co; j++) {
    /* one accumulator, in block_dot4()'s order: a pixel gets the same bits
     * whichever of the two computes it (tiles move that line) */
    __m256 a = _mm256_setzero_ps ();
    for (int ky = 0; ky < k; ky++) {
      int iy = tap_y (d, oy, ky);
      if (iy < 0 || iy >= d->ih)
        continue;
      for (int kx = 0; kx < k; kx++) {
        int ix = tap_x (d, ox, kx);
        if (ix < 0 || ix >= d->iw)
          continue;
        const float *x = input_at (d, iy, ix);
        const float *w = wt + ((gsize) j * k * k + ky * k + kx) * ci;
        for (int i = 0; i < ci; i += 8)
          a = _mm256_fmadd_ps (_mm256_loadu_ps (x + i), _mm256_loadu_ps (w + i),
              a);
      }
    }
    o[j] = hsum (a) + (d->bias ? d->bias[j] : 0.0f);
  }
  if (c->act != AE_ACT_SIGMOID && c->act != AE_ACT_TANH)
    ae_cpu_activate (o, co, c->act, c->slope);
}

/* Four interior pixels from (oy, ox) of a thin layer: the weights are
 * loaded once for the four, and (no dilation) each kernel row is one
 * contiguous run of k·ci floats in input and weights alike. */
TARGET static void
block_dot4 (const Direct *d, const float *wt, int oy, int ox)
{
  const AeConvParams *c = d->c;
  const int ci = c->in_channels, co = c->out_channels, k = c->kernel;
  const int step = c->stride * ci;
  int run;
  const int nx = tap_runs (c, &run);
  float *o = d->out + ((gsize) oy * d->ow + ox) * co;

  for (int j = 0; j < co; j++) {
    __m256 a0 = _mm256_setzero_ps (), a1 = a0, a2 = a0, a3 = a0;
    for (int ky = 0; ky < k; ky++) {
      int iy = tap_y (d, oy, ky);
      if (iy < 0 || iy >= d->ih)
        continue;
      for (int kx = 0; kx < nx; kx++) {
        const float *x = input_at (d, iy, tap_x (d, ox, kx));
        const float *w = wt + ((gsize) j * k * k + ky * k + kx) * ci;
        for (int i = 0; i < run; i += 8) {
          __m256 wv = _mm256_loadu_ps (w + i);
          a0 = _mm256_fmadd_ps (_mm256_loadu_ps (x + i), wv, a0);
          a1 = _mm256_fmadd_ps (_mm256_loadu_ps (x + step + i), wv, a1);
          a2 = _mm256_fmadd_ps (_mm256_loadu_ps (x + 2 * step + i), wv, a2);
          a3 = _mm256_fmadd_ps (_mm256_loadu_ps (x + 3 * step + i), wv, a3);
        }
      }
    }
    float b = d->bias ? d->bias[j] : 0.0f;
    o[j] = hsum (a0) + b;
    o[co + j] = hsum (a1) + b;
    o[2 * co + j] = hsum (a2) + b;
    o[3 * co + j] = hsum (a3) + b;
  }
  if (c->act != AE_ACT_SIGMOID && c->act != AE_ACT_TANH)
    ae_cpu_activate (o, 4 * co, c->act, c->slope);
}

/* Two interior pixels from (oy, ox) of a layer with @CO (1..4) output
 * channels: each input vector is loaded once for every channel, where
 * block_dot4 loads it once per channel (a last 24 -> 4 conv ran at 40% of
 * the wide layers' rate). Each (pixel, channel) sum runs in block_dot4's
 * and pixel_dot's order: the same bits. */
TARGET static inline __attribute__ ((always_inline)) void
block_dot2_narrow (const Direct *d, const float *wt, int oy, int ox,
    const int CO)
{
  const AeConvParams *c = d->c;
  const int ci = c->in_channels, k = c->kernel;
  const int step = c->stride * ci;
  const gsize wstride = (gsize) k * k * ci;     /* one channel's weights */
  int run;
  const int nx = tap_runs (c, &run);
  float *o = d->out + ((gsize) oy * d->ow + ox) * CO;
  __m256 a0[4], a1[4];

  for (int j = 0; j < CO; j++)
    a0[j] = a1[j] = _mm256_setzero_ps ();
  for (int ky = 0; ky < k; ky++) {
    int iy = tap_y (d, oy, ky);
    if (iy < 0 || iy >= d->ih)
      continue;
    for (int kx = 0; kx < nx; kx++) {
      const float *x = input_at (d, iy, tap_x (d, ox, kx));
      const float *w = wt + ((gsize) ky * k + kx) * ci;
      for (int i = 0; i < run; i += 8) {
        __m256 x0 = _mm256_loadu_ps (x + i);
        __m256 x1 = _mm256_loadu_ps (x + step + i);
        for (int j = 0; j < CO; j++) {
          __m256 wv = _mm256_loadu_ps (w + j * wstride + i);
          a0[j] = _mm256_fmadd_ps (x0, wv, a0[j]);
          a1[j] = _mm256_fmadd_ps (x1, wv, a1[j]);
        }
      }
    }
  }
  for (int j = 0; j < CO; j++) {
    float b = d->bias ? d->bias[j] : 0.0f;
    o[j] = hsum (a0[j]) + b;
    o[CO + j] = hsum (a1[j]) + b;
  }
  if (c->act != AE_ACT_SIGMOID && c->act != AE_ACT_TANH)
    ae_cpu_activate (o, 2 * CO, c->act, c->slope);
}

/* Interior columns [ox, hi) of row oy of a layer with 1..4 output
 * channels, two pixels at a time; returns where it stopped. */
TARGET static int
narrow_row (const Direct *d, const float *wt, int oy, int ox, int hi)
{
  for (; ox + 2 <= hi; ox += 2)
    switch (d->c->out_channels) {
      case 1:
        block_dot2_narrow (d, wt, oy, ox, 1);
        break;
      case 2:
        block_dot2_narrow (d, wt, oy, ox, 2);
        break;
      case 3:
        block_dot2_narrow (d, wt, oy, ox, 3);
        break;
      default:
        block_dot2_narrow (d, wt, oy, ox, 4);
        break;
    }
  return ox;
}

typedef struct {
  Direct d;
  const float *wt;              /* per-output-channel weights, thin layers */
  gboolean wide;                /* AVX-512 blocks */
} Job;

/* @n (9..16) channels from co0 of row oy: interior columns [lo, hi) in
 * blocks, the borders and the leftover interior pixel by pixel (whose
 * second group of 8 ends at co0 + n, overlapping the first when n < 16). */
static void
avx2_row (const Direct *d, int oy, int lo, int hi, int co0, int n)
{
  int ox = lo;
  for (; ox + R <= hi; ox += R)
    block_r16 (d, oy, ox, co0, n);
  for (; ox < d->ow; ox++) {
    pixel_8 (d, oy, ox, co0);
    pixel_8 (d, oy, ox, co0 + n - 8);
  }
  for (int x = 0; x < lo; x++) {
    pixel_8 (d, oy, x, co0);
    pixel_8 (d, oy, x, co0 + n - 8);
  }
}

/* Every channel of row oy with AVX2. */
static void
avx2_channels (const Direct *d, int oy, int lo, int hi)
{
  const int co = d->c->out_channels;
  int co0 = 0;
  /* groups of 16, the last one possibly of 9 to 15 (masked) */
  for (; co - co0 > 8; co0 += 16)
    avx2_row (d, oy, lo, hi, co0, MIN (co - co0, 16));
  /* 1 to 8 left: a group of 8 ending at co, overlapping the one before
   * (those channels are computed twice, to the same values) */
  if (co0 < co) {
    int g = co - 8, ox = lo;
    for (; ox + 12 <= hi; ox += 12)
      block_r12x8 (d, oy, ox, g);
    /* what is left of the interior (up to 11 pixels: a 32-pixel training
     * patch leaves 6) in 16-channel blocks ending at co, which redo 8
     * channels but still beat single pixels */
    for (; co >= 16 && ox + R <= hi; ox += R)
      block_r16 (d, oy, ox, co - 16, 16);
    for (; ox < d->ow; ox++)
      pixel_8 (d, oy, ox, g);
    for (int x = 0; x < lo; x++)
      pixel_8 (d, oy, x, g);
  }
}

static void
row_task (gpointer data, int oy, int worker)
{
  const Job *j = data;
  const Direct *d = &j->d;
  const AeConvParams *c = d->c;
  const int co = c->out_channels;
  /* output columns whose taps are all inside the input */
  const int s = c->stride;
  int lo = MIN ((c->padding + s - 1) / s, d->ow);
  int last = d->iw - 1 + c->padding - (c->kernel - 1) * c->dilation;
  int hi = CLAMP (last >= 0 ? last / s + 1 : 0, lo, d->ow);

  if (j->wt) {
    int ox = lo;
    if (co <= 4)
      ox = narrow_row (d, j->wt, oy, ox, hi);
    for (; ox + 4 <= hi; ox += 4)
      block_dot4 (d, j->wt, oy, ox);
    for (int x = 0; x < lo; x++)
      pixel_dot (d, j->wt, oy, x);
    for (; ox < d->ow; ox++)
      pixel_dot (d, j->wt, oy, ox);
  } else {
    if (j->wide)
      for (int co0 = 0; co0 < co; co0 += 32)
        avx512_row (d, oy, lo, hi, co0, MIN (co - co0, 32));
    else
      avx2_channels (d, oy, lo, hi);
  }
  if (c->act == AE_ACT_SIGMOID || c->act == AE_ACT_TANH)
    ae_cpu_activate (d->out + (gsize) oy * d->ow * co, (gsize) d->ow * co,
        c->act, c->slope);
}

/* AE_CPU_CONV=avx2 keeps the direct kernels to AVX2, AE_CPU_CONV=gemm
 * forces im2col + sgemm (to compare paths and to test each of them). */
gboolean
ae_cpu_use_avx512 (void)
{
  static int cached = -1;
  if (cached < 0) {
    const char *force = g_getenv ("AE_CPU_CONV");
    __builtin_cpu_init ();
    cached = __builtin_cpu_supports ("avx512f") && !(force && *force);
  }
  return cached;
}

static gboolean
direct_enabled (void)
{
  static int cached = -1;
  if (cached < 0) {
    const char *force = g_getenv ("AE_CPU_CONV");
    __builtin_cpu_init ();
    cached = ae_cpu_have_avx2 () && !(force && g_str_equal (force, "gemm"));
  }
  return cached;
}

gboolean
ae_cpu_have_avx2 (void)
{
  static int cached = -1;
  if (cached < 0) {
    __builtin_cpu_init ();
    cached = __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma");
  }
  return cached;
}

gboolean
ae_cpu_direct_supported (const AeNode *nd)
{
  const AeConvParams *c = &nd->p.conv;
  if (nd->op != AE_OP_CONV2D || !direct_enabled ())
    return FALSE;
  if (c->kernel == 1 && c->padding == 0)
    return FALSE;               /* a plain GEMM, no taps to gather */
  return c->out_channels >= 8 || c->in_channels % 8 == 0;
}

float *
ae_cpu_direct_pack_thin (const AeNode *nd, const float *weight)
{
  const AeConvParams *c = &nd->p.conv;
  if (c->out_channels >= 8)
    return NULL;
  /* PyTorch's [co][ci][ky][kx] → [co][ky][kx][ci] */
  int k = c->kernel, ci = c->in_channels;
  float *p = g_new (float, (gsize) c->out_channels * k * k * ci);
  for (int o = 0; o < c->out_channels; o++)
    for (int i = 0; i < ci; i++)
      for (int t = 0; t < k * k; t++)
        p[((gsize) o * k * k + t) * ci + i] =
            weight[((gsize) o * ci + i) * k * k + t];
  return p;
}

void
ae_cpu_conv2d_direct (AeParallel *pool, const AeNode *nd, AeCpuIn in,
    const float *packed, const float *thin, const float *bias, float *out,
    AeShape os)
{
  Job j = { {&nd->p.conv, in.data, in.shape.h, in.shape.w, packed, bias, out,
          os.h, os.w}, thin, ae_cpu_use_avx512 ()
  };
  ae_parallel_run (pool, os.h, row_task, &j);
}

#else

gboolean
ae_cpu_have_avx2 (void)
{
  return FALSE;
}

gboolean
ae_cpu_use_avx512 (void)
{
  return FALSE;
}

gsize
ae_cpu_activate_avx2 (float *x, gsize n, AeAct act)
{
  return 0;
}

gboolean
ae_cpu_direct_supported (const AeNode *nd)
{
  return FALSE;
}

float *
ae_cpu_direct_pack_thin (const AeNode *nd, const float *weight)
{
  return NULL;
}

void
ae_cpu_conv2d_direct (AeParallel *pool, const AeNode *nd, AeCpuIn in,
    const float *packed, const float *thin, const float *bias, float *out,
    AeShape os)
{
  g_return_if_reached ();
}

#endif
