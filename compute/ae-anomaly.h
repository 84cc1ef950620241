/* ae-anomaly.h: scoring frames for anomalies with an autoencoder's
 * reconstruction, and calibrating that score on normal frames.
 *
 * An anomaly model reconstructs the frames of one scene. For each frame,
 * ae_anomaly_measure() compares the 8-bit input with the model's 8-bit
 * reconstruction (what AePlan writes for it) and computes a few features:
 * the reconstruction error (mean, and mean of the worst patches so that a
 * small object is not diluted by a large frame) and properties of the input
 * itself (detail, brightness, contrast). Reconstruction error is one-sided:
 * a defocused or covered lens is *easier* to reconstruct, so a frame whose
 * error or detail falls far below what normal frames show is anomalous too.
 *
 * Calibration (ae_anomaly_calibrate(), run by the trainer on held-back
 * normal frames) stores a robust centre (median) and scale (normalised
 * median absolute deviation, with a floor) of every feature, most of them
 * on a log scale, and a threshold. The score of a frame is the largest
 * normalised deviation over the features, counted in the directions that
 * mean an anomaly (both ways for most features). A score above the
 * threshold flags the frame.
 *
 * The calibration is stored in the model as the graph's "anomaly" object
 * (docs/MODEL-FORMAT.md); ae_graph_get_anomaly() returns it. Files that
 * hold only the first version's {mean, std, threshold} (of the per-frame
 * mean squared error) score with that alone, one-sided.
 *
 * AeAnomalyScorer runs a model on a frame of any AeFrame format and
 * measures it exactly as the element does: everything that scores frames
 * (the element, the trainer's calibration, evaluation) goes through it, so
 * a calibration always matches the run-time measurement.
 *
 * Everything here is plain computation without global state: thread-safe
 * on distinct outputs. No GStreamer.
 */
#pragma once

#include <glib.h>

#include "ae-colours.h"
#include "ae-engine.h"

G_BEGIN_DECLS

typedef enum {
  AE_ANOMALY_MSE,               /* mean squared error, pixel values 0..1 */
  AE_ANOMALY_WORST,             /* mean squared error of the worst patches */
  AE_ANOMALY_DETAIL,            /* input's mean squared gradient (sharpness) */
  AE_ANOMALY_BRIGHTNESS,        /* input's mean, 0..1 */
  AE_ANOMALY_CONTRAST,          /* input's standard deviation, 0..1 */
  /* fraction of the grid cells whose brightness is outside its normal
   * range (a covered part of the lens, the lights, another scene): not
   * measured but derived from AeAnomalyFeatures.cells with the
   * calibration's per-cell statistics */
  AE_ANOMALY_CHANGED,
  /* the largest fraction of a cell of the colour grid (ae-colours.h) in
   * colours the scene's training frames do not show: foreign objects of
   * a colour of their own. Measured only by a scorer given the scene's
   * colours (ae_anomaly_scorer_set_colours()), on frames that have colour;
   * 0 otherwise */
  AE_ANOMALY_COLOUR,
  AE_ANOMALY_N_FEATURES
} AeAnomalyFeature;

/* Side of the patches of AE_ANOMALY_WORST, in pixels. The worst patches
 * are the highest-error max(1, n/AE_ANOMALY_WORST_FRACTION) of the n
 * patches that tile the frame (partial patches at the right and bottom
 * edges count as patches). */
#define AE_ANOMALY_PATCH 16
#define AE_ANOMALY_WORST_FRACTION 100

/* The brightness grid: the frame split evenly into GRID_W x GRID_H cells
 * (whatever its size, so a calibration holds for any resolution of the
 * scene). A cell counts as changed when its brightness is more than
 * AE_ANOMALY_CELL_DEVIATION of its calibrated scales from its centre. */
#define AE_ANOMALY_GRID_W 16
#define AE_ANOMALY_GRID_H 12
#define AE_ANOMALY_N_CELLS (AE_ANOMALY_GRID_W * AE_ANOMALY_GRID_H)
#define AE_ANOMALY_CELL_DEVIATION 4.0

typedef struct {
  int x, y, width, height;      /* pixels of the measured frame */
} AeAnomalyBox;

typedef struct {
  /* indexed by AeAnomalyFeature; v[AE_ANOMALY_CHANGED] is not measured
   * (0): the score derives it from @cells and the calibration */
  double v[AE_ANOMALY_N_FEATURES];
  /* mean brightness (0..1) of each grid cell, row major */
  float cells[AE_ANOMALY_N_CELLS];
  /* The worst patch grown over its neighbours whose error is at least half
   * of its own: where to look. */
  AeAnomalyBox box;
  double peak;                  /* mean squared error of the worst patch */
  /* The colour grid's worst cell grown over its neighbours with at least
   * half its fraction of unknown colours (f->box if not measured). */
  AeAnomalyBox colour_box;
} AeAnomalyFeatures;

/* Which way a feature may deviate to count. */
typedef enum {
  AE_ANOMALY_SIDE_NONE,         /* not used */
  AE_ANOMALY_SIDE_HIGH,         /* only above the centre */
  AE_ANOMALY_SIDE_BOTH,         /* above or below */
} AeAnomalySide;

typedef struct {
  AeAnomalySide side;
  gboolean log;                 /* statistics of ln (v) rather than v */
  double center, scale;         /* deviation = (t(v) - center) / scale */
} AeAnomalyFeatureCalibration;

typedef struct _AeAnomalyCalibration {
  AeAnomalyFeatureCalibration feature[AE_ANOMALY_N_FEATURES];
  /* Scores above this flag a frame (same units as the score). */
  double threshold;
  /* Per grid cell: centre and scale of its brightness; only if has_cells
   * (AE_ANOMALY_CHANGED needs them). */
  gboolean has_cells;
  float cell_center[AE_ANOMALY_N_CELLS], cell_scale[AE_ANOMALY_N_CELLS];
  /* The colours of the scene, only if has_colours (AE_ANOMALY_COLOUR needs
   * them). */
  gboolean has_colours;
  AeColours colours;
  /* Mean and standard deviation of the calibration frames' AE_ANOMALY_MSE:
   * the first version's fields, still written for older readers. */
  double mse_mean, mse_std;
  int n_frames;                 /* frames calibrated on; 0 if unknown */
} AeAnomalyCalibration;

/* Lowest threshold ae_anomaly_calibrate() chooses, and the factor by which
 * it exceeds the highest calibration score: normal frames later in the same
 * scene vary a little more than the held-back ones. */
#define AE_ANOMALY_MIN_THRESHOLD 5.0
#define AE_ANOMALY_THRESHOLD_MARGIN 1.25

/* "mse", "worst", "detail", "brightness", "contrast", "changed", "colour";
 * "?" if out of range. */
const char *ae_anomaly_feature_name (AeAnomalyFeature feature);

/* The fraction (0..1) of @f's grid cells whose brightness is outside the
 * calibrated range; 0 if @cal has no cell statistics. */
double ae_anomaly_changed_fraction (const AeAnomalyCalibration *cal,
    const AeAnomalyFeatures *f);

/* Measures one frame. @in and @recon are @width x @height pixels of @bpp
 * bytes (1: one 8-bit plane, GRAY8 or a Y plane; 3 or 4: the first three
 * bytes are colour channels, averaged; a 4th byte is ignored) with row
 * strides in bytes. @map (may be NULL) receives @map_w x @map_h cells, row
 * major, each the mean squared error (0..1 pixel units) of the pixels in
 * its part of the frame (cells split the frame evenly; a cell that gets no
 * pixel repeats its neighbour's). Never fails for valid arguments;
 * 1x1 frames are fine. */
void ae_anomaly_measure (const guint8 *in, gsize in_stride,
    const guint8 *recon, gsize recon_stride, int width, int height, int bpp,
    AeAnomalyFeatures *f, float *map, int map_w, int map_h);

/* Runs @plan's model on @frame (the plan's size, any AeFrame format, not
 * modified) into a scratch frame of the same format and measures the pair
 * with ae_anomaly_scorer_measure_output(). Scratch memory is kept between
 * calls (one frame at a time per scorer). FALSE with @error if the plan
 * fails or memory runs out. */
typedef struct _AeAnomalyScorer AeAnomalyScorer;

AeAnomalyScorer *ae_anomaly_scorer_new (void);
void ae_anomaly_scorer_free (AeAnomalyScorer *s);
/* The scene's colours (copied; NULL: none): frames with colour then get
 * AE_ANOMALY_COLOUR measured. */
void ae_anomaly_scorer_set_colours (AeAnomalyScorer *s,
    const AeColours *colours);
gboolean ae_anomaly_scorer_measure (AeAnomalyScorer *s, AePlan *plan,
    const AeFrame *frame, AeAnomalyFeatures *f, float *map, int map_w,
    int map_h, GError **error);
/* Measures @in against @out, the output a model of @color wrote for it
 * (same format and size). A luma model is measured on full-range Y': the
 * Y' planes of GRAY8 and full-range YUV frames as they are, limited-range
 * Y' (16..235) scaled to 0..255, RGB frames converted with their matrix and
 * rounded to 8 bits; an rgb model on R'G'B' converted likewise
 * (ae_frame_read()). The colour feature reads @in_rgb, @in's picture as
 * RGB, RGBA or RGBx bytes of the same size, where the caller has it (the
 * element converts with GStreamer's converter, as the trainer's frames
 * were), else @in itself if it has R'G'B' bytes, else @in converted here.
 * FALSE with @error only when memory runs out. */
gboolean ae_anomaly_scorer_measure_output (AeAnomalyScorer *s, AeColor color,
    const AeFrame *in, const AeFrame *out, const AeFrame *in_rgb,
    AeAnomalyFeatures *f, float *map, int map_w, int map_h, GError **error);

/* Calibrates on the features of @n normal frames (n >= 2, every value
 * finite and >= 0), measured by a scorer given @colours (NULL: the scene's
 * colours are unknown and AE_ANOMALY_COLOUR is not used). Fills every field
 * of @cal: the grid cells' centres and scales first, then all features
 * (worst, changed and colour only above the centre, the others both ways),
 * each feature's scale widened where needed so that none of the @n frames
 * deviates by more than AE_ANOMALY_MIN_THRESHOLD /
 * AE_ANOMALY_THRESHOLD_MARGIN in it, and threshold =
 * MAX (AE_ANOMALY_MIN_THRESHOLD, AE_ANOMALY_THRESHOLD_MARGIN x the highest
 * score among the @n frames). FALSE with @error (AE_COMPUTE_ERROR_FAILED)
 * for too few frames or bad values. */
gboolean ae_anomaly_calibrate (const AeAnomalyFeatures *normal, int n,
    const AeColours *colours, AeAnomalyCalibration *cal, GError **error);

/* Calibration from the first version's fields only: AE_ANOMALY_MSE, linear,
 * one-sided, centre @mse_mean and scale @mse_std (a zero std gets a tiny
 * floor so the score stays finite). */
void ae_anomaly_calibration_init_legacy (AeAnomalyCalibration *cal,
    double mse_mean, double mse_std, double threshold);

/* The score of @f: the largest deviation over the used features, >= 0.
 * If @dominant is not NULL it receives the feature that gave it, and
 * @below whether that feature was below its centre (e.g. "detail below
 * normal": defocus or a covered lens). */
double ae_anomaly_score (const AeAnomalyCalibration *cal,
    const AeAnomalyFeatures *f, AeAnomalyFeature *dominant, gboolean *below);

/* Where the anomaly of @f is, in pixels of its @width x @height frame,
 * given the feature that scored it: the worst region (f->box) for the
 * reconstruction errors, the bounding box of the changed cells for
 * AE_ANOMALY_CHANGED (the worst region if none), f->colour_box for
 * AE_ANOMALY_COLOUR, the whole frame for the frame-wide detail, brightness
 * and contrast. */
void ae_anomaly_region (const AeAnomalyCalibration *cal,
    const AeAnomalyFeatures *f, AeAnomalyFeature dominant, int width,
    int height, AeAnomalyBox *box);

/* The calibration as the JSON object stored as the graph's "anomaly"
 * member (docs/MODEL-FORMAT.md), compact, newly allocated. */
char *ae_anomaly_calibration_to_json (const AeAnomalyCalibration *cal);

/* Parses and validates such an object (also the first version's {mean,
 * std, threshold}). FALSE with @error (AE_COMPUTE_ERROR_INVALID_MODEL,
 * message naming the field) when malformed. */
gboolean ae_anomaly_calibration_from_json (const char *json,
    AeAnomalyCalibration *cal, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeAnomalyScorer, ae_anomaly_scorer_free)

G_END_DECLS
