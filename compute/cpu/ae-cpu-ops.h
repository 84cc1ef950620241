/* ae-cpu-ops.h: the CPU kernels, on H x W x C (channels-last) floats. Each
 * splits its output across the pool; none allocates. */
#pragma once

#include "ae-graph.h"
#include "ae-parallel.h"

G_BEGIN_DECLS

typedef struct {
  const float *data;
  AeShape shape;
} AeCpuIn;

/* Weights repacked once per plan: conv2d → [kh][kw][cin][cout] (a K x Cout
 * GEMM operand); conv_transpose2d → the same order. AE_CPU_PACK_SLACK
 * zeroed floats follow: the AVX2 direct kernels' 16-wide loads of a last
 * group of fewer channels read up to 15 floats past the last row. */
#define AE_CPU_PACK_SLACK 16
float *ae_cpu_pack_weight (const AeNode *node, const float *weight);

/* The weights as ae_cpu_conv2d() and ae_cpu_conv_transpose2d() take them:
 * ae_cpu_pack_weight()'s layout, except for transposed convs of dilation 1
 * and kernel >= stride, which run as stride² phase convs and get one
 * GEMM operand per phase. */
float *ae_cpu_pack_conv (const AeNode *node, const float *weight);

/* A 1x1, stride-1, unpadded conv: its input is its own im2col matrix. */
gboolean ae_cpu_conv_is_pointwise (const AeConvParams *conv);
/* Rows @p0 .. @p0 + @n - 1 of the im2col matrix of @conv over @src (channel
 * count @src_shape.c): row q holds, for pixel p0 + q of an output grid
 * @grid_w wide, src[y·stride - padding + ky·dilation, x·stride - padding +
 * kx·dilation, :] for every tap (ky, kx) in order, zero outside @src. */
void ae_cpu_im2col (const float *src, AeShape src_shape,
    const AeConvParams *conv, int grid_w, int p0, int n, float *col);

/* Floats of per-worker scratch a conv or transposed conv needs (im2col
 * block). */
gsize ae_cpu_conv_scratch (const AeNode *node);

void ae_cpu_conv2d (AeParallel *pool, const AeNode *node, AeCpuIn in,
    const float *packed, const float *bias, float *out, AeShape out_shape,
    float *const *scratch);
/* @packed by ae_cpu_pack_conv(), for both. */
void ae_cpu_conv_transpose2d (AeParallel *pool, const AeNode *node,
    AeCpuIn in, const float *packed, const float *bias, float *out,
    AeShape out_shape, float *const *scratch);
/* Every other op: inputs as in the node. */
void ae_cpu_simple_op (AeParallel *pool, const AeNode *node,
    const AeCpuIn *ins, float *out, AeShape out_shape);

/* Direct convolution (ae-cpu-direct.c): conv2d on CPUs with AVX2
 * and FMA. @thin is ae_cpu_direct_pack_thin()'s repacking, needed (and
 * non-NULL) only for layers of fewer than 8 output channels. */
gboolean ae_cpu_have_avx2 (void);
/* AVX-512 kernels: the CPU has them and AE_CPU_CONV does not narrow. */
gboolean ae_cpu_use_avx512 (void);
gsize ae_cpu_activate_avx2 (float *x, gsize n, AeAct act);
gboolean ae_cpu_direct_supported (const AeNode *node);
float *ae_cpu_direct_pack_thin (const AeNode *node, const float *weight);
void ae_cpu_conv2d_direct (AeParallel *pool, const AeNode *node, AeCpuIn in,
    const float *packed, const float *thin, const float *bias, float *out,
    AeShape out_shape);

/* In-place activation of @n floats. */
void ae_cpu_activate (float *x, gsize n, AeAct act, float slope);

/* Bilinear upsampling by @f, align_corners=False: destination @d reads
 * source (d + 0.5) / f - 0.5 (clamped to 0 .. @n - 1), i.e. source *i0 and
 * the next one with weight *w. The weight comes from d's phase in its
 * coarse pixel, not from d, so it does not depend on where d lies in the
 * frame: tiles give the same bits as the whole frame. */
static inline void
ae_cpu_bilinear_source (int d, int f, int n, int *i0, float *w)
{
  int q = d / f;
  float t = (d % f + 0.5f) / f - 0.5f;

  if (t < 0.0f) {
    q--;
    t += 1.0f;
  }
  if (q < 0) {
    q = 0;
    t = 0.0f;
  }
  if (q > n - 1) {
    q = n - 1;
    t = 0.0f;
  }
  *i0 = q;
  *w = t;
}

G_END_DECLS
