/* PSNR and SSIM (compute/ae-metrics.h) against values worked out by hand,
 * against a direct (non-separable) evaluation of Wang et al.'s formula, and
 * against scikit-image's structural_similarity on the same pixels. Strides
 * with garbage padding, border crops, several channels and the float
 * variants are covered too. */
#include "ae-metrics.h"

#include <math.h>
#include <string.h>

#define PAD 7                   /* garbage bytes after each row */

typedef struct {
  guint8 *data;
  gsize stride;
  int w, h, c;
} Img;

static Img
img_new (int w, int h, int c)
{
  Img im = {.w = w,.h = h,.c = c,.stride = (gsize) w * c + PAD };
  im.data = g_malloc (im.stride * h);
  /* padding must never be read: fill it with something that would show */
  memset (im.data, 0xEE, im.stride * h);
  return im;
}

static guint8 *
img_px (const Img *im, int x, int y)
{
  return im->data + (gsize) y * im->stride + (gsize) x * im->c;
}

static void
img_fill (Img *im, guint8 v)
{
  for (int y = 0; y < im->h; y++)
    memset (img_px (im, 0, y), v, (gsize) im->w * im->c);
}

/* Pixels from a fixed formula (no RNG): the skimage reference below was
 * computed on exactly these. */
static void
img_fill_pattern (Img *im, int variant)
{
  for (int y = 0; y < im->h; y++)
    for (int x = 0; x < im->w; x++)
      for (int c = 0; c < im->c; c++)
        img_px (im, x, y)[c] =
            (guint8) ((x * 7 + y * 13 + c * 50 + variant * ((x * y) % 11) * 9
                + (x * x + 3 * y) % 17) % 256);
}

static void
img_clear (Img *im)
{
  g_clear_pointer (&im->data, g_free);
}

static double
psnr (const Img *a, const Img *b, int crop)
{
  return ae_psnr_u8 (a->data, a->stride, b->data, b->stride, a->w, a->h,
      a->c, crop);
}

static double
ssim (const Img *a, const Img *b, int crop)
{
  return ae_ssim_u8 (a->data, a->stride, b->data, b->stride, a->w, a->h,
      a->c, crop);
}

/* A uniform difference d gives MSE d^2, so PSNR = 10 log10 (255^2 / d^2). */
static void
test_psnr_constant (void)
{
  Img a = img_new (20, 9, 1), b = img_new (20, 9, 1);
  img_fill (&a, 100);
  img_fill (&b, 110);
  g_assert_cmpfloat_with_epsilon (psnr (&a, &b, 0), 28.130803608679, 1e-9);
  g_assert_cmpfloat_with_epsilon (psnr (&b, &a, 0), 28.130803608679, 1e-9);

  /* one sample off by 255 in 180: MSE = 255^2/180 -> 10 log10 (180) */
  img_fill (&b, 100);
  img_px (&b, 3, 4)[0] = 255;
  img_px (&a, 3, 4)[0] = 0;
  g_assert_cmpfloat_with_epsilon (psnr (&a, &b, 0), 10 * log10 (180.0), 1e-9);

  /* cropping 4 pixels drops the difference (row 4 survives, column 3 not) */
  g_assert_true (isinf (psnr (&a, &b, 4)) && psnr (&a, &b, 4) > 0);
  g_assert_true (isinf (psnr (&a, &a, 0)));
  /* nothing left after the crop; a crop whose double overflows an int */
  g_assert_true (isnan (psnr (&a, &b, 5)));
  g_assert_true (isnan (psnr (&a, &b, G_MAXINT)));
  g_assert_true (isnan (ssim (&a, &b, G_MAXINT)));
  img_clear (&a);
  img_clear (&b);
}

/* Every channel counts: differences in one of three channels give three
 * times less MSE than in a one-channel image. */
static void
test_psnr_channels (void)
{
  Img a = img_new (6, 5, 3), b = img_new (6, 5, 3);
  img_fill (&a, 50);
  img_fill (&b, 50);
  for (int y = 0; y < 5; y++)
    for (int x = 0; x < 6; x++)
      img_px (&b, x, y)[1] = 80;
  /* MSE = 30^2 / 3 = 300 */
  g_assert_cmpfloat_with_epsilon (psnr (&a, &b, 0),
      10 * log10 (65025.0 / 300.0), 1e-9);
  img_clear (&a);
  img_clear (&b);
}

/* Constant images have no variance, so SSIM reduces to the luminance term
 * (2 mx my + C1) / (mx^2 + my^2 + C1) with C1 = (0.01 * 255)^2. */
static void
test_ssim_constant (void)
{
  Img a = img_new (16, 12, 1), b = img_new (16, 12, 1);
  img_fill (&a, 100);
  img_fill (&b, 110);
  double c1 = 2.55 * 2.55;
  double expect = (2 * 100.0 * 110.0 + c1) / (100.0 * 100 + 110.0 * 110 + c1);
  g_assert_cmpfloat_with_epsilon (ssim (&a, &b, 0), expect, 1e-12);
  g_assert_cmpfloat_with_epsilon (ssim (&a, &a, 0), 1.0, 1e-12);

  /* the window must fit after the crop: 16-2*2 = 12 >= 11 but 12-2*1 < 11 */
  g_assert_false (isnan (ssim (&a, &b, 0)));
  g_assert_true (isnan (ssim (&a, &b, 1)));
  img_clear (&a);
  img_clear (&b);
}

/* Wang et al.'s formula evaluated directly: for each valid window position,
 * weighted means, variances and covariance over the 11x11 Gaussian. */
static double
ssim_direct (const Img *a, const Img *b, int c, int crop)
{
  double g[11], s = 0;
  for (int i = 0; i < 11; i++)
    s += g[i] = exp (-(i - 5) * (i - 5) / (2 * 1.5 * 1.5));
  double c1 = pow (0.01 * 255, 2), c2 = pow (0.03 * 255, 2), total = 0;
  int n = 0;
  for (int y = crop; y + 11 <= a->h - crop; y++)
    for (int x = crop; x + 11 <= a->w - crop; x++) {
      double mx = 0, my = 0, vx = 0, vy = 0, cv = 0;
      for (int j = 0; j < 11; j++)
        for (int i = 0; i < 11; i++) {
          double wgt = g[i] * g[j] / (s * s);
          mx += wgt * img_px (a, x + i, y + j)[c];
          my += wgt * img_px (b, x + i, y + j)[c];
        }
      for (int j = 0; j < 11; j++)
        for (int i = 0; i < 11; i++) {
          double wgt = g[i] * g[j] / (s * s);
          double dx = img_px (a, x + i, y + j)[c] - mx;
          double dy = img_px (b, x + i, y + j)[c] - my;
          vx += wgt * dx * dx;
          vy += wgt * dy * dy;
          cv += wgt * dx * dy;
        }
      total += (2 * mx * my + c1) * (2 * cv + c2)
          / ((mx * mx + my * my + c1) * (vx + vy + c2));
      n++;
    }
  return total / n;
}

static void
test_ssim_direct (void)
{
  Img a = img_new (37, 23, 1), b = img_new (37, 23, 1);
  img_fill_pattern (&a, 0);
  img_fill_pattern (&b, 1);
  for (int crop = 0; crop <= 3; crop++) {
    double got = ssim (&a, &b, crop), want = ssim_direct (&a, &b, 0, crop);
    g_assert_cmpfloat_with_epsilon (got, want, 1e-12);
    g_assert_cmpfloat (got, <, 0.99);
    g_assert_cmpfloat (got, >, -1.0);
  }
  img_clear (&a);
  img_clear (&b);
}

/* Three channels: the mean of the three per-channel SSIMs. */
static void
test_ssim_channels (void)
{
  Img a = img_new (25, 19, 3), b = img_new (25, 19, 3);
  img_fill_pattern (&a, 0);
  img_fill_pattern (&b, 1);
  double want = 0;
  for (int c = 0; c < 3; c++)
    want += ssim_direct (&a, &b, c, 2) / 3;
  g_assert_cmpfloat_with_epsilon (ssim (&a, &b, 2), want, 1e-12);
  img_clear (&a);
  img_clear (&b);
}

/* The reference values were computed once with scikit-image 0.19.3 (Debian
 * python3-skimage) on the pixels of img_fill_pattern:
 *   structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
 *       use_sample_covariance=False, data_range=255)
 * which crops (11-1)/2 pixels of its reflect-padded map, i.e. the valid map
 * used here; and peak_signal_noise_ratio(a, b, data_range=255). */
#define SKIMAGE_SSIM 0.23862312114838052
#define SKIMAGE_PSNR 9.256288562235447

static void
test_reference_skimage (void)
{
  Img a = img_new (32, 24, 1), b = img_new (32, 24, 1);
  img_fill_pattern (&a, 0);
  img_fill_pattern (&b, 1);
  g_assert_cmpfloat_with_epsilon (ssim (&a, &b, 0), SKIMAGE_SSIM, 1e-9);
  g_assert_cmpfloat_with_epsilon (psnr (&a, &b, 0), SKIMAGE_PSNR, 1e-9);
  img_clear (&a);
  img_clear (&b);
}

/* Float variants on x / 255 give the same numbers (peak 1 instead of 255:
 * both metrics are invariant to that scaling). */
static void
test_float (void)
{
  const int w = 29, h = 17, c = 3;
  Img a = img_new (w, h, c), b = img_new (w, h, c);
  img_fill_pattern (&a, 0);
  img_fill_pattern (&b, 1);
  g_autofree float *fa = g_new (float, w * h * c);
  g_autofree float *fb = g_new (float, w * h * c);
  for (int y = 0; y < h; y++)
    for (int i = 0; i < w * c; i++) {
      fa[y * w * c + i] = img_px (&a, 0, y)[i] / 255.0f;
      fb[y * w * c + i] = img_px (&b, 0, y)[i] / 255.0f;
    }
  g_assert_cmpfloat_with_epsilon (ae_psnr_f32 (fa, fb, w, h, c, 1),
      psnr (&a, &b, 1), 1e-5);
  g_assert_cmpfloat_with_epsilon (ae_ssim_f32 (fa, fb, w, h, c, 1),
      ssim (&a, &b, 1), 1e-6);
  g_assert_true (isinf (ae_psnr_f32 (fa, fa, w, h, c, 0)));
  g_assert_cmpfloat_with_epsilon (ae_ssim_f32 (fa, fa, w, h, c, 0), 1.0,
      1e-9);
  img_clear (&a);
  img_clear (&b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/metrics/psnr/constant", test_psnr_constant);
  g_test_add_func ("/metrics/psnr/channels", test_psnr_channels);
  g_test_add_func ("/metrics/ssim/constant", test_ssim_constant);
  g_test_add_func ("/metrics/ssim/direct", test_ssim_direct);
  g_test_add_func ("/metrics/ssim/channels", test_ssim_channels);
  g_test_add_func ("/metrics/reference-skimage", test_reference_skimage);
  g_test_add_func ("/metrics/float", test_float);
  return g_test_run ();
}
