/* JPEG round trips through GStreamer (see ae-jpeg.h). */
#include "ae-jpeg.h"
#include "ae-dataset.h"

#include <gst/app/app.h>
#include <gst/video/video.h>
#include <string.h>

/* A round trip of a small image takes well under a millisecond; this is
 * only how long to wait before concluding the pipeline is stuck. */
#define PULL_TIMEOUT (10 * GST_SECOND)

struct _AeJpeg {
  GstElement *pipeline;
  GstElement *enc;
  GstAppSrc *src;
  GstAppSink *sink;
  GstBus *bus;
  GstVideoInfo info;
  int quality;                  /* the encoder's current setting */
  gboolean failed;              /* once failed, never waits again */
};

static gboolean
have_element (const char *name, GError **error)
{
  g_autoptr (GstElementFactory) f = gst_element_factory_find (name);
  if (!f)
    g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_FAILED,
        "JPEG artefacts need the GStreamer element '%s' (Debian package "
        "gstreamer1.0-plugins-good)", name);
  return f != NULL;
}

/* The pipeline's error message, if it posted one, else @fallback. */
static void
set_pipeline_error (AeJpeg *j, const char *fallback, GError **error)
{
  g_autoptr (GstMessage) msg = gst_bus_pop_filtered (j->bus,
      GST_MESSAGE_ERROR);
  g_autoptr (GError) err = NULL;

  j->failed = TRUE;
  if (msg)
    gst_message_parse_error (msg, &err, NULL);
  g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_FAILED,
      "JPEG round trip: %s", err ? err->message : fallback);
}

AeJpeg *
ae_jpeg_new (int width, int height, int channels, GError **error)
{
  g_return_val_if_fail (width > 0 && height > 0, NULL);
  g_return_val_if_fail (channels == 1 || channels == 3, NULL);

  if (!have_element ("jpegenc", error) || !have_element ("jpegdec", error))
    return NULL;

  const char *format = channels == 1 ? "GRAY8" : "RGB";
  g_autoptr (GError) parse_error = NULL;
  g_autofree char *desc = g_strdup_printf ("appsrc name=src format=time "
      "caps=video/x-raw,format=%s,width=%d,height=%d,framerate=0/1 ! "
      "jpegenc name=enc idct-method=islow ! jpegdec idct-method=islow ! "
      "videoconvert ! appsink name=sink sync=false "
      "caps=video/x-raw,format=%s", format, width, height, format);
  g_autoptr (AeJpeg) j = g_new0 (AeJpeg, 1);

  j->pipeline = gst_parse_launch_full (desc, NULL,
      GST_PARSE_FLAG_FATAL_ERRORS, &parse_error);
  if (!j->pipeline) {
    g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_FAILED,
        "JPEG round trip: %s", parse_error->message);
    return NULL;
  }
  GstElement *src = gst_bin_get_by_name (GST_BIN (j->pipeline), "src");
  GstElement *sink = gst_bin_get_by_name (GST_BIN (j->pipeline), "sink");
  j->enc = gst_bin_get_by_name (GST_BIN (j->pipeline), "enc");
  j->src = GST_APP_SRC (src);
  j->sink = GST_APP_SINK (sink);
  /* the pipeline holds them */
  gst_object_unref (src);
  gst_object_unref (sink);
  gst_object_unref (j->enc);
  j->bus = gst_element_get_bus (j->pipeline);
  gst_video_info_set_format (&j->info, channels == 1 ?
      GST_VIDEO_FORMAT_GRAY8 : GST_VIDEO_FORMAT_RGB, width, height);
  g_object_get (j->enc, "quality", &j->quality, NULL);

  if (gst_element_set_state (j->pipeline, GST_STATE_PLAYING)
      == GST_STATE_CHANGE_FAILURE) {
    set_pipeline_error (j, "the pipeline did not start", error);
    return NULL;
  }
  return g_steal_pointer (&j);
}

void
ae_jpeg_free (AeJpeg *j)
{
  if (!j)
    return;
  if (j->pipeline) {
    gst_element_set_state (j->pipeline, GST_STATE_NULL);
    gst_object_unref (j->pipeline);
  }
  if (j->bus)
    gst_object_unref (j->bus);
  g_free (j);
}

gboolean
ae_jpeg_apply (AeJpeg *j, guint8 *data, gsize stride, int quality,
    GError **error)
{
  g_return_val_if_fail (quality >= 1 && quality <= 100, FALSE);
  if (j->failed) {
    g_set_error (error, AE_DATASET_ERROR, AE_DATASET_ERROR_FAILED,
        "JPEG round trip: the pipeline failed earlier");
    return FALSE;
  }
  const int h = GST_VIDEO_INFO_HEIGHT (&j->info);
  const gsize row = (gsize) GST_VIDEO_INFO_WIDTH (&j->info)
      * GST_VIDEO_INFO_COMP_PSTRIDE (&j->info, 0);
  const gsize in_stride = GST_VIDEO_INFO_PLANE_STRIDE (&j->info, 0);

  if (quality != j->quality) {
    g_object_set (j->enc, "quality", quality, NULL);
    j->quality = quality;
  }

  /* GStreamer's rows are 4-byte aligned: repack */
  GstBuffer *buf = gst_buffer_new_allocate (NULL,
      GST_VIDEO_INFO_SIZE (&j->info), NULL);
  GstMapInfo map;
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  for (int y = 0; y < h; y++)
    memcpy (map.data + y * in_stride, data + y * stride, row);
  gst_buffer_unmap (buf, &map);
  if (gst_app_src_push_buffer (j->src, buf) != GST_FLOW_OK) {
    set_pipeline_error (j, "the encoder does not accept data", error);
    return FALSE;
  }

  g_autoptr (GstSample) sample = gst_app_sink_try_pull_sample (j->sink,
      PULL_TIMEOUT);
  GstVideoInfo out_info;
  GstVideoFrame frame;
  if (!sample) {
    set_pipeline_error (j, "no image came out", error);
    return FALSE;
  }
  if (!gst_video_info_from_caps (&out_info, gst_sample_get_caps (sample))
      || GST_VIDEO_INFO_WIDTH (&out_info) != GST_VIDEO_INFO_WIDTH (&j->info)
      || GST_VIDEO_INFO_HEIGHT (&out_info) != h
      || !gst_video_frame_map (&frame, &out_info,
          gst_sample_get_buffer (sample), GST_MAP_READ)) {
    set_pipeline_error (j, "unexpected decoded image", error);
    return FALSE;
  }
  for (int y = 0; y < h; y++)
    memcpy (data + y * stride, (const guint8 *)
        GST_VIDEO_FRAME_PLANE_DATA (&frame, 0)
        + y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0), row);
  gst_video_frame_unmap (&frame);
  return TRUE;
}
