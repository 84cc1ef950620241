/* Vulkan through volk: loader, instance, device choice, queue, buffers,
 * submission. One AeVkDevice per engine; each has its own instance so the
 * validation layer and the loader's device list are read afresh. */
#define VOLK_IMPLEMENTATION
#include "ae-vk-private.h"
#include "ae-error.h"

#include <stdlib.h>
#include <string.h>

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

static const struct {
  VkResult result;
  const char *name;
} results[] = {
  {VK_NOT_READY, "not ready"},
  {VK_TIMEOUT, "timeout"},
  {VK_INCOMPLETE, "incomplete"},
  {VK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory"},
  {VK_ERROR_OUT_OF_DEVICE_MEMORY, "out of device memory"},
  {VK_ERROR_INITIALIZATION_FAILED, "initialization failed"},
  {VK_ERROR_DEVICE_LOST, "device lost"},
  {VK_ERROR_MEMORY_MAP_FAILED, "memory map failed"},
  {VK_ERROR_LAYER_NOT_PRESENT, "layer not present"},
  {VK_ERROR_EXTENSION_NOT_PRESENT, "extension not present"},
  {VK_ERROR_FEATURE_NOT_PRESENT, "feature not present"},
  {VK_ERROR_INCOMPATIBLE_DRIVER, "incompatible driver (no Vulkan ICD)"},
  {VK_ERROR_TOO_MANY_OBJECTS, "too many objects"},
  {VK_ERROR_FORMAT_NOT_SUPPORTED, "format not supported"},
  {VK_ERROR_FRAGMENTED_POOL, "fragmented pool"},
  {VK_ERROR_OUT_OF_POOL_MEMORY, "out of pool memory"},
  {VK_ERROR_INVALID_SHADER_NV, "invalid shader"},
  {VK_ERROR_UNKNOWN, "unknown error"},
};

const char *
ae_vk_result_name (VkResult r)
{
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    if (results[i].result == r)
      return results[i].name;
  return "unrecognised VkResult";
}

gboolean
ae_vk_result (VkResult r, const char *call, GError **error)
{
  if (r >= 0)
    return TRUE;
  int code = r == VK_ERROR_OUT_OF_DEVICE_MEMORY
      || r == VK_ERROR_OUT_OF_HOST_MEMORY ? AE_COMPUTE_ERROR_NO_MEMORY
      : r == VK_ERROR_INCOMPATIBLE_DRIVER ? AE_COMPUTE_ERROR_NO_DEVICE
      : AE_COMPUTE_ERROR_DEVICE;
  /* "vkCreateBuffer (d->device, ...)" → "vkCreateBuffer" */
  g_autofree char *fn = g_strndup (call, strcspn (call, " ("));
  const char *p = strstr (fn, "vk.");
  g_set_error (error, AE_COMPUTE_ERROR, code, "Vulkan: %s failed: %s (%d)",
      p ? p + 3 : fn, ae_vk_result_name (r), r);
  return FALSE;
}

/* volkInitialize loads libvulkan once per process; failure means no loader,
 * which is not an error for "auto". */
static gboolean
load_vulkan (GError **error)
{
  static gsize done;
  static VkResult r;

  if (g_once_init_enter (&done)) {
    r = volkInitialize ();
    g_once_init_leave (&done, 1);
  }
  if (r != VK_SUCCESS) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_DEVICE,
        "no Vulkan loader (libvulkan.so.1) found");
    return FALSE;
  }
  return TRUE;
}

static VkBool32 VKAPI_PTR
on_debug_message (VkDebugUtilsMessageSeverityFlagBitsEXT severity,
    VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
  AeVkDevice *d = user;
  g_atomic_int_inc (&d->n_validation_messages);
  g_warning ("Vulkan validation: %s", data->pMessage);
  return VK_FALSE;
}

static gboolean
want_validation (void)
{
  const char *v = g_getenv ("AE_VK_VALIDATION");
  return v && *v && !g_str_equal (v, "0");
}

static gboolean
has_layer (const char *name)
{
  guint32 n = 0;
  if (vkEnumerateInstanceLayerProperties (&n, NULL) != VK_SUCCESS)
    return FALSE;
  g_autofree VkLayerProperties *layers = g_new0 (VkLayerProperties, MAX (n, 1));
  if (vkEnumerateInstanceLayerProperties (&n, layers) < 0)
    return FALSE;
  for (guint32 i = 0; i < n; i++)
    if (g_str_equal (layers[i].layerName, name))
      return TRUE;
  return FALSE;
}

/* volk keeps instance-level pointers in globals; loading them for each new
 * instance is serialised, and the loader's trampolines dispatch on the
 * handle, so pointers loaded for one instance serve the others. */
G_LOCK_DEFINE_STATIC (instance);

static VkInstance
create_instance (AeVkDevice *d, GError **error)
{
  VkApplicationInfo app = {
    .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
    .pApplicationName = "gst-autoencoder",
    .pEngineName = "libaecompute",
    .apiVersion = VK_API_VERSION_1_1,
  };
  VkInstanceCreateInfo ci = {
    .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
    .pApplicationInfo = &app,
  };
  const char *layer = VALIDATION_LAYER;
  const char *ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
  VkInstance inst = VK_NULL_HANDLE;

  if (!load_vulkan (error))
    return VK_NULL_HANDLE;
  G_LOCK (instance);
  if (d && want_validation ()) {
    if (has_layer (VALIDATION_LAYER)) {
      ci.enabledLayerCount = 1;
      ci.ppEnabledLayerNames = &layer;
      ci.enabledExtensionCount = 1;
      ci.ppEnabledExtensionNames = &ext;
      d->validation = TRUE;
    } else {
      g_warning ("AE_VK_VALIDATION is set but %s is not installed",
          VALIDATION_LAYER);
    }
  }
  VkResult r = vkCreateInstance (&ci, NULL, &inst);
  if (r == VK_SUCCESS)
    volkLoadInstanceOnly (inst);
  G_UNLOCK (instance);
  if (!ae_vk_result (r, "vkCreateInstance", error))
    return VK_NULL_HANDLE;
  if (d && d->validation) {
    VkDebugUtilsMessengerCreateInfoEXT mi = {
      .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
      .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT
          | VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
      .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT
          | VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT
          | VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT,
      .pfnUserCallback = on_debug_message,
      .pUserData = d,
    };
    PFN_vkCreateDebugUtilsMessengerEXT create =
        (PFN_vkCreateDebugUtilsMessengerEXT) vkGetInstanceProcAddr (inst,
        "vkCreateDebugUtilsMessengerEXT");
    d->destroy_messenger = (PFN_vkDestroyDebugUtilsMessengerEXT)
        vkGetInstanceProcAddr (inst, "vkDestroyDebugUtilsMessengerEXT");
    r = create && d->destroy_messenger ? create (inst, &mi, NULL,
        &d->messenger) : VK_ERROR_EXTENSION_NOT_PRESENT;
    if (!ae_vk_result (r, "vkCreateDebugUtilsMessengerEXT", error)) {
      vkDestroyInstance (inst, NULL);
      return VK_NULL_HANDLE;
    }
  }
  return inst;
}

static GArray *
physical_devices (VkInstance inst, GError **error)
{
  guint32 n = 0;
  GArray *a;

  if (!ae_vk_result (vkEnumeratePhysicalDevices (inst, &n, NULL),
          "vkEnumeratePhysicalDevices", error))
    return NULL;
  a = g_array_sized_new (FALSE, TRUE, sizeof (VkPhysicalDevice), n);
  g_array_set_size (a, n);
  if (n && !ae_vk_result (vkEnumeratePhysicalDevices (inst, &n,
              (VkPhysicalDevice *) a->data), "vkEnumeratePhysicalDevices",
          error)) {
    g_array_unref (a);
    return NULL;
  }
  g_array_set_size (a, n);
  return a;
}

/* Everything we use or report about a physical device. */
typedef struct {
  VkPhysicalDeviceProperties props;
  VkPhysicalDevice16BitStorageFeatures storage16;
  VkPhysicalDeviceShaderFloat16Int8Features float16;
  VkPhysicalDeviceSubgroupProperties subgroup;
  gboolean cooperative_matrix;
  int queue_family;             /* -1: no compute queue */
  guint32 timestamp_bits;
  VkDeviceSize device_memory;
} Caps;

static gboolean
has_extension (VkPhysicalDevice pd, const char *name)
{
  guint32 n = 0;
  if (vkEnumerateDeviceExtensionProperties (pd, NULL, &n, NULL) != VK_SUCCESS)
    return FALSE;
  g_autofree VkExtensionProperties *e = g_new0 (VkExtensionProperties,
      MAX (n, 1));
  if (vkEnumerateDeviceExtensionProperties (pd, NULL, &n, e) < 0)
    return FALSE;
  for (guint32 i = 0; i < n; i++)
    if (g_str_equal (e[i].extensionName, name))
      return TRUE;
  return FALSE;
}

static void
query_caps (VkPhysicalDevice pd, Caps *c)
{
  memset (c, 0, sizeof *c);
  vkGetPhysicalDeviceProperties (pd, &c->props);
  c->queue_family = -1;
  if (c->props.apiVersion < VK_API_VERSION_1_1)
    return;                     /* we need 1.1 for everything below */

  c->float16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES;
  c->storage16.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES;
  c->storage16.pNext = has_extension (pd, "VK_KHR_shader_float16_int8")
      || c->props.apiVersion >= VK_API_VERSION_1_2 ? &c->float16 : NULL;
  VkPhysicalDeviceFeatures2 f2 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
    .pNext = &c->storage16,
  };
  vkGetPhysicalDeviceFeatures2 (pd, &f2);
  c->storage16.pNext = NULL;
  c->float16.pNext = NULL;

  c->subgroup.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES;
  VkPhysicalDeviceProperties2 p2 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
    .pNext = &c->subgroup,
  };
  vkGetPhysicalDeviceProperties2 (pd, &p2);
  c->subgroup.pNext = NULL;
  c->cooperative_matrix = has_extension (pd, "VK_KHR_cooperative_matrix");

  guint32 nq = 0;
  vkGetPhysicalDeviceQueueFamilyProperties (pd, &nq, NULL);
  g_autofree VkQueueFamilyProperties *q = g_new0 (VkQueueFamilyProperties,
      MAX (nq, 1));
  vkGetPhysicalDeviceQueueFamilyProperties (pd, &nq, q);
  /* prefer a compute-only family (async compute on GPUs that have one) */
  for (guint32 i = 0; i < nq; i++) {
    if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT))
      continue;
    if (c->queue_family < 0 || !(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) {
      c->queue_family = i;
      c->timestamp_bits = q[i].timestampValidBits;
    }
  }
  VkPhysicalDeviceMemoryProperties mp;
  vkGetPhysicalDeviceMemoryProperties (pd, &mp);
  for (guint32 i = 0; i < mp.memoryHeapCount; i++)
    if (mp.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      c->device_memory = MAX (c->device_memory, mp.memoryHeaps[i].size);
}

static const char *
type_name (VkPhysicalDeviceType t)
{
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return "CPU (Vulkan)";
    default:
      return "other";
  }
}

/* Higher is better for "auto"; CPU-type devices (lavapipe) come last: our
 * own CPU backend is faster than them. */
static int
type_rank (VkPhysicalDeviceType t)
{
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
      return 4;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
      return 3;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
      return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
      return 0;
    default:
      return 1;
  }
}

static char *
version_string (guint32 v)
{
  return g_strdup_printf ("%u.%u.%u", VK_API_VERSION_MAJOR (v),
      VK_API_VERSION_MINOR (v), VK_API_VERSION_PATCH (v));
}

gboolean
ae_vk_list_devices (GPtrArray *out, GError **error)
{
  VkInstance inst = create_instance (NULL, error);
  if (!inst)
    return FALSE;
  g_autoptr (GArray) pds = physical_devices (inst, error);
  if (!pds) {
    vkDestroyInstance (inst, NULL);
    return FALSE;
  }
  for (guint i = 0; i < pds->len; i++) {
    Caps c;
    query_caps (g_array_index (pds, VkPhysicalDevice, i), &c);
    AeDeviceInfo *info = g_new0 (AeDeviceInfo, 1);
    info->id = g_strdup_printf ("vulkan:%u", i);
    info->name = g_strdup (c.props.deviceName);
    info->type = g_strdup (type_name (c.props.deviceType));
    info->api_version = version_string (c.props.apiVersion);
    info->usable = c.queue_family >= 0;
    info->auto_eligible = info->usable
        && c.props.deviceType != VK_PHYSICAL_DEVICE_TYPE_CPU;
    info->fp16_storage = c.storage16.storageBuffer16BitAccess;
    info->fp16_arithmetic = c.float16.shaderFloat16;
    info->subgroup_size = c.subgroup.subgroupSize;
    info->subgroup_arithmetic = (c.subgroup.supportedOperations
        & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT)
        && (c.subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT);
    info->cooperative_matrix = c.cooperative_matrix;
    info->shared_memory = c.props.limits.maxComputeSharedMemorySize;
    info->device_memory = c.device_memory;
    info->max_buffer = c.props.limits.maxStorageBufferRange;
    g_ptr_array_add (out, info);
  }
  vkDestroyInstance (inst, NULL);
  return TRUE;
}

/* Pick @index, or the best-ranked usable device. */
static int
choose (GArray *pds, int index, gboolean allow_cpu, Caps *caps,
    GError **error)
{
  int best = -1, best_rank = -1;
  GString *seen = g_string_new (NULL);

  if (index >= (int) pds->len) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_DEVICE,
        "no Vulkan device %d (%u found; 'ae-model devices' lists them)",
        index, pds->len);
    g_string_free (seen, TRUE);
    return -1;
  }
  for (guint i = 0; i < pds->len; i++) {
    Caps c;
    if (index >= 0 && (int) i != index)
      continue;
    query_caps (g_array_index (pds, VkPhysicalDevice, i), &c);
    g_string_append_printf (seen, "%s%s (%s)", seen->len ? ", " : "",
        c.props.deviceName, type_name (c.props.deviceType));
    if (c.queue_family < 0)
      continue;
    int rank = type_rank (c.props.deviceType);
    if (rank == 0 && !allow_cpu)
      continue;
    if (rank > best_rank) {
      best = i;
      best_rank = rank;
      *caps = c;
    }
  }
  if (best < 0) {
    if (index >= 0)
      g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_DEVICE,
          "Vulkan device %d (%s) needs Vulkan 1.1 and a compute queue",
          index, seen->str);
    else if (seen->len)
      g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_DEVICE,
          "no Vulkan GPU (only %s, which the CPU backend outruns)",
          seen->str);
    else
      g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_DEVICE,
          "no Vulkan device found");
  }
  g_string_free (seen, TRUE);
  return best;
}

/* Test hooks: AE_VK_FAULT="lost:N" makes the Nth submission from now on
 * (and every later one) report a lost device, "oom:N" the Nth allocation
 * report exhausted device memory; counted while the variable is set. */
static int
fault_at (const char *what)
{
  const char *f = g_getenv ("AE_VK_FAULT");
  g_autofree char *key = g_strdup_printf ("%s:", what);
  const char *p = f ? strstr (f, key) : NULL;
  return p ? atoi (p + strlen (key)) : 0;
}

static gboolean
create_layouts (AeVkDevice *d, GError **error)
{
  VkDescriptorSetLayoutBinding b[4];
  for (int i = 0; i < 4; i++)
    b[i] = (VkDescriptorSetLayoutBinding) {
      .binding = i,
      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
      .descriptorCount = 1,
      .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    };
  VkDescriptorSetLayoutCreateInfo si = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
    .bindingCount = 4,
    .pBindings = b,
  };
  VkPushConstantRange pr = {
    .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
    .size = sizeof (AeVkPush),
  };
  VkPipelineLayoutCreateInfo pi = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
    .setLayoutCount = 1,
    .pSetLayouts = &d->set_layout,
    .pushConstantRangeCount = 1,
    .pPushConstantRanges = &pr,
  };
  AE_VK_CHECK (d->vk.vkCreateDescriptorSetLayout (d->device, &si, NULL,
          &d->set_layout));
  AE_VK_CHECK (d->vk.vkCreatePipelineLayout (d->device, &pi, NULL,
          &d->pipeline_layout));
  return TRUE;
error:
  return FALSE;
}

AeVkDevice *
ae_vk_device_new (int index, gboolean allow_cpu, gboolean fp16,
    GError **error)
{
  AeVkDevice *d = g_new0 (AeVkDevice, 1);
  g_autoptr (GArray) pds = NULL;
  Caps c;
  int i;

  g_mutex_init (&d->lock);
  g_mutex_init (&d->queue_lock);
  d->pipelines = g_hash_table_new_full (g_bytes_hash, g_bytes_equal,
      (GDestroyNotify) g_bytes_unref, NULL);
  if (!(d->instance = create_instance (d, error)))
    goto error;
  if (!(pds = physical_devices (d->instance, error)))
    goto error;
  if ((i = choose (pds, index, allow_cpu, &c, error)) < 0)
    goto error;

  d->phys = g_array_index (pds, VkPhysicalDevice, i);
  d->index = i;
  d->props = c.props;
  d->is_cpu = c.props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
  d->queue_family = c.queue_family;
  d->timestamp_bits = c.timestamp_bits;
  d->subgroup_size = c.subgroup.subgroupSize;
  d->fp16 = fp16 && c.storage16.storageBuffer16BitAccess;
  d->name = g_strdup_printf ("vulkan:%d (%s%s)", i, c.props.deviceName,
      d->fp16 ? ", fp16 storage" : "");
  vkGetPhysicalDeviceMemoryProperties (d->phys, &d->mem);

  float prio = 1.0f;
  VkDeviceQueueCreateInfo qi = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
    .queueFamilyIndex = d->queue_family,
    .queueCount = 1,
    .pQueuePriorities = &prio,
  };
  VkPhysicalDevice16BitStorageFeatures s16 = {
    .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES,
    .storageBuffer16BitAccess = d->fp16,
  };
  VkDeviceCreateInfo di = {
    .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
    .pNext = &s16,
    .queueCreateInfoCount = 1,
    .pQueueCreateInfos = &qi,
  };
  AE_VK_CHECK (vkCreateDevice (d->phys, &di, NULL, &d->device));
  volkLoadDeviceTable (&d->vk, d->device);
  d->vk.vkGetDeviceQueue (d->device, d->queue_family, 0, &d->queue);
  if (!create_layouts (d, error) || !ae_vk_pipeline_cache_open (d, error))
    goto error;
  return d;

error:
  ae_vk_device_free (d);
  return NULL;
}

static void
destroy_pipeline (gpointer key, gpointer value, gpointer user)
{
  AeVkDevice *d = user;
  d->vk.vkDestroyPipeline (d->device, value, NULL);
}

void
ae_vk_device_free (AeVkDevice *d)
{
  if (!d)
    return;
  /* a hung device would hang vkDeviceWaitIdle, and freeing what it may
   * still use is undefined: its Vulkan objects are leaked instead */
  const gboolean hung = ae_vk_is_hung (d);
  if (d->device && !hung) {
    d->vk.vkDeviceWaitIdle (d->device);
    ae_vk_pipeline_cache_save (d);
    g_hash_table_foreach (d->pipelines, destroy_pipeline, d);
    for (int s = 0; s < AE_VK_N_SHADERS; s++)
      for (int v = 0; v < 2; v++)
        if (d->modules[s][v])
          d->vk.vkDestroyShaderModule (d->device, d->modules[s][v], NULL);
    if (d->cache)
      d->vk.vkDestroyPipelineCache (d->device, d->cache, NULL);
    if (d->pipeline_layout)
      d->vk.vkDestroyPipelineLayout (d->device, d->pipeline_layout, NULL);
    if (d->set_layout)
      d->vk.vkDestroyDescriptorSetLayout (d->device, d->set_layout, NULL);
    d->vk.vkDestroyDevice (d->device, NULL);
  }
  if (d->messenger && !hung)
    d->destroy_messenger (d->instance, d->messenger, NULL);
  if (d->instance && !hung)
    vkDestroyInstance (d->instance, NULL);
  g_hash_table_unref (d->pipelines);
  g_mutex_clear (&d->lock);
  g_mutex_clear (&d->queue_lock);
  g_free (d->name);
  g_free (d->cache_path);
  g_free (d);
}

static int
memory_type (AeVkDevice *d, guint32 bits, VkMemoryPropertyFlags want,
    VkMemoryPropertyFlags nice)
{
  int found = -1;
  for (guint32 i = 0; i < d->mem.memoryTypeCount; i++) {
    VkMemoryPropertyFlags f = d->mem.memoryTypes[i].propertyFlags;
    if (!(bits & (1u << i)) || (f & want) != want)
      continue;
    if ((f & nice) == nice)
      return i;
    if (found < 0)
      found = i;
  }
  return found;
}

gboolean
ae_vk_buffer_init (AeVkDevice *d, AeVkBuffer *b, VkDeviceSize size,
    gboolean host, GError **error)
{
  VkBufferCreateInfo bi = {
    .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
    .size = MAX (size, 16),
    .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT
        | VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
    .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
  };
  VkMemoryRequirements req;
  int type;

  memset (b, 0, sizeof *b);
  if (size > d->props.limits.maxStorageBufferRange) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_MEMORY,
        "a %.1f MB buffer exceeds the device's limit of %.1f MB; use a "
        "smaller tile-size", size / 1048576.0,
        d->props.limits.maxStorageBufferRange / 1048576.0);
    return FALSE;
  }
  int oom_at = fault_at ("oom");
  if (oom_at > 0 && g_atomic_int_add (&d->n_allocs, 1) + 1 == oom_at) {
    ae_vk_result (VK_ERROR_OUT_OF_DEVICE_MEMORY, "vkAllocateMemory", error);
    return FALSE;
  }
  b->size = size;
  AE_VK_CHECK (d->vk.vkCreateBuffer (d->device, &bi, NULL, &b->buffer));
  d->vk.vkGetBufferMemoryRequirements (d->device, b->buffer, &req);
  /* host buffers: coherent, cached for reading back when available;
   * device buffers: device-local */
  type = host ? memory_type (d, req.memoryTypeBits,
      VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT,
      VK_MEMORY_PROPERTY_HOST_CACHED_BIT)
      : memory_type (d, req.memoryTypeBits, 0,
      VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT);
  if (type < 0) {
    ae_vk_result (VK_ERROR_OUT_OF_DEVICE_MEMORY, "vkAllocateMemory", error);
    goto error;
  }
  VkMemoryAllocateInfo ai = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
    .allocationSize = req.size,
    .memoryTypeIndex = type,
  };
  AE_VK_CHECK (d->vk.vkAllocateMemory (d->device, &ai, NULL, &b->memory));
  AE_VK_CHECK (d->vk.vkBindBufferMemory (d->device, b->buffer, b->memory, 0));
  if (d->mem.memoryTypes[type].propertyFlags
      & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)
    AE_VK_CHECK (d->vk.vkMapMemory (d->device, b->memory, 0, VK_WHOLE_SIZE,
            0, (void **) &b->map));
  return TRUE;

error:
  ae_vk_buffer_clear (d, b);
  return FALSE;
}

void
ae_vk_buffer_clear (AeVkDevice *d, AeVkBuffer *b)
{
  if (b->buffer)
    d->vk.vkDestroyBuffer (d->device, b->buffer, NULL);
  if (b->memory)
    d->vk.vkFreeMemory (d->device, b->memory, NULL);
  memset (b, 0, sizeof *b);
}

gboolean
ae_vk_run_once (AeVkDevice *d, VkCommandBuffer cb, GError **error)
{
  VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
  VkFence fence = VK_NULL_HANDLE;
  gboolean ok = FALSE;

  AE_VK_CHECK (d->vk.vkCreateFence (d->device, &fi, NULL, &fence));
  ok = ae_vk_submit (d, cb, fence, error) && ae_vk_wait (d, fence, error);
error:
  if (fence && !ae_vk_is_hung (d))
    d->vk.vkDestroyFence (d->device, fence, NULL);
  return ok;
}

gboolean
ae_vk_buffer_write (AeVkDevice *d, AeVkBuffer *b, VkDeviceSize offset,
    const void *data, VkDeviceSize size, GError **error)
{
  AeVkBuffer staging = { 0 };
  VkCommandPool pool = VK_NULL_HANDLE;
  VkCommandBuffer cb;
  gboolean ok = FALSE;

  if (b->map) {
    memcpy (b->map + offset, data, size);
    return TRUE;
  }
  if (!ae_vk_buffer_init (d, &staging, size, TRUE, error))
    return FALSE;
  memcpy (staging.map, data, size);
  VkCommandPoolCreateInfo pi = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT,
    .queueFamilyIndex = d->queue_family,
  };
  AE_VK_CHECK (d->vk.vkCreateCommandPool (d->device, &pi, NULL, &pool));
  VkCommandBufferAllocateInfo ai = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = pool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  AE_VK_CHECK (d->vk.vkAllocateCommandBuffers (d->device, &ai, &cb));
  VkCommandBufferBeginInfo bi = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
    .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
  };
  AE_VK_CHECK (d->vk.vkBeginCommandBuffer (cb, &bi));
  VkBufferCopy region = { 0, offset, size };
  d->vk.vkCmdCopyBuffer (cb, staging.buffer, b->buffer, 1, &region);
  AE_VK_CHECK (d->vk.vkEndCommandBuffer (cb));
  ok = ae_vk_run_once (d, cb, error);
error:
  /* a hung device may still read them */
  if (ae_vk_is_hung (d))
    return ok;
  if (pool)
    d->vk.vkDestroyCommandPool (d->device, pool, NULL);
  ae_vk_buffer_clear (d, &staging);
  return ok;
}

gboolean
ae_vk_submit (AeVkDevice *d, VkCommandBuffer cb, VkFence fence,
    GError **error)
{
  VkSubmitInfo si = {
    .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
    .commandBufferCount = 1,
    .pCommandBuffers = &cb,
  };
  VkResult r;

  int lost_at = fault_at ("lost");
  if (lost_at > 0 && g_atomic_int_add (&d->n_submits, 1) + 1 >= lost_at)
    return ae_vk_result (VK_ERROR_DEVICE_LOST, "vkQueueSubmit", error);
  g_mutex_lock (&d->queue_lock);
  r = d->vk.vkQueueSubmit (d->queue, 1, &si, fence);
  g_mutex_unlock (&d->queue_lock);
  return ae_vk_result (r, "vkQueueSubmit", error);
}

gboolean
ae_vk_wait (AeVkDevice *d, VkFence fence, GError **error)
{
  VkResult r;
  int hang_at = fault_at ("hang");

  if (g_atomic_int_get (&d->hung)
      || (hang_at > 0 && g_atomic_int_add (&d->n_waits, 1) + 1 >= hang_at))
    r = VK_TIMEOUT;
  else                          /* a minute means hung, not slow */
    r = d->vk.vkWaitForFences (d->device, 1, &fence, VK_TRUE,
        60 * G_GUINT64_CONSTANT (1000000000));
  if (r == VK_TIMEOUT) {
    g_atomic_int_set (&d->hung, 1);
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_DEVICE,
        "Vulkan: vkWaitForFences: the device did not finish within a minute "
        "(hung)");
    return FALSE;
  }
  return ae_vk_result (r, "vkWaitForFences", error);
}

gboolean
ae_vk_is_hung (AeVkDevice *d)
{
  return g_atomic_int_get (&d->hung);
}

void
ae_vk_cmd_dispatch (AeVkDevice *d, VkCommandBuffer cb, gint64 n_groups,
    guint32 groups_y)
{
  gint64 max_x = d->props.limits.maxComputeWorkGroupCount[0];
  guint32 x = MIN (n_groups, max_x), z = (n_groups + x - 1) / MAX (x, 1);
  if (n_groups > 0 && groups_y > 0)
    d->vk.vkCmdDispatch (cb, x, groups_y, z);
}
