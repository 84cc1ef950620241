/* tensor_io.comp: C x H x W float tensors (ae_plan_run_tensor) to and from
 * a tile's H x W x C network floats. OUT 0: a tile of the input, mirrored
 * past the edges (a = tile x0, y0, w, h; b = tensor w, h, channels).
 * OUT 1: a region of the tile output into the output tensor (a = region
 * x0, y0, x1, y1; b = tensor w, h, channels; d = region origin in the tile
 * output, tile output width). */
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(constant_id = 0) const int OUT = 0;

layout(std430, binding = 0) readonly buffer Src { ELEM v[]; };
layout(std430, binding = 1) readonly buffer Tensor { float t[]; };
layout(std430, binding = 3) writeonly buffer Dst { ELEM y[]; };
layout(std430, binding = 3) writeonly buffer DstT { float ty[]; };

void
main ()
{
  const int i = flat_index ();
  const int W = pc.b.x, H = pc.b.y, C = pc.b.z;

  if (OUT == 0) {
    const int w = pc.a.z;
    if (i >= w * pc.a.w * C)
      return;
    int c = i % C, p = i / C;
    int x = mirror (pc.a.x + p % w, W), yy = mirror (pc.a.y + p / w, H);
    y[i] = TO_ELEM (t[(c * H + yy) * W + x]);
  } else {
    const int rw = pc.a.z - pc.a.x, rh = pc.a.w - pc.a.y;
    if (i >= rw * rh * C)
      return;
    int c = i % C, p = i / C;
    int rx = p % rw, ry = p / rw;
    float val = float (v[((ry + pc.d.y) * pc.d.z + rx + pc.d.x) * C + c]);
    ty[(c * H + pc.a.y + ry) * W + pc.a.x + rx] = val;
  }
}
