/* ae-model run: apply a model to an image or video file. */
#include "ae-tool.h"
#include "ae-engine.h"
#include "ae-media.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void
on_sigint (int sig)
{
  interrupted = 1;
  /* a second Ctrl-C kills as usual */
  signal (sig, SIG_DFL);
}

typedef enum {
  MATRIX_AUTO,
  MATRIX_BT601,
  MATRIX_BT709,
  MATRIX_BT2020,
} MatrixChoice;

typedef struct {
  /* options */
  const char *device;
  int threads;
  int tile;
  MatrixChoice matrix;
  gboolean quiet;

  const char *input, *output;
  AeModel *model;
  AeEngine *engine;
  AePlan *plan;
  AeMediaReader *reader;
  AeMediaWriter *writer;
  int scale;

  /* the current input format, for re-planning on changes */
  GstVideoInfo in_info, out_info;
  GstCaps *out_caps;
  AeFrameFormat format;
  AeMatrix ae_matrix;

  /* progress */
  guint64 n_frames;
  guint64 resized_at;           /* frame of the last size change, or 0 */
  double model_seconds;
  gint64 start_us, last_report_us;
  GstClockTime next_pts;
} Run;

static gboolean
parse_matrix (const char *s, MatrixChoice *out)
{
  if (!s || g_str_equal (s, "auto"))
    *out = MATRIX_AUTO;
  else if (g_str_equal (s, "bt601") || g_str_equal (s, "601"))
    *out = MATRIX_BT601;
  else if (g_str_equal (s, "bt709") || g_str_equal (s, "709"))
    *out = MATRIX_BT709;
  else if (g_str_equal (s, "bt2020") || g_str_equal (s, "2020"))
    *out = MATRIX_BT2020;
  else
    return FALSE;
  return TRUE;
}

static gboolean
frame_format (GstVideoFormat f, AeFrameFormat *out)
{
  switch (f) {
    case GST_VIDEO_FORMAT_GRAY8:
      *out = AE_FRAME_GRAY8;
      return TRUE;
    case GST_VIDEO_FORMAT_RGBx:
      *out = AE_FRAME_RGBX;
      return TRUE;
    case GST_VIDEO_FORMAT_RGBA:
      *out = AE_FRAME_RGBA;
      return TRUE;
    default:
      return FALSE;
  }
}

/* Y' weights for luma models on RGB frames: the source's own YUV matrix
 * when it had one, else GStreamer's default for the size (BT.709 from 720
 * lines up), and BT.601 (as JPEG and most tools) for RGB sources. */
static AeMatrix
choose_matrix (const Run *r, int height)
{
  switch (r->matrix) {
    case MATRIX_BT601:
      return AE_MATRIX_BT601;
    case MATRIX_BT709:
      return AE_MATRIX_BT709;
    case MATRIX_BT2020:
      return AE_MATRIX_BT2020;
    default:
      break;
  }
  return ae_media_reader_get_luma_matrix (r->reader,
      height >= 720 ? AE_MATRIX_BT709 : AE_MATRIX_BT601);
}

/* (Re)plans for a new input format or size. */
static gboolean
configure (Run *r, GstCaps *caps, GError **error)
{
  GstVideoInfo info;
  AeFrameFormat format;

  if (!gst_video_info_from_caps (&info, caps)
      || !frame_format (GST_VIDEO_INFO_FORMAT (&info), &format)) {
    g_autofree char *s = gst_caps_to_string (caps);
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: unexpected decoded format "
        "%s", r->input, s);
    return FALSE;
  }
  if (r->plan && GST_VIDEO_INFO_FORMAT (&info) == GST_VIDEO_INFO_FORMAT
      (&r->in_info) && info.width == r->in_info.width
      && info.height == r->in_info.height && info.fps_n == r->in_info.fps_n
      && info.fps_d == r->in_info.fps_d && info.par_n == r->in_info.par_n
      && info.par_d == r->in_info.par_d)
    return TRUE;

  if (!r->plan || info.width != r->in_info.width
      || info.height != r->in_info.height) {
    AePlanParams pp = { .width = info.width, .height = info.height,
      .tile_size = r->tile
    };
    g_autoptr (GError) plan_error = NULL;
    g_clear_pointer (&r->plan, ae_plan_free);
    r->plan = ae_plan_new (r->engine, r->model, &pp, &plan_error);
    if (!r->plan) {
      g_set_error (error, AE_MEDIA_ERROR, 0, "%s: %dx%d frames: %s",
          r->input, info.width, info.height, plan_error->message);
      return FALSE;
    }
    if (r->n_frames > 0)
      r->resized_at = r->n_frames;
    if (r->n_frames > 0 && !r->quiet)
      g_printerr ("%s: frame size changed to %dx%d at frame %" G_GUINT64_FORMAT
          "\n", r->input, info.width, info.height, r->n_frames);
  }
  r->in_info = info;
  r->format = format;
  r->ae_matrix = choose_matrix (r, info.height);

  gst_video_info_set_format (&r->out_info, GST_VIDEO_INFO_FORMAT (&info),
      info.width * r->scale, info.height * r->scale);
  r->out_info.fps_n = info.fps_n;
  r->out_info.fps_d = info.fps_d;
  r->out_info.par_n = info.par_n;
  r->out_info.par_d = info.par_d;
  gst_clear_caps (&r->out_caps);
  r->out_caps = gst_video_info_to_caps (&r->out_info);
  return TRUE;
}

/* Adds the likely cause to a writer's error: after the frame size changed
 * (chained Ogg input), most muxers cannot follow, and may only say so when
 * they finish; "not-negotiated" is most often a size the encoder or muxer
 * does not take (AVI and MP4 want 16 pixels or more). */
static void
explain_write_error (const Run *r, GError *error)
{
  char *msg = NULL;
  if (r->resized_at > 0)
    msg = g_strdup_printf ("%s (the frame size changed at frame %"
        G_GUINT64_FORMAT "; %s may not support that: try .ogv)",
        error->message, r->resized_at, ae_media_writer_describe (r->writer));
  else if (strstr (error->message, "not-negotiated"))
    msg = g_strdup_printf ("%s (%s may not take %dx%d frames: try .mkv or "
        ".png)", error->message, ae_media_writer_describe (r->writer),
        r->out_info.width, r->out_info.height);
  if (msg) {
    g_free (error->message);
    error->message = msg;
  }
}

static void
copy_timestamps (Run *r, GstBuffer *in, GstBuffer *out)
{
  GstClockTime duration = GST_BUFFER_DURATION (in);

  if (!GST_CLOCK_TIME_IS_VALID (duration))
    duration = r->in_info.fps_n > 0 ? gst_util_uint64_scale_int (GST_SECOND,
        r->in_info.fps_d, r->in_info.fps_n) : GST_SECOND / 25;
  /* images and some demuxers give no time: number the frames */
  GST_BUFFER_PTS (out) = GST_BUFFER_PTS_IS_VALID (in) ? GST_BUFFER_PTS (in)
      : r->next_pts;
  GST_BUFFER_DURATION (out) = duration;
  r->next_pts = GST_BUFFER_PTS (out) + duration;
}

static gboolean
process (Run *r, GstSample *sample, GError **error)
{
  GstBuffer *in_buf = gst_sample_get_buffer (sample);
  GstCaps *caps = gst_sample_get_caps (sample);
  GstVideoFrame vin, vout;
  GstBuffer *out_buf;
  gboolean ok;

  if (!in_buf || !caps)
    return TRUE;
  if (!configure (r, caps, error))
    return FALSE;

  out_buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&r->out_info),
      NULL);
  if (!gst_video_frame_map (&vin, &r->in_info, in_buf, GST_MAP_READ)) {
    gst_buffer_unref (out_buf);
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: cannot map a decoded frame",
        r->input);
    return FALSE;
  }
  if (!gst_video_frame_map (&vout, &r->out_info, out_buf, GST_MAP_WRITE)) {
    gst_video_frame_unmap (&vin);
    gst_buffer_unref (out_buf);
    g_set_error (error, AE_MEDIA_ERROR, 0, "%s: cannot map an output frame",
        r->output);
    return FALSE;
  }

  AeFrame fin = {
    .format = r->format,
    .width = GST_VIDEO_FRAME_WIDTH (&vin),
    .height = GST_VIDEO_FRAME_HEIGHT (&vin),
    .data = GST_VIDEO_FRAME_PLANE_DATA (&vin, 0),
    .stride = GST_VIDEO_FRAME_PLANE_STRIDE (&vin, 0),
    .matrix = r->ae_matrix,
  };
  AeFrame fout = {
    .format = r->format,
    .width = GST_VIDEO_FRAME_WIDTH (&vout),
    .height = GST_VIDEO_FRAME_HEIGHT (&vout),
    .data = GST_VIDEO_FRAME_PLANE_DATA (&vout, 0),
    .stride = GST_VIDEO_FRAME_PLANE_STRIDE (&vout, 0),
    .matrix = r->ae_matrix,
  };
  gint64 t0 = g_get_monotonic_time ();
  ok = ae_plan_run (r->plan, &fin, &fout, error);
  r->model_seconds += (g_get_monotonic_time () - t0) * 1e-6;
  gst_video_frame_unmap (&vout);
  gst_video_frame_unmap (&vin);
  if (!ok) {
    gst_buffer_unref (out_buf);
    g_prefix_error (error, "%s: frame %" G_GUINT64_FORMAT ": ", r->input,
        r->n_frames);
    return FALSE;
  }
  copy_timestamps (r, in_buf, out_buf);
  if (!ae_media_writer_push (r->writer, r->out_caps, out_buf, error)) {
    explain_write_error (r, *error);
    return FALSE;
  }
  r->n_frames++;
  return TRUE;
}

static void
report_progress (Run *r, gboolean final)
{
  gint64 now = g_get_monotonic_time ();
  double elapsed = (now - r->start_us) * 1e-6;

  if (r->quiet || !isatty (STDERR_FILENO))
    return;
  if (!final && now - r->last_report_us < G_USEC_PER_SEC / 2)
    return;
  r->last_report_us = now;
  g_printerr ("\r%s: frame %" G_GUINT64_FORMAT ", %.1f fps   ", r->input,
      r->n_frames, elapsed > 0 ? r->n_frames / elapsed : 0.0);
  if (final)
    g_printerr ("\n");
}

static void
run_clear (Run *r)
{
  g_clear_pointer (&r->reader, ae_media_reader_free);
  g_clear_pointer (&r->writer, ae_media_writer_free);
  g_clear_pointer (&r->plan, ae_plan_free);
  g_clear_pointer (&r->engine, ae_engine_free);
  g_clear_pointer (&r->model, ae_model_unref);
  gst_clear_caps (&r->out_caps);
}

static int
run_model (Run *r, const char *model_path)
{
  g_autoptr (GError) error = NULL;
  AeEngineParams ep = { .device = r->device, .threads = r->threads };
  GstSample *sample;
  gboolean image;

  if (!(r->model = ae_tool_load_model (model_path, NULL)))
    return AE_EXIT_FAILURE;
  r->scale = ae_graph_get_scale (ae_model_get_graph (r->model));
  if (!(r->engine = ae_engine_new (&ep, &error))
      || !(r->writer = ae_media_writer_new (r->output, &error))
      || !(r->reader = ae_media_reader_new (r->input, &error)))
    goto error;
  ae_media_writer_set_quiet (r->writer, r->quiet);
  image = ae_media_writer_is_image (r->writer);

  r->start_us = g_get_monotonic_time ();
  signal (SIGINT, on_sigint);
  while (!interrupted && (sample = ae_media_reader_pull (r->reader, &error))) {
    gboolean ok = process (r, sample, &error);
    gst_sample_unref (sample);
    if (!ok)
      goto error;
    report_progress (r, FALSE);
    if (image)
      break;
  }
  if (error)
    goto error;
  signal (SIGINT, SIG_DFL);
  report_progress (r, TRUE);
  if (r->n_frames == 0) {
    ae_tool_error ("%s: no video frames%s", r->input,
        interrupted ? " (interrupted)" : "");
    return AE_EXIT_FAILURE;
  }
  if (image && !r->quiet) {
    sample = ae_media_reader_pull (r->reader, NULL);
    if (sample)
      g_printerr ("%s: has more than one frame; %s gets the first\n",
          r->input, r->output);
    g_clear_pointer (&sample, gst_sample_unref);
  }
  /* stop decoding before the encoder drains */
  g_clear_pointer (&r->reader, ae_media_reader_free);
  if (!ae_media_writer_finish (r->writer, &error)) {
    explain_write_error (r, error);
    goto error;
  }

  double elapsed = (g_get_monotonic_time () - r->start_us) * 1e-6;
  printf ("%s -> %s: %" G_GUINT64_FORMAT " frame%s %dx%d -> %dx%d%s\n",
      r->input, r->output, r->n_frames, r->n_frames == 1 ? "" : "s",
      r->in_info.width, r->in_info.height, r->out_info.width,
      r->out_info.height, interrupted ? " (interrupted)" : "");
  printf ("%.2f fps overall, model %.1f ms/frame (%s, %d thread%s, %s)\n",
      elapsed > 0 ? r->n_frames / elapsed : 0.0,
      1000.0 * r->model_seconds / r->n_frames,
      ae_engine_get_backend_name (r->engine),
      ae_engine_get_n_threads (r->engine),
      ae_engine_get_n_threads (r->engine) == 1 ? "" : "s",
      ae_media_writer_describe (r->writer));
  /* the output is complete and playable, but not all of the input */
  return interrupted ? 128 + SIGINT : AE_EXIT_OK;

error:
  signal (SIGINT, SIG_DFL);
  report_progress (r, TRUE);
  ae_tool_error ("%s", error->message);
  if (r->writer && ae_media_writer_is_open (r->writer)) {
    g_clear_pointer (&r->writer, ae_media_writer_free);
    /* nothing or a header only: do not leave an unplayable file (frames
     * pushed may never have reached it: encoders fail late) */
    GStatBuf st;
    if (r->n_frames == 0 || (g_stat (r->output, &st) == 0
            && st.st_size == 0))
      g_unlink (r->output);
    else
      ae_tool_error ("%s is incomplete", r->output);
  }
  return AE_EXIT_FAILURE;
}

static gboolean
same_file (const char *a, const char *b)
{
  GStatBuf sa, sb;

  return g_stat (a, &sa) == 0 && g_stat (b, &sb) == 0
      && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int
ae_cmd_run (int argc, char **argv)
{
  g_autofree char *device = NULL, *matrix = NULL;
  Run r = { .tile = 0 };
  const GOptionEntry entries[] = {
    {"device", 'd', 0, G_OPTION_ARG_STRING, &device,
        "Compute device: auto (default), cpu, vulkan, vulkan:N", "DEV"},
    {"threads", 't', 0, G_OPTION_ARG_INT, &r.threads,
        "CPU worker threads (default: one per core)", "N"},
    {"tile", 0, 0, G_OPTION_ARG_INT, &r.tile,
        "Tile side in pixels (0: automatic, -1: never tile)", "N"},
    {"matrix", 'm', 0, G_OPTION_ARG_STRING, &matrix,
        "Luma weights for luma models on colour input: auto (default: the "
          "source's YUV matrix), bt601, bt709, bt2020", "M"},
    {"quiet", 'q', 0, G_OPTION_ARG_NONE, &r.quiet,
        "No progress or notes on stderr", NULL},
    {NULL}
  };
  g_autoptr (GOptionContext) ctx =
      g_option_context_new ("MODEL INPUT OUTPUT");
  int status;

  g_option_context_set_summary (ctx, "Applies MODEL to every frame of "
      "INPUT (any image or video GStreamer\ndecodes) and writes OUTPUT, "
      "whose extension picks the format:\n"
      "  .png .jpg .jpeg                 one image (the first frame)\n"
      "  .mkv .webm .mp4 .mov .avi .ogv  video\n"
      "Luma models on colour input change Y' and keep the chroma; superres "
      "models\nwrite scale times larger frames.");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!ae_tool_parse_args (ctx, 3, &argc, &argv))
    return AE_EXIT_USAGE;
  if (!ae_tool_check_tile (r.tile))
    return AE_EXIT_USAGE;
  if (r.threads < 0) {
    g_printerr ("%s: --threads must be 0 (one per core) or more\n",
        g_get_prgname ());
    return AE_EXIT_USAGE;
  }
  if (!parse_matrix (matrix, &r.matrix)) {
    g_printerr ("%s: --matrix must be auto, bt601, bt709 or bt2020, "
        "not '%s'\n", g_get_prgname (), matrix);
    return AE_EXIT_USAGE;
  }
  if (same_file (argv[2], argv[3])) {
    g_printerr ("%s: OUTPUT would overwrite INPUT (%s)\n", g_get_prgname (),
        argv[3]);
    return AE_EXIT_USAGE;
  }
  r.device = device;
  r.input = argv[2];
  r.output = argv[3];

  status = run_model (&r, argv[1]);
  run_clear (&r);
  gst_deinit ();
  return status;
}
