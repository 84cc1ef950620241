#include "ae-error.h"

G_DEFINE_QUARK (ae-compute-error-quark, ae_compute_error);
