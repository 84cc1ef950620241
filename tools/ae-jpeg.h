/* ae-jpeg.h: JPEG compression artefacts through GStreamer's jpegenc and
 * jpegdec, for training denoisers on compressed video.
 *
 * An AeJpeg is one small pipeline (appsrc ! jpegenc ! jpegdec !
 * videoconvert ! appsink) for images of one size and channel count (1:
 * GRAY8, 3: RGB), reused image after image; the round trip is
 * deterministic for a given quality. One thread at a time. Needs
 * gst_init().
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _AeJpeg AeJpeg;

/* Fails (naming the missing element and its Debian package) if jpegenc or
 * jpegdec is not installed. */
AeJpeg *ae_jpeg_new (int width, int height, int channels, GError **error);
void ae_jpeg_free (AeJpeg *j);

/* Replaces the pixels of @data (the size given to ae_jpeg_new, rows
 * @stride bytes apart) by their JPEG round trip at @quality (1..100). */
gboolean ae_jpeg_apply (AeJpeg *j, guint8 *data, gsize stride, int quality,
    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeJpeg, ae_jpeg_free)

G_END_DECLS
