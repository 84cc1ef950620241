/* The SPIR-V of shaders/, embedded at build time (glslc -mfmt=c writes a
 * brace-enclosed list of 32-bit words: no alignment or byte-order fixups). */
#include "ae-vk-private.h"

#define SPV(name) static const guint32 name[] =

SPV (conv_gemm_f32)
#include "conv_gemm-f32.spv.h"
;
SPV (conv_gemm_f16)
#include "conv_gemm-f16.spv.h"
;
SPV (conv_direct_f32)
#include "conv_direct-f32.spv.h"
;
SPV (conv_direct_f16)
#include "conv_direct-f16.spv.h"
;
SPV (eltwise_f32)
#include "eltwise-f32.spv.h"
;
SPV (eltwise_f16)
#include "eltwise-f16.spv.h"
;
SPV (resample_f32)
#include "resample-f32.spv.h"
;
SPV (resample_f16)
#include "resample-f16.spv.h"
;
SPV (pool_f32)
#include "pool-f32.spv.h"
;
SPV (pool_f16)
#include "pool-f16.spv.h"
;
SPV (frame_in_f32)
#include "frame_in-f32.spv.h"
;
SPV (frame_in_f16)
#include "frame_in-f16.spv.h"
;
SPV (frame_out_f32)
#include "frame_out-f32.spv.h"
;
SPV (frame_out_f16)
#include "frame_out-f16.spv.h"
;
SPV (tensor_io_f32)
#include "tensor_io-f32.spv.h"
;
SPV (tensor_io_f16)
#include "tensor_io-f16.spv.h"
;
SPV (fma_peak_f32)
#include "fma_peak-f32.spv.h"
;

static const struct {
  const guint32 *code[2];
  gsize size[2];
} shaders[AE_VK_N_SHADERS] = {
#define BOTH(n) {{n##_f32, n##_f16}, {sizeof n##_f32, sizeof n##_f16}}
  [AE_VK_SHADER_CONV_GEMM] = BOTH (conv_gemm),
  [AE_VK_SHADER_CONV_DIRECT] = BOTH (conv_direct),
  [AE_VK_SHADER_ELTWISE] = BOTH (eltwise),
  [AE_VK_SHADER_RESAMPLE] = BOTH (resample),
  [AE_VK_SHADER_POOL] = BOTH (pool),
  [AE_VK_SHADER_FRAME_IN] = BOTH (frame_in),
  [AE_VK_SHADER_FRAME_OUT] = BOTH (frame_out),
  [AE_VK_SHADER_TENSOR_IO] = BOTH (tensor_io),
  [AE_VK_SHADER_FMA_PEAK] = {{fma_peak_f32, NULL}, {sizeof fma_peak_f32, 0}},
#undef BOTH
};

const guint32 *
ae_vk_shader_code (AeVkShader s, gboolean f16, gsize *n_bytes)
{
  *n_bytes = shaders[s].size[f16 ? 1 : 0];
  return shaders[s].code[f16 ? 1 : 0];
}

const char *
ae_vk_shader_version (void)
{
  static char *version;

  if (g_once_init_enter (&version)) {
    GChecksum *sum = g_checksum_new (G_CHECKSUM_SHA256);
    for (int s = 0; s < AE_VK_N_SHADERS; s++)
      for (int v = 0; v < 2; v++)
        if (shaders[s].code[v])
          g_checksum_update (sum, (const guchar *) shaders[s].code[v],
              shaders[s].size[v]);
    char *hex = g_strndup (g_checksum_get_string (sum), 16);
    g_checksum_free (sum);
    g_once_init_leave (&version, hex);
  }
  return version;
}
