/* ae-weight-grad.h: conv2d's weight gradient on the CPU's widest kernels. */
#pragma once

#include "ae-graph.h"
#include "ae-cpu-ops.h"

G_BEGIN_DECLS

/* Adds conv2d @node's weight gradient for input @x and output gradient @dy
 * (shape @ys, before the activation) to @dw, packed [ky][kx][ci][co] as
 * ae_cpu_pack_weight() packs weights. FALSE, with nothing done, where it
 * does not apply (no AVX-512, AE_CPU_CONV set, fewer than 8 outputs): the
 * caller then takes im2col + sgemm. */
gboolean ae_weight_grad_direct (const AeNode *node, AeCpuIn x,
    const float *dy, AeShape ys, float *dw);

G_END_DECLS
