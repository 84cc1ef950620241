/* fma_peak.comp: the device's fp32 arithmetic peak, for the benchmark.
 * Each of the pc.a.x invocations runs ITERS rounds of 8 independent vec4
 * FMA chains (64 FLOPs a round) and stores their sum so nothing is
 * optimised away; the dispatch may round up past them. */
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(constant_id = 0) const int ITERS = 1024;

layout(std430, binding = 3) writeonly buffer Out { float y[]; };

void
main ()
{
  const int i = flat_index ();
  if (i >= pc.a.x)
    return;
  vec4 a = vec4 (float (i) * 1e-9), m = vec4 (0.999999), c = vec4 (1e-7);
  vec4 r0 = a, r1 = a + 1.0, r2 = a + 2.0, r3 = a + 3.0;
  vec4 r4 = a + 4.0, r5 = a + 5.0, r6 = a + 6.0, r7 = a + 7.0;
  for (int k = 0; k < ITERS; k++) {
    r0 = fma (r0, m, c);
    r1 = fma (r1, m, c);
    r2 = fma (r2, m, c);
    r3 = fma (r3, m, c);
    r4 = fma (r4, m, c);
    r5 = fma (r5, m, c);
    r6 = fma (r6, m, c);
    r7 = fma (r7, m, c);
  }
  vec4 s = r0 + r1 + r2 + r3 + r4 + r5 + r6 + r7;
  y[i] = s.x + s.y + s.z + s.w;
}
