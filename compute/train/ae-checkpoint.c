#include "ae-checkpoint.h"
#include "ae-error.h"
#include "ae-safetensors.h"

struct _AeCheckpoint {
  AeSafetensors *st;
  char *path;
};

gboolean
ae_checkpoint_save (const char *path, const char *graph_json,
    const char *state_json, const AeParam *params, int n_params,
    AeAdam *adam, GError **error)
{
  g_autofree AeTensorOut *ts = g_new0 (AeTensorOut, 3 * n_params);
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *meta[] = { "ae.checkpoint", "1", "ae.graph", graph_json,
    "ae.train", state_json, NULL
  };

  for (int i = 0; i < n_params; i++)
    for (int k = 0; k < 3; k++) {
      AeTensorOut *t = &ts[3 * i + k];
      char *name = k == 0 ? g_strdup (params[i].name)
          : g_strdup_printf ("%s.adam_%c", params[i].name, k == 1 ? 'm' : 'v');
      g_ptr_array_add (names, name);
      t->name = name;
      t->dtype = AE_DTYPE_F32;
      t->n_dims = 1;
      t->shape[0] = params[i].n;
      t->data = k == 0 ? params[i].value : ae_adam_get_moment (adam, i, k);
    }
  return ae_safetensors_save (path, ts, 3 * n_params, meta, error);
}

void
ae_checkpoint_free (AeCheckpoint *c)
{
  if (!c)
    return;
  ae_safetensors_free (c->st);
  g_free (c->path);
  g_free (c);
}

AeCheckpoint *
ae_checkpoint_load (const char *path, GError **error)
{
  g_autoptr (AeSafetensors) st = ae_safetensors_load (path, error);
  if (!st)
    return NULL;
  if (g_strcmp0 (ae_safetensors_get_metadata (st, "ae.checkpoint"), "1")
      || !ae_safetensors_get_metadata (st, "ae.graph")
      || !ae_safetensors_get_metadata (st, "ae.train")) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
        "%s: not an ae-train checkpoint (metadata 'ae.checkpoint', "
        "'ae.graph' and 'ae.train' expected)", path);
    return NULL;
  }
  AeCheckpoint *c = g_new0 (AeCheckpoint, 1);
  c->st = g_steal_pointer (&st);
  c->path = g_strdup (path);
  return c;
}

const char *
ae_checkpoint_get_graph (const AeCheckpoint *c)
{
  return ae_safetensors_get_metadata (c->st, "ae.graph");
}

const char *
ae_checkpoint_get_state (const AeCheckpoint *c)
{
  return ae_safetensors_get_metadata (c->st, "ae.train");
}

static gboolean
read_tensor (const AeCheckpoint *c, const char *name, gsize n, float *dst,
    GError **error)
{
  const AeTensorView *v = ae_safetensors_lookup (c->st, name);
  if (!v || v->n_elements != (gint64) n) {
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
        "%s: tensor '%s' %s (expected %" G_GSIZE_FORMAT " values)", c->path,
        name, v ? "has the wrong size" : "is missing", n);
    return FALSE;
  }
  ae_tensor_view_read_f32 (v, dst);
  return TRUE;
}

gboolean
ae_checkpoint_restore (const AeCheckpoint *c, const AeParam *params,
    int n_params, AeAdam *adam, gint64 step, GError **error)
{
  for (int i = 0; i < n_params; i++) {
    g_autofree char *m = g_strdup_printf ("%s.adam_m", params[i].name);
    g_autofree char *v = g_strdup_printf ("%s.adam_v", params[i].name);
    if (!read_tensor (c, params[i].name, params[i].n, params[i].value, error)
        || !read_tensor (c, m, params[i].n, ae_adam_get_moment (adam, i, 1),
            error)
        || !read_tensor (c, v, params[i].n, ae_adam_get_moment (adam, i, 2),
            error))
      return FALSE;
  }
  ae_adam_set_step (adam, step);
  return TRUE;
}
