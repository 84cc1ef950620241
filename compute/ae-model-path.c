#include "ae-model-path.h"
#include "ae-error.h"

#include <string.h>

const char *
ae_model_path_installed_dir (void)
{
  return AE_MODELS_DIR;
}

char *
ae_model_path_find (const char *file)
{
  const char *env = g_getenv ("AE_MODEL_PATH");

  if (env && *env) {
    g_auto (GStrv) dirs = g_strsplit (env, G_SEARCHPATH_SEPARATOR_S, -1);
    for (int i = 0; dirs[i]; i++) {
      if (!*dirs[i])
        continue;
      char *path = g_build_filename (dirs[i], file, NULL);
      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        return path;
      g_free (path);
    }
  }
  char *path = g_build_filename (AE_MODELS_DIR, file, NULL);
  if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return path;
  g_free (path);
  return NULL;
}

char *
ae_model_path_resolve (const char *model, GError **error)
{
  if (strchr (model, G_DIR_SEPARATOR) || g_file_test (model,
          G_FILE_TEST_EXISTS))
    return g_strdup (model);

  g_autofree char *file = g_str_has_suffix (model, ".safetensors") ?
      g_strdup (model) : g_strconcat (model, ".safetensors", NULL);
  char *path = ae_model_path_find (file);
  if (!path)
    g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_IO,
        "model '%s' is neither a file nor a model in AE_MODEL_PATH (%s) or "
        "%s", model, g_getenv ("AE_MODEL_PATH") ? g_getenv ("AE_MODEL_PATH")
        : "unset", AE_MODELS_DIR);
  return path;
}
