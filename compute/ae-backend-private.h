/* ae-backend-private.h: what a compute backend implements.
 *
 * The engine owns frames, padding and tiling; a backend runs the whole graph
 * on one tile of at most the size it was planned for. Tensors cross this
 * interface as H x W x C floats (channels last, 0..1 in the input).
 */
#pragma once

#include "ae-model.h"
#include "ae-parallel.h"

G_BEGIN_DECLS

typedef struct _AeBackendPlan AeBackendPlan;

typedef struct {
  const char *name;
  /* Required. Plans tiles of up to @max_w x @max_h input pixels (multiples
   * of the graph's stride). */
  AeBackendPlan *(*plan_new) (AeModel *m, AeParallel *pool, int max_w,
      int max_h, GError **error);
  /* Required. Accepts NULL. */
  void (*plan_free) (AeBackendPlan *bp);
  /* Required. Where the engine writes the next tile's input. */
  float *(*input) (AeBackendPlan *bp);
  /* Required. Runs a @w x @h tile (stride multiples, within the plan);
   * *@out points at the output tile, valid until the next run. */
  gboolean (*run) (AeBackendPlan *bp, int w, int h, const float **out,
      GError **error);
  /* Optional. When @seconds is non-NULL, run adds each node's time to it. */
  void (*set_profile) (AeBackendPlan *bp, double *seconds);
} AeBackend;

extern const AeBackend ae_cpu_backend;

G_END_DECLS
