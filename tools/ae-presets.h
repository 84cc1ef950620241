/* ae-presets.h: the named network architectures ae-train offers.
 *
 * Each preset builds an `ae.graph` document (docs/MODEL-FORMAT.md) for a
 * task, a colour mode and a scale; `ae-train --list-presets` prints them
 * with their FLOPs per pixel. */
#pragma once

#include "ae-graph.h"

G_BEGIN_DECLS

typedef struct {
  const char *name;
  AeTask task;
  const char *summary;
  /* The graph for @color and @scale (superres), newly allocated. */
  char *(*build) (AeColor color, int scale);
} AePreset;

/* NULL-terminated by name == NULL. */
extern const AePreset ae_presets[];

const AePreset *ae_preset_find (const char *name);
/* The preset ae-train uses for @task without --preset: the fast one. */
const AePreset *ae_preset_default (AeTask task);

G_END_DECLS
