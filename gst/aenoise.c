/**
 * SECTION:element-aenoise
 * @title: aenoise
 *
 * Adds synthetic noise to video in place, to demonstrate, test and evaluate
 * denoisers. Levels are 8-bit code values (0..255).
 *
 * * `gaussian`: every sample gets independent N(0, sigma²) noise.
 * * `poisson-gaussian`: a camera-like model: a sample of level v collects
 *   Poisson(v·gain) photons, read back as count/gain, plus N(0, sigma²) read
 *   noise; the variance is v/gain + sigma², so bright areas are noisier.
 *   `gain` is photons per level: the default 1 gives a shot-noise standard
 *   deviation of about 11 levels at mid grey; larger gains mean less shot
 *   noise (a brighter scene).
 *
 * On YUV formats only the luma plane gets noise unless `chroma` is set; on
 * RGB every colour channel gets independent noise and alpha is kept.
 *
 * The noise is pseudo-random (compute/ae-degrade.h's generator, the one
 * ae-train and `ae-model eval` draw their noise from: xoshiro256** seeded
 * from `seed`, Box–Muller normals, Knuth's Poisson counts) and restarts
 * from `seed`
 * every time the element starts, so a pipeline run twice with the same
 * seed produces identical frames. The default seed is 0, a fixed seed like
 * any other: choose different seeds for independent noise.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc ! aenoise mode=poisson-gaussian sigma=5 \
 *     gain=0.5 ! videoconvert ! autovideosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "aenoise.h"

#include <math.h>

#include "aefilter.h"
#include "ae-degrade.h"

GST_DEBUG_CATEGORY_STATIC (gst_ae_noise_debug);
#define GST_CAT_DEFAULT gst_ae_noise_debug

typedef enum
{
  GST_AE_NOISE_MODE_GAUSSIAN,
  GST_AE_NOISE_MODE_POISSON_GAUSSIAN,
} GstAeNoiseMode;

enum
{
  PROP_0,
  PROP_MODE,
  PROP_SIGMA,
  PROP_GAIN,
  PROP_SEED,
  PROP_CHROMA,
};

#define DEFAULT_MODE GST_AE_NOISE_MODE_GAUSSIAN
#define DEFAULT_SIGMA 25.0
#define DEFAULT_GAIN 1.0
#define DEFAULT_SEED 0
#define DEFAULT_CHROMA FALSE

struct _GstAeNoise
{
  GstVideoFilter parent;

  /* properties, under the object lock */
  GstAeNoiseMode mode;
  gdouble sigma;
  gdouble gain;
  guint seed;
  gboolean chroma;

  /* streaming thread: the generator and noise model ae-train and
   * ae-model eval use (compute/ae-degrade.h) */
  AeRng rng;
  gboolean have_spare;
  gfloat spare;
};

#define GST_TYPE_AE_NOISE_MODE (gst_ae_noise_mode_get_type ())
static GType
gst_ae_noise_mode_get_type (void)
{
  static gsize type = 0;
  static const GEnumValue values[] = {
    {GST_AE_NOISE_MODE_GAUSSIAN, "Additive white Gaussian noise", "gaussian"},
    {GST_AE_NOISE_MODE_POISSON_GAUSSIAN,
        "Poisson shot noise plus Gaussian read noise", "poisson-gaussian"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstAeNoiseMode", values);
    g_once_init_leave (&type, t);
  }
  return (GType) type;
}

static GstStaticPadTemplate gst_ae_noise_sink_template =
GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_AE_FILTER_CAPS));
static GstStaticPadTemplate gst_ae_noise_src_template =
GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_AE_FILTER_CAPS));

#define gst_ae_noise_parent_class parent_class
G_DEFINE_TYPE (GstAeNoise, gst_ae_noise, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (aenoise, "aenoise", GST_RANK_NONE,
    GST_TYPE_AE_NOISE,
    GST_DEBUG_CATEGORY_INIT (gst_ae_noise_debug, "aenoise", 0,
        "synthetic noise"));

static void gst_ae_noise_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_ae_noise_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static gboolean gst_ae_noise_start (GstBaseTransform * trans);
static GstFlowReturn gst_ae_noise_transform_frame_ip (GstVideoFilter * filter,
    GstVideoFrame * frame);

static void
gst_ae_noise_class_init (GstAeNoiseClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *vfilter_class = GST_VIDEO_FILTER_CLASS (klass);

  gobject_class->set_property = gst_ae_noise_set_property;
  gobject_class->get_property = gst_ae_noise_get_property;

  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode", "Noise model",
          GST_TYPE_AE_NOISE_MODE, DEFAULT_MODE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_SIGMA,
      g_param_spec_double ("sigma", "Sigma",
          "Standard deviation of the Gaussian noise, in 8-bit levels",
          0.0, 255.0, DEFAULT_SIGMA,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_GAIN,
      g_param_spec_double ("gain", "Gain",
          "Photons per 8-bit level for poisson-gaussian (shot-noise variance "
          "= level / gain)", 0.001, 1e6, DEFAULT_GAIN,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint ("seed", "Seed",
          "Seed of the noise, which restarts at every start (0 is a fixed "
          "seed like any other)", 0, G_MAXUINT, DEFAULT_SEED,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_CHROMA,
      g_param_spec_boolean ("chroma", "Chroma",
          "Also add noise to the chroma planes of YUV formats",
          DEFAULT_CHROMA,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));

  gst_element_class_set_static_metadata (element_class,
      "Synthetic noise", "Filter/Effect/Video",
      "Adds Gaussian or Poisson-Gaussian noise to video",
      "gst-autoencoder developers");
  gst_element_class_add_static_pad_template (element_class,
      &gst_ae_noise_sink_template);
  gst_element_class_add_static_pad_template (element_class,
      &gst_ae_noise_src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_ae_noise_start);
  vfilter_class->transform_frame_ip =
      GST_DEBUG_FUNCPTR (gst_ae_noise_transform_frame_ip);

  gst_type_mark_as_plugin_api (GST_TYPE_AE_NOISE_MODE, 0);
}

static void
gst_ae_noise_init (GstAeNoise * self)
{
  self->mode = DEFAULT_MODE;
  self->sigma = DEFAULT_SIGMA;
  self->gain = DEFAULT_GAIN;
  self->seed = DEFAULT_SEED;
  self->chroma = DEFAULT_CHROMA;
}

static void
gst_ae_noise_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstAeNoise *self = GST_AE_NOISE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODE:
      self->mode = g_value_get_enum (value);
      break;
    case PROP_SIGMA:
      self->sigma = g_value_get_double (value);
      break;
    case PROP_GAIN:
      self->gain = g_value_get_double (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint (value);
      break;
    case PROP_CHROMA:
      self->chroma = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ae_noise_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstAeNoise *self = GST_AE_NOISE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_SIGMA:
      g_value_set_double (value, self->sigma);
      break;
    case PROP_GAIN:
      g_value_set_double (value, self->gain);
      break;
    case PROP_SEED:
      g_value_set_uint (value, self->seed);
      break;
    case PROP_CHROMA:
      g_value_set_boolean (value, self->chroma);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* Standard normal sample: Box–Muller in single precision (twice as fast
 * per pixel as double here), its second value kept for the next call. */
static inline gfloat
gst_ae_noise_normal (GstAeNoise * self)
{
  if (self->have_spare) {
    self->have_spare = FALSE;
    return self->spare;
  }
  /* 1 - u is in (0, 1]: the log stays finite */
  gfloat r = sqrtf (-2.0f * logf ((gfloat) (1.0 -
              ae_rng_uniform (&self->rng))));
  gfloat a = 2.0f * (gfloat) G_PI * (gfloat) ae_rng_uniform (&self->rng);
  self->spare = r * sinf (a);
  self->have_spare = TRUE;
  return r * cosf (a);
}

static gboolean
gst_ae_noise_start (GstBaseTransform * trans)
{
  GstAeNoise *self = GST_AE_NOISE (trans);
  guint64 seed;

  GST_OBJECT_LOCK (self);
  seed = self->seed;
  GST_OBJECT_UNLOCK (self);

  ae_rng_init (&self->rng, seed, 0);
  self->have_spare = FALSE;
  return TRUE;
}

static void
gst_ae_noise_component (GstAeNoise * self, GstVideoFrame * frame, gint comp,
    GstAeNoiseMode mode, gfloat sigma, gfloat gain)
{
  guint8 *data = GST_VIDEO_FRAME_COMP_DATA (frame, comp);
  const gint stride = GST_VIDEO_FRAME_COMP_STRIDE (frame, comp);
  const gint pstride = GST_VIDEO_FRAME_COMP_PSTRIDE (frame, comp);
  const gint width = GST_VIDEO_FRAME_COMP_WIDTH (frame, comp);
  const gint height = GST_VIDEO_FRAME_COMP_HEIGHT (frame, comp);

  for (gint y = 0; y < height; y++) {
    guint8 *p = data + (gsize) y * stride;
    for (gint x = 0; x < width; x++, p += pstride) {
      gfloat v = *p;
      if (mode == GST_AE_NOISE_MODE_POISSON_GAUSSIAN)
        v = (gfloat) ae_rng_poisson (&self->rng, v * gain) / gain;
      if (sigma > 0.0f)
        v += sigma * gst_ae_noise_normal (self);
      v = rintf (v);
      *p = (guint8) (v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v);
    }
  }
}

static GstFlowReturn
gst_ae_noise_transform_frame_ip (GstVideoFilter * filter, GstVideoFrame * frame)
{
  GstAeNoise *self = GST_AE_NOISE (filter);
  const GstVideoFormatInfo *finfo = frame->info.finfo;
  GstAeNoiseMode mode;
  gfloat sigma, gain;
  gboolean chroma;

  GST_OBJECT_LOCK (self);
  mode = self->mode;
  sigma = (gfloat) self->sigma;
  gain = (gfloat) self->gain;
  chroma = self->chroma;
  GST_OBJECT_UNLOCK (self);

  if (mode == GST_AE_NOISE_MODE_GAUSSIAN && sigma <= 0.0f)
    return GST_FLOW_OK;

  for (guint c = 0; c < GST_VIDEO_FORMAT_INFO_N_COMPONENTS (finfo); c++) {
    if (GST_VIDEO_FORMAT_INFO_IS_YUV (finfo) && c > 0 && !chroma)
      continue;
    if (c == GST_VIDEO_COMP_A && GST_VIDEO_FORMAT_INFO_HAS_ALPHA (finfo))
      continue;
    gst_ae_noise_component (self, frame, c, mode, sigma, gain);
  }
  return GST_FLOW_OK;
}
