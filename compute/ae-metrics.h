/* ae-metrics.h: image quality metrics, PSNR and SSIM.
 *
 * Both compare a test image against a reference of the same size. Images are
 * 8-bit (peak 255) or float (peak 1.0), with @channels interleaved samples
 * per pixel; every channel is measured and the results averaged the way the
 * literature does for RGB: PSNR from the mean squared error over all samples,
 * SSIM as the mean of the SSIM maps of all channels.
 *
 * SSIM is the one of Wang, Bovik, Sheikh and Simoncelli (IEEE TIP 2004):
 * an 11x11 Gaussian window with sigma 1.5 (normalised), K1 = 0.01, K2 = 0.03,
 * population (biased) variances, no downsampling, the map taken only where
 * the window lies wholly inside the (cropped) image, as their reference code
 * does with filter2(..., 'valid').
 *
 * @crop removes that many pixels from every border before measuring (the
 * super-resolution literature crops the scale factor). All functions are
 * pure and thread-safe.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Side of the SSIM window: images (after crop) narrower or shorter than
 * this have no SSIM. */
#define AE_SSIM_WINDOW 11

/* PSNR in dB of @test against @ref, 8-bit samples, rows @stride bytes apart.
 * Identical images give +INFINITY. Returns NAN if nothing is left after
 * @crop. */
double ae_psnr_u8 (const guint8 *ref, gsize ref_stride, const guint8 *test,
    gsize test_stride, int width, int height, int channels, int crop);

/* Mean SSIM of @test against @ref, 8-bit samples; 1.0 for identical images.
 * Returns NAN if the cropped image is smaller than AE_SSIM_WINDOW. */
double ae_ssim_u8 (const guint8 *ref, gsize ref_stride, const guint8 *test,
    gsize test_stride, int width, int height, int channels, int crop);

/* The same for float samples on a 0..1 scale (peak 1.0), rows packed
 * (width x channels floats a row), as ae_frame_read() produces them. */
double ae_psnr_f32 (const float *ref, const float *test, int width,
    int height, int channels, int crop);
double ae_ssim_f32 (const float *ref, const float *test, int width,
    int height, int channels, int crop);

/* PSNR in dB from a mean squared error on a scale whose peak is @peak. */
double ae_psnr_from_mse (double mse, double peak);

G_END_DECLS
