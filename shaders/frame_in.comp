/* frame_in.comp: one tile of an 8-bit frame to network input floats, as
 * ae_frame_read() does: GRAY8 to luma, Y' from RGB formats for luma
 * models, R G B for rgb models; coordinates past the frame mirrored.
 * push: a = tile (x0, y0, w, h); b = frame (w, h, pitch words, bpp);
 * c = byte offsets of (r, g, b), channels; f = Y' weights (kr, kg, kb). */
#version 450
#include "common.glsl"
#include "frame.glsl"

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Frame { uint px[]; };
layout(std430, binding = 3) writeonly buffer Out { ELEM y[]; };

uint
frame_byte (int x, int y, int off)
{
  int o = y * pc.b.z * 4 + x * pc.b.w + off;
  return byte_at (px[o >> 2], o & 3);
}

void
main ()
{
  const int i = flat_index ();
  const int w = pc.a.z, nc = pc.c.w;
  if (i >= w * pc.a.w)
    return;
  const int x = mirror (pc.a.x + i % w, pc.b.x);
  const int yy = mirror (pc.a.y + i / w, pc.b.y);
  const float s = 1.0 / 255.0;

  if (pc.b.w == 1) {
    float v = float (frame_byte (x, yy, 0)) * s;
    for (int c = 0; c < nc; c++)
      y[i * nc + c] = TO_ELEM (v);
    return;
  }
  float r = float (frame_byte (x, yy, pc.c.x));
  float g = float (frame_byte (x, yy, pc.c.y));
  float b = float (frame_byte (x, yy, pc.c.z));
  if (nc == 1) {
    y[i] = TO_ELEM ((pc.f.x * r + pc.f.y * g + pc.f.z * b) * s);
  } else {
    y[i * 3 + 0] = TO_ELEM (r * s);
    y[i * 3 + 1] = TO_ELEM (g * s);
    y[i * 3 + 2] = TO_ELEM (b * s);
  }
}
