/* ae-dataset.h: training and evaluation images, decoded by GStreamer and
 * held in memory as 8-bit pixels.
 *
 * A dataset holds images of one channel count: 1 (luma: full-range Y' of
 * the decoded R'G'B' with the weights of the source's own matrix, as the
 * elements read the Y' plane of that video: BT.709 for BT.709 and BT.2020
 * video, BT.601 for the rest and for RGB sources such as PNG; gray sources
 * are taken as they are) or 3 (RGB; gray sources are replicated). Images
 * keep their own sizes and remember the matrix.
 *
 * Sources (ae_dataset_add):
 * - a folder: every file below it (recursive, hidden entries skipped,
 *   sorted by path in byte order) that GStreamer decodes, one image per file
 *   (its first frame). Files that fail to decode are skipped with a warning
 *   on stderr naming the file and the reason; counted by
 *   ae_dataset_get_n_skipped(). A folder where nothing decodes is an error.
 *   With @max_frames, only its first @max_frames files.
 * - an image or video file: every @step-th frame, at most @max_frames.
 *   A single file that fails to decode is an error.
 * - a GStreamer pipeline description (a source that is not an existing path
 *   and contains '!'): "videoconvert ! appsink" is appended and frames are
 *   pulled as from a video file. A live source runs until @max_frames
 *   frames are kept, so give one.
 *
 * Errors are in AE_DATASET_ERROR; messages start with the path or pipeline
 * at fault. A dataset is used from one thread at a time; once filled, its
 * images may be read from any number of threads. Needs gst_init().
 */
#pragma once

#include <glib.h>
#include "ae-frame.h"

G_BEGIN_DECLS

#define AE_DATASET_ERROR (ae_dataset_error_quark ())
GQuark ae_dataset_error_quark (void);

typedef enum {
  AE_DATASET_ERROR_FAILED,      /* anything not below */
  AE_DATASET_ERROR_NOT_FOUND,   /* the path does not exist */
  AE_DATASET_ERROR_EMPTY,       /* a folder, video or pipeline gave no image */
  AE_DATASET_ERROR_DECODE,      /* a file, or the pipeline, failed */
  AE_DATASET_ERROR_TOO_SMALL,   /* an image is smaller than needed */
  AE_DATASET_ERROR_INVALID,     /* bad arguments (step, split size ...) */
} AeDatasetError;

typedef struct {
  int width, height, channels;
  gsize stride;                 /* bytes between rows */
  guint8 *data;
  char *origin;                 /* "DIR/a.png", "clip.avi frame 12" */
  AeMatrix matrix;              /* Y' weights of the source (see above) */
} AeImage;

typedef struct _AeDataset AeDataset;

/* @channels: 1 (luma) or 3 (RGB). */
AeDataset *ae_dataset_new (int channels);
void ae_dataset_free (AeDataset *ds);

/* Adds the images of @source (see above): of videos and pipelines every
 * @step-th frame (>= 1), at most @max_frames of them (0 = all). On failure
 * the dataset is left as it was. */
gboolean ae_dataset_add (AeDataset *ds, const char *source, int step,
    int max_frames, GError **error);

/* Adds a copy of @width x @height pixels of the dataset's channel count,
 * named @origin (generated data, tests). */
void ae_dataset_add_pixels (AeDataset *ds, const guint8 *data, gsize stride,
    int width, int height, const char *origin);

int ae_dataset_get_size (const AeDataset *ds);
int ae_dataset_get_channels (const AeDataset *ds);
/* Files of folders skipped because they did not decode. */
int ae_dataset_get_n_skipped (const AeDataset *ds);
/* Image @i, 0 <= i < size; owned by the dataset. */
const AeImage *ae_dataset_get (const AeDataset *ds, int i);

/* A new dataset of @ds's images as luma (Y' with each image's matrix, as
 * the images of a dataset of 1 channel are read from their sources). */
AeDataset *ae_dataset_to_luma (const AeDataset *ds);

/* Moves @n_held_back images, spread evenly over the dataset (image
 * floor ((k + 0.5) · size / n) for k = 0 .. n-1), into a new dataset, for
 * validation or calibration: evenly spread, so held-back frames of a video
 * cover all of it. At least one image must remain. */
AeDataset *ae_dataset_split (AeDataset *ds, int n_held_back, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeDataset, ae_dataset_free)

G_END_DECLS
