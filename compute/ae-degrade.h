/* ae-degrade.h: the synthetic degradations a model is trained and
 * evaluated on, on 8-bit images.
 *
 * Images are @width x @height pixels of @channels interleaved 8-bit samples,
 * rows @stride bytes apart. Every result is rounded to the nearest integer
 * and clamped to 0..255, as a real 8-bit frame would be: training inputs
 * and evaluation inputs are made by these same functions, so a model sees
 * the same kind of data in both.
 *
 * The random functions draw from an AeRng, so a given seed always gives the
 * same noise (reproducible evaluation, batches that depend only on the seed
 * and their index). All functions are thread-safe on distinct data.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* xoshiro256** (Blackman & Vigna), seeded through splitmix64. */
typedef struct {
  guint64 s[4];
} AeRng;

/* Seeds @rng from @seed and a @stream number: different streams of one seed
 * are independent sequences (batch k, sample i ...). */
void ae_rng_init (AeRng *rng, guint64 seed, guint64 stream);
guint64 ae_rng_next (AeRng *rng);
/* Uniform in [0, 1). */
double ae_rng_uniform (AeRng *rng);
/* Uniform integer in [0, @n), n >= 1. */
guint32 ae_rng_below (AeRng *rng, guint32 n);
/* Standard normal sample. */
double ae_rng_normal (AeRng *rng);
/* Poisson sample of mean @lambda (>= 0). */
double ae_rng_poisson (AeRng *rng, double lambda);

/* @dst = clip (round (@src + N(0, @sigma²))), sample by sample. @sigma in
 * 0..255 units. @dst may be @src. */
void ae_add_gaussian_noise (const guint8 *src, gsize src_stride, guint8 *dst,
    gsize dst_stride, int width, int height, int channels, double sigma,
    AeRng *rng);

/* Camera-like noise, the model of the aenoise element: a sample of level v
 * becomes Poisson (v·@gain) / @gain (shot noise, @gain photons per level)
 * plus N(0, @sigma²) read noise, rounded and clipped. */
void ae_add_poisson_gaussian_noise (const guint8 *src, gsize src_stride,
    guint8 *dst, gsize dst_stride, int width, int height, int channels,
    double gain, double sigma, AeRng *rng);

/* Resamples @src (src_w x src_h) to a dst_w x dst_h image with Keys' cubic
 * (a = -0.5) and writes the pixels [x0, x0+w) x [y0, y0+h) of that image to
 * @dst (w x h, @dst_stride). Like MATLAB's imresize: pixel centres map as
 * (x + 0.5) · src/dst - 0.5; when shrinking the kernel is widened by the
 * factor (antialiasing); weights are normalised; samples past the borders
 * are mirrored (-1 -> 0, -2 -> 1); floats are kept between the
 * horizontal and the vertical pass (as imresize on double input; on uint8
 * input it rounds between them). Writing a region gives exactly the
 * same pixels as resizing the whole image and cropping, which is how
 * training patches match evaluation images. */
void ae_resize_bicubic (const guint8 *src, gsize src_stride, int src_w,
    int src_h, int channels, int dst_w, int dst_h, int x0, int y0, int w,
    int h, guint8 *dst, gsize dst_stride);

G_END_DECLS
