/* Datasets (tools/ae-dataset.h), training batches (tools/ae-batch.h) and
 * the degradations they share with `ae-model eval` (compute/ae-degrade.h).
 *
 * Media fixtures are generated in a temporary folder with GStreamer
 * (videotestsrc ! pngenc / jpegenc ! avimux), so nothing binary is
 * committed and every test takes well under a second.
 */
#include "ae-batch.h"
#include "ae-dataset.h"
#include "ae-degrade.h"

#include <glib/gstdio.h>
#include <gst/app/app.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <math.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmpdir;

/* ------------------------------------------------------------------ */
/* fixtures */

/* Runs a gst-launch description to the end. */
static void
run_pipeline (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static void
run_pipeline (const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *desc = g_strdup_vprintf (fmt, ap);
  va_end (ap);

  g_autoptr (GError) error = NULL;
  g_autoptr (GstElement) p = gst_parse_launch (desc, &error);
  g_assert_no_error (error);
  g_autoptr (GstBus) bus = gst_element_get_bus (p);
  gst_element_set_state (p, GST_STATE_PLAYING);
  g_autoptr (GstMessage) msg = gst_bus_timed_pop_filtered (bus,
      10 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    g_autoptr (GError) err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    g_error ("%s: %s", desc, err->message);
  }
  gst_element_set_state (p, GST_STATE_NULL);
}

static char *
tmp_path (const char *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

/* A PNG of a videotestsrc pattern: GRAY8 or RGB. */
static char *
make_png (const char *name, int w, int h, const char *format,
    const char *pattern)
{
  char *path = tmp_path (name);
  g_autofree char *dir = g_path_get_dirname (path);
  g_mkdir_with_parents (dir, 0755);
  run_pipeline ("videotestsrc num-buffers=1 %s ! video/x-raw,format=%s,"
      "width=%d,height=%d ! pngenc ! filesink location=\"%s\"", pattern,
      format, w, h, path);
  return path;
}

static void
write_file (const char *path, const char *contents)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_mkdir_with_parents (dir, 0755);
  g_assert_true (g_file_set_contents (path, contents, -1, NULL));
}

static void
remove_tree (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    GDir *d = g_dir_open (path, 0, NULL);
    const char *name;
    while (d && (name = g_dir_read_name (d))) {
      g_autofree char *child = g_build_filename (path, name, NULL);
      remove_tree (child);
    }
    if (d)
      g_dir_close (d);
    g_rmdir (path);
  } else {
    g_unlink (path);
  }
}

/* ------------------------------------------------------------------ */
/* datasets */

static void
test_folder (void)
{
  g_autofree char *dir = tmp_path ("folder");
  g_autofree char *a = make_png ("folder/b.png", 40, 30, "GRAY8", "");
  g_autofree char *b = make_png ("folder/a.png", 33, 21, "RGB",
      "pattern=solid-color foreground-color=0xff204080");
  g_autofree char *c = make_png ("folder/sub/c.png", 16, 16, "GRAY8",
      "pattern=ball");
  g_autofree char *hidden = make_png ("folder/.hidden.png", 8, 8, "GRAY8", "");
  g_autofree char *text = tmp_path ("folder/notes.txt");
  write_file (text, "not an image\n");

  g_autoptr (GError) error = NULL;
  g_autoptr (AeDataset) ds = ae_dataset_new (1);
  g_assert_true (ae_dataset_add (ds, dir, 1, 0, &error));
  g_assert_no_error (error);
  /* a.png, b.png, sub/c.png in path order; notes.txt skipped; hidden not
   * seen */
  g_assert_cmpint (ae_dataset_get_size (ds), ==, 3);
  g_assert_cmpint (ae_dataset_get_n_skipped (ds), ==, 1);
  g_assert_cmpstr (ae_dataset_get (ds, 0)->origin, ==, b);
  g_assert_cmpstr (ae_dataset_get (ds, 1)->origin, ==, a);
  g_assert_cmpstr (ae_dataset_get (ds, 2)->origin, ==, c);
  const AeImage *im = ae_dataset_get (ds, 0);
  g_assert_cmpint (im->width, ==, 33);
  g_assert_cmpint (im->height, ==, 21);
  g_assert_cmpint (im->channels, ==, 1);
  /* Y' of (32, 64, 128) = 0.299·32 + 0.587·64 + 0.114·128 = 61.728 */
  g_assert_cmpint (im->data[5 * im->stride + 7], ==, 62);
  g_assert_cmpint (ae_dataset_get (ds, 1)->width, ==, 40);

  /* RGB: the colour as it is, gray replicated */
  g_autoptr (AeDataset) rgb = ae_dataset_new (3);
  g_assert_true (ae_dataset_add (rgb, dir, 1, 0, &error));
  g_assert_no_error (error);
  im = ae_dataset_get (rgb, 0);
  g_assert_cmpint (im->channels, ==, 3);
  g_assert_cmpint (im->data[3], ==, 32);
  g_assert_cmpint (im->data[4], ==, 64);
  g_assert_cmpint (im->data[5], ==, 128);
  im = ae_dataset_get (rgb, 1);
  for (int i = 0; i < 40 * 3; i += 3) {
    g_assert_cmpint (im->data[i], ==, im->data[i + 1]);
    g_assert_cmpint (im->data[i], ==, im->data[i + 2]);
  }

  /* at most 2: the first two files in path order */
  g_autoptr (AeDataset) two = ae_dataset_new (1);
  g_assert_true (ae_dataset_add (two, dir, 1, 2, &error));
  g_assert_cmpint (ae_dataset_get_size (two), ==, 2);
  g_assert_cmpstr (ae_dataset_get (two, 0)->origin, ==, b);
  g_assert_cmpstr (ae_dataset_get (two, 1)->origin, ==, a);
}

static void
test_video (void)
{
  g_autofree char *clip = tmp_path ("clip.avi");
  run_pipeline ("videotestsrc num-buffers=10 ! video/x-raw,width=64,"
      "height=48,framerate=10/1 ! jpegenc ! avimux ! filesink "
      "location=\"%s\"", clip);

  g_autoptr (GError) error = NULL;
  g_autoptr (AeDataset) ds = ae_dataset_new (1);
  g_assert_true (ae_dataset_add (ds, clip, 3, 0, &error));
  g_assert_no_error (error);
  /* frames 0, 3, 6, 9 */
  g_assert_cmpint (ae_dataset_get_size (ds), ==, 4);
  g_autofree char *origin = g_strdup_printf ("%s frame 9", clip);
  g_assert_cmpstr (ae_dataset_get (ds, 3)->origin, ==, origin);
  g_assert_cmpint (ae_dataset_get (ds, 3)->width, ==, 64);
  g_assert_cmpint (ae_dataset_get (ds, 3)->height, ==, 48);

  /* at most 2, added after the 4 */
  g_assert_true (ae_dataset_add (ds, clip, 1, 2, &error));
  g_assert_cmpint (ae_dataset_get_size (ds), ==, 6);
}

static void
test_pipeline (void)
{
  const char *desc = "videotestsrc num-buffers=5 ! "
      "video/x-raw,width=64,height=48";
  g_autoptr (GError) error = NULL;
  g_autoptr (AeDataset) ds = ae_dataset_new (3);
  g_assert_true (ae_dataset_add (ds, desc, 1, 0, &error));
  g_assert_no_error (error);
  g_assert_cmpint (ae_dataset_get_size (ds), ==, 5);
  g_assert_cmpint (ae_dataset_get (ds, 4)->width, ==, 64);
  g_assert_cmpint (ae_dataset_get (ds, 4)->height, ==, 48);
  g_assert_true (g_str_has_suffix (ae_dataset_get (ds, 4)->origin,
          " frame 4"));
  /* an endless source stops at the frame limit */
  g_assert_true (ae_dataset_add (ds, "videotestsrc ! "
          "video/x-raw,width=8,height=8", 2, 3, &error));
  g_assert_cmpint (ae_dataset_get_size (ds), ==, 8);
}

/* The Y' plane of @desc's first frame (I420, limited range), expanded to
 * full range as the elements read it; @w x @h floats. */
static float *
y_plane_full_range (const char *desc, int w, int h)
{
  g_autofree char *full = g_strdup_printf ("%s ! appsink name=s", desc);
  g_autoptr (GError) error = NULL;
  g_autoptr (GstElement) p = gst_parse_launch (full, &error);
  g_assert_no_error (error);
  g_autoptr (GstElement) sink = gst_bin_get_by_name (GST_BIN (p), "s");
  gst_element_set_state (p, GST_STATE_PLAYING);
  g_autoptr (GstSample) sample = gst_app_sink_pull_sample (GST_APP_SINK
      (sink));
  g_assert_nonnull (sample);
  GstVideoInfo info;
  GstVideoFrame frame;
  g_assert_true (gst_video_info_from_caps (&info,
          gst_sample_get_caps (sample)));
  g_assert_true (gst_video_frame_map (&frame, &info,
          gst_sample_get_buffer (sample), GST_MAP_READ));
  float *y = g_new (float, w * h);
  for (int r = 0; r < h; r++) {
    const guint8 *row = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame,
        0) + r * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
    for (int x = 0; x < w; x++)
      y[r * w + x] = (row[x] - 16) * 255.0f / 219.0f;
  }
  gst_video_frame_unmap (&frame);
  gst_element_set_state (p, GST_STATE_NULL);
  return y;
}

/* Mean |a - Y'| over @im's pixels, a its luma with @m's weights (of its
 * RGB when it has 3 channels). */
static double
mean_luma_error (const AeImage *im, AeMatrix m, const float *y)
{
  double sum = 0;
  for (int r = 0; r < im->height; r++)
    for (int x = 0; x < im->width; x++) {
      const guint8 *px = im->data + r * im->stride + x * im->channels;
      float a = im->channels == 1 ? px[0] :
          ae_matrix_luma (m, px[0], px[1], px[2]);
      sum += fabsf (a - y[r * im->width + x]);
    }
  return sum / ((double) im->width * im->height);
}

/* Luma from YUV video is that video's own Y' (the plane the elements read),
 * with the weights of its matrix, not BT.601's for all: a model trained on
 * HD video sees what it will see in the pipeline. */
static void
test_luma_matrix (void)
{
  const struct {
    const char *colorimetry;
    AeMatrix matrix;
  } cases[] = {
    {"bt709", AE_MATRIX_BT709},
    {"bt601", AE_MATRIX_BT601},
    {"bt2020", AE_MATRIX_BT2020},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    /* bars made in R'G'B', so that they are in gamut in every matrix */
    g_autofree char *desc = g_strdup_printf ("videotestsrc num-buffers=1 "
        "pattern=smpte75 ! video/x-raw,format=RGBx,width=320,height=240 ! "
        "videoconvert ! video/x-raw,format=I420,colorimetry=%s",
        cases[i].colorimetry);
    g_autofree float *y = y_plane_full_range (desc, 320, 240);
    g_autoptr (GError) error = NULL;
    g_autoptr (AeDataset) luma = ae_dataset_new (1);
    g_autoptr (AeDataset) rgb = ae_dataset_new (3);
    g_assert_true (ae_dataset_add (luma, desc, 1, 0, &error));
    g_assert_true (ae_dataset_add (rgb, desc, 1, 0, &error));
    g_assert_no_error (error);
    const AeImage *l = ae_dataset_get (luma, 0), *c = ae_dataset_get (rgb, 0);
    g_assert_cmpint (l->matrix, ==, cases[i].matrix);
    g_assert_cmpint (c->matrix, ==, cases[i].matrix);

    /* not exact: the R'G'B' that videoconvert makes is rounded and
     * clipped (the pattern's sub-black, chroma interpolated across the
     * bars' edges); 1.7 to 2.2 levels here, against 5.7 to 15.4 with the
     * other weights */
    double err = mean_luma_error (l, cases[i].matrix, y);
    g_assert_cmpfloat (err, <, 3.0);
    for (AeMatrix m = 0; m < AE_N_MATRICES; m++)
      if (m != cases[i].matrix)
        g_assert_cmpfloat (mean_luma_error (c, m, y), >, 5.0);
    g_assert_cmpfloat (fabs (mean_luma_error (c, c->matrix, y) - err), <,
        0.5);

    /* an RGB dataset made luma later gives the same pixels */
    g_autoptr (AeDataset) later = ae_dataset_to_luma (rgb);
    const AeImage *t = ae_dataset_get (later, 0);
    g_assert_cmpint (t->matrix, ==, cases[i].matrix);
    g_assert_cmpmem (t->data, t->stride * t->height, l->data,
        l->stride * l->height);
  }
}

typedef struct {
  char *path;
  gint done;
} StallWriter;

/* Opens the FIFO once a reader has, writes a PNG signature and nothing
 * more, and holds it open for 5 s: a decoder waiting that long. (Longer
 * would also hold up the reader's teardown: filesrc's read() of a FIFO
 * cannot be interrupted.) */
static gpointer
stall_writer (gpointer data)
{
  StallWriter *w = data;
  static const guint8 png[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a,
    '\n'
  };
  int fd = -1;
  while (fd < 0 && !g_atomic_int_get (&w->done)) {
    fd = open (w->path, O_WRONLY | O_NONBLOCK);
    if (fd < 0)
      g_usleep (10000);
  }
  if (fd >= 0) {
    g_assert_cmpint (write (fd, png, sizeof png), ==, sizeof png);
    g_usleep (5 * G_USEC_PER_SEC);
    close (fd);
  }
  return NULL;
}

/* A file whose decoder never gives a frame, an error or the end is given
 * up on (AE_MEDIA_STALL_S, 60 s by default) instead of hanging the load. */
static void
test_stall (void)
{
  StallWriter w = { g_build_filename (tmpdir, "stall.png", NULL), 0 };
  g_assert_cmpint (mkfifo (w.path, 0600), ==, 0);
  g_setenv ("AE_MEDIA_STALL_S", "1", TRUE);
  GThread *t = g_thread_new ("stall-writer", stall_writer, &w);
  g_autoptr (AeDataset) ds = ae_dataset_new (1);
  g_autoptr (GError) error = NULL;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_false (ae_dataset_add (ds, w.path, 1, 0, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "gave no frame, error or end"));
  g_assert_cmpint (g_get_monotonic_time () - t0, <, 20 * G_USEC_PER_SEC);
  g_atomic_int_set (&w.done, 1);
  g_thread_join (t);
  g_unsetenv ("AE_MEDIA_STALL_S");
  g_unlink (w.path);
  g_free (w.path);
}

static void
expect_error (AeDataset *ds, const char *source, int code,
    const char *needle1, const char *needle2)
{
  g_autoptr (GError) error = NULL;
  int before = ae_dataset_get_size (ds);
  g_assert_false (ae_dataset_add (ds, source, 1, 0, &error));
  g_assert_error (error, AE_DATASET_ERROR, code);
  if (g_test_verbose ())
    g_printerr ("%s\n", error->message);
  g_assert_nonnull (strstr (error->message, needle1));
  if (needle2)
    g_assert_nonnull (strstr (error->message, needle2));
  g_assert_cmpint (ae_dataset_get_size (ds), ==, before);
}

static void
test_errors (void)
{
  g_autoptr (AeDataset) ds = ae_dataset_new (1);
  g_autofree char *missing = tmp_path ("no-such-dir");
  g_autofree char *empty = tmp_path ("empty");
  g_autofree char *corrupt_dir = tmp_path ("corrupt");
  g_autofree char *corrupt = tmp_path ("corrupt/broken.png");
  g_autofree char *corrupt2 = tmp_path ("corrupt/broken2.jpg");
  g_mkdir_with_parents (empty, 0755);
  /* a PNG signature, then garbage */
  write_file (corrupt, "\x89PNG\r\n\x1a\n this is not really a PNG file");
  write_file (corrupt2, "\xff\xd8\xff\xe0 truncated JPEG");

  expect_error (ds, missing, AE_DATASET_ERROR_NOT_FOUND, missing,
      "No such file");
  expect_error (ds, empty, AE_DATASET_ERROR_EMPTY, "no decodable images in",
      empty);
  /* a corrupt file on its own fails, naming it */
  expect_error (ds, corrupt, AE_DATASET_ERROR_DECODE, corrupt, NULL);
  /* a folder of nothing but corrupt files fails */
  expect_error (ds, corrupt_dir, AE_DATASET_ERROR_EMPTY,
      "no decodable images in", "broken");
  /* a pipeline that does not parse, and one that fails when it runs */
  expect_error (ds, "videotestsrc ! no-such-element-x", AE_DATASET_ERROR_DECODE,
      "no-such-element-x", NULL);
  expect_error (ds, "filesrc location=/no/such/file ! pngdec",
      AE_DATASET_ERROR_DECODE, "/no/such/file", NULL);

  /* a good image next to the corrupt ones: loaded, two skipped */
  g_autofree char *good = make_png ("corrupt/good.png", 20, 20, "GRAY8", "");
  g_autoptr (GError) error = NULL;
  g_assert_true (ae_dataset_add (ds, corrupt_dir, 1, 0, &error));
  g_assert_no_error (error);
  g_assert_cmpint (ae_dataset_get_size (ds), ==, 1);
  g_assert_cmpint (ae_dataset_get_n_skipped (ds), ==, 2);

  g_assert_false (ae_dataset_add (ds, good, 0, 0, &error));
  g_assert_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_INVALID);
}

static AeDataset *
pixel_dataset (int n, int w, int h, int channels, guint32 seed)
{
  AeDataset *ds = ae_dataset_new (channels);
  g_autoptr (GRand) r = g_rand_new_with_seed (seed);
  g_autofree guint8 *px = g_malloc ((gsize) w * h * channels);
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < w * h * channels; k++)
      px[k] = g_rand_int_range (r, 0, 256);
    g_autofree char *origin = g_strdup_printf ("image%d", i);
    ae_dataset_add_pixels (ds, px, (gsize) w * channels, w, h, origin);
  }
  return ds;
}

static void
test_split (void)
{
  g_autoptr (AeDataset) ds = pixel_dataset (10, 4, 4, 1, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (AeDataset) held = ae_dataset_split (ds, 3, &error);
  g_assert_no_error (error);
  /* floor ((k + 0.5) · 10 / 3) = 1, 5, 8 */
  g_assert_cmpint (ae_dataset_get_size (held), ==, 3);
  g_assert_cmpstr (ae_dataset_get (held, 0)->origin, ==, "image1");
  g_assert_cmpstr (ae_dataset_get (held, 1)->origin, ==, "image5");
  g_assert_cmpstr (ae_dataset_get (held, 2)->origin, ==, "image8");
  g_assert_cmpint (ae_dataset_get_size (ds), ==, 7);
  const char *kept[] = { "image0", "image2", "image3", "image4", "image6",
    "image7", "image9"
  };
  for (int i = 0; i < 7; i++)
    g_assert_cmpstr (ae_dataset_get (ds, i)->origin, ==, kept[i]);

  g_assert_null (ae_dataset_split (ds, 7, &error));
  g_assert_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (ae_dataset_split (ds, 0, &error));
  g_assert_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_INVALID);
}

/* ------------------------------------------------------------------ */
/* degradations */

static void
measure_noise (const guint8 *clean, const guint8 *noisy, int n, double *mean,
    double *std)
{
  double s = 0, s2 = 0;
  for (int i = 0; i < n; i++) {
    double d = (double) noisy[i] - clean[i];
    s += d;
    s2 += d * d;
  }
  *mean = s / n;
  *std = sqrt (s2 / n - *mean * *mean);
}

static void
test_noise (void)
{
  const int w = 256, h = 256;
  g_autofree guint8 *grey = g_malloc (w * h);
  g_autofree guint8 *noisy = g_malloc (w * h);
  memset (grey, 128, w * h);
  const double sigmas[] = { 5, 15, 25, 50 };
  for (guint i = 0; i < G_N_ELEMENTS (sigmas); i++) {
    AeRng rng;
    double mean, std;
    ae_rng_init (&rng, 42, i);
    ae_add_gaussian_noise (grey, w, noisy, w, w, h, 1, sigmas[i], &rng);
    measure_noise (grey, noisy, w * h, &mean, &std);
    g_assert_cmpfloat (fabs (std / sigmas[i] - 1), <, 0.1);
    g_assert_cmpfloat (fabs (mean), <, 0.5);
  }
  /* same seed and stream, same noise; another stream, other noise */
  g_autofree guint8 *again = g_malloc (w * h);
  AeRng r1, r2;
  ae_rng_init (&r1, 7, 3);
  ae_rng_init (&r2, 7, 3);
  ae_add_gaussian_noise (grey, w, noisy, w, w, h, 1, 25, &r1);
  ae_add_gaussian_noise (grey, w, again, w, w, h, 1, 25, &r2);
  g_assert_cmpmem (noisy, w * h, again, w * h);
  ae_rng_init (&r2, 7, 4);
  ae_add_gaussian_noise (grey, w, again, w, w, h, 1, 25, &r2);
  g_assert_true (memcmp (noisy, again, w * h) != 0);

  /* Poisson-Gaussian at level 100, gain 0.5, read 3: variance
   * 100 / 0.5 + 9 = 209 */
  memset (grey, 100, w * h);
  double mean, std;
  ae_rng_init (&r1, 1, 0);
  ae_add_poisson_gaussian_noise (grey, w, noisy, w, w, h, 1, 0.5, 3, &r1);
  measure_noise (grey, noisy, w * h, &mean, &std);
  g_assert_cmpfloat (fabs (std / sqrt (209.0) - 1), <, 0.1);
  g_assert_cmpfloat (fabs (mean), <, 0.5);
  /* exact Poisson range (small λ): level 4 with gain 1 has variance 4 */
  memset (grey, 4, w * h);
  ae_add_poisson_gaussian_noise (grey, w, noisy, w, w, h, 1, 1.0, 0, &r1);
  measure_noise (grey, noisy, w * h, &mean, &std);
  g_assert_cmpfloat (fabs (std / 2.0 - 1), <, 0.1);
}

static void
test_bicubic (void)
{
  const int n = 24;
  guint8 img[24 * 24 * 3], out[24 * 24 * 3], big[48 * 48];

  /* constant in, constant out, whatever the scale and channels */
  memset (img, 77, sizeof img);
  for (int s = 2; s <= 4; s++) {
    ae_resize_bicubic (img, n * 3, n, n, 3, n / s, n / s, 0, 0, n / s, n / s,
        out, n / s * 3);
    for (int i = 0; i < (n / s) * (n / s) * 3; i++)
      g_assert_cmpint (out[i], ==, 77);
  }
  ae_resize_bicubic (img, n, n, n, 1, 2 * n, 2 * n, 0, 0, 2 * n, 2 * n, big,
      2 * n);
  for (int i = 0; i < 4 * n * n; i++)
    g_assert_cmpint (big[i], ==, 77);

  /* a linear ramp 4x + 2y stays that ramp sampled at the new pixel
   * centres, (X + 0.5) · s - 0.5, away from the mirrored borders */
  for (int y = 0; y < n; y++)
    for (int x = 0; x < n; x++)
      img[y * n + x] = 4 * x + 2 * y;
  for (int s = 2; s <= 4; s++) {
    const int m = n / s;
    ae_resize_bicubic (img, n, n, n, 1, m, m, 0, 0, m, m, out, m);
    for (int y = 2; y < m - 2; y++)
      for (int x = 2; x < m - 2; x++) {
        double cx = (x + 0.5) * s - 0.5, cy = (y + 0.5) * s - 0.5;
        g_assert_cmpint (out[y * m + x], ==, (int) (4 * cx + 2 * cy));
      }
  }
  /* and enlarging a 20x20 ramp 8x + 4y by 2: centres x / 2 - 0.25 */
  for (int y = 0; y < 20; y++)
    for (int x = 0; x < 20; x++)
      img[y * 20 + x] = 8 * x + 4 * y;
  ae_resize_bicubic (img, 20, 20, 20, 1, 40, 40, 0, 0, 40, 40, big, 40);
  for (int y = 4; y < 40 - 4; y++)
    for (int x = 4; x < 40 - 4; x++)
      g_assert_cmpint (big[y * 40 + x], ==, 4 * x + 2 * y - 3);

  /* a region is exactly that crop of the whole result */
  g_autoptr (GRand) r = g_rand_new_with_seed (5);
  for (int i = 0; i < n * n * 3; i++)
    img[i] = g_rand_int_range (r, 0, 256);
  ae_resize_bicubic (img, n * 3, n, n, 3, 8, 8, 0, 0, 8, 8, out, 24);
  guint8 part[5 * 3 * 3];
  ae_resize_bicubic (img, n * 3, n, n, 3, 8, 8, 2, 4, 3, 3, part, 9);
  for (int y = 0; y < 3; y++)
    g_assert_cmpmem (part + y * 9, 9, out + (4 + y) * 24 + 2 * 3, 9);
}

/* ------------------------------------------------------------------ */
/* batches */

static AeBatchParams
denoise_params (int channels)
{
  return (AeBatchParams) {
    .task = AE_TASK_DENOISE,.channels = channels,.patch = 16,.batch = 4,
    .sigma_min = 0,.sigma_max = 50,.poisson_prob = 0.3,.augment = TRUE,
    .seed = 1234,
  };
}

static void
test_determinism (void)
{
  g_autoptr (AeDataset) ds = pixel_dataset (5, 40, 30, 3, 2);
  AeBatchParams p = denoise_params (3);
  g_autoptr (GError) error = NULL;
  const gsize n = 4 * 16 * 16 * 3;
  float *in[4], *tg[4];
  for (int i = 0; i < 4; i++) {
    in[i] = g_new (float, n);
    tg[i] = g_new (float, n);
  }

  AeBatcher *b = ae_batcher_new (ds, &p, 0, &error);
  g_assert_no_error (error);
  ae_batcher_next (b, in[0], tg[0]);    /* batch 0 */
  ae_batcher_next (b, in[1], tg[1]);    /* batch 1 */
  ae_batcher_next (b, in[2], tg[2]);    /* batch 2 */
  ae_batcher_make (b, 1, in[3], tg[3]);
  g_assert_cmpmem (in[1], n * 4, in[3], n * 4);
  g_assert_cmpmem (tg[1], n * 4, tg[3], n * 4);
  g_assert_true (memcmp (in[0], in[1], n * 4) != 0);
  g_assert_true (memcmp (tg[0], tg[1], n * 4) != 0);
  ae_batcher_free (b);

  /* resumed at batch 2, with three loader threads */
  p.threads = 3;
  b = ae_batcher_new (ds, &p, 2, &error);
  g_assert_no_error (error);
  ae_batcher_next (b, in[3], tg[3]);
  g_assert_cmpmem (in[2], n * 4, in[3], n * 4);
  g_assert_cmpmem (tg[2], n * 4, tg[3], n * 4);
  ae_batcher_free (b);

  /* another seed, other batches */
  p.seed++;
  b = ae_batcher_new (ds, &p, 2, &error);
  ae_batcher_next (b, in[3], tg[3]);
  g_assert_true (memcmp (in[2], in[3], n * 4) != 0);
  ae_batcher_free (b);

  for (int i = 0; i < 4; i++) {
    g_free (in[i]);
    g_free (tg[i]);
  }
}

/* One 64x64 mid-grey image. */
static AeDataset *
grey_dataset (void)
{
  AeDataset *ds = ae_dataset_new (1);
  guint8 grey[64 * 64];
  memset (grey, 128, sizeof grey);
  ae_dataset_add_pixels (ds, grey, 64, 64, 64, "grey");
  return ds;
}

/* On mid-grey nothing clips, so input - target is the noise itself. */
static void
test_batch_noise (void)
{
  g_autoptr (AeDataset) ds = grey_dataset ();
  const double sigmas[] = { 10, 25, 40 };
  for (guint s = 0; s < G_N_ELEMENTS (sigmas); s++) {
    AeBatchParams p = {.task = AE_TASK_DENOISE,.channels = 1,.patch = 32,
      .batch = 8,.sigma_min = sigmas[s],.sigma_max = sigmas[s],.seed = s
    };
    g_autoptr (GError) error = NULL;
    g_autoptr (AeBatcher) b = ae_batcher_new (ds, &p, 0, &error);
    g_assert_no_error (error);
    const int n = 8 * 32 * 32;
    g_autofree float *in = g_new (float, n);
    g_autofree float *tg = g_new (float, n);
    ae_batcher_next (b, in, tg);
    double sum = 0, sum2 = 0;
    for (int i = 0; i < n; i++) {
      g_assert_cmpfloat (tg[i], ==, 128 / 255.0f);
      /* whole 8-bit levels */
      double level = in[i] * 255.0;
      g_assert_cmpfloat (fabs (level - rint (level)), <, 1e-3);
      double d = level - 128;
      sum += d;
      sum2 += d * d;
    }
    double mean = sum / n, std = sqrt (sum2 / n - mean * mean);
    g_assert_cmpfloat (fabs (std / sigmas[s] - 1), <, 0.1);
  }
}

/* --clean: about that fraction of samples comes without noise. */
static void
test_batch_clean (void)
{
  g_autoptr (AeDataset) ds = grey_dataset ();
  AeBatchParams p = {.task = AE_TASK_DENOISE,.channels = 1,.patch = 16,
    .batch = 64,.sigma_min = 20,.sigma_max = 20,.clean_prob = 0.25,.seed = 5
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (AeBatcher) b = ae_batcher_new (ds, &p, 0, &error);
  g_assert_no_error (error);
  const int per = 16 * 16, n = 64 * per;
  g_autofree float *in = g_new (float, n);
  g_autofree float *tg = g_new (float, n);
  int clean = 0;
  for (int k = 0; k < 4; k++) {
    ae_batcher_next (b, in, tg);
    for (int s = 0; s < 64; s++)
      clean += memcmp (in + s * per, tg + s * per, per * sizeof (float)) == 0;
  }
  /* 256 samples at 0.25: 64 expected, sd 7 */
  g_assert_cmpint (clean, >, 40);
  g_assert_cmpint (clean, <, 90);

  p.clean_prob = 1.5;
  g_autoptr (AeBatcher) bad = ae_batcher_new (ds, &p, 0, &error);
  g_assert_null (bad);
  g_assert_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_INVALID);
}

/* The target is one of the 8 symmetries of a patch-sized image with all
 * values distinct; over many samples every one appears. */
static void
test_augment (void)
{
  const int n = 6;
  guint8 img[36];
  for (int i = 0; i < 36; i++)
    img[i] = i * 7;
  g_autoptr (AeDataset) ds = ae_dataset_new (1);
  ae_dataset_add_pixels (ds, img, n, n, n, "asymmetric");

  for (int augment = 0; augment <= 1; augment++) {
    AeBatchParams p = {.task = AE_TASK_ANOMALY,.channels = 1,.patch = n,
      .batch = 200,.augment = augment,.seed = 9
    };
    g_autoptr (GError) error = NULL;
    g_autoptr (AeBatcher) b = ae_batcher_new (ds, &p, 0, &error);
    g_assert_no_error (error);
    g_autofree float *in = g_new (float, 200 * 36);
    g_autofree float *tg = g_new (float, 200 * 36);
    ae_batcher_next (b, in, tg);
    g_assert_cmpmem (in, 200 * 36 * 4, tg, 200 * 36 * 4);

    int seen = 0;
    for (int k = 0; k < 200; k++) {
      const float *t = tg + k * 36;
      /* which symmetry: the corner holding value 0 and the direction of
       * value 7 (its right-hand neighbour in the original) */
      int found = -1;
      for (int o = 0; o < 8; o++) {
        gboolean same = TRUE;
        for (int y = 0; y < n && same; y++)
          for (int x = 0; x < n && same; x++) {
            int sy = (o & 4) ? x : y, sx = (o & 4) ? y : x;
            if (o & 1)
              sx = n - 1 - sx;
            if (o & 2)
              sy = n - 1 - sy;
            same = fabsf (t[y * n + x] * 255 - img[sy * n + sx]) < 1e-3;
          }
        if (same)
          found = o;
      }
      g_assert_cmpint (found, >=, 0);
      seen |= 1 << found;
    }
    g_assert_cmpint (seen, ==, augment ? 0xff : 0x01);
  }
}

/* Superres inputs are pieces of the whole image shrunk by the scale. */
static void
test_superres (void)
{
  const int w = 40, h = 31, s = 2, patch = 8;
  g_autoptr (AeDataset) ds = ae_dataset_new (1);
  guint8 img[40 * 31];
  /* distinct rows and columns, so a patch's position can be found */
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      img[y * w + x] = (x * 5 + y * 37 + x * y) % 251;
  ae_dataset_add_pixels (ds, img, w, w, h, "img");
  /* the image cropped to 40x30 and shrunk to 20x15 */
  guint8 small[20 * 15];
  ae_resize_bicubic (img, w, 40, 30, 1, 20, 15, 0, 0, 20, 15, small, 20);

  AeBatchParams p = {.task = AE_TASK_SUPERRES,.channels = 1,.patch = patch,
    .scale = s,.batch = 16,.seed = 3
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (AeBatcher) b = ae_batcher_new (ds, &p, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpint (ae_batcher_get_input_side (b), ==, 4);
  float in[16 * 16], tg[16 * 64];
  ae_batcher_next (b, in, tg);
  for (int k = 0; k < 16; k++) {
    int px = -1, py = -1;
    for (int y = 0; y + patch <= 30 && px < 0; y++)
      for (int x = 0; x + patch <= w && px < 0; x++)
        if (fabsf (tg[k * 64] * 255 - img[y * w + x]) < 1e-3
            && fabsf (tg[k * 64 + 9] * 255 - img[(y + 1) * w + x + 1]) < 1e-3
            && fabsf (tg[k * 64 + 63] * 255 - img[(y + 7) * w + x + 7]) < 1e-3)
          px = x, py = y;
    g_assert_cmpint (px, >=, 0);
    g_assert_cmpint (px % s, ==, 0);
    g_assert_cmpint (py % s, ==, 0);
    for (int y = 0; y < 4; y++)
      for (int x = 0; x < 4; x++)
        g_assert_cmpfloat (fabsf (in[k * 16 + y * 4 + x] * 255
                - small[(py / s + y) * 20 + px / s + x]), <, 1e-3);
  }
}

static void
test_jpeg (void)
{
  g_autoptr (AeDataset) ds = ae_dataset_new (3);
  g_autofree guint8 *img = g_malloc (48 * 48 * 3);
  for (int y = 0; y < 48; y++)
    for (int x = 0; x < 48 * 3; x++)
      img[y * 48 * 3 + x] = (x * 3 + y * 5) % 256;
  ae_dataset_add_pixels (ds, img, 48 * 3, 48, 48, "ramp");
  AeBatchParams p = {.task = AE_TASK_DENOISE,.channels = 3,.patch = 24,
    .batch = 4,.jpeg_min = 10,.jpeg_max = 30,.jpeg_prob = 1.0,.seed = 1
  };
  g_autoptr (GError) error = NULL;
  g_autoptr (AeBatcher) b = ae_batcher_new (ds, &p, 0, &error);
  g_assert_no_error (error);
  const int n = 4 * 24 * 24 * 3;
  g_autofree float *in = g_new (float, n);
  g_autofree float *tg = g_new (float, n);
  g_autofree float *in2 = g_new (float, n);
  g_autofree float *tg2 = g_new (float, n);
  ae_batcher_next (b, in, tg);
  ae_batcher_make (b, 0, in2, tg2);
  g_assert_cmpmem (in, n * 4, in2, n * 4);
  /* artefacts: changed, but still close to the clean patch */
  double mse = 0;
  for (int i = 0; i < n; i++)
    mse += (in[i] - tg[i]) * (in[i] - tg[i]) / n;
  g_assert_cmpfloat (mse, >, 0);
  g_assert_cmpfloat (10 * log10 (1 / mse), >, 20);
}

static void
expect_batch_error (AeDataset *ds, const AeBatchParams *p, int code,
    const char *needle)
{
  g_autoptr (GError) error = NULL;
  g_assert_null (ae_batcher_new (ds, p, 0, &error));
  g_assert_error (error, AE_DATASET_ERROR, code);
  if (g_test_verbose ())
    g_printerr ("%s\n", error->message);
  g_assert_nonnull (strstr (error->message, needle));
}

static void
test_batch_errors (void)
{
  g_autoptr (AeDataset) ds = pixel_dataset (3, 64, 64, 1, 4);
  guint8 small[40 * 30] = { 0 };
  ae_dataset_add_pixels (ds, small, 40, 40, 30, "dir/small.png");
  AeBatchParams p = denoise_params (1);
  p.patch = 32;
  expect_batch_error (ds, &p, AE_DATASET_ERROR_TOO_SMALL, "dir/small.png");
  p.patch = 64;
  expect_batch_error (ds, &p, AE_DATASET_ERROR_TOO_SMALL, "40x30");

  /* frames of a pipeline, named as such */
  g_autoptr (AeDataset) frames = ae_dataset_new (1);
  g_assert_true (ae_dataset_add (frames, "videotestsrc num-buffers=2 ! "
          "video/x-raw,width=64,height=48", 1, 0, NULL));
  expect_batch_error (frames, &p, AE_DATASET_ERROR_TOO_SMALL, "frame 0");

  p.patch = 16;
  p.channels = 3;
  expect_batch_error (frames, &p, AE_DATASET_ERROR_INVALID, "channels");
  p.channels = 1;
  p.task = AE_TASK_SUPERRES;
  p.scale = 3;
  expect_batch_error (frames, &p, AE_DATASET_ERROR_INVALID, "scale");
  p.scale = 5;
  p.patch = 20;
  expect_batch_error (frames, &p, AE_DATASET_ERROR_INVALID, "scale");
  p.task = AE_TASK_DENOISE;
  p.sigma_min = 30;
  p.sigma_max = 20;
  expect_batch_error (frames, &p, AE_DATASET_ERROR_INVALID, "noise");
  p.sigma_min = 0;
  p.jpeg_min = 0;
  p.jpeg_max = 50;
  expect_batch_error (frames, &p, AE_DATASET_ERROR_INVALID, "JPEG");
  p.jpeg_max = 0;
  p.batch = 0;
  expect_batch_error (frames, &p, AE_DATASET_ERROR_INVALID, "batch");

  g_autoptr (AeDataset) none = ae_dataset_new (1);
  p.batch = 1;
  expect_batch_error (none, &p, AE_DATASET_ERROR_INVALID, "empty");
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_autoptr (GError) error = NULL;
  tmpdir = g_dir_make_tmp ("ae-dataset-XXXXXX", &error);
  g_assert_no_error (error);

  g_test_add_func ("/dataset/folder", test_folder);
  g_test_add_func ("/dataset/video", test_video);
  g_test_add_func ("/dataset/pipeline", test_pipeline);
  g_test_add_func ("/dataset/luma-matrix", test_luma_matrix);
  g_test_add_func ("/dataset/errors", test_errors);
  g_test_add_func ("/dataset/stall", test_stall);
  g_test_add_func ("/dataset/split", test_split);
  g_test_add_func ("/degrade/noise", test_noise);
  g_test_add_func ("/degrade/bicubic", test_bicubic);
  g_test_add_func ("/batch/determinism", test_determinism);
  g_test_add_func ("/batch/noise", test_batch_noise);
  g_test_add_func ("/batch/clean", test_batch_clean);
  g_test_add_func ("/batch/augment", test_augment);
  g_test_add_func ("/batch/superres", test_superres);
  g_test_add_func ("/batch/jpeg", test_jpeg);
  g_test_add_func ("/batch/errors", test_batch_errors);
  int status = g_test_run ();
  remove_tree (tmpdir);
  g_free (tmpdir);
  /* joins GStreamer's pooled streaming threads: one still winding down at
   * exit can crash LeakSanitizer's tracer */
  gst_deinit ();
  return status;
}
