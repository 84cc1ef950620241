#pragma once
#include "aefilter.h"
G_BEGIN_DECLS
#define GST_TYPE_AE_DENOISE (gst_ae_denoise_get_type ())
G_DECLARE_FINAL_TYPE (GstAeDenoise, gst_ae_denoise, GST, AE_DENOISE, GstAeFilter)
GST_ELEMENT_REGISTER_DECLARE (aedenoise);
G_END_DECLS
