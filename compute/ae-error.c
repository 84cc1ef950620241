#include "ae-error.h"

G_DEFINE_QUARK (ae-compute-error-quark, ae_compute_error);

void
ae_set_model_error (GError **error, const char *what, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
      "%s: %s", what, msg);
}
