/* gstaeanomalymeta.c: GstAeAnomalyMeta (see the header). Built as its own
 * small shared library so that applications can link the meta's functions
 * without loading the plugin by hand. */
#include "gstaeanomalymeta.h"

#include <gst/video/video.h>
#include <string.h>

GType
gst_ae_anomaly_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { GST_META_TAG_VIDEO_STR, NULL };

  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("GstAeAnomalyMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
gst_ae_anomaly_meta_init (GstMeta * meta, gpointer params, GstBuffer * buffer)
{
  GstAeAnomalyMeta *m = (GstAeAnomalyMeta *) meta;

  m->scored = FALSE;
  m->score = m->normalized = 0.0;
  m->anomalous = FALSE;
  m->feature = "mse";
  m->below = FALSE;
  m->x = m->y = m->width = m->height = 0;
  m->map_width = m->map_height = 0;
  m->map = NULL;
  return TRUE;
}

static void
gst_ae_anomaly_meta_free (GstMeta * meta, GstBuffer * buffer)
{
  GstAeAnomalyMeta *m = (GstAeAnomalyMeta *) meta;

  g_clear_pointer (&m->map, g_free);
}

static gboolean
gst_ae_anomaly_meta_transform (GstBuffer * dest, GstMeta * meta,
    GstBuffer * buffer, GQuark type, gpointer data)
{
  GstAeAnomalyMeta *src = (GstAeAnomalyMeta *) meta;
  gint sx_n = 1, sx_d = 1, sy_n = 1, sy_d = 1;

  if (GST_META_TRANSFORM_IS_COPY (type)) {
    /* same frame */
  } else if (GST_VIDEO_META_TRANSFORM_IS_SCALE (type)) {
    GstVideoMetaTransform *t = data;
    sx_n = GST_VIDEO_INFO_WIDTH (t->out_info);
    sx_d = MAX (1, GST_VIDEO_INFO_WIDTH (t->in_info));
    sy_n = GST_VIDEO_INFO_HEIGHT (t->out_info);
    sy_d = MAX (1, GST_VIDEO_INFO_HEIGHT (t->in_info));
  } else {
    return FALSE;               /* another transform: the region may not hold */
  }

  GstAeAnomalyMeta *m = gst_buffer_add_ae_anomaly_meta (dest,
      src->map_width, src->map_height);
  if (!m)
    return FALSE;
  m->scored = src->scored;
  m->score = src->score;
  m->normalized = src->normalized;
  m->anomalous = src->anomalous;
  m->feature = src->feature;
  m->below = src->below;
  m->x = (gint) gst_util_uint64_scale_int (src->x, sx_n, sx_d);
  m->y = (gint) gst_util_uint64_scale_int (src->y, sy_n, sy_d);
  m->width = (gint) gst_util_uint64_scale_int (src->width, sx_n, sx_d);
  m->height = (gint) gst_util_uint64_scale_int (src->height, sy_n, sy_d);
  memcpy (m->map, src->map, sizeof (gfloat) * src->map_width *
      src->map_height);
  return TRUE;
}

const GstMetaInfo *
gst_ae_anomaly_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *i = gst_meta_register (GST_AE_ANOMALY_META_API_TYPE,
        "GstAeAnomalyMeta", sizeof (GstAeAnomalyMeta),
        gst_ae_anomaly_meta_init, gst_ae_anomaly_meta_free,
        gst_ae_anomaly_meta_transform);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) i);
  }
  return info;
}

GstAeAnomalyMeta *
gst_buffer_add_ae_anomaly_meta (GstBuffer * buffer, guint map_width,
    guint map_height)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  g_return_val_if_fail (map_width >= 1 && map_height >= 1, NULL);
  g_return_val_if_fail (map_width <= 4096 && map_height <= 4096, NULL);

  GstAeAnomalyMeta *m = (GstAeAnomalyMeta *) gst_buffer_add_meta (buffer,
      GST_AE_ANOMALY_META_INFO, NULL);
  if (!m)
    return NULL;
  m->map_width = map_width;
  m->map_height = map_height;
  m->map = g_new0 (gfloat, (gsize) map_width * map_height);
  return m;
}
