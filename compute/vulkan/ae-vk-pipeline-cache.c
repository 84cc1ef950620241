/* Pipelines: one per (shader, storage, specialization constants), made on
 * first use and kept by the device; and the VkPipelineCache behind them,
 * persisted under $XDG_CACHE_HOME/gst-autoencoder/vulkan/ in a file named
 * for the device (pipeline cache UUID, vendor, device and driver version)
 * and the embedded shaders' hash, so a driver or shader update never meets
 * a stale cache. The driver validates the blob's header too. */
#include "ae-vk-private.h"
#include "ae-error.h"

#include <glib/gstdio.h>
#include <errno.h>
#include <string.h>

gboolean
ae_vk_pipeline_cache_open (AeVkDevice *d, GError **error)
{
  g_autofree char *data = NULL;
  gsize size = 0;
  GString *uuid = g_string_new (NULL);

  for (guint i = 0; i < VK_UUID_SIZE; i++)
    g_string_append_printf (uuid, "%02x", d->props.pipelineCacheUUID[i]);
  g_autofree char *file = g_strdup_printf ("%s-%04x-%04x-%08x-%s.bin",
      uuid->str, d->props.vendorID, d->props.deviceID,
      d->props.driverVersion, ae_vk_shader_version ());
  g_string_free (uuid, TRUE);
  d->cache_path = g_build_filename (g_get_user_cache_dir (),
      "gst-autoencoder", "vulkan", file, NULL);
  if (!g_file_get_contents (d->cache_path, &data, &size, NULL))
    size = 0;

  VkPipelineCacheCreateInfo ci = {
    .sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
    .initialDataSize = size,
    .pInitialData = size ? data : NULL,
  };
  VkResult r = d->vk.vkCreatePipelineCache (d->device, &ci, NULL, &d->cache);
  if (r < 0 && size) {
    /* a corrupt file is only a lost cache */
    ci.initialDataSize = 0;
    ci.pInitialData = NULL;
    r = d->vk.vkCreatePipelineCache (d->device, &ci, NULL, &d->cache);
  }
  return ae_vk_result (r, "vkCreatePipelineCache", error);
}

void
ae_vk_pipeline_cache_save (AeVkDevice *d)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = NULL;
  g_autofree guint8 *data = NULL;
  size_t size = 0;

  if (!d->cache || !d->cache_path || g_hash_table_size (d->pipelines) == 0)
    return;
  if (d->vk.vkGetPipelineCacheData (d->device, d->cache, &size, NULL) < 0
      || size == 0)
    return;
  data = g_malloc (size);
  if (d->vk.vkGetPipelineCacheData (d->device, d->cache, &size, data) < 0)
    return;
  dir = g_path_get_dirname (d->cache_path);
  if (g_mkdir_with_parents (dir, 0700) != 0
      || !g_file_set_contents (d->cache_path, (const char *) data, size,
          &error))
    g_debug ("pipeline cache %s not saved: %s", d->cache_path,
        error ? error->message : g_strerror (errno));
}

static VkShaderModule
module (AeVkDevice *d, AeVkShader shader, gboolean f16, GError **error)
{
  VkShaderModule *m = &d->modules[shader][f16 ? 1 : 0];
  gsize n;
  const guint32 *code = ae_vk_shader_code (shader, f16, &n);

  g_return_val_if_fail (code, VK_NULL_HANDLE);
  if (!*m) {
    VkShaderModuleCreateInfo ci = {
      .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
      .codeSize = n,
      .pCode = code,
    };
    if (!ae_vk_result (d->vk.vkCreateShaderModule (d->device, &ci, NULL, m),
            "vkCreateShaderModule", error))
      *m = VK_NULL_HANDLE;
  }
  return *m;
}

VkPipeline
ae_vk_pipeline_get (AeVkDevice *d, AeVkShader shader, gboolean f16,
    const guint32 *spec, GError **error)
{
  guint32 key[2 + AE_VK_N_SPEC] = { shader, f16 };
  VkPipeline p = VK_NULL_HANDLE;
  VkShaderModule m;

  memcpy (key + 2, spec, sizeof (guint32) * AE_VK_N_SPEC);
  g_autoptr (GBytes) k = g_bytes_new (key, sizeof key);
  g_mutex_lock (&d->lock);
  p = g_hash_table_lookup (d->pipelines, k);
  if (p || !(m = module (d, shader, f16, error)))
    goto out;

  VkSpecializationMapEntry map[AE_VK_N_SPEC];
  for (int i = 0; i < AE_VK_N_SPEC; i++)
    map[i] = (VkSpecializationMapEntry) { i, i * 4, 4 };
  VkSpecializationInfo si = {
    .mapEntryCount = AE_VK_N_SPEC,
    .pMapEntries = map,
    .dataSize = sizeof (guint32) * AE_VK_N_SPEC,
    .pData = spec,
  };
  VkComputePipelineCreateInfo ci = {
    .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
    .stage = {
      .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
      .stage = VK_SHADER_STAGE_COMPUTE_BIT,
      .module = m,
      .pName = "main",
      .pSpecializationInfo = &si,
    },
    .layout = d->pipeline_layout,
  };
  if (ae_vk_result (d->vk.vkCreateComputePipelines (d->device, d->cache, 1,
              &ci, NULL, &p), "vkCreateComputePipelines", error))
    g_hash_table_insert (d->pipelines, g_bytes_ref (k), p);
  else
    p = VK_NULL_HANDLE;
out:
  g_mutex_unlock (&d->lock);
  return p;
}
