#include "ae-anomaly.h"
#include "ae-error.h"
#include "ae-json.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Statistics of features spanning decades (errors, detail, contrast) are
 * taken on ln (v + LOG_EPS): a relative change then weighs the same at any
 * level, and "far below" is as measurable as "far above". */
#define LOG_EPS 1e-12
/* Least scale of a feature, in its statistics' units: a feature that hardly
 * varies on the calibration frames (brightness of a still scene) must not
 * turn a change a viewer would not notice into a huge deviation. For log
 * features 0.05 is a 5% change; brightness 0.01 is 2.5 levels of 255. */
#define MIN_SCALE_LOG 0.05
#define MIN_SCALE_LINEAR 0.01
/* Median absolute deviation -> standard deviation of a normal distribution. */
#define MAD_TO_SIGMA 1.4826

static const char *feature_names[AE_ANOMALY_N_FEATURES] = {
  "mse", "worst", "detail", "brightness", "contrast", "changed", "colour",
};

const char *
ae_anomaly_feature_name (AeAnomalyFeature feature)
{
  return (unsigned) feature < AE_ANOMALY_N_FEATURES ?
      feature_names[feature] : "?";
}

static gboolean
feature_is_log (AeAnomalyFeature k)
{
  return k != AE_ANOMALY_BRIGHTNESS && k != AE_ANOMALY_CHANGED
      && k != AE_ANOMALY_COLOUR;
}

/* Least scale of a cell's brightness: 5 levels of 255, so that sensor
 * noise on a still cell is not a change. */
#define MIN_SCALE_CELL 0.02f
/* Least scale of the changed fraction: 2% of the cells (about 4 of 192),
 * as people walking through a scene change a few cells at any time. */
#define MIN_SCALE_CHANGED 0.02
/* Least scale of the colour feature: 5% of a colour cell (29 of the 576
 * pixels of a cell at 768x576). Edges, compression and the odd passer-by
 * in clothes the training frames never showed give a few cells a tail of
 * unknown colours; at 5% a deviation is what a viewer would notice. */
#define MIN_SCALE_COLOUR 0.05

static double
feature_transform (const AeAnomalyFeatureCalibration *fc, double v)
{
  return fc->log ? log (MAX (v, 0.0) + LOG_EPS) : v;
}

/* ---- measuring ---------------------------------------------------------- */

/* One row of a frame as integers: each pixel's value (the sum of its
 * channels, 1 or 3 of them) and squared reconstruction error (summed over
 * the channels). Integer rows keep the per-pixel work vectorisable; the
 * channel count is divided out once at the end. */
static void
read_row (const guint8 *a, const guint8 *b, int width, int bpp, int *v,
    int *e)
{
  if (bpp == 1) {
    for (int x = 0; x < width; x++) {
      int d = a[x] - b[x];
      v[x] = a[x];
      e[x] = d * d;
    }
    return;
  }
  for (int x = 0; x < width; x++, a += bpp, b += bpp) {
    int d0 = a[0] - b[0], d1 = a[1] - b[1], d2 = a[2] - b[2];
    v[x] = a[0] + a[1] + a[2];
    e[x] = d0 * d0 + d1 * d1 + d2 * d2;
  }
}

/* First pixel of each of @n cells splitting @width evenly: pixel x is in
 * cell x * n / width (floor); @start has n + 1 entries. */
static void
cell_starts (int width, int n, int *start)
{
  for (int c = 0; c <= n; c++)
    start[c] = (int) (((gint64) c * width + n - 1) / n);
}

/* Adds the sums of @row over each cell's pixels to @acc. */
static void
add_cells (const int *row, const int *start, int n, gint64 *acc)
{
  for (int c = 0; c < n; c++) {
    gint64 sum = 0;
    for (int x = start[c]; x < start[c + 1]; x++)
      sum += row[x];
    acc[c] += sum;
  }
}

/* The pixels of cells @x0..@x1 x @y0..@y1 of a @gw x @gh grid over
 * @width x @height; a frame smaller than the grid has empty cells, so at
 * least one pixel is kept. */
static void
cells_box (int width, int height, int gw, int gh, int x0, int y0, int x1,
    int y1, AeAnomalyBox *box)
{
  g_autofree int *xs = g_new (int, gw + 1);
  g_autofree int *ys = g_new (int, gh + 1);

  cell_starts (width, gw, xs);
  cell_starts (height, gh, ys);
  box->x = MIN (xs[x0], width - 1);
  box->y = MIN (ys[y0], height - 1);
  box->width = MAX (1, xs[x1 + 1] - box->x);
  box->height = MAX (1, ys[y1 + 1] - box->y);
}

/* Grows the worst patch over 4-connected patches whose error is at least
 * half of its own; the bounding box of that region, in patches. */
static void
grow_region (const double *err, int pw, int ph, int seed, int *bx0, int *by0,
    int *bx1, int *by1)
{
  double limit = 0.5 * err[seed];
  g_autofree int *stack = g_new (int, pw * ph);
  g_autofree guint8 *seen = g_new0 (guint8, pw * ph);
  int top = 0;

  *bx0 = *bx1 = seed % pw;
  *by0 = *by1 = seed / pw;
  stack[top++] = seed;
  seen[seed] = 1;
  while (top > 0) {
    int i = stack[--top], x = i % pw, y = i / pw;
    *bx0 = MIN (*bx0, x);
    *bx1 = MAX (*bx1, x);
    *by0 = MIN (*by0, y);
    *by1 = MAX (*by1, y);
    int nb[4] = { x > 0 ? i - 1 : -1, x + 1 < pw ? i + 1 : -1,
      y > 0 ? i - pw : -1, y + 1 < ph ? i + pw : -1
    };
    for (int k = 0; k < 4; k++)
      if (nb[k] >= 0 && !seen[nb[k]] && err[nb[k]] >= limit) {
        seen[nb[k]] = 1;
        stack[top++] = nb[k];
      }
  }
}

/* Cell (cx, cy) of a @gw x @gh grid if it has pixels, else the cell of
 * the pixel under its centre. */
static int
nearest_cell (int cx, int cy, int gw, int gh, const int *col_start,
    const int *rows, int width, int height)
{
  if (col_start[cx + 1] > col_start[cx] && rows[cy] > 0)
    return cy * gw + cx;
  int x = (int) (((gint64) 2 * cx + 1) * width / (2 * gw));
  int y = (int) (((gint64) 2 * cy + 1) * height / (2 * gh));
  return (int) ((gint64) y * gh / height) * gw + (int) ((gint64) x * gw /
      width);
}

static int
compare_desc (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x < y) - (x > y);
}

void
ae_anomaly_measure (const guint8 *in, gsize in_stride, const guint8 *recon,
    gsize recon_stride, int width, int height, int bpp, AeAnomalyFeatures *f,
    float *map, int map_w, int map_h)
{
  g_return_if_fail (in != NULL && recon != NULL && f != NULL);
  g_return_if_fail (width > 0 && height > 0);
  g_return_if_fail (bpp == 1 || bpp == 3 || bpp == 4);
  g_return_if_fail (map == NULL || (map_w > 0 && map_h > 0));

  const int pw = (width + AE_ANOMALY_PATCH - 1) / AE_ANOMALY_PATCH;
  const int ph = (height + AE_ANOMALY_PATCH - 1) / AE_ANOMALY_PATCH;
  const int mw = map ? map_w : 1, mh = map ? map_h : 1;
  g_autofree gint64 *patch_acc = g_new0 (gint64, (gsize) pw * ph);
  g_autofree gint64 *map_acc = g_new0 (gint64, (gsize) mw * mh);
  g_autofree int *map_rows = g_new0 (int, mh);
  gint64 grid_acc[AE_ANOMALY_N_CELLS] = { 0 };
  int grid_rows[AE_ANOMALY_GRID_H] = { 0 };
  g_autofree int *patch_start = g_new (int, pw + 1);
  g_autofree int *map_start = g_new (int, mw + 1);
  int grid_start[AE_ANOMALY_GRID_W + 1];
  g_autofree int *v = g_new (int, width);
  g_autofree int *v_prev = g_new (int, width);
  g_autofree int *e = g_new (int, width);
  gint64 sum_e = 0, sum_v = 0, sum_v2 = 0, sum_g = 0, n_g = 0;

  for (int c = 0; c <= pw; c++)
    patch_start[c] = MIN (c * AE_ANOMALY_PATCH, width);
  cell_starts (width, mw, map_start);
  cell_starts (width, AE_ANOMALY_GRID_W, grid_start);

  for (int y = 0; y < height; y++) {
    read_row (in + (gsize) y * in_stride, recon + (gsize) y * recon_stride,
        width, bpp, v, e);
    gint64 row_e = 0, row_v = 0, row_v2 = 0, row_g = 0;
    for (int x = 0; x < width; x++) {
      row_e += e[x];
      row_v += v[x];
      row_v2 += v[x] * v[x];
    }
    /* detail: squared differences with the right and upper neighbours */
    for (int x = 0; x + 1 < width; x++) {
      int d = v[x + 1] - v[x];
      row_g += d * d;
    }
    n_g += width - 1;
    if (y > 0) {
      for (int x = 0; x < width; x++) {
        int d = v[x] - v_prev[x];
        row_g += d * d;
      }
      n_g += width;
    }
    sum_e += row_e;
    sum_v += row_v;
    sum_v2 += row_v2;
    sum_g += row_g;

    add_cells (e, patch_start, pw, patch_acc + (gsize) (y / AE_ANOMALY_PATCH)
        * pw);
    int gy = (int) ((gint64) y * AE_ANOMALY_GRID_H / height);
    add_cells (v, grid_start, AE_ANOMALY_GRID_W,
        grid_acc + gy * AE_ANOMALY_GRID_W);
    grid_rows[gy]++;
    if (map) {
      int my = (int) ((gint64) y * map_h / height);
      add_cells (e, map_start, map_w, map_acc + (gsize) my * map_w);
      map_rows[my]++;
    }
    int *t = v_prev;
    v_prev = v;
    v = t;
  }

  /* channels summed: divide values by c, squares of values by c^2,
   * errors (sums of c squared differences) by c; and scale to 0..1 */
  const double ch = bpp == 1 ? 1.0 : 3.0;
  const double vnorm = 1.0 / (255.0 * ch);
  const double norm = 1.0 / (255.0 * 255.0 * ch);
  g_autofree double *patch = g_new (double, (gsize) pw * ph);
  int n_patches = pw * ph, worst_i = 0;

  /* mean squared error per patch (edge patches may be partial) */
  for (int py = 0; py < ph; py++) {
    int h = MIN (AE_ANOMALY_PATCH, height - py * AE_ANOMALY_PATCH);
    for (int px = 0; px < pw; px++) {
      int w = patch_start[px + 1] - patch_start[px];
      int i = py * pw + px;
      patch[i] = patch_acc[i] * norm / (w * h);
      if (patch[i] > patch[worst_i])
        worst_i = i;
    }
  }

  int bx0, by0, bx1, by1;
  grow_region (patch, pw, ph, worst_i, &bx0, &by0, &bx1, &by1);
  f->box.x = bx0 * AE_ANOMALY_PATCH;
  f->box.y = by0 * AE_ANOMALY_PATCH;
  f->box.width = MIN (width, (bx1 + 1) * AE_ANOMALY_PATCH) - f->box.x;
  f->box.height = MIN (height, (by1 + 1) * AE_ANOMALY_PATCH) - f->box.y;
  f->peak = patch[worst_i];

  int k = MAX (1, n_patches / AE_ANOMALY_WORST_FRACTION);
  qsort (patch, n_patches, sizeof (double), compare_desc);
  double worst = 0;
  for (int i = 0; i < k; i++)
    worst += patch[i];

  const double n = (double) width * height;
  const double mean = sum_v * vnorm / n;
  f->v[AE_ANOMALY_MSE] = sum_e * norm / n;
  f->v[AE_ANOMALY_WORST] = worst / k;
  f->v[AE_ANOMALY_DETAIL] = n_g ? sum_g * vnorm * vnorm / n_g : 0.0;
  f->v[AE_ANOMALY_BRIGHTNESS] = mean;
  f->v[AE_ANOMALY_CONTRAST] = sqrt (MAX (0.0, sum_v2 * vnorm * vnorm / n -
          mean * mean));
  f->v[AE_ANOMALY_CHANGED] = 0.0;
  f->v[AE_ANOMALY_COLOUR] = 0.0;
  f->colour_box = f->box;

  /* a frame smaller than the grid or the map: empty cells take the cell
   * of the pixel under their centre, which has pixels */
  for (int c = 0; c < AE_ANOMALY_N_CELLS; c++) {
    int cx = c % AE_ANOMALY_GRID_W, cy = c / AE_ANOMALY_GRID_W;
    int src = nearest_cell (cx, cy, AE_ANOMALY_GRID_W, AE_ANOMALY_GRID_H,
        grid_start, grid_rows, width, height);
    int cols = grid_start[src % AE_ANOMALY_GRID_W + 1] -
        grid_start[src % AE_ANOMALY_GRID_W];
    f->cells[c] = (float) (grid_acc[src] * vnorm /
        ((double) cols * grid_rows[src / AE_ANOMALY_GRID_W]));
  }
  if (map)
    for (int c = 0; c < map_w * map_h; c++) {
      int src = nearest_cell (c % map_w, c / map_w, map_w, map_h, map_start,
          map_rows, width, height);
      int cols = map_start[src % map_w + 1] - map_start[src % map_w];
      map[c] = (float) (map_acc[src] * norm /
          ((double) cols * map_rows[src / map_w]));
    }
}

/* ---- a model on a frame -------------------------------------------------- */

struct _AeAnomalyScorer {
  guint8 *in, *recon;           /* the 8-bit planes measured */
  gsize in_size, recon_size;
  guint8 *out;                  /* the model's output frame, all planes */
  gsize out_size;
  float *row;                   /* one row of floats from ae_frame_read() */
  gsize row_len;
  AeColours *colours;           /* the scene's, or NULL */
  guint8 *rgb;                  /* the input as 8-bit R'G'B' */
  gsize rgb_size;
};

AeAnomalyScorer *
ae_anomaly_scorer_new (void)
{
  return g_new0 (AeAnomalyScorer, 1);
}

void
ae_anomaly_scorer_free (AeAnomalyScorer *s)
{
  if (!s)
    return;
  g_free (s->in);
  g_free (s->recon);
  g_free (s->out);
  g_free (s->row);
  g_free (s->colours);
  g_free (s->rgb);
  g_free (s);
}

void
ae_anomaly_scorer_set_colours (AeAnomalyScorer *s, const AeColours *colours)
{
  g_return_if_fail (s != NULL);

  g_clear_pointer (&s->colours, g_free);
  if (colours)
    s->colours = g_memdup2 (colours, sizeof *colours);
}

/* Grows *@buf to @size bytes (contents lost). */
static gboolean
ensure (guint8 **buf, gsize *have, gsize size, int w, int h, GError **error)
{
  if (*have >= size)
    return TRUE;
  g_free (*buf);
  *have = 0;
  if (!(*buf = g_try_malloc (size))) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_MEMORY,
        "cannot allocate anomaly scoring buffers for a %dx%d frame", w, h);
    return FALSE;
  }
  *have = size;
  return TRUE;
}

/* @frame's Y' (c = 1) or R'G'B' (c = 3) as 8-bit into @dst, row by row. */
static void
convert (AeAnomalyScorer *s, const AeFrame *frame, AeColor color, int c,
    guint8 *dst)
{
  gsize n = (gsize) frame->width * c;

  if (s->row_len < n) {
    g_free (s->row);
    s->row = g_new (float, n);
    s->row_len = n;
  }
  for (int y = 0; y < frame->height; y++, dst += n) {
    ae_frame_read (frame, color, 0, y, frame->width, 1, s->row);
    for (gsize i = 0; i < n; i++)
      dst[i] = (guint8) (CLAMP (s->row[i], 0.0f, 1.0f) * 255.0f + 0.5f);
  }
}

/* @frame's limited-range Y' plane scaled to 0..255 into @dst (w x h). */
static void
expand_range (const AeFrame *frame, guint8 *dst)
{
  guint8 lut[256];

  for (int i = 0; i < 256; i++)
    lut[i] = (guint8) CLAMP ((i - 16) * 255.0 / 219.0 + 0.5, 0, 255);
  for (int y = 0; y < frame->height; y++) {
    const guint8 *src = frame->data + (gsize) y * frame->stride;
    guint8 *d = dst + (gsize) y * frame->width;
    for (int x = 0; x < frame->width; x++)
      d[x] = lut[src[x]];
  }
}

/* ae_anomaly_measure() on what a model of @color reads of @in and @out. */
static gboolean
measure_pair (AeAnomalyScorer *s, AeColor color, const AeFrame *in,
    const AeFrame *out, AeAnomalyFeatures *f, float *map, int map_w,
    int map_h, GError **error)
{
  int w = in->width, h = in->height;
  int c = color == AE_COLOR_RGB ? 3 : 1;

  /* the Y' plane of GRAY8 and full-range YUV frames is exactly what a
   * luma model reads and writes */
  gboolean yuv = ae_frame_format_is_yuv (in->format);
  if (c == 1 && (in->format == AE_FRAME_GRAY8 || (yuv && in->full_range))) {
    ae_anomaly_measure (in->data, in->stride, out->data, out->stride, w, h,
        1, f, map, map_w, map_h);
    return TRUE;
  }
  gsize size = (gsize) w * h * c;
  if (!ensure (&s->in, &s->in_size, size, w, h, error)
      || !ensure (&s->recon, &s->recon_size, size, w, h, error))
    return FALSE;
  if (c == 1 && yuv) {
    /* limited-range Y' (16..235) measured as full range, so that features
     * and calibration agree whichever format carries the scene */
    expand_range (in, s->in);
    expand_range (out, s->recon);
    ae_anomaly_measure (s->in, w, s->recon, w, w, h, 1, f, map, map_w,
        map_h);
    return TRUE;
  }
  convert (s, in, color, c, s->in);
  convert (s, out, color, c, s->recon);
  ae_anomaly_measure (s->in, (gsize) w * c, s->recon, (gsize) w * c, w, h,
      c, f, map, map_w, map_h);
  return TRUE;
}

/* AE_ANOMALY_COLOUR and its box: the colour grid's cells, the worst one
 * grown as the worst patch is. */
static gboolean
measure_colour (AeAnomalyScorer *s, const AeFrame *in, AeAnomalyFeatures *f,
    GError **error)
{
  int w = in->width, h = in->height;
  const guint8 *rgb = in->data;
  gsize stride = in->stride;
  int bpp = ae_frame_format_bpp (in->format);

  /* R'G'B' bytes first in each pixel are read as they are; any other
   * layout is converted */
  if (!ae_frame_format_has_rgb_bytes (in->format)) {
    if (!ensure (&s->rgb, &s->rgb_size, (gsize) w * h * 3, w, h, error))
      return FALSE;
    if (ae_frame_format_is_yuv (in->format))
      for (int y = 0; y < h; y++)
        ae_frame_read_rgb8_nearest (in, y, s->rgb + (gsize) y * w * 3);
    else
      convert (s, in, AE_COLOR_RGB, 3, s->rgb);
    rgb = s->rgb;
    stride = (gsize) w * 3;
    bpp = 3;
  }

  double rare[AE_COLOURS_N_CELLS];
  int worst = 0;
  ae_colours_rare_cells (s->colours, rgb, stride, w, h, bpp, rare);
  for (int c = 0; c < AE_COLOURS_N_CELLS; c++)
    if (rare[c] > rare[worst])
      worst = c;
  f->v[AE_ANOMALY_COLOUR] = rare[worst];
  int x0, y0, x1, y1;
  grow_region (rare, AE_COLOURS_GRID_W, AE_COLOURS_GRID_H, worst, &x0, &y0,
      &x1, &y1);
  cells_box (w, h, AE_COLOURS_GRID_W, AE_COLOURS_GRID_H, x0, y0, x1, y1,
      &f->colour_box);
  return TRUE;
}

gboolean
ae_anomaly_scorer_measure_output (AeAnomalyScorer *s, AeColor color,
    const AeFrame *in, const AeFrame *out, const AeFrame *in_rgb,
    AeAnomalyFeatures *f, float *map, int map_w, int map_h, GError **error)
{
  g_return_val_if_fail (s != NULL && in != NULL && out != NULL, FALSE);
  g_return_val_if_fail (f != NULL, FALSE);
  g_return_val_if_fail (in->format == out->format, FALSE);
  g_return_val_if_fail (in->width == out->width
      && in->height == out->height, FALSE);
  g_return_val_if_fail (in_rgb == NULL
      || (ae_frame_format_has_rgb_bytes (in_rgb->format)
          && in_rgb->width == in->width && in_rgb->height == in->height),
      FALSE);

  if (!measure_pair (s, color, in, out, f, map, map_w, map_h, error))
    return FALSE;
  return !s->colours || in->format == AE_FRAME_GRAY8
      || measure_colour (s, in_rgb ? in_rgb : in, f, error);
}

gboolean
ae_anomaly_scorer_measure (AeAnomalyScorer *s, AePlan *plan,
    const AeFrame *frame, AeAnomalyFeatures *f, float *map, int map_w,
    int map_h, GError **error)
{
  g_return_val_if_fail (s != NULL && plan != NULL && frame != NULL, FALSE);

  int w = frame->width, h = frame->height, rows;
  gsize row_bytes;
  int n_chroma = ae_frame_chroma_planes (frame->format, w, h, &rows,
      &row_bytes);
  gsize stride = (gsize) w * ae_frame_format_bpp (frame->format);
  gsize size = stride * h;
  size += (gsize) n_chroma * rows * row_bytes;
  if (!ensure (&s->out, &s->out_size, size, w, h, error))
    return FALSE;

  AeFrame out = *frame;
  out.data = s->out;
  out.stride = stride;
  guint8 *p = s->out + stride * h;
  for (int i = 0; i < n_chroma; i++) {
    out.chroma[i] = p;
    out.chroma_stride[i] = row_bytes;
    p += (gsize) rows * row_bytes;
  }
  if (!ae_plan_run (plan, frame, &out, error))
    return FALSE;
  AeColor color = ae_graph_get_color (ae_model_get_graph (
          ae_plan_get_model (plan)));
  return ae_anomaly_scorer_measure_output (s, color, frame, &out, NULL, f,
      map, map_w, map_h, error);
}

/* ---- calibration and scoring -------------------------------------------- */

static double
median (double *v, int n)
{
  qsort (v, n, sizeof (double), compare_desc);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The changed fraction; *@darker: most changed cells got darker. */
static double
changed_cells (const AeAnomalyCalibration *cal, const AeAnomalyFeatures *f,
    gboolean *darker)
{
  int changed = 0, dark = 0;

  if (cal->has_cells)
    for (int c = 0; c < AE_ANOMALY_N_CELLS; c++) {
      float d = f->cells[c] - cal->cell_center[c];
      if (fabsf (d) > AE_ANOMALY_CELL_DEVIATION * cal->cell_scale[c]) {
        changed++;
        dark += d < 0;
      }
    }
  if (darker)
    *darker = 2 * dark > changed;
  return (double) changed / AE_ANOMALY_N_CELLS;
}

/* Feature @k's deviation for @f (>= 0; G_MAXDOUBLE if not finite);
 * *@below: it lies below normal (for changed: most changed cells got
 * darker). */
static double
deviation (const AeAnomalyCalibration *cal, int k, const AeAnomalyFeatures *f,
    gboolean *below)
{
  const AeAnomalyFeatureCalibration *fc = &cal->feature[k];
  gboolean darker = FALSE;
  double v = k == AE_ANOMALY_CHANGED ?
      changed_cells (cal, f, &darker) : f->v[k];
  double z = (feature_transform (fc, v) - fc->center) / fc->scale;
  double d = fc->side == AE_ANOMALY_SIDE_BOTH ? fabs (z) : MAX (z, 0.0);
  *below = k == AE_ANOMALY_CHANGED ? darker : z < 0;
  return isfinite (d) ? d : G_MAXDOUBLE;
}

gboolean
ae_anomaly_calibrate (const AeAnomalyFeatures *normal, int n,
    const AeColours *colours, AeAnomalyCalibration *cal, GError **error)
{
  g_return_val_if_fail (normal != NULL || n <= 0, FALSE);
  g_return_val_if_fail (cal != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (n < 2) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_FAILED,
        "anomaly calibration needs at least 2 normal frames, got %d", n);
    return FALSE;
  }
  for (int i = 0; i < n; i++)
    for (int k = 0; k < AE_ANOMALY_N_FEATURES; k++)
      if (!isfinite (normal[i].v[k]) || normal[i].v[k] < 0) {
        g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_FAILED,
            "anomaly calibration: frame %d has %s = %g (must be finite and "
            ">= 0)", i, ae_anomaly_feature_name (k), normal[i].v[k]);
        return FALSE;
      }
  for (int i = 0; i < n; i++)
    for (int c = 0; c < AE_ANOMALY_N_CELLS; c++)
      if (!isfinite (normal[i].cells[c]) || normal[i].cells[c] < 0) {
        g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_FAILED,
            "anomaly calibration: frame %d has cell %d = %g (must be finite "
            "and >= 0)", i, c, normal[i].cells[c]);
        return FALSE;
      }

  memset (cal, 0, sizeof *cal);
  g_autofree double *t = g_new (double, n);
  for (int c = 0; c < AE_ANOMALY_N_CELLS; c++) {
    for (int i = 0; i < n; i++)
      t[i] = normal[i].cells[c];
    double center = median (t, n);
    for (int i = 0; i < n; i++)
      t[i] = fabs (t[i] - center);
    cal->cell_center[c] = (float) center;
    cal->cell_scale[c] = MAX ((float) (MAD_TO_SIGMA * median (t, n)),
        MIN_SCALE_CELL);
  }
  cal->has_cells = TRUE;
  if (colours) {
    cal->has_colours = TRUE;
    cal->colours = *colours;
  }

  for (int k = 0; k < AE_ANOMALY_N_FEATURES; k++) {
    AeAnomalyFeatureCalibration *fc = &cal->feature[k];
    if (k == AE_ANOMALY_COLOUR && !colours)
      continue;
    fc->side = k == AE_ANOMALY_WORST || k == AE_ANOMALY_CHANGED
        || k == AE_ANOMALY_COLOUR ? AE_ANOMALY_SIDE_HIGH : AE_ANOMALY_SIDE_BOTH;
    fc->log = feature_is_log (k);
    for (int i = 0; i < n; i++)
      t[i] = feature_transform (fc, k == AE_ANOMALY_CHANGED ?
          ae_anomaly_changed_fraction (cal, &normal[i]) : normal[i].v[k]);
    fc->center = median (t, n);
    for (int i = 0; i < n; i++)
      t[i] = fabs (t[i] - fc->center);
    fc->scale = MAX (MAD_TO_SIGMA * median (t, n),
        fc->log ? MIN_SCALE_LOG : k == AE_ANOMALY_CHANGED ?
        MIN_SCALE_CHANGED : k == AE_ANOMALY_COLOUR ?
        MIN_SCALE_COLOUR : MIN_SCALE_LINEAR);
  }

  double sum = 0, sum2 = 0, top = 0;
  for (int i = 0; i < n; i++) {
    double e = normal[i].v[AE_ANOMALY_MSE];
    sum += e;
    sum2 += e * e;
  }
  cal->mse_mean = sum / n;
  cal->mse_std = sqrt (MAX (0.0, sum2 / n - cal->mse_mean * cal->mse_mean));
  cal->n_frames = n;
  /* A feature whose own normal frames come within the margin of the lowest
   * threshold gets its scale widened until they stay the margin below it: a feature with
   * a heavy tail (colour, with the odd passer-by in clothes the scene never
   * showed) is then less sensitive itself, instead of raising the one
   * threshold that every feature is compared with. */
  const double limit = AE_ANOMALY_MIN_THRESHOLD / AE_ANOMALY_THRESHOLD_MARGIN;
  for (int k = 0; k < AE_ANOMALY_N_FEATURES; k++) {
    if (cal->feature[k].side == AE_ANOMALY_SIDE_NONE)
      continue;
    double worst = 0;
    gboolean b;
    for (int i = 0; i < n; i++)
      worst = MAX (worst, deviation (cal, k, &normal[i], &b));
    if (worst > limit)
      cal->feature[k].scale *= worst / limit;
  }
  cal->threshold = G_MAXDOUBLE;
  for (int i = 0; i < n; i++)
    top = MAX (top, ae_anomaly_score (cal, &normal[i], NULL, NULL));
  cal->threshold = MAX (AE_ANOMALY_MIN_THRESHOLD,
      AE_ANOMALY_THRESHOLD_MARGIN * top);
  return TRUE;
}

double
ae_anomaly_changed_fraction (const AeAnomalyCalibration *cal,
    const AeAnomalyFeatures *f)
{
  return changed_cells (cal, f, NULL);
}

void
ae_anomaly_region (const AeAnomalyCalibration *cal,
    const AeAnomalyFeatures *f, AeAnomalyFeature dominant, int width,
    int height, AeAnomalyBox *box)
{
  int x0 = AE_ANOMALY_GRID_W, y0 = AE_ANOMALY_GRID_H, x1 = -1, y1 = -1;

  switch (dominant) {
    case AE_ANOMALY_DETAIL:
    case AE_ANOMALY_BRIGHTNESS:
    case AE_ANOMALY_CONTRAST:
      *box = (AeAnomalyBox) {
      0, 0, width, height};
      return;
    case AE_ANOMALY_CHANGED:
      if (cal->has_cells)
        for (int c = 0; c < AE_ANOMALY_N_CELLS; c++)
          if (fabsf (f->cells[c] - cal->cell_center[c]) >
              AE_ANOMALY_CELL_DEVIATION * cal->cell_scale[c]) {
            int cx = c % AE_ANOMALY_GRID_W, cy = c / AE_ANOMALY_GRID_W;
            x0 = MIN (x0, cx);
            x1 = MAX (x1, cx);
            y0 = MIN (y0, cy);
            y1 = MAX (y1, cy);
          }
      if (x1 >= 0) {
        cells_box (width, height, AE_ANOMALY_GRID_W, AE_ANOMALY_GRID_H, x0,
            y0, x1, y1, box);
        return;
      }
      break;
    case AE_ANOMALY_COLOUR:
      *box = f->colour_box;
      return;
    default:
      break;
  }
  *box = f->box;
}

void
ae_anomaly_calibration_init_legacy (AeAnomalyCalibration *cal,
    double mse_mean, double mse_std, double threshold)
{
  memset (cal, 0, sizeof *cal);
  AeAnomalyFeatureCalibration *fc = &cal->feature[AE_ANOMALY_MSE];
  fc->side = AE_ANOMALY_SIDE_HIGH;
  fc->log = FALSE;
  fc->center = mse_mean;
  fc->scale = MAX (mse_std, 1e-12);
  cal->threshold = threshold;
  cal->mse_mean = mse_mean;
  cal->mse_std = mse_std;
}

double
ae_anomaly_score (const AeAnomalyCalibration *cal, const AeAnomalyFeatures *f,
    AeAnomalyFeature *dominant, gboolean *below)
{
  double best = 0;
  int best_k = AE_ANOMALY_MSE;
  gboolean best_below = FALSE;

  g_return_val_if_fail (cal != NULL && f != NULL, 0.0);

  for (int k = 0; k < AE_ANOMALY_N_FEATURES; k++) {
    if (cal->feature[k].side == AE_ANOMALY_SIDE_NONE)
      continue;
    gboolean b;
    double d = deviation (cal, k, f, &b);
    if (d > best) {
      best = d;
      best_k = k;
      best_below = b;
    }
  }
  if (dominant)
    *dominant = best_k;
  if (below)
    *below = best_below;
  return best;
}

/* ---- JSON --------------------------------------------------------------- */

char *
ae_anomaly_calibration_to_json (const AeAnomalyCalibration *cal)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "mean");
  json_builder_add_double_value (b, cal->mse_mean);
  json_builder_set_member_name (b, "std");
  json_builder_add_double_value (b, cal->mse_std);
  json_builder_set_member_name (b, "threshold");
  json_builder_add_double_value (b, cal->threshold);
  if (cal->n_frames > 0) {
    json_builder_set_member_name (b, "frames");
    json_builder_add_int_value (b, cal->n_frames);
  }
  if (cal->has_cells) {
    json_builder_set_member_name (b, "cells");
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "width");
    json_builder_add_int_value (b, AE_ANOMALY_GRID_W);
    json_builder_set_member_name (b, "height");
    json_builder_add_int_value (b, AE_ANOMALY_GRID_H);
    for (int a = 0; a < 2; a++) {
      const float *v = a ? cal->cell_scale : cal->cell_center;
      json_builder_set_member_name (b, a ? "scale" : "center");
      json_builder_begin_array (b);
      for (int c = 0; c < AE_ANOMALY_N_CELLS; c++)
        json_builder_add_double_value (b, v[c]);
      json_builder_end_array (b);
    }
    json_builder_end_object (b);
  }
  if (cal->has_colours) {
    g_autofree char *hex = ae_colours_to_hex (&cal->colours);
    json_builder_set_member_name (b, "colours");
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "y_bins");
    json_builder_add_int_value (b, AE_COLOURS_Y_BINS);
    json_builder_set_member_name (b, "c_bins");
    json_builder_add_int_value (b, AE_COLOURS_C_BINS);
    json_builder_set_member_name (b, "seen");
    json_builder_add_string_value (b, hex);
    json_builder_end_object (b);
  }
  json_builder_set_member_name (b, "features");
  json_builder_begin_object (b);
  for (int k = 0; k < AE_ANOMALY_N_FEATURES; k++) {
    const AeAnomalyFeatureCalibration *fc = &cal->feature[k];
    if (fc->side == AE_ANOMALY_SIDE_NONE)
      continue;
    json_builder_set_member_name (b, feature_names[k]);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "side");
    json_builder_add_string_value (b,
        fc->side == AE_ANOMALY_SIDE_HIGH ? "high" : "both");
    json_builder_set_member_name (b, "log");
    json_builder_add_boolean_value (b, fc->log);
    json_builder_set_member_name (b, "center");
    json_builder_add_double_value (b, fc->center);
    json_builder_set_member_name (b, "scale");
    json_builder_add_double_value (b, fc->scale);
    json_builder_end_object (b);
  }
  json_builder_end_object (b);
  json_builder_end_object (b);

  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return ae_json_to_string (root, FALSE);
}

static gboolean
get_number (JsonObject *o, const char *key, const char *where, double *out,
    GError **error)
{
  JsonNode *n = json_object_get_member (o, key);
  if (!n || !JSON_NODE_HOLDS_VALUE (n)
      || (json_node_get_value_type (n) != G_TYPE_DOUBLE
          && json_node_get_value_type (n) != G_TYPE_INT64)
      || !isfinite (*out = json_node_get_double (n))) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
        "anomaly calibration needs a finite number '%s%s'", where, key);
    return FALSE;
  }
  return TRUE;
}

static gboolean
parse_feature (JsonNode *node, const char *name, AeAnomalyFeatureCalibration *fc,
    GError **error)
{
  g_autofree char *where = g_strdup_printf ("features.%s.", name);
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
        "anomaly calibration: 'features.%s' must be an object", name);
    return FALSE;
  }
  JsonObject *o = json_node_get_object (node);
  JsonNode *side = json_object_get_member (o, "side");
  const char *s = side && JSON_NODE_HOLDS_VALUE (side)
      && json_node_get_value_type (side) == G_TYPE_STRING ?
      json_node_get_string (side) : NULL;
  if (!s || !(g_str_equal (s, "high") || g_str_equal (s, "both"))) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
        "anomaly calibration: '%sside' must be \"high\" or \"both\"", where);
    return FALSE;
  }
  fc->side = g_str_equal (s, "high") ? AE_ANOMALY_SIDE_HIGH :
      AE_ANOMALY_SIDE_BOTH;
  JsonNode *lg = json_object_get_member (o, "log");
  if (lg && (!JSON_NODE_HOLDS_VALUE (lg)
          || json_node_get_value_type (lg) != G_TYPE_BOOLEAN)) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
        "anomaly calibration: '%slog' must be true or false", where);
    return FALSE;
  }
  fc->log = lg ? json_node_get_boolean (lg) : FALSE;
  if (!get_number (o, "center", where, &fc->center, error)
      || !get_number (o, "scale", where, &fc->scale, error))
    return FALSE;
  if (!(fc->scale > 0)) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
        "anomaly calibration: '%sscale' is %g, must be > 0", where, fc->scale);
    return FALSE;
  }
  return TRUE;
}

/* @node is an object whose integer members @k1 and @k2 are @v1 and @v2
 * (the layout a model's tables were written for); the object, else NULL. */
static JsonObject *
object_with_layout (JsonNode *node, const char *k1, int v1, const char *k2,
    int v2)
{
  JsonObject *o = node && JSON_NODE_HOLDS_OBJECT (node) ?
      json_node_get_object (node) : NULL;
  const char *keys[2] = { k1, k2 };
  const int values[2] = { v1, v2 };

  for (int i = 0; o && i < 2; i++) {
    JsonNode *n = json_object_get_member (o, keys[i]);
    if (!n || !JSON_NODE_HOLDS_VALUE (n)
        || json_node_get_value_type (n) != G_TYPE_INT64
        || json_node_get_int (n) != values[i])
      return NULL;
  }
  return o;
}

static gboolean
parse_cells (JsonNode *node, AeAnomalyCalibration *cal, GError **error)
{
  JsonObject *o = object_with_layout (node, "width", AE_ANOMALY_GRID_W,
      "height", AE_ANOMALY_GRID_H);

  if (!o) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
        "anomaly calibration: 'cells' must be an object with width %d and "
        "height %d", AE_ANOMALY_GRID_W, AE_ANOMALY_GRID_H);
    return FALSE;
  }
  for (int a = 0; a < 2; a++) {
    const char *key = a ? "scale" : "center";
    float *out = a ? cal->cell_scale : cal->cell_center;
    JsonNode *arr = json_object_get_member (o, key);
    JsonArray *ja = arr && JSON_NODE_HOLDS_ARRAY (arr) ?
        json_node_get_array (arr) : NULL;
    if (!ja || json_array_get_length (ja) != AE_ANOMALY_N_CELLS) {
      g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
          "anomaly calibration: 'cells.%s' must be an array of %d numbers",
          key, AE_ANOMALY_N_CELLS);
      return FALSE;
    }
    for (int c = 0; c < AE_ANOMALY_N_CELLS; c++) {
      JsonNode *e = json_array_get_element (ja, c);
      double v = NAN;
      if (JSON_NODE_HOLDS_VALUE (e)
          && (json_node_get_value_type (e) == G_TYPE_DOUBLE
              || json_node_get_value_type (e) == G_TYPE_INT64))
        v = json_node_get_double (e);
      if (!isfinite (v) || v < 0 || v > 1e6 || (a && !(v > 0))) {
        g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
            "anomaly calibration: 'cells.%s' element %d must be a finite "
            "number %s", key, c, a ? "> 0" : ">= 0");
        return FALSE;
      }
      out[c] = (float) v;
    }
  }
  cal->has_cells = TRUE;
  return TRUE;
}

static gboolean
parse_colours (JsonNode *node, AeAnomalyCalibration *cal, GError **error)
{
  JsonObject *o = object_with_layout (node, "y_bins", AE_COLOURS_Y_BINS,
      "c_bins", AE_COLOURS_C_BINS);

  if (!o) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
        "anomaly calibration: 'colours' must be an object with y_bins %d "
        "and c_bins %d", AE_COLOURS_Y_BINS, AE_COLOURS_C_BINS);
    return FALSE;
  }
  JsonNode *seen = json_object_get_member (o, "seen");
  if (!seen || !JSON_NODE_HOLDS_VALUE (seen)
      || json_node_get_value_type (seen) != G_TYPE_STRING
      || !ae_colours_from_hex (json_node_get_string (seen), &cal->colours)) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
        "anomaly calibration: 'colours.seen' must be a string of %d hex "
        "digits", AE_COLOURS_N_BINS / 4);
    return FALSE;
  }
  cal->has_colours = TRUE;
  return TRUE;
}

gboolean
ae_anomaly_calibration_from_json (const char *json, AeAnomalyCalibration *cal,
    GError **error)
{
  double mean, std, threshold;

  g_return_val_if_fail (json != NULL && cal != NULL, FALSE);

  g_autoptr (JsonParser) parser = ae_json_parse_object (json, -1, NULL,
      "'anomaly'", error);
  if (!parser)
    return FALSE;
  JsonObject *o = json_node_get_object (json_parser_get_root (parser));
  if (!get_number (o, "mean", "", &mean, error)
      || !get_number (o, "std", "", &std, error)
      || !get_number (o, "threshold", "", &threshold, error))
    return FALSE;
  if (std < 0) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
        "anomaly calibration: std %g is out of range (must be >= 0)", std);
    return FALSE;
  }
  if (!(threshold > 0)) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
        "anomaly calibration: threshold %g is out of range (must be > 0)",
        threshold);
    return FALSE;
  }
  ae_anomaly_calibration_init_legacy (cal, mean, std, threshold);

  JsonNode *frames = json_object_get_member (o, "frames");
  if (frames) {
    if (!JSON_NODE_HOLDS_VALUE (frames)
        || json_node_get_value_type (frames) != G_TYPE_INT64
        || json_node_get_int (frames) < 0 || json_node_get_int (frames) > G_MAXINT) {
      g_set_error_literal (error, AE_COMPUTE_ERROR,
          AE_COMPUTE_ERROR_INVALID_MODEL,
          "anomaly calibration: 'frames' must be an integer >= 0");
      return FALSE;
    }
    cal->n_frames = (int) json_node_get_int (frames);
  }

  JsonNode *cells = json_object_get_member (o, "cells");
  if (cells && !parse_cells (cells, cal, error))
    return FALSE;
  JsonNode *colours = json_object_get_member (o, "colours");
  if (colours && !parse_colours (colours, cal, error))
    return FALSE;

  JsonNode *feats = json_object_get_member (o, "features");
  if (!feats)
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (feats)
      || json_object_get_size (json_node_get_object (feats)) == 0) {
    g_set_error_literal (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
        "anomaly calibration: 'features' must be an object naming at least "
        "one feature");
    return FALSE;
  }
  /* the features present replace the legacy MSE-only setup */
  cal->feature[AE_ANOMALY_MSE].side = AE_ANOMALY_SIDE_NONE;
  JsonObjectIter it;
  const char *name;
  JsonNode *node;
  json_object_iter_init (&it, json_node_get_object (feats));
  while (json_object_iter_next (&it, &name, &node)) {
    int k = 0;
    while (k < AE_ANOMALY_N_FEATURES && !g_str_equal (name, feature_names[k]))
      k++;
    if (k == AE_ANOMALY_N_FEATURES) {
      g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
          "anomaly calibration: unknown feature '%s' (mse, worst, detail, "
          "brightness, contrast, changed, colour)", name);
      return FALSE;
    }
    if (!parse_feature (node, name, &cal->feature[k], error))
      return FALSE;
  }
  if (cal->feature[AE_ANOMALY_CHANGED].side != AE_ANOMALY_SIDE_NONE
      && !cal->has_cells) {
    g_set_error_literal (error, AE_COMPUTE_ERROR,
        AE_COMPUTE_ERROR_INVALID_MODEL, "anomaly calibration: feature "
        "'changed' needs the per-cell statistics 'cells'");
    return FALSE;
  }
  if (cal->feature[AE_ANOMALY_COLOUR].side != AE_ANOMALY_SIDE_NONE
      && !cal->has_colours) {
    g_set_error_literal (error, AE_COMPUTE_ERROR,
        AE_COMPUTE_ERROR_INVALID_MODEL, "anomaly calibration: feature "
        "'colour' needs the scene's colours 'colours'");
    return FALSE;
  }
  return TRUE;
}
