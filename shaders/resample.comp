/* resample.comp: pixel_shuffle (OP 0, PyTorch's channel order),
 * pixel_unshuffle (1), upsample nearest (2) and bilinear (3, PyTorch's
 * align_corners=False). One invocation per output element. */
#version 450
#include "common.glsl"

layout(local_size_x = 64) in;

layout(constant_id = 0) const int OP = 0;
layout(constant_id = 1) const int F = 2;

layout(std430, binding = 0) readonly buffer In { ELEM x[]; };
layout(std430, binding = 3) writeonly buffer Out { ELEM y[]; };

/* Bilinear source of destination @d: index @i0 and the next one's weight
 * @w, clamped to 0 .. @n - 1 */
void
bilinear_source (int d, int n, out int i0, out float w)
{
  int q = d / F;
  float t = (float (d % F) + 0.5) / float (F) - 0.5;
  if (t < 0.0) {
    q--;
    t += 1.0;
  }
  if (q < 0) {
    q = 0;
    t = 0.0;
  }
  if (q > n - 1) {
    q = n - 1;
    t = 0.0;
  }
  i0 = q;
  w = t;
}

void
main ()
{
  const int in_w = pc.a.x, in_h = pc.a.y, out_w = pc.a.z, out_h = pc.a.w;
  const int ic = pc.b.x, oc = pc.b.y;
  const int i = flat_index ();
  if (i >= out_w * out_h * oc)
    return;
  const int c = i % oc, p = i / oc;
  const int oy = p / out_w, ox = p % out_w;

  if (OP == 0) {
    int sub = (oy % F) * F + ox % F;
    y[i] = x[((oy / F) * in_w + ox / F) * ic + c * F * F + sub];
  } else if (OP == 1) {
    int ch = c / (F * F), sub = c % (F * F);
    int sy = oy * F + sub / F, sx = ox * F + sub % F;
    y[i] = x[(sy * in_w + sx) * ic + ch];
  } else if (OP == 2) {
    y[i] = x[((oy / F) * in_w + ox / F) * ic + c];
  } else {
    /* source (d + 0.5) / F - 0.5, its weight from d's phase (tiles give
     * the whole frame's bits; as the CPU's bilinear_source ()) */
    int y0, x0;
    float ay, ax;
    bilinear_source (oy, in_h, y0, ay);
    bilinear_source (ox, in_w, x0, ax);
    int y1 = min (y0 + 1, in_h - 1), x1 = min (x0 + 1, in_w - 1);
    float a = float (x[(y0 * in_w + x0) * ic + c]);
    float b = float (x[(y0 * in_w + x1) * ic + c]);
    float cc = float (x[(y1 * in_w + x0) * ic + c]);
    float d = float (x[(y1 * in_w + x1) * ic + c]);
    y[i] = TO_ELEM ((1.0 - ay) * ((1.0 - ax) * a + ax * b)
        + ay * ((1.0 - ax) * cc + ax * d));
  }
}
