/* ae-frame.h: 8-bit frames as they come from video, and their conversion to
 * and from the 0..1 float tensors a network sees.
 *
 * A frame is one plane: GRAY8 (also the Y plane of any planar or semi-planar
 * YUV format) or interleaved RGB-family pixels, with a row stride. Luma models
 * on RGB frames see Y' = Kr·R + Kg·G + Kb·B (full range, BT.601 or BT.709);
 * their output is put back by adding the change in Y' to R, G and B, which
 * keeps Cb and Cr exactly. Float → 8-bit clamps to 0..1 and rounds to nearest.
 */
#pragma once

#include <glib.h>
#include "ae-graph.h"

G_BEGIN_DECLS

typedef enum {
  AE_FRAME_GRAY8,
  AE_FRAME_RGB,
  AE_FRAME_BGR,
  AE_FRAME_RGBA,
  AE_FRAME_BGRA,
  AE_FRAME_ARGB,
  AE_FRAME_ABGR,
  AE_FRAME_RGBX,
  AE_FRAME_BGRX,
  AE_FRAME_XRGB,
  AE_FRAME_XBGR,
  AE_N_FRAME_FORMATS
} AeFrameFormat;

typedef enum {
  AE_MATRIX_BT601,
  AE_MATRIX_BT709,
} AeMatrix;

typedef struct {
  AeFrameFormat format;
  int width, height;
  guint8 *data;
  gsize stride;                 /* bytes from one row to the next */
  AeMatrix matrix;              /* Y' weights for luma models on RGB */
} AeFrame;

/* Bytes per pixel of a format. */
int ae_frame_format_bpp (AeFrameFormat format);
const char *ae_frame_format_name (AeFrameFormat format);

/* Reads frame pixels [x0, x0+w) x [y0, y0+h) into @dst (h x w x C floats,
 * C = 1 for luma, 3 for rgb). Coordinates past the frame's right or bottom
 * edge are mirrored (docs/MODEL-FORMAT.md "Frame sizes"). */
void ae_frame_read (const AeFrame *frame, AeColor color, int x0, int y0,
    int w, int h, float *dst);

/* Writes @src (h x w x C floats, row pitch @src_pitch floats) to @out's
 * pixels [x0, x0+w) x [y0, y0+h), clipped to @out. @in is the frame the
 * network read, of the same format, @scale times smaller than @out: it gives
 * the chroma of luma models on RGB (interpolated bilinearly when @scale > 1)
 * and the alpha channel. */
void ae_frame_write (AeFrame *out, const AeFrame *in, AeColor color,
    int scale, int x0, int y0, int w, int h, const float *src,
    gsize src_pitch);

/* Mirror index of @x in 0..@n-1 (n >= 1). */
static inline int
ae_mirror (int x, int n)
{
  if (n == 1)
    return 0;
  int p = 2 * (n - 1);
  x %= p;
  if (x < 0)
    x += p;
  return x >= n ? p - x : x;
}

G_END_DECLS
