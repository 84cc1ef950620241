#include "ae-degrade.h"

#include <math.h>

/* ---- random numbers ---- */

static guint64
splitmix64 (guint64 *x)
{
  guint64 z = (*x += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

void
ae_rng_init (AeRng *rng, guint64 seed, guint64 stream)
{
  /* mix the stream into the seed through one splitmix step of its own, so
   * (seed, stream) and (seed + 1, stream - 1) do not collide */
  guint64 x = stream;
  guint64 y = seed ^ splitmix64 (&x);
  for (int i = 0; i < 4; i++)
    rng->s[i] = splitmix64 (&y);
}

static inline guint64
rotl64 (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

guint64
ae_rng_next (AeRng *rng)
{
  guint64 *s = rng->s;
  const guint64 result = rotl64 (s[1] * 5, 7) * 9;
  const guint64 t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl64 (s[3], 45);
  return result;
}

double
ae_rng_uniform (AeRng *rng)
{
  return (ae_rng_next (rng) >> 11) * (1.0 / 9007199254740992.0);
}

guint32
ae_rng_below (AeRng *rng, guint32 n)
{
  /* Lemire's multiply-shift; the bias for n < 2^32 is below 2^-32 */
  return (guint32) (((ae_rng_next (rng) >> 32) * (guint64) n) >> 32);
}

/* Two independent standard normals (Box–Muller). */
static inline void
normal_pair (AeRng *rng, double *a, double *b)
{
  double u = 1.0 - ae_rng_uniform (rng);        /* (0, 1]: finite log */
  double r = sqrt (-2.0 * log (u));
  double t = 2.0 * G_PI * ae_rng_uniform (rng);
  *a = r * cos (t);
  *b = r * sin (t);
}

double
ae_rng_normal (AeRng *rng)
{
  double a, b;
  normal_pair (rng, &a, &b);
  return a;
}

/* Below this mean Poisson counts are drawn exactly (Knuth); above it the
 * normal approximation N(λ, λ) is within the 8-bit rounding applied after. */
#define POISSON_EXACT_MAX 32.0

double
ae_rng_poisson (AeRng *rng, double lambda)
{
  if (lambda <= 0.0)
    return 0.0;
  if (lambda > POISSON_EXACT_MAX) {
    double k = rint (lambda + sqrt (lambda) * ae_rng_normal (rng));
    return k < 0.0 ? 0.0 : k;
  }
  const double limit = exp (-lambda);
  double p = 1.0 - ae_rng_uniform (rng);
  int k = 0;
  while (p > limit) {
    k++;
    p *= 1.0 - ae_rng_uniform (rng);
  }
  return k;
}

/* ---- noise ---- */

static inline guint8
to_u8 (double v)
{
  v = rint (v);
  return (guint8) (v < 0.0 ? 0.0 : v > 255.0 ? 255.0 : v);
}

void
ae_add_gaussian_noise (const guint8 *src, gsize src_stride, guint8 *dst,
    gsize dst_stride, int width, int height, int channels, double sigma,
    AeRng *rng)
{
  const int n = width * channels;
  for (int y = 0; y < height; y++) {
    const guint8 *s = src + y * src_stride;
    guint8 *d = dst + y * dst_stride;
    int i = 0;
    for (; i + 1 < n; i += 2) {
      double a, b;
      normal_pair (rng, &a, &b);
      d[i] = to_u8 (s[i] + sigma * a);
      d[i + 1] = to_u8 (s[i + 1] + sigma * b);
    }
    if (i < n)
      d[i] = to_u8 (s[i] + sigma * ae_rng_normal (rng));
  }
}

void
ae_add_poisson_gaussian_noise (const guint8 *src, gsize src_stride,
    guint8 *dst, gsize dst_stride, int width, int height, int channels,
    double gain, double sigma, AeRng *rng)
{
  g_return_if_fail (gain > 0.0);
  const int n = width * channels;
  for (int y = 0; y < height; y++) {
    const guint8 *s = src + y * src_stride;
    guint8 *d = dst + y * dst_stride;
    for (int i = 0; i < n; i++) {
      double v = ae_rng_poisson (rng, s[i] * gain) / gain;
      if (sigma > 0.0)
        v += sigma * ae_rng_normal (rng);
      d[i] = to_u8 (v);
    }
  }
}

/* ---- bicubic resampling ---- */

/* Keys' cubic convolution kernel with a = -0.5. */
static double
cubic (double x)
{
  x = fabs (x);
  if (x <= 1.0)
    return (1.5 * x - 2.5) * x * x + 1.0;
  if (x < 2.0)
    return ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0;
  return 0.0;
}

/* Symmetric padding: -1 -> 0, -2 -> 1, n -> n-1 ... */
static int
mirror_index (int i, int n)
{
  while (i < 0 || i >= n)
    i = i < 0 ? -i - 1 : 2 * n - 1 - i;
  return i;
}

/* For outputs o0 .. o0+n-1 of a src_n -> dst_n resampling: @stride taps
 * each, source indices (mirrored) and normalised weights. */
typedef struct {
  int stride;
  int *index;
  float *weight;
} Taps;

static void
taps_init (Taps *t, int src_n, int dst_n, int o0, int n)
{
  const double ratio = (double) src_n / dst_n;
  /* shrinking widens the kernel by the ratio; enlarging keeps it */
  const double widen = ratio > 1.0 ? ratio : 1.0;
  const double radius = 2.0 * widen;
  t->stride = (int) ceil (2.0 * radius) + 2;
  t->index = g_new (int, (gsize) n * t->stride);
  t->weight = g_new (float, (gsize) n * t->stride);

  for (int o = 0; o < n; o++) {
    double centre = (o0 + o + 0.5) * ratio - 0.5;
    int first = (int) floor (centre - radius) + 1;
    double sum = 0.0;
    int *idx = t->index + (gsize) o * t->stride;
    float *wt = t->weight + (gsize) o * t->stride;
    for (int k = 0; k < t->stride; k++) {
      int j = first + k;
      sum += cubic ((centre - j) / widen);
      idx[k] = mirror_index (j, src_n);
    }
    for (int k = 0; k < t->stride; k++)
      wt[k] = (float) (cubic ((centre - (first + k)) / widen) / sum);
  }
}

static void
taps_clear (Taps *t)
{
  g_clear_pointer (&t->index, g_free);
  g_clear_pointer (&t->weight, g_free);
}

void
ae_resize_bicubic (const guint8 *src, gsize src_stride, int src_w,
    int src_h, int channels, int dst_w, int dst_h, int x0, int y0, int w,
    int h, guint8 *dst, gsize dst_stride)
{
  g_return_if_fail (src_w > 0 && src_h > 0 && dst_w > 0 && dst_h > 0);
  g_return_if_fail (x0 >= 0 && y0 >= 0 && w >= 0 && h >= 0
      && x0 + w <= dst_w && y0 + h <= dst_h);
  if (w == 0 || h == 0)
    return;

  Taps tx, ty;
  taps_init (&tx, src_w, dst_w, x0, w);
  taps_init (&ty, src_h, dst_h, y0, h);

  /* source rows the vertical taps reach */
  int r0 = src_h, r1 = -1;
  for (int i = 0; i < h * ty.stride; i++) {
    if (ty.weight[i] == 0.0f)
      continue;
    r0 = MIN (r0, ty.index[i]);
    r1 = MAX (r1, ty.index[i]);
  }

  /* horizontal pass on those rows, then vertical into @dst */
  const int row = w * channels;
  g_autofree float *tmp = g_new (float, (gsize) (r1 - r0 + 1) * row);
  for (int r = r0; r <= r1; r++) {
    const guint8 *s = src + r * src_stride;
    float *t = tmp + (gsize) (r - r0) * row;
    for (int x = 0; x < w; x++) {
      const int *idx = tx.index + (gsize) x * tx.stride;
      const float *wt = tx.weight + (gsize) x * tx.stride;
      for (int c = 0; c < channels; c++) {
        float acc = 0.0f;
        for (int k = 0; k < tx.stride; k++)
          acc += wt[k] * s[idx[k] * channels + c];
        t[x * channels + c] = acc;
      }
    }
  }
  g_autofree float *acc = g_new (float, row);
  for (int y = 0; y < h; y++) {
    const int *idx = ty.index + (gsize) y * ty.stride;
    const float *wt = ty.weight + (gsize) y * ty.stride;
    for (int i = 0; i < row; i++)
      acc[i] = 0.0f;
    for (int k = 0; k < ty.stride; k++) {
      if (wt[k] == 0.0f)
        continue;
      const float *t = tmp + (gsize) (idx[k] - r0) * row;
      for (int i = 0; i < row; i++)
        acc[i] += wt[k] * t[i];
    }
    guint8 *d = dst + y * dst_stride;
    for (int i = 0; i < row; i++)
      d[i] = to_u8 (acc[i]);
  }
  taps_clear (&tx);
  taps_clear (&ty);
}
