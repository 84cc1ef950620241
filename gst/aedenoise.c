/**
 * SECTION:element-aedenoise
 * @title: aedenoise
 *
 * Denoises every video frame with a convolutional autoencoder (a model of
 * task "denoise", see docs/MODEL-FORMAT.md). A luma model on YUV video
 * touches only the Y plane and copies the chroma; on RGB video it changes
 * Y' and keeps Cb and Cr. An RGB model on YUV video sees R'G'B' converted
 * from Y'CbCr (and back) as the caps' colorimetry says. `strength` blends
 * the input (0) and the model's output (1) per pixel and can be driven by a
 * GstController.
 *
 * Without `model`, the shipped blind denoiser for the backend that runs is
 * used: denoise-luma-fast.safetensors on the CPU, denoise-luma.safetensors
 * on a GPU. For colour noise, model=denoise-rgb-fast also cleans the
 * chroma.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc ! aenoise sigma=25 ! aedenoise strength=0.8 ! \
 *     videoconvert ! autovideosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "aedenoise.h"

GST_DEBUG_CATEGORY_STATIC (gst_ae_denoise_debug);
#define GST_CAT_DEFAULT gst_ae_denoise_debug

enum
{
  PROP_0,
  PROP_STRENGTH,
};

#define DEFAULT_STRENGTH 1.0

struct _GstAeDenoise
{
  GstAeFilter parent;

  /* under the object lock */
  gdouble strength;
};

static GstStaticPadTemplate gst_ae_denoise_sink_template =
GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_AE_FILTER_CAPS));
static GstStaticPadTemplate gst_ae_denoise_src_template =
GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_AE_FILTER_CAPS));

#define gst_ae_denoise_parent_class parent_class
G_DEFINE_TYPE (GstAeDenoise, gst_ae_denoise, GST_TYPE_AE_FILTER);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (aedenoise, "aedenoise", GST_RANK_NONE,
    GST_TYPE_AE_DENOISE,
    GST_DEBUG_CATEGORY_INIT (gst_ae_denoise_debug, "aedenoise", 0,
        "autoencoder denoiser"));

static void gst_ae_denoise_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_ae_denoise_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static void gst_ae_denoise_before_transform (GstBaseTransform * trans,
    GstBuffer * buffer);
static gboolean gst_ae_denoise_needs_model (GstAeFilter * filter);
static void gst_ae_denoise_finish_frame (GstAeFilter * filter,
    GstVideoFrame * in_frame, GstVideoFrame * out_frame);

static void
gst_ae_denoise_class_init (GstAeDenoiseClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstAeFilterClass *ae_class = GST_AE_FILTER_CLASS (klass);

  gobject_class->set_property = gst_ae_denoise_set_property;
  gobject_class->get_property = gst_ae_denoise_get_property;

  ae_class->task = AE_TASK_DENOISE;
  ae_class->default_model = "denoise-luma.safetensors";
  ae_class->default_model_fast = "denoise-luma-fast.safetensors";
  gst_ae_filter_class_install_model_property (ae_class);

  g_object_class_install_property (gobject_class, PROP_STRENGTH,
      g_param_spec_double ("strength", "Strength",
          "Blend of the input (0) and the denoised frame (1), per pixel",
          0.0, 1.0, DEFAULT_STRENGTH,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_CONTROLLABLE));

  gst_element_class_set_static_metadata (element_class,
      "Autoencoder denoiser", "Filter/Effect/Video",
      "Denoises video with a convolutional autoencoder (default model: "
      "denoise-luma-fast on the CPU, denoise-luma on a GPU; "
      "model=denoise-rgb-fast for colour noise)",
      "gst-autoencoder developers");
  gst_element_class_add_static_pad_template (element_class,
      &gst_ae_denoise_sink_template);
  gst_element_class_add_static_pad_template (element_class,
      &gst_ae_denoise_src_template);

  trans_class->before_transform =
      GST_DEBUG_FUNCPTR (gst_ae_denoise_before_transform);
  gst_ae_filter_class_set_frame_funcs (ae_class,
      GST_DEBUG_FUNCPTR (gst_ae_denoise_needs_model),
      GST_DEBUG_FUNCPTR (gst_ae_denoise_finish_frame));
}

static void
gst_ae_denoise_init (GstAeDenoise * self)
{
  self->strength = DEFAULT_STRENGTH;
}

static void
gst_ae_denoise_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstAeDenoise *self = GST_AE_DENOISE (object);

  switch (prop_id) {
    case PROP_STRENGTH:
      GST_OBJECT_LOCK (self);
      self->strength = g_value_get_double (value);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_CLASS (parent_class)->set_property (object, prop_id, value,
          pspec);
      break;
  }
}

static void
gst_ae_denoise_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstAeDenoise *self = GST_AE_DENOISE (object);

  switch (prop_id) {
    case PROP_STRENGTH:
      GST_OBJECT_LOCK (self);
      g_value_set_double (value, self->strength);
      GST_OBJECT_UNLOCK (self);
      break;
    default:
      G_OBJECT_CLASS (parent_class)->get_property (object, prop_id, value,
          pspec);
      break;
  }
}

static void
gst_ae_denoise_before_transform (GstBaseTransform * trans, GstBuffer * buffer)
{
  GstClockTime timestamp = GST_BUFFER_TIMESTAMP (buffer);

  /* controlled properties follow time; a BYTES segment (raw frames from
   * filesrc) has none */
  if (trans->segment.format != GST_FORMAT_TIME
      || !GST_CLOCK_TIME_IS_VALID (timestamp))
    return;
  GstClockTime stream_time = gst_segment_to_stream_time (&trans->segment,
      GST_FORMAT_TIME, timestamp);
  if (GST_CLOCK_TIME_IS_VALID (stream_time))
    gst_object_sync_values (GST_OBJECT (trans), stream_time);
}

/* out = in + w/256 (out - in), rounded, over the bytes of the first
 * @n_planes planes (luma, all of YUV for RGB models, or every channel of
 * RGB; alpha is equal in both). */
static void
gst_ae_denoise_blend (const GstVideoFrame * in, GstVideoFrame * out,
    guint n_planes, gdouble strength)
{
  const gint w = (gint) (strength * 256.0 + 0.5);
  gint comp[GST_VIDEO_MAX_COMPONENTS];

  for (guint p = 0; p < n_planes; p++) {
    gst_video_format_info_component (in->info.finfo, p, comp);
    /* NV12's CbCr plane: pixel stride 2 covers both components */
    const gint row_bytes = GST_VIDEO_FRAME_COMP_WIDTH (in, comp[0]) *
        GST_VIDEO_FRAME_COMP_PSTRIDE (in, comp[0]);
    const gint height = GST_VIDEO_FRAME_COMP_HEIGHT (in, comp[0]);
    const gint in_stride = GST_VIDEO_FRAME_PLANE_STRIDE (in, p);
    const gint out_stride = GST_VIDEO_FRAME_PLANE_STRIDE (out, p);

    for (gint y = 0; y < height; y++) {
      const guint8 *s = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (in, p) +
          (gsize) y * in_stride;
      guint8 *d = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (out, p) +
          (gsize) y * out_stride;
      for (gint x = 0; x < row_bytes; x++)
        d[x] = (guint8) ((s[x] * (256 - w) + d[x] * w + 128) >> 8);
    }
  }
}

static gdouble
gst_ae_denoise_get_strength (GstAeDenoise * self)
{
  gdouble strength;

  GST_OBJECT_LOCK (self);
  strength = self->strength;
  GST_OBJECT_UNLOCK (self);
  return strength;
}

/* strength 0 passes frames on without running the model */
static gboolean
gst_ae_denoise_needs_model (GstAeFilter * filter)
{
  return gst_ae_denoise_get_strength (GST_AE_DENOISE (filter)) > 0.0;
}

static void
gst_ae_denoise_finish_frame (GstAeFilter * filter, GstVideoFrame * in_frame,
    GstVideoFrame * out_frame)
{
  /* with frames in flight, a controlled strength has moved on to the next
   * frame's time: back to this one's */
  gst_ae_denoise_before_transform (GST_BASE_TRANSFORM (filter),
      in_frame->buffer);
  gdouble strength = gst_ae_denoise_get_strength (GST_AE_DENOISE (filter));

  if (strength < 1.0)
    gst_ae_denoise_blend (in_frame, out_frame,
        gst_ae_filter_model_is_luma (filter) ? 1 :
        GST_VIDEO_FRAME_N_PLANES (in_frame), strength);
}
