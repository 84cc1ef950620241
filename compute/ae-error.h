/* ae-error.h: the error domain of libaecompute.
 *
 * Every fallible function of libaecompute takes a `GError **` last and
 * returns FALSE/NULL exactly when it set it. Messages are written for the
 * user: they name the file, node or tensor and what is wrong with it.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define AE_COMPUTE_ERROR (ae_compute_error_quark ())

typedef enum {
  AE_COMPUTE_ERROR_FAILED,      /* anything not below */
  AE_COMPUTE_ERROR_IO,          /* a file could not be read or written */
  AE_COMPUTE_ERROR_INVALID_MODEL, /* the model file or graph is malformed */
  AE_COMPUTE_ERROR_UNSUPPORTED, /* valid, but not something we can run */
  AE_COMPUTE_ERROR_DEVICE,      /* a compute device failed or is missing */
  AE_COMPUTE_ERROR_NO_MEMORY,   /* an allocation of a plan or buffer failed */
  AE_COMPUTE_ERROR_INVALID_ARGUMENT, /* a caller's setting is out of range */
  AE_COMPUTE_ERROR_NO_DEVICE,   /* no device of the kind asked for exists */
} AeComputeError;

GQuark ae_compute_error_quark (void);

/* Sets an AE_COMPUTE_ERROR_INVALID_MODEL error "WHAT: message", @what
 * naming the file or document at fault. */
void ae_set_model_error (GError **error, const char *what, const char *fmt,
    ...) G_GNUC_PRINTF (3, 4);

G_END_DECLS
