/* conv_gemm.comp: convolution as an implicit GEMM, the general case.
 *
 * A workgroup computes TP output pixels x TC output channels; the K = k*k*CI
 * reduction runs in steps of TK through shared memory: the im2col rows of
 * the group's pixels (gathered straight from the input, zero outside it)
 * and the matching weight rows. Each of the 64 invocations holds a 4 x 4
 * register block. Bias and activation are applied before the one store.
 * Weights are [ky][kx][ci][co] (a K x CO matrix), as the CPU packs them.
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
/* output channels per workgroup: 16 or 32 */
layout(constant_id = 9) const int TC = 16;

const int TK = 16;
const int TP = 1024 / TC;       /* 64 invocations x 16 outputs / TC */
const int K = KS * KS * CI;

layout(std430, binding = 0) readonly buffer In { ELEM x[]; };
layout(std430, binding = 1) readonly buffer W { ELEM w[]; };
layout(std430, binding = 2) readonly buffer B { float bias[]; };
layout(std430, binding = 3) writeonly buffer Out { ELEM y[]; };

shared float As[TK * TP];
shared float Bs[TK * TC];

void
main ()
{
  const int in_w = pc.a.x, in_h = pc.a.y, out_w = pc.a.z, out_h = pc.a.w;
  const int npix = out_w * out_h;
  const int tid = int (gl_LocalInvocationID.x);
  const int p0 = flat_group () * TP;
  const int c0 = int (gl_WorkGroupID.y) * TC;
  const int tp = (tid % (TP / 4)) * 4;
  const int tc = (tid / (TP / 4)) * 4;
  vec4 acc[4] = vec4[4] (vec4 (0.0), vec4 (0.0), vec4 (0.0), vec4 (0.0));

  for (int k0 = 0; k0 < K; k0 += TK) {
    for (int e = tid; e < TK * TP; e += 64) {
      int kk = e / TP, pp = e % TP;
      int k = k0 + kk, p = p0 + pp;
      float v = 0.0;
      if (k < K && p < npix) {
        int ci = k % CI, t = k / CI;
        int kx = t % KS, ky = t / KS;
        int oy = p / out_w, ox = p % out_w;
        int iy = oy * STRIDE - PAD + ky * DIL;
        int ix = ox * STRIDE - PAD + kx * DIL;
        if (iy >= 0 && iy < in_h && ix >= 0 && ix < in_w)
          v = float (x[(iy * in_w + ix) * CI + ci]);
      }
      As[e] = v;
    }
    for (int e = tid; e < TK * TC; e += 64) {
      int kk = e / TC, cc = e % TC;
      int k = k0 + kk, c = c0 + cc;
      Bs[e] = k < K && c < CO ? float (w[k * CO + c]) : 0.0;
    }
    barrier ();
    for (int kk = 0; kk < TK; kk++) {
      vec4 a = vec4 (As[kk * TP + tp], As[kk * TP + tp + 1],
          As[kk * TP + tp + 2], As[kk * TP + tp + 3]);
      vec4 b = vec4 (Bs[kk * TC + tc], Bs[kk * TC + tc + 1],
          Bs[kk * TC + tc + 2], Bs[kk * TC + tc + 3]);
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    barrier ();
  }

  for (int i = 0; i < 4; i++) {
    int p = p0 + tp + i;
    if (p >= npix)
      break;
    for (int j = 0; j < 4; j++) {
      int c = c0 + tc + j;
      if (c < CO) {
        float v = acc[i][j] + (HAS_BIAS != 0 ? bias[c] : 0.0);
        y[p * CO + c] = TO_ELEM (activate (v, ACT, SLOPE));
      }
    }
  }
}
