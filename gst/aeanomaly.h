#pragma once
#include "aefilter.h"
G_BEGIN_DECLS
#define GST_TYPE_AE_ANOMALY (gst_ae_anomaly_get_type ())
G_DECLARE_FINAL_TYPE (GstAeAnomaly, gst_ae_anomaly, GST, AE_ANOMALY, GstAeFilter)
#define GST_TYPE_AE_ANOMALY_OVERLAY (gst_ae_anomaly_overlay_get_type ())
GType gst_ae_anomaly_overlay_get_type (void);
GST_ELEMENT_REGISTER_DECLARE (aeanomaly);
G_END_DECLS
