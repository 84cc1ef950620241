/* 8-bit frames <-> float tensors (compute/ae-frame.h), and the engine on
 * frames: padding bytes between rows stay untouched, identity round trips
 * are exact, Y' uses the right matrix, clamping and rounding, mirror
 * padding, chroma of superres luma models, and tiled == untiled; YUV
 * frames with RGB models against textbook Y'CbCr conversions. */
#include "ae-engine.h"
#include "ae-error.h"

#include <math.h>
#include <string.h>

#define SENTINEL 0xA5
#define ROW_PAD 13              /* stride = row bytes + this */
#define GUARD 64                /* bytes after the last row */
/* GRAY8 and the interleaved RGB formats; the YUV ones follow */
#define N_PACKED_FORMATS (AE_FRAME_XBGR + 1)

/* ------------------------------------------------------------------ */
/* frames with padding between rows and a guard after them */

typedef struct {
  AeFrame f;
  gsize size;
} TFrame;

static void
tframe_init (TFrame *t, AeFrameFormat fmt, int w, int h, AeMatrix matrix)
{
  int bpp = ae_frame_format_bpp (fmt);
  t->f.format = fmt;
  t->f.width = w;
  t->f.height = h;
  t->f.stride = (gsize) w * bpp + ROW_PAD;
  t->f.matrix = matrix;
  t->size = t->f.stride * h + GUARD;
  t->f.data = g_malloc (t->size);
  memset (t->f.data, SENTINEL, t->size);
}

static void
tframe_clear (TFrame *t)
{
  g_clear_pointer (&t->f.data, g_free);
}

static inline guint8 *
px (const AeFrame *f, int x, int y)
{
  return f->data + (gsize) y * f->stride
      + (gsize) x * ae_frame_format_bpp (f->format);
}

static void
tframe_fill_random (TFrame *t, GRand *r)
{
  gsize row = (gsize) t->f.width * ae_frame_format_bpp (t->f.format);
  for (int y = 0; y < t->f.height; y++)
    for (gsize i = 0; i < row; i++)
      t->f.data[y * t->f.stride + i] = g_rand_int_range (r, 0, 256);
}

static void
tframe_fill_value (TFrame *t, guint8 v)
{
  gsize row = (gsize) t->f.width * ae_frame_format_bpp (t->f.format);
  for (int y = 0; y < t->f.height; y++)
    memset (t->f.data + y * t->f.stride, v, row);
}

/* Every byte outside the pixels is still the sentinel. */
static void
assert_padding_intact (const TFrame *t)
{
  gsize row = (gsize) t->f.width * ae_frame_format_bpp (t->f.format);
  for (int y = 0; y < t->f.height; y++)
    for (gsize i = row; i < t->f.stride; i++)
      if (t->f.data[y * t->f.stride + i] != SENTINEL) {
        g_test_message ("%s %dx%d: padding byte %" G_GSIZE_FORMAT
            " of row %d was overwritten",
            ae_frame_format_name (t->f.format), t->f.width, t->f.height, i,
            y);
        g_test_fail ();
        return;
      }
  for (gsize i = t->f.stride * t->f.height; i < t->size; i++)
    g_assert_cmpint (t->f.data[i], ==, SENTINEL);
}

/* Max abs difference of the pixel bytes of two frames of one format. */
static int
max_byte_diff (const AeFrame *a, const AeFrame *b)
{
  gsize row = (gsize) a->width * ae_frame_format_bpp (a->format);
  int d = 0;
  g_assert_cmpint (a->width, ==, b->width);
  g_assert_cmpint (a->height, ==, b->height);
  for (int y = 0; y < a->height; y++)
    for (gsize i = 0; i < row; i++)
      d = MAX (d, abs ((int) a->data[y * a->stride + i]
              - (int) b->data[y * b->stride + i]));
  return d;
}

/* byte offsets of R, G, B and alpha/x (-1) in a pixel */
static void
format_offsets (AeFrameFormat fmt, int off[4])
{
  static const char *layout[AE_N_FRAME_FORMATS] = {
    [AE_FRAME_GRAY8] = "Y",[AE_FRAME_RGB] = "RGB",[AE_FRAME_BGR] = "BGR",
    [AE_FRAME_RGBA] = "RGBA",[AE_FRAME_BGRA] = "BGRA",
    [AE_FRAME_ARGB] = "ARGB",[AE_FRAME_ABGR] = "ABGR",
    [AE_FRAME_RGBX] = "RGBA",[AE_FRAME_BGRX] = "BGRA",
    [AE_FRAME_XRGB] = "ARGB",[AE_FRAME_XBGR] = "ABGR",
  };
  const char *l = layout[fmt];
  off[0] = off[1] = off[2] = off[3] = -1;
  for (int i = 0; l[i]; i++)
    off[strchr ("RGBA", l[i]) ? strchr ("RGBA", l[i]) - "RGBA" : 0] = i;
  if (fmt == AE_FRAME_GRAY8)
    off[0] = off[1] = off[2] = 0;
}

static const char *const matrix_names[AE_N_MATRICES] =
    { "bt601", "bt709", "bt2020" };

/* The standards' Kr, Kg, Kb, written out here, not taken from the code
 * under test. */
static const double matrix_k[AE_N_MATRICES][3] = {
  [AE_MATRIX_BT601] = {0.299, 0.587, 0.114},
  [AE_MATRIX_BT709] = {0.2126, 0.7152, 0.0722},
  [AE_MATRIX_BT2020] = {0.2627, 0.6780, 0.0593},
};

static double
kr_of (AeMatrix m)
{
  return matrix_k[m][0];
}

static double
kg_of (AeMatrix m)
{
  return matrix_k[m][1];
}

static double
kb_of (AeMatrix m)
{
  return matrix_k[m][2];
}

/* ------------------------------------------------------------------ */
/* read / write */

typedef struct {
  AeFrameFormat format;
  AeColor color;
} FmtCase;

/* Read the whole frame, write it back unchanged into a fresh frame, for
 * every format and both colours: exact for GRAY8 and for rgb models, within
 * 1 for luma models on RGB; alpha and x bytes copied; padding untouched. */
static void
test_round_trip (gconstpointer data)
{
  const FmtCase *fc = data;
  GRand *r = g_rand_new_with_seed (1000 + fc->format * 2 + fc->color);
  const int sizes[][2] = { {1, 1}, {2, 2}, {17, 9}, {9, 17}, {64, 33} };
  int nc = fc->color == AE_COLOR_LUMA ? 1 : 3;
  int off[4];
  format_offsets (fc->format, off);

  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    for (int m = 0; m < AE_N_MATRICES; m++) {
      int w = sizes[s][0], h = sizes[s][1];
      TFrame in, out;
      tframe_init (&in, fc->format, w, h, m);
      tframe_init (&out, fc->format, w, h, m);
      tframe_fill_random (&in, r);
      tframe_fill_value (&out, 0x3C);
      g_autofree float *t = g_new (float, (gsize) w * h * nc);

      ae_frame_read (&in.f, fc->color, 0, 0, w, h, t);
      for (gsize i = 0; i < (gsize) w * h * nc; i++)
        g_assert_true (t[i] >= 0.0f && t[i] <= 1.0f);
      ae_frame_write (&out.f, &in.f, fc->color, 1, 0, 0, w, h, t,
          (gsize) w * nc);
      assert_padding_intact (&in);
      assert_padding_intact (&out);

      int d = max_byte_diff (&in.f, &out.f);
      gboolean exact = fc->format == AE_FRAME_GRAY8
          || fc->color == AE_COLOR_RGB;
      g_test_message ("%s %s %dx%d %s: max byte difference %d",
          ae_frame_format_name (fc->format), ae_color_name (fc->color), w, h,
          matrix_names[m], d);
      g_assert_cmpint (d, <=, exact ? 0 : 1);
      /* alpha (or x) bytes are copied exactly */
      if (off[3] >= 0)
        for (int y = 0; y < h; y++)
          for (int x = 0; x < w; x++)
            g_assert_cmpint (px (&out.f, x, y)[off[3]], ==,
                px (&in.f, x, y)[off[3]]);
      tframe_clear (&in);
      tframe_clear (&out);
    }
  g_rand_free (r);
}

/* Reads of regions that reach past the right and bottom edges mirror; writes
 * of tiles at offsets equal one whole write and touch nothing else. */
static void
test_regions (gconstpointer data)
{
  const FmtCase *fc = data;
  GRand *r = g_rand_new_with_seed (2000 + fc->format * 2 + fc->color);
  const int w = 13, h = 7, nc = fc->color == AE_COLOR_LUMA ? 1 : 3;
  TFrame in, whole, tiled;
  tframe_init (&in, fc->format, w, h, AE_MATRIX_BT601);
  tframe_init (&whole, fc->format, w, h, AE_MATRIX_BT601);
  tframe_init (&tiled, fc->format, w, h, AE_MATRIX_BT601);
  tframe_fill_random (&in, r);
  tframe_fill_value (&whole, 0);
  tframe_fill_value (&tiled, 0);

  /* the full frame, and a region from (5, 3) running 20 past the edges */
  g_autofree float *full = g_new (float, w * h * nc);
  ae_frame_read (&in.f, fc->color, 0, 0, w, h, full);
  const int rx = 5, ry = 3, rw = w + 20, rh = h + 20;
  g_autofree float *reg = g_new (float, rw * rh * nc);
  ae_frame_read (&in.f, fc->color, rx, ry, rw, rh, reg);
  for (int y = 0; y < rh; y++)
    for (int x = 0; x < rw; x++)
      for (int c = 0; c < nc; c++) {
        int sx = ae_mirror (rx + x, w), sy = ae_mirror (ry + y, h);
        g_assert_cmpfloat (reg[(y * rw + x) * nc + c], ==,
            full[(sy * w + sx) * nc + c]);
      }

  /* a 2.5 x 2.5 grid of tiles, the last ones clipped by the frame */
  for (gsize i = 0; i < (gsize) w * h * nc; i++)
    full[i] = g_rand_double_range (r, -0.1, 1.1);
  ae_frame_write (&whole.f, &in.f, fc->color, 1, 0, 0, w, h, full,
      (gsize) w * nc);
  const int tw = 6, th = 3;
  for (int ty = 0; ty < h; ty += th)
    for (int tx = 0; tx < w; tx += tw) {
      /* a tile's floats live in a buffer of their own, with a pitch */
      int pitch = (tw + 3) * nc;
      g_autofree float *tile = g_new0 (float, pitch * th);
      for (int y = 0; y < th && ty + y < h; y++)
        for (int x = 0; x < tw && tx + x < w; x++)
          memcpy (tile + y * pitch + x * nc, full + ((ty + y) * w + tx + x) *
              nc, sizeof (float) * nc);
      ae_frame_write (&tiled.f, &in.f, fc->color, 1, tx, ty, tw, th, tile,
          pitch);
    }
  g_assert_cmpint (max_byte_diff (&whole.f, &tiled.f), ==, 0);

  /* a write of one small region changes only that region */
  TFrame part;
  tframe_init (&part, fc->format, w, h, AE_MATRIX_BT601);
  tframe_fill_value (&part, 0x77);
  ae_frame_write (&part.f, &in.f, fc->color, 1, 4, 2, 3, 2,
      full + (2 * w + 4) * nc, (gsize) w * nc);
  static const guint8 untouched[4] = { 0x77, 0x77, 0x77, 0x77 };
  int bpp = ae_frame_format_bpp (fc->format);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      gboolean inside = x >= 4 && x < 7 && y >= 2 && y < 4;
      const guint8 *want = inside ? px (&whole.f, x, y) : untouched;
      g_assert_cmpmem (px (&part.f, x, y), bpp, want, bpp);
    }
  assert_padding_intact (&in);
  assert_padding_intact (&whole);
  assert_padding_intact (&tiled);
  assert_padding_intact (&part);
  tframe_clear (&part);
  tframe_clear (&in);
  tframe_clear (&whole);
  tframe_clear (&tiled);
  g_rand_free (r);
}

/* Y' of a few pixels against hand-computed values, in every RGB layout. */
static void
test_luma_matrix (void)
{
  static const struct {
    guint8 r, g, b;
    double y[AE_N_MATRICES];    /* BT.601, 709, 2020; x 255, by hand */
  } pixels[] = {
    {255, 0, 0, {76.245, 54.213, 66.9885}},
    {0, 255, 0, {149.685, 182.376, 172.89}},
    {0, 0, 255, {29.07, 18.411, 15.1215}},
    {255, 255, 255, {255, 255, 255}},
    {0, 0, 0, {0, 0, 0}},
    /* 2.99 + 117.4 + 3.42; 2.126 + 143.04 + 2.166; 2.627 + 135.6 + 1.779 */
    {10, 200, 30, {123.81, 147.332, 140.006}},
    /* 38.272 + 37.568 + 3.648; 27.2128 + 45.7728 + 2.3104;
     * 33.6256 + 43.392 + 1.8976 */
    {128, 64, 32, {79.488, 75.296, 78.9152}},
  };
  for (int fmt = AE_FRAME_RGB; fmt < N_PACKED_FORMATS; fmt++)
    for (int m = 0; m < AE_N_MATRICES; m++) {
      int off[4];
      TFrame t;
      format_offsets (fmt, off);
      tframe_init (&t, fmt, G_N_ELEMENTS (pixels), 1, m);
      for (guint i = 0; i < G_N_ELEMENTS (pixels); i++) {
        guint8 *p = px (&t.f, i, 0);
        p[off[0]] = pixels[i].r;
        p[off[1]] = pixels[i].g;
        p[off[2]] = pixels[i].b;
        if (off[3] >= 0)
          p[off[3]] = 0x99;
      }
      float y[G_N_ELEMENTS (pixels)];
      ae_frame_read (&t.f, AE_COLOR_LUMA, 0, 0, G_N_ELEMENTS (pixels), 1, y);
      for (guint i = 0; i < G_N_ELEMENTS (pixels); i++) {
        double want = pixels[i].y[m] / 255.0;
        g_assert_cmpfloat (fabs (y[i] - want), <=, 1e-6);
      }
      /* rgb reads give the channels in R, G, B order */
      float rgb[3 * G_N_ELEMENTS (pixels)];
      ae_frame_read (&t.f, AE_COLOR_RGB, 0, 0, G_N_ELEMENTS (pixels), 1, rgb);
      for (guint i = 0; i < G_N_ELEMENTS (pixels); i++) {
        g_assert_cmpfloat (fabs (rgb[3 * i] - pixels[i].r / 255.0), <=, 1e-7);
        g_assert_cmpfloat (fabs (rgb[3 * i + 1] - pixels[i].g / 255.0), <=,
            1e-7);
        g_assert_cmpfloat (fabs (rgb[3 * i + 2] - pixels[i].b / 255.0), <=,
            1e-7);
      }
      assert_padding_intact (&t);
      tframe_clear (&t);
    }

  /* GRAY8 is Y already, whatever the matrix; an rgb model sees it grey */
  TFrame g;
  tframe_init (&g, AE_FRAME_GRAY8, 3, 1, AE_MATRIX_BT709);
  px (&g.f, 0, 0)[0] = 0;
  px (&g.f, 1, 0)[0] = 100;
  px (&g.f, 2, 0)[0] = 255;
  float y[3], rgb[9];
  ae_frame_read (&g.f, AE_COLOR_LUMA, 0, 0, 3, 1, y);
  ae_frame_read (&g.f, AE_COLOR_RGB, 0, 0, 3, 1, rgb);
  for (int i = 0; i < 3; i++) {
    double want = px (&g.f, i, 0)[0] / 255.0;
    g_assert_cmpfloat (fabs (y[i] - want), <=, 1e-7);
    for (int c = 0; c < 3; c++)
      g_assert_cmpfloat (rgb[3 * i + c], ==, y[i]);
  }
  tframe_clear (&g);
}

/* Other standards' Kr and Kb (GStreamer's figures) find the nearest. */
static void
test_matrix_nearest (void)
{
  for (int m = 0; m < AE_N_MATRICES; m++)
    g_assert_cmpint (ae_matrix_nearest (kr_of (m), kb_of (m)), ==, m);
  g_assert_cmpint (ae_matrix_nearest (0.212, 0.087), ==, AE_MATRIX_BT709);
  g_assert_cmpint (ae_matrix_nearest (0.30, 0.11), ==, AE_MATRIX_BT601);
}

/* A luma model's change of Y' is added to R, G and B alike; each matrix
 * gives back its own Y'. */
static void
test_luma_write (void)
{
  for (int m = 0; m < AE_N_MATRICES; m++) {
    TFrame in, out;
    tframe_init (&in, AE_FRAME_RGB, 1, 1, m);
    tframe_init (&out, AE_FRAME_RGB, 1, 1, m);
    guint8 *p = px (&in.f, 0, 0);
    p[0] = 100;
    p[1] = 150;
    p[2] = 200;
    double y = (kr_of (m) * 100 + kg_of (m) * 150 + kb_of (m) * 200) / 255;
    float v = y + 10 / 255.0;
    ae_frame_write (&out.f, &in.f, AE_COLOR_LUMA, 1, 0, 0, 1, 1, &v, 1);
    guint8 *o = px (&out.f, 0, 0);
    g_assert_cmpint (o[0], ==, 110);
    g_assert_cmpint (o[1], ==, 160);
    g_assert_cmpint (o[2], ==, 210);
    /* pushed past white, each channel clamps on its own */
    v = y + 80 / 255.0;
    ae_frame_write (&out.f, &in.f, AE_COLOR_LUMA, 1, 0, 0, 1, 1, &v, 1);
    g_assert_cmpint (o[0], ==, 180);
    g_assert_cmpint (o[1], ==, 230);
    g_assert_cmpint (o[2], ==, 255);
    assert_padding_intact (&out);
    tframe_clear (&in);
    tframe_clear (&out);
  }
}

/* Float -> 8 bit: clamp to 0..1, round to nearest (half up). */
static void
test_clamp_round (void)
{
  static const struct {
    float v;
    int want;
  } cases[] = {
    {-1e30f, 0}, {-1.0f, 0}, {-0.0001f, 0}, {0.0f, 0}, {1.0f, 255},
    {1.0001f, 255}, {2.0f, 255}, {1e30f, 255}, {INFINITY, 255},
    {-INFINITY, 0}, {0.5f, 128}, {0.25f, 64},
    {(0.5f - 1e-3f) / 255, 0}, {(0.5f + 1e-3f) / 255, 1},
    {(254.5f - 1e-3f) / 255, 254}, {(254.5f + 1e-3f) / 255, 255},
  };
  TFrame in, out;
  const int n = G_N_ELEMENTS (cases);
  tframe_init (&in, AE_FRAME_GRAY8, n, 1, AE_MATRIX_BT601);
  tframe_init (&out, AE_FRAME_GRAY8, n, 1, AE_MATRIX_BT601);
  tframe_fill_value (&in, 0);
  float v[G_N_ELEMENTS (cases)];
  for (int i = 0; i < n; i++)
    v[i] = cases[i].v;
  ae_frame_write (&out.f, &in.f, AE_COLOR_LUMA, 1, 0, 0, n, 1, v, n);
  for (int i = 0; i < n; i++) {
    g_test_message ("%g -> %d", cases[i].v, px (&out.f, i, 0)[0]);
    g_assert_cmpint (px (&out.f, i, 0)[0], ==, cases[i].want);
  }

  /* every level k: (k +- 0.49) / 255 rounds to k, (k + 0.5) / 255 to k + 1
   * (round half up), k / 255 to k */
  tframe_clear (&in);
  tframe_clear (&out);
  tframe_init (&in, AE_FRAME_GRAY8, 256, 1, AE_MATRIX_BT601);
  tframe_init (&out, AE_FRAME_GRAY8, 256, 1, AE_MATRIX_BT601);
  tframe_fill_value (&in, 0);
  const double offs[] = { 0, -0.49, 0.49, 0.5 };
  for (guint o = 0; o < G_N_ELEMENTS (offs); o++) {
    float lv[256];
    for (int k = 0; k < 256; k++)
      lv[k] = (float) ((k + offs[o]) / 255.0);
    ae_frame_write (&out.f, &in.f, AE_COLOR_LUMA, 1, 0, 0, 256, 1, lv, 256);
    for (int k = 0; k < 256; k++) {
      int want = CLAMP (offs[o] == 0.5 ? k + 1 : k, 0, 255);
      if (px (&out.f, k, 0)[0] != want) {
        g_test_message ("(%d %+g) / 255 = %.9g -> %d, want %d", k, offs[o],
            lv[k], px (&out.f, k, 0)[0], want);
        g_test_fail ();
      }
    }
  }
  assert_padding_intact (&out);
  tframe_clear (&in);
  tframe_clear (&out);

  /* NaN (a diverged network) must give some byte, not undefined behaviour;
   * and for rgb models each channel clamps on its own */
  tframe_init (&in, AE_FRAME_RGBA, 1, 1, AE_MATRIX_BT601);
  tframe_init (&out, AE_FRAME_RGBA, 1, 1, AE_MATRIX_BT601);
  tframe_fill_value (&in, 7);
  float rgb[3] = { -0.5f, 2.0f, NAN };
  ae_frame_write (&out.f, &in.f, AE_COLOR_RGB, 1, 0, 0, 1, 1, rgb, 3);
  g_assert_cmpint (px (&out.f, 0, 0)[0], ==, 0);
  g_assert_cmpint (px (&out.f, 0, 0)[1], ==, 255);
  g_assert_cmpint (px (&out.f, 0, 0)[2], ==, 0);
  g_assert_cmpint (px (&out.f, 0, 0)[3], ==, 7);
  tframe_clear (&in);
  tframe_clear (&out);
}

/* The definition in docs/MODEL-FORMAT.md, "Frame sizes". */
static int
mirror_doc (int x, int n)
{
  if (n == 1)
    return 0;
  int p = 2 * (n - 1);
  int xp = ((x % p) + p) % p;
  return xp >= n ? p - xp : xp;
}

static void
test_mirror (void)
{
  const int ns[] = { 1, 2, 3, 4, 5, 17, 1080, 1921 };
  for (guint i = 0; i < G_N_ELEMENTS (ns); i++) {
    int n = ns[i];
    for (int x = -3 * n - 5; x < 5 * n + 10; x++) {
      int m = ae_mirror (x, n);
      g_assert_cmpint (m, ==, mirror_doc (x, n));
      g_assert_cmpint (m, >=, 0);
      g_assert_cmpint (m, <, n);
      if (x >= 0 && x < n)
        g_assert_cmpint (m, ==, x);
    }
    /* far past the frame */
    const int far[] = { 1000003, 65536 + 7, G_MAXINT / 2, G_MAXINT - 1 };
    for (guint k = 0; k < G_N_ELEMENTS (far); k++)
      g_assert_cmpint (ae_mirror (far[k], n), ==, mirror_doc (far[k], n));
  }
  /* by hand: n = 2 alternates, n = 3 and 4 reflect without repeating the
   * edge (PyTorch's "reflect") */
  const int two[] = { 0, 1, 0, 1, 0, 1 };
  const int three[] = { 0, 1, 2, 1, 0, 1, 2, 1, 0 };
  const int four[] = { 0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2 };
  for (guint x = 0; x < G_N_ELEMENTS (two); x++)
    g_assert_cmpint (ae_mirror (x, 2), ==, two[x]);
  for (guint x = 0; x < G_N_ELEMENTS (three); x++)
    g_assert_cmpint (ae_mirror (x, 3), ==, three[x]);
  for (guint x = 0; x < G_N_ELEMENTS (four); x++)
    g_assert_cmpint (ae_mirror (x, 4), ==, four[x]);
  g_assert_cmpint (ae_mirror (123456, 1), ==, 0);
}

/* PyTorch bilinear (align_corners=False) of channel @off at output (ox, oy)
 * of a frame upscaled by @s. */
static double
bilinear_at (const AeFrame *f, int off, int s, int ox, int oy)
{
  double fx = MAX ((ox + 0.5) / s - 0.5, 0), fy = MAX ((oy + 0.5) / s - 0.5,
      0);
  int x0 = MIN ((int) fx, f->width - 1), y0 = MIN ((int) fy, f->height - 1);
  int x1 = MIN (x0 + 1, f->width - 1), y1 = MIN (y0 + 1, f->height - 1);
  double ax = fx - x0, ay = fy - y0;
  return (1 - ay) * ((1 - ax) * px (f, x0, y0)[off] + ax * px (f, x1,
          y0)[off]) + ay * ((1 - ax) * px (f, x0, y1)[off] + ax * px (f, x1,
          y1)[off]);
}

/* Superres luma models on RGB: the output's chroma is the input's,
 * interpolated bilinearly; a flat colour stays that colour. Alpha is the
 * nearest input pixel's. */
static void
test_superres_chroma (gconstpointer data)
{
  const FmtCase *fc = data;
  const AeFrameFormat fmt = fc->format;
  GRand *r = g_rand_new_with_seed (3000 + fmt);
  int off[4];
  format_offsets (fmt, off);

  for (int scale = 2; scale <= 3; scale++)
    for (int m = 0; m < AE_N_MATRICES; m++) {
      const int w = 7, h = 5, ow = w * scale, oh = h * scale;
      TFrame in, out;
      tframe_init (&in, fmt, w, h, m);
      tframe_init (&out, fmt, ow, oh, m);
      tframe_fill_value (&out, 0);

      /* flat colour, Y' unchanged (read from the input) */
      const guint8 flat[3] = { 200, 100, 50 };
      for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
          for (int c = 0; c < 3; c++)
            px (&in.f, x, y)[off[c]] = flat[c];
          if (off[3] >= 0)
            px (&in.f, x, y)[off[3]] = x * 16 + y;
        }
      float ys;
      ae_frame_read (&in.f, AE_COLOR_LUMA, 0, 0, 1, 1, &ys);
      g_autofree float *src = g_new (float, ow * oh);
      for (int i = 0; i < ow * oh; i++)
        src[i] = ys;
      ae_frame_write (&out.f, &in.f, AE_COLOR_LUMA, scale, 0, 0, ow, oh, src,
          ow);
      for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
          for (int c = 0; c < 3; c++)
            g_assert_cmpint (abs (px (&out.f, x, y)[off[c]] - flat[c]), <=,
                0);
          if (off[3] >= 0)
            g_assert_cmpint (px (&out.f, x, y)[off[3]], ==,
                px (&in.f, x / scale, y / scale)[off[3]]);
        }
      assert_padding_intact (&out);

      /* random colours, Y' = bilinear Y' of the input: the output is the
       * bilinear RGB (Y' is linear in R, G, B) */
      tframe_fill_random (&in, r);
      for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
          src[y * ow + x] = (kr_of (m) * bilinear_at (&in.f, off[0], scale, x,
                  y) + kg_of (m) * bilinear_at (&in.f, off[1], scale, x, y)
              + kb_of (m) * bilinear_at (&in.f, off[2], scale, x, y)) / 255;
      ae_frame_write (&out.f, &in.f, AE_COLOR_LUMA, scale, 0, 0, ow, oh, src,
          ow);
      int worst = 0;
      for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++)
          for (int c = 0; c < 3; c++) {
            double want = bilinear_at (&in.f, off[c], scale, x, y);
            worst = MAX (worst, (int) ceil (fabs (px (&out.f, x, y)[off[c]] -
                        want) - 0.5));
          }
      g_test_message ("%s x%d: worst %d levels off the rounded bilinear",
          ae_frame_format_name (fmt), scale, worst);
      g_assert_cmpint (worst, <=, 1);
      assert_padding_intact (&in);
      assert_padding_intact (&out);
      tframe_clear (&in);
      tframe_clear (&out);
    }
  g_rand_free (r);
}

/* ------------------------------------------------------------------ */
/* the engine on frames */

static AeModel *
load_model (const char *name)
{
  g_autofree char *file = g_strdup_printf ("%s.safetensors", name);
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data",
      "models", file, NULL);
  g_autoptr (GError) error = NULL;
  AeModel *m = ae_model_load (path, &error);
  g_assert_no_error (error);
  return m;
}

static AeEngine *
new_engine (void)
{
  AeEngineParams ep = {.device = "cpu",.threads = 2 };
  g_autoptr (GError) error = NULL;
  AeEngine *e = ae_engine_new (&ep, &error);
  g_assert_no_error (error);
  return e;
}

static AePlan *
new_plan (AeEngine *e, AeModel *m, int w, int h, int tile)
{
  AePlanParams pp = {.width = w,.height = h,.tile_size = tile };
  g_autoptr (GError) error = NULL;
  AePlan *p = ae_plan_new (e, m, &pp, &error);
  g_assert_no_error (error);
  return p;
}

static void
run_frame (AePlan *p, const AeFrame *in, AeFrame *out)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (ae_plan_run (p, in, out, &error));
  g_assert_no_error (error);
}

/* An untiled 32768x32768 frame through a x2 model makes a conv at 65536x65536
 * pixels, beyond the CPU kernels' int pixel counts: a clear error before
 * any allocation, not an overflow. */
static void
test_engine_too_many_pixels (void)
{
  g_autoptr (AeModel) m = load_model ("bilinear");
  g_autoptr (AeEngine) e = new_engine ();
  AePlanParams pp = {.width = 32768,.height = 32768,.tile_size = -1 };
  g_autoptr (GError) error = NULL;
  g_autoptr (AePlan) p = ae_plan_new (e, m, &pp, &error);
  g_assert_null (p);
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "smaller tile-size"));
  /* tiled, the same frame plans */
  pp.tile_size = 0;
  g_clear_error (&error);
  g_autoptr (AePlan) tiled = ae_plan_new (e, m, &pp, &error);
  g_assert_no_error (error);
}

/* identity.safetensors (1x1 conv, weight 1, bias 0) returns its input. */
static void
test_engine_identity (void)
{
  g_autoptr (AeModel) m = load_model ("identity");
  g_autoptr (AeEngine) e = new_engine ();
  GRand *r = g_rand_new_with_seed (4000);
  const int sizes[][2] = { {1, 1}, {17, 9}, {640, 480}, {1921, 1081} };
  const AeFrameFormat fmts[] = { AE_FRAME_GRAY8, AE_FRAME_RGBX,
    AE_FRAME_BGR
  };

  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    for (guint f = 0; f < G_N_ELEMENTS (fmts); f++) {
      int w = sizes[s][0], h = sizes[s][1];
      int max_diff = fmts[f] == AE_FRAME_GRAY8 ? 0 : 1;
      /* automatic tiles (one, for this model), and small ones on the
       * larger frames */
      const int tiles[] = { 0, 64 };
      for (guint ti = 0; ti < (w > 64 ? 2u : 1u); ti++) {
        int tile = tiles[ti];
        g_autoptr (AePlan) p = new_plan (e, m, w, h, tile);
        TFrame in, out, copy;
        tframe_init (&in, fmts[f], w, h, AE_MATRIX_BT709);
        tframe_init (&out, fmts[f], w, h, AE_MATRIX_BT709);
        tframe_init (&copy, fmts[f], w, h, AE_MATRIX_BT709);
        tframe_fill_random (&in, r);
        memcpy (copy.f.data, in.f.data, in.size);

        run_frame (p, &in.f, &out.f);
        g_assert_cmpint (max_byte_diff (&in.f, &out.f), <=, max_diff);
        assert_padding_intact (&out);
        /* the input is left alone */
        g_assert_cmpmem (in.f.data, in.size, copy.f.data, copy.size);

        /* in place */
        run_frame (p, &in.f, &in.f);
        g_assert_cmpint (max_byte_diff (&copy.f, &in.f), <=, max_diff);
        if (max_diff == 0)
          g_assert_cmpmem (in.f.data, in.size, copy.f.data, copy.size);
        assert_padding_intact (&in);
        g_test_message ("%s %dx%d tile %d (%d tiles): ok",
            ae_frame_format_name (fmts[f]), w, h, tile,
            ae_plan_get_n_tiles (p));
        tframe_clear (&in);
        tframe_clear (&out);
        tframe_clear (&copy);
      }
    }
  g_rand_free (r);
}

typedef struct {
  const char *model;
  gboolean tensor;              /* ae_plan_run_tensor, else ae_plan_run */
  int width, height;
} TiledCase;

/* Tiles of 64 with halos give what one whole-frame pass gives: the same
 * bytes on frames, floats within 1e-5 on tensors. */
static void
test_engine_tiled (gconstpointer data)
{
  const TiledCase *tc = data;
  int w = tc->width, h = tc->height;
  g_autoptr (AeModel) m = load_model (tc->model);
  g_autoptr (AeEngine) e = new_engine ();
  GRand *r = g_rand_new_with_seed (5000);
  g_autoptr (GError) error = NULL;

  if (tc->tensor && g_test_slow ()) {
    w = 1921;
    h = 1081;
  }
  g_autoptr (AePlan) whole = new_plan (e, m, w, h, -1);
  g_autoptr (AePlan) tiled = new_plan (e, m, w, h, 64);
  g_assert_cmpint (ae_plan_get_n_tiles (whole), ==, 1);
  g_assert_cmpint (ae_plan_get_n_tiles (tiled), ==, ((w + 63) / 64) *
      ((h + 63) / 64));
  g_test_message ("%s %dx%d, %d tiles, halo %d", tc->model, w, h,
      ae_plan_get_n_tiles (tiled),
      ae_graph_get_halo (ae_model_get_graph (m)));

  if (tc->tensor) {
    gsize n = (gsize) w * h;
    g_autofree float *in = g_new (float, n);
    g_autofree float *a = g_new (float, n);
    g_autofree float *b = g_new (float, n);
    for (gsize i = 0; i < n; i++)
      in[i] = g_rand_double (r);
    g_assert_true (ae_plan_run_tensor (whole, in, a, &error));
    g_assert_no_error (error);
    g_assert_true (ae_plan_run_tensor (tiled, in, b, &error));
    g_assert_no_error (error);
    double err = 0;
    for (gsize i = 0; i < n; i++)
      err = MAX (err, fabs ((double) a[i] - b[i]));
    g_test_message ("tiled vs whole: max abs diff %.3g", err);
    g_assert_cmpfloat (err, <=, 1e-5);
  } else {
    TFrame fin, fa, fb;
    tframe_init (&fin, AE_FRAME_GRAY8, w, h, AE_MATRIX_BT601);
    tframe_init (&fa, AE_FRAME_GRAY8, w, h, AE_MATRIX_BT601);
    tframe_init (&fb, AE_FRAME_GRAY8, w, h, AE_MATRIX_BT601);
    /* a smooth image with noise, mostly away from 0 and 255 */
    for (int y = 0; y < h; y++)
      for (int x = 0; x < w; x++)
        px (&fin.f, x, y)[0] = CLAMP (128 + 60 * sin (x * 0.01) * cos (y *
                0.013) + g_rand_int_range (r, -20, 21), 0, 255);
    run_frame (whole, &fin.f, &fa.f);
    run_frame (tiled, &fin.f, &fb.f);
    gsize n_rows = 0;
    for (int y = 0; y < h; y++)
      n_rows += memcmp (px (&fa.f, 0, y), px (&fb.f, 0, y), w) != 0;
    g_test_message ("tiled vs whole: max byte diff %d, %" G_GSIZE_FORMAT
        " rows differ", max_byte_diff (&fa.f, &fb.f), n_rows);
    g_assert_cmpint (n_rows, ==, 0);
    assert_padding_intact (&fa);
    assert_padding_intact (&fb);
    tframe_clear (&fin);
    tframe_clear (&fa);
    tframe_clear (&fb);
  }
  g_rand_free (r);
}

/* Exactly RGB, RGBA and RGBx start their pixels with R', G', B'. */
static void
test_rgb_bytes (void)
{
  for (int f = 0; f < AE_N_FRAME_FORMATS; f++)
    g_assert_cmpint (ae_frame_format_has_rgb_bytes (f), ==,
        f == AE_FRAME_RGB || f == AE_FRAME_RGBA || f == AE_FRAME_RGBX);
}

/* ------------------------------------------------------------------ */
/* YUV frames (I420, NV12, Y444) with RGB models */

typedef struct {
  AeFrame f;
  guint8 *planes[3];
  int cw, ch;                   /* chroma samples per row, rows */
} YFrame;

static void
yframe_init (YFrame *t, AeFrameFormat fmt, int w, int h, AeMatrix matrix,
    gboolean full)
{
  int sub = fmt == AE_FRAME_Y444 ? 0 : 1;
  memset (t, 0, sizeof (*t));
  t->f = (AeFrame) {.format = fmt,.width = w,.height = h,
    .stride = w + ROW_PAD,.matrix = matrix,.full_range = full
  };
  t->cw = (w + sub) >> sub;
  t->ch = (h + sub) >> sub;
  t->planes[0] = t->f.data = g_malloc (t->f.stride * h);
  int n = fmt == AE_FRAME_NV12 ? 1 : 2;
  for (int c = 0; c < n; c++) {
    t->f.chroma_stride[c] = t->cw * (n == 1 ? 2 : 1) + ROW_PAD;
    t->planes[c + 1] = t->f.chroma[c] = g_malloc (t->f.chroma_stride[c]
        * t->ch);
  }
}

static void
yframe_clear (YFrame *t)
{
  for (int i = 0; i < 3; i++)
    g_free (t->planes[i]);
}

static guint8 *
ycb (const YFrame *t, int cx, int cy, int which)
{
  if (t->f.format == AE_FRAME_NV12)
    return t->f.chroma[0] + cy * t->f.chroma_stride[0] + 2 * cx + which;
  return t->f.chroma[which] + cy * t->f.chroma_stride[which] + cx;
}

static void
yframe_fill_random (YFrame *t, GRand *r)
{
  for (int y = 0; y < t->f.height; y++)
    for (int x = 0; x < t->f.width; x++)
      t->f.data[y * t->f.stride + x] = g_rand_int_range (r, 0, 256);
  for (int y = 0; y < t->ch; y++)
    for (int x = 0; x < t->cw; x++)
      for (int c = 0; c < 2; c++)
        *ycb (t, x, y, c) = g_rand_int_range (r, 0, 256);
}

/* NaN from an RGB model is 0 on YUV frames as on RGB ones: one NaN pixel
 * of a grey 2x2 block makes that pixel black, not the block's chroma 0
 * (saturated green) and its Y' below black. */
static void
test_yuv_nan (void)
{
  YFrame in, out;
  yframe_init (&in, AE_FRAME_I420, 2, 2, AE_MATRIX_BT601, FALSE);
  yframe_init (&out, AE_FRAME_I420, 2, 2, AE_MATRIX_BT601, FALSE);
  float rgb[12];
  for (int i = 0; i < 12; i++)
    rgb[i] = 0.5f;
  rgb[0] = rgb[1] = rgb[2] = NAN;
  ae_frame_write (&out.f, &in.f, AE_COLOR_RGB, 1, 0, 0, 2, 2, rgb, 6);
  g_assert_cmpint (out.f.data[0], ==, 16);
  g_assert_cmpint (out.f.data[1], ==, 126);
  g_assert_cmpint (*ycb (&out, 0, 0, 0), ==, 128);
  g_assert_cmpint (*ycb (&out, 0, 0, 1), ==, 128);
  yframe_clear (&in);
  yframe_clear (&out);
}

/* Chroma plane @c of @t sampled at luma pixel (x, y) with bilinear
 * weights, centres of 4:2:0 samples between the luma pixels. */
static double
ref_chroma (const YFrame *t, int x, int y, int c)
{
  if (t->f.format == AE_FRAME_Y444)
    return *ycb (t, x, y, c);
  double fx = MAX ((x + 0.5) / 2 - 0.5, 0), fy = MAX ((y + 0.5) / 2 - 0.5, 0);
  int x0 = MIN ((int) fx, t->cw - 1), y0 = MIN ((int) fy, t->ch - 1);
  int x1 = MIN (x0 + 1, t->cw - 1), y1 = MIN (y0 + 1, t->ch - 1);
  double ax = fx - x0, ay = fy - y0;
  if (x0 == t->cw - 1)
    ax = 0;
  if (y0 == t->ch - 1)
    ay = 0;
  return (*ycb (t, x0, y0, c) * (1 - ax) + *ycb (t, x1, y0, c) * ax)
      * (1 - ay) + (*ycb (t, x0, y1, c) * (1 - ax) + *ycb (t, x1, y1, c)
      * ax) * ay;
}

/* The textbook Y'CbCr -> R'G'B' of pixel (x, y) with chroma codes @cb and
 * @cr, clamped to 0..1. */
static void
ref_rgb_with (const YFrame *t, int x, int y, double cb, double cr,
    double rgb[3])
{
  double kr = kr_of (t->f.matrix), kb = 1.0 - kr - kg_of (t->f.matrix);
  double ys = t->f.full_range ? 255 : 219, yo = t->f.full_range ? 0 : 16;
  double cs = t->f.full_range ? 255 : 224;
  double yp = (t->f.data[y * t->f.stride + x] - yo) / ys;
  double pb = (cb - 128) / cs;
  double pr = (cr - 128) / cs;
  rgb[0] = yp + 2 * (1 - kr) * pr;
  rgb[2] = yp + 2 * (1 - kb) * pb;
  rgb[1] = (yp - kr * rgb[0] - kb * rgb[2]) / (1 - kr - kb);
  for (int c = 0; c < 3; c++)
    rgb[c] = CLAMP (rgb[c], 0.0, 1.0);
}

/* ... with the chroma upsampled bilinearly */
static void
ref_rgb (const YFrame *t, int x, int y, double rgb[3])
{
  ref_rgb_with (t, x, y, ref_chroma (t, x, y, 0), ref_chroma (t, x, y, 1),
      rgb);
}

typedef struct {
  AeFrameFormat format;
  gboolean full;
  AeMatrix matrix;
} YuvCase;

/* Reading converts to R'G'B' with upsampled chroma, mirroring past the
 * edges; luma models still see Y' bytes / 255; 8-bit rows for measures
 * take each pixel's chroma sample as it is. */
static void
test_yuv_read (gconstpointer data)
{
  const YuvCase *yc = data;
  const int w = 19, h = 11;
  GRand *r = g_rand_new_with_seed (yc->format * 10 + yc->full);
  YFrame t;
  yframe_init (&t, yc->format, w, h, yc->matrix, yc->full);
  yframe_fill_random (&t, r);

  /* a region running 3 pixels past the right and bottom edges */
  const int x0 = 2, y0 = 3, rw = w - x0 + 3, rh = h - y0 + 3;
  g_autofree float *rgb = g_new (float, rw * rh * 3);
  g_autofree float *luma = g_new (float, rw * rh);
  ae_frame_read (&t.f, AE_COLOR_RGB, x0, y0, rw, rh, rgb);
  ae_frame_read (&t.f, AE_COLOR_LUMA, x0, y0, rw, rh, luma);
  double max_err = 0;
  for (int y = 0; y < rh; y++)
    for (int x = 0; x < rw; x++) {
      int sx = ae_mirror (x0 + x, w), sy = ae_mirror (y0 + y, h);
      double want[3];
      ref_rgb (&t, sx, sy, want);
      for (int c = 0; c < 3; c++)
        max_err = MAX (max_err, fabs (rgb[(y * rw + x) * 3 + c] - want[c]));
      g_assert_cmpfloat (luma[y * rw + x], ==,
          t.f.data[sy * t.f.stride + sx] * (1.0f / 255.0f));
    }
  g_assert_cmpfloat (max_err, <, 1e-5);

  /* 8-bit rows with each pixel's own chroma sample, not interpolated */
  int sub = yc->format == AE_FRAME_Y444 ? 0 : 1;
  g_autofree guint8 *row = g_new (guint8, w * 3);
  for (int y = 0; y < h; y++) {
    ae_frame_read_rgb8_nearest (&t.f, y, row);
    for (int x = 0; x < w; x++) {
      double want[3];
      ref_rgb_with (&t, x, y, *ycb (&t, x >> sub, y >> sub, 0),
          *ycb (&t, x >> sub, y >> sub, 1), want);
      for (int c = 0; c < 3; c++)
        g_assert_cmpfloat (fabs (row[x * 3 + c] - want[c] * 255), <=, 0.501);
    }
  }
  yframe_clear (&t);
  g_rand_free (r);
}

/* Writing: Y' per pixel and the mean Cb/Cr of each chroma block, against
 * the textbook formulas; regions that split frames on even coordinates
 * give the same bytes as one whole-frame write; reading back what was
 * written from flat-colour blocks gives the colours again. */
static void
test_yuv_write (gconstpointer data)
{
  const YuvCase *yc = data;
  const int w = 21, h = 13, n = w * h * 3;
  GRand *r = g_rand_new_with_seed (yc->format * 10 + yc->full + 7);
  g_autofree float *src = g_new (float, n);
  for (int i = 0; i < n; i++)
    src[i] = g_rand_double_range (r, -0.1, 1.1);      /* clamped */

  YFrame whole, parts;
  yframe_init (&whole, yc->format, w, h, yc->matrix, yc->full);
  yframe_init (&parts, yc->format, w, h, yc->matrix, yc->full);
  ae_frame_write (&whole.f, &whole.f, AE_COLOR_RGB, 1, 0, 0, w, h, src,
      w * 3);
  for (int y = 0; y < h; y += 6)
    for (int x = 0; x < w; x += 8)
      ae_frame_write (&parts.f, &parts.f, AE_COLOR_RGB, 1, x, y, 8, 6,
          src + (y * w + x) * 3, w * 3);

  double kr = kr_of (yc->matrix), kg = kg_of (yc->matrix), kb = 1 - kr - kg;
  double ys = yc->full ? 255 : 219, yo = yc->full ? 0 : 16;
  double cs = yc->full ? 255 : 224;
  int bx = yc->format == AE_FRAME_Y444 ? 1 : 2;
  for (int cy = 0; cy < whole.ch; cy++)
    for (int cx = 0; cx < whole.cw; cx++) {
      double pb = 0, pr = 0;
      int cnt = 0;
      for (int y = cy * bx; y < MIN (cy * bx + bx, h); y++)
        for (int x = cx * bx; x < MIN (cx * bx + bx, w); x++, cnt++) {
          double c[3];
          for (int k = 0; k < 3; k++)
            c[k] = CLAMP (src[(y * w + x) * 3 + k], 0.0, 1.0);
          double yp = kr * c[0] + kg * c[1] + kb * c[2];
          g_assert_cmpint (abs (whole.f.data[y * whole.f.stride + x] -
                  (int) floor (yo + ys * yp + 0.5)), <=, 1);
          pb += (c[2] - yp) / (2 * (1 - kb));
          pr += (c[0] - yp) / (2 * (1 - kr));
        }
      g_assert_cmpint (abs (*ycb (&whole, cx, cy, 0) -
              (int) floor (128 + cs * pb / cnt + 0.5)), <=, 1);
      g_assert_cmpint (abs (*ycb (&whole, cx, cy, 1) -
              (int) floor (128 + cs * pr / cnt + 0.5)), <=, 1);
    }
  for (int y = 0; y < h; y++)
    g_assert_cmpmem (whole.f.data + y * whole.f.stride, w,
        parts.f.data + y * parts.f.stride, w);
  for (int cy = 0; cy < whole.ch; cy++)
    for (int cx = 0; cx < whole.cw; cx++)
      for (int c = 0; c < 2; c++)
        g_assert_cmpint (*ycb (&whole, cx, cy, c), ==, *ycb (&parts, cx, cy,
                c));

  /* 4:4:4: reading back what was written gives the colours again, up to
   * 8-bit quantisation (a few codes of the limited range) */
  if (bx == 1) {
    for (int i = 0; i < n; i++)
      src[i] = CLAMP (src[i], 0.0f, 1.0f);
    ae_frame_write (&whole.f, &whole.f, AE_COLOR_RGB, 1, 0, 0, w, h, src,
        w * 3);
    g_autofree float *back = g_new (float, n);
    ae_frame_read (&whole.f, AE_COLOR_RGB, 0, 0, w, h, back);
    for (int i = 0; i < n; i++)
      g_assert_cmpfloat (fabs (back[i] - src[i]), <, 4.0 / 255);
  }
  yframe_clear (&whole);
  yframe_clear (&parts);
  g_rand_free (r);
}

/* An RGB model through the engine on YUV frames: tiled == untiled byte
 * for byte (tiles and row bands start on whole chroma blocks), in place ==
 * out of place, and the result equals the model run on the converted
 * tensor and written back. */
static void
test_engine_yuv (gconstpointer data)
{
  const YuvCase *yc = data;
  const int w = 37, h = 23;
  g_autoptr (AeEngine) e = new_engine ();
  g_autoptr (AeModel) m = load_model ("rgb");
  GRand *r = g_rand_new_with_seed (yc->format);
  YFrame in, a, b, c;
  yframe_init (&in, yc->format, w, h, yc->matrix, yc->full);
  yframe_init (&a, yc->format, w, h, yc->matrix, yc->full);
  yframe_init (&b, yc->format, w, h, yc->matrix, yc->full);
  yframe_init (&c, yc->format, w, h, yc->matrix, yc->full);
  yframe_fill_random (&in, r);

  AePlan *whole = new_plan (e, m, w, h, -1);
  AePlan *tiled = new_plan (e, m, w, h, 7);     /* odd: rounded to even */
  g_assert_cmpint (ae_plan_get_n_tiles (tiled), >, 1);
  run_frame (whole, &in.f, &a.f);
  run_frame (tiled, &in.f, &b.f);

  /* reference: read -> tensor -> write */
  g_autofree float *hwc = g_new (float, w * h * 3);
  g_autofree float *chw = g_new (float, w * h * 3);
  g_autofree float *out = g_new (float, w * h * 3);
  ae_frame_read (&in.f, AE_COLOR_RGB, 0, 0, w, h, hwc);
  for (int i = 0; i < w * h; i++)
    for (int k = 0; k < 3; k++)
      chw[k * w * h + i] = hwc[i * 3 + k];
  g_autoptr (GError) error = NULL;
  g_assert_true (ae_plan_run_tensor (whole, chw, out, &error));
  for (int i = 0; i < w * h; i++)
    for (int k = 0; k < 3; k++)
      hwc[i * 3 + k] = out[k * w * h + i];
  ae_frame_write (&c.f, &in.f, AE_COLOR_RGB, 1, 0, 0, w, h, hwc, w * 3);

  YFrame *check[] = { &b, &c };
  for (int i = 0; i < 3; i++) {
    const YFrame *o = i < 2 ? check[i] : &in;
    if (i == 2)                 /* in place, tiled */
      run_frame (tiled, &in.f, &in.f);
    for (int y = 0; y < h; y++)
      g_assert_cmpmem (a.f.data + y * a.f.stride, w,
          o->f.data + y * o->f.stride, w);
    for (int cy = 0; cy < a.ch; cy++)
      for (int cx = 0; cx < a.cw; cx++)
        for (int k = 0; k < 2; k++)
          g_assert_cmpint (*ycb (&a, cx, cy, k), ==, *ycb (o, cx, cy, k));
  }
  ae_plan_free (whole);
  ae_plan_free (tiled);
  yframe_clear (&in);
  yframe_clear (&a);
  yframe_clear (&b);
  yframe_clear (&c);
  g_rand_free (r);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  static FmtCase cases[AE_N_FRAME_FORMATS][2];
  for (int f = 0; f < N_PACKED_FORMATS; f++)
    for (int c = 0; c < 2; c++) {
      cases[f][c] = (FmtCase) { f, c };
      g_autofree char *p1 = g_strdup_printf ("/frame/round-trip/%s/%s",
          ae_frame_format_name (f), ae_color_name (c));
      g_test_add_data_func (p1, &cases[f][c], test_round_trip);
      g_autofree char *p2 = g_strdup_printf ("/frame/regions/%s/%s",
          ae_frame_format_name (f), ae_color_name (c));
      g_test_add_data_func (p2, &cases[f][c], test_regions);
    }
  for (int f = AE_FRAME_RGB; f < N_PACKED_FORMATS; f++) {
    g_autofree char *p = g_strdup_printf ("/frame/superres-chroma/%s",
        ae_frame_format_name (f));
    g_test_add_data_func (p, &cases[f][0], test_superres_chroma);
  }
  g_test_add_func ("/frame/luma-matrix", test_luma_matrix);
  g_test_add_func ("/frame/matrix-nearest", test_matrix_nearest);
  g_test_add_func ("/frame/luma-write", test_luma_write);
  g_test_add_func ("/frame/clamp-round", test_clamp_round);
  g_test_add_func ("/frame/mirror", test_mirror);
  g_test_add_func ("/frame/rgb-bytes", test_rgb_bytes);
  g_test_add_func ("/frame/yuv-nan", test_yuv_nan);
  g_test_add_func ("/engine/identity", test_engine_identity);
  g_test_add_func ("/engine/too-many-pixels", test_engine_too_many_pixels);
  static YuvCase yuv[3][2][AE_N_MATRICES];
  static const AeFrameFormat yuv_formats[] =
      { AE_FRAME_I420, AE_FRAME_NV12, AE_FRAME_Y444 };
  for (int f = 0; f < 3; f++)
    for (int full = 0; full < 2; full++)
      for (int mx = 0; mx < AE_N_MATRICES; mx++) {
        yuv[f][full][mx] = (YuvCase) { yuv_formats[f], full, mx };
        const char *name = ae_frame_format_name (yuv_formats[f]);
        const char *range = full ? "full" : "limited";
        const char *matrix = matrix_names[mx];
        g_autofree char *p1 = g_strdup_printf ("/frame/yuv-read/%s/%s/%s",
            name, range, matrix);
        g_autofree char *p2 = g_strdup_printf ("/frame/yuv-write/%s/%s/%s",
            name, range, matrix);
        g_test_add_data_func (p1, &yuv[f][full][mx], test_yuv_read);
        g_test_add_data_func (p2, &yuv[f][full][mx], test_yuv_write);
        if (full == 0 && mx == 0) {
          g_autofree char *p3 = g_strdup_printf ("/engine/yuv-rgb-model/%s",
              name);
          g_test_add_data_func (p3, &yuv[f][full][mx], test_engine_yuv);
        }
      }
  /* frames at full HD plus one pixel each way; tensors smaller, unless
   * -m slow (each tiled pass at 1921x1081 costs seconds) */
  static const TiledCase tiled[] = {
    {"unet", FALSE, 1921, 1081}, {"dncnn", FALSE, 1921, 1081},
    {"unet", TRUE, 643, 361}, {"dncnn", TRUE, 643, 361},
  };
  for (guint i = 0; i < G_N_ELEMENTS (tiled); i++) {
    g_autofree char *p = g_strdup_printf ("/engine/tiled/%s/%s",
        tiled[i].tensor ? "tensor" : "frame", tiled[i].model);
    g_test_add_data_func (p, &tiled[i], test_engine_tiled);
  }
  return g_test_run ();
}
