/* ae-model.h: a model = a validated graph + its weights, as loaded from (or
 * saved to) a safetensors file. See docs/MODEL-FORMAT.md.
 *
 * Weights are held as native floats whatever the file's dtype. A model is
 * immutable once loaded, except through ae_model_get_params() (the trainer),
 * and reference counted: plans keep their model alive. Loading is
 * thread-safe; a model may be shared by plans on several threads.
 */
#pragma once

#include "ae-graph.h"
#include "ae-safetensors.h"

G_BEGIN_DECLS

typedef struct _AeModel AeModel;

/* Loads and validates everything (container, graph, every tensor's dtype,
 * shape and values) before returning. */
AeModel *ae_model_load (const char *path, GError **error);
AeModel *ae_model_load_from_bytes (GBytes *bytes, const char *what,
    GError **error);
/* A model with the given graph and all weights zero (for the trainer). */
AeModel *ae_model_new (const char *graph_json, GError **error);

AeModel *ae_model_ref (AeModel *m);
void ae_model_unref (AeModel *m);

gboolean ae_model_save (const AeModel *m, const char *path, AeDType dtype,
    GError **error);

const AeGraph *ae_model_get_graph (const AeModel *m);
/* Weight (PyTorch layout) and bias (NULL if none) of a conv node; NULL for
 * other nodes. Writable for the trainer; do not resize. */
float *ae_model_get_weight (const AeModel *m, int node);
float *ae_model_get_bias (const AeModel *m, int node);
/* The file name it was loaded from, or "(memory)". */
const char *ae_model_get_name (const AeModel *m);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeModel, ae_model_unref)

G_END_DECLS
