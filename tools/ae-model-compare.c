/* ae-model compare: PSNR and SSIM between two media files, frame by frame
 * (compute/ae-metrics.h), for benchmarks and demos. */
#include "ae-tool.h"
#include "ae-frame.h"
#include "ae-media.h"
#include "ae-metrics.h"

#include <math.h>
#include <stdio.h>

typedef struct {
  const char *path;
  AeMediaReader *reader;
  GstSample *sample;
  GstVideoFrame frame;
  gboolean mapped;
} Side;

/* Pulls the next frame of @s and maps it; FALSE at the end (error unset)
 * or on a failure. */
static gboolean
side_next (Side *s, GError **error)
{
  GstVideoInfo info;

  if (s->mapped)
    gst_video_frame_unmap (&s->frame);
  s->mapped = FALSE;
  g_clear_pointer (&s->sample, gst_sample_unref);
  s->sample = ae_media_reader_pull (s->reader, error);
  if (!s->sample)
    return FALSE;
  if (!gst_video_info_from_caps (&info, gst_sample_get_caps (s->sample)) ||
      !gst_video_frame_map (&s->frame, &info, gst_sample_get_buffer
          (s->sample), GST_MAP_READ)) {
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: cannot map a decoded frame",
        s->path);
    return FALSE;
  }
  s->mapped = TRUE;
  return TRUE;
}

static void
side_clear (Side *s)
{
  if (s->mapped)
    gst_video_frame_unmap (&s->frame);
  g_clear_pointer (&s->sample, gst_sample_unref);
  g_clear_pointer (&s->reader, ae_media_reader_free);
}

/* The mapped frame as an AeFrame (the reader gives RGBA, RGBx or GRAY8). */
static AeFrame
side_frame (const Side *s, AeMatrix matrix)
{
  GstVideoFormat f = GST_VIDEO_FRAME_FORMAT (&s->frame);
  return (AeFrame) {
    .format = f == GST_VIDEO_FORMAT_GRAY8 ? AE_FRAME_GRAY8 :
        f == GST_VIDEO_FORMAT_RGBA ? AE_FRAME_RGBA : AE_FRAME_RGBX,
    .width = GST_VIDEO_FRAME_WIDTH (&s->frame),
    .height = GST_VIDEO_FRAME_HEIGHT (&s->frame),
    .data = GST_VIDEO_FRAME_PLANE_DATA (&s->frame, 0),
    .stride = GST_VIDEO_FRAME_PLANE_STRIDE (&s->frame, 0),
    .matrix = matrix,
  };
}

int
ae_cmd_compare (int argc, char **argv)
{
  gboolean rgb = FALSE, per_frame = FALSE, json = FALSE;
  int crop = 0;
  const GOptionEntry entries[] = {
    {"rgb", 0, 0, G_OPTION_ARG_NONE, &rgb,
        "Compare R'G'B' (default: luma Y' of the decoded full-range R'G'B', with the reference's matrix)", NULL},
    {"crop", 0, 0, G_OPTION_ARG_INT, &crop,
        "Pixels left out at every border (default 0)", "N"},
    {"per-frame", 0, 0, G_OPTION_ARG_NONE, &per_frame,
        "Print every frame's PSNR and SSIM", NULL},
    {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
    {NULL}
  };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("REFERENCE TEST - PSNR/SSIM of TEST against "
      "REFERENCE");
  g_option_context_set_summary (ctx, "Both are media files GStreamer can "
      "decode, with the same number of frames of the same size. PSNR is "
      "that of the clip's mean squared error (peak 1.0); SSIM the mean of "
      "the frames' (Wang et al. 2004).");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_set_prgname ("ae-model compare");
  if (!ae_tool_parse_args (ctx, 2, &argc, &argv))
    return AE_EXIT_USAGE;
  if (crop < 0) {
    g_printerr ("ae-model compare: --crop must be 0 or more\n");
    return AE_EXIT_USAGE;
  }

  gst_init (NULL, NULL);
  g_autoptr (GError) error = NULL;
  Side a = {.path = argv[1] }, b = {.path = argv[2] };
  const int nc = rgb ? 3 : 1;
  double sum_mse = 0, sum_ssim = 0, min_psnr = INFINITY;
  guint64 n = 0;
  int ret = AE_EXIT_FAILURE;
  g_autofree float *fa = NULL, *fb = NULL;
  gsize fsize = 0;

  a.reader = ae_media_reader_new (a.path, &error);
  if (a.reader)
    b.reader = ae_media_reader_new (b.path, &error);
  if (!b.reader)
    goto out;
  for (;;) {
    gboolean more_a = side_next (&a, &error);
    if (error)
      goto out;
    gboolean more_b = side_next (&b, &error);
    if (error)
      goto out;
    if (!more_a || !more_b) {
      if (more_a != more_b) {
        g_set_error (&error, AE_MEDIA_ERROR, 0, "%s ends after %"
            G_GUINT64_FORMAT " frames, %s has more", more_a ? b.path :
            a.path, n, more_a ? a.path : b.path);
        goto out;
      }
      break;
    }
    AeMatrix matrix = ae_media_reader_get_luma_matrix (a.reader,
        AE_MATRIX_BT601);
    AeFrame ra = side_frame (&a, matrix), rb = side_frame (&b, matrix);
    if (ra.width != rb.width || ra.height != rb.height) {
      g_set_error (&error, AE_MEDIA_ERROR, 0, "frame %" G_GUINT64_FORMAT
          ": %s is %dx%d, %s is %dx%d", n, a.path, ra.width, ra.height,
          b.path, rb.width, rb.height);
      goto out;
    }
    gsize need = (gsize) ra.width * ra.height * nc;
    if (need > fsize) {
      g_free (fa);
      g_free (fb);
      fa = g_new (float, need);
      fb = g_new (float, need);
      fsize = need;
    }
    AeColor color = rgb ? AE_COLOR_RGB : AE_COLOR_LUMA;
    ae_frame_read (&ra, color, 0, 0, ra.width, ra.height, fa);
    ae_frame_read (&rb, color, 0, 0, rb.width, rb.height, fb);
    double psnr = ae_psnr_f32 (fa, fb, ra.width, ra.height, nc, crop);
    double ssim = ae_ssim_f32 (fa, fb, ra.width, ra.height, nc, crop);
    if (isnan (psnr)) {
      g_set_error (&error, AE_MEDIA_ERROR, 0, "frames of %dx%d have nothing "
          "left after --crop %d", ra.width, ra.height, crop);
      goto out;
    }
    sum_mse += isinf (psnr) ? 0.0 : pow (10.0, -psnr / 10.0);
    sum_ssim += ssim;
    min_psnr = MIN (min_psnr, psnr);
    if (per_frame && !json)
      printf ("frame %" G_GUINT64_FORMAT "  PSNR %.3f dB  SSIM %.5f\n", n,
          psnr, ssim);
    n++;
  }
  if (n == 0) {
    g_set_error (&error, AE_MEDIA_ERROR, 0, "%s has no frames", a.path);
    goto out;
  }

  {
    double psnr = ae_psnr_from_mse (sum_mse / n, 1.0);
    /* frames smaller than SSIM's window after --crop have a PSNR only */
    double ssim = sum_ssim / n;
    g_autofree char *ssim_text = isnan (ssim) ? g_strdup (json ? "null" :
        "- (frames smaller than its 11x11 window)") :
        g_strdup_printf (json ? "%.6f" : "%.5f", ssim);
    if (json)
      printf ("{\"frames\": %" G_GUINT64_FORMAT ", \"channels\": \"%s\", "
          "\"psnr\": %.4f, \"min_psnr\": %.4f, \"ssim\": %s}\n", n,
          rgb ? "rgb" : "luma", isinf (psnr) ? 999.0 : psnr,
          isinf (min_psnr) ? 999.0 : min_psnr, ssim_text);
    else
      printf ("%" G_GUINT64_FORMAT " frames, %s: PSNR %.3f dB (worst frame "
          "%.3f), SSIM %s\n", n, rgb ? "R'G'B'" : "Y'", psnr, min_psnr,
          ssim_text);
  }
  ret = AE_EXIT_OK;

out:
  if (error)
    ae_tool_error ("%s", error->message);
  side_clear (&a);
  side_clear (&b);
  gst_deinit ();
  return ret;
}
