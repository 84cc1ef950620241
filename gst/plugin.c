/* plugin.c: the "autoencoder" plugin; registers its elements. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/gst.h>

#include "aeanomaly.h"
#include "aedenoise.h"
#include "aenoise.h"
#include "aesuperres.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;

  ret |= GST_ELEMENT_REGISTER (aeanomaly, plugin);
  ret |= GST_ELEMENT_REGISTER (aedenoise, plugin);
  ret |= GST_ELEMENT_REGISTER (aenoise, plugin);
  ret |= GST_ELEMENT_REGISTER (aesuperres, plugin);
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, autoencoder,
    "Convolutional autoencoders on video: denoising, super-resolution, synthetic noise",
    plugin_init, PACKAGE_VERSION, "LGPL", PACKAGE_NAME, PACKAGE_ORIGIN)
