/* Helpers shared by the backends (ae-backend-private.h). */
#include "ae-backend-private.h"

GArray *
ae_backend_assign_buffers (const AeGraph *g, const AeShape *shapes,
    int *buffer_of)
{
  int n = ae_graph_get_n_nodes (g);
  GArray *sizes = g_array_new (FALSE, FALSE, sizeof (gsize));
  g_autofree gboolean *busy = g_new0 (gboolean, n);

  for (int i = 0; i < n; i++) {
    const AeShape *s = &shapes[i];
    gsize need = (gsize) s->c * s->h * s->w;
    int best = -1;
    /* the smallest free buffer that fits, else the largest free one */
    for (guint b = 0; b < sizes->len; b++) {
      if (busy[b])
        continue;
      gsize have = g_array_index (sizes, gsize, b);
      gsize cur = best < 0 ? 0 : g_array_index (sizes, gsize, best);
      gboolean fits = have >= need, cur_fits = best >= 0 && cur >= need;
      if (best < 0 || (fits && (!cur_fits || have < cur))
          || (!fits && !cur_fits && have > cur))
        best = b;
    }
    if (best < 0) {
      g_array_append_val (sizes, need);
      best = sizes->len - 1;
    } else if (g_array_index (sizes, gsize, best) < need) {
      g_array_index (sizes, gsize, best) = need;
    }
    buffer_of[i] = best;
    busy[best] = TRUE;
    /* release inputs whose last reader is this node */
    const AeNode *nd = ae_graph_get_node (g, i);
    for (int k = 0; k < nd->n_inputs; k++)
      if (ae_graph_last_use (g, nd->inputs[k]) == i)
        busy[buffer_of[nd->inputs[k]]] = FALSE;
  }
  return sizes;
}
