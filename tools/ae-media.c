/* GStreamer decoding and encoding for the tools (see ae-media.h).
 *
 * Reader: uridecodebin ! videoconvert ! appsink (caps AE_MEDIA_READER_FORMATS)
 * Writer: appsrc ! videoconvert [! capsfilter] ! ENCODER [! MUXER] ! filesink
 *
 * Both run synchronously from the caller's thread: pulling and pushing
 * poll the pipeline's bus, so a pipeline error surfaces as a GError
 * instead of a caller blocked forever on a queue nobody drains.
 */
#include "ae-media.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <gst/app/app.h>
#include <string.h>

G_DEFINE_QUARK (ae-media-error-quark, ae_media_error)

#define READ_ACTION "could not decode"
#define WRITE_ACTION "could not encode"

/* How long one bus poll waits while a queue is full or empty. */
#define POLL_INTERVAL (20 * GST_MSECOND)
/* A file whose decoder gives no frame, error or end for this long is
 * given up on (gst-libav's GIF demuxer spins forever; decodebin can drop
 * a corrupt file's error); AE_MEDIA_STALL_S overrides it. */
#define STALL_SECONDS 60

/* Which Debian package provides an element, for "install X" messages. */
static const struct {
  const char *element, *package;
} packages[] = {
  {"x264enc", "gstreamer1.0-plugins-ugly"},
  {"avenc_ffv1", "gstreamer1.0-libav"},
  {"vp8enc", "gstreamer1.0-plugins-good"},
  {"vp9enc", "gstreamer1.0-plugins-good"},
  {"jpegenc", "gstreamer1.0-plugins-good"},
  {"pngenc", "gstreamer1.0-plugins-good"},
  {"matroskamux", "gstreamer1.0-plugins-good"},
  {"webmmux", "gstreamer1.0-plugins-good"},
  {"mp4mux", "gstreamer1.0-plugins-good"},
  {"qtmux", "gstreamer1.0-plugins-good"},
  {"avimux", "gstreamer1.0-plugins-good"},
  {"theoraenc", "gstreamer1.0-plugins-base"},
  {"oggmux", "gstreamer1.0-plugins-base"},
  {"videoconvert", "gstreamer1.0-plugins-base"},
  {"uridecodebin", "gstreamer1.0-plugins-base"},
  {"appsrc", "gstreamer1.0-plugins-base"},
  {"appsink", "gstreamer1.0-plugins-base"},
  {"capsfilter", "libgstreamer1.0-0"},
  {"filesink", "libgstreamer1.0-0"},
};

static const char *
package_of (const char *element)
{
  for (guint i = 0; i < G_N_ELEMENTS (packages); i++)
    if (g_str_equal (packages[i].element, element))
      return packages[i].package;
  return "?";
}

static gboolean
have_element (const char *name)
{
  g_autoptr (GstElementFactory) f = gst_element_factory_find (name);
  return f != NULL;
}

/* Creates an element inside @bin (which owns it). */
static GstElement *
add_element (GstElement *bin, const char *factory, const char *what,
    GError **error)
{
  GstElement *e = gst_element_factory_make (factory, NULL);

  if (!e) {
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: the GStreamer element '%s' "
        "is missing (Debian package %s)", what, factory, package_of (factory));
    return NULL;
  }
  gst_bin_add (GST_BIN (bin), e);
  return e;
}

/* What failed, for messages: reading or writing the file itself, or the
 * work between. */
static const char *
action_of (GstMessage *msg, const char *action)
{
  GstObject *src = GST_MESSAGE_SRC (msg);
  GstElementFactory *f = GST_IS_ELEMENT (src) ?
      gst_element_get_factory (GST_ELEMENT (src)) : NULL;
  const char *name = f ? GST_OBJECT_NAME (f) : "";

  if (g_str_equal (name, "filesink"))
    return "could not write";
  if (g_str_equal (name, "filesrc"))
    return "could not read";
  return action;
}

/* Turns an ERROR message into @error ("PATH: ACTION: message"); prints
 * warnings. Returns FALSE if it was an error. */
static gboolean
handle_message (GstMessage *msg, const char *path, const char *action,
    GError **error)
{
  g_autoptr (GError) err = NULL;
  g_autofree char *debug = NULL;

  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:
      gst_message_parse_error (msg, &err, &debug);
      action = action_of (msg, action);
      /* "Internal data stream error." alone says nothing: add the reason */
      if (g_error_matches (err, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED)
          && debug && strstr (debug, "reason "))
        g_set_error (error, AE_MEDIA_ERROR, 0, "%s: %s: %s (%s)", path,
            action, err->message, strstr (debug, "reason ") + 7);
      else
        g_set_error (error, AE_MEDIA_ERROR, 0, "%s: %s: %s", path, action,
            err->message);
      return FALSE;
    case GST_MESSAGE_WARNING:
      gst_message_parse_warning (msg, &err, &debug);
      g_printerr ("%s: warning: %s\n", path, err->message);
      return TRUE;
    default:
      return TRUE;
  }
}

/* Handles every pending bus message, waiting up to @timeout for the first.
 * FALSE (and @error) on an error message. */
static gboolean
poll_bus (GstBus *bus, GstClockTime timeout, const char *path,
    const char *action, GError **error)
{
  GstMessage *msg;
  const GstMessageType types = GST_MESSAGE_ERROR | GST_MESSAGE_WARNING;

  while ((msg = gst_bus_timed_pop_filtered (bus, timeout, types))) {
    gboolean ok = handle_message (msg, path, action, error);
    gst_message_unref (msg);
    if (!ok)
      return FALSE;
    timeout = 0;
  }
  return TRUE;
}

/* After a failed state change: the reason is on the bus. */
static void
state_change_failed (GstBus *bus, const char *path, const char *action,
    GError **error)
{
  if (poll_bus (bus, GST_SECOND, path, action, error))
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: %s: the pipeline did not "
        "start", path, action);
}

/* ---- reader ---- */

struct _AeMediaReader {
  char *path;
  GstElement *pipeline;
  GstElement *convert;
  GstAppSink *sink;
  GstBus *bus;
  gint linked;                  /* atomic: a video pad was ever linked */
  gint64 stall_us;              /* files: give up on a pull this long */
};

static void
on_pad_added (GstElement *decode, GstPad *pad, gpointer user_data)
{
  AeMediaReader *r = user_data;
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
  g_autoptr (GstPad) sinkpad = NULL;

  if (!caps)
    caps = gst_pad_query_caps (pad, NULL);
  if (gst_caps_is_empty (caps) || !g_str_has_prefix (gst_structure_get_name
          (gst_caps_get_structure (caps, 0)), "video/"))
    return;
  /* the first video stream only; a chained file (Ogg) removes that pad
   * and adds the next part's, which then takes its place */
  sinkpad = gst_element_get_static_pad (r->convert, "sink");
  if (gst_pad_is_linked (sinkpad))
    return;
  g_atomic_int_set (&r->linked, 1);
  if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK) {
    GError *err = g_error_new (GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION,
        "cannot link the decoder's video output to videoconvert");
    gst_element_post_message (decode, gst_message_new_error (GST_OBJECT
            (decode), err, NULL));
    g_error_free (err);
  }
}

static void
on_no_more_pads (GstElement *decode, gpointer user_data)
{
  AeMediaReader *r = user_data;

  if (!g_atomic_int_get (&r->linked)) {
    GError *err = g_error_new (GST_STREAM_ERROR, GST_STREAM_ERROR_WRONG_TYPE,
        "the file has no video stream");
    gst_element_post_message (decode, gst_message_new_error (GST_OBJECT
            (decode), err, NULL));
    g_error_free (err);
  }
}

/* Sets the appsink's caps and queue and starts the pipeline. */
static gboolean
reader_start (AeMediaReader *r, GError **error)
{
  g_autoptr (GstCaps) caps = gst_caps_from_string ("video/x-raw, "
      "format=(string)" AE_MEDIA_READER_FORMATS);
  /* as fast as we can take them, at most two decoded frames waiting */
  g_object_set (r->sink, "caps", caps, "sync", FALSE, "max-buffers", 2,
      "enable-last-sample", FALSE, NULL);
  if (gst_element_set_state (r->pipeline, GST_STATE_PLAYING)
      == GST_STATE_CHANGE_FAILURE) {
    state_change_failed (r->bus, r->path, READ_ACTION, error);
    return FALSE;
  }
  return TRUE;
}

static gint64
stall_limit_us (void)
{
  const char *env = g_getenv ("AE_MEDIA_STALL_S");
  double s = env ? g_ascii_strtod (env, NULL) : 0;
  return (gint64) ((s > 0 ? s : STALL_SECONDS) * G_USEC_PER_SEC);
}

AeMediaReader *
ae_media_reader_new (const char *path, GError **error)
{
  g_autoptr (AeMediaReader) r = g_new0 (AeMediaReader, 1);
  g_autoptr (GError) uri_error = NULL;
  g_autofree char *uri = NULL;
  GstElement *decode, *sink;
  GStatBuf st;

  r->path = g_strdup (path);
  if (g_stat (path, &st) != 0) {
    int e = errno;
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: %s", path, g_strerror (e));
    return NULL;
  }
  if (S_ISDIR (st.st_mode)) {
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: is a directory, not an "
        "image or video file", path);
    return NULL;
  }
  if (!(uri = gst_filename_to_uri (path, &uri_error))) {
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: %s", path,
        uri_error->message);
    return NULL;
  }

  r->pipeline = gst_pipeline_new ("reader");
  r->bus = gst_element_get_bus (r->pipeline);
  if (!(decode = add_element (r->pipeline, "uridecodebin", path, error))
      || !(r->convert = add_element (r->pipeline, "videoconvert", path, error))
      || !(sink = add_element (r->pipeline, "appsink", path, error)))
    return NULL;
  r->sink = GST_APP_SINK (sink);

  g_object_set (decode, "uri", uri, NULL);
  r->stall_us = stall_limit_us ();
  gst_element_link (r->convert, sink);
  g_signal_connect (decode, "pad-added", G_CALLBACK (on_pad_added), r);
  g_signal_connect (decode, "no-more-pads", G_CALLBACK (on_no_more_pads), r);

  if (!reader_start (r, error))
    return NULL;
  return g_steal_pointer (&r);
}

AeMediaReader *
ae_media_reader_new_pipeline (const char *description, GError **error)
{
  g_autoptr (AeMediaReader) r = g_new0 (AeMediaReader, 1);
  g_autoptr (GError) parse_error = NULL;
  g_autofree char *full = g_strdup_printf ("%s ! videoconvert "
      "name=ae_media_convert ! appsink name=ae_media_sink", description);

  r->path = g_strdup (description);
  r->pipeline = gst_parse_launch_full (full, NULL, GST_PARSE_FLAG_FATAL_ERRORS,
      &parse_error);
  if (!r->pipeline) {
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: not a valid pipeline: %s",
        description, parse_error->message);
    return NULL;
  }
  /* the appended "! appsink" always makes a bin */
  GstElement *sink = gst_bin_get_by_name (GST_BIN (r->pipeline),
      "ae_media_sink");
  GstElement *convert = gst_bin_get_by_name (GST_BIN (r->pipeline),
      "ae_media_convert");
  /* the pipeline keeps them */
  if (sink)
    gst_object_unref (sink);
  if (convert)
    gst_object_unref (convert);
  if (!sink || !convert) {
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: not a valid pipeline",
        description);
    return NULL;
  }
  r->sink = GST_APP_SINK (sink);
  r->convert = convert;
  r->bus = gst_element_get_bus (r->pipeline);
  if (!reader_start (r, error))
    return NULL;
  return g_steal_pointer (&r);
}

void
ae_media_reader_free (AeMediaReader *r)
{
  if (!r)
    return;
  if (r->pipeline) {
    gst_element_set_state (r->pipeline, GST_STATE_NULL);
    gst_object_unref (r->pipeline);
  }
  if (r->bus)
    gst_object_unref (r->bus);
  g_free (r->path);
  g_free (r);
}

GstSample *
ae_media_reader_pull (AeMediaReader *r, GError **error)
{
  /* the wait for this frame alone: time the caller spent on the last
   * one does not count */
  const gint64 start = g_get_monotonic_time ();

  for (;;) {
    GstSample *s = gst_app_sink_try_pull_sample (r->sink, POLL_INTERVAL);
    if (s)
      return s;
    if (!poll_bus (r->bus, 0, r->path, READ_ACTION, error))
      return NULL;
    if (gst_app_sink_is_eos (r->sink))
      return NULL;
    /* live pipelines may wait as long as they like; files may not */
    if (r->stall_us && g_get_monotonic_time () - start > r->stall_us) {
      g_set_error (error, AE_MEDIA_ERROR, 0, "%s: the decoder gave no frame, "
          "error or end in %.0f s: a damaged file, or one GStreamer's "
          "decoder cannot finish", r->path, r->stall_us / 1e6);
      return NULL;
    }
  }
}

GstVideoColorMatrix
ae_media_reader_get_source_matrix (AeMediaReader *r)
{
  g_autoptr (GstPad) pad = gst_element_get_static_pad (r->convert, "sink");
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
  GstVideoInfo info;

  if (!caps || !gst_video_info_from_caps (&info, caps))
    return GST_VIDEO_COLOR_MATRIX_UNKNOWN;
  return GST_VIDEO_INFO_IS_YUV (&info) ? info.colorimetry.matrix :
      GST_VIDEO_COLOR_MATRIX_RGB;
}

AeMatrix
ae_media_reader_get_luma_matrix (AeMediaReader *r, AeMatrix fallback)
{
  GstVideoColorMatrix m = ae_media_reader_get_source_matrix (r);
  gdouble kr, kb;

  if (m == GST_VIDEO_COLOR_MATRIX_UNKNOWN)
    return fallback;
  return gst_video_color_matrix_get_Kr_Kb (m, &kr, &kb) ?
      ae_matrix_nearest (kr, kb) : AE_MATRIX_BT601;
}

/* ---- writer ---- */

typedef struct {
  const char *ext[3];
  const char *muxer;            /* NULL: a single image */
  const char *encoders[5];      /* best first */
  gboolean fixed_rate;          /* needs a frame rate in the caps */
} Container;

static const Container containers[] = {
  {{"png"}, NULL, {"pngenc"}},
  {{"jpg", "jpeg"}, NULL, {"jpegenc"}},
  /* no x264: lossless FFV1, else motion JPEG at high quality */
  {{"mkv"}, "matroskamux", {"x264enc", "avenc_ffv1", "jpegenc", "vp8enc"}},
  {{"webm"}, "webmmux", {"vp8enc", "vp9enc"}},
  /* vp9enc's caps lack what mp4mux needs without vp9parse (bad) */
  {{"mp4", "m4v"}, "mp4mux", {"x264enc"}},
  {{"mov"}, "qtmux", {"x264enc", "jpegenc"}},
  /* AVI's own codec first: H.264 in AVI needs h264parse (-bad) to read */
  {{"avi"}, "avimux", {"jpegenc", "x264enc"}, TRUE},
  {{"ogv", "ogg"}, "oggmux", {"theoraenc"}, TRUE},
};

struct _AeMediaWriter {
  char *path;
  const Container *container;
  const char *encoder;
  char *description;
  GstElement *pipeline;
  GstAppSrc *src;
  GstBus *bus;
  GstCaps *caps;                /* as pushed by the caller */
  gboolean started;
  gboolean quiet;
  /* 4:2:0 encoders need even sizes: odd frames are padded into these */
  gboolean pad;
  GstVideoInfo in_info, pad_info;
};

static const Container *
find_container (const char *path)
{
  const char *dot = strrchr (path, '.');

  if (!dot || strchr (dot, G_DIR_SEPARATOR))
    return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (containers); i++)
    for (int k = 0; k < 3 && containers[i].ext[k]; k++)
      if (g_ascii_strcasecmp (dot + 1, containers[i].ext[k]) == 0)
        return &containers[i];
  return NULL;
}

static void
set_if_exists (GstElement *e, const char *property, const char *value)
{
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (e), property))
    gst_util_set_object_arg (G_OBJECT (e), property, value);
}

/* Quality over file size: the output is for looking at the model. */
static void
configure_encoder (GstElement *enc, const char *name)
{
  g_autofree char *threads = g_strdup_printf ("%u", g_get_num_processors ());

  if (g_str_equal (name, "x264enc")) {
    set_if_exists (enc, "pass", "qual");
    set_if_exists (enc, "quantizer", "18");
  } else if (g_str_equal (name, "vp8enc") || g_str_equal (name, "vp9enc")) {
    set_if_exists (enc, "end-usage", "cq");
    set_if_exists (enc, "cq-level", "10");
    set_if_exists (enc, "bits-per-pixel", "0.5");
    set_if_exists (enc, "threads", threads);
    set_if_exists (enc, "row-mt", "true");
  } else if (g_str_equal (name, "jpegenc")) {
    set_if_exists (enc, "quality", "95");
  } else if (g_str_equal (name, "theoraenc")) {
    set_if_exists (enc, "quality", "56");
  }
}

/* Lossy video encoders get 4:2:0, which every player decodes; left alone,
 * videoconvert would pick 4:4:4 for RGB input. */
static gboolean
wants_i420 (const Container *c, const char *encoder)
{
  return c->muxer && !g_str_equal (encoder, "avenc_ffv1");
}

AeMediaWriter *
ae_media_writer_new (const char *path, GError **error)
{
  g_autoptr (AeMediaWriter) w = g_new0 (AeMediaWriter, 1);
  GstElement *src = NULL, *convert = NULL, *filter = NULL, *enc = NULL,
      *mux = NULL, *sink = NULL;

  w->path = g_strdup (path);
  w->container = find_container (path);
  if (!w->container) {
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: unknown output type; use "
        "an extension among .png .jpg for an image, .mkv .webm .mp4 .mov "
        ".avi .ogv for video", path);
    return NULL;
  }
  for (int i = 0; i < 5 && w->container->encoders[i]; i++) {
    if (have_element (w->container->encoders[i])) {
      w->encoder = w->container->encoders[i];
      break;
    }
  }
  if (!w->encoder) {
    GString *s = g_string_new (NULL);
    for (int i = 0; i < 5 && w->container->encoders[i]; i++)
      g_string_append_printf (s, "%s%s (Debian package %s)", i ? " or " : "",
          w->container->encoders[i],
          package_of (w->container->encoders[i]));
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: no encoder for this file "
        "type is installed: it needs %s", path, s->str);
    g_string_free (s, TRUE);
    return NULL;
  }
  if (w->container->muxer && !have_element (w->container->muxer)) {
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: the GStreamer element '%s' "
        "is missing (Debian package %s)", path, w->container->muxer,
        package_of (w->container->muxer));
    return NULL;
  }
  w->description = w->container->muxer ?
      g_strdup_printf ("%s ! %s", w->encoder, w->container->muxer)
      : g_strdup (w->encoder);

  w->pipeline = gst_pipeline_new ("writer");
  w->bus = gst_element_get_bus (w->pipeline);
  if (!(src = add_element (w->pipeline, "appsrc", path, error))
      || !(convert = add_element (w->pipeline, "videoconvert", path, error))
      || !(filter = add_element (w->pipeline, "capsfilter", path, error))
      || !(enc = add_element (w->pipeline, w->encoder, path, error))
      || (w->container->muxer && !(mux = add_element (w->pipeline,
                  w->container->muxer, path, error)))
      || !(sink = add_element (w->pipeline, "filesink", path, error)))
    return NULL;
  w->src = GST_APP_SRC (src);

  if (wants_i420 (w->container, w->encoder)) {
    g_autoptr (GstCaps) i420 = gst_caps_from_string ("video/x-raw, "
        "format=(string)I420");
    g_object_set (filter, "caps", i420, NULL);
  }
  g_object_set (src, "format", GST_FORMAT_TIME, "block", FALSE, NULL);
  configure_encoder (enc, w->encoder);
  g_object_set (sink, "location", path, NULL);

  if (!gst_element_link_many (src, convert, filter, enc, NULL)
      || !(mux ? gst_element_link_many (enc, mux, sink, NULL)
          : gst_element_link (enc, sink))) {
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: cannot link %s", path,
        w->description);
    return NULL;
  }
  return g_steal_pointer (&w);
}

void
ae_media_writer_free (AeMediaWriter *w)
{
  if (!w)
    return;
  if (w->pipeline) {
    gst_element_set_state (w->pipeline, GST_STATE_NULL);
    gst_object_unref (w->pipeline);
  }
  if (w->bus)
    gst_object_unref (w->bus);
  gst_clear_caps (&w->caps);
  g_free (w->description);
  g_free (w->path);
  g_free (w);
}

void
ae_media_writer_set_quiet (AeMediaWriter *w, gboolean quiet)
{
  w->quiet = quiet;
}

gboolean
ae_media_writer_is_open (const AeMediaWriter *w)
{
  return w->started;
}

gboolean
ae_media_writer_is_image (const AeMediaWriter *w)
{
  return w->container->muxer == NULL;
}

const char *
ae_media_writer_describe (const AeMediaWriter *w)
{
  return w->description;
}

/* Stills and variable-rate video have framerate 0/1, which AVI and Theora
 * cannot store: give them the rate of @buffer's duration (or 25/1). */
static GstCaps *
fix_rate (AeMediaWriter *w, GstCaps *caps, GstBuffer *buffer)
{
  GstVideoInfo info;
  int n = 25, d = 1;

  if (!w->container->fixed_rate || !gst_video_info_from_caps (&info, caps)
      || info.fps_n > 0)
    return gst_caps_ref (caps);
  if (GST_BUFFER_DURATION_IS_VALID (buffer) && GST_BUFFER_DURATION (buffer))
    gst_video_guess_framerate (GST_BUFFER_DURATION (buffer), &n, &d);
  caps = gst_caps_copy (caps);
  gst_caps_set_simple (caps, "framerate", GST_TYPE_FRACTION, n, d, NULL);
  return caps;
}

static gboolean
set_caps (AeMediaWriter *w, GstCaps *caller_caps, GstBuffer *buffer,
    GError **error)
{
  GstVideoInfo *in = &w->in_info, *out = &w->pad_info;
  g_autoptr (GstCaps) caps = fix_rate (w, caller_caps, buffer);

  if (!gst_video_info_from_caps (in, caps)) {
    g_autofree char *s = gst_caps_to_string (caps);
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: cannot write frames of "
        "caps %s", w->path, s);
    return FALSE;
  }
  gst_caps_replace (&w->caps, caller_caps);
  w->pad = wants_i420 (w->container, w->encoder)
      && GST_VIDEO_INFO_N_PLANES (in) == 1
      && (GST_VIDEO_INFO_WIDTH (in) % 2 || GST_VIDEO_INFO_HEIGHT (in) % 2);
  if (!w->pad) {
    gst_app_src_set_caps (w->src, caps);
    return TRUE;
  }
  gst_video_info_set_format (out, GST_VIDEO_INFO_FORMAT (in),
      GST_ROUND_UP_2 (GST_VIDEO_INFO_WIDTH (in)),
      GST_ROUND_UP_2 (GST_VIDEO_INFO_HEIGHT (in)));
  out->fps_n = in->fps_n;
  out->fps_d = in->fps_d;
  out->par_n = in->par_n;
  out->par_d = in->par_d;
  g_autoptr (GstCaps) padded = gst_video_info_to_caps (out);
  gst_app_src_set_caps (w->src, padded);
  if (!w->quiet)
    g_printerr ("%s: %dx%d frames are written as %dx%d (4:2:0 video for %s "
      "needs even sizes; the last column or row is repeated)\n", w->path,
      GST_VIDEO_INFO_WIDTH (in), GST_VIDEO_INFO_HEIGHT (in),
      GST_VIDEO_INFO_WIDTH (out), GST_VIDEO_INFO_HEIGHT (out), w->encoder);
  return TRUE;
}

/* Copies a one-plane frame into the padded size, repeating its last
 * column and row. Takes @buffer; NULL if it cannot be mapped. */
static GstBuffer *
pad_frame (AeMediaWriter *w, GstBuffer *buffer)
{
  GstVideoFrame src, dst;
  GstBuffer *out = gst_buffer_new_allocate (NULL,
      GST_VIDEO_INFO_SIZE (&w->pad_info), NULL);
  gboolean ok = FALSE;

  gst_buffer_copy_into (out, buffer, GST_BUFFER_COPY_METADATA, 0, -1);
  if (gst_video_frame_map (&src, &w->in_info, buffer, GST_MAP_READ)) {
    if (gst_video_frame_map (&dst, &w->pad_info, out, GST_MAP_WRITE)) {
      int bpp = GST_VIDEO_FRAME_COMP_PSTRIDE (&src, 0);
      int sw = GST_VIDEO_FRAME_WIDTH (&src), sh = GST_VIDEO_FRAME_HEIGHT (&src);
      int dw = GST_VIDEO_FRAME_WIDTH (&dst), dh = GST_VIDEO_FRAME_HEIGHT (&dst);
      for (int y = 0; y < dh; y++) {
        const guint8 *s = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&src, 0)
            + MIN (y, sh - 1) * GST_VIDEO_FRAME_PLANE_STRIDE (&src, 0);
        guint8 *d = (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&dst, 0)
            + y * GST_VIDEO_FRAME_PLANE_STRIDE (&dst, 0);
        memcpy (d, s, (gsize) sw * bpp);
        for (int x = sw; x < dw; x++)
          memcpy (d + x * bpp, s + (sw - 1) * bpp, bpp);
      }
      gst_video_frame_unmap (&dst);
      ok = TRUE;
    }
    gst_video_frame_unmap (&src);
  }
  gst_buffer_unref (buffer);
  if (!ok)
    gst_clear_buffer (&out);
  return out;
}

gboolean
ae_media_writer_push (AeMediaWriter *w, GstCaps *caps, GstBuffer *buffer,
    GError **error)
{
  guint64 limit;
  GstFlowReturn ret;

  if (!w->caps || !gst_caps_is_equal (caps, w->caps)) {
    if (!set_caps (w, caps, buffer, error)) {
      gst_buffer_unref (buffer);
      return FALSE;
    }
  }
  if (w->pad && !(buffer = pad_frame (w, buffer))) {
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: cannot map a frame",
        w->path);
    return FALSE;
  }
  /* keep a few frames queued so the encoder never waits for us */
  limit = 3 * gst_buffer_get_size (buffer);
  if (!w->started) {
    w->started = TRUE;
    if (gst_element_set_state (w->pipeline, GST_STATE_PLAYING)
        == GST_STATE_CHANGE_FAILURE) {
      gst_buffer_unref (buffer);
      state_change_failed (w->bus, w->path, WRITE_ACTION, error);
      return FALSE;
    }
  }
  while (gst_app_src_get_current_level_bytes (w->src) > limit) {
    if (!poll_bus (w->bus, POLL_INTERVAL, w->path, WRITE_ACTION, error)) {
      gst_buffer_unref (buffer);
      return FALSE;
    }
  }
  ret = gst_app_src_push_buffer (w->src, buffer);
  if (!poll_bus (w->bus, 0, w->path, WRITE_ACTION, error))
    return FALSE;
  if (ret != GST_FLOW_OK) {
    if (!poll_bus (w->bus, GST_SECOND, w->path, WRITE_ACTION, error))
      return FALSE;
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: %s: %s", w->path,
        WRITE_ACTION, gst_flow_get_name (ret));
    return FALSE;
  }
  return TRUE;
}

gboolean
ae_media_writer_finish (AeMediaWriter *w, GError **error)
{
  GstMessage *msg;

  if (!w->started)
    return TRUE;
  gst_app_src_end_of_stream (w->src);
  for (;;) {
    msg = gst_bus_timed_pop_filtered (w->bus, GST_CLOCK_TIME_NONE,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING);
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS)
      break;
    gboolean ok = handle_message (msg, w->path, WRITE_ACTION, error);
    gst_message_unref (msg);
    if (!ok)
      return FALSE;
  }
  gst_message_unref (msg);
  gst_element_set_state (w->pipeline, GST_STATE_NULL);
  return TRUE;
}
