#include "ae-frame.h"

#include <math.h>

typedef struct {
  const char *name;
  int bpp;
  int r, g, b, a;               /* byte offsets; a = -1 if none */
  int n_chroma;                 /* chroma planes; 0 = not YUV */
  int sx, sy;                   /* chroma subsampling, as shifts */
} FormatInfo;

static const FormatInfo formats[AE_N_FRAME_FORMATS] = {
  [AE_FRAME_GRAY8] = {"GRAY8", 1, 0, 0, 0, -1},
  [AE_FRAME_RGB] = {"RGB", 3, 0, 1, 2, -1},
  [AE_FRAME_BGR] = {"BGR", 3, 2, 1, 0, -1},
  [AE_FRAME_RGBA] = {"RGBA", 4, 0, 1, 2, 3},
  [AE_FRAME_BGRA] = {"BGRA", 4, 2, 1, 0, 3},
  [AE_FRAME_ARGB] = {"ARGB", 4, 1, 2, 3, 0},
  [AE_FRAME_ABGR] = {"ABGR", 4, 3, 2, 1, 0},
  [AE_FRAME_RGBX] = {"RGBx", 4, 0, 1, 2, 3},
  [AE_FRAME_BGRX] = {"BGRx", 4, 2, 1, 0, 3},
  [AE_FRAME_XRGB] = {"xRGB", 4, 1, 2, 3, 0},
  [AE_FRAME_XBGR] = {"xBGR", 4, 3, 2, 1, 0},
  [AE_FRAME_I420] = {"I420", 1, 0, 0, 0, -1, 2, 1, 1},
  [AE_FRAME_NV12] = {"NV12", 1, 0, 0, 0, -1, 1, 1, 1},
  [AE_FRAME_Y444] = {"Y444", 1, 0, 0, 0, -1, 2, 0, 0},
};

int
ae_frame_format_bpp (AeFrameFormat format)
{
  return formats[format].bpp;
}

const char *
ae_frame_format_name (AeFrameFormat format)
{
  return formats[format].name;
}

gboolean
ae_frame_format_is_yuv (AeFrameFormat format)
{
  return formats[format].n_chroma > 0;
}

gboolean
ae_frame_format_has_rgb_bytes (AeFrameFormat format)
{
  const FormatInfo *fi = &formats[format];
  return fi->bpp >= 3 && fi->r == 0 && fi->g == 1 && fi->b == 2;
}

int
ae_frame_chroma_planes (AeFrameFormat format, int width, int height,
    int *rows, gsize *row_bytes)
{
  const FormatInfo *fi = &formats[format];
  int cw = (width + (1 << fi->sx) - 1) >> fi->sx;

  *rows = (height + (1 << fi->sy) - 1) >> fi->sy;
  /* NV12's one plane holds Cb and Cr side by side */
  *row_bytes = (gsize) cw * (fi->n_chroma == 1 ? 2 : 1);
  return fi->n_chroma;
}

typedef struct {
  float kr, kg, kb;
} Weights;

static Weights
matrix_weights (AeMatrix m)
{
  switch (m) {
    case AE_MATRIX_BT709:
      return (Weights) { 0.2126f, 0.7152f, 0.0722f };
    case AE_MATRIX_BT2020:
      return (Weights) { 0.2627f, 0.6780f, 0.0593f };
    default:
      return (Weights) { 0.299f, 0.587f, 0.114f };
  }
}

void
ae_matrix_weights (AeMatrix m, float k[3])
{
  const Weights w = matrix_weights (m);
  k[0] = w.kr;
  k[1] = w.kg;
  k[2] = w.kb;
}

AeMatrix
ae_matrix_nearest (double kr, double kb)
{
  AeMatrix best = AE_MATRIX_BT601;
  double best_d = G_MAXDOUBLE;
  for (AeMatrix m = 0; m < AE_N_MATRICES; m++) {
    const Weights w = matrix_weights (m);
    double d = fabs (w.kr - kr) + fabs (w.kb - kb);
    if (d < best_d) {
      best_d = d;
      best = m;
    }
  }
  return best;
}

float
ae_matrix_luma (AeMatrix m, float r, float g, float b)
{
  const Weights k = matrix_weights (m);
  return k.kr * r + k.kg * g + k.kb * b;
}

/* NaN (a diverged network) gives 0: converting it to an integer would be
 * undefined behaviour. */
static inline guint8
to_u8 (float v)
{
  v = v * 255.0f + 0.5f;
  return !(v > 0.0f) ? 0 : v >= 255.0f ? 255 : (guint8) v;
}

/* 8-bit Y'CbCr codes: Y = y_off + y_scale·Y', C = 128 + c_scale·P (P in
 * -0.5..0.5). */
typedef struct {
  float y_off, y_scale, c_scale;
} Range;

static Range
frame_range (const AeFrame *f)
{
  if (f->full_range)
    return (Range) { 0.0f, 255.0f, 255.0f };
  return (Range) { 16.0f, 219.0f, 224.0f };
}

/* Cb and Cr bytes of chroma sample (cx, cy). */
static inline void
chroma_at (const AeFrame *f, int cx, int cy, guint8 ** cb, guint8 ** cr)
{
  if (formats[f->format].n_chroma == 1) {
    *cb = f->chroma[0] + cy * f->chroma_stride[0] + 2 * cx;
    *cr = *cb + 1;
  } else {
    *cb = f->chroma[0] + cy * f->chroma_stride[0] + cx;
    *cr = f->chroma[1] + cy * f->chroma_stride[1] + cx;
  }
}

/* Chroma samples around luma position @p (of @n samples, subsampled by
 * @shift): the two neighbours and the weight of the second. */
static inline void
chroma_coord (int p, int shift, int n, int *i0, int *i1, float *frac)
{
  float c = shift ? MAX ((p + 0.5f) / (1 << shift) - 0.5f, 0.0f) : p;
  int i = (int) c;

  if (i >= n - 1) {
    *i0 = *i1 = n - 1;
    *frac = 0.0f;
    return;
  }
  *i0 = i;
  *i1 = i + 1;
  *frac = c - i;
}

/* R'G'B' (0..1, clamped) of one pixel's 8-bit codes. */
static inline void
ycbcr_to_rgb (Weights k, Range r, float y, float cb, float cr, float *rgb)
{
  float yp = (y - r.y_off) / r.y_scale;
  float pb = (cb - 128.0f) / r.c_scale, pr = (cr - 128.0f) / r.c_scale;
  float R = yp + 2.0f * (1.0f - k.kr) * pr;
  float B = yp + 2.0f * (1.0f - k.kb) * pb;
  float G = (yp - k.kr * R - k.kb * B) / k.kg;
  rgb[0] = CLAMP (R, 0.0f, 1.0f);
  rgb[1] = CLAMP (G, 0.0f, 1.0f);
  rgb[2] = CLAMP (B, 0.0f, 1.0f);
}

/* R'G'B' (0..1) of Y'CbCr frame rows [y0, y0+h), chroma upsampled. */
static void
read_yuv_rgb (const AeFrame *f, int x0, int y0, int w, int h, float *dst)
{
  const FormatInfo *fi = &formats[f->format];
  const Weights k = matrix_weights (f->matrix);
  const Range r = frame_range (f);
  const int cw = (f->width + (1 << fi->sx) - 1) >> fi->sx;
  const int ch = (f->height + (1 << fi->sy) - 1) >> fi->sy;

  for (int y = 0; y < h; y++) {
    int sy = ae_mirror (y0 + y, f->height), cy0, cy1;
    float fy;
    chroma_coord (sy, fi->sy, ch, &cy0, &cy1, &fy);
    const guint8 *yrow = f->data + sy * f->stride;
    float *d = dst + (gsize) y * w * 3;
    for (int x = 0; x < w; x++) {
      int sx = ae_mirror (x0 + x, f->width), cx0, cx1;
      float fx;
      guint8 *b00, *r00, *b01, *r01, *b10, *r10, *b11, *r11;
      chroma_coord (sx, fi->sx, cw, &cx0, &cx1, &fx);
      chroma_at (f, cx0, cy0, &b00, &r00);
      chroma_at (f, cx1, cy0, &b01, &r01);
      chroma_at (f, cx0, cy1, &b10, &r10);
      chroma_at (f, cx1, cy1, &b11, &r11);
      float cb = (*b00 * (1 - fx) + *b01 * fx) * (1 - fy)
          + (*b10 * (1 - fx) + *b11 * fx) * fy;
      float cr = (*r00 * (1 - fx) + *r01 * fx) * (1 - fy)
          + (*r10 * (1 - fx) + *r11 * fx) * fy;
      ycbcr_to_rgb (k, r, yrow[sx], cb, cr, d + 3 * x);
    }
  }
}

void
ae_frame_read_rgb8_nearest (const AeFrame *f, int y, guint8 *dst)
{
  g_return_if_fail (ae_frame_format_is_yuv (f->format));
  g_return_if_fail (y >= 0 && y < f->height);

  const FormatInfo *fi = &formats[f->format];
  const Weights k = matrix_weights (f->matrix);
  const Range r = frame_range (f);
  const guint8 *yrow = f->data + (gsize) y * f->stride;
  float rgb[3];

  for (int x = 0; x < f->width; x++) {
    guint8 *cb, *cr;
    chroma_at (f, x >> fi->sx, y >> fi->sy, &cb, &cr);
    ycbcr_to_rgb (k, r, yrow[x], *cb, *cr, rgb);
    for (int i = 0; i < 3; i++)
      dst[3 * x + i] = to_u8 (rgb[i]);
  }
}

void
ae_frame_read (const AeFrame *f, AeColor color, int x0, int y0, int w,
    int h, float *dst)
{
  const FormatInfo *fi = &formats[f->format];
  const Weights k = matrix_weights (f->matrix);
  const float s = 1.0f / 255.0f;
  int nc = color == AE_COLOR_LUMA ? 1 : 3;

  if (fi->n_chroma && nc == 3) {
    read_yuv_rgb (f, x0, y0, w, h, dst);
    return;
  }
  for (int y = 0; y < h; y++) {
    const guint8 *row = f->data + ae_mirror (y0 + y, f->height) * f->stride;
    float *d = dst + (gsize) y * w * nc;
    for (int x = 0; x < w; x++) {
      int sx = x0 + x < f->width ? x0 + x : ae_mirror (x0 + x, f->width);
      const guint8 *px = row + sx * fi->bpp;
      if (f->format == AE_FRAME_GRAY8 || fi->n_chroma) {
        for (int c = 0; c < nc; c++)
          d[x * nc + c] = px[0] * s;
      } else if (nc == 1) {
        d[x] = (k.kr * px[fi->r] + k.kg * px[fi->g] + k.kb * px[fi->b]) * s;
      } else {
        d[3 * x + 0] = px[fi->r] * s;
        d[3 * x + 1] = px[fi->g] * s;
        d[3 * x + 2] = px[fi->b] * s;
      }
    }
  }
}

/* Input pixel (r, g, b, a) seen from output position (ox, oy): bilinear with
 * PyTorch's align_corners=False geometry, alpha nearest. */
static void
sample_input (const AeFrame *in, const FormatInfo *fi, int scale, int ox,
    int oy, float rgb[3], guint8 * alpha)
{
  if (scale == 1) {
    const guint8 *px = in->data + oy * in->stride + ox * fi->bpp;
    rgb[0] = px[fi->r];
    rgb[1] = px[fi->g];
    rgb[2] = px[fi->b];
    *alpha = fi->a >= 0 ? px[fi->a] : 255;
    return;
  }
  float fx = MAX ((ox + 0.5f) / scale - 0.5f, 0.0f);
  float fy = MAX ((oy + 0.5f) / scale - 0.5f, 0.0f);
  int x0 = MIN ((int) fx, in->width - 1), y0 = MIN ((int) fy, in->height - 1);
  int x1 = MIN (x0 + 1, in->width - 1), y1 = MIN (y0 + 1, in->height - 1);
  float ax = fx - x0, ay = fy - y0;
  const guint8 *r0 = in->data + y0 * in->stride;
  const guint8 *r1 = in->data + y1 * in->stride;
  const int off[3] = { fi->r, fi->g, fi->b };
  for (int c = 0; c < 3; c++) {
    float top = r0[x0 * fi->bpp + off[c]] * (1 - ax)
        + r0[x1 * fi->bpp + off[c]] * ax;
    float bot = r1[x0 * fi->bpp + off[c]] * (1 - ax)
        + r1[x1 * fi->bpp + off[c]] * ax;
    rgb[c] = top * (1 - ay) + bot * ay;
  }
  *alpha = fi->a >= 0 ? in->data[MIN (oy / scale, in->height - 1) * in->stride
      + MIN (ox / scale, in->width - 1) * fi->bpp + fi->a] : 255;
}

/* Clamped R'G'B' of the network output at frame position (x, y). */
static inline void
output_rgb (const float *src, gsize pitch, int x0, int y0, int x, int y,
    float rgb[3])
{
  const float *v = src + (gsize) (y - y0) * pitch + (gsize) (x - x0) * 3;
  /* NaN (a diverged network) is 0, as on RGB frames: CLAMP keeps it */
  for (int c = 0; c < 3; c++)
    rgb[c] = !(v[c] > 0.0f) ? 0.0f : MIN (v[c], 1.0f);
}

static inline guint8
code_u8 (float v)
{
  v += 0.5f;
  return !(v > 0.0f) ? 0 : v >= 255.0f ? 255 : (guint8) v;
}

/* R'G'B' floats into the Y' plane of [x0, x1) x [y0, y1), then the chroma
 * samples whose first pixel lies in the region, each the mean of its pixels
 * inside the region. */
static void
write_yuv_rgb (AeFrame *out, int x0, int y0, int x1, int y1,
    const float *src, gsize pitch)
{
  const FormatInfo *fi = &formats[out->format];
  const Weights k = matrix_weights (out->matrix);
  const Range r = frame_range (out);
  const float cb_k = 0.5f / (1.0f - k.kb), cr_k = 0.5f / (1.0f - k.kr);
  float rgb[3];

  for (int y = y0; y < y1; y++) {
    guint8 *row = out->data + y * out->stride;
    for (int x = x0; x < x1; x++) {
      output_rgb (src, pitch, x0, y0, x, y, rgb);
      row[x] = code_u8 (r.y_off + r.y_scale * (k.kr * rgb[0] + k.kg * rgb[1]
              + k.kb * rgb[2]));
    }
  }
  const int bx = 1 << fi->sx, by = 1 << fi->sy;
  for (int cy = (y0 + by - 1) >> fi->sy; cy * by < y1; cy++) {
    for (int cx = (x0 + bx - 1) >> fi->sx; cx * bx < x1; cx++) {
      float pb = 0.0f, pr = 0.0f;
      int n = 0;
      for (int y = cy * by; y < MIN ((cy + 1) * by, y1); y++)
        for (int x = cx * bx; x < MIN ((cx + 1) * bx, x1); x++, n++) {
          output_rgb (src, pitch, x0, y0, x, y, rgb);
          float yp = k.kr * rgb[0] + k.kg * rgb[1] + k.kb * rgb[2];
          pb += (rgb[2] - yp) * cb_k;
          pr += (rgb[0] - yp) * cr_k;
        }
      guint8 *cb, *cr;
      chroma_at (out, cx, cy, &cb, &cr);
      *cb = code_u8 (128.0f + r.c_scale * pb / n);
      *cr = code_u8 (128.0f + r.c_scale * pr / n);
    }
  }
}

void
ae_frame_write (AeFrame *out, const AeFrame *in, AeColor color, int scale,
    int x0, int y0, int w, int h, const float *src, gsize src_pitch)
{
  const FormatInfo *fi = &formats[out->format];
  const Weights k = matrix_weights (out->matrix);
  int nc = color == AE_COLOR_LUMA ? 1 : 3;
  int x1 = MIN (x0 + w, out->width), y1 = MIN (y0 + h, out->height);

  g_return_if_fail (in->format == out->format);
  if (fi->n_chroma && nc == 3) {
    write_yuv_rgb (out, x0, y0, x1, y1, src, src_pitch);
    return;
  }
  for (int y = y0; y < y1; y++) {
    guint8 *row = out->data + y * out->stride;
    const float *s = src + (gsize) (y - y0) * src_pitch;
    for (int x = x0; x < x1; x++) {
      const float *v = s + (x - x0) * nc;
      guint8 *px = row + x * fi->bpp;
      if (out->format == AE_FRAME_GRAY8 || fi->n_chroma) {
        px[0] = to_u8 (nc == 1 ? v[0] : k.kr * v[0] + k.kg * v[1]
            + k.kb * v[2]);
        continue;
      }
      float rgb[3];
      guint8 alpha;
      if (nc == 3) {
        rgb[0] = v[0];
        rgb[1] = v[1];
        rgb[2] = v[2];
        sample_input (in, fi, scale, x, y, (float[3]) { 0 }, &alpha);
      } else {
        sample_input (in, fi, scale, x, y, rgb, &alpha);
        float dy = v[0] - (k.kr * rgb[0] + k.kg * rgb[1] + k.kb * rgb[2])
            / 255.0f;
        for (int c = 0; c < 3; c++)
          rgb[c] = rgb[c] / 255.0f + dy;
      }
      px[fi->r] = to_u8 (rgb[0]);
      px[fi->g] = to_u8 (rgb[1]);
      px[fi->b] = to_u8 (rgb[2]);
      if (fi->a >= 0)
        px[fi->a] = alpha;
    }
  }
}
