#pragma once
#include <gst/video/gstvideofilter.h>
G_BEGIN_DECLS
#define GST_TYPE_AE_NOISE (gst_ae_noise_get_type ())
G_DECLARE_FINAL_TYPE (GstAeNoise, gst_ae_noise, GST, AE_NOISE, GstVideoFilter)
GST_ELEMENT_REGISTER_DECLARE (aenoise);
G_END_DECLS
