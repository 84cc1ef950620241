/* ae-data-bench: how fast a dataset loads and how many training batches per
 * second the loader makes from it (not installed; a benchmark, not a test).
 *
 *   ae-data-bench DATA [--task denoise] [--color luma] [--patch 64]
 *       [--batch 32] [--scale 2] [--threads 1] [--batches 200] [--jpeg]
 *
 * Prints the command line, the machine, the load time, then batches/s and
 * samples/s of ae_batcher_next() with nothing else consuming CPU (an upper
 * bound on what the loader can feed a trainer).
 */
#include "ae-batch.h"

#include <gst/gst.h>
#include <stdio.h>
#include <string.h>

static char *
cpu_name (void)
{
  g_autofree char *info = NULL;
  if (g_file_get_contents ("/proc/cpuinfo", &info, NULL, NULL)) {
    char *p = strstr (info, "model name");
    if (p && (p = strchr (p, ':'))) {
      char *end = strchr (p, '\n');
      gsize n = end ? (gsize) (end - p - 1) : strlen (p + 1);
      return g_strstrip (g_strndup (p + 1, n));
    }
  }
  return g_strdup ("unknown CPU");
}

int
main (int argc, char **argv)
{
  g_autofree char *task = g_strdup ("denoise"), *color = g_strdup ("luma");
  int patch = 64, batch = 32, scale = 2, threads = 1, batches = 200;
  gboolean jpeg = FALSE;
  const GOptionEntry entries[] = {
    {"task", 0, 0, G_OPTION_ARG_STRING, &task, "denoise, superres, anomaly",
        "T"},
    {"color", 0, 0, G_OPTION_ARG_STRING, &color, "luma or rgb", "C"},
    {"patch", 0, 0, G_OPTION_ARG_INT, &patch, "target patch side", "N"},
    {"batch", 0, 0, G_OPTION_ARG_INT, &batch, "samples per batch", "N"},
    {"scale", 0, 0, G_OPTION_ARG_INT, &scale, "superres scale", "N"},
    {"threads", 0, 0, G_OPTION_ARG_INT, &threads, "loader threads", "N"},
    {"batches", 0, 0, G_OPTION_ARG_INT, &batches, "batches to time", "N"},
    {"jpeg", 0, 0, G_OPTION_ARG_NONE, &jpeg, "JPEG q 20..90 on half of "
          "the denoise samples", NULL},
    {NULL}
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("DATA");
  g_autoptr (GError) error = NULL;
  g_autofree char *cmdline = g_strjoinv (" ", argv);

  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2
      || batches < 1) {
    g_printerr ("ae-data-bench: %s\n", error ? error->message :
        "give one DATA argument (and --batches >= 1)");
    return 2;
  }

  AeTask t = g_str_equal (task, "superres") ? AE_TASK_SUPERRES :
      g_str_equal (task, "anomaly") ? AE_TASK_ANOMALY : AE_TASK_DENOISE;
  int channels = g_str_equal (color, "rgb") ? 3 : 1;
  g_autofree char *cpu = cpu_name ();
  printf ("command: %s\nmachine: %s, %u cores\n", cmdline, cpu,
      g_get_num_processors ());

  gint64 t0 = g_get_monotonic_time ();
  g_autoptr (AeDataset) ds = ae_dataset_new (channels);
  if (!ae_dataset_add (ds, argv[1], 1, 0, &error)) {
    g_printerr ("ae-data-bench: %s\n", error->message);
    return 1;
  }
  double load_s = (g_get_monotonic_time () - t0) * 1e-6;
  printf ("loaded:  %d images in %.2f s (%.1f ms per image)\n",
      ae_dataset_get_size (ds), load_s, 1e3 * load_s /
      ae_dataset_get_size (ds));

  AeBatchParams p = {.task = t,.channels = channels,.patch = patch,
    .scale = scale,.batch = batch,.sigma_min = 0,.sigma_max = 55,
    .poisson_prob = 0.2,.augment = TRUE,.seed = 1,.threads = threads,
    .jpeg_min = jpeg ? 20 : 0,.jpeg_max = jpeg ? 90 : 0
  };
  g_autoptr (AeBatcher) b = ae_batcher_new (ds, &p, 0, &error);
  if (!b) {
    g_printerr ("ae-data-bench: %s\n", error->message);
    return 1;
  }
  int in_side = ae_batcher_get_input_side (b);
  g_autofree float *in = g_new (float, (gsize) batch * in_side * in_side
      * channels);
  g_autofree float *tg = g_new (float, (gsize) batch * patch * patch
      * channels);

  ae_batcher_next (b, in, tg);  /* warm-up: threads started, caches */
  t0 = g_get_monotonic_time ();
  for (int i = 0; i < batches; i++)
    ae_batcher_next (b, in, tg);
  double s = (g_get_monotonic_time () - t0) * 1e-6;
  printf ("batches: task %s, %s, patch %d, batch %d, %d loader thread%s%s\n",
      task, color, patch, batch, threads, threads == 1 ? "" : "s",
      jpeg ? ", JPEG on half" : "");
  printf ("         %.1f batches/s, %.0f samples/s (%d batches in %.2f s)\n",
      batches / s, batches * batch / s, batches, s);
  return 0;
}
