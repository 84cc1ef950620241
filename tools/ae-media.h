/* ae-media.h: decoding and encoding image and video files with GStreamer,
 * for the tools.
 *
 * A reader decodes any file GStreamer can play into raw frames of one of
 * AE_MEDIA_READER_FORMATS (RGBA where the source has alpha, GRAY8 where it
 * is gray, RGBx otherwise: videoconvert picks the one that loses least).
 * A writer encodes raw frames into a file whose kind its extension names:
 * .png and .jpg/.jpeg hold one image; .mkv, .webm, .mp4, .m4v, .mov, .avi,
 * .ogv hold video, with the best encoder installed for that container.
 *
 * Errors are GErrors in AE_MEDIA_ERROR whose message starts with the file
 * name and says what to do ("out.mp4: no encoder for .mp4 is installed:
 * ..."). Both objects are used from one thread. gst_init() first.
 */
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>
#include "ae-frame.h"

G_BEGIN_DECLS

#define AE_MEDIA_ERROR (ae_media_error_quark ())
GQuark ae_media_error_quark (void);

#define AE_MEDIA_READER_FORMATS "{ RGBA, RGBx, GRAY8 }"

typedef struct _AeMediaReader AeMediaReader;
typedef struct _AeMediaWriter AeMediaWriter;

/* Starts decoding @path (a file name). Fails at once if it does not exist
 * or the pipeline cannot start; later decoding errors come from _pull(). */
AeMediaReader *ae_media_reader_new (const char *path, GError **error);
/* Starts a gst-launch pipeline @description whose last element outputs
 * raw video ("v4l2src", "videotestsrc num-buffers=5 ! video/x-raw,width=64")
 * with "! videoconvert ! appsink" appended. A description that does not
 * parse fails here with GStreamer's message; a pipeline that fails later
 * fails in _pull(). Messages name the description. */
AeMediaReader *ae_media_reader_new_pipeline (const char *description,
    GError **error);
void ae_media_reader_free (AeMediaReader *r);
/* The next frame (transfer full; its caps are raw video in one of
 * AE_MEDIA_READER_FORMATS), or NULL at the end of the stream (@error unset)
 * or on a failure (@error set). */
GstSample *ae_media_reader_pull (AeMediaReader *r, GError **error);
/* The YUV matrix of the decoded stream before conversion to RGB, from its
 * caps; GST_VIDEO_COLOR_MATRIX_RGB for RGB sources and
 * GST_VIDEO_COLOR_MATRIX_UNKNOWN before the first frame. */
GstVideoColorMatrix ae_media_reader_get_source_matrix (AeMediaReader *r);
/* The weights of the source's own Y' (of its Y' plane, which is what the
 * elements read from YUV video): the engine's nearest to its matrix
 * (ae_matrix_nearest()), BT.601 for RGB sources (as JPEG and most tools),
 * @fallback before the first frame. */
AeMatrix ae_media_reader_get_luma_matrix (AeMediaReader *r,
    AeMatrix fallback);

/* Checks the extension and that the elements to write it exist; nothing
 * is opened until the first frame. */
AeMediaWriter *ae_media_writer_new (const char *path, GError **error);
void ae_media_writer_free (AeMediaWriter *w);
/* No notes on stderr (such as padding odd sizes for 4:2:0 encoders). */
void ae_media_writer_set_quiet (AeMediaWriter *w, gboolean quiet);
/* TRUE once the output file has been opened (at the first push). */
gboolean ae_media_writer_is_open (const AeMediaWriter *w);
/* TRUE for single-image formats (.png, .jpg). */
gboolean ae_media_writer_is_image (const AeMediaWriter *w);
/* "x264enc ! matroskamux", for messages. */
const char *ae_media_writer_describe (const AeMediaWriter *w);
/* Queues @buffer (transfer full) with @caps (raw video; may change between
 * calls). Blocks while the encoder is more than a few frames behind. */
gboolean ae_media_writer_push (AeMediaWriter *w, GstCaps *caps,
    GstBuffer *buffer, GError **error);
/* Ends the stream and waits until the file is complete. */
gboolean ae_media_writer_finish (AeMediaWriter *w, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeMediaReader, ae_media_reader_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeMediaWriter, ae_media_writer_free)

G_END_DECLS
