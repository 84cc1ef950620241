/* ae-model-path.h: finding a model by name, as the elements and tools do.
 *
 * A model is given as a file, or by the name of an installed one
 * ("denoise-luma-fast", with or without ".safetensors"), which is looked up
 * in the directories of the AE_MODEL_PATH environment variable (a search
 * path) and then in the directory the shipped models are installed to.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Where the shipped models are installed. */
const char *ae_model_path_installed_dir (void);

/* @file (a file name, e.g. "denoise-luma-fast.safetensors") in
 * AE_MODEL_PATH, then in the installed directory: a new path, or NULL. */
char *ae_model_path_find (const char *file);

/* @model as given: returned as is when it is a file that exists or a path
 * (it has a directory separator), else looked up with ae_model_path_find()
 * (".safetensors" added when missing). A new path, or NULL with
 * AE_COMPUTE_ERROR_IO saying where it looked. */
char *ae_model_path_resolve (const char *model, GError **error);

G_END_DECLS
