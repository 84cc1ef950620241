/* Datasets of 8-bit images decoded by GStreamer (see ae-dataset.h).
 *
 * Files are decoded with the tools' media reader (ae-media.h); the files of
 * a folder by a few threads at once, since one GStreamer pipeline per small
 * image spends most of its time starting up rather than decoding.
 */
#include "ae-dataset.h"
#include "ae-media.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

G_DEFINE_QUARK (ae-dataset-error-quark, ae_dataset_error)

/* Folder decoding threads at most; more gain nothing on small images. */
#define MAX_DECODE_THREADS 8

struct _AeDataset {
  int channels;
  GPtrArray *images;            /* AeImage *, owned */
  int n_skipped;
};

static void
image_free (AeImage *im)
{
  if (!im)
    return;
  g_free (im->data);
  g_free (im->origin);
  g_free (im);
}

AeDataset *
ae_dataset_new (int channels)
{
  g_return_val_if_fail (channels == 1 || channels == 3, NULL);
  AeDataset *ds = g_new0 (AeDataset, 1);
  ds->channels = channels;
  ds->images = g_ptr_array_new_with_free_func ((GDestroyNotify) image_free);
  return ds;
}

void
ae_dataset_free (AeDataset *ds)
{
  if (!ds)
    return;
  g_ptr_array_unref (ds->images);
  g_free (ds);
}

int
ae_dataset_get_size (const AeDataset *ds)
{
  return ds->images->len;
}

int
ae_dataset_get_channels (const AeDataset *ds)
{
  return ds->channels;
}

int
ae_dataset_get_n_skipped (const AeDataset *ds)
{
  return ds->n_skipped;
}

const AeImage *
ae_dataset_get (const AeDataset *ds, int i)
{
  g_return_val_if_fail (i >= 0 && i < (int) ds->images->len, NULL);
  return g_ptr_array_index (ds->images, i);
}

static AeImage *
image_new (int width, int height, int channels, const char *origin)
{
  AeImage *im = g_new0 (AeImage, 1);
  im->width = width;
  im->height = height;
  im->channels = channels;
  im->stride = (gsize) width * channels;
  im->data = g_malloc (im->stride * height);
  im->origin = g_strdup (origin);
  return im;
}

void
ae_dataset_add_pixels (AeDataset *ds, const guint8 *data, gsize stride,
    int width, int height, const char *origin)
{
  g_return_if_fail (data && width > 0 && height > 0);
  AeImage *im = image_new (width, height, ds->channels, origin);
  for (int y = 0; y < height; y++)
    memcpy (im->data + y * im->stride, data + y * stride, im->stride);
  g_ptr_array_add (ds->images, im);
}

/* Y' of an R'G'B' pixel with @m's weights, as the engine's luma models. */
static inline guint8
luma_of (const guint8 *rgb, AeMatrix m)
{
  return (guint8) lrintf (ae_matrix_luma (m, rgb[0], rgb[1], rgb[2]));
}

/* A decoded frame (one of AE_MEDIA_READER_FORMATS) of @r as an image of
 * @channels: luma from RGB with the source's weights, gray replicated to
 * RGB. */
static AeImage *
image_from_sample (AeMediaReader *r, GstSample *sample, int channels,
    const char *origin, GError **error)
{
  GstVideoInfo info;
  GstVideoFrame frame;

  if (!gst_video_info_from_caps (&info, gst_sample_get_caps (sample))
      || !gst_video_frame_map (&frame, &info, gst_sample_get_buffer (sample),
          GST_MAP_READ)) {
    g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_DECODE,
        "%s: cannot read the decoded frame", origin);
    return NULL;
  }
  const int w = info.width, h = info.height;
  const gboolean gray = GST_VIDEO_INFO_FORMAT (&info) == GST_VIDEO_FORMAT_GRAY8;
  const int bpp = gray ? 1 : 4;   /* GRAY8, or RGBA / RGBx */
  AeImage *im = image_new (w, h, channels, origin);

  im->matrix = ae_media_reader_get_luma_matrix (r, AE_MATRIX_BT601);
  for (int y = 0; y < h; y++) {
    const guint8 *s = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame, 0)
        + (gsize) y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
    guint8 *d = im->data + y * im->stride;
    for (int x = 0; x < w; x++, s += bpp) {
      if (gray && channels == 1) {
        d[x] = s[0];
      } else if (gray) {
        d[3 * x] = d[3 * x + 1] = d[3 * x + 2] = s[0];
      } else if (channels == 1) {
        d[x] = luma_of (s, im->matrix);
      } else {
        d[3 * x] = s[0];
        d[3 * x + 1] = s[1];
        d[3 * x + 2] = s[2];
      }
    }
  }
  gst_video_frame_unmap (&frame);
  return im;
}

/* Media errors keep their message ("PATH: could not decode: ...") under
 * the dataset's domain. */
static void
set_decode_error (GError **error, GError *media_error)
{
  g_set_error_literal (error, AE_DATASET_ERROR, AE_DATASET_ERROR_DECODE,
      media_error->message);
}

/* Frames of an open reader: every @step-th, at most @max_frames. */
static gboolean
read_frames (AeMediaReader *r, const char *name, gboolean is_file,
    int channels, int step, int max_frames, GPtrArray *out, GError **error)
{
  g_autoptr (GError) media_error = NULL;
  GstSample *s;

  for (int n = 0; max_frames == 0 || (int) out->len < max_frames; n++) {
    if (!(s = ae_media_reader_pull (r, &media_error))) {
      if (media_error) {
        set_decode_error (error, media_error);
        return FALSE;
      }
      break;
    }
    if (n % step == 0) {
      g_autofree char *origin = g_strdup_printf ("%s frame %d", name, n);
      AeImage *im = image_from_sample (r, s, channels, origin, error);
      if (!im) {
        gst_sample_unref (s);
        return FALSE;
      }
      g_ptr_array_add (out, im);
    }
    gst_sample_unref (s);
  }
  if (out->len == 0) {
    /* a file without frames is broken; a pipeline may just be empty */
    if (is_file)
      g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_DECODE,
          "%s: could not decode: no image or video frame in the file", name);
    else
      g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_EMPTY,
          "%s: the pipeline ended without a video frame", name);
    return FALSE;
  }
  return TRUE;
}

/* The first frame of @path. */
static AeImage *
decode_image (const char *path, int channels, GError **error)
{
  g_autoptr (GError) media_error = NULL;
  g_autoptr (AeMediaReader) r = ae_media_reader_new (path, &media_error);
  if (!r) {
    set_decode_error (error, media_error);
    return NULL;
  }
  g_autoptr (GstSample) s = ae_media_reader_pull (r, &media_error);
  if (!s) {
    if (media_error)
      set_decode_error (error, media_error);
    else
      g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_DECODE,
          "%s: could not decode: no image in the file", path);
    return NULL;
  }
  return image_from_sample (r, s, channels, path, error);
}

/* ---- folders ---- */

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Folders nested deeper than this are taken for a symbolic link loop. */
#define MAX_FOLDER_DEPTH 32

/* Appends the regular files below @dir to @files (unsorted). */
static gboolean
list_files (const char *dir, int depth, GPtrArray *files, GError **error)
{
  g_autoptr (GError) dir_error = NULL;
  g_autoptr (GDir) d = NULL;
  const char *name;

  if (depth > MAX_FOLDER_DEPTH) {
    g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_FAILED,
        "%s: folders nested more than %d deep (a symbolic link loop?)", dir,
        MAX_FOLDER_DEPTH);
    return FALSE;
  }
  if (!(d = g_dir_open (dir, 0, &dir_error))) {
    g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_FAILED, "%s",
        dir_error->message);
    return FALSE;
  }
  while ((name = g_dir_read_name (d))) {
    if (name[0] == '.')
      continue;
    char *path = g_build_filename (dir, name, NULL);
    if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
      gboolean ok = list_files (path, depth + 1, files, error);
      g_free (path);
      if (!ok)
        return FALSE;
    } else if (g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
      g_ptr_array_add (files, path);
    } else {
      g_free (path);
    }
  }
  return TRUE;
}

typedef struct {
  GPtrArray *files;             /* char * */
  int channels;
  gint next;                    /* atomic: next file to take */
  AeImage **images;             /* per file: the image ... */
  GError **errors;              /* ... or why not */
} FolderJob;

static gpointer
folder_worker (gpointer data)
{
  FolderJob *job = data;
  int i;

  while ((i = g_atomic_int_add (&job->next, 1)) < (int) job->files->len)
    job->images[i] = decode_image (g_ptr_array_index (job->files, i),
        job->channels, &job->errors[i]);
  return NULL;
}

static gboolean
add_folder (AeDataset *ds, const char *dir, int max_files, GPtrArray *out,
    GError **error)
{
  g_autoptr (GPtrArray) files = g_ptr_array_new_with_free_func (g_free);
  if (!list_files (dir, 0, files, error))
    return FALSE;
  g_ptr_array_sort (files, compare_paths);
  if (max_files > 0 && (int) files->len > max_files)
    g_ptr_array_set_size (files, max_files);
  if (files->len == 0) {
    g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_EMPTY,
        "no decodable images in %s: the folder has no files", dir);
    return FALSE;
  }

  FolderJob job = {.files = files,.channels = ds->channels };
  job.images = g_new0 (AeImage *, files->len);
  job.errors = g_new0 (GError *, files->len);
  int n_threads = MIN (MIN ((int) g_get_num_processors (), MAX_DECODE_THREADS),
      (int) files->len);
  GThread *threads[MAX_DECODE_THREADS];
  for (int t = 0; t < n_threads; t++)
    threads[t] = g_thread_new ("ae-decode", folder_worker, &job);
  for (int t = 0; t < n_threads; t++)
    g_thread_join (threads[t]);

  int n_failed = 0;
  for (guint i = 0; i < files->len; i++) {
    if (job.images[i]) {
      g_ptr_array_add (out, job.images[i]);
      continue;
    }
    g_printerr ("warning: skipped %s\n", job.errors[i]->message);
    n_failed++;
  }
  if (out->len == 0) {
    g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_EMPTY,
        "no decodable images in %s: none of its %u files decoded (%s)", dir,
        files->len, job.errors[0]->message);
  }
  for (guint i = 0; i < files->len; i++)
    g_clear_error (&job.errors[i]);
  g_free (job.images);
  g_free (job.errors);
  if (out->len == 0)
    return FALSE;
  ds->n_skipped += n_failed;
  return TRUE;
}

/* ---- sources ---- */

gboolean
ae_dataset_add (AeDataset *ds, const char *source, int step, int max_frames,
    GError **error)
{
  g_return_val_if_fail (ds && source, FALSE);
  if (step < 1 || max_frames < 0) {
    g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_INVALID,
        "%s: the frame step must be at least 1 and the frame limit at "
        "least 0 (got %d and %d)", source, step, max_frames);
    return FALSE;
  }

  g_autoptr (GPtrArray) out =
      g_ptr_array_new_with_free_func ((GDestroyNotify) image_free);
  g_autoptr (GError) media_error = NULL;
  g_autoptr (AeMediaReader) r = NULL;
  GStatBuf st;

  if (g_stat (source, &st) != 0) {
    int e = errno;
    if (strchr (source, '!')) {
      if (!(r = ae_media_reader_new_pipeline (source, &media_error))) {
        set_decode_error (error, media_error);
        return FALSE;
      }
      if (!read_frames (r, source, FALSE, ds->channels, step, max_frames,
              out, error))
        return FALSE;
    } else {
      g_set_error (error, AE_DATASET_ERROR, e == ENOENT ?
          AE_DATASET_ERROR_NOT_FOUND : AE_DATASET_ERROR_FAILED, "%s: %s",
          source, g_strerror (e));
      return FALSE;
    }
  } else if (S_ISDIR (st.st_mode)) {
    if (!add_folder (ds, source, max_frames, out, error))
      return FALSE;
  } else {
    if (!(r = ae_media_reader_new (source, &media_error))) {
      set_decode_error (error, media_error);
      return FALSE;
    }
    if (!read_frames (r, source, TRUE, ds->channels, step, max_frames, out,
            error))
      return FALSE;
  }

  for (guint i = 0; i < out->len; i++)
    g_ptr_array_add (ds->images, g_steal_pointer (&out->pdata[i]));
  return TRUE;
}

AeDataset *
ae_dataset_to_luma (const AeDataset *ds)
{
  AeDataset *out = ae_dataset_new (1);
  out->n_skipped = ds->n_skipped;
  for (guint i = 0; i < ds->images->len; i++) {
    const AeImage *im = g_ptr_array_index (ds->images, i);
    AeImage *l = image_new (im->width, im->height, 1, im->origin);
    l->matrix = im->matrix;
    for (int y = 0; y < im->height; y++) {
      const guint8 *s = im->data + (gsize) y * im->stride;
      guint8 *d = l->data + (gsize) y * l->stride;
      for (int x = 0; x < im->width; x++)
        d[x] = ds->channels == 1 ? s[x] : luma_of (s + 3 * x, im->matrix);
    }
    g_ptr_array_add (out->images, l);
  }
  return out;
}

AeDataset *
ae_dataset_split (AeDataset *ds, int n_held_back, GError **error)
{
  const int size = ds->images->len;
  if (n_held_back < 1 || n_held_back >= size) {
    g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_INVALID,
        "cannot hold back %d of %d images: at least one must be held back "
        "and one remain", n_held_back, size);
    return NULL;
  }

  AeDataset *held = ae_dataset_new (ds->channels);
  GPtrArray *kept = g_ptr_array_new_with_free_func ((GDestroyNotify)
      image_free);
  int k = 0;
  for (int i = 0; i < size; i++) {
    AeImage *im = g_steal_pointer (&ds->images->pdata[i]);
    /* image i is held back if it is floor ((k + 0.5) size / n) */
    if (k < n_held_back && i == (int) floor ((k + 0.5) * size / n_held_back)) {
      g_ptr_array_add (held->images, im);
      k++;
    } else {
      g_ptr_array_add (kept, im);
    }
  }
  g_ptr_array_unref (ds->images);
  ds->images = kept;
  return held;
}
