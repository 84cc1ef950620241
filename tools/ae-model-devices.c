/* ae-model devices: the compute devices ae_engine_new() can open, with the
 * features the Vulkan backend uses, and which one "auto" picks. */
#include "ae-tool.h"
#include "ae-engine.h"
#include "ae-table.h"

#include <stdio.h>

static const char *
yes (gboolean v)
{
  return v ? "yes" : "no";
}

/* the order in which "auto" prefers devices (ae-vk-device.c) */
static int
rank (const AeDeviceInfo *d)
{
  static const char *types[] = { "virtual GPU", "integrated GPU",
    "discrete GPU"
  };
  if (!d->api_version)
    return 0;
  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    if (g_str_equal (d->type, types[i]))
      return 2 + i;
  return 1;
}

int
ae_cmd_devices (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) list = NULL;
  g_autoptr (AeTable) t = NULL;
  const char *chosen = "cpu";
  int best = 0;

  g_option_context_set_summary (ctx, "Lists the compute devices (the "
      "--device / device= values) and the\nVulkan features the backend "
      "uses.");
  if (!ae_tool_parse_args (ctx, 0, &argc, &argv))
    return AE_EXIT_USAGE;
  if (!(list = ae_engine_list_devices (&error))) {
    ae_tool_error ("%s", error->message);
    return AE_EXIT_FAILURE;
  }
  t = ae_table_new ("device|name|type|Vulkan|fp16 storage|fp16 math|"
      "subgroup|shared KB|memory MB|max buffer MB|coop. matrix",
      "lllllllrrrl");
  for (guint i = 0; i < list->len; i++) {
    const AeDeviceInfo *d = list->pdata[i];
    gboolean vk = d->api_version != NULL;
    ae_table_row (t);
    ae_table_cell (t, "%s", d->id);
    ae_table_cell (t, "%s", d->name);
    ae_table_cell (t, "%s", d->type);
    ae_table_cell (t, "%s", vk ? d->api_version : "");
    ae_table_cell (t, "%s", vk ? yes (d->fp16_storage) : "");
    ae_table_cell (t, "%s", vk ? yes (d->fp16_arithmetic) : "");
    if (vk)
      ae_table_cell (t, "%u%s", d->subgroup_size, d->subgroup_arithmetic ?
          " (arith.)" : "");
    else
      ae_table_cell (t, "%s", "");
    g_autofree char *shared = g_strdup_printf ("%u", d->shared_memory / 1024);
    g_autofree char *mem = g_strdup_printf ("%" G_GUINT64_FORMAT,
        d->device_memory >> 20);
    g_autofree char *maxbuf = g_strdup_printf ("%u", d->max_buffer >> 20);
    ae_table_cell (t, "%s", vk ? shared : "");
    ae_table_cell (t, "%s", vk ? mem : "");
    ae_table_cell (t, "%s", vk ? maxbuf : "");
    ae_table_cell (t, "%s", vk ? yes (d->cooperative_matrix) : "");
    /* auto: the best-ranked eligible device, the CPU backend by default */
    if (d->auto_eligible && rank (d) > best) {
      best = rank (d);
      chosen = d->id;
    }
  }
  ae_table_print (t, stdout, "");
  printf ("\nauto: %s (CPU-type Vulkan devices such as lavapipe are used "
      "only when asked for)\n", chosen);
  return AE_EXIT_OK;
}
