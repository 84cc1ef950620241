#include "ae-safetensors.h"
#include "ae-error.h"
#include "ae-json.h"
#include "ae-half.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

/* Headers beyond this are not model files; refuse before allocating. */
#define MAX_HEADER_BYTES (64 * 1024 * 1024)

struct _AeSafetensors {
  GBytes *bytes;
  GPtrArray *names;             /* owns the strings the views point at */
  GArray *tensors;              /* AeTensorView */
  GHashTable *metadata;         /* char* -> char* */
};

static gsize
dtype_size (AeDType t)
{
  return t == AE_DTYPE_F32 ? 4 : 2;
}

static const char *
dtype_name (AeDType t)
{
  return t == AE_DTYPE_F32 ? "F32" : "F16";
}

typedef struct {
  gint64 begin, end;
  const char *name;
} Span;

static int
span_cmp (const void *a, const void *b)
{
  const Span *x = a, *y = b;
  return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 :
      (x->end < y->end ? -1 : x->end > y->end);
}

static gboolean
json_int (JsonNode *n, gint64 *out)
{
  if (!n || !JSON_NODE_HOLDS_VALUE (n)
      || json_node_get_value_type (n) != G_TYPE_INT64)
    return FALSE;
  *out = json_node_get_int (n);
  return TRUE;
}

static gboolean
parse_tensor (AeSafetensors *st, const char *what, const char *name,
    JsonNode *node, gint64 data_len, Span *span, GError **error)
{
  AeTensorView v = { 0 };

  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    ae_set_model_error (error, what, "tensor '%s' is not a JSON object", name);
    return FALSE;
  }
  JsonObject *o = json_node_get_object (node);
  JsonNode *dt = json_object_get_member (o, "dtype");
  JsonNode *sh = json_object_get_member (o, "shape");
  JsonNode *off = json_object_get_member (o, "data_offsets");

  if (!dt || !JSON_NODE_HOLDS_VALUE (dt)
      || json_node_get_value_type (dt) != G_TYPE_STRING) {
    ae_set_model_error (error, what, "tensor '%s' has no dtype string", name);
    return FALSE;
  }
  const char *dts = json_node_get_string (dt);
  if (g_str_equal (dts, "F32"))
    v.dtype = AE_DTYPE_F32;
  else if (g_str_equal (dts, "F16"))
    v.dtype = AE_DTYPE_F16;
  else {
    ae_set_model_error (error, what,
        "tensor '%s' has dtype %s; only F32 and F16 are supported", name,
        dts);
    return FALSE;
  }

  if (!sh || !JSON_NODE_HOLDS_ARRAY (sh)) {
    ae_set_model_error (error, what, "tensor '%s' has no shape array", name);
    return FALSE;
  }
  JsonArray *sa = json_node_get_array (sh);
  guint nd = json_array_get_length (sa);
  if (nd > AE_MAX_DIMS) {
    ae_set_model_error (error, what, "tensor '%s' has %u dimensions (at most %d)",
        name, nd, AE_MAX_DIMS);
    return FALSE;
  }
  v.n_dims = nd;
  v.n_elements = 1;
  for (guint i = 0; i < nd; i++) {
    gint64 d;
    if (!json_int (json_array_get_element (sa, i), &d) || d < 0
        || d > G_MAXINT32) {
      ae_set_model_error (error, what, "tensor '%s' has an invalid shape", name);
      return FALSE;
    }
    v.shape[i] = d;
    /* data_len bounds the product, so stop before it can overflow */
    if (d != 0 && v.n_elements > data_len / d + 1) {
      ae_set_model_error (error, what,
          "tensor '%s' shape is larger than the file (out of range)", name);
      return FALSE;
    }
    v.n_elements *= d;
  }

  gint64 b, e;
  if (!off || !JSON_NODE_HOLDS_ARRAY (off)
      || json_array_get_length (json_node_get_array (off)) != 2
      || !json_int (json_array_get_element (json_node_get_array (off), 0), &b)
      || !json_int (json_array_get_element (json_node_get_array (off), 1), &e)) {
    ae_set_model_error (error, what, "tensor '%s' has no valid data_offsets", name);
    return FALSE;
  }
  if (b < 0 || e < b || e > data_len) {
    ae_set_model_error (error, what,
        "tensor '%s' data_offsets [%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
        "] are out of range: %s (the data section is %" G_GINT64_FORMAT
        " bytes)", name, b, e, b < 0 ? "begin is negative" : e < b ?
        "end is before begin" : "they run past the end of the file, which "
        "may be truncated", data_len);
    return FALSE;
  }
  if ((guint64) (e - b) != (guint64) v.n_elements * dtype_size (v.dtype)) {
    ae_set_model_error (error, what,
        "tensor '%s' occupies %" G_GINT64_FORMAT " bytes but its size as %s"
        " with %" G_GINT64_FORMAT " elements is %" G_GINT64_FORMAT " bytes",
        name, e - b, dtype_name (v.dtype), v.n_elements,
        v.n_elements * (gint64) dtype_size (v.dtype));
    return FALSE;
  }

  char *owned = g_strdup (name);
  g_ptr_array_add (st->names, owned);
  v.name = owned;
  /* data pointer fixed up by the caller once the base is known */
  v.data = GSIZE_TO_POINTER ((gsize) b);
  g_array_append_val (st->tensors, v);
  span->begin = b;
  span->end = e;
  span->name = owned;
  return TRUE;
}

AeSafetensors *
ae_safetensors_parse (GBytes *bytes, const char *what, GError **error)
{
  gsize len;
  const guint8 *p = g_bytes_get_data (bytes, &len);
  g_autoptr (AeSafetensors) st = NULL;
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GError) jerr = NULL;
  g_autofree Span *spans = NULL;

  if (len < 8) {
    ae_set_model_error (error, what, "file is too short (%" G_GSIZE_FORMAT
        " bytes) to be a safetensors file", len);
    return NULL;
  }
  guint64 hlen = 0;
  for (int i = 7; i >= 0; i--)
    hlen = (hlen << 8) | p[i];
  if (hlen > MAX_HEADER_BYTES) {
    ae_set_model_error (error, what, "header length %" G_GUINT64_FORMAT
        " is over the 64 MiB limit; this is not a safetensors model file",
        hlen);
    return NULL;
  }
  if (hlen > len - 8) {
    ae_set_model_error (error, what, "header length %" G_GUINT64_FORMAT
        " runs past the end of the file (%" G_GSIZE_FORMAT " bytes); the "
        "file is truncated or not safetensors", hlen, len);
    return NULL;
  }
  gint64 data_len = len - 8 - hlen;

  parser = ae_json_parse_object ((const char *) p + 8, hlen, what, "header",
      error);
  if (!parser)
    return NULL;
  JsonNode *root = json_parser_get_root (parser);

  st = g_new0 (AeSafetensors, 1);
  st->bytes = g_bytes_ref (bytes);
  st->names = g_ptr_array_new_with_free_func (g_free);
  st->tensors = g_array_new (FALSE, TRUE, sizeof (AeTensorView));
  st->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);

  JsonObject *obj = json_node_get_object (root);
  guint n_members = json_object_get_size (obj);
  spans = g_new0 (Span, n_members + 1);
  guint n_spans = 0;

  JsonObjectIter it;
  const char *name;
  JsonNode *member;
  json_object_iter_init (&it, obj);
  while (json_object_iter_next (&it, &name, &member)) {
    if (g_str_equal (name, "__metadata__")) {
      if (!JSON_NODE_HOLDS_OBJECT (member)) {
        ae_set_model_error (error, what, "__metadata__ is not a JSON object");
        return NULL;
      }
      JsonObjectIter mit;
      const char *key;
      JsonNode *val;
      json_object_iter_init (&mit, json_node_get_object (member));
      while (json_object_iter_next (&mit, &key, &val)) {
        if (!JSON_NODE_HOLDS_VALUE (val)
            || json_node_get_value_type (val) != G_TYPE_STRING) {
          ae_set_model_error (error, what, "__metadata__ value '%s' is not a string "
              "(safetensors metadata maps strings to strings; store JSON "
              "documents such as ae.graph as strings)", key);
          return NULL;
        }
        g_hash_table_replace (st->metadata, g_strdup (key),
            g_strdup (json_node_get_string (val)));
      }
      continue;
    }
    if (!parse_tensor (st, what, name, member, data_len, &spans[n_spans],
            error))
      return NULL;
    n_spans++;
  }

  /* Every byte of the data section belongs to exactly one tensor. */
  qsort (spans, n_spans, sizeof (Span), span_cmp);
  gint64 pos = 0;
  for (guint i = 0; i < n_spans; i++) {
    if (spans[i].begin < pos) {
      ae_set_model_error (error, what, "tensor '%s' data overlaps tensor '%s'",
          spans[i].name, spans[i - 1].name);
      return NULL;
    }
    if (spans[i].begin > pos) {
      ae_set_model_error (error, what, "data bytes %" G_GINT64_FORMAT "..%"
          G_GINT64_FORMAT " are not covered by any tensor", pos,
          spans[i].begin);
      return NULL;
    }
    pos = spans[i].end;
  }
  if (pos != data_len) {
    ae_set_model_error (error, what, "data bytes %" G_GINT64_FORMAT "..%"
        G_GINT64_FORMAT " are not covered by any tensor", pos, data_len);
    return NULL;
  }

  const guint8 *base = p + 8 + hlen;
  for (guint i = 0; i < st->tensors->len; i++) {
    AeTensorView *v = &g_array_index (st->tensors, AeTensorView, i);
    v->data = base + GPOINTER_TO_SIZE (v->data);
  }
  return g_steal_pointer (&st);
}

GBytes *
ae_safetensors_map_file (const char *path, GError **error)
{
  g_autoptr (GMappedFile) map = NULL;
  g_autoptr (GError) ferr = NULL;

  /* opening a FIFO or a device would block, or read forever */
  GStatBuf st;
  if (g_stat (path, &st) == 0 && !S_ISREG (st.st_mode)) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_IO,
        S_ISDIR (st.st_mode) ? "%s is a directory, not a model file" :
        "%s is not a regular file (a FIFO or a device?), not a model file",
        path);
    return NULL;
  }
  map = g_mapped_file_new (path, FALSE, &ferr);
  if (!map) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_IO,
        "%s", ferr->message);
    return NULL;
  }
  return g_mapped_file_get_bytes (map);
}

AeSafetensors *
ae_safetensors_load (const char *path, GError **error)
{
  g_autoptr (GBytes) bytes = ae_safetensors_map_file (path, error);
  if (!bytes)
    return NULL;
  g_autofree char *base = g_path_get_basename (path);
  return ae_safetensors_parse (bytes, base, error);
}

void
ae_safetensors_free (AeSafetensors *st)
{
  if (!st)
    return;
  g_bytes_unref (st->bytes);
  g_ptr_array_unref (st->names);
  g_array_unref (st->tensors);
  g_hash_table_unref (st->metadata);
  g_free (st);
}

guint
ae_safetensors_get_n_tensors (const AeSafetensors *st)
{
  return st->tensors->len;
}

const AeTensorView *
ae_safetensors_get_tensor (const AeSafetensors *st, guint index)
{
  g_return_val_if_fail (index < st->tensors->len, NULL);
  return &g_array_index (st->tensors, AeTensorView, index);
}

const AeTensorView *
ae_safetensors_lookup (const AeSafetensors *st, const char *name)
{
  for (guint i = 0; i < st->tensors->len; i++) {
    const AeTensorView *v = &g_array_index (st->tensors, AeTensorView, i);
    if (g_str_equal (v->name, name))
      return v;
  }
  return NULL;
}

const char *
ae_safetensors_get_metadata (const AeSafetensors *st, const char *key)
{
  return g_hash_table_lookup (st->metadata, key);
}

void
ae_tensor_view_read_f32 (const AeTensorView *v, float *dst)
{
  for (gint64 i = 0; i < v->n_elements; i++) {
    if (v->dtype == AE_DTYPE_F32) {
      guint32 u;
      memcpy (&u, v->data + 4 * i, 4);
      u = GUINT32_FROM_LE (u);
      memcpy (&dst[i], &u, 4);
    } else {
      guint16 h;
      memcpy (&h, v->data + 2 * i, 2);
      dst[i] = ae_half_to_float (GUINT16_FROM_LE (h));
    }
  }
}

GBytes *
ae_safetensors_serialize (const AeTensorOut *tensors, guint n_tensors,
    const char *const *metadata, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  gsize offset = 0;

  json_builder_begin_object (b);
  if (metadata && metadata[0]) {
    json_builder_set_member_name (b, "__metadata__");
    json_builder_begin_object (b);
    for (guint i = 0; metadata[i] && metadata[i + 1]; i += 2) {
      json_builder_set_member_name (b, metadata[i]);
      json_builder_add_string_value (b, metadata[i + 1]);
    }
    json_builder_end_object (b);
  }
  for (guint i = 0; i < n_tensors; i++) {
    const AeTensorOut *t = &tensors[i];
    gint64 n = 1;
    json_builder_set_member_name (b, t->name);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "dtype");
    json_builder_add_string_value (b, dtype_name (t->dtype));
    json_builder_set_member_name (b, "shape");
    json_builder_begin_array (b);
    for (int d = 0; d < t->n_dims; d++) {
      json_builder_add_int_value (b, t->shape[d]);
      n *= t->shape[d];
    }
    json_builder_end_array (b);
    json_builder_set_member_name (b, "data_offsets");
    json_builder_begin_array (b);
    json_builder_add_int_value (b, offset);
    offset += n * dtype_size (t->dtype);
    json_builder_add_int_value (b, offset);
    json_builder_end_array (b);
    json_builder_end_object (b);
  }
  json_builder_end_object (b);

  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *header = ae_json_to_string (root, FALSE);
  gsize hlen = strlen (header);

  /* pad with spaces so the data section starts 8-byte aligned */
  gsize padded = (hlen + 7) & ~(gsize) 7;
  gsize total = 8 + padded + offset;
  guint8 *out = g_try_malloc (total);
  if (!out) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_NO_MEMORY,
        "cannot allocate %" G_GSIZE_FORMAT " bytes for the model file",
        total);
    return NULL;
  }
  guint64 h = padded;
  for (int i = 0; i < 8; i++)
    out[i] = (h >> (8 * i)) & 0xff;
  memcpy (out + 8, header, hlen);
  memset (out + 8 + hlen, ' ', padded - hlen);

  guint8 *d = out + 8 + padded;
  for (guint i = 0; i < n_tensors; i++) {
    const AeTensorOut *t = &tensors[i];
    gint64 n = 1;
    for (int k = 0; k < t->n_dims; k++)
      n *= t->shape[k];
    for (gint64 k = 0; k < n; k++) {
      if (t->dtype == AE_DTYPE_F32) {
        guint32 u;
        memcpy (&u, &t->data[k], 4);
        u = GUINT32_TO_LE (u);
        memcpy (d, &u, 4);
        d += 4;
      } else {
        guint16 hv = GUINT16_TO_LE (ae_float_to_half (t->data[k]));
        memcpy (d, &hv, 2);
        d += 2;
      }
    }
  }
  return g_bytes_new_take (out, total);
}

gboolean
ae_safetensors_save (const char *path, const AeTensorOut *tensors,
    guint n_tensors, const char *const *metadata, GError **error)
{
  g_autoptr (GBytes) bytes = ae_safetensors_serialize (tensors, n_tensors,
      metadata, error);
  g_autoptr (GError) ferr = NULL;
  gsize len;

  if (!bytes)
    return FALSE;
  const char *data = g_bytes_get_data (bytes, &len);
  if (!g_file_set_contents_full (path, data, len,
          G_FILE_SET_CONTENTS_CONSISTENT, 0644, &ferr)) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_IO, "%s",
        ferr->message);
    return FALSE;
  }
  return TRUE;
}
