/* ae-model: inspect, apply and benchmark gst-autoencoder model files.
 *
 *   ae-model info MODEL [--json]
 *   ae-model run MODEL INPUT OUTPUT [--device D] [--threads N] [--tile N]
 *   ae-model bench MODEL [--size WxH] [--layers] [--gemm] ...
 *   ae-model devices
 *   ae-model eval MODEL DATA [--sigma S ...] [--labels FILE] [--json] ...
 *
 * Each subcommand lives in its own file (ae-model-info.c, ae-model-run.c,
 * ae-model-bench.c); this one dispatches and holds what they share.
 * docs/TOOLS.md has examples.
 */
#include "ae-tool.h"
#include "ae-model-path.h"

#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

const char *ae_tool_argv0 = "ae-model";

typedef struct {
  const char *name;
  int (*func) (int argc, char **argv);
  const char *summary;
} Command;

static const Command commands[] = {
  {"info", ae_cmd_info, "print a model's graph, parameters, FLOPs and "
        "receptive field"},
#ifdef AE_HAVE_GST
  {"run", ae_cmd_run, "apply a model to an image or video file"},
  {"eval", ae_cmd_eval, "measure a model's quality (PSNR/SSIM, ROC AUC) "
        "against its baseline"},
  {"compare", ae_cmd_compare, "PSNR/SSIM between two media files, frame "
        "by frame"},
#endif
  {"bench", ae_cmd_bench, "time a model on a synthetic frame "
        "(ms/frame, GFLOP/s, per layer)"},
  {"devices", ae_cmd_devices, "list the compute devices and their "
        "features"},
};

static void
usage (FILE *f)
{
  fprintf (f, "Usage: ae-model COMMAND [OPTION…] ARGS…\n\n"
      "Commands:\n");
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (f, "  %-7s %s\n", commands[i].name, commands[i].summary);
  fprintf (f, "\n'ae-model COMMAND --help' describes a command's options.\n");
}

gboolean
ae_tool_parse_args (GOptionContext *ctx, int n_args, int *argc, char ***argv)
{
  g_autoptr (GError) error = NULL;

  if (!g_option_context_parse (ctx, argc, argv, &error)) {
    g_printerr ("%s: %s\nTry '%s --help'.\n", g_get_prgname (),
        error->message, g_get_prgname ());
    return FALSE;
  }
  if (*argc - 1 != n_args) {
    g_autofree char *help = g_option_context_get_help (ctx, TRUE, NULL);
    /* the help text starts with "Usage:\n  ae-model CMD [OPTION…] ARGS" */
    char *nl = strchr (help, '\n');
    if (nl && (nl = strchr (nl + 1, '\n')))
      *nl = '\0';
    g_printerr ("%s: expected %d argument%s, got %d\n%s\nTry '%s --help'.\n",
        g_get_prgname (), n_args, n_args == 1 ? "" : "s", *argc - 1, help,
        g_get_prgname ());
    return FALSE;
  }
  return TRUE;
}

void
ae_tool_error (const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  g_autofree char *msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_printerr ("ae-model: %s\n", msg);
}

AeModel *
ae_tool_load_model (const char *model, char **path_out)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *path = ae_model_path_resolve (model, &error);
  AeModel *m = path ? ae_model_load (path, &error) : NULL;

  if (!m)
    ae_tool_error ("%s", error->message);
  else if (path_out)
    *path_out = g_steal_pointer (&path);
  return m;
}

gboolean
ae_tool_check_tile (int tile)
{
  if (tile >= -1)
    return TRUE;
  g_printerr ("%s: --tile must be a size in pixels, 0 (automatic) or -1 "
      "(never tile); got %d\n", g_get_prgname (), tile);
  return FALSE;
}

char *
ae_tool_format_number (double v)
{
  double a = fabs (v);

  if (a == 0)
    return g_strdup ("0");
  if (a >= 100)
    return g_strdup_printf ("%.0f", v);
  if (a >= 10)
    return g_strdup_printf ("%.1f", v);
  if (a >= 1)
    return g_strdup_printf ("%.2f", v);
  if (a >= 0.01)
    return g_strdup_printf ("%.3f", v);
  return g_strdup_printf ("%.2g", v);
}

int
main (int argc, char **argv)
{
  setlocale (LC_ALL, "");
  /* numbers in tables and JSON must not depend on the user's locale */
  setlocale (LC_NUMERIC, "C");

  ae_tool_argv0 = argv[0];
  if (argc < 2) {
    usage (stderr);
    return AE_EXIT_USAGE;
  }
  if (g_str_equal (argv[1], "-h") || g_str_equal (argv[1], "--help")
      || g_str_equal (argv[1], "help")) {
    usage (stdout);
    return AE_EXIT_OK;
  }
  if (g_str_equal (argv[1], "--version")) {
    printf ("ae-model " AE_VERSION "\n");
    return AE_EXIT_OK;
  }
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++) {
    if (g_str_equal (argv[1], commands[i].name)) {
      g_autofree char *prgname = g_strdup_printf ("ae-model %s",
          commands[i].name);
      g_set_prgname (prgname);
      return commands[i].func (argc - 1, argv + 1);
    }
  }
#ifndef AE_HAVE_GST
  if (g_str_equal (argv[1], "run") || g_str_equal (argv[1], "eval")
      || g_str_equal (argv[1], "compare")) {
    g_printerr ("ae-model: this build has no GStreamer, which '%s' needs "
        "to read media (configure with -Dgst=enabled)\n", argv[1]);
    return AE_EXIT_FAILURE;
  }
#endif
  g_printerr ("ae-model: unknown command '%s'\n\n", argv[1]);
  usage (stderr);
  return AE_EXIT_USAGE;
}
