/* ae-backward.h: gradients of the version-1 ops, for one sample.
 *
 * Tensors are channels-last (H x W x C) like the CPU forward ops in
 * compute/cpu/, whose exact semantics these differentiate. Every function is
 * serial and ADDS into the gradients it is given, so a node read by several
 * others accumulates their contributions; the trainer parallelises over the
 * samples of a batch instead.
 */
#pragma once

#include "ae-graph.h"
#include "ae-cpu-ops.h"

G_BEGIN_DECLS

/* Floats of scratch ae_backward_conv() needs for a node whose input has
 * shape @in and output @out. */
gsize ae_backward_conv_scratch (const AeNode *node, AeShape in, AeShape out);

/* Multiplies @dy in place by the derivative of @act at the point that
 * produced @y (every activation's derivative is a function of its output). */
void ae_backward_act (AeAct act, float slope, const float *y, float *dy,
    gsize n);

/* A conv node's weights (PyTorch layout) packed for the functions below:
 * conv2d as ae_cpu_pack_weight() packs them ([ky][kx][ci][co]),
 * conv_transpose2d as [ci][ky][kx][co]. g_free() the result. */
float *ae_backward_pack_weight (const AeNode *node, const float *weight);

/* conv2d or conv_transpose2d. @dy is the gradient with respect to the
 * node's pre-activation output (apply ae_backward_act first). @w is packed
 * by ae_backward_pack_weight(), and @dw has the same layout; @db may be
 * NULL without bias, @dx NULL when the input needs no gradient. */
void ae_backward_conv (const AeNode *node, AeCpuIn x, const float *dy,
    AeShape ys, const float *w, float *dx, float *dw, float *db,
    float *scratch);

/* The forward of conv_transpose2d (bias and activation included) as the
 * trainer runs it: conv2d's data gradient, one GEMM and col2im, on the
 * same packed weights as its backward (the engine's phase convs want
 * another layout, which the trainer would repack every step). @w is packed
 * by ae_backward_pack_weight(); @scratch as for ae_backward_conv(). */
void ae_backward_conv_transpose2d_forward (const AeNode *node, AeCpuIn x,
    const float *w, const float *bias, float *y, AeShape ys, float *scratch);

/* Every other op. @y is the node's output, @dy its gradient; @dx[k] is the
 * gradient of input k, or NULL. */
void ae_backward_simple (const AeNode *node, const AeCpuIn *ins,
    const float *y, AeShape ys, const float *dy, float *const *dx);

/* Adds a gradient packed like ae_backward_pack_weight()'s output to @grad
 * in PyTorch layout. */
void ae_backward_unpack_weight (const AeNode *node, const float *packed,
    float *grad);

G_END_DECLS
