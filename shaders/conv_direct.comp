/* conv_direct.comp: convolution for thin layers (few input or output
 * channels: the first and last layers of an image network), where a GEMM
 * tile would be mostly padding. One invocation computes 4 output channels
 * of one pixel, reading taps straight from the input. Also transposed
 * convolution (TRANSPOSED = 1), gathered like the CPU backend: output
 * (oy, ox) takes input (iy, ix) through tap (ky, kx) when
 * oy = iy*stride - pad + ky*dil.
 */
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(constant_id = 0) const int CI = 1;
layout(constant_id = 1) const int CO = 1;
layout(constant_id = 2) const int KS = 3;
layout(constant_id = 3) const int STRIDE = 1;
layout(constant_id = 4) const int PAD = 1;
layout(constant_id = 5) const int DIL = 1;
layout(constant_id = 6) const int ACT = 0;
layout(constant_id = 7) const float SLOPE = 0.01;
layout(constant_id = 8) const int HAS_BIAS = 0;
layout(constant_id = 10) const int TRANSPOSED = 0;

layout(std430, binding = 0) readonly buffer In { ELEM x[]; };
layout(std430, binding = 1) readonly buffer W { ELEM w[]; };
layout(std430, binding = 2) readonly buffer B { float bias[]; };
layout(std430, binding = 3) writeonly buffer Out { ELEM y[]; };

vec4
weights4 (int k, int c)
{
  int base = k * CO + c;
  return vec4 (float (w[base]),
      c + 1 < CO ? float (w[base + 1]) : 0.0,
      c + 2 < CO ? float (w[base + 2]) : 0.0,
      c + 3 < CO ? float (w[base + 3]) : 0.0);
}

void
main ()
{
  const int in_w = pc.a.x, in_h = pc.a.y, out_w = pc.a.z, out_h = pc.a.w;
  const int p = flat_index ();
  const int c = int (gl_WorkGroupID.y) * 4;
  if (p >= out_w * out_h)
    return;
  const int oy = p / out_w, ox = p % out_w;
  vec4 acc = vec4 (0.0);

  for (int ky = 0; ky < KS; ky++) {
    int iy;
    if (TRANSPOSED != 0) {
      int ty = oy + PAD - ky * DIL;
      if (ty < 0 || ty % STRIDE != 0)
        continue;
      iy = ty / STRIDE;
    } else {
      iy = oy * STRIDE - PAD + ky * DIL;
    }
    if (iy < 0 || iy >= in_h)
      continue;
    for (int kx = 0; kx < KS; kx++) {
      int ix;
      if (TRANSPOSED != 0) {
        int tx = ox + PAD - kx * DIL;
        if (tx < 0 || tx % STRIDE != 0)
          continue;
        ix = tx / STRIDE;
      } else {
        ix = ox * STRIDE - PAD + kx * DIL;
      }
      if (ix < 0 || ix >= in_w)
        continue;
      int src = (iy * in_w + ix) * CI;
      int k = (ky * KS + kx) * CI;
      for (int i = 0; i < CI; i++)
        acc += float (x[src + i]) * weights4 (k + i, c);
    }
  }
  for (int j = 0; j < 4 && c + j < CO; j++) {
    float v = acc[j] + (HAS_BIAS != 0 ? bias[c + j] : 0.0);
    y[p * CO + c + j] = TO_ELEM (activate (v, ACT, SLOPE));
  }
}
