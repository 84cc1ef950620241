/**
 * SECTION:element-aesuperres
 * @title: aesuperres
 *
 * Upscales every video frame by the scale of its model (a model of task
 * "superres", see docs/MODEL-FORMAT.md): the output is scale times wider
 * and taller than the input; format, framerate and pixel aspect ratio are
 * kept. A luma model on YUV video upscales the Y plane with the network and
 * the chroma planes bilinearly; on RGB video it upscales Y' and
 * interpolates Cb and Cr bilinearly (done by the engine). An RGB model on
 * YUV video sees R'G'B' converted from Y'CbCr and writes all planes.
 *
 * Without `model`, the shipped x2 model for the backend that runs is used:
 * superres-x2-luma-fast.safetensors on the CPU, superres-x2-luma.safetensors
 * on a GPU. Any scale a model declares (2, 3, 4) works: the shipped
 * superres-x3-luma-fast and superres-x4-luma-fast are chosen by name,
 * `aesuperres model=superres-x3-luma-fast`.
 *
 * Caps: the scale is known only once the model is loaded, which happens on
 * demand when caps are first transformed (or in start()). While no model
 * can be loaded the caps pass through unscaled; start() then fails with the
 * loading error, so nothing streams with wrong caps. On the source side only
 * sizes that are exact multiples of the scale are accepted; fixation prefers
 * exactly the input size times the scale, and the input's format,
 * framerate and colorimetry.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 videotestsrc ! video/x-raw,width=320,height=240 ! \
 *     aesuperres ! videoconvert ! autovideosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "aesuperres.h"

GST_DEBUG_CATEGORY_STATIC (gst_ae_superres_debug);
#define GST_CAT_DEFAULT gst_ae_superres_debug

struct _GstAeSuperres
{
  GstAeFilter parent;
};

static GstStaticPadTemplate gst_ae_superres_sink_template =
GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_AE_FILTER_CAPS));
static GstStaticPadTemplate gst_ae_superres_src_template =
GST_STATIC_PAD_TEMPLATE ("src", GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_AE_FILTER_CAPS));

#define gst_ae_superres_parent_class parent_class
G_DEFINE_TYPE (GstAeSuperres, gst_ae_superres, GST_TYPE_AE_FILTER);
GST_ELEMENT_REGISTER_DEFINE_WITH_CODE (aesuperres, "aesuperres",
    GST_RANK_NONE, GST_TYPE_AE_SUPERRES,
    GST_DEBUG_CATEGORY_INIT (gst_ae_superres_debug, "aesuperres", 0,
        "autoencoder super-resolution"));

static GstCaps *gst_ae_superres_transform_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * filter);
static GstCaps *gst_ae_superres_fixate_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * othercaps);
static gboolean gst_ae_superres_set_info (GstVideoFilter * filter,
    GstCaps * incaps, GstVideoInfo * in_info, GstCaps * outcaps,
    GstVideoInfo * out_info);
static void gst_ae_superres_finish_frame (GstAeFilter * filter,
    GstVideoFrame * in_frame, GstVideoFrame * out_frame);

static void
gst_ae_superres_class_init (GstAeSuperresClass * klass)
{
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *vfilter_class = GST_VIDEO_FILTER_CLASS (klass);
  GstAeFilterClass *ae_class = GST_AE_FILTER_CLASS (klass);

  gst_element_class_set_static_metadata (element_class,
      "Autoencoder super-resolution", "Filter/Effect/Video/Scaler",
      "Upscales video with a convolutional network by the model's scale "
      "(default model: superres-x2-luma-fast on the CPU, superres-x2-luma "
      "on a GPU)", "gst-autoencoder developers");
  gst_element_class_add_static_pad_template (element_class,
      &gst_ae_superres_sink_template);
  gst_element_class_add_static_pad_template (element_class,
      &gst_ae_superres_src_template);

  trans_class->transform_caps =
      GST_DEBUG_FUNCPTR (gst_ae_superres_transform_caps);
  trans_class->fixate_caps = GST_DEBUG_FUNCPTR (gst_ae_superres_fixate_caps);
  vfilter_class->set_info = GST_DEBUG_FUNCPTR (gst_ae_superres_set_info);

  ae_class->task = AE_TASK_SUPERRES;
  ae_class->default_model = "superres-x2-luma.safetensors";
  ae_class->default_model_fast = "superres-x2-luma-fast.safetensors";
  gst_ae_filter_class_install_model_property (ae_class);
  gst_ae_filter_class_set_frame_funcs (ae_class, NULL,
      GST_DEBUG_FUNCPTR (gst_ae_superres_finish_frame));
}

static void
gst_ae_superres_init (GstAeSuperres * self)
{
}

/* Scales one width/height value. Multiplying (sink -> src): every value
 * times @scale, ranges becoming ranges of multiples. Dividing (src -> sink):
 * only exact multiples of @scale are kept. FALSE when nothing is left. */
static gboolean
scale_value (const GValue * in, GValue * out, gint scale, gboolean multiply)
{
  const gint max_in = G_MAXINT / scale;

  if (G_VALUE_HOLDS_INT (in)) {
    gint v = g_value_get_int (in);
    if (multiply) {
      if (v > max_in)
        return FALSE;
      v *= scale;
    } else {
      if (v % scale != 0)
        return FALSE;
      v /= scale;
    }
    g_value_init (out, G_TYPE_INT);
    g_value_set_int (out, v);
    return TRUE;
  }
  if (GST_VALUE_HOLDS_INT_RANGE (in)) {
    gint min = gst_value_get_int_range_min (in);
    gint max = gst_value_get_int_range_max (in);
    gint lo, hi;

    if (multiply) {
      if (min > max_in)
        return FALSE;
      lo = min * scale;
      hi = MIN (max, max_in) * scale;
    } else {
      lo = min <= 0 ? 0 : (min - 1) / scale + 1;        /* ceil */
      hi = max / scale;
    }
    if (lo > hi)
      return FALSE;
    if (lo == hi) {
      g_value_init (out, G_TYPE_INT);
      g_value_set_int (out, lo);
    } else {
      g_value_init (out, GST_TYPE_INT_RANGE);
      if (multiply)
        gst_value_set_int_range_step (out, lo, hi, scale);
      else
        gst_value_set_int_range (out, lo, hi);
    }
    return TRUE;
  }
  if (GST_VALUE_HOLDS_LIST (in)) {
    g_value_init (out, GST_TYPE_LIST);
    for (guint i = 0; i < gst_value_list_get_size (in); i++) {
      GValue v = G_VALUE_INIT;
      if (scale_value (gst_value_list_get_value (in, i), &v, scale, multiply))
        gst_value_list_append_and_take_value (out, &v);
    }
    if (gst_value_list_get_size (out) == 0) {
      g_value_unset (out);
      return FALSE;
    }
    return TRUE;
  }
  return FALSE;
}

static GstCaps *
gst_ae_superres_transform_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * filter)
{
  GstAeFilter *self = GST_AE_FILTER (trans);
  /* loads the model on demand; 1 (caps pass through) while it cannot be */
  const gint scale = gst_ae_filter_get_scale (self);
  const gboolean multiply = direction == GST_PAD_SINK;
  GstCaps *ret = gst_caps_new_empty ();

  for (guint i = 0; i < gst_caps_get_size (caps); i++) {
    GstStructure *st = gst_structure_copy (gst_caps_get_structure (caps, i));
    gboolean ok = TRUE;

    if (scale > 1) {
      static const gchar *fields[] = { "width", "height" };
      for (guint f = 0; f < G_N_ELEMENTS (fields) && ok; f++) {
        const GValue *v = gst_structure_get_value (st, fields[f]);
        GValue nv = G_VALUE_INIT;
        if (!v)
          continue;
        if (scale_value (v, &nv, scale, multiply))
          gst_structure_take_value (st, fields[f], &nv);
        else
          ok = FALSE;
      }
    }
    if (ok)
      gst_caps_append_structure_full (ret, st,
          gst_caps_features_copy (gst_caps_get_features (caps, i)));
    else
      gst_structure_free (st);
  }

  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, ret,
        GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (ret);
    ret = tmp;
  }
  GST_DEBUG_OBJECT (trans, "scale %d, %s: %" GST_PTR_FORMAT " -> %"
      GST_PTR_FORMAT, scale, multiply ? "sink->src" : "src->sink", caps, ret);
  return ret;
}

/* Fixes @othercaps as close as it allows to @caps scaled: the size times
 * the scale (sink -> src) or divided by it, then the input's other fields
 * where several values are left. */
static GstCaps *
gst_ae_superres_fixate_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * othercaps)
{
  static const gchar *copied[] = { "format", "framerate",
    "pixel-aspect-ratio", "colorimetry", "chroma-site", "interlace-mode"
  };
  const gint scale = gst_ae_filter_get_scale (GST_AE_FILTER (trans));
  const GstStructure *in = gst_caps_get_structure (caps, 0);
  GstStructure *out;
  gint width, height;

  othercaps = gst_caps_make_writable (gst_caps_truncate (othercaps));
  out = gst_caps_get_structure (othercaps, 0);
  if (gst_structure_get_int (in, "width", &width) &&
      gst_structure_get_int (in, "height", &height)) {
    if (direction == GST_PAD_SINK) {
      width = width > G_MAXINT / scale ? G_MAXINT : width * scale;
      height = height > G_MAXINT / scale ? G_MAXINT : height * scale;
    } else {
      width /= scale;
      height /= scale;
    }
    gst_structure_fixate_field_nearest_int (out, "width", width);
    gst_structure_fixate_field_nearest_int (out, "height", height);
  }
  for (guint i = 0; i < G_N_ELEMENTS (copied); i++) {
    const GValue *v = gst_structure_get_value (in, copied[i]);
    const GValue *o = gst_structure_get_value (out, copied[i]);
    if (v && o && !gst_value_is_fixed (o) && gst_value_can_intersect (v, o))
      gst_structure_set_value (out, copied[i], v);
  }
  othercaps = gst_caps_fixate (othercaps);
  GST_DEBUG_OBJECT (trans, "fixated to %" GST_PTR_FORMAT, othercaps);
  return othercaps;
}

static gboolean
gst_ae_superres_set_info (GstVideoFilter * filter, GstCaps * incaps,
    GstVideoInfo * in_info, GstCaps * outcaps, GstVideoInfo * out_info)
{
  GstAeFilter *self = GST_AE_FILTER (filter);
  AeModel *model = gst_ae_filter_get_model (self);

  g_return_val_if_fail (model != NULL, FALSE);
  const gint scale = ae_graph_get_scale (ae_model_get_graph (model));

  if (GST_VIDEO_INFO_FORMAT (in_info) != GST_VIDEO_INFO_FORMAT (out_info) ||
      GST_VIDEO_INFO_WIDTH (out_info) != GST_VIDEO_INFO_WIDTH (in_info) * scale
      || GST_VIDEO_INFO_HEIGHT (out_info) !=
      GST_VIDEO_INFO_HEIGHT (in_info) * scale) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("aesuperres: output %dx%d %s is not %d times the input %dx%d %s",
            GST_VIDEO_INFO_WIDTH (out_info), GST_VIDEO_INFO_HEIGHT (out_info),
            GST_VIDEO_INFO_NAME (out_info), scale,
            GST_VIDEO_INFO_WIDTH (in_info), GST_VIDEO_INFO_HEIGHT (in_info),
            GST_VIDEO_INFO_NAME (in_info)), (NULL));
    return FALSE;
  }
  return GST_VIDEO_FILTER_CLASS (parent_class)->set_info (filter, incaps,
      in_info, outcaps, out_info);
}

/* Input sample left of (above) output position @o, and the 8-bit weight
 * of the next one, for an @in_size -> @out_size bilinear resize. */
static gint
source_index (gint o, gint in_size, gint out_size, gint * frac)
{
  gdouble s = MAX (((gdouble) o + 0.5) * in_size / out_size - 0.5, 0.0);
  gint i = (gint) s;

  if (i >= in_size - 1) {
    i = in_size - 1;
    s = i;
  }
  *frac = (gint) ((s - i) * 256.0 + 0.5);
  return i;
}

/* Bilinear resize of component @c of @in into @out (align_corners=false:
 * output pixel centres map to (x + 0.5) * in / out - 0.5, clamped to the
 * edge), in 8-bit fixed point so that flat areas stay exact. Works on any
 * subsampling and on interleaved planes (NV12's UV) via the pixel stride. */
static void
gst_ae_superres_resize_comp (const GstVideoFrame * in, GstVideoFrame * out,
    guint c)
{
  const gint iw = GST_VIDEO_FRAME_COMP_WIDTH (in, c);
  const gint ih = GST_VIDEO_FRAME_COMP_HEIGHT (in, c);
  const gint ow = GST_VIDEO_FRAME_COMP_WIDTH (out, c);
  const gint oh = GST_VIDEO_FRAME_COMP_HEIGHT (out, c);
  const gint ips = GST_VIDEO_FRAME_COMP_PSTRIDE (in, c);
  const gint ops = GST_VIDEO_FRAME_COMP_PSTRIDE (out, c);
  const gint istride = GST_VIDEO_FRAME_COMP_STRIDE (in, c);
  const gint ostride = GST_VIDEO_FRAME_COMP_STRIDE (out, c);
  const guint8 *src = GST_VIDEO_FRAME_COMP_DATA (in, c);
  guint8 *dst = GST_VIDEO_FRAME_COMP_DATA (out, c);
  gint *x0 = g_newa (gint, ow), *x1 = g_newa (gint, ow), *fx = g_newa (gint,
      ow);

  if (iw <= 0 || ih <= 0 || ow <= 0 || oh <= 0)
    return;

  for (gint x = 0; x < ow; x++) {
    gint i = source_index (x, iw, ow, &fx[x]);
    x0[x] = i * ips;
    x1[x] = MIN (i + 1, iw - 1) * ips;
  }
  for (gint y = 0; y < oh; y++) {
    gint fy;
    const gint j = source_index (y, ih, oh, &fy);
    const guint8 *r0 = src + (gsize) j * istride;
    const guint8 *r1 = src + (gsize) MIN (j + 1, ih - 1) * istride;
    guint8 *d = dst + (gsize) y * ostride;
    for (gint x = 0; x < ow; x++) {
      const gint top = r0[x0[x]] * (256 - fx[x]) + r0[x1[x]] * fx[x];
      const gint bot = r1[x0[x]] * (256 - fx[x]) + r1[x1[x]] * fx[x];
      d[x * ops] = (guint8) ((top * (256 - fy) + bot * fy + 32768) >> 16);
    }
  }
}

/* The luma (or RGB, chroma interpolated by the engine) came from the
 * network; YUV chroma planes differ in size from the input's, so the
 * base class left them: a bilinear resize fills them. */
static void
gst_ae_superres_finish_frame (GstAeFilter * self, GstVideoFrame * in_frame,
    GstVideoFrame * out_frame)
{
  if (gst_ae_filter_format_is_yuv (in_frame->info.finfo) &&
      gst_ae_filter_model_is_luma (self)) {
    for (guint c = 1; c < GST_VIDEO_FRAME_N_COMPONENTS (in_frame); c++)
      gst_ae_superres_resize_comp (in_frame, out_frame, c);
  }
}
