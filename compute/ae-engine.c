#include "ae-engine.h"
#include "ae-backend-private.h"
#include "ae-error.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Automatic CPU tiles keep the live activations of one tile under this. */
#define AUTO_TILE_BYTES (512u << 20)

struct _AeEngine {
  const AeBackend *backend;
  AeParallel *pool;
  char *backend_name;
};

struct _AePlan {
  AeEngine *engine;
  AeModel *model;
  const AeGraph *graph;
  AeBackendPlan *bp;
  int width, height;            /* input frame */
  int pad_w, pad_h;             /* rounded up to the stride */
  int scale, channels, halo, tile;
  int nx, ny;
  guint8 *copy;                 /* for in-place runs */
  gsize copy_size;
  double *profile;              /* per node, allocated when enabled */
};

AeEngine *
ae_engine_new (const AeEngineParams *params, GError **error)
{
  static const AeEngineParams defaults = { 0 };
  const char *device;

  if (!params)
    params = &defaults;
  device = params->device;
  if (!device || g_str_equal (device, "auto")) {
    const char *env = g_getenv ("AE_DEVICE");
    device = env && *env ? env : "auto";
  }
  if (!g_str_equal (device, "auto") && !g_str_equal (device, "cpu")) {
    if (g_str_equal (device, "vulkan") || g_str_has_prefix (device, "vulkan:"))
      g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_DEVICE,
          "device '%s': this build has no Vulkan backend; use 'cpu' or "
          "'auto'", device);
    else
      g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_FAILED,
          "unknown device '%s' (auto, cpu, vulkan, vulkan:N)", device);
    return NULL;
  }
  /* Our pool splits the work; OpenBLAS must not start threads of its own
   * inside each of our calls (two spinning pools run slower than one). */
  openblas_set_num_threads (1);

  AeEngine *e = g_new0 (AeEngine, 1);
  e->backend = &ae_cpu_backend;
  e->pool = ae_parallel_new (params->threads);
  e->backend_name = g_strdup ("cpu");
  return e;
}

void
ae_engine_free (AeEngine *e)
{
  if (!e)
    return;
  ae_parallel_free (e->pool);
  g_free (e->backend_name);
  g_free (e);
}

const char *
ae_engine_get_backend_name (const AeEngine *e)
{
  return e->backend_name;
}

int
ae_engine_get_n_threads (const AeEngine *e)
{
  return ae_parallel_get_n_threads (e->pool);
}

static int
round_up (int v, int m)
{
  return (v + m - 1) / m * m;
}

/* Largest square tile whose live activations fit AUTO_TILE_BYTES, estimated
 * as three buffers of the widest node. */
static int
auto_tile (const AeGraph *g, int stride, int halo)
{
  g_autofree AeShape *s = g_new0 (AeShape, ae_graph_get_n_nodes (g));
  int probe = round_up (64, stride);
  double widest = 0;

  if (!ae_graph_infer_shapes (g, probe, probe, s, NULL))
    return 512;
  for (int i = 0; i < ae_graph_get_n_nodes (g); i++)
    widest = MAX (widest, (double) s[i].c * s[i].h * s[i].w);
  double bytes_per_px = 3.0 * 4.0 * widest / ((double) probe * probe);
  int side = (int) sqrt (AUTO_TILE_BYTES / bytes_per_px) - 2 * halo;
  return MAX (round_up (MAX (side, 64), stride), stride);
}

AePlan *
ae_plan_new (AeEngine *e, AeModel *m, const AePlanParams *params,
    GError **error)
{
  const AeGraph *g = ae_model_get_graph (m);
  int stride = ae_graph_get_stride (g);

  g_return_val_if_fail (e && m && params, NULL);
  if (params->width < 1 || params->height < 1 || params->width > 32768
      || params->height > 32768) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_UNSUPPORTED,
        "frame size %dx%d is out of range (1x1 to 32768x32768)",
        params->width, params->height);
    return NULL;
  }
  g_autoptr (AePlan) p = g_new0 (AePlan, 1);
  p->engine = e;
  p->model = ae_model_ref (m);
  p->graph = g;
  p->width = params->width;
  p->height = params->height;
  p->pad_w = round_up (p->width, stride);
  p->pad_h = round_up (p->height, stride);
  p->scale = ae_graph_get_scale (g);
  p->channels = ae_graph_get_channels (g);
  p->halo = ae_graph_get_halo (g);

  if (params->tile_size < 0)
    p->tile = MAX (p->pad_w, p->pad_h);
  else if (params->tile_size == 0)
    p->tile = auto_tile (g, stride, p->halo);
  else
    p->tile = round_up (params->tile_size, stride);
  /* even, so tiles start on whole chroma blocks of 4:2:0 frames */
  if (p->tile % 2)
    p->tile += stride;
  p->tile = MIN (p->tile, MAX (p->pad_w, p->pad_h));
  p->nx = (p->pad_w + p->tile - 1) / p->tile;
  p->ny = (p->pad_h + p->tile - 1) / p->tile;

  int max_w = MIN (p->tile + (p->nx > 1 ? 2 * p->halo : 0), p->pad_w);
  int max_h = MIN (p->tile + (p->ny > 1 ? 2 * p->halo : 0), p->pad_h);
  p->bp = e->backend->plan_new (m, e->pool, max_w, max_h, error);
  if (!p->bp)
    return NULL;
  return g_steal_pointer (&p);
}

void
ae_plan_free (AePlan *p)
{
  if (!p)
    return;
  if (p->bp)
    p->engine->backend->plan_free (p->bp);
  ae_model_unref (p->model);
  g_free (p->copy);
  g_free (p->profile);
  g_free (p);
}

void
ae_plan_set_profiling (AePlan *p, gboolean enabled)
{
  const AeBackend *be = p->engine->backend;
  if (enabled && !p->profile)
    p->profile = g_new0 (double, ae_graph_get_n_nodes (p->graph));
  if (be->set_profile)
    be->set_profile (p->bp, enabled ? p->profile : NULL);
}

const double *
ae_plan_get_profile (const AePlan *p)
{
  return p->profile;
}

void
ae_plan_reset_profile (AePlan *p)
{
  if (p->profile)
    memset (p->profile, 0, sizeof (double) * ae_graph_get_n_nodes (p->graph));
}

int
ae_plan_get_tile_size (const AePlan *p)
{
  return p->tile;
}

int
ae_plan_get_n_tiles (const AePlan *p)
{
  return p->nx * p->ny;
}

AeModel *
ae_plan_get_model (const AePlan *p)
{
  return p->model;
}

/* Where tiles read from and write to: a frame or a CHW tensor. */
typedef struct {
  const AeFrame *in;
  AeFrame *out;
  const float *tin;
  float *tout;
} Io;

static void
read_tensor (const AePlan *p, const float *t, int x0, int y0, int w, int h,
    float *dst)
{
  const int C = p->channels;
  for (int y = 0; y < h; y++) {
    int sy = ae_mirror (y0 + y, p->height);
    for (int x = 0; x < w; x++) {
      int sx = ae_mirror (x0 + x, p->width);
      for (int c = 0; c < C; c++)
        dst[((gsize) y * w + x) * C + c] =
            t[((gsize) c * p->height + sy) * p->width + sx];
    }
  }
}

static void
write_tensor (const AePlan *p, float *t, int x0, int y0, int w, int h,
    const float *src, gsize pitch)
{
  const int C = p->channels;
  const int ow = p->width * p->scale, oh = p->height * p->scale;
  for (int y = y0; y < MIN (y0 + h, oh); y++)
    for (int x = x0; x < MIN (x0 + w, ow); x++)
      for (int c = 0; c < C; c++)
        t[((gsize) c * oh + y) * ow + x] =
            src[(gsize) (y - y0) * pitch + (x - x0) * C + c];
}

/* One tile's conversion between frame (or tensor) and floats, split into
 * row bands across the pool: single-threaded, it would cost a fast model a
 * noticeable share of its frame time. */
typedef struct {
  const AePlan *p;
  const Io *io;
  gboolean writing;
  int x0, y0, w, h;             /* region, in the coordinates of its side */
  float *buf;                   /* tile input, or output region's origin */
  gsize pitch;                  /* floats per row of buf */
  int rows_per_task;
} Convert;

static void
convert_task (gpointer data, int task, int worker)
{
  const Convert *c = data;
  const AePlan *p = c->p;
  AeColor color = ae_graph_get_color (p->graph);
  int r0 = task * c->rows_per_task;
  int n = MIN (c->rows_per_task, c->h - r0);
  float *buf = c->buf + (gsize) r0 * c->pitch;

  if (!c->writing && c->io->in)
    ae_frame_read (c->io->in, color, c->x0, c->y0 + r0, c->w, n, buf);
  else if (!c->writing)
    read_tensor (p, c->io->tin, c->x0, c->y0 + r0, c->w, n, buf);
  else if (c->io->out)
    ae_frame_write (c->io->out, c->io->in, color, p->scale, c->x0,
        c->y0 + r0, c->w, n, buf, c->pitch);
  else
    write_tensor (p, c->io->tout, c->x0, c->y0 + r0, c->w, n, buf, c->pitch);
}

static void
convert (const AePlan *p, const Io *io, gboolean writing, int x0, int y0,
    int w, int h, float *buf, gsize pitch)
{
  /* bands of at least 64 kpixels, so small frames stay on one thread */
  int rows = MAX (1, MIN (h, (65536 + w - 1) / w));
  rows += rows % 2;             /* bands start on even rows, like tiles */
  Convert c = { p, io, writing, x0, y0, w, h, buf, pitch, rows };
  ae_parallel_run (p->engine->pool, (h + rows - 1) / rows, convert_task, &c);
}

static gboolean
run_tiles (AePlan *p, const Io *io, GError **error)
{
  const AeBackend *be = p->engine->backend;
  const int s = p->scale;

  for (int ty = 0; ty < p->ny; ty++) {
    for (int tx = 0; tx < p->nx; tx++) {
      /* content region in padded input coordinates, then with its halo */
      int cx0 = tx * p->tile, cx1 = MIN (cx0 + p->tile, p->pad_w);
      int cy0 = ty * p->tile, cy1 = MIN (cy0 + p->tile, p->pad_h);
      int ix0 = MAX (cx0 - p->halo, 0), ix1 = MIN (cx1 + p->halo, p->pad_w);
      int iy0 = MAX (cy0 - p->halo, 0), iy1 = MIN (cy1 + p->halo, p->pad_h);
      int iw = ix1 - ix0, ih = iy1 - iy0;
      const float *out;

      convert (p, io, FALSE, ix0, iy0, iw, ih, be->input (p->bp),
          (gsize) iw * p->channels);
      if (!be->run (p->bp, iw, ih, &out, error))
        return FALSE;

      gsize pitch = (gsize) iw * s * p->channels;
      const float *src = out + (gsize) (cy0 - iy0) * s * pitch
          + (gsize) (cx0 - ix0) * s * p->channels;
      convert (p, io, TRUE, cx0 * s, cy0 * s, (cx1 - cx0) * s,
          (cy1 - cy0) * s, (float *) src, pitch);
    }
  }
  return TRUE;
}

gboolean
ae_plan_run (AePlan *p, const AeFrame *in, AeFrame *out, GError **error)
{
  AeFrame src;

  g_return_val_if_fail (p && in && out, FALSE);
  for (int k = 0; k < 2; k++) {
    const AeFrame *f = k ? out : in;
    if (!f->data || f->format >= AE_N_FRAME_FORMATS
        || f->stride < (gsize) f->width * ae_frame_format_bpp (f->format)) {
      g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_FAILED,
          "%s frame has no data or a stride (%" G_GSIZE_FORMAT ") shorter "
          "than its rows", k ? "output" : "input", f->stride);
      return FALSE;
    }
    int rows;
    gsize row_bytes;
    int nc = ae_frame_chroma_planes (f->format, f->width, f->height, &rows,
        &row_bytes);
    for (int c = 0; c < nc; c++)
      if (!f->chroma[c] || f->chroma_stride[c] < row_bytes) {
        g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_FAILED,
            "%s frame has no chroma plane %d or a stride (%" G_GSIZE_FORMAT
            ") shorter than its rows", k ? "output" : "input", c + 1,
            f->chroma_stride[c]);
        return FALSE;
      }
  }
  if (in->width != p->width || in->height != p->height) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_FAILED,
        "frame is %dx%d but the plan was made for %dx%d", in->width,
        in->height, p->width, p->height);
    return FALSE;
  }
  if (out->width != p->width * p->scale || out->height != p->height * p->scale
      || out->format != in->format) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_FAILED,
        "output frame must be %s %dx%d, is %s %dx%d",
        ae_frame_format_name (in->format), p->width * p->scale,
        p->height * p->scale, ae_frame_format_name (out->format),
        out->width, out->height);
    return FALSE;
  }
  src = *in;
  if (out->data == in->data) {
    /* tiles read halos that earlier tiles have already overwritten */
    gsize row = (gsize) in->width * ae_frame_format_bpp (in->format);
    gsize need = row * in->height, crow;
    int crows, nc = ae_frame_chroma_planes (in->format, in->width,
        in->height, &crows, &crow);
    need += crow * crows * nc;
    if (p->copy_size < need) {
      g_free (p->copy);
      p->copy = g_malloc (need);
      p->copy_size = need;
    }
    for (int y = 0; y < in->height; y++)
      memcpy (p->copy + y * row, in->data + y * in->stride, row);
    src.data = p->copy;
    src.stride = row;
    /* YUV: chroma too (RGB models read it) */
    guint8 *dst = p->copy + row * in->height;
    for (int c = 0; c < nc; c++, dst += crow * crows) {
      for (int y = 0; y < crows; y++)
        memcpy (dst + y * crow, in->chroma[c] + y * in->chroma_stride[c],
            crow);
      src.chroma[c] = dst;
      src.chroma_stride[c] = crow;
    }
  }
  Io io = { .in = &src, .out = out };
  return run_tiles (p, &io, error);
}

gboolean
ae_plan_run_tensor (AePlan *p, const float *in, float *out, GError **error)
{
  Io io = { .tin = in, .tout = out };
  g_return_val_if_fail (p && in && out && in != out, FALSE);
  return run_tiles (p, &io, error);
}
