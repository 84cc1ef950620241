/* ae-vk-private.h: the Vulkan backend's internals, shared by the files of
 * compute/vulkan/ (device, pipelines, shaders, plans). Not installed.
 *
 * Vulkan is reached through volk without global device functions
 * (VOLK_NO_DEVICE_PROTOTYPES): every device call goes through the device's
 * own table, AeVkDevice.vk. The library is linked with hidden visibility,
 * so volk's instance-level pointers never clash with another copy of
 * libvulkan's symbols in the same process.
 */
#pragma once

#include <volk.h>

#include "ae-backend-private.h"
#include "ae-engine.h"

G_BEGIN_DECLS

typedef enum {
  AE_VK_SHADER_CONV_GEMM,
  AE_VK_SHADER_CONV_DIRECT,
  AE_VK_SHADER_ELTWISE,
  AE_VK_SHADER_RESAMPLE,
  AE_VK_SHADER_POOL,
  AE_VK_SHADER_FRAME_IN,
  AE_VK_SHADER_FRAME_OUT,
  AE_VK_SHADER_TENSOR_IO,
  AE_VK_SHADER_FMA_PEAK,
  AE_VK_N_SHADERS
} AeVkShader;

/* Specialization constants: ids 0..AE_VK_N_SPEC-1, each 32 bits (int or
 * float bits); ids a shader does not declare are ignored. */
#define AE_VK_N_SPEC 12

/* The push constant block of shaders/common.glsl. */
typedef struct {
  gint32 a[4], b[4], c[4], d[4], e[4];
  float f[4];
} AeVkPush;

/* The embedded SPIR-V (ae-vk-shaders.c); NULL when the shader has no such
 * variant. */
const guint32 *ae_vk_shader_code (AeVkShader shader, gboolean f16,
    gsize *n_bytes);
/* A hash of every embedded SPIR-V blob: the "shader version" of the
 * on-disk pipeline cache. */
const char *ae_vk_shader_version (void);

typedef struct {
  VkBuffer buffer;
  VkDeviceMemory memory;
  VkDeviceSize size;
  guint8 *map;                  /* host-visible buffers only */
} AeVkBuffer;

typedef struct _AeVkDevice AeVkDevice;

struct _AeVkDevice {
  VkInstance instance;
  VkDebugUtilsMessengerEXT messenger;
  /* this instance's own: volk's globals follow the last instance loaded,
   * which may not have the extension */
  PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger;
  VkPhysicalDevice phys;
  VkDevice device;
  struct VolkDeviceTable vk;
  VkQueue queue;
  guint32 queue_family;
  GMutex queue_lock;            /* vkQueueSubmit needs external sync */

  int index;
  char *name;                   /* "vulkan:N (device name)" */
  VkPhysicalDeviceProperties props;
  VkPhysicalDeviceMemoryProperties mem;
  gboolean is_cpu;
  gboolean fp16;                /* fp16 storage in use */
  gboolean validation;          /* the Khronos layer is on */
  guint32 timestamp_bits;
  guint32 subgroup_size;

  VkDescriptorSetLayout set_layout;
  VkPipelineLayout pipeline_layout;
  VkPipelineCache cache;
  char *cache_path;             /* NULL: not persisted */
  VkShaderModule modules[AE_VK_N_SHADERS][2];
  GHashTable *pipelines;        /* key bytes → VkPipeline */
  GMutex lock;                  /* modules and pipelines */

  /* counts for the AE_VK_FAULT test hooks (docs/ENGINE.md) */
  gint n_submits, n_allocs, n_waits;
  /* atomic: a fence wait timed out. The device may still be running what
   * it was given, so nothing of it is waited for or destroyed again: its
   * objects are leaked rather than freed under it or waited on forever. */
  gint hung;
  gint n_validation_messages;
};

/* Opens Vulkan device @index (as ae_engine_list_devices() numbers them),
 * or picks one when @index < 0: the best GPU, and a CPU-type device only
 * when @allow_cpu. @fp16: use fp16 storage where the device has it. */
AeVkDevice *ae_vk_device_new (int index, gboolean allow_cpu, gboolean fp16,
    GError **error);
void ae_vk_device_free (AeVkDevice *d);

/* Lists the Vulkan devices (AeDeviceInfo, index order), adding to @out. */
gboolean ae_vk_list_devices (GPtrArray *out, GError **error);

/* A storage buffer in device memory, or host-visible and mapped when
 * @host. */
gboolean ae_vk_buffer_init (AeVkDevice *d, AeVkBuffer *b, VkDeviceSize size,
    gboolean host, GError **error);
void ae_vk_buffer_clear (AeVkDevice *d, AeVkBuffer *b);
/* Copies @size bytes of @data into @b at @offset, through a staging buffer
 * when @b is not host-visible; waits for the copy. */
gboolean ae_vk_buffer_write (AeVkDevice *d, AeVkBuffer *b,
    VkDeviceSize offset, const void *data, VkDeviceSize size,
    GError **error);

/* A compute pipeline for @shader with @spec (AE_VK_N_SPEC values), made
 * once per device and kept until the device is freed. */
VkPipeline ae_vk_pipeline_get (AeVkDevice *d, AeVkShader shader,
    gboolean f16, const guint32 *spec, GError **error);

/* The on-disk pipeline cache (ae-vk-pipeline-cache.c): created from the
 * file of this device and shader version if there is a valid one. */
gboolean ae_vk_pipeline_cache_open (AeVkDevice *d, GError **error);
/* Writes it back (atomically); failures are only logged. */
void ae_vk_pipeline_cache_save (AeVkDevice *d);

/* Queue submission and fence wait, with the AE_VK_FAULT hooks. */
gboolean ae_vk_submit (AeVkDevice *d, VkCommandBuffer cb, VkFence fence,
    GError **error);
gboolean ae_vk_wait (AeVkDevice *d, VkFence fence, GError **error);
/* TRUE once a wait timed out (see AeVkDevice.hung). */
gboolean ae_vk_is_hung (AeVkDevice *d);
/* Runs @cb once and waits (uploads at plan time, the peak benchmark). */
gboolean ae_vk_run_once (AeVkDevice *d, VkCommandBuffer cb, GError **error);

/* Sets @error from a failed @result of @call; FALSE iff it failed. */
gboolean ae_vk_result (VkResult result, const char *call, GError **error);
const char *ae_vk_result_name (VkResult result);

/* Runs a Vulkan call; on failure sets `error` and jumps to `error:`. */
#define AE_VK_CHECK(call) G_STMT_START { \
    if (!ae_vk_result ((call), #call, error)) \
      goto error; \
  } G_STMT_END

/* Records a dispatch of @n_groups 64-wide groups (x, spread over z past the
 * device limit) times @groups_y. */
void ae_vk_cmd_dispatch (AeVkDevice *d, VkCommandBuffer cb, gint64 n_groups,
    guint32 groups_y);

/* The backend (ae-vk-backend.c). */
extern const AeBackend ae_vk_backend;

/* Runs a tiny model on @d and on the CPU backend; an
 * AE_COMPUTE_ERROR_DEVICE error if they disagree (ae-vk-self-check.c). */
gboolean ae_vk_self_check (AeVkDevice *d, GError **error);

/* The fp32 FMA peak of the device in GFLOP/s, measured now. */
gboolean ae_vk_measure_peak (AeVkDevice *d, double *gflops, GError **error);

G_END_DECLS
