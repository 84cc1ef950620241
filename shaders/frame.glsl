/* frame.glsl: 8-bit frames in storage buffers. A frame's rows start on
 * 4-byte boundaries (pitch in words); bytes are little-endian in words. */

uint
byte_at (uint word, int byte_in_word)
{
  return (word >> (8 * byte_in_word)) & 0xffu;
}

/* compute/ae-frame.c's to_u8: clamp, round to nearest, NaN to 0 */
uint
to_u8 (float v)
{
  v = v * 255.0 + 0.5;
  return !(v > 0.0) ? 0u : v >= 255.0 ? 255u : uint (v);
}
