/* gstaeanomalymeta.h: GstAeAnomalyMeta, the anomaly score that the
 * `aeanomaly` element attaches to every buffer it passes.
 *
 * Applications read it from buffers downstream of aeanomaly (a pad probe,
 * an appsink): link with `pkg-config --libs gst-autoencoder-meta-1.0` and
 *
 *   GstAeAnomalyMeta *m = gst_buffer_get_ae_anomaly_meta (buffer);
 *   if (m && m->anomalous)
 *     g_print ("anomaly %.2f x threshold at %d,%d\n", m->normalized,
 *         m->x, m->y);
 *
 * The meta survives buffer copies; scaling transforms (videoscale) scale
 * the region with the frame; the error map is relative and is kept as is.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

#ifndef GST_AE_META_API
#define GST_AE_META_API extern
#endif

#define GST_AE_ANOMALY_META_API_TYPE (gst_ae_anomaly_meta_api_get_type ())
#define GST_AE_ANOMALY_META_INFO (gst_ae_anomaly_meta_get_info ())

typedef struct _GstAeAnomalyMeta GstAeAnomalyMeta;

/**
 * GstAeAnomalyMeta:
 * @meta: parent
 * @scored: TRUE if this frame was scored; FALSE on the frames `interval`
 *   skips, whose fields repeat the last scored frame's
 * @score: the anomaly score: the largest deviation of the frame's features
 *   from the model's calibration (in robust standard deviations)
 * @normalized: @score / the threshold in use: 1.0 is the threshold
 * @anomalous: TRUE while an event is in progress (after `min-duration` and
 *   `hysteresis`), which this frame is part of
 * @feature: what drove @score ("mse", "worst", "detail", "brightness",
 *   "contrast", "changed", "colour"; a static string)
 * @below: TRUE if that feature was below its normal range (a defocused,
 *   covered or darkened camera) rather than above it
 * @x: left of the region of the anomaly, in pixels of the frame: the worst
 *   region of reconstruction error (16-pixel patches), the cells whose
 *   brightness changed, or the whole frame for frame-wide features
 * @y: top of the region
 * @width: width of the region
 * @height: height of the region
 * @map_width: columns of @map
 * @map_height: rows of @map
 * @map: @map_width x @map_height cells, row major, each the mean squared
 *   reconstruction error (pixel values 0..1) of its part of the frame
 */
struct _GstAeAnomalyMeta
{
  GstMeta meta;

  gboolean scored;
  gdouble score;
  gdouble normalized;
  gboolean anomalous;
  const gchar *feature;
  gboolean below;
  gint x, y, width, height;
  guint map_width, map_height;
  gfloat *map;
};

GST_AE_META_API GType gst_ae_anomaly_meta_api_get_type (void);
GST_AE_META_API const GstMetaInfo *gst_ae_anomaly_meta_get_info (void);

/* Adds a meta with a zeroed @map_width x @map_height map (both >= 1) to
 * @buffer (writable). Returns it (owned by the buffer). */
GST_AE_META_API GstAeAnomalyMeta *gst_buffer_add_ae_anomaly_meta (GstBuffer *
    buffer, guint map_width, guint map_height);

/* The buffer's GstAeAnomalyMeta, or NULL. */
#define gst_buffer_get_ae_anomaly_meta(b) \
  ((GstAeAnomalyMeta *) gst_buffer_get_meta ((b), GST_AE_ANOMALY_META_API_TYPE))

G_END_DECLS
