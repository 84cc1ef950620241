/* The Vulkan backend: whole frames on the device.
 *
 * A plan turns the graph into a list of dispatches (one per node, a few for
 * add and concat), each a pipeline specialised for the node (kernel,
 * channels, stride, activation, channel tile) and a descriptor set over the
 * plan's buffers. Activations live in device buffers assigned by liveness,
 * like the CPU's; weights in one buffer ([ky][kx][ci][co], fp16 with fp16
 * storage; biases fp32).
 *
 * Each of the n_slots slots (frames in flight) has its own activation and
 * I/O buffers and one command buffer holding the whole frame: for every
 * tile, convert its input region from the 8-bit frame (or float tensor) in
 * a shader, run every node, convert the tile's content region back into the
 * output frame. It is recorded the first time a slot sees a kind of input
 * (frame format and matrix, or tensor) and replayed after that; the host
 * only copies frame bytes in and out of mapped memory.
 */
#include "ae-vk-private.h"
#include "ae-error.h"
#include "cpu/ae-cpu-ops.h"
#include "ae-half.h"

#include <string.h>

#define MAX_SLOTS 2

typedef enum {
  BIND_NONE = -1,               /* any buffer: the shader does not read it */
  BIND_WEIGHTS = -2,
  BIND_IN = -3,                 /* the slot's frame or tensor input */
  BIND_OUT = -4,
} Special;

typedef enum {
  KIND_FRAME,
  KIND_TENSOR,
  N_KINDS
} Kind;

typedef struct {
  int node;
  AeVkShader shader;
  guint32 spec[AE_VK_N_SPEC];
  VkPipeline pipeline;
  int bind[4];                  /* activation buffer index or Special */
  VkDeviceSize offset[4];       /* into the weights buffer */
  int input;                    /* add/concat: which node input */
  int concat_offset;
} Dispatch;

/* A host-visible buffer and, on devices whose host-visible memory is not
 * device-local, a device twin it is copied to or from. */
typedef struct {
  AeVkBuffer host, dev;
  gboolean staged;
} IoBuffer;

typedef struct {
  AeVkBuffer *acts;
  IoBuffer in[N_KINDS], out[N_KINDS];   /* made on first use */
  VkDescriptorSet *sets;        /* per dispatch, then the 4 conversions */
  VkCommandBuffer cb;
  VkFence fence;
  VkQueryPool queries;
  gboolean recorded;
  int key;                      /* what cb was recorded for */
  gboolean busy;
  AeBackendIo io;
  double host_upload;           /* seconds, this frame */
} Slot;

struct _AeBackendPlan {
  AeVkDevice *d;
  AeModel *model;
  const AeGraph *graph;
  int n_nodes, width, height, scale, channels;
  AeTile *tiles;
  int n_tiles;
  AeShape *shapes;              /* at the largest tile */
  int *buffer_of;
  GArray *buffer_sizes;
  gsize elem;                   /* bytes per activation */
  AeVkBuffer weights;
  GArray *dispatches;
  VkDescriptorPool desc_pool;
  VkCommandPool cmd_pool;
  guint32 n_queries;
  Slot slots[MAX_SLOTS];
  double *profile;
};

static int
conversion_set (const AeBackendPlan *bp, Kind kind, gboolean out)
{
  return bp->dispatches->len + kind * 2 + (out ? 1 : 0);
}

static void
free_io (AeVkDevice *d, IoBuffer *b)
{
  ae_vk_buffer_clear (d, &b->host);
  ae_vk_buffer_clear (d, &b->dev);
}

static void
vk_plan_free (AeBackendPlan *bp)
{
  if (!bp)
    return;
  AeVkDevice *d = bp->d;
  /* this plan's own work only: vkDeviceWaitIdle would need every queue
   * locked against other plans' submits, and waits for their work too */
  for (int s = 0; s < MAX_SLOTS; s++)
    if (bp->slots[s].busy)
      ae_vk_wait (d, bp->slots[s].fence, NULL);
  /* a hung device may still use them: its objects are leaked
   * (AeVkDevice.hung), the host's memory freed */
  const gboolean hung = ae_vk_is_hung (d);
  for (int s = 0; s < MAX_SLOTS; s++) {
    Slot *sl = &bp->slots[s];
    if (!hung) {
      for (guint i = 0; sl->acts && i < bp->buffer_sizes->len; i++)
        ae_vk_buffer_clear (d, &sl->acts[i]);
      for (int k = 0; k < N_KINDS; k++) {
        free_io (d, &sl->in[k]);
        free_io (d, &sl->out[k]);
      }
      if (sl->fence)
        d->vk.vkDestroyFence (d->device, sl->fence, NULL);
      if (sl->queries)
        d->vk.vkDestroyQueryPool (d->device, sl->queries, NULL);
    }
    g_free (sl->acts);
    g_free (sl->sets);
  }
  if (!hung) {
    if (bp->cmd_pool)
      d->vk.vkDestroyCommandPool (d->device, bp->cmd_pool, NULL);
    if (bp->desc_pool)
      d->vk.vkDestroyDescriptorPool (d->device, bp->desc_pool, NULL);
    ae_vk_buffer_clear (d, &bp->weights);
  }
  if (bp->dispatches)
    g_array_unref (bp->dispatches);
  if (bp->buffer_sizes)
    g_array_unref (bp->buffer_sizes);
  g_free (bp->buffer_of);
  g_free (bp->shapes);
  g_free (bp->tiles);
  ae_model_unref (bp->model);
  g_free (bp);
}

static VkDeviceSize
align (VkDeviceSize v, VkDeviceSize a)
{
  return (v + a - 1) / a * a;
}

/* Weights and biases of every conv node in one buffer; @offsets gets two
 * per node (weight, bias; 0 = none). */
static gboolean
upload_weights (AeBackendPlan *bp, VkDeviceSize *offsets, GError **error)
{
  AeVkDevice *d = bp->d;
  VkDeviceSize a = MAX (d->props.limits.minStorageBufferOffsetAlignment, 16);
  VkDeviceSize total = a;       /* offset 0 is "none" */
  const gsize welem = d->fp16 ? 2 : 4;

  for (int i = 0; i < bp->n_nodes; i++) {
    const AeNode *nd = ae_graph_get_node (bp->graph, i);
    if (nd->op != AE_OP_CONV2D && nd->op != AE_OP_CONV_TRANSPOSE2D)
      continue;
    const AeConvParams *c = &nd->p.conv;
    gsize n = (gsize) c->kernel * c->kernel * c->in_channels * c->out_channels;
    offsets[2 * i] = total;
    total = align (total + n * welem, a);
    if (ae_model_get_bias (bp->model, i)) {
      offsets[2 * i + 1] = total;
      total = align (total + c->out_channels * 4, a);
    }
  }
  g_autofree guint8 *host = g_malloc0 (total);
  for (int i = 0; i < bp->n_nodes; i++) {
    if (!offsets[2 * i])
      continue;
    const AeNode *nd = ae_graph_get_node (bp->graph, i);
    const AeConvParams *c = &nd->p.conv;
    gsize n = (gsize) c->kernel * c->kernel * c->in_channels * c->out_channels;
    g_autofree float *packed = ae_cpu_pack_weight (nd,
        ae_model_get_weight (bp->model, i));
    if (d->fp16) {
      guint16 *h = (guint16 *) (host + offsets[2 * i]);
      for (gsize k = 0; k < n; k++)
        h[k] = ae_float_to_half (packed[k]);
    } else {
      memcpy (host + offsets[2 * i], packed, n * 4);
    }
    if (offsets[2 * i + 1])
      memcpy (host + offsets[2 * i + 1], ae_model_get_bias (bp->model, i),
          c->out_channels * 4);
  }
  return ae_vk_buffer_init (d, &bp->weights, total, FALSE, error)
      && ae_vk_buffer_write (d, &bp->weights, 0, host, total, error);
}

static guint32
float_bits (float f)
{
  guint32 u;
  memcpy (&u, &f, 4);
  return u;
}

static void
conv_spec (const AeNode *nd, guint32 *spec, gboolean has_bias)
{
  const AeConvParams *c = &nd->p.conv;
  spec[0] = c->in_channels;
  spec[1] = c->out_channels;
  spec[2] = c->kernel;
  spec[3] = c->stride;
  spec[4] = c->padding;
  spec[5] = c->dilation;
  spec[6] = c->act;
  spec[7] = float_bits (c->slope);
  spec[8] = has_bias;
}

/* Thin layers (the first and last of an image network) are mostly padding
 * in a GEMM tile; the direct shader suits them. */
static gboolean
is_thin (const AeConvParams *c)
{
  return c->in_channels <= 4 || c->out_channels <= 4;
}

/* Mesa's llvmpipe (lavapipe) ends a shader invocation's loops after 65,535
 * iterations in all, silently: a reduction longer than that loses its
 * tail. Loop iterations per invocation of the conv shaders, as llvmpipe
 * counts them (measured: 40 per 16-term step of conv_gemm at TC 16, 36 at
 * TC 32; conv_direct bounded by its three nested loops). */
#define CPU_DRIVER_MAX_LOOP 60000

static gint64
conv_loop_iterations (const AeConvParams *c, AeVkShader shader, int tc)
{
  const gint64 ks = c->kernel, ci = c->in_channels;
  if (shader == AE_VK_SHADER_CONV_GEMM)
    return (ks * ks * ci + 15) / 16 * (tc == 32 ? 36 : 40) + 24;
  return ks * (1 + ks * (1 + ci)) + 8;
}

static gboolean
build_dispatches (AeBackendPlan *bp, const VkDeviceSize *offsets,
    GError **error)
{
  for (int i = 1; i < bp->n_nodes; i++) {
    const AeNode *nd = ae_graph_get_node (bp->graph, i);
    Dispatch dp = { .node = i, .bind = {BIND_NONE, BIND_NONE, BIND_NONE,
          bp->buffer_of[i]} };
    int n_parts = 1;

    dp.bind[0] = bp->buffer_of[nd->inputs[0]];
    switch (nd->op) {
      case AE_OP_CONV2D:
      case AE_OP_CONV_TRANSPOSE2D:{
        const AeConvParams *c = &nd->p.conv;
        conv_spec (nd, dp.spec, offsets[2 * i + 1] != 0);
        dp.bind[1] = dp.bind[2] = BIND_WEIGHTS;
        dp.offset[1] = offsets[2 * i];
        dp.offset[2] = offsets[2 * i + 1] ? offsets[2 * i + 1] : offsets[2 * i];
        if (nd->op == AE_OP_CONV2D && !is_thin (c)) {
          dp.shader = AE_VK_SHADER_CONV_GEMM;
          dp.spec[9] = c->out_channels >= 32 ? 32 : 16;
        } else {
          dp.shader = AE_VK_SHADER_CONV_DIRECT;
          dp.spec[10] = nd->op == AE_OP_CONV_TRANSPOSE2D;
        }
        if (bp->d->is_cpu && conv_loop_iterations (c, dp.shader,
                (int) dp.spec[9]) > CPU_DRIVER_MAX_LOOP) {
          g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_DEVICE,
              "node '%s': its %d-term sums are past the loop limit of CPU "
              "Vulkan drivers (lavapipe stops short without an error)",
              nd->name, c->kernel * c->kernel * c->in_channels);
          return FALSE;
        }
        break;
      }
      case AE_OP_PIXEL_SHUFFLE:
      case AE_OP_PIXEL_UNSHUFFLE:
      case AE_OP_UPSAMPLE:
        dp.shader = AE_VK_SHADER_RESAMPLE;
        dp.spec[0] = nd->op == AE_OP_PIXEL_SHUFFLE ? 0
            : nd->op == AE_OP_PIXEL_UNSHUFFLE ? 1
            : nd->p.resample.mode == AE_UPSAMPLE_NEAREST ? 2 : 3;
        dp.spec[1] = nd->p.resample.factor;
        break;
      case AE_OP_MAX_POOL2D:
      case AE_OP_AVG_POOL2D:
        dp.shader = AE_VK_SHADER_POOL;
        dp.spec[0] = nd->op == AE_OP_MAX_POOL2D;
        dp.spec[1] = nd->p.pool.kernel;
        dp.spec[2] = nd->p.pool.stride;
        dp.spec[3] = nd->p.pool.padding;
        break;
      case AE_OP_ACT:
        dp.shader = AE_VK_SHADER_ELTWISE;
        dp.spec[0] = 0;
        dp.spec[1] = nd->p.act.act;
        dp.spec[2] = float_bits (nd->p.act.slope);
        break;
      case AE_OP_ADD:
        /* out = in0 + in1, then out += in_k */
        dp.shader = AE_VK_SHADER_ELTWISE;
        dp.spec[0] = 1;
        dp.bind[1] = bp->buffer_of[nd->inputs[1]];
        n_parts = nd->n_inputs - 1;
        break;
      case AE_OP_CONCAT:
        dp.shader = AE_VK_SHADER_ELTWISE;
        dp.spec[0] = 2;
        n_parts = nd->n_inputs;
        break;
      default:
        g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_UNSUPPORTED,
            "node '%s': op %s has no Vulkan shader", nd->name,
            ae_op_name (nd->op));
        return FALSE;
    }
    for (int k = 0; k < n_parts; k++) {
      Dispatch part = dp;
      if (nd->op == AE_OP_ADD && k > 0) {
        part.bind[0] = bp->buffer_of[i];
        part.bind[1] = bp->buffer_of[nd->inputs[k + 1]];
      } else if (nd->op == AE_OP_CONCAT) {
        part.bind[0] = bp->buffer_of[nd->inputs[k]];
        part.input = k;
        for (int j = 0; j < k; j++)
          part.concat_offset += ae_graph_get_node (bp->graph,
              nd->inputs[j])->channels;
      }
      part.pipeline = ae_vk_pipeline_get (bp->d, part.shader, bp->d->fp16,
          part.spec, error);
      if (!part.pipeline)
        return FALSE;
      g_array_append_val (bp->dispatches, part);
    }
  }
  return TRUE;
}

static gboolean
create_slot (AeBackendPlan *bp, Slot *sl, GError **error)
{
  AeVkDevice *d = bp->d;
  int n_sets = bp->dispatches->len + 4;
  g_autofree VkDescriptorSetLayout *layouts =
      g_new (VkDescriptorSetLayout, n_sets);

  sl->acts = g_new0 (AeVkBuffer, bp->buffer_sizes->len);
  for (guint b = 0; b < bp->buffer_sizes->len; b++)
    if (!ae_vk_buffer_init (d, &sl->acts[b],
            g_array_index (bp->buffer_sizes, gsize, b) * bp->elem, FALSE,
            error))
      return FALSE;
  for (int i = 0; i < n_sets; i++)
    layouts[i] = d->set_layout;
  sl->sets = g_new0 (VkDescriptorSet, n_sets);
  VkDescriptorSetAllocateInfo ai = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
    .descriptorPool = bp->desc_pool,
    .descriptorSetCount = n_sets,
    .pSetLayouts = layouts,
  };
  AE_VK_CHECK (d->vk.vkAllocateDescriptorSets (d->device, &ai, sl->sets));
  VkCommandBufferAllocateInfo ci = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
    .commandPool = bp->cmd_pool,
    .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
    .commandBufferCount = 1,
  };
  AE_VK_CHECK (d->vk.vkAllocateCommandBuffers (d->device, &ci, &sl->cb));
  VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO };
  AE_VK_CHECK (d->vk.vkCreateFence (d->device, &fi, NULL, &sl->fence));
  if (d->timestamp_bits) {
    VkQueryPoolCreateInfo qi = {
      .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
      .queryType = VK_QUERY_TYPE_TIMESTAMP,
      .queryCount = bp->n_queries,
    };
    AE_VK_CHECK (d->vk.vkCreateQueryPool (d->device, &qi, NULL,
            &sl->queries));
  }
  sl->key = -1;
  return TRUE;
error:
  return FALSE;
}

static void io_sizes (const AeBackendPlan *bp, Kind kind, gsize *in,
    gsize *out);

/* The whole frame's input and output buffers (not tiled) fit in one
 * storage buffer: else this plan runs on the CPU, found now rather than at
 * the first frame, where it would be taken for a failed device. */
static gboolean
io_fits (const AeBackendPlan *bp, GError **error)
{
  gsize limit = bp->d->props.limits.maxStorageBufferRange, in, out, most = 0;

  for (Kind k = 0; k < N_KINDS; k++) {
    io_sizes (bp, k, &in, &out);
    most = MAX (most, MAX (in, out));
  }
  /* the frame shaders' byte offsets are 32-bit ints */
  limit = MIN (limit, (gsize) G_MAXINT32);
  if (most <= limit)
    return TRUE;
  g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_MEMORY,
      "its %.1f MB frame buffer exceeds the device's limit of %.1f MB",
      most / 1048576.0, limit / 1048576.0);
  return FALSE;
}

static AeBackendPlan *
vk_plan_new_on (gpointer device, AeModel *m, const AeBackendPlanInfo *info,
    GError **error)
{
  AeBackendPlan *bp = g_new0 (AeBackendPlan, 1);
  AeVkDevice *d = device;
  g_autofree VkDeviceSize *offsets = NULL;

  bp->d = d;
  bp->model = ae_model_ref (m);
  bp->graph = ae_model_get_graph (m);
  bp->n_nodes = ae_graph_get_n_nodes (bp->graph);
  bp->width = info->width;
  bp->height = info->height;
  bp->scale = ae_graph_get_scale (bp->graph);
  bp->channels = ae_graph_get_channels (bp->graph);
  bp->tiles = g_memdup2 (info->tiles, sizeof (AeTile) * info->n_tiles);
  bp->n_tiles = info->n_tiles;
  bp->elem = d->fp16 ? 2 : 4;
  bp->shapes = g_new0 (AeShape, bp->n_nodes);
  bp->buffer_of = g_new0 (int, bp->n_nodes);
  bp->dispatches = g_array_new (FALSE, TRUE, sizeof (Dispatch));
  /* a start stamp, then per tile: after the input conversion, after each
   * node, after the output conversion */
  bp->n_queries = 1 + bp->n_tiles * (bp->n_nodes + 1);
  if (!io_fits (bp, error) || !ae_graph_infer_shapes (bp->graph,
          info->max_w, info->max_h, bp->shapes, error))
    goto error;
  bp->buffer_sizes = ae_backend_assign_buffers (bp->graph, bp->shapes,
      bp->buffer_of);
  offsets = g_new0 (VkDeviceSize, 2 * bp->n_nodes);
  if (!upload_weights (bp, offsets, error)
      || !build_dispatches (bp, offsets, error))
    goto error;

  int n_sets = (bp->dispatches->len + 4) * MAX_SLOTS;
  VkDescriptorPoolSize ps = { VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 4 * n_sets };
  VkDescriptorPoolCreateInfo dpi = {
    .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
    .maxSets = n_sets,
    .poolSizeCount = 1,
    .pPoolSizes = &ps,
  };
  AE_VK_CHECK (d->vk.vkCreateDescriptorPool (d->device, &dpi, NULL,
          &bp->desc_pool));
  VkCommandPoolCreateInfo cpi = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
    .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
    .queueFamilyIndex = d->queue_family,
  };
  AE_VK_CHECK (d->vk.vkCreateCommandPool (d->device, &cpi, NULL,
          &bp->cmd_pool));
  for (int s = 0; s < MAX_SLOTS; s++)
    if (!create_slot (bp, &bp->slots[s], error))
      goto error;
  return bp;

error:
  vk_plan_free (bp);
  return NULL;
}

static const struct {
  int bpp, r, g, b, a;
} formats[AE_N_FRAME_FORMATS] = {
  [AE_FRAME_GRAY8] = {1, 0, 0, 0, -1},
  [AE_FRAME_RGB] = {3, 0, 1, 2, -1},
  [AE_FRAME_BGR] = {3, 2, 1, 0, -1},
  [AE_FRAME_RGBA] = {4, 0, 1, 2, 3},
  [AE_FRAME_BGRA] = {4, 2, 1, 0, 3},
  [AE_FRAME_ARGB] = {4, 1, 2, 3, 0},
  [AE_FRAME_ABGR] = {4, 3, 2, 1, 0},
  [AE_FRAME_RGBX] = {4, 0, 1, 2, 3},
  [AE_FRAME_BGRX] = {4, 2, 1, 0, 3},
  [AE_FRAME_XRGB] = {4, 1, 2, 3, 0},
  [AE_FRAME_XBGR] = {4, 3, 2, 1, 0},
};

static gsize
pitch_words (int width, int bpp)
{
  return ((gsize) width * bpp + 3) / 4;
}

/* Sizes of a slot's input and output buffers for @kind. */
static void
io_sizes (const AeBackendPlan *bp, Kind kind, gsize *in, gsize *out)
{
  int ow = bp->width * bp->scale, oh = bp->height * bp->scale;
  if (kind == KIND_FRAME) {
    *in = pitch_words (bp->width, 4) * 4 * bp->height;
    *out = pitch_words (ow, 4) * 4 * oh;
  } else {
    *in = (gsize) bp->width * bp->height * bp->channels * 4;
    *out = (gsize) ow * oh * bp->channels * 4;
  }
}

static gboolean
io_init (AeVkDevice *d, IoBuffer *b, gsize size, GError **error)
{
  if (b->host.buffer)
    return TRUE;
  if (!ae_vk_buffer_init (d, &b->host, size, TRUE, error))
    return FALSE;
  /* host memory the device reads slowly: stage through device memory */
  VkMemoryRequirements req;
  d->vk.vkGetBufferMemoryRequirements (d->device, b->host.buffer, &req);
  gboolean local = FALSE;
  for (guint32 i = 0; i < d->mem.memoryTypeCount; i++)
    if ((req.memoryTypeBits & (1u << i))
        && (d->mem.memoryTypes[i].propertyFlags
            & (VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT
                | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT))
        == (VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT
            | VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT))
      local = TRUE;
  b->staged = !local;
  return !b->staged || ae_vk_buffer_init (d, &b->dev, size, FALSE, error);
}

static VkBuffer
io_device_buffer (const IoBuffer *b)
{
  return b->staged ? b->dev.buffer : b->host.buffer;
}

static VkBuffer
bound_buffer (const AeBackendPlan *bp, const Slot *sl, Kind kind, int bind)
{
  switch (bind) {
    case BIND_IN:
      return io_device_buffer (&sl->in[kind]);
    case BIND_OUT:
      return io_device_buffer (&sl->out[kind]);
    case BIND_NONE:
    case BIND_WEIGHTS:
      return bp->weights.buffer;
    default:
      return sl->acts[bind].buffer;
  }
}

static void
write_set (const AeBackendPlan *bp, const Slot *sl, Kind kind,
    VkDescriptorSet set, const int *bind, const VkDeviceSize *offset)
{
  VkDescriptorBufferInfo bi[4];
  VkWriteDescriptorSet w[4];
  for (int k = 0; k < 4; k++) {
    bi[k] = (VkDescriptorBufferInfo) {
      bound_buffer (bp, sl, kind, bind[k]), offset ? offset[k] : 0,
          VK_WHOLE_SIZE
    };
    w[k] = (VkWriteDescriptorSet) {
      .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
      .dstSet = set,
      .dstBinding = k,
      .descriptorCount = 1,
      .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
      .pBufferInfo = &bi[k],
    };
  }
  bp->d->vk.vkUpdateDescriptorSets (bp->d->device, 4, w, 0, NULL);
}

static void
barrier (const AeVkDevice *d, VkCommandBuffer cb, VkPipelineStageFlags src,
    VkAccessFlags src_access, VkPipelineStageFlags dst,
    VkAccessFlags dst_access)
{
  VkMemoryBarrier mb = {
    .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
    .srcAccessMask = src_access,
    .dstAccessMask = dst_access,
  };
  d->vk.vkCmdPipelineBarrier (cb, src, dst, 0, 1, &mb, 0, NULL, 0, NULL);
}

static void
compute_barrier (const AeVkDevice *d, VkCommandBuffer cb)
{
  barrier (d, cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
      VK_ACCESS_SHADER_WRITE_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
      VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
}

static gint64
groups (gint64 n, int per)
{
  return (n + per - 1) / per;
}

static void
dispatch (const AeBackendPlan *bp, VkCommandBuffer cb, VkPipeline pipeline,
    VkDescriptorSet set, const AeVkPush *push, gint64 n_groups, guint32 gy)
{
  const AeVkDevice *d = bp->d;
  d->vk.vkCmdBindPipeline (cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
  d->vk.vkCmdBindDescriptorSets (cb, VK_PIPELINE_BIND_POINT_COMPUTE,
      d->pipeline_layout, 0, 1, &set, 0, NULL);
  d->vk.vkCmdPushConstants (cb, d->pipeline_layout,
      VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof *push, push);
  ae_vk_cmd_dispatch (bp->d, cb, n_groups, gy);
  compute_barrier (d, cb);
}

/* A node's dispatch on one tile, whose node shapes are @s. */
static void
record_node (const AeBackendPlan *bp, const Slot *sl, VkCommandBuffer cb,
    guint di, const AeShape *s)
{
  const Dispatch *dp = &g_array_index (bp->dispatches, Dispatch, di);
  const AeNode *nd = ae_graph_get_node (bp->graph, dp->node);
  const AeShape *in = &s[nd->inputs[dp->input]], *out = &s[dp->node];
  AeVkPush pc = { {in->w, in->h, out->w, out->h}, {in->c, out->c} };
  gint64 n_out = (gint64) out->w * out->h * out->c;
  gint64 n_groups;
  guint32 gy = 1;

  switch (dp->shader) {
    case AE_VK_SHADER_CONV_GEMM:
      n_groups = groups ((gint64) out->w * out->h, 1024 / dp->spec[9]);
      gy = groups (out->c, dp->spec[9]);
      break;
    case AE_VK_SHADER_CONV_DIRECT:
      n_groups = groups ((gint64) out->w * out->h, 64);
      gy = groups (out->c, 4);
      break;
    case AE_VK_SHADER_ELTWISE:
      if (nd->op == AE_OP_CONCAT) {
        gint64 n_in = (gint64) in->w * in->h * in->c;
        pc.a[0] = n_in;
        pc.b[0] = in->c;
        pc.b[1] = out->c;
        pc.b[2] = dp->concat_offset;
        n_groups = groups (n_in, 64);
      } else {
        pc.a[0] = n_out;
        n_groups = groups (n_out, 64);
      }
      break;
    default:
      n_groups = groups (n_out, 64);
      break;
  }
  dispatch (bp, cb, dp->pipeline, sl->sets[di], &pc, n_groups, gy);
}

static void
timestamp (const AeBackendPlan *bp, const Slot *sl, VkCommandBuffer cb,
    guint32 q)
{
  if (sl->queries)
    bp->d->vk.vkCmdWriteTimestamp (cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
        sl->queries, q);
}

static void
copy_whole (const AeVkDevice *d, VkCommandBuffer cb, const AeVkBuffer *src,
    const AeVkBuffer *dst)
{
  VkBufferCopy r = { 0, 0, src->size };
  d->vk.vkCmdCopyBuffer (cb, src->buffer, dst->buffer, 1, &r);
}

/* The pushes of the input and output conversions of tile @t. */
static void
conversion_push (const AeBackendPlan *bp, const AeTile *t, const AeFrame *f,
    AeVkPush *in, AeVkPush *out, gint64 *in_n, gint64 *out_n)
{
  const int s = bp->scale, C = bp->channels;
  const int ow = bp->width * s, oh = bp->height * s;
  int x0 = t->cx0 * s, y0 = t->cy0 * s;
  int x1 = MIN (t->cx1 * s, ow), y1 = MIN (t->cy1 * s, oh);

  memset (in, 0, sizeof *in);
  memset (out, 0, sizeof *out);
  in->a[0] = t->ix0;
  in->a[1] = t->iy0;
  in->a[2] = t->iw;
  in->a[3] = t->ih;
  out->a[0] = x0;
  out->a[1] = y0;
  out->a[2] = x1;
  out->a[3] = y1;
  out->d[0] = (t->cx0 - t->ix0) * s;
  out->d[1] = (t->cy0 - t->iy0) * s;
  out->d[2] = t->iw * s;
  out->d[3] = s;
  if (!f) {
    in->b[0] = bp->width;
    in->b[1] = bp->height;
    out->b[0] = ow;
    out->b[1] = oh;
    in->b[2] = out->b[2] = C;
    *in_n = (gint64) t->iw * t->ih * C;
    *out_n = (gint64) (x1 - x0) * (y1 - y0) * C;
    return;
  }
  const int bpp = formats[f->format].bpp;
  float k[3];
  ae_matrix_weights (f->matrix, k);
  in->b[0] = bp->width;
  in->b[1] = bp->height;
  in->b[2] = pitch_words (bp->width, bpp);
  in->b[3] = bpp;
  in->c[0] = formats[f->format].r;
  in->c[1] = formats[f->format].g;
  in->c[2] = formats[f->format].b;
  in->c[3] = C;
  out->b[0] = ow;
  out->b[1] = oh;
  out->b[2] = pitch_words (ow, bpp);
  out->b[3] = bpp;
  out->c[0] = formats[f->format].r;
  out->c[1] = formats[f->format].g;
  out->c[2] = formats[f->format].b;
  out->c[3] = formats[f->format].a;
  out->e[0] = bp->width;
  out->e[1] = bp->height;
  out->e[2] = in->b[2];
  out->e[3] = C;
  in->f[0] = out->f[0] = k[0];
  in->f[1] = out->f[1] = k[1];
  in->f[2] = out->f[2] = k[2];
  *in_n = (gint64) t->iw * t->ih;
  *out_n = (gint64) (((x1 * bpp + 3) >> 2) - ((x0 * bpp) >> 2)) * (y1 - y0);
}

static gboolean
record (AeBackendPlan *bp, Slot *sl, Kind kind, const AeFrame *f,
    GError **error)
{
  AeVkDevice *d = bp->d;
  VkCommandBuffer cb = sl->cb;
  const int out_node = ae_graph_get_output (bp->graph);
  g_autofree AeShape *s = g_new0 (AeShape, bp->n_nodes);
  guint32 zero_spec[AE_VK_N_SPEC] = { 0 }, out_spec[AE_VK_N_SPEC] = { 1 };
  AeVkShader in_shader = kind == KIND_FRAME ? AE_VK_SHADER_FRAME_IN
      : AE_VK_SHADER_TENSOR_IO;
  AeVkShader out_shader = kind == KIND_FRAME ? AE_VK_SHADER_FRAME_OUT
      : AE_VK_SHADER_TENSOR_IO;
  VkPipeline pin = ae_vk_pipeline_get (d, in_shader, d->fp16, zero_spec,
      error);
  VkPipeline pout = pin ? ae_vk_pipeline_get (d, out_shader, d->fp16,
      kind == KIND_FRAME ? zero_spec : out_spec, error) : VK_NULL_HANDLE;
  const IoBuffer *in = &sl->in[kind], *out = &sl->out[kind];
  VkDescriptorSet set_in = sl->sets[conversion_set (bp, kind, FALSE)];
  VkDescriptorSet set_out = sl->sets[conversion_set (bp, kind, TRUE)];
  guint32 q = 0;

  if (!pout)
    return FALSE;
  /* descriptor sets: the graph's, then the conversions' */
  for (guint i = 0; i < bp->dispatches->len; i++) {
    const Dispatch *dp = &g_array_index (bp->dispatches, Dispatch, i);
    write_set (bp, sl, kind, sl->sets[i], dp->bind, dp->offset);
  }
  const int bind_in[4] = { BIND_NONE, kind == KIND_FRAME ? BIND_NONE : BIND_IN,
    BIND_NONE, bp->buffer_of[0]
  };
  const int bind_frame_in[4] = { BIND_IN, BIND_NONE, BIND_NONE,
    bp->buffer_of[0]
  };
  const int bind_out[4] = { bp->buffer_of[out_node],
    kind == KIND_FRAME ? BIND_IN : BIND_NONE, BIND_NONE, BIND_OUT
  };
  write_set (bp, sl, kind, set_in, kind == KIND_FRAME ? bind_frame_in
      : bind_in, NULL);
  write_set (bp, sl, kind, set_out, bind_out, NULL);

  AE_VK_CHECK (d->vk.vkResetCommandBuffer (cb, 0));
  VkCommandBufferBeginInfo bi = {
    .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
  };
  AE_VK_CHECK (d->vk.vkBeginCommandBuffer (cb, &bi));
  if (sl->queries)
    d->vk.vkCmdResetQueryPool (cb, sl->queries, 0, bp->n_queries);
  timestamp (bp, sl, cb, q++);
  if (in->staged)
    copy_whole (d, cb, &in->host, &in->dev);
  /* also when nothing is copied here: the weights' staged upload, an
   * earlier submission, becomes visible to the shaders only through a
   * barrier from the transfer stage */
  barrier (d, cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
      VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
      VK_ACCESS_SHADER_READ_BIT);
  for (int t = 0; t < bp->n_tiles; t++) {
    const AeTile *tile = &bp->tiles[t];
    AeVkPush push_in, push_out;
    gint64 n_in, n_out;
    guint di = 0;

    if (!ae_graph_infer_shapes (bp->graph, tile->iw, tile->ih, s, error))
      return FALSE;
    conversion_push (bp, tile, kind == KIND_FRAME ? f : NULL, &push_in,
        &push_out, &n_in, &n_out);
    dispatch (bp, cb, pin, set_in, &push_in, groups (n_in, 64), 1);
    timestamp (bp, sl, cb, q++);
    for (int node = 1; node < bp->n_nodes; node++) {
      for (; di < bp->dispatches->len && g_array_index (bp->dispatches,
              Dispatch, di).node == node; di++)
        record_node (bp, sl, cb, di, s);
      timestamp (bp, sl, cb, q++);
    }
    dispatch (bp, cb, pout, set_out, &push_out, groups (n_out, 64), 1);
    timestamp (bp, sl, cb, q++);
  }
  if (out->staged) {
    barrier (d, cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
        VK_ACCESS_SHADER_WRITE_BIT, VK_PIPELINE_STAGE_TRANSFER_BIT,
        VK_ACCESS_TRANSFER_READ_BIT);
    copy_whole (d, cb, &out->dev, &out->host);
    barrier (d, cb, VK_PIPELINE_STAGE_TRANSFER_BIT,
        VK_ACCESS_TRANSFER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
        VK_ACCESS_HOST_READ_BIT);
  } else {
    barrier (d, cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
        VK_ACCESS_SHADER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
        VK_ACCESS_HOST_READ_BIT);
  }
  AE_VK_CHECK (d->vk.vkEndCommandBuffer (cb));
  return TRUE;
error:
  return FALSE;
}

static gboolean
vk_submit (AeBackendPlan *bp, int slot, const AeBackendIo *io,
    GError **error)
{
  Slot *sl = &bp->slots[slot];
  Kind kind = io->in ? KIND_FRAME : KIND_TENSOR;
  gsize in_size, out_size;
  gint64 t0 = g_get_monotonic_time ();

  g_return_val_if_fail (slot >= 0 && slot < MAX_SLOTS && !sl->busy, FALSE);
  io_sizes (bp, kind, &in_size, &out_size);
  if (!io_init (bp->d, &sl->in[kind], in_size, error)
      || !io_init (bp->d, &sl->out[kind], out_size, error))
    return FALSE;
  /* the frame's kind: tensor, or format and matrix */
  int key = kind == KIND_FRAME ?
      1 + io->in->format * AE_N_MATRICES + io->in->matrix : 0;
  if (!sl->recorded || sl->key != key) {
    sl->recorded = FALSE;
    if (!record (bp, sl, kind, io->in, error))
      return FALSE;
    sl->recorded = TRUE;
    sl->key = key;
  }

  guint8 *dst = sl->in[kind].host.map;
  if (kind == KIND_FRAME) {
    const AeFrame *f = io->in;
    gsize row = (gsize) f->width * formats[f->format].bpp;
    gsize pitch = pitch_words (f->width, formats[f->format].bpp) * 4;
    for (int y = 0; y < f->height; y++)
      memcpy (dst + y * pitch, f->data + y * f->stride, row);
  } else {
    memcpy (dst, io->tin, in_size);
  }
  sl->host_upload = (g_get_monotonic_time () - t0) * 1e-6;
  if (!ae_vk_submit (bp->d, sl->cb, sl->fence, error))
    return FALSE;
  sl->io = *io;
  sl->busy = TRUE;
  return TRUE;
}

/* Adds the slot's timestamps to the profile table. */
static void
add_profile (AeBackendPlan *bp, Slot *sl)
{
  AeVkDevice *d = bp->d;
  g_autofree guint64 *ts = g_new0 (guint64, bp->n_queries);
  double period = d->props.limits.timestampPeriod * 1e-9;
  double *st = bp->profile + bp->n_nodes;

  if (!sl->queries || d->vk.vkGetQueryPoolResults (d->device, sl->queries, 0,
          bp->n_queries, sizeof (guint64) * bp->n_queries, ts,
          sizeof (guint64), VK_QUERY_RESULT_64_BIT) != VK_SUCCESS)
    return;
  guint64 prev = ts[0];
  for (int t = 0, q = 1; t < bp->n_tiles; t++) {
    st[AE_PROFILE_UPLOAD] += (ts[q] - prev) * period;
    prev = ts[q++];
    for (int node = 1; node < bp->n_nodes; node++, q++) {
      bp->profile[node] += (ts[q] - prev) * period;
      st[AE_PROFILE_COMPUTE] += (ts[q] - prev) * period;
      prev = ts[q];
    }
    st[AE_PROFILE_DOWNLOAD] += (ts[q] - prev) * period;
    prev = ts[q++];
  }
}

static gboolean
vk_wait (AeBackendPlan *bp, int slot, GError **error)
{
  Slot *sl = &bp->slots[slot];
  AeVkDevice *d = bp->d;

  g_return_val_if_fail (slot >= 0 && slot < MAX_SLOTS && sl->busy, FALSE);
  sl->busy = FALSE;
  if (!ae_vk_wait (d, sl->fence, error))
    return FALSE;
  if (!ae_vk_result (d->vk.vkResetFences (d->device, 1, &sl->fence),
          "vkResetFences", error))
    return FALSE;

  gint64 t0 = g_get_monotonic_time ();
  const AeBackendIo *io = &sl->io;
  Kind kind = io->in ? KIND_FRAME : KIND_TENSOR;
  const guint8 *src = sl->out[kind].host.map;
  if (kind == KIND_FRAME) {
    AeFrame *f = io->out;
    gsize row = (gsize) f->width * formats[f->format].bpp;
    gsize pitch = pitch_words (f->width, formats[f->format].bpp) * 4;
    for (int y = 0; y < f->height; y++)
      memcpy (f->data + y * f->stride, src + y * pitch, row);
  } else {
    gsize in_size, out_size;
    io_sizes (bp, kind, &in_size, &out_size);
    memcpy (io->tout, src, out_size);
  }
  if (bp->profile) {
    add_profile (bp, sl);
    bp->profile[bp->n_nodes + AE_PROFILE_UPLOAD] += sl->host_upload;
    bp->profile[bp->n_nodes + AE_PROFILE_DOWNLOAD] +=
        (g_get_monotonic_time () - t0) * 1e-6;
  }
  return TRUE;
}

static void
vk_set_profile (AeBackendPlan *bp, double *seconds)
{
  bp->profile = seconds;
}

static gsize
vk_max_tensor_bytes (gpointer device)
{
  AeVkDevice *d = device;
  return d->props.limits.maxStorageBufferRange;
}

const AeBackend ae_vk_backend = {
  .name = "vulkan",
  .plan_free = vk_plan_free,
  .set_profile = vk_set_profile,
  .plan_new_on = vk_plan_new_on,
  .submit = vk_submit,
  .wait = vk_wait,
  .n_slots = MAX_SLOTS,
  .max_tensor_bytes = vk_max_tensor_bytes,
};
