#include "ae-frame.h"

#include <math.h>

typedef struct {
  const char *name;
  int bpp;
  int r, g, b, a;               /* byte offsets; a = -1 if none */
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

typedef struct {
  float kr, kg, kb;
} Weights;

static Weights
matrix_weights (AeMatrix m)
{
  if (m == AE_MATRIX_BT709)
    return (Weights) { 0.2126f, 0.7152f, 0.0722f };
  return (Weights) { 0.299f, 0.587f, 0.114f };
}

/* NaN (a diverged network) gives 0: converting it to an integer would be
 * undefined behaviour. */
static inline guint8
to_u8 (float v)
{
  v = v * 255.0f + 0.5f;
  return !(v > 0.0f) ? 0 : v >= 255.0f ? 255 : (guint8) v;
}

void
ae_frame_read (const AeFrame *f, AeColor color, int x0, int y0, int w,
    int h, float *dst)
{
  const FormatInfo *fi = &formats[f->format];
  const Weights k = matrix_weights (f->matrix);
  const float s = 1.0f / 255.0f;
  int nc = color == AE_COLOR_LUMA ? 1 : 3;

  for (int y = 0; y < h; y++) {
    const guint8 *row = f->data + ae_mirror (y0 + y, f->height) * f->stride;
    float *d = dst + (gsize) y * w * nc;
    for (int x = 0; x < w; x++) {
      int sx = x0 + x < f->width ? x0 + x : ae_mirror (x0 + x, f->width);
      const guint8 *px = row + sx * fi->bpp;
      if (f->format == AE_FRAME_GRAY8) {
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

void
ae_frame_write (AeFrame *out, const AeFrame *in, AeColor color, int scale,
    int x0, int y0, int w, int h, const float *src, gsize src_pitch)
{
  const FormatInfo *fi = &formats[out->format];
  const Weights k = matrix_weights (out->matrix);
  int nc = color == AE_COLOR_LUMA ? 1 : 3;
  int x1 = MIN (x0 + w, out->width), y1 = MIN (y0 + h, out->height);

  g_return_if_fail (in->format == out->format);
  for (int y = y0; y < y1; y++) {
    guint8 *row = out->data + y * out->stride;
    const float *s = src + (gsize) (y - y0) * src_pitch;
    for (int x = x0; x < x1; x++) {
      const float *v = s + (x - x0) * nc;
      guint8 *px = row + x * fi->bpp;
      if (out->format == AE_FRAME_GRAY8) {
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
