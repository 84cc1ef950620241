/* ae-frame.h: 8-bit frames as they come from video, and their conversion to
 * and from the 0..1 float tensors a network sees.
 *
 * A frame is one plane: GRAY8 (also the Y plane of any planar or semi-planar
 * YUV format) or interleaved RGB-family pixels, with a row stride. Luma models
 * on RGB frames see Y' = Kr·R + Kg·G + Kb·B (full range, BT.601 or BT.709);
 * their output is put back by adding the change in Y' to R, G and B, which
 * keeps Cb and Cr exactly. Float → 8-bit clamps to 0..1 and rounds to nearest.
 *
 * YUV frames (I420, NV12, Y444) have a Y' plane (data, stride) and chroma
 * planes. Luma models read and write the Y' plane only, as GRAY8 (the caller
 * copies or resizes the chroma). RGB models see R'G'B' converted from Y'CbCr
 * (BT.601 or BT.709, limited or full range): subsampled chroma is upsampled
 * bilinearly on read (sample centres between the luma pixels, clamped at the
 * edges), and on write each chroma sample is the mean Cb/Cr of the pixels it
 * covers, of those inside the region written. The engine writes regions that
 * start on even rows and columns, so every 4:2:0 block is whole.
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
  AE_FRAME_I420,                /* Y', then Cb and Cr at half width and height */
  AE_FRAME_NV12,                /* Y', then CbCr interleaved at half size */
  AE_FRAME_Y444,                /* Y', Cb, Cr, all full size */
  AE_N_FRAME_FORMATS
} AeFrameFormat;

/* Y'CbCr matrices (BT.2020's non-constant-luminance one). */
typedef enum {
  AE_MATRIX_BT601,
  AE_MATRIX_BT709,
  AE_MATRIX_BT2020,
  AE_N_MATRICES
} AeMatrix;

/* @m's R', G' and B' weights of Y' into k[0..2]. */
void ae_matrix_weights (AeMatrix m, float k[3]);

/* The matrix whose Kr and Kb are nearest @kr and @kb (another standard's,
 * as GStreamer gives them: SMPTE 240M's are within 0.015 of BT.709's,
 * FCC's of BT.601's). */
AeMatrix ae_matrix_nearest (double kr, double kb);

/* Y' of full-range R'G'B' (any scale) with @m's weights. */
float ae_matrix_luma (AeMatrix m, float r, float g, float b);

typedef struct {
  AeFrameFormat format;
  int width, height;
  guint8 *data;
  gsize stride;                 /* bytes from one row to the next */
  AeMatrix matrix;              /* Y' weights for luma models on RGB */
  /* YUV formats only: data and stride are the Y' plane; chroma[0] and
   * chroma[1] the Cb and Cr planes (NV12: chroma[0] holds CbCr pairs,
   * chroma[1] is unused); full_range: 0..255 instead of the limited
   * 16..235 (Y') and 16..240 (Cb, Cr). */
  guint8 *chroma[2];
  gsize chroma_stride[2];
  gboolean full_range;
} AeFrame;

/* Bytes per pixel of a format (of the Y' plane for YUV). */
int ae_frame_format_bpp (AeFrameFormat format);
const char *ae_frame_format_name (AeFrameFormat format);

/* TRUE for the multi-plane YUV formats. */
gboolean ae_frame_format_is_yuv (AeFrameFormat format);
/* TRUE for formats whose pixels start with their R', G' and B' bytes (RGB,
 * RGBA, RGBx): measures of 8-bit R'G'B' read them in place. */
gboolean ae_frame_format_has_rgb_bytes (AeFrameFormat format);
/* Chroma planes of @format (0 for GRAY8 and RGB, 1 for NV12, else 2) and,
 * for a @width x @height frame, the rows of each and the bytes of pixels in
 * one of their rows. */
int ae_frame_chroma_planes (AeFrameFormat format, int width, int height,
    int *rows, gsize *row_bytes);

/* Reads frame pixels [x0, x0+w) x [y0, y0+h) into @dst (h x w x C floats,
 * C = 1 for luma, 3 for rgb). Coordinates past the frame's right or bottom
 * edge are mirrored (docs/MODEL-FORMAT.md "Frame sizes"). */
void ae_frame_read (const AeFrame *frame, AeColor color, int x0, int y0,
    int w, int h, float *dst);

/* Row @y of a YUV frame as 8-bit R'G'B' (width x 3 bytes), each pixel with
 * the chroma sample it lies in, not interpolated, as GStreamer's
 * videoconvert takes it from 4:2:0 to RGB: for measures of colour, which
 * the trainer counted on frames videoconvert made RGB. */
void ae_frame_read_rgb8_nearest (const AeFrame *frame, int y, guint8 *dst);

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
