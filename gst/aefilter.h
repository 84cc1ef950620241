/* aefilter.h: GstAeFilter, the base class of the autoencoder elements.
 *
 * It owns the model, the engine and the plan and implements the common
 * properties (`model`, `device`, read-only `backend`, `tile-size`,
 * `threads`): the model and engine are opened in start(), planned for the
 * negotiated size in set_info(), and freed in stop(). A subclass sets
 * GstAeFilterClass.task and .default_model in its class_init and adds only
 * its task logic: a subclass whose output is the model's output (denoise,
 * superres) gives gst_ae_filter_class_set_frame_funcs() its per-frame
 * hooks and the base class runs its frames, keeping up to
 * `frames-in-flight` of them queued on a GPU; one that only looks at the
 * model's output (anomaly) calls gst_ae_filter_run() itself.
 */
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/video/gstvideofilter.h>

#include "ae-engine.h"

G_BEGIN_DECLS

/* The raw video formats every autoencoder element accepts: GRAY8, the
 * planar/semi-planar YUV formats (luma models work on Y', RGB models on
 * R'G'B' converted in the engine) and the interleaved RGB family. */
#define GST_AE_FILTER_FORMATS \
  "{ GRAY8, I420, NV12, Y444, RGBA, BGRA, ARGB, ABGR, RGBx, BGRx, xRGB, " \
  "xBGR, RGB, BGR }"
#define GST_AE_FILTER_CAPS GST_VIDEO_CAPS_MAKE (GST_AE_FILTER_FORMATS)

#define GST_TYPE_AE_FILTER (gst_ae_filter_get_type ())
G_DECLARE_DERIVABLE_TYPE (GstAeFilter, gst_ae_filter, GST, AE_FILTER,
    GstVideoFilter)

struct _GstAeFilterClass
{
  GstVideoFilterClass parent_class;

  /* The task a model must have (AE_TASK_DENOISE, ...). */
  AeTask task;
  /* File names of the shipped models used when `model` is unset, looked
   * up in AE_MODEL_PATH and then the installed models directory: the
   * quality model on a GPU backend, the fast one (if set) on the CPU. */
  const char *default_model;
  const char *default_model_fast;

  /* Set by gst_ae_filter_class_set_frame_funcs(). */
  gboolean (*frame_needs_model) (GstAeFilter * self);
  void (*finish_frame) (GstAeFilter * self, GstVideoFrame * in,
      GstVideoFrame * out);

  gpointer padding[GST_PADDING];
};

/* Property id of a `model` property a subclass installs with
 * gst_ae_filter_class_install_model_property(); its set_property and
 * get_property pass ids they do not know on to the parent class. */
#define GST_AE_FILTER_PROP_MODEL 0x1000
/* Property id of `frames-in-flight` (gst_ae_filter_class_set_frame_funcs). */
#define GST_AE_FILTER_PROP_FRAMES_IN_FLIGHT 0x1001

/* Installs on @klass (a subclass) the `model` property with a blurb that
 * names its default models; set default_model[_fast] first. */
void gst_ae_filter_class_install_model_property (GstAeFilterClass * klass);

/* Makes the base class run the subclass's frames (as its transform_frame)
 * and installs the `frames-in-flight` property. Per frame, in order:
 * @needs_model (NULL: always) says whether the model runs; if not, the
 * input is copied to the output and @finish is skipped. Otherwise the model
 * writes the output (chroma as gst_ae_filter_run() leaves it) and @finish
 * completes it. On a GPU backend up to
 * `frames-in-flight` frames are in the engine at once, so a frame is
 * pushed when the next one has been submitted (or at EOS, a caps change
 * or any other serialized event); the latency query adds the frames held. */
void gst_ae_filter_class_set_frame_funcs (GstAeFilterClass * klass,
    gboolean (*needs_model) (GstAeFilter * self),
    void (*finish) (GstAeFilter * self, GstVideoFrame * in,
        GstVideoFrame * out));

/* Maps @vframe onto @out: GRAY8 and the RGB family become the matching
 * AeFrameFormat; I420, NV12 and Y444 become the YUV frame formats with
 * their chroma planes and range; the matrix comes from the colorimetry
 * (BT.709 or else BT.601). FALSE for a format outside
 * GST_AE_FILTER_FORMATS. The frame's data stays owned by @vframe. */
gboolean gst_ae_filter_map_frame (GstVideoFrame * vframe, AeFrame * out);

/* The AeFrameFormat of @format into *@out; FALSE for a format outside
 * GST_AE_FILTER_FORMATS. */
gboolean gst_ae_filter_video_format (GstVideoFormat format,
    AeFrameFormat * out);

/* TRUE if @finfo is one of the YUV formats whose first plane is luma. */
gboolean gst_ae_filter_format_is_yuv (const GstVideoFormatInfo * finfo);

/* Runs the plan on @in into @out (both of the negotiated format; @out is
 * scale times larger), for subclasses without frame funcs. For YUV with a
 * luma model it copies the chroma planes of @in into @out when both frames
 * have the same size (else the caller fills them); RGB models write the
 * chroma themselves. Streaming thread only. FALSE with @error set on
 * failure (the caller posts the element error). */
gboolean gst_ae_filter_run (GstAeFilter * self, GstVideoFrame * in,
    GstVideoFrame * out, GError ** error);

/* The model's scale (output size / input size), loading and caching the
 * model on demand when the element is not started yet (e.g. from
 * transform_caps). 1 when the model cannot be loaded: nothing is posted
 * then, start() loads it again and posts the error. Any thread. */
gint gst_ae_filter_get_scale (GstAeFilter * self);

/* The loaded model (owned by the filter; valid between start and stop). */
AeModel *gst_ae_filter_get_model (GstAeFilter * self);

/* TRUE if the loaded model works on luma (Y') only. */
gboolean gst_ae_filter_model_is_luma (GstAeFilter * self);

G_END_DECLS
