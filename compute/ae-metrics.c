#include "ae-metrics.h"

#include <math.h>
#include <string.h>

/* One image as either sample type, so PSNR and SSIM are written once. */
typedef struct {
  const guint8 *u8;
  const float *f32;
  gsize stride;                 /* in samples */
  int channels;
} Image;

/* Samples of channel @c in row @y, columns [@x0, @x0 + @n), as doubles. */
static void
image_load_row (const Image *im, int y, int x0, int n, int c, double *out)
{
  if (im->u8) {
    const guint8 *p = im->u8 + y * im->stride + (gsize) x0 * im->channels + c;
    for (int i = 0; i < n; i++)
      out[i] = p[(gsize) i * im->channels];
  } else {
    const float *p = im->f32 + y * im->stride + (gsize) x0 * im->channels + c;
    for (int i = 0; i < n; i++)
      out[i] = p[(gsize) i * im->channels];
  }
}

double
ae_psnr_from_mse (double mse, double peak)
{
  if (mse <= 0.0)
    return INFINITY;
  return 10.0 * log10 (peak * peak / mse);
}

/* The size left inside a border of @crop: FALSE when nothing is (and
 * before 2 * crop could overflow). */
static gboolean
cropped_size (int width, int height, int crop, int *w, int *h)
{
  if (crop < 0 || crop >= width / 2 + 1 || crop >= height / 2 + 1)
    return FALSE;
  *w = width - 2 * crop;
  *h = height - 2 * crop;
  return *w > 0 && *h > 0;
}

static double
psnr (const Image *ref, const Image *test, int width, int height, int crop,
    double peak)
{
  int w, h;
  if (!cropped_size (width, height, crop, &w, &h))
    return NAN;
  int n = w * ref->channels;

  g_autofree double *a = g_new (double, n);
  g_autofree double *b = g_new (double, n);
  double sum = 0.0;
  for (int y = crop; y < crop + h; y++) {
    /* Channels are interleaved, so one "channel 0" load of a row that is
     * channels times wider reads every sample of the row. */
    Image ra = *ref, rb = *test;
    ra.channels = rb.channels = 1;
    image_load_row (&ra, y, crop * ref->channels, n, 0, a);
    image_load_row (&rb, y, crop * ref->channels, n, 0, b);
    double row = 0.0;
    for (int i = 0; i < n; i++)
      row += (a[i] - b[i]) * (a[i] - b[i]);
    sum += row;
  }
  return ae_psnr_from_mse (sum / ((double) n * h), peak);
}

/* The normalised 1-D Gaussian whose outer product is the SSIM window. */
static void
ssim_kernel (double k[AE_SSIM_WINDOW])
{
  const double sigma = 1.5;
  double sum = 0.0;
  for (int i = 0; i < AE_SSIM_WINDOW; i++) {
    double d = i - AE_SSIM_WINDOW / 2;
    k[i] = exp (-d * d / (2.0 * sigma * sigma));
    sum += k[i];
  }
  for (int i = 0; i < AE_SSIM_WINDOW; i++)
    k[i] /= sum;
}

enum { MX, MY, XX, YY, XY, N_MOMENTS };

/* Sum of the SSIM map of channel @c over the valid region. The window is
 * separable: each input row is filtered horizontally into a ring of the last
 * AE_SSIM_WINDOW rows of the five local moments, which are then filtered
 * vertically, so memory is a few rows however large the image. */
static double
ssim_channel_sum (const Image *ref, const Image *test, int x0, int y0, int w,
    int h, int c, double peak)
{
  const int win = AE_SSIM_WINDOW, ow = w - win + 1;
  const double c1 = (0.01 * peak) * (0.01 * peak);
  const double c2 = (0.03 * peak) * (0.03 * peak);
  double k[AE_SSIM_WINDOW];
  ssim_kernel (k);

  g_autofree double *a = g_new (double, w);
  g_autofree double *b = g_new (double, w);
  g_autofree double *ring = g_new (double, (gsize) win * N_MOMENTS * ow);
  double total = 0.0;

  for (int r = 0; r < h; r++) {
    image_load_row (ref, y0 + r, x0, w, c, a);
    image_load_row (test, y0 + r, x0, w, c, b);
    double *slot = ring + (gsize) (r % win) * N_MOMENTS * ow;
    for (int x = 0; x < ow; x++) {
      double m[N_MOMENTS] = { 0 };
      for (int i = 0; i < win; i++) {
        double va = a[x + i], vb = b[x + i];
        m[MX] += k[i] * va;
        m[MY] += k[i] * vb;
        m[XX] += k[i] * va * va;
        m[YY] += k[i] * vb * vb;
        m[XY] += k[i] * va * vb;
      }
      for (int q = 0; q < N_MOMENTS; q++)
        slot[q * ow + x] = m[q];
    }
    if (r < win - 1)
      continue;

    int top = r - (win - 1);
    for (int x = 0; x < ow; x++) {
      double m[N_MOMENTS] = { 0 };
      for (int i = 0; i < win; i++) {
        const double *s = ring + (gsize) ((top + i) % win) * N_MOMENTS * ow;
        for (int q = 0; q < N_MOMENTS; q++)
          m[q] += k[i] * s[q * ow + x];
      }
      double vx = m[XX] - m[MX] * m[MX];
      double vy = m[YY] - m[MY] * m[MY];
      double cov = m[XY] - m[MX] * m[MY];
      total += (2.0 * m[MX] * m[MY] + c1) * (2.0 * cov + c2)
          / ((m[MX] * m[MX] + m[MY] * m[MY] + c1) * (vx + vy + c2));
    }
  }
  return total;
}

static double
ssim (const Image *ref, const Image *test, int width, int height, int crop,
    double peak)
{
  int w, h;
  if (!cropped_size (width, height, crop, &w, &h) || w < AE_SSIM_WINDOW
      || h < AE_SSIM_WINDOW)
    return NAN;

  double sum = 0.0;
  for (int c = 0; c < ref->channels; c++)
    sum += ssim_channel_sum (ref, test, crop, crop, w, h, c, peak);
  double n = (double) (w - AE_SSIM_WINDOW + 1) * (h - AE_SSIM_WINDOW + 1);
  return sum / (n * ref->channels);
}

double
ae_psnr_u8 (const guint8 *ref, gsize ref_stride, const guint8 *test,
    gsize test_stride, int width, int height, int channels, int crop)
{
  g_return_val_if_fail (ref && test && channels > 0 && crop >= 0, NAN);
  Image a = {.u8 = ref,.stride = ref_stride,.channels = channels };
  Image b = {.u8 = test,.stride = test_stride,.channels = channels };
  return psnr (&a, &b, width, height, crop, 255.0);
}

double
ae_ssim_u8 (const guint8 *ref, gsize ref_stride, const guint8 *test,
    gsize test_stride, int width, int height, int channels, int crop)
{
  g_return_val_if_fail (ref && test && channels > 0 && crop >= 0, NAN);
  Image a = {.u8 = ref,.stride = ref_stride,.channels = channels };
  Image b = {.u8 = test,.stride = test_stride,.channels = channels };
  return ssim (&a, &b, width, height, crop, 255.0);
}

double
ae_psnr_f32 (const float *ref, const float *test, int width, int height,
    int channels, int crop)
{
  g_return_val_if_fail (ref && test && channels > 0 && crop >= 0, NAN);
  gsize stride = (gsize) width * channels;
  Image a = {.f32 = ref,.stride = stride,.channels = channels };
  Image b = {.f32 = test,.stride = stride,.channels = channels };
  return psnr (&a, &b, width, height, crop, 1.0);
}

double
ae_ssim_f32 (const float *ref, const float *test, int width, int height,
    int channels, int crop)
{
  g_return_val_if_fail (ref && test && channels > 0 && crop >= 0, NAN);
  gsize stride = (gsize) width * channels;
  Image a = {.f32 = ref,.stride = stride,.channels = channels };
  Image b = {.f32 = test,.stride = stride,.channels = channels };
  return ssim (&a, &b, width, height, crop, 1.0);
}
