/* ae-engine.h: running a model on frames.
 *
 * An AeEngine is a compute device: the OpenBLAS CPU backend or a Vulkan
 * device (docs/ENGINE.md); an AePlan binds an engine, a model and a frame
 * size, allocates everything once, and then runs frame after frame without
 * allocating.
 *
 * Frames of any size are accepted: the plan pads them by reflection to the
 * network's stride and crops back (docs/MODEL-FORMAT.md), and cuts large
 * frames into tiles with a halo of the network's receptive radius, so the
 * result equals whole-frame processing while memory stays bounded.
 *
 * Thread-safety: an engine may be shared; a plan runs one frame at a time.
 */
#pragma once

#include "ae-model.h"
#include "ae-frame.h"

G_BEGIN_DECLS

typedef struct _AeEngine AeEngine;
typedef struct _AePlan AePlan;

typedef struct {
  /* "auto" (NULL), "cpu", "vulkan", "vulkan:N"; the environment variable
   * AE_DEVICE overrides "auto". */
  const char *device;
  /* worker threads; 0 = one per core */
  int threads;
} AeEngineParams;

AeEngine *ae_engine_new (const AeEngineParams *params, GError **error);
void ae_engine_free (AeEngine *e);
/* "cpu" or "vulkan:N (device name)": what really runs. */
const char *ae_engine_get_backend_name (const AeEngine *e);
int ae_engine_get_n_threads (const AeEngine *e);

/* A device ae_engine_new() can open. */
typedef struct {
  char *id;                     /* "cpu", "vulkan:N": the device string */
  char *name;                   /* e.g. "NVIDIA H100 PCIe" */
  char *type;                   /* "CPU", "discrete GPU", "CPU (Vulkan)"... */
  char *api_version;            /* Vulkan devices */
  gboolean usable;              /* Vulkan 1.1 with a compute queue */
  gboolean auto_eligible;       /* "auto" may choose it */
  gboolean fp16_storage, fp16_arithmetic, subgroup_arithmetic;
  gboolean cooperative_matrix;  /* VK_KHR_cooperative_matrix */
  guint subgroup_size;
  guint shared_memory;          /* bytes per workgroup */
  guint64 device_memory;        /* bytes of the largest device-local heap */
  guint max_buffer;             /* bytes of the largest storage buffer */
} AeDeviceInfo;

/* Every device: the CPU first, then Vulkan devices in the order "vulkan:N"
 * numbers them. (transfer full): a GPtrArray of AeDeviceInfo. Fails only
 * when Vulkan is present but cannot be queried. */
GPtrArray *ae_engine_list_devices (GError **error);

/* Measures the engine device's fp32 arithmetic peak (a long FMA chain
 * shader), in GFLOP/s, for benchmarks to compare kernels against.
 * AE_COMPUTE_ERROR_UNSUPPORTED on the CPU backend. Takes about a second. */
gboolean ae_engine_measure_peak (AeEngine *e, double *gflops,
    GError **error);

typedef struct {
  int width, height;            /* of input frames */
  /* tile side in input pixels (rounded up to the stride); 0 = automatic,
   * -1 = never tile */
  int tile_size;
} AePlanParams;

AePlan *ae_plan_new (AeEngine *e, AeModel *m, const AePlanParams *params,
    GError **error);
void ae_plan_free (AePlan *p);

/* Runs the model on @in and writes @out: same format; @out is scale times
 * larger than @in (whose size must be the plan's). For denoise and anomaly
 * models @out may be @in (in place). */
gboolean ae_plan_run (AePlan *p, const AeFrame *in, AeFrame *out,
    GError **error);

/* The same on float tensors, C x H x W planar (PyTorch's layout for one
 * frame); @out holds C x (H*scale) x (W*scale). */
gboolean ae_plan_run_tensor (AePlan *p, const float *in, float *out,
    GError **error);

/* Frames in flight: ae_plan_submit() queues a frame and returns at once on
 * a device (upload, compute and download of consecutive frames overlap);
 * ae_plan_wait() finishes the oldest queued frame, writing its @out, and
 * returns its result. At most ae_plan_get_max_in_flight() frames may be
 * queued; ae_plan_run() is submit + wait. @in and @out must stay valid and
 * @in unchanged until that frame's wait returns (if the device fails, the
 * frame is redone on the CPU from @in: a failed device never yields a
 * garbage frame). On the CPU, submit runs the frame. Errors about the
 * frames themselves come from submit. */
gboolean ae_plan_submit (AePlan *p, const AeFrame *in, AeFrame *out,
    GError **error);
gboolean ae_plan_wait (AePlan *p, GError **error);
int ae_plan_get_max_in_flight (const AePlan *p);
/* TRUE while frames run on a device backend (FALSE on the CPU, or after
 * the device failed and the plan fell back). */
gboolean ae_plan_is_on_device (const AePlan *p);

/* Per-node timing for benchmarks: when enabled, each run adds every node's
 * wall time (seconds) to a table indexed like the graph's nodes. */
void ae_plan_set_profiling (AePlan *p, gboolean enabled);
/* Seconds per node accumulated since the last reset; n_nodes entries. */
const double *ae_plan_get_profile (const AePlan *p);
void ae_plan_reset_profile (AePlan *p);
/* Seconds accumulated like the profile in three stages: frames to network
 * input (upload to the device and conversion), the network, and output
 * back to frames (conversion and download). */
void ae_plan_get_stage_times (const AePlan *p, double *upload,
    double *compute, double *download);

int ae_plan_get_tile_size (const AePlan *p);
int ae_plan_get_n_tiles (const AePlan *p);
AeModel *ae_plan_get_model (const AePlan *p);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeEngine, ae_engine_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AePlan, ae_plan_free)

G_END_DECLS
