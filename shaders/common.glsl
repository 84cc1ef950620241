/* common.glsl: what every compute shader of gst-autoencoder shares.
 *
 * Tensors are H x W x C (channels last), as on the CPU backend. They are
 * stored as 32-bit floats, or as 16-bit floats when the shader is built with
 * AE_F16 (fp16 storage); arithmetic is always fp32.
 *
 * All shaders use one descriptor set layout (four storage buffers) and one
 * push constant block, so one pipeline layout serves every pipeline. Work is
 * a flat index over 64-wide groups; the host spreads more than 65535 groups
 * over the z dimension.
 */
#extension GL_EXT_shader_16bit_storage : enable

#ifdef AE_F16
#define ELEM float16_t
#define TO_ELEM(v) float16_t(v)
#else
#define ELEM float
#define TO_ELEM(v) (v)
#endif

#define AE_GROUP 64

layout(push_constant) uniform Push {
  ivec4 a;
  ivec4 b;
  ivec4 c;
  ivec4 d;
  ivec4 e;
  vec4 f;
} pc;

int
flat_group ()
{
  return int (gl_WorkGroupID.z * gl_NumWorkGroups.x + gl_WorkGroupID.x);
}

int
flat_index ()
{
  return flat_group () * AE_GROUP + int (gl_LocalInvocationID.x);
}

/* Activations, as compute/cpu/ae-cpu-ops.c defines them. */
#define ACT_NONE 0
#define ACT_RELU 1
#define ACT_LEAKY_RELU 2
#define ACT_SIGMOID 3
#define ACT_TANH 4

float
activate (float v, int act, float slope)
{
  if (act == ACT_RELU)
    return max (v, 0.0);
  if (act == ACT_LEAKY_RELU)
    return v > 0.0 ? v : v * slope;
  if (act == ACT_SIGMOID)
    return 1.0 / (1.0 + exp (-clamp (v, -87.0, 87.0)));
  if (act == ACT_TANH) {
    /* odd: on |v|, with a series near 0 where 1 - 2/(e+1) cancels */
    float a = abs (v);
    float a2 = a * a;
    float t = a < 0.0625 ? a * (1.0 - a2 * (1.0 / 3.0 - a2 * (2.0 / 15.0)))
        : 1.0 - 2.0 / (exp (min (2.0 * a, 87.0)) + 1.0);
    return v < 0.0 ? -t : t;
  }
  return v;
}

/* ae_mirror() of compute/ae-frame.h */
int
mirror (int x, int n)
{
  if (n == 1)
    return 0;
  int p = 2 * (n - 1);
  x = x % p;
  if (x < 0)
    x += p;
  return x >= n ? p - x : x;
}
