/* conv2d's weight gradient with AVX-512, read in place: for each tap, a
 * register block of 12 input channels x up to 32 output channels sums
 * x[pixel + tap] ⊗ dy[pixel] over the output pixels whose tap lies inside
 * the input (a rectangle, so no bounds checks inside it). im2col + sgemm
 * copies every tap of the input first and packs it once more. */
#include "ae-weight-grad.h"

#if defined(__x86_64__) && defined(__GNUC__)

#include "ae-cpu-avx512.h"

#define IB 12                   /* input channels per register block */


/* The output range [lo, hi) whose tap at offset @off (tap index · dilation
 * - padding) falls inside an input of @in, for stride @s. */
static void
valid_range (int off, int s, int in, int out, int *lo, int *hi)
{
  *lo = off >= 0 ? 0 : (-off + s - 1) / s;
  int last = in - 1 - off;
  *hi = last < 0 ? 0 : MIN (out, last / s + 1);
  *lo = MIN (*lo, *hi);
}

/* dw[t][i0..i0+IB)[o0..o0+n) += the block's sums; rows past @ni (clamped
 * reads of the last real channel) are dropped. @two: n > 16, two registers
 * a row (a compile-time constant after inlining). */
AE_TARGET_AVX512 static inline __attribute__ ((always_inline)) void
block (const AeConvParams *c, const float *x, AeShape xs, const float *dy,
    AeShape ys, int ky, int kx, int i0, int ni, int o0, int n, float *dw,
    gboolean two)
{
  const int ci = xs.c, co = ys.c, s = c->stride;
  const __mmask16 m0 = ae_lanes (n), m1 = ae_lanes (n - 16);
  int oy0, oy1, ox0, ox1;
  valid_range (ky * c->dilation - c->padding, s, xs.h, ys.h, &oy0, &oy1);
  valid_range (kx * c->dilation - c->padding, s, xs.w, ys.w, &ox0, &ox1);
  int r[IB];
  for (int j = 0; j < IB; j++)
    r[j] = MIN (j, ni - 1);
  __m512 z = _mm512_setzero_ps ();
  __m512 a0 = z, a1 = z, a2 = z, a3 = z, a4 = z, a5 = z, a6 = z, a7 = z;
  __m512 a8 = z, a9 = z, aa = z, ab = z, b0 = z, b1 = z, b2 = z, b3 = z;
  __m512 b4 = z, b5 = z, b6 = z, b7 = z, b8 = z, b9 = z, ba = z, bb = z;

  for (int oy = oy0; oy < oy1; oy++) {
    int iy = oy * s + ky * c->dilation - c->padding;
    const float *xp = x + ((gsize) iy * xs.w + ox0 * s + kx * c->dilation
        - c->padding) * ci + i0;
    const float *dp = dy + ((gsize) oy * ys.w + ox0) * co + o0;
    for (int ox = ox0; ox < ox1; ox++, xp += s * ci, dp += co) {
      __m512 d0 = _mm512_maskz_loadu_ps (m0, dp), d1 = z, v;
      if (two)
        d1 = _mm512_maskz_loadu_ps (m1, dp + 16);
#define ROW(j, lo, hi) \
      v = _mm512_set1_ps (xp[r[j]]); \
      lo = _mm512_fmadd_ps (v, d0, lo); \
      if (two) \
        hi = _mm512_fmadd_ps (v, d1, hi);
      ROW (0, a0, b0) ROW (1, a1, b1) ROW (2, a2, b2) ROW (3, a3, b3)
      ROW (4, a4, b4) ROW (5, a5, b5) ROW (6, a6, b6) ROW (7, a7, b7)
      ROW (8, a8, b8) ROW (9, a9, b9) ROW (10, aa, ba) ROW (11, ab, bb)
#undef ROW
    }
  }
  __m512 lo[IB] = { a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, aa, ab };
  __m512 hi[IB] = { b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, ba, bb };
  float *w = dw + ((gsize) (ky * c->kernel + kx) * ci + i0) * co + o0;
  for (int j = 0; j < ni && j < IB; j++, w += co) {
    _mm512_mask_storeu_ps (w, m0, _mm512_add_ps (lo[j],
            _mm512_maskz_loadu_ps (m0, w)));
    if (two)
      _mm512_mask_storeu_ps (w + 16, m1, _mm512_add_ps (hi[j],
              _mm512_maskz_loadu_ps (m1, w + 16)));
  }
}

AE_TARGET_AVX512 static void
weight_grad (const AeConvParams *c, AeCpuIn x, const float *dy, AeShape ys,
    float *dw)
{
  const int ci = x.shape.c, co = ys.c, k = c->kernel;
  for (int ky = 0; ky < k; ky++)
    for (int kx = 0; kx < k; kx++)
      for (int i0 = 0; i0 < ci; i0 += IB)
        for (int o0 = 0; o0 < co; o0 += 32) {
          int n = MIN (co - o0, 32);
          if (n > 16)
            block (c, x.data, x.shape, dy, ys, ky, kx, i0, ci - i0, o0, n,
                dw, TRUE);
          else
            block (c, x.data, x.shape, dy, ys, ky, kx, i0, ci - i0, o0, n,
                dw, FALSE);
        }
}

gboolean
ae_weight_grad_direct (const AeNode *nd, AeCpuIn x, const float *dy,
    AeShape ys, float *dw)
{
  const AeConvParams *c = &nd->p.conv;
  /* fewer outputs would leave most lanes idle */
  if (nd->op != AE_OP_CONV2D || c->out_channels < 8 || !ae_cpu_use_avx512 ())
    return FALSE;
  weight_grad (c, x, dy, ys, dw);
  return TRUE;
}

#else

gboolean
ae_weight_grad_direct (const AeNode *nd, AeCpuIn x, const float *dy,
    AeShape ys, float *dw)
{
  return FALSE;
}

#endif
