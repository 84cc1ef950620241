/* ae-safetensors.h: reading and writing the safetensors container.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON, then the data
 * section. The JSON maps tensor names to {dtype, shape, data_offsets} and may
 * hold "__metadata__", a string -> string map. The parser checks every offset
 * against the data section (in range, no overlap, no uncovered byte) before
 * any tensor is handed out, so callers never read outside the file.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define AE_MAX_DIMS 8

typedef enum {
  AE_DTYPE_F32,
  AE_DTYPE_F16,
} AeDType;

typedef struct {
  const char *name;
  AeDType dtype;
  int n_dims;
  gint64 shape[AE_MAX_DIMS];
  gint64 n_elements;
  const guint8 *data;           /* into the parsed bytes, unaligned */
} AeTensorView;

typedef struct _AeSafetensors AeSafetensors;

/* Parses @bytes (a ref is kept). @what names the source in messages, usually
 * the file name. Returns NULL with @error set on any malformation. */
AeSafetensors *ae_safetensors_parse (GBytes *bytes, const char *what,
    GError **error);
AeSafetensors *ae_safetensors_load (const char *path, GError **error);
/* The file's bytes, memory-mapped (AE_COMPUTE_ERROR_IO if unreadable). */
GBytes *ae_safetensors_map_file (const char *path, GError **error);
void ae_safetensors_free (AeSafetensors *st);

guint ae_safetensors_get_n_tensors (const AeSafetensors *st);
const AeTensorView *ae_safetensors_get_tensor (const AeSafetensors *st,
    guint index);
/* Returns NULL if there is no tensor of that name. */
const AeTensorView *ae_safetensors_lookup (const AeSafetensors *st,
    const char *name);
/* Returns NULL if the key is absent. */
const char *ae_safetensors_get_metadata (const AeSafetensors *st,
    const char *key);
/* Converts a view's data to native floats; @dst holds n_elements. */
void ae_tensor_view_read_f32 (const AeTensorView *view, float *dst);

/* One tensor to write: @data is native floats, stored as @dtype. */
typedef struct {
  const char *name;
  AeDType dtype;
  int n_dims;
  gint64 shape[AE_MAX_DIMS];
  const float *data;
} AeTensorOut;

/* Writes atomically (temporary file + rename). @metadata: NULL-terminated
 * key, value, key, value, ... list, or NULL. */
gboolean ae_safetensors_save (const char *path, const AeTensorOut *tensors,
    guint n_tensors, const char *const *metadata, GError **error);
/* Same, into memory. */
GBytes *ae_safetensors_serialize (const AeTensorOut *tensors,
    guint n_tensors, const char *const *metadata, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeSafetensors, ae_safetensors_free)

G_END_DECLS
