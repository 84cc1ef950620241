/* ae-backend-private.h: what a compute backend implements.
 *
 * The engine owns frames, padding and tiling; a backend runs the whole graph
 * on one tile of at most the size it was planned for. Tensors cross this
 * interface as H x W x C floats (channels last, 0..1 in the input).
 *
 * Two ways to be a backend (docs/ENGINE.md "Backends"):
 * - host backends (CPU) implement plan_new, input and run: the engine
 *   converts every tile between frame and floats and calls run per tile;
 * - device backends (Vulkan) implement plan_new_on, submit and wait: they
 *   receive the whole frame (8-bit planes or a C x H x W tensor) and the
 *   engine's tile list, and convert, tile and stitch on the device, so a
 *   frame crosses the bus once each way at 8 bits. Frames are queued in
 *   n_slots independent slots, so consecutive frames overlap.
 */
#pragma once

#include "ae-model.h"
#include "ae-frame.h"
#include "ae-parallel.h"

G_BEGIN_DECLS

typedef struct _AeBackendPlan AeBackendPlan;

/* One tile of the padded input: its content and, around it, the halo it
 * reads (ae-engine.c cuts them; tile origins are stride multiples). */
typedef struct {
  int cx0, cy0, cx1, cy1;       /* content, padded input pixels */
  int ix0, iy0, iw, ih;         /* content + halo, clipped to the padding */
} AeTile;

/* What a device backend plans for. */
typedef struct {
  int width, height;            /* input frames */
  int max_w, max_h;             /* largest tile with halo */
  const AeTile *tiles;
  int n_tiles;
} AeBackendPlanInfo;

/* A frame's source and destination: frames, or C x H x W tensors. */
typedef struct {
  const AeFrame *in;
  AeFrame *out;
  const float *tin;
  float *tout;
} AeBackendIo;

/* Entries after the nodes in a profile table (set_profile): seconds spent
 * getting frames onto the device and converted, running the graph, and
 * converting and reading results back. */
enum {
  AE_PROFILE_UPLOAD,
  AE_PROFILE_COMPUTE,
  AE_PROFILE_DOWNLOAD,
  AE_N_PROFILE_STAGES
};

typedef struct {
  const char *name;
  /* Host backends. Plans tiles of up to @max_w x @max_h input pixels
   * (multiples of the graph's stride). */
  AeBackendPlan *(*plan_new) (AeModel *m, AeParallel *pool, int max_w,
      int max_h, GError **error);
  /* Required. Accepts NULL. */
  void (*plan_free) (AeBackendPlan *bp);
  /* Host backends. Where the engine writes the next tile's input. */
  float *(*input) (AeBackendPlan *bp);
  /* Host backends. Runs a @w x @h tile (stride multiples, within the plan);
   * *@out points at the output tile, valid until the next run. */
  gboolean (*run) (AeBackendPlan *bp, int w, int h, const float **out,
      GError **error);
  /* Optional. When @seconds is non-NULL, runs add each node's time to it
   * (n_nodes entries); device backends also add AE_N_PROFILE_STAGES stage
   * times after them. */
  void (*set_profile) (AeBackendPlan *bp, double *seconds);

  /* Device backends. Plans whole frames on @device (the engine's). */
  AeBackendPlan *(*plan_new_on) (gpointer device, AeModel *m,
      const AeBackendPlanInfo *info, GError **error);
  /* Device backends. Queues a frame in @slot (0..n_slots-1, not busy):
   * reads @io's input before returning; keeps @io's output for wait. */
  gboolean (*submit) (AeBackendPlan *bp, int slot, const AeBackendIo *io,
      GError **error);
  /* Device backends. Waits for @slot's frame and writes its output. An
   * AE_COMPUTE_ERROR_DEVICE or _NO_MEMORY error means the output was not
   * written and the device may be unusable (the engine falls back). */
  gboolean (*wait) (AeBackendPlan *bp, int slot, GError **error);
  int n_slots;
  /* Device backends, optional: the largest tensor the device can hold, in
   * bytes (automatic tiles stay below it). */
  gsize (*max_tensor_bytes) (gpointer device);
} AeBackend;

extern const AeBackend ae_cpu_backend;

/* Buffers by liveness, shared by the backends: a node's buffer is reused
 * once its last reader has run, and a node never writes over its own
 * inputs. @shapes are the nodes' shapes at the largest tile; fills
 * @buffer_of (a buffer index per node) and returns the element count of
 * each buffer (a GArray of gsize). */
GArray *ae_backend_assign_buffers (const AeGraph *g, const AeShape *shapes,
    int *buffer_of);

G_END_DECLS
