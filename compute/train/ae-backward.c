/* Backward ops. Convolutions go through im2col and cblas_sgemm: for conv2d
 * the columns gather the input under each output pixel; a transposed conv
 * scatters each input pixel to k x k outputs, so its columns gather the
 * output gradient over each input pixel the same way, and its forward is
 * conv2d's data gradient: one GEMM, then col2im. The data gradient of a
 * conv2d that keeps the frame size is itself such a conv (flipped kernel,
 * channels swapped) and runs on the engine's forward kernels. */
#include "ae-backward.h"
#include "ae-weight-grad.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* A stride-1 conv padded to keep the frame size. */
static gboolean
keeps_size (const AeConvParams *c)
{
  return c->stride == 1 && 2 * c->padding == c->dilation * (c->kernel - 1);
}

gsize
ae_backward_conv_scratch (const AeNode *nd, AeShape in, AeShape out)
{
  const AeConvParams *c = &nd->p.conv;
  gsize k2 = (gsize) c->kernel * c->kernel;
  if (nd->op != AE_OP_CONV2D)
    return (gsize) in.h * in.w * k2 * out.c;
  if (ae_cpu_conv_is_pointwise (c))
    return 0;
  gsize px = (gsize) out.h * out.w, cols = px * k2 * in.c;
  if (keeps_size (c))           /* data_grad_as_conv() */
    cols = MAX (cols, k2 * in.c * out.c + AE_CPU_PACK_SLACK +
        px * MAX (k2 * out.c, (gsize) in.c));
  return cols;
}

/* The adjoint of ae_cpu_im2col() over a @gh x @gw grid: adds every column
 * entry back where it came from. */
static void
col2im (const float *cols, int gh, int gw, const AeConvParams *c, float *dst,
    AeShape ds)
{
  const int k = c->kernel, s = c->stride, p = c->padding, d = c->dilation;
  const gsize C = ds.c;

  for (int gy = 0; gy < gh; gy++)
    for (int gx = 0; gx < gw; gx++)
      for (int ky = 0; ky < k; ky++) {
        int y = gy * s - p + ky * d;
        for (int kx = 0; kx < k; kx++, cols += C) {
          int x = gx * s - p + kx * d;
          if (y < 0 || y >= ds.h || x < 0 || x >= ds.w)
            continue;
          float *o = dst + ((gsize) y * ds.w + x) * C;
          for (gsize i = 0; i < C; i++)
            o[i] += cols[i];
        }
      }
}

void
ae_backward_act (AeAct act, float slope, const float *y, float *dy, gsize n)
{
  switch (act) {
    case AE_ACT_NONE:
      break;
    case AE_ACT_RELU:
      for (gsize i = 0; i < n; i++)
        dy[i] = y[i] > 0 ? dy[i] : 0.0f;
      break;
    case AE_ACT_LEAKY_RELU:
      /* y > 0 exactly where the input was, for a slope >= 0 (the trainer
       * refuses negative ones) */
      for (gsize i = 0; i < n; i++)
        dy[i] = y[i] > 0 ? dy[i] : dy[i] * slope;
      break;
    case AE_ACT_SIGMOID:
      for (gsize i = 0; i < n; i++)
        dy[i] *= y[i] * (1.0f - y[i]);
      break;
    case AE_ACT_TANH:
      for (gsize i = 0; i < n; i++)
        dy[i] *= 1.0f - y[i] * y[i];
      break;
  }
}

static void
add_bias_grad (const float *dy, gsize n_px, int co, float *db)
{
  for (gsize p = 0; p < n_px; p++)
    for (int o = 0; o < co; o++)
      db[o] += dy[p * co + o];
}

/* dx += the data gradient of a conv that keeps_size(): a conv of dy with
 * the kernel flipped and the channels swapped, on the direct kernels where
 * they take it (into scratch, then added), else as one GEMM of K = taps·co.
 * Either replaces a GEMM of K = co (mostly memory traffic at these channel
 * counts) and a scatter through col2im. */
static void
data_grad_as_conv (const AeNode *nd, const float *dy, AeShape ys,
    const float *w, float *dx, AeShape xs, float *scratch)
{
  const AeConvParams *c = &nd->p.conv;
  const int k2 = c->kernel * c->kernel, ci = c->in_channels;
  const int co = c->out_channels, P = xs.h * xs.w;
  const gsize nw = (gsize) k2 * co * ci;
  float *wf = scratch, *rest = scratch + nw + AE_CPU_PACK_SLACK;

  /* [ky][kx][ci][co] → [k-1-ky][k-1-kx][co][ci], with the packing's slack */
  for (int t = 0; t < k2; t++)
    for (int i = 0; i < ci; i++)
      for (int o = 0; o < co; o++)
        wf[((gsize) (k2 - 1 - t) * co + o) * ci + i] =
            w[((gsize) t * ci + i) * co + o];
  memset (wf + nw, 0, AE_CPU_PACK_SLACK * sizeof (float));

  AeNode adj = *nd;
  adj.channels = ci;
  adj.p.conv.in_channels = co;
  adj.p.conv.out_channels = ci;
  adj.p.conv.act = AE_ACT_NONE;
  if (ci >= 8 && ae_cpu_direct_supported (&adj)) {
    ae_cpu_conv2d_direct (NULL, &adj, (AeCpuIn) { dy, ys }, wf, NULL, NULL,
        rest, xs);
    for (gsize j = 0; j < (gsize) P * ci; j++)
      dx[j] += rest[j];
  } else {
    ae_cpu_im2col (dy, ys, c, xs.w, 0, P, rest);
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, P, ci, k2 * co,
        1.0f, rest, k2 * co, wf, ci, 1.0f, dx, ci);
  }
}

static void
conv2d_backward (const AeNode *nd, AeCpuIn x, const float *dy, AeShape ys,
    const float *w, float *dx, float *dw, float *cols)
{
  const AeConvParams *c = &nd->p.conv;
  const int P = ys.h * ys.w, co = c->out_channels;
  const int K = c->kernel * c->kernel * c->in_channels;

  if (ae_cpu_conv_is_pointwise (c)) {
    /* the input is its own column matrix */
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, K, co, P, 1.0f,
        x.data, K, dy, co, 1.0f, dw, co);
    if (dx)
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, P, K, co, 1.0f,
          dy, co, w, co, 1.0f, dx, K);
    return;
  }
  if (!ae_weight_grad_direct (nd, x, dy, ys, dw)) {
    ae_cpu_im2col (x.data, x.shape, c, ys.w, 0, ys.h * ys.w, cols);
    /* dW (K x co) += colsᵀ · dy */
    cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, K, co, P, 1.0f,
        cols, K, dy, co, 1.0f, dw, co);
  }
  if (!dx)
    return;
  if (keeps_size (c)) {
    data_grad_as_conv (nd, dy, ys, w, dx, x.shape, cols);
    return;
  }
  /* dcols = dy · Wᵀ, then back to the pixels it came from */
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, P, K, co, 1.0f, dy,
      co, w, co, 0.0f, cols, K);
  col2im (cols, ys.h, ys.w, c, dx, x.shape);
}

/* Transposed convs: @w is ci x (taps·co), row i holding input channel i's
 * weights tap by tap (ae_backward_pack_weight()), so one GEMM covers every
 * tap; the columns are input pixels x (taps·co) in im2col's order. */
static void
conv_transpose2d_backward (const AeNode *nd, AeCpuIn x, const float *dy,
    AeShape ys, const float *w, float *dx, float *dw, float *cols)
{
  const AeConvParams *c = &nd->p.conv;
  const int P = x.shape.h * x.shape.w, ci = c->in_channels;
  const int ld = c->kernel * c->kernel * c->out_channels;

  /* row p of cols: dy at every output pixel input pixel p reaches */
  ae_cpu_im2col (dy, ys, c, x.shape.w, 0, x.shape.h * x.shape.w, cols);
  /* dW (ci x ld) += xᵀ · cols;  dx (P x ci) += cols · Wᵀ */
  cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, ci, ld, P, 1.0f,
      x.data, ci, cols, ld, 1.0f, dw, ld);
  if (dx)
    cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, P, ci, ld, 1.0f,
        cols, ld, w, ld, 1.0f, dx, ci);
}

void
ae_backward_conv_transpose2d_forward (const AeNode *nd, AeCpuIn x,
    const float *w, const float *bias, float *y, AeShape ys, float *cols)
{
  const AeConvParams *c = &nd->p.conv;
  const int P = x.shape.h * x.shape.w, ci = c->in_channels;
  const int co = c->out_channels, ld = c->kernel * c->kernel * co;
  const gsize n_px = (gsize) ys.h * ys.w;

  /* each input pixel's contribution to every tap, scattered into place */
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, P, ld, ci, 1.0f,
      x.data, ci, w, ld, 0.0f, cols, ld);
  for (gsize p = 0; p < n_px; p++)
    for (int o = 0; o < co; o++)
      y[p * co + o] = bias ? bias[o] : 0.0f;
  col2im (cols, x.shape.h, x.shape.w, c, y, ys);
  ae_cpu_activate (y, n_px * co, c->act, c->slope);
}

void
ae_backward_conv (const AeNode *nd, AeCpuIn x, const float *dy, AeShape ys,
    const float *w, float *dx, float *dw, float *db, float *scratch)
{
  if (db)
    add_bias_grad (dy, (gsize) ys.h * ys.w, ys.c, db);
  if (nd->op == AE_OP_CONV2D)
    conv2d_backward (nd, x, dy, ys, w, dx, dw, scratch);
  else
    conv_transpose2d_backward (nd, x, dy, ys, w, dx, dw, scratch);
}

static void
pool_backward (const AeNode *nd, AeCpuIn in, const float *y, AeShape ys,
    const float *dy, float *dx)
{
  const AePoolParams *p = &nd->p.pool;
  const int C = ys.c;
  const gboolean is_max = nd->op == AE_OP_MAX_POOL2D;
  const float inv = 1.0f / (p->kernel * p->kernel);

  for (int oy = 0; oy < ys.h; oy++)
    for (int ox = 0; ox < ys.w; ox++) {
      gsize o = ((gsize) oy * ys.w + ox) * C;
      for (int c = 0; c < C; c++) {
        gboolean routed = FALSE;
        /* max: the gradient goes to the first input equal to the max,
         * matching the forward scan order */
        for (int ky = 0; ky < p->kernel && !routed; ky++) {
          int iy = oy * p->stride - p->padding + ky;
          if (iy < 0 || iy >= in.shape.h)
            continue;
          for (int kx = 0; kx < p->kernel; kx++) {
            int ix = ox * p->stride - p->padding + kx;
            if (ix < 0 || ix >= in.shape.w)
              continue;
            gsize i = ((gsize) iy * in.shape.w + ix) * C + c;
            if (!is_max) {
              dx[i] += dy[o + c] * inv;
            } else if (in.data[i] == y[o + c]) {
              dx[i] += dy[o + c];
              routed = TRUE;
              break;
            }
          }
        }
      }
    }
}

static void
upsample_backward (const AeNode *nd, AeCpuIn in, AeShape ys, const float *dy,
    float *dx)
{
  const AeResampleParams *r = &nd->p.resample;
  const int C = ys.c, f = r->factor, iw = in.shape.w, ih = in.shape.h;

  for (int oy = 0; oy < ys.h; oy++) {
    const float *g = dy + (gsize) oy * ys.w * C;
    if (r->mode == AE_UPSAMPLE_NEAREST) {
      float *row = dx + (gsize) (oy / f) * iw * C;
      for (int ox = 0; ox < ys.w; ox++)
        for (int c = 0; c < C; c++)
          row[(gsize) (ox / f) * C + c] += g[(gsize) ox * C + c];
      continue;
    }
    /* the forward's weights, exactly */
    int y0, x0;
    float ay, ax;
    ae_cpu_bilinear_source (oy, f, ih, &y0, &ay);
    int y1 = MIN (y0 + 1, ih - 1);
    for (int ox = 0; ox < ys.w; ox++) {
      ae_cpu_bilinear_source (ox, f, iw, &x0, &ax);
      int x1 = MIN (x0 + 1, iw - 1);
      float *a = dx + ((gsize) y0 * iw + x0) * C;
      float *b = dx + ((gsize) y0 * iw + x1) * C;
      float *cc = dx + ((gsize) y1 * iw + x0) * C;
      float *dd = dx + ((gsize) y1 * iw + x1) * C;
      const float *v = g + (gsize) ox * C;
      for (int c = 0; c < C; c++) {
        a[c] += (1 - ay) * (1 - ax) * v[c];
        b[c] += (1 - ay) * ax * v[c];
        cc[c] += ay * (1 - ax) * v[c];
        dd[c] += ay * ax * v[c];
      }
    }
  }
}

/* pixel_shuffle moves input channel c·f² + i·f + j of pixel (y, x) to
 * channel c of pixel (y·f + i, x·f + j); unshuffle is the inverse. Either
 * way the gradient travels the same path backwards. */
static void
shuffle_backward (int f, gboolean unshuffle, AeShape small, const float *src,
    float *dst)
{
  const int C = small.c / (f * f);
  const int bw = small.w * f;

  for (int y = 0; y < small.h; y++)
    for (int x = 0; x < small.w; x++)
      for (int c = 0; c < C; c++)
        for (int i = 0; i < f; i++)
          for (int j = 0; j < f; j++) {
            gsize s = ((gsize) y * small.w + x) * small.c + c * f * f + i * f + j;
            gsize b = ((gsize) (y * f + i) * bw + x * f + j) * C + c;
            if (unshuffle)
              dst[b] += src[s];   /* src = d(small output) */
            else
              dst[s] += src[b];   /* src = d(big output) */
          }
}

void
ae_backward_simple (const AeNode *nd, const AeCpuIn *ins, const float *y,
    AeShape ys, const float *dy, float *const *dx)
{
  gsize n = (gsize) ys.c * ys.h * ys.w;

  switch (nd->op) {
    case AE_OP_PIXEL_SHUFFLE:
      if (dx[0])
        shuffle_backward (nd->p.resample.factor, FALSE, ins[0].shape, dy,
            dx[0]);
      break;
    case AE_OP_PIXEL_UNSHUFFLE:
      if (dx[0])
        shuffle_backward (nd->p.resample.factor, TRUE, ys, dy, dx[0]);
      break;
    case AE_OP_UPSAMPLE:
      if (dx[0])
        upsample_backward (nd, ins[0], ys, dy, dx[0]);
      break;
    case AE_OP_MAX_POOL2D:
    case AE_OP_AVG_POOL2D:
      if (dx[0])
        pool_backward (nd, ins[0], y, ys, dy, dx[0]);
      break;
    case AE_OP_ADD:
      for (int k = 0; k < nd->n_inputs; k++)
        if (dx[k])
          for (gsize i = 0; i < n; i++)
            dx[k][i] += dy[i];
      break;
    case AE_OP_CONCAT:{
      int off = 0;
      for (int k = 0; k < nd->n_inputs; k++) {
        int kc = ins[k].shape.c;
        if (dx[k])
          for (gsize p = 0; p < (gsize) ys.h * ys.w; p++)
            for (int c = 0; c < kc; c++)
              dx[k][p * kc + c] += dy[p * ys.c + off + c];
        off += kc;
      }
      break;
    }
    case AE_OP_ACT:
      if (dx[0])
        for (gsize i = 0; i < n; i++) {
          float g = dy[i];
          ae_backward_act (nd->p.act.act, nd->p.act.slope, &y[i], &g, 1);
          dx[0][i] += g;
        }
      break;
    default:
      g_return_if_reached ();
  }
}

float *
ae_backward_pack_weight (const AeNode *nd, const float *weight)
{
  const AeConvParams *c = &nd->p.conv;
  const int taps = c->kernel * c->kernel, ci = c->in_channels;
  const int co = c->out_channels;

  if (nd->op == AE_OP_CONV2D)
    return ae_cpu_pack_weight (nd, weight);
  /* PyTorch's [ci][co][ky][kx] → [ci][ky][kx][co] */
  float *p = g_new (float, (gsize) ci * taps * co);
  for (int i = 0; i < ci; i++)
    for (int o = 0; o < co; o++)
      for (int t = 0; t < taps; t++)
        p[((gsize) i * taps + t) * co + o] = weight[((gsize) i * co + o) * taps
            + t];
  return p;
}

void
ae_backward_unpack_weight (const AeNode *nd, const float *p, float *grad)
{
  const AeConvParams *c = &nd->p.conv;
  const int taps = c->kernel * c->kernel, ci = c->in_channels;
  const int co = c->out_channels;
  gboolean tr = nd->op == AE_OP_CONV_TRANSPOSE2D;

  for (int o = 0; o < co; o++)
    for (int i = 0; i < ci; i++)
      for (int t = 0; t < taps; t++) {
        /* conv: [t][ci][co] → [co][ci][t]; transposed: [ci][t][co] →
         * [ci][co][t] */
        gsize src = tr ? ((gsize) i * taps + t) * co + o
            : ((gsize) t * ci + i) * co + o;
        gsize dst = tr ? ((gsize) i * co + o) * taps + t
            : ((gsize) o * ci + i) * taps + t;
        grad[dst] += p[src];
      }
}
