/* pool.comp: max_pool2d (IS_MAX 1) and avg_pool2d (0; padding counts in
 * the divisor, PyTorch's count_include_pad default). */
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(constant_id = 0) const int IS_MAX = 1;
layout(constant_id = 1) const int KS = 2;
layout(constant_id = 2) const int STRIDE = 2;
layout(constant_id = 3) const int PAD = 0;

layout(std430, binding = 0) readonly buffer In { ELEM x[]; };
layout(std430, binding = 3) writeonly buffer Out { ELEM y[]; };

void
main ()
{
  const int in_w = pc.a.x, in_h = pc.a.y, out_w = pc.a.z, out_h = pc.a.w;
  const int C = pc.b.x;
  const int i = flat_index ();
  if (i >= out_w * out_h * C)
    return;
  const int c = i % C, p = i / C;
  const int oy = p / out_w, ox = p % out_w;
  float acc = IS_MAX != 0 ? -1.0 / 0.0 : 0.0;

  for (int ky = 0; ky < KS; ky++) {
    int iy = oy * STRIDE - PAD + ky;
    if (iy < 0 || iy >= in_h)
      continue;
    for (int kx = 0; kx < KS; kx++) {
      int ix = ox * STRIDE - PAD + kx;
      if (ix < 0 || ix >= in_w)
        continue;
      float v = float (x[(iy * in_w + ix) * C + c]);
      /* NaN wins, as in PyTorch and on the CPU */
      acc = IS_MAX == 0 ? acc + v : acc > v || isnan (acc) ? acc : v;
    }
  }
  y[i] = TO_ELEM (IS_MAX != 0 ? acc : acc * (1.0 / float (KS * KS)));
}
