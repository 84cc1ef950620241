/* The device's fp32 FMA peak (shaders/fma_peak.comp), the yardstick the
 * benchmark measures convolutions against. The dispatch grows until one
 * run takes 100 ms, so the figure holds from lavapipe to large GPUs. */
#include "ae-vk-private.h"
#include "ae-error.h"

#define ITERS 1024
#define FLOPS_PER_ITER 64       /* 8 vec4 FMAs */

gboolean
ae_vk_measure_peak (AeVkDevice *d, double *gflops, GError **error)
{
  guint32 spec[AE_VK_N_SPEC] = { ITERS };
  VkPipeline pipeline = ae_vk_pipeline_get (d, AE_VK_SHADER_FMA_PEAK, FALSE,
      spec, error);
  AeVkBuffer out = { 0 };
  VkDescriptorPool dpool = VK_NULL_HANDLE;
  VkCommandPool cpool = VK_NULL_HANDLE;
  VkDescriptorSet set;
  VkCommandBuffer cb;
  gint64 n_groups = 64;
  const gint64 max_groups = MIN (1 << 20,
      d->props.limits.maxStorageBufferRange / (64 * 4));
  gboolean ok = FALSE;

  *gflops = 0;
  if (!pipeline
      || !ae_vk_buffer_init (d, &out, max_groups * 64 * 4, FALSE, error))
    goto error;
  VkDescriptorPoolSize ps = { VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 4 };
  VkDescriptorPoolCreateInfo dpi = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
    .maxSets = 1,
    .poolSizeCount = 1,
    .pPoolSizes = &ps,
  };
  AE_VK_CHECK (d->vk.vkCreateDescriptorPool (d->device, &dpi, NULL, &dpool));
  VkDescriptorSetAllocateInfo sai = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
    .descriptorPool = dpool,
    .descriptorSetCount = 1,
    .pSetLayouts = &d->set_layout,
  };
  AE_VK_CHECK (d->vk.vkAllocateDescriptorSets (d->device, &sai, &set));
  VkDescriptorBufferInfo bi = { out.buffer, 0, VK_WHOLE_SIZE };
  VkWriteDescriptorSet w[4];
  for (int k = 0; k < 4; k++)
    w[k] = (VkWriteDescriptorSet) {
      .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
      .dstSet = set,
      .dstBinding = k,
      .descriptorCount = 1,
      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
      .pBufferInfo = &bi,
    };
  d->vk.vkUpdateDescriptorSets (d->device, 4, w, 0, NULL);
  VkCommandPoolCreateInfo cpi = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
    .queueFamilyIndex = d->queue_family,
  };
  AE_VK_CHECK (d->vk.vkCreateCommandPool (d->device, &cpi, NULL, &cpool));
  VkCommandBufferAllocateInfo cai = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = cpool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  AE_VK_CHECK (d->vk.vkAllocateCommandBuffers (d->device, &cai, &cb));

  for (;;) {
    VkCommandBufferBeginInfo begin = {
      .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
    };
    /* the buffer's floats: ae_vk_cmd_dispatch() may round the groups up
     * (where the x limit is 65535), and those past it must not write */
    AeVkPush push = {.a = { n_groups * 64 } };
    AE_VK_CHECK (d->vk.vkResetCommandBuffer (cb, 0));
    AE_VK_CHECK (d->vk.vkBeginCommandBuffer (cb, &begin));
    d->vk.vkCmdBindPipeline (cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    d->vk.vkCmdBindDescriptorSets (cb, VK_PIPELINE_BIND_POINT_COMPUTE,
        d->pipeline_layout, 0, 1, &set, 0, NULL);
    d->vk.vkCmdPushConstants (cb, d->pipeline_layout,
        VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof push, &push);
    ae_vk_cmd_dispatch (d, cb, n_groups, 1);
    AE_VK_CHECK (d->vk.vkEndCommandBuffer (cb));
    /* the best of three, after one run to warm up */
    double best = G_MAXDOUBLE;
    for (int rep = 0; rep < 4; rep++) {
      gint64 t0 = g_get_monotonic_time ();
      if (!ae_vk_run_once (d, cb, error))
        goto error;
      if (rep > 0)
        best = MIN (best, (g_get_monotonic_time () - t0) * 1e-6);
    }
    double flops = (double) n_groups * 64 * ITERS * FLOPS_PER_ITER;
    *gflops = flops / best * 1e-9;
    if (best >= 0.1 || n_groups >= max_groups)
      break;
    n_groups = MIN (max_groups, n_groups * MAX (2, (gint64) (0.1 / best)));
  }
  ok = TRUE;
error:
  if (cpool)
    d->vk.vkDestroyCommandPool (d->device, cpool, NULL);
  if (dpool)
    d->vk.vkDestroyDescriptorPool (d->device, dpool, NULL);
  ae_vk_buffer_clear (d, &out);
  return ok;
}
