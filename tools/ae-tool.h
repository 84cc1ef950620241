/* ae-tool.h: what the files of the ae-model program share.
 *
 * Each subcommand is a function taking the arguments after "ae-model"
 * (argv[0] is the subcommand's name) and returning the process exit status:
 * 0 on success, 1 when the work failed (the message is already printed),
 * 2 for a usage error.
 */
#pragma once

#include <glib.h>

#include "ae-model.h"

G_BEGIN_DECLS

#define AE_EXIT_OK 0
#define AE_EXIT_FAILURE 1
#define AE_EXIT_USAGE 2

/* main()'s argv[0], for commands that echo their command line. */
extern const char *ae_tool_argv0;

int ae_cmd_info (int argc, char **argv);
int ae_cmd_run (int argc, char **argv);
int ae_cmd_bench (int argc, char **argv);
int ae_cmd_devices (int argc, char **argv);
int ae_cmd_eval (int argc, char **argv);
int ae_cmd_compare (int argc, char **argv);

/* Parses @argv with @ctx and checks that exactly @n_args positional
 * arguments remain (in (*argv)[1..]). On failure prints the problem and a
 * hint to stderr and returns FALSE: the caller exits with AE_EXIT_USAGE.
 * g_set_prgname() must have been called with "ae-model CMD". */
gboolean ae_tool_parse_args (GOptionContext *ctx, int n_args, int *argc,
    char ***argv);

/* Prints "ae-model: MESSAGE" to stderr. */
void ae_tool_error (const char *format, ...) G_GNUC_PRINTF (1, 2);

/* Loads a model (a file, or the name of an installed one: see
 * ae-model-path.h), printing why it failed; NULL then. @path_out, if not
 * NULL, gets the file it was read from. */
AeModel *ae_tool_load_model (const char *model, char **path_out);

/* Parses a --tile value: N > 0, 0 (automatic) or -1 (never tile). */
gboolean ae_tool_check_tile (int tile);

/* "1.23" kFLOP-style numbers: 3 significant digits, no exponent. */
char *ae_tool_format_number (double v);

G_END_DECLS
