/* frame_out.comp: a tile's network output to an 8-bit frame, as
 * ae_frame_write() does. One invocation per 32-bit word of the region's
 * rows; bytes of the word outside the region keep their value (tiles run
 * one after another, so the read-modify-write is safe).
 * push: a = region (x0, y0, x1, y1) in output pixels, clipped;
 * b = output frame (w, h, pitch words, bpp); c = byte offsets (r, g, b, a,
 * a < 0: none); d = (x, y) of the region's origin in the tile output, tile
 * output width, scale; e = input frame (w, h, pitch words), channels;
 * f = Y' weights (kr, kg, kb). */
#version 450
#include "common.glsl"
#include "frame.glsl"

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Src { ELEM v[]; };
layout(std430, binding = 1) readonly buffer In { uint src_px[]; };
layout(std430, binding = 3) buffer Frame { uint px[]; };

float
in_byte (int x, int y, int off)
{
  int o = y * pc.e.z * 4 + x * pc.b.w + off;
  return float (byte_at (src_px[o >> 2], o & 3));
}

/* channel @off of input pixel seen from output (ox, oy): bilinear with
 * PyTorch's align_corners=False geometry when scaled */
float
sample_in (int ox, int oy, int off)
{
  const int s = pc.d.w, iw = pc.e.x, ih = pc.e.y;
  if (s == 1)
    return in_byte (ox, oy, off);
  float fx = max ((float (ox) + 0.5) / float (s) - 0.5, 0.0);
  float fy = max ((float (oy) + 0.5) / float (s) - 0.5, 0.0);
  int x0 = min (int (fx), iw - 1), y0 = min (int (fy), ih - 1);
  int x1 = min (x0 + 1, iw - 1), y1 = min (y0 + 1, ih - 1);
  float ax = fx - float (x0), ay = fy - float (y0);
  float top = in_byte (x0, y0, off) * (1.0 - ax) + in_byte (x1, y0, off) * ax;
  float bot = in_byte (x0, y1, off) * (1.0 - ax) + in_byte (x1, y1, off) * ax;
  return top * (1.0 - ay) + bot * ay;
}

uint
pixel_byte (int x, int y, int comp)
{
  const int nc = pc.e.w, s = pc.d.w;
  const int src = ((y - pc.a.y + pc.d.y) * pc.d.z + x - pc.a.x + pc.d.x) * nc;
  const vec3 k = pc.f.xyz;

  if (pc.b.w == 1) {
    float l = nc == 1 ? float (v[src]) : k.x * float (v[src])
        + k.y * float (v[src + 1]) + k.z * float (v[src + 2]);
    return to_u8 (l);
  }
  if (comp == pc.c.w)
    return uint (in_byte (min (x / s, pc.e.x - 1), min (y / s, pc.e.y - 1),
            comp));
  int ch = comp == pc.c.x ? 0 : comp == pc.c.y ? 1 : 2;
  if (nc == 3)
    return to_u8 (float (v[src + ch]));
  vec3 rgb = vec3 (sample_in (x, y, pc.c.x), sample_in (x, y, pc.c.y),
      sample_in (x, y, pc.c.z));
  float dy = float (v[src]) - (k.x * rgb.x + k.y * rgb.y + k.z * rgb.z)
      / 255.0;
  return to_u8 (rgb[ch] / 255.0 + dy);
}

void
main ()
{
  const int bpp = pc.b.w;
  const int w0 = (pc.a.x * bpp) >> 2, w1 = (pc.a.z * bpp + 3) >> 2;
  const int words = w1 - w0;
  const int i = flat_index ();
  if (words <= 0 || i >= words * (pc.a.w - pc.a.y))
    return;
  const int y = pc.a.y + i / words, word = w0 + i % words;
  const int at = y * pc.b.z + word;
  uint val = px[at];

  for (int k = 0; k < 4; k++) {
    int byte = word * 4 + k;
    int x = byte / bpp;
    if (x < pc.a.x || x >= pc.a.z)
      continue;
    uint b = pixel_byte (x, y, byte % bpp);
    val = (val & ~(0xffu << (8 * k))) | (b << (8 * k));
  }
  px[at] = val;
}
