/* Anomaly features, calibration, scoring and the calibration's JSON
 * (compute/ae-anomaly.h). A synthetic "scene" stands in for video: a fixed
 * texture, a moving blob (the pedestrians) and sensor noise; its
 * "reconstruction" is the clean scene smoothed, as an undercomplete
 * autoencoder gives back a frame: the normal content, less fine detail. */
#include "ae-anomaly.h"
#include "ae-error.h"

#include <math.h>
#include <string.h>

#define W 160
#define H 96
#define N_NORMAL 40

typedef struct {
  guint8 in[W * H];
  guint8 recon[W * H];
} Frame;

static double
texture (int x, int y)
{
  return 110 + 50 * sin (x * 0.31) * cos (y * 0.23) + 30 * sin ((x + 2 * y)
      * 0.9);
}

/* 3x3 box filter with edge clamping. */
static void
smooth (const guint8 *src, guint8 *dst)
{
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      int s = 0;
      for (int dy = -1; dy <= 1; dy++)
        for (int dx = -1; dx <= 1; dx++)
          s += src[CLAMP (y + dy, 0, H - 1) * W + CLAMP (x + dx, 0, W - 1)];
      dst[y * W + x] = (guint8) ((s + 4) / 9);
    }
}

/* Normal frame @t: texture, a blob at a time-dependent place, noise. */
static void
make_frame (Frame *f, int t, GRand *rand)
{
  int bx = 20 + (t * 7) % (W - 40), by = 30 + (t * 3) % (H - 50);
  guint8 clean[W * H];

  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      double v = texture (x, y);
      if (abs (x - bx) < 6 && abs (y - by) < 12)
        v = 40;
      clean[y * W + x] = (guint8) CLAMP (v, 0, 255);
      f->in[y * W + x] = (guint8) CLAMP (v + g_rand_double_range (rand, -6,
              6), 0, 255);
    }
  smooth (clean, f->recon);
}

static void
measure (const Frame *f, AeAnomalyFeatures *out)
{
  ae_anomaly_measure (f->in, W, f->recon, W, W, H, 1, out, NULL, 0, 0);
}

/* The features of the scene's first N_NORMAL frames. */
static void
scene_features (AeAnomalyFeatures feats[N_NORMAL])
{
  g_autoptr (GRand) rand = g_rand_new_with_seed (7);
  g_autofree Frame *f = g_new (Frame, 1);

  for (int i = 0; i < N_NORMAL; i++) {
    make_frame (f, i, rand);
    measure (f, &feats[i]);
  }
}

static void
calibrate_scene (AeAnomalyCalibration *cal)
{
  AeAnomalyFeatures feats[N_NORMAL];
  g_autoptr (GError) error = NULL;

  scene_features (feats);
  g_assert_true (ae_anomaly_calibrate (feats, N_NORMAL, NULL, cal, &error));
  g_assert_no_error (error);
  g_assert_cmpint (cal->n_frames, ==, N_NORMAL);
  g_assert_cmpfloat (cal->threshold, >=, AE_ANOMALY_MIN_THRESHOLD);
  for (int i = 0; i < N_NORMAL; i++)
    g_assert_cmpfloat (ae_anomaly_score (cal, &feats[i], NULL, NULL), <,
        cal->threshold);
}

/* Features of known frames: constant error, a flat frame. */
static void
test_measure_values (void)
{
  guint8 in[6 * 5], recon[6 * 5];
  AeAnomalyFeatures f;
  float map[4];

  memset (in, 100, sizeof in);
  memset (recon, 90, sizeof recon);
  ae_anomaly_measure (in, 6, recon, 6, 6, 5, 1, &f, map, 2, 2);
  double e = 10.0 * 10.0 / (255.0 * 255.0);
  g_assert_cmpfloat_with_epsilon (f.v[AE_ANOMALY_MSE], e, 1e-12);
  g_assert_cmpfloat_with_epsilon (f.v[AE_ANOMALY_WORST], e, 1e-12);
  g_assert_cmpfloat_with_epsilon (f.peak, e, 1e-12);
  g_assert_cmpfloat (f.v[AE_ANOMALY_DETAIL], ==, 0.0);
  g_assert_cmpfloat_with_epsilon (f.v[AE_ANOMALY_BRIGHTNESS], 100 / 255.0,
      1e-12);
  g_assert_cmpfloat_with_epsilon (f.v[AE_ANOMALY_CONTRAST], 0.0, 1e-6);
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat_with_epsilon (map[i], e, 1e-7);

  /* RGB: channels averaged, a 4th byte ignored */
  guint8 rgba[2 * 4] = { 30, 60, 90, 255, 30, 60, 90, 0 };
  guint8 rgba_r[2 * 4] = { 30, 60, 93, 7, 30, 60, 93, 200 };
  ae_anomaly_measure (rgba, 8, rgba_r, 8, 2, 1, 4, &f, NULL, 0, 0);
  g_assert_cmpfloat_with_epsilon (f.v[AE_ANOMALY_MSE],
      3.0 / (255.0 * 255.0), 1e-12);
  g_assert_cmpfloat_with_epsilon (f.v[AE_ANOMALY_BRIGHTNESS], 60 / 255.0,
      1e-12);
}

/* Map cells follow where the error is; more cells than pixels, and 1x1
 * frames, still give a full finite map. */
static void
test_measure_map (void)
{
  guint8 in[64 * 32], recon[64 * 32];
  AeAnomalyFeatures f;
  float map[8 * 4];

  memset (in, 50, sizeof in);
  memcpy (recon, in, sizeof recon);
  for (int y = 0; y < 8; y++)
    for (int x = 56; x < 64; x++)
      recon[y * 64 + x] = 150;  /* top-right corner cell only */
  ae_anomaly_measure (in, 64, recon, 64, 64, 32, 1, &f, map, 8, 4);
  for (int i = 0; i < 32; i++)
    g_assert_cmpfloat (map[i], ==, i == 7 ? (float) (100.0 * 100.0 /
            (255.0 * 255.0)) : 0.0f);
  /* the worst patch is the top-right one; the box stays on the frame */
  g_assert_cmpint (f.box.x, ==, 48);
  g_assert_cmpint (f.box.y, ==, 0);
  g_assert_cmpint (f.box.width, ==, 16);
  g_assert_cmpint (f.box.height, ==, 16);

  guint8 a[3 * 2] = { 0, 10, 20, 30, 40, 50 }, b[3 * 2] = { 0 };
  float big[7 * 5];
  ae_anomaly_measure (a, 3, b, 3, 3, 2, 1, &f, big, 7, 5);
  for (int i = 0; i < 7 * 5; i++)
    g_assert_true (isfinite (big[i]));
  g_assert_cmpfloat (big[0], ==, 0.0f);         /* pixel (0,0) */
  g_assert_cmpfloat_with_epsilon (big[7 * 5 - 1], 50.0 * 50 / (255.0 * 255),
      1e-6);                                    /* pixel (2,1) */
  g_assert_cmpint (f.box.width, ==, 3);
  g_assert_cmpint (f.box.height, ==, 2);

  guint8 one = 7, one_r = 9;
  ae_anomaly_measure (&one, 1, &one_r, 1, 1, 1, 1, &f, big, 2, 2);
  g_assert_cmpfloat_with_epsilon (f.v[AE_ANOMALY_MSE], 4 / (255.0 * 255),
      1e-12);
  g_assert_cmpfloat (f.v[AE_ANOMALY_DETAIL], ==, 0.0);
}

/* A pasted foreign patch: the worst-patch feature rises far more than the
 * frame mean, the frame is flagged by it, and the box finds the patch. */
static void
test_pasted_patch (void)
{
  AeAnomalyCalibration cal;
  g_autoptr (GRand) rand = g_rand_new_with_seed (99);
  g_autofree Frame *f = g_new (Frame, 1);
  AeAnomalyFeatures clean, pasted;
  AeAnomalyFeature dominant;
  gboolean below;

  calibrate_scene (&cal);
  make_frame (f, N_NORMAL + 3, rand);
  measure (f, &clean);
  g_assert_cmpfloat (ae_anomaly_score (&cal, &clean, NULL, NULL), <,
      cal.threshold);
  /* a 14x14 checkerboard the reconstruction knows nothing of */
  for (int y = 50; y < 64; y++)
    for (int x = 100; x < 114; x++)
      f->in[y * W + x] = ((x / 2 + y / 2) % 2) ? 250 : 5;
  measure (f, &pasted);

  double mse_ratio = pasted.v[AE_ANOMALY_MSE] / clean.v[AE_ANOMALY_MSE];
  double worst_ratio = pasted.v[AE_ANOMALY_WORST] / clean.v[AE_ANOMALY_WORST];
  g_assert_cmpfloat (mse_ratio, >, 1.0);
  g_assert_cmpfloat (worst_ratio, >, 3 * mse_ratio);
  double s = ae_anomaly_score (&cal, &pasted, &dominant, &below);
  g_assert_cmpfloat (s, >, cal.threshold);
  g_assert_false (below);
  g_assert_true (dominant == AE_ANOMALY_WORST || dominant == AE_ANOMALY_DETAIL);
  /* the box overlaps the patch */
  g_assert_cmpint (pasted.box.x, <, 114);
  g_assert_cmpint (pasted.box.x + pasted.box.width, >, 100);
  g_assert_cmpint (pasted.box.y, <, 64);
  g_assert_cmpint (pasted.box.y + pasted.box.height, >, 50);
  g_assert_cmpint (pasted.box.width, <=, 48);
}

/* Defocus: the reconstruction error of a blurred frame *falls*, so only the
 * two-sided features can flag it; they must, from below. */
static void
test_blur (void)
{
  AeAnomalyCalibration cal;
  g_autoptr (GRand) rand = g_rand_new_with_seed (5);
  g_autofree Frame *f = g_new (Frame, 1);
  g_autofree Frame *b = g_new (Frame, 1);
  AeAnomalyFeatures sharp, blurred;
  AeAnomalyFeature dominant;
  gboolean below;

  calibrate_scene (&cal);
  make_frame (f, N_NORMAL + 5, rand);
  measure (f, &sharp);
  /* blur twice; the autoencoder reproduces a blurred frame easily */
  smooth (f->in, b->recon);
  smooth (b->recon, b->in);
  smooth (b->in, b->recon);
  measure (b, &blurred);

  g_assert_cmpfloat (blurred.v[AE_ANOMALY_DETAIL], <,
      0.5 * sharp.v[AE_ANOMALY_DETAIL]);
  g_assert_cmpfloat (blurred.v[AE_ANOMALY_MSE], <, sharp.v[AE_ANOMALY_MSE]);
  double s = ae_anomaly_score (&cal, &blurred, &dominant, &below);
  g_assert_cmpfloat (s, >, cal.threshold);
  g_assert_true (below);
  g_assert_true (dominant == AE_ANOMALY_DETAIL || dominant == AE_ANOMALY_MSE);
  AeAnomalyBox box;
  ae_anomaly_region (&cal, &blurred, AE_ANOMALY_DETAIL, W, H, &box);
  g_assert_cmpint (box.x, ==, 0);
  g_assert_cmpint (box.width, ==, W);
  g_assert_cmpint (box.height, ==, H);
  ae_anomaly_region (&cal, &blurred, AE_ANOMALY_WORST, W, H, &box);
  g_assert_cmpmem (&box, sizeof box, &blurred.box, sizeof box);

  /* a one-sided (first version) calibration cannot see it */
  AeAnomalyCalibration legacy;
  ae_anomaly_calibration_init_legacy (&legacy, cal.mse_mean, cal.mse_std, 4);
  g_assert_cmpfloat (ae_anomaly_score (&legacy, &blurred, NULL, NULL), ==,
      0.0);
}

/* Darker scene: brightness, from below. */
static void
test_light_change (void)
{
  AeAnomalyCalibration cal;
  g_autoptr (GRand) rand = g_rand_new_with_seed (11);
  g_autofree Frame *f = g_new (Frame, 1);
  AeAnomalyFeatures feat;
  gboolean below;

  calibrate_scene (&cal);
  make_frame (f, 3, rand);
  for (int i = 0; i < W * H; i++) {
    f->in[i] = (guint8) (f->in[i] * 0.6);
    f->recon[i] = (guint8) (f->recon[i] * 0.6);
  }
  measure (f, &feat);
  g_assert_cmpfloat (ae_anomaly_score (&cal, &feat, NULL, &below), >,
      cal.threshold);
  g_assert_true (below);
}

/* A dark occlusion of a corner: the changed-cells feature catches it,
 * from below, while people walking through stay normal. */
static void
test_occlusion (void)
{
  AeAnomalyCalibration cal;
  g_autoptr (GRand) rand = g_rand_new_with_seed (21);
  g_autofree Frame *f = g_new (Frame, 1);
  AeAnomalyFeatures clean, covered;
  AeAnomalyFeature dominant;
  gboolean below;

  calibrate_scene (&cal);
  g_assert_true (cal.has_cells);
  make_frame (f, 2, rand);
  measure (f, &clean);
  g_assert_cmpfloat (ae_anomaly_changed_fraction (&cal, &clean), <=, 0.05);
  for (int y = H / 2; y < H; y++)
    for (int x = 0; x < W / 2; x++)
      f->in[y * W + x] = f->recon[y * W + x] = 15;
  measure (f, &covered);
  double frac = ae_anomaly_changed_fraction (&cal, &covered);
  g_assert_cmpfloat (frac, >=, 0.2);
  g_assert_cmpfloat (frac, <=, 0.3);
  g_assert_cmpfloat (ae_anomaly_score (&cal, &covered, &dominant, &below), >,
      cal.threshold);
  g_assert_true (below);
  /* the region holds the covered quarter (and the blob, a "person" that
   * stands where the calibration frames had none) */
  AeAnomalyBox box;
  g_assert_cmpint (dominant, ==, AE_ANOMALY_CHANGED);
  ae_anomaly_region (&cal, &covered, dominant, W, H, &box);
  g_assert_cmpint (box.x, ==, 0);
  g_assert_cmpint (box.y, <=, H / 2);
  g_assert_cmpint (box.y, >=, 16);
  g_assert_cmpint (box.y + box.height, ==, H);
  g_assert_cmpint (box.x + box.width, >=, W / 2);
  g_assert_cmpint (box.x + box.width, <=, W / 2 + 20);

  /* without cell statistics the feature is silent */
  AeAnomalyCalibration none = cal;
  none.has_cells = FALSE;
  g_assert_cmpfloat (ae_anomaly_changed_fraction (&none, &covered), ==, 0.0);
}

/* A feature with a heavy tail on normal frames widens its own scale
 * instead of raising the threshold: an event another feature shows scores
 * as it would without the tail. */
static void
test_calibrate_tail (void)
{
  AeAnomalyFeatures feats[N_NORMAL];
  AeAnomalyCalibration plain, tailed;
  g_autoptr (GError) error = NULL;
  AeAnomalyFeature dominant;

  scene_features (feats);
  g_assert_true (ae_anomaly_calibrate (feats, N_NORMAL, NULL, &plain,
          &error));
  feats[5].v[AE_ANOMALY_BRIGHTNESS] += 0.3;     /* dozens of scales out */
  g_assert_true (ae_anomaly_calibrate (feats, N_NORMAL, NULL, &tailed,
          &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (plain.threshold, ==, AE_ANOMALY_MIN_THRESHOLD);
  g_assert_cmpfloat_with_epsilon (tailed.threshold, plain.threshold, 1e-9);
  g_assert_cmpfloat (tailed.feature[AE_ANOMALY_BRIGHTNESS].scale, >,
      5 * plain.feature[AE_ANOMALY_BRIGHTNESS].scale);
  /* the tail frame stays the margin below the threshold */
  double s = ae_anomaly_score (&tailed, &feats[5], &dominant, NULL);
  g_assert_cmpint (dominant, ==, AE_ANOMALY_BRIGHTNESS);
  g_assert_cmpfloat_with_epsilon (s, AE_ANOMALY_MIN_THRESHOLD /
      AE_ANOMALY_THRESHOLD_MARGIN, 1e-9);

  AeAnomalyFeatures event = feats[0];
  event.v[AE_ANOMALY_MSE] *= 4;
  s = ae_anomaly_score (&tailed, &event, &dominant, NULL);
  g_assert_cmpint (dominant, ==, AE_ANOMALY_MSE);
  g_assert_cmpfloat (s, ==, ae_anomaly_score (&plain, &event, NULL, NULL));
  g_assert_cmpfloat (s, >, tailed.threshold);
}

static void
test_calibrate_errors (void)
{
  AeAnomalyFeatures feats[3];
  AeAnomalyCalibration cal;
  GError *error = NULL;

  memset (feats, 0, sizeof feats);
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < AE_ANOMALY_N_FEATURES; k++)
      feats[i].v[k] = 0.01 * (i + 1);

  g_assert_false (ae_anomaly_calibrate (feats, 1, NULL, &cal, &error));
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "at least 2"));
  g_clear_error (&error);
  g_assert_false (ae_anomaly_calibrate (feats, 0, NULL, &cal, &error));
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_FAILED);
  g_clear_error (&error);

  feats[1].v[AE_ANOMALY_DETAIL] = NAN;
  g_assert_false (ae_anomaly_calibrate (feats, 3, NULL, &cal, &error));
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "frame 1 has detail"));
  g_clear_error (&error);
  feats[1].v[AE_ANOMALY_DETAIL] = INFINITY;
  g_assert_false (ae_anomaly_calibrate (feats, 3, NULL, &cal, &error));
  g_clear_error (&error);
  feats[1].v[AE_ANOMALY_DETAIL] = -1;
  g_assert_false (ae_anomaly_calibrate (feats, 3, NULL, &cal, &error));
  g_clear_error (&error);

  /* identical frames: scales get their floor, scores stay finite */
  feats[1].v[AE_ANOMALY_DETAIL] = 0.02;
  for (int i = 0; i < 3; i++)
    feats[i] = feats[0];
  g_assert_true (ae_anomaly_calibrate (feats, 3, NULL, &cal, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (cal.threshold, ==, AE_ANOMALY_MIN_THRESHOLD);
  for (int k = 0; k < AE_ANOMALY_N_FEATURES; k++)
    if (k != AE_ANOMALY_COLOUR)
      g_assert_cmpfloat (cal.feature[k].scale, >, 0);
  /* no colours given: the colour feature is not used */
  g_assert_cmpint (cal.feature[AE_ANOMALY_COLOUR].side, ==,
      AE_ANOMALY_SIDE_NONE);
  g_assert_false (cal.has_colours);
  g_assert_cmpfloat (ae_anomaly_score (&cal, &feats[0], NULL, NULL), ==, 0);
  feats[0].v[AE_ANOMALY_MSE] = 0;       /* log of zero stays finite */
  g_assert_true (isfinite (ae_anomaly_score (&cal, &feats[0], NULL, NULL)));
}

static char *
graph_json_with (const char *anomaly)
{
  return g_strdup_printf ("{\"task\": \"anomaly\", \"nodes\": [{\"name\": "
      "\"c\", \"op\": \"conv2d\", \"inputs\": [\"input\"], \"out\": 1, "
      "\"kernel\": 3}], \"output\": \"c\", \"anomaly\": %s}", anomaly);
}

/* to_json -> the graph parser -> the same calibration, to the bit. */
static void
test_json_round_trip (void)
{
  AeAnomalyCalibration cal, back;
  g_autoptr (GError) error = NULL;

  calibrate_scene (&cal);
  g_autofree char *js = ae_anomaly_calibration_to_json (&cal);
  g_autofree char *doc = graph_json_with (js);
  g_autoptr (AeGraph) g = ae_graph_new_from_json (doc, "test", &error);
  g_assert_no_error (error);
  g_assert_true (ae_graph_get_anomaly (g, &back));
  g_assert_cmpmem (&cal, sizeof cal, &back, sizeof back);

  double mean, std, threshold;
  g_assert_true (ae_graph_get_anomaly_calibration (g, &mean, &std,
          &threshold));
  g_assert_cmpfloat (mean, ==, cal.mse_mean);
  g_assert_cmpfloat (std, ==, cal.mse_std);
  g_assert_cmpfloat (threshold, ==, cal.threshold);

  /* the graph's re-serialised document carries it too */
  g_autoptr (AeGraph) g2 = ae_graph_new_from_json (ae_graph_get_json (g),
      "again", &error);
  g_assert_no_error (error);
  g_assert_true (ae_graph_get_anomaly (g2, &back));
  g_assert_cmpmem (&cal, sizeof cal, &back, sizeof back);

  /* numbers that json-glib 1.6 alone writes as "1e-10.0", which no
   * parser reads back */
  cal.mse_std = 1e-10;
  cal.threshold = 1e+20;
  g_autofree char *tiny = ae_anomaly_calibration_to_json (&cal);
  g_assert_null (strstr (tiny, "e-10.0"));
  g_autofree char *tiny_doc = graph_json_with (tiny);
  g_autoptr (AeGraph) g4 = ae_graph_new_from_json (tiny_doc, "tiny", &error);
  g_assert_no_error (error);
  g_assert_true (ae_graph_get_anomaly (g4, &back));
  g_assert_cmpmem (&cal, sizeof cal, &back, sizeof back);

  /* no "anomaly" member: none */
  g_autoptr (AeGraph) g3 = ae_graph_new_from_json ("{\"task\": \"anomaly\", "
      "\"nodes\": [{\"name\": \"c\", \"op\": \"conv2d\", \"inputs\": "
      "[\"input\"], \"out\": 1, \"kernel\": 3}], \"output\": \"c\"}", "none",
      &error);
  g_assert_no_error (error);
  g_assert_false (ae_graph_get_anomaly (g3, NULL));
}

/* The first version's object still reads, as a one-sided MSE score. */
static void
test_json_legacy (void)
{
  AeAnomalyCalibration cal;
  AeAnomalyFeatures f = { 0 };
  g_autoptr (GError) error = NULL;

  g_assert_true (ae_anomaly_calibration_from_json ("{\"mean\": 0.002, "
          "\"std\": 0.0005, \"threshold\": 4}", &cal, &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (cal.threshold, ==, 4.0);
  g_assert_cmpint (cal.feature[AE_ANOMALY_MSE].side, ==, AE_ANOMALY_SIDE_HIGH);
  for (int k = 1; k < AE_ANOMALY_N_FEATURES; k++)
    g_assert_cmpint (cal.feature[k].side, ==, AE_ANOMALY_SIDE_NONE);
  f.v[AE_ANOMALY_MSE] = 0.004;
  g_assert_cmpfloat_with_epsilon (ae_anomaly_score (&cal, &f, NULL, NULL),
      4.0, 1e-9);
  f.v[AE_ANOMALY_MSE] = 0.0001;
  g_assert_cmpfloat (ae_anomaly_score (&cal, &f, NULL, NULL), ==, 0.0);
}

/* Malformed objects: refused by both parsers, naming the field. */
static void
test_json_errors (void)
{
  static const struct {
    const char *json, *expect;
  } cases[] = {
    {"[1]", "'anomaly' must be a JSON object"},
    {"{\"std\": 1, \"threshold\": 4}", "'mean'"},
    {"{\"mean\": 1, \"std\": -1, \"threshold\": 4}", "std -1"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 0}", "threshold 0"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": \"4\"}", "'threshold'"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"frames\": -3}", "'frames'"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"features\": {}}",
        "at least one feature"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"features\": "
          "{\"msE\": {\"side\": \"both\", \"center\": 0, \"scale\": 1}}}",
        "unknown feature 'msE'"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"features\": "
          "{\"mse\": {\"side\": \"low\", \"center\": 0, \"scale\": 1}}}",
        "'features.mse.side'"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"features\": "
          "{\"worst\": {\"side\": \"high\", \"center\": 0, \"scale\": 0}}}",
        "'features.worst.scale' is 0"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"features\": "
          "{\"detail\": {\"side\": \"high\", \"scale\": 1}}}",
        "'features.detail.center'"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"features\": "
          "{\"contrast\": {\"side\": \"both\", \"log\": 1, \"center\": 0, "
          "\"scale\": 1}}}", "'features.contrast.log'"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"features\": "
          "{\"brightness\": 3}}", "'features.brightness' must be an object"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"features\": "
          "{\"changed\": {\"side\": \"high\", \"center\": 0, "
          "\"scale\": 1}}}", "'changed' needs the per-cell statistics"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"cells\": "
          "{\"width\": 8, \"height\": 12}}", "width 16 and height 12"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"features\": "
          "{\"colour\": {\"side\": \"high\", \"center\": 0, "
          "\"scale\": 1}}}", "'colour' needs the scene's colours"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"colours\": "
          "{\"y_bins\": 16, \"c_bins\": 32, \"seen\": \"00\"}}",
        "y_bins 8 and c_bins 32"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"colours\": "
          "{\"y_bins\": 8, \"c_bins\": 32, \"seen\": \"00\"}}",
        "'colours.seen' must be a string of 2048 hex digits"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"colours\": 5}",
        "'colours' must be an object"},
    {"{\"mean\": 1, \"std\": 1, \"threshold\": 4, \"cells\": "
          "{\"width\": 16, \"height\": 12, \"center\": [0.5]}}",
        "'cells.center' must be an array of 192"},
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    AeAnomalyCalibration cal;
    GError *error = NULL;
    g_assert_false (ae_anomaly_calibration_from_json (cases[i].json, &cal,
            &error));
    g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL);
    if (!strstr (error->message, cases[i].expect))
      g_error ("case %u: '%s' lacks '%s'", i, error->message, cases[i].expect);
    g_clear_error (&error);

    g_autofree char *doc = graph_json_with (cases[i].json);
    g_assert_null (ae_graph_new_from_json (doc, "m.safetensors", &error));
    g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL);
    g_assert_true (g_str_has_prefix (error->message, "m.safetensors: "));
    g_assert_nonnull (strstr (error->message, cases[i].expect));
    g_clear_error (&error);
  }

  /* a cell with a scale of 0 (written by hand) */
  AeAnomalyCalibration cal, back;
  GError *error = NULL;
  calibrate_scene (&cal);
  cal.cell_scale[5] = 0;
  g_autofree char *js = ae_anomaly_calibration_to_json (&cal);
  g_assert_false (ae_anomaly_calibration_from_json (js, &back, &error));
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "'cells.scale' element 5"));
  g_clear_error (&error);
}

/* The fixture anomaly model and a CPU engine to plan it on. */
static AeEngine *
fixture_engine (AeModel **model)
{
  g_autofree char *path = g_test_build_filename (G_TEST_DIST, "data",
      "models", "anomaly.safetensors", NULL);
  g_autoptr (GError) error = NULL;
  *model = ae_model_load (path, &error);
  g_assert_no_error (error);
  AeEngineParams ep = {.device = "cpu",.threads = 1 };
  AeEngine *engine = ae_engine_new (&ep, &error);
  g_assert_no_error (error);
  return engine;
}

/* The scorer on the fixture model: the same features whichever format
 * carries the same luma, and the same as running the plan by hand. */
static void
test_scorer_formats (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) model = NULL;
  g_autoptr (AeEngine) engine = fixture_engine (&model);
  const int w = 61, h = 47;
  AePlanParams pp = {.width = w,.height = h };
  g_autoptr (AePlan) plan = ae_plan_new (engine, model, &pp, &error);
  g_assert_no_error (error);
  g_autoptr (AeAnomalyScorer) scorer = ae_anomaly_scorer_new ();

  g_autofree guint8 *gray = g_new (guint8, w * h);
  g_autofree guint8 *rgbx = g_new (guint8, w * h * 4);
  g_autofree guint8 *recon = g_new (guint8, w * h);
  for (int i = 0; i < w * h; i++) {
    gray[i] = (guint8) texture (i % w, i / w);
    memset (rgbx + 4 * i, gray[i], 4);
  }
  AeFrame fg = {.format = AE_FRAME_GRAY8,.width = w,.height = h,
    .data = gray,.stride = w
  };
  AeFrame fr = {.format = AE_FRAME_RGBX,.width = w,.height = h,
    .data = rgbx,.stride = w * 4
  };
  AeFrame fo = fg;
  fo.data = recon;
  AeAnomalyFeatures a, b, c;
  float map_a[12], map_b[12];

  g_assert_true (ae_anomaly_scorer_measure (scorer, plan, &fg, &a, map_a, 4,
          3, &error));
  g_assert_no_error (error);
  g_assert_true (ae_anomaly_scorer_measure (scorer, plan, &fr, &b, map_b, 4,
          3, &error));
  g_assert_no_error (error);
  g_assert_true (ae_plan_run (plan, &fg, &fo, &error));
  ae_anomaly_measure (gray, w, recon, w, w, h, 1, &c, NULL, 0, 0);
  g_assert_cmpfloat (a.v[AE_ANOMALY_MSE], >, 0);
  for (int k = 0; k < AE_ANOMALY_N_FEATURES; k++) {
    g_assert_cmpfloat (a.v[k], ==, b.v[k]);
    g_assert_cmpfloat (a.v[k], ==, c.v[k]);
  }
  g_assert_cmpmem (map_a, sizeof map_a, map_b, sizeof map_b);

  /* full-range I420: the Y' plane as it is, the chroma ignored by a luma
   * model */
  int cw = (w + 1) / 2, ch = (h + 1) / 2;
  g_autofree guint8 *chroma = g_new (guint8, cw * ch * 2);
  memset (chroma, 77, cw * ch * 2);
  AeFrame fy = fg;
  fy.format = AE_FRAME_I420;
  fy.chroma[0] = chroma;
  fy.chroma[1] = chroma + cw * ch;
  fy.chroma_stride[0] = fy.chroma_stride[1] = cw;
  fy.full_range = TRUE;
  gboolean ok = ae_anomaly_scorer_measure (scorer, plan, &fy, &b, NULL, 0,
      0, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  for (int k = 0; k < AE_ANOMALY_N_FEATURES; k++)
    g_assert_cmpfloat (a.v[k], ==, b.v[k]);

  /* limited range: the same picture in 16..235 measures (nearly) the same */
  g_autofree guint8 *limited = g_new (guint8, w * h);
  for (int i = 0; i < w * h; i++)
    limited[i] = (guint8) (16 + gray[i] * 219 / 255.0 + 0.5);
  fy.data = limited;
  fy.full_range = FALSE;
  g_assert_true (ae_anomaly_scorer_measure (scorer, plan, &fy, &b, NULL, 0,
          0, &error));
  g_assert_cmpfloat (fabs (b.v[AE_ANOMALY_BRIGHTNESS] -
          a.v[AE_ANOMALY_BRIGHTNESS]), <, 0.005);
  g_assert_cmpfloat (fabs (b.v[AE_ANOMALY_CONTRAST] /
          a.v[AE_ANOMALY_CONTRAST] - 1), <, 0.02);
  g_assert_cmpfloat (fabs (b.v[AE_ANOMALY_DETAIL] / a.v[AE_ANOMALY_DETAIL] -
          1), <, 0.05);

  /* the input frame is untouched */
  for (int i = 0; i < w * h; i++)
    g_assert_cmpint (gray[i], ==, (guint8) texture (i % w, i / w));
}

/* Normal colour frame @t of the colour scene: grass-green texture, a dark
 * red blob walking, noise; RGBx. */
static void
make_colour_frame (guint8 *rgbx, int w, int h, int t, GRand *rand)
{
  int bx = 10 + (t * 5) % (w - 20), by = 10 + (t * 3) % (h - 20);

  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      guint8 *p = rgbx + 4 * (y * w + x);
      double v = texture (x, y) + g_rand_double_range (rand, -4, 4);
      gboolean blob = abs (x - bx) < 4 && abs (y - by) < 8;
      p[0] = (guint8) CLAMP (blob ? 90 : 0.45 * v, 0, 255);
      p[1] = (guint8) CLAMP (blob ? 30 : 0.8 * v, 0, 255);
      p[2] = (guint8) CLAMP (blob ? 35 : 0.35 * v, 0, 255);
      p[3] = 255;
    }
}

/* The colour feature: a scorer given the scene's colours measures the
 * share of unknown colours in the worst cell of colour frames (nothing on
 * GRAY8, nor without colours); calibrated on normal frames, a patch of a
 * colour the scene never showed deviates past the threshold, its region
 * covers the patch, and the calibration keeps its colours through JSON. */
static void
test_colour (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) model = NULL;
  g_autoptr (AeEngine) engine = fixture_engine (&model);
  const int w = 128, h = 96, n = 20;
  AePlanParams pp = {.width = w,.height = h };
  g_autoptr (AePlan) plan = ae_plan_new (engine, model, &pp, &error);
  g_assert_no_error (error);
  g_autoptr (AeAnomalyScorer) scorer = ae_anomaly_scorer_new ();
  g_autoptr (AeColourCounter) counter = ae_colour_counter_new ();
  g_autoptr (GRand) rand = g_rand_new_with_seed (3);
  g_autofree guint8 *rgbx = g_new (guint8, w * h * 4);
  AeFrame fr = {.format = AE_FRAME_RGBX,.width = w,.height = h,
    .data = rgbx,.stride = w * 4
  };
  AeAnomalyFeatures feats[20], f;
  AeColours colours;

  for (int t = 0; t < n; t++) {
    make_colour_frame (rgbx, w, h, 2 * t, rand);
    ae_colour_counter_add (counter, rgbx, w * 4, w, h, 4);
  }
  g_assert_true (ae_colour_counter_finish (counter, &colours));

  /* no colours given: not measured */
  make_colour_frame (rgbx, w, h, 1, rand);
  g_assert_true (ae_anomaly_scorer_measure (scorer, plan, &fr, &f, NULL, 0,
          0, &error));
  g_assert_cmpfloat (f.v[AE_ANOMALY_COLOUR], ==, 0.0);

  ae_anomaly_scorer_set_colours (scorer, &colours);
  for (int t = 0; t < n; t++) {
    make_colour_frame (rgbx, w, h, 2 * t + 1, rand);
    g_assert_true (ae_anomaly_scorer_measure (scorer, plan, &fr, &feats[t],
            NULL, 0, 0, &error));
    g_assert_no_error (error);
  }
  AeAnomalyCalibration cal;
  g_assert_true (ae_anomaly_calibrate (feats, n, &colours, &cal, &error));
  g_assert_no_error (error);
  g_assert_true (cal.has_colours);
  g_assert_cmpint (cal.feature[AE_ANOMALY_COLOUR].side, ==,
      AE_ANOMALY_SIDE_HIGH);
  g_assert_cmpmem (&cal.colours, sizeof colours, &colours, sizeof colours);

  /* a magenta case of 20x16 pixels at (60, 40) */
  make_colour_frame (rgbx, w, h, 7, rand);
  for (int y = 40; y < 56; y++)
    for (int x = 60; x < 80; x++) {
      guint8 *p = rgbx + 4 * (y * w + x);
      p[0] = 200, p[1] = 40, p[2] = 190;
    }
  g_assert_true (ae_anomaly_scorer_measure (scorer, plan, &fr, &f, NULL, 0,
          0, &error));
  const AeAnomalyFeatureCalibration *fc = &cal.feature[AE_ANOMALY_COLOUR];
  g_assert_cmpfloat (f.v[AE_ANOMALY_COLOUR], ==, 1.0);
  g_assert_cmpfloat ((f.v[AE_ANOMALY_COLOUR] - fc->center) / fc->scale, >,
      cal.threshold);
  g_assert_cmpfloat (ae_anomaly_score (&cal, &f, NULL, NULL), >,
      cal.threshold);
  /* BGRx is converted, RGBx read in place: the same measure */
  g_autofree guint8 *bgrx = g_memdup2 (rgbx, w * h * 4);
  for (int i = 0; i < w * h; i++) {
    bgrx[4 * i] = rgbx[4 * i + 2];
    bgrx[4 * i + 2] = rgbx[4 * i];
  }
  AeFrame fb = fr;
  fb.format = AE_FRAME_BGRX;
  fb.data = bgrx;
  AeAnomalyFeatures fbf;
  g_assert_true (ae_anomaly_scorer_measure (scorer, plan, &fb, &fbf, NULL, 0,
          0, &error));
  g_assert_cmpfloat (fbf.v[AE_ANOMALY_COLOUR], ==, f.v[AE_ANOMALY_COLOUR]);
  g_assert_cmpmem (&fbf.colour_box, sizeof fbf.colour_box, &f.colour_box,
      sizeof f.colour_box);
  /* a caller's R'G'B' of the frame (the element's, from GStreamer's
   * converter) is what the feature reads */
  AeColor color = ae_graph_get_color (ae_model_get_graph (model));
  g_autofree guint8 *plain = g_new (guint8, w * h * 4);
  make_colour_frame (plain, w, h, 7, rand);
  AeFrame fp = fr;
  fp.data = plain;
  AeAnomalyFeatures fo;
  g_assert_true (ae_anomaly_scorer_measure_output (scorer, color, &fb, &fb,
          &fp, &fo, NULL, 0, 0, &error));
  g_assert_cmpfloat (fo.v[AE_ANOMALY_COLOUR], <, 0.5);
  g_assert_true (ae_anomaly_scorer_measure_output (scorer, color, &fb, &fb,
          NULL, &fo, NULL, 0, 0, &error));
  g_assert_cmpfloat (fo.v[AE_ANOMALY_COLOUR], ==, 1.0);
  AeAnomalyBox box;
  ae_anomaly_region (&cal, &f, AE_ANOMALY_COLOUR, w, h, &box);
  g_assert_cmpmem (&box, sizeof box, &f.colour_box, sizeof box);
  g_assert_cmpint (box.x, <=, 60);
  g_assert_cmpint (box.y, <=, 40);
  g_assert_cmpint (box.x + box.width, >=, 80);
  g_assert_cmpint (box.y + box.height, >=, 56);
  g_assert_cmpint (box.width, <=, 28);
  g_assert_cmpint (box.height, <=, 24);

  /* GRAY8 carries no colour: not measured */
  g_autofree guint8 *gray = g_new (guint8, w * h);
  for (int i = 0; i < w * h; i++)
    gray[i] = rgbx[4 * i + 1];
  AeFrame fg = {.format = AE_FRAME_GRAY8,.width = w,.height = h,
    .data = gray,.stride = w
  };
  g_assert_true (ae_anomaly_scorer_measure (scorer, plan, &fg, &f, NULL, 0,
          0, &error));
  g_assert_cmpfloat (f.v[AE_ANOMALY_COLOUR], ==, 0.0);

  /* to JSON and back, to the bit */
  AeAnomalyCalibration back;
  g_autofree char *js = ae_anomaly_calibration_to_json (&cal);
  g_assert_true (ae_anomaly_calibration_from_json (js, &back, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (&cal, sizeof cal, &back, sizeof back);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/anomaly/measure/values", test_measure_values);
  g_test_add_func ("/anomaly/measure/map", test_measure_map);
  g_test_add_func ("/anomaly/score/pasted-patch", test_pasted_patch);
  g_test_add_func ("/anomaly/score/blur", test_blur);
  g_test_add_func ("/anomaly/score/light-change", test_light_change);
  g_test_add_func ("/anomaly/score/occlusion", test_occlusion);
  g_test_add_func ("/anomaly/calibrate/tail", test_calibrate_tail);
  g_test_add_func ("/anomaly/calibrate/errors", test_calibrate_errors);
  g_test_add_func ("/anomaly/scorer/formats", test_scorer_formats);
  g_test_add_func ("/anomaly/scorer/colour", test_colour);
  g_test_add_func ("/anomaly/json/round-trip", test_json_round_trip);
  g_test_add_func ("/anomaly/json/legacy", test_json_legacy);
  g_test_add_func ("/anomaly/json/errors", test_json_errors);
  return g_test_run ();
}
