/* ae-checkpoint.h: a training run saved to disk and restored.
 *
 * A checkpoint is a safetensors file: every trainable tensor under its
 * AeParam name, its Adam moments as "NAME.adam_m" / "NAME.adam_v", and
 * metadata "ae.checkpoint" = "1", "ae.graph" (the network) and "ae.train"
 * (the caller's state document: options, step, ...). It is written
 * atomically (temporary file + rename), so an interrupted save leaves the
 * previous checkpoint intact. It is not a model file: ae-train turns it into
 * one. */
#pragma once

#include "ae-optim.h"

G_BEGIN_DECLS

gboolean ae_checkpoint_save (const char *path, const char *graph_json,
    const char *state_json, const AeParam *params, int n_params,
    AeAdam *adam, GError **error);

typedef struct _AeCheckpoint AeCheckpoint;

AeCheckpoint *ae_checkpoint_load (const char *path, GError **error);
void ae_checkpoint_free (AeCheckpoint *c);
const char *ae_checkpoint_get_graph (const AeCheckpoint *c);
const char *ae_checkpoint_get_state (const AeCheckpoint *c);
/* Copies values and moments into @params (matched by name; every one must
 * be present with the right size) and sets @adam's step. */
gboolean ae_checkpoint_restore (const AeCheckpoint *c, const AeParam *params,
    int n_params, AeAdam *adam, gint64 step, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeCheckpoint, ae_checkpoint_free)

G_END_DECLS
