#pragma once
#include "aefilter.h"
G_BEGIN_DECLS
#define GST_TYPE_AE_SUPERRES (gst_ae_superres_get_type ())
G_DECLARE_FINAL_TYPE (GstAeSuperres, gst_ae_superres, GST, AE_SUPERRES, GstAeFilter)
GST_ELEMENT_REGISTER_DECLARE (aesuperres);
G_END_DECLS
