#include "ae-engine.h"
#include "ae-backend-private.h"
#include "ae-error.h"
#ifdef AE_HAVE_VULKAN
#include "vulkan/ae-vk-private.h"
#endif

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Automatic CPU tiles keep the live activations of one tile under this. */
#define AUTO_TILE_BYTES (512u << 20)
#define MAX_IN_FLIGHT 2

struct _AeEngine {
  const AeBackend *backend;
  AeParallel *pool;
  char *backend_name;
  gpointer device;              /* device backends: their device */
  gint lost;                    /* the device failed: plans use the CPU */
};

/* A frame between ae_plan_submit() and ae_plan_wait(). */
typedef struct {
  AeFrame in, out;
  gboolean on_device;           /* else already done on the CPU */
  gboolean ok;
  GError *error;
} Pending;

struct _AePlan {
  AeEngine *engine;
  AeModel *model;
  const AeGraph *graph;
  AeBackendPlan *bp;
  int width, height;            /* input frame */
  int pad_w, pad_h;             /* rounded up to the stride */
  int scale, channels, halo, tile;
  int nx, ny;
  AeTile *tiles;
  guint8 *copy;                 /* for in-place runs */
  gsize copy_size;
  double *profile;              /* per node + stages, when enabled */
  gboolean profiling;
  /* device backends: frames in flight, and the CPU plan that takes over
   * when the device fails */
  gboolean on_device;
  AeBackendPlan *cpu_bp;
  Pending pending[MAX_IN_FLIGHT];
  int head, n_pending;
};

/* "vulkan" → -1, "vulkan:N" → N; -2 if @device is not a Vulkan name. */
static int
vulkan_index (const char *device)
{
  char *end;
  gint64 n;

  if (g_str_equal (device, "vulkan"))
    return -1;
  if (!g_str_has_prefix (device, "vulkan:"))
    return -2;
  n = g_ascii_strtoll (device + 7, &end, 10);
  return end != device + 7 && !*end && n >= 0 && n < 64 ? (int) n : -2;
}

#ifdef AE_HAVE_VULKAN
/* Opens the Vulkan device and proves it on a tiny model; refuses fp16
 * storage, then the device, when the results disagree with the CPU. */
static gboolean
open_vulkan (AeEngine *e, int index, gboolean explicit, GError **error)
{
  const char *fp16_env = g_getenv ("AE_VK_FP16");
  gboolean fp16 = !fp16_env || !g_str_equal (fp16_env, "0");
  g_autoptr (GError) check_error = NULL;
  AeVkDevice *d = ae_vk_device_new (index, explicit, fp16, error);

  if (!d)
    return FALSE;
  e->backend = &ae_vk_backend;
  e->device = d;
  while (!ae_vk_self_check (d, &check_error)) {
    if (!d->fp16) {
      g_propagate_prefixed_error (error, g_steal_pointer (&check_error),
          "%s failed its self-check: ", d->name);
      ae_vk_device_free (d);
      e->device = NULL;
      return FALSE;
    }
    g_warning ("%s: %s; using fp32 storage", d->name, check_error->message);
    g_clear_error (&check_error);
    d->fp16 = FALSE;
    g_free (d->name);
    d->name = g_strdup_printf ("vulkan:%d (%s)", d->index,
        d->props.deviceName);
  }
  e->backend_name = g_strdup (d->name);
  return TRUE;
}
#endif

AeEngine *
ae_engine_new (const AeEngineParams *params, GError **error)
{
  static const AeEngineParams defaults = { 0 };
  const char *device;
  int vk;

  if (!params)
    params = &defaults;
  device = params->device;
  if (!device || g_str_equal (device, "auto")) {
    const char *env = g_getenv ("AE_DEVICE");
    device = env && *env ? env : "auto";
  }
  vk = vulkan_index (device);
  if (!g_str_equal (device, "auto") && !g_str_equal (device, "cpu")
      && vk == -2) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_FAILED,
        "unknown device '%s' (auto, cpu, vulkan, vulkan:N)", device);
    return NULL;
  }
#ifndef AE_HAVE_VULKAN
  if (vk != -2) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_DEVICE,
        "device '%s': this build has no Vulkan backend (configure with "
        "-Dvulkan=enabled); use 'cpu' or 'auto'", device);
    return NULL;
  }
#endif
  /* Our pool splits the work; OpenBLAS must not start threads of its own
   * inside each of our calls (two spinning pools run slower than one). */
  openblas_set_num_threads (1);

  AeEngine *e = g_new0 (AeEngine, 1);
  e->pool = ae_parallel_new (params->threads);
#ifdef AE_HAVE_VULKAN
  if (vk != -2 || g_str_equal (device, "auto")) {
    g_autoptr (GError) vk_error = NULL;
    if (open_vulkan (e, vk == -2 ? -1 : vk, vk != -2, &vk_error))
      return e;
    if (vk != -2) {
      g_propagate_error (error, g_steal_pointer (&vk_error));
      ae_engine_free (e);
      return NULL;
    }
    /* "auto" without a GPU is the CPU backend, as expected on most
     * machines; a GPU that exists but fails is worth a warning. Once. */
    static gsize told;
    if (g_once_init_enter (&told)) {
      if (g_error_matches (vk_error, AE_COMPUTE_ERROR,
              AE_COMPUTE_ERROR_NO_DEVICE))
        g_info ("using the CPU backend: %s", vk_error->message);
      else
        g_warning ("the Vulkan GPU is unusable (%s); using the CPU backend",
            vk_error->message);
      g_once_init_leave (&told, 1);
    }
  }
#endif
  e->backend = &ae_cpu_backend;
  e->backend_name = g_strdup ("cpu");
  return e;
}

void
ae_engine_free (AeEngine *e)
{
  if (!e)
    return;
#ifdef AE_HAVE_VULKAN
  ae_vk_device_free (e->device);
#endif
  ae_parallel_free (e->pool);
  g_free (e->backend_name);
  g_free (e);
}

const char *
ae_engine_get_backend_name (const AeEngine *e)
{
  return g_atomic_int_get (&e->lost) ? "cpu" : e->backend_name;
}

static void
device_info_free (gpointer data)
{
  AeDeviceInfo *d = data;
  g_free (d->id);
  g_free (d->name);
  g_free (d->type);
  g_free (d->api_version);
  g_free (d);
}

GPtrArray *
ae_engine_list_devices (GError **error)
{
  GPtrArray *a = g_ptr_array_new_with_free_func (device_info_free);
  AeDeviceInfo *cpu = g_new0 (AeDeviceInfo, 1);

  cpu->id = g_strdup ("cpu");
  cpu->name = g_strdup_printf ("OpenBLAS CPU backend, %u threads",
      g_get_num_processors ());
  cpu->type = g_strdup ("CPU");
  cpu->usable = cpu->auto_eligible = TRUE;
  g_ptr_array_add (a, cpu);
#ifdef AE_HAVE_VULKAN
  g_autoptr (GError) vk_error = NULL;
  /* a loader without a driver has no devices, as "auto" takes it */
  if (!ae_vk_list_devices (a, &vk_error) && !g_error_matches (vk_error,
          AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_DEVICE)) {
    g_propagate_error (error, g_steal_pointer (&vk_error));
    g_ptr_array_unref (a);
    return NULL;
  }
#endif
  return a;
}

int
ae_engine_get_n_threads (const AeEngine *e)
{
  return ae_parallel_get_n_threads (e->pool);
}

gboolean
ae_engine_measure_peak (AeEngine *e, double *gflops, GError **error)
{
#ifdef AE_HAVE_VULKAN
  if (e->device && !g_atomic_int_get (&e->lost))
    return ae_vk_measure_peak (e->device, gflops, error);
#endif
  g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_UNSUPPORTED,
      "the %s backend has no peak benchmark", ae_engine_get_backend_name (e));
  return FALSE;
}

static int
round_up (int v, int m)
{
  return (v + m - 1) / m * m;
}

/* Largest square tile whose live activations fit AUTO_TILE_BYTES, estimated
 * as three buffers of the widest node, and whose widest node fits
 * @max_tensor bytes (0: no limit). */
static int
auto_tile (const AeGraph *g, int stride, int halo, gsize max_tensor)
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
  /* tiles are even multiples of the stride (ae_plan_new) */
  int unit = stride % 2 ? 2 * stride : stride;
  if (max_tensor) {
    /* rounding up to the unit below must stay under the limit */
    double px = 4.0 * widest / ((double) probe * probe);
    int fit = (int) sqrt (max_tensor / px) - 2 * halo - unit;
    side = MIN (side, MAX (fit, unit));
    return MAX (round_up (side, unit), unit);
  }
  return MAX (round_up (MAX (side, 64), unit), unit);
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
    p->tile = auto_tile (g, stride, p->halo, e->backend->max_tensor_bytes
        && !g_atomic_int_get (&e->lost) ?
        e->backend->max_tensor_bytes (e->device) : 0);
  else                          /* one larger than the frame is the frame */
    p->tile = round_up (MIN (params->tile_size, MAX (p->pad_w, p->pad_h)),
        stride);
  /* even, so tiles start on whole chroma blocks of 4:2:0 frames */
  if (p->tile % 2)
    p->tile += stride;
  p->tile = MIN (p->tile, MAX (p->pad_w, p->pad_h));
  p->nx = (p->pad_w + p->tile - 1) / p->tile;
  p->ny = (p->pad_h + p->tile - 1) / p->tile;

  int max_w = MIN (p->tile + (p->nx > 1 ? 2 * p->halo : 0), p->pad_w);
  int max_h = MIN (p->tile + (p->ny > 1 ? 2 * p->halo : 0), p->pad_h);
  p->tiles = g_new (AeTile, p->nx * p->ny);
  for (int ty = 0; ty < p->ny; ty++) {
    for (int tx = 0; tx < p->nx; tx++) {
      AeTile *t = &p->tiles[ty * p->nx + tx];
      /* content region in padded input coordinates, then with its halo */
      t->cx0 = tx * p->tile;
      t->cx1 = MIN (t->cx0 + p->tile, p->pad_w);
      t->cy0 = ty * p->tile;
      t->cy1 = MIN (t->cy0 + p->tile, p->pad_h);
      t->ix0 = MAX (t->cx0 - p->halo, 0);
      t->iy0 = MAX (t->cy0 - p->halo, 0);
      t->iw = MIN (t->cx1 + p->halo, p->pad_w) - t->ix0;
      t->ih = MIN (t->cy1 + p->halo, p->pad_h) - t->iy0;
    }
  }
  if (e->backend->plan_new_on && !g_atomic_int_get (&e->lost)) {
    AeBackendPlanInfo info = { p->width, p->height, max_w, max_h, p->tiles,
      p->nx * p->ny
    };
    g_autoptr (GError) dev_error = NULL;
    p->bp = e->backend->plan_new_on (e->device, m, &info, &dev_error);
    if (p->bp) {
      p->on_device = TRUE;
      return g_steal_pointer (&p);
    }
    if (!g_error_matches (dev_error, AE_COMPUTE_ERROR,
            AE_COMPUTE_ERROR_DEVICE) && !g_error_matches (dev_error,
            AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_MEMORY)) {
      g_propagate_error (error, g_steal_pointer (&dev_error));
      return NULL;
    }
    /* the device cannot hold this plan: the CPU can */
    g_warning ("%s: %s; running this %dx%d plan on the CPU",
        e->backend_name, dev_error->message, p->width, p->height);
  }
  p->cpu_bp = ae_cpu_backend.plan_new (m, e->pool, max_w, max_h, error);
  if (!p->cpu_bp)
    return NULL;
  return g_steal_pointer (&p);
}

void
ae_plan_free (AePlan *p)
{
  if (!p)
    return;
  for (int i = 0; i < p->n_pending; i++) {
    Pending *pd = &p->pending[(p->head + i) % MAX_IN_FLIGHT];
    if (pd->on_device)
      p->engine->backend->wait (p->bp, (p->head + i) % MAX_IN_FLIGHT, NULL);
    g_clear_error (&pd->error);
  }
  if (p->bp)
    p->engine->backend->plan_free (p->bp);
  ae_cpu_backend.plan_free (p->cpu_bp);
  g_free (p->tiles);
  ae_model_unref (p->model);
  g_free (p->copy);
  g_free (p->profile);
  g_free (p);
}

static int
profile_size (const AePlan *p)
{
  return ae_graph_get_n_nodes (p->graph) + AE_N_PROFILE_STAGES;
}

void
ae_plan_set_profiling (AePlan *p, gboolean enabled)
{
  const AeBackend *be = p->engine->backend;
  if (enabled && !p->profile)
    p->profile = g_new0 (double, profile_size (p));
  if (p->bp && be->set_profile)
    be->set_profile (p->bp, enabled ? p->profile : NULL);
  if (p->cpu_bp)
    ae_cpu_backend.set_profile (p->cpu_bp, enabled ? p->profile : NULL);
  p->profiling = enabled;
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
    memset (p->profile, 0, sizeof (double) * profile_size (p));
}

void
ae_plan_get_stage_times (const AePlan *p, double *upload, double *compute,
    double *download)
{
  const double *st = p->profile ? p->profile + ae_graph_get_n_nodes (p->graph)
      : NULL;
  *upload = st ? st[AE_PROFILE_UPLOAD] : 0;
  *compute = st ? st[AE_PROFILE_COMPUTE] : 0;
  *download = st ? st[AE_PROFILE_DOWNLOAD] : 0;
}

int
ae_plan_get_max_in_flight (const AePlan *p)
{
  return MAX_IN_FLIGHT;
}

gboolean
ae_plan_is_on_device (const AePlan *p)
{
  return p->on_device;
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

/* The host backend that runs this plan's tiles: the CPU, made on demand
 * for device plans (a frame format the device cannot convert, or a failed
 * device). */
static AeBackendPlan *
cpu_plan (AePlan *p, GError **error)
{
  if (!p->cpu_bp) {
    int max_w = 0, max_h = 0;
    for (int i = 0; i < p->nx * p->ny; i++) {
      max_w = MAX (max_w, p->tiles[i].iw);
      max_h = MAX (max_h, p->tiles[i].ih);
    }
    p->cpu_bp = ae_cpu_backend.plan_new (p->model, p->engine->pool, max_w,
        max_h, error);
    if (p->cpu_bp && p->profiling)
      ae_cpu_backend.set_profile (p->cpu_bp, p->profile);
  }
  return p->cpu_bp;
}

static void
add_stage (AePlan *p, int stage, gint64 t0)
{
  if (p->profiling)
    p->profile[ae_graph_get_n_nodes (p->graph) + stage] +=
        (g_get_monotonic_time () - t0) * 1e-6;
}

static gboolean
run_tiles (AePlan *p, const Io *io, GError **error)
{
  const AeBackend *be = &ae_cpu_backend;
  AeBackendPlan *bp = cpu_plan (p, error);
  const int s = p->scale;

  if (!bp)
    return FALSE;
  for (int i = 0; i < p->nx * p->ny; i++) {
    const AeTile *t = &p->tiles[i];
    const float *out;
    gint64 t0 = g_get_monotonic_time ();

    convert (p, io, FALSE, t->ix0, t->iy0, t->iw, t->ih, be->input (bp),
        (gsize) t->iw * p->channels);
    add_stage (p, AE_PROFILE_UPLOAD, t0);
    t0 = g_get_monotonic_time ();
    if (!be->run (bp, t->iw, t->ih, &out, error))
      return FALSE;
    add_stage (p, AE_PROFILE_COMPUTE, t0);
    t0 = g_get_monotonic_time ();

    gsize pitch = (gsize) t->iw * s * p->channels;
    const float *src = out + (gsize) (t->cy0 - t->iy0) * s * pitch
        + (gsize) (t->cx0 - t->ix0) * s * p->channels;
    convert (p, io, TRUE, t->cx0 * s, t->cy0 * s, (t->cx1 - t->cx0) * s,
        (t->cy1 - t->cy0) * s, (float *) src, pitch);
    add_stage (p, AE_PROFILE_DOWNLOAD, t0);
  }
  return TRUE;
}

static gboolean
check_frames (AePlan *p, const AeFrame *in, const AeFrame *out,
    GError **error)
{
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
  return TRUE;
}

/* The CPU path of one frame: tiles converted on the host. */
static gboolean
run_frame_on_cpu (AePlan *p, const AeFrame *in, AeFrame *out,
    GError **error)
{
  AeFrame src;

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


/* The device failed: say so once, and run this plan (and new plans of the
 * engine) on the CPU from now on. */
static void
lose_device (AePlan *p, const GError *why)
{
  AeEngine *e = p->engine;
  if (!p->on_device)
    return;
  if (g_atomic_int_compare_and_exchange (&e->lost, 0, 1))
    g_warning ("%s failed: %s; continuing on the CPU backend",
        e->backend_name, why->message);
  p->on_device = FALSE;
}

static gboolean
is_device_failure (const GError *error)
{
  return g_error_matches (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_DEVICE)
      || g_error_matches (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_MEMORY);
}

/* Luma models see YUV frames as their Y' plane (GRAY8); RGB models on YUV
 * need chroma, which only the host conversion reads. */
static gboolean
device_converts (const AePlan *p, const AeFrame *f)
{
  return !ae_frame_format_is_yuv (f->format)
      || ae_graph_get_color (p->graph) == AE_COLOR_LUMA;
}

static AeFrame
luma_plane (const AeFrame *f)
{
  AeFrame y = *f;
  if (ae_frame_format_is_yuv (f->format)) {
    y.format = AE_FRAME_GRAY8;
    y.chroma[0] = y.chroma[1] = NULL;
  }
  return y;
}

gboolean
ae_plan_submit (AePlan *p, const AeFrame *in, AeFrame *out, GError **error)
{
  g_return_val_if_fail (p && in && out, FALSE);
  g_return_val_if_fail (p->n_pending < MAX_IN_FLIGHT, FALSE);
  if (!check_frames (p, in, out, error))
    return FALSE;

  int slot = (p->head + p->n_pending) % MAX_IN_FLIGHT;
  Pending *pd = &p->pending[slot];
  g_autoptr (GError) dev_error = NULL;
  pd->in = luma_plane (in);
  pd->out = luma_plane (out);
  pd->on_device = FALSE;
  pd->ok = FALSE;
  if (p->on_device && device_converts (p, in)) {
    AeBackendIo io = { .in = &pd->in, .out = &pd->out };
    if (p->engine->backend->submit (p->bp, slot, &io, &dev_error))
      pd->on_device = TRUE;
    else if (is_device_failure (dev_error))
      lose_device (p, dev_error);
    else {
      g_propagate_error (error, g_steal_pointer (&dev_error));
      return FALSE;
    }
  }
  if (!pd->on_device) {
    /* done now; wait() reports it in order */
    pd->in = *in;
    pd->out = *out;
    pd->ok = run_frame_on_cpu (p, in, out, &pd->error);
  }
  p->n_pending++;
  return TRUE;
}

gboolean
ae_plan_wait (AePlan *p, GError **error)
{
  g_return_val_if_fail (p && p->n_pending > 0, FALSE);
  int slot = p->head;
  Pending *pd = &p->pending[slot];
  g_autoptr (GError) dev_error = NULL;

  p->head = (p->head + 1) % MAX_IN_FLIGHT;
  p->n_pending--;
  if (pd->on_device) {
    pd->on_device = FALSE;
    if (p->engine->backend->wait (p->bp, slot, &dev_error))
      return TRUE;
    if (!is_device_failure (dev_error)) {
      g_propagate_error (error, g_steal_pointer (&dev_error));
      return FALSE;
    }
    /* the output was not written: redo the frame on the CPU (the caller
     * keeps @in unchanged until this returns) */
    lose_device (p, dev_error);
    AeFrame in = pd->in, out = pd->out;
    return run_frame_on_cpu (p, &in, &out, error);
  }
  if (!pd->ok) {
    g_propagate_error (error, pd->error);
    pd->error = NULL;
    return FALSE;
  }
  return TRUE;
}

gboolean
ae_plan_run (AePlan *p, const AeFrame *in, AeFrame *out, GError **error)
{
  g_return_val_if_fail (p && in && out, FALSE);
  g_return_val_if_fail (p->n_pending == 0, FALSE);
  if (!ae_plan_submit (p, in, out, error))
    return FALSE;
  return ae_plan_wait (p, error);
}

gboolean
ae_plan_run_tensor (AePlan *p, const float *in, float *out, GError **error)
{
  Io io = { .tin = in, .tout = out };
  g_autoptr (GError) dev_error = NULL;

  g_return_val_if_fail (p && in && out && in != out, FALSE);
  g_return_val_if_fail (p->n_pending == 0, FALSE);
  if (p->on_device) {
    const AeBackend *be = p->engine->backend;
    AeBackendIo bio = { .tin = in, .tout = out };
    if (be->submit (p->bp, 0, &bio, &dev_error)
        && be->wait (p->bp, 0, &dev_error))
      return TRUE;
    if (!is_device_failure (dev_error)) {
      g_propagate_error (error, g_steal_pointer (&dev_error));
      return FALSE;
    }
    lose_device (p, dev_error);
  }
  return run_tiles (p, &io, error);
}
