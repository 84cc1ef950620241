/* eltwise.comp: per-element ops. MODE 0: y = act(x) (the `act` node);
 * 1: y = x + x1 (`add`, chained for more inputs); 2: copies x (CI
 * channels) into channels [OFF, OFF+CI) of y (CO channels) (`concat`). */
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(constant_id = 0) const int MODE = 0;
layout(constant_id = 1) const int ACT = 0;
layout(constant_id = 2) const float SLOPE = 0.01;

layout(std430, binding = 0) readonly buffer In { ELEM x[]; };
layout(std430, binding = 1) readonly buffer In1 { ELEM x1[]; };
layout(std430, binding = 3) buffer Out { ELEM y[]; };

void
main ()
{
  const int i = flat_index ();
  if (i >= pc.a.x)
    return;
  if (MODE == 0) {
    y[i] = TO_ELEM (activate (float (x[i]), ACT, SLOPE));
  } else if (MODE == 1) {
    y[i] = TO_ELEM (float (x[i]) + float (x1[i]));
  } else {
    const int ci = pc.b.x, co = pc.b.y, off = pc.b.z;
    y[(i / ci) * co + off + i % ci] = x[i];
  }
}
