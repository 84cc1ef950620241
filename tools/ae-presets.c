/* The presets, written out node by node. FLOPs are quoted per input pixel
 * for luma (ae-model info prints the exact figure). Channel counts after
 * the first layer are multiples of 8, which suit the CPU's direct kernels. */
#include "ae-presets.h"

#include <string.h>

typedef struct {
  GString *s;
  int n;
} Graph;

static void
begin (Graph *g, const char *task, AeColor color, int scale)
{
  g->s = g_string_new (NULL);
  g->n = 0;
  g_string_append_printf (g->s, "{\"task\":\"%s\",\"color\":\"%s\","
      "\"scale\":%d,\"nodes\":[", task, ae_color_name (color), scale);
}

static void
node (Graph *g, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static void
node (Graph *g, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_string_append (g->s, g->n++ ? ",\n {" : "\n {");
  g_string_append_vprintf (g->s, fmt, ap);
  g_string_append_c (g->s, '}');
  va_end (ap);
}

static void
conv (Graph *g, const char *name, const char *in, int out, int k, int stride,
    const char *act)
{
  node (g, "\"name\":\"%s\",\"op\":\"conv2d\",\"inputs\":[\"%s\"],"
      "\"out\":%d,\"kernel\":%d,\"stride\":%d,\"padding\":%d,\"act\":\"%s\"",
      name, in, out, k, stride, k / 2, act);
}

static void
resample (Graph *g, const char *name, const char *op, const char *in,
    int factor)
{
  node (g, "\"name\":\"%s\",\"op\":\"%s\",\"inputs\":[\"%s\"],"
      "\"factor\":%d", name, op, in, factor);
}

static void
add (Graph *g, const char *name, const char *a, const char *b)
{
  node (g, "\"name\":\"%s\",\"op\":\"add\",\"inputs\":[\"%s\",\"%s\"]",
      name, a, b);
}

/* Context for a blind denoiser: @in average-pooled 4x4, @depth 3x3 convs of
 * @width channels there (the last linear), upscaled back bilinearly and
 * added to @in as node "a". */
static void
context (Graph *g, const char *in, int width, int depth)
{
  char prev[8] = "p", name[8];
  node (g, "\"name\":\"p\",\"op\":\"avg_pool2d\",\"inputs\":[\"%s\"],"
      "\"kernel\":4,\"stride\":4,\"padding\":0", in);
  for (int i = 1; i <= depth; i++) {
    g_snprintf (name, sizeof name, "q%d", i);
    conv (g, name, prev, width, 3, 1, i < depth ? "relu" : "none");
    strcpy (prev, name);
  }
  node (g, "\"name\":\"qu\",\"op\":\"upsample\",\"inputs\":[\"%s\"],"
      "\"factor\":4,\"mode\":\"bilinear\"", prev);
  add (g, "a", in, "qu");
}

static char *
end (Graph *g, const char *output)
{
  g_string_append_printf (g->s, "\n],\"output\":\"%s\"}", output);
  return g_string_free (g->s, FALSE);
}

static int
channels (AeColor color)
{
  return color == AE_COLOR_RGB ? 3 : 1;
}

/* 3x3 relu convs of @width named c@first .. c@last, each reading the one
 * before, the first reading @prev; @prev ends as the last one's name. */
static void
chain (Graph *g, char prev[8], int first, int last, int width)
{
  char name[8];
  for (int i = first; i <= last; i++) {
    g_snprintf (name, sizeof name, "c%d", i);
    conv (g, name, prev, width, 3, 1, "relu");
    strcpy (prev, name);
  }
}

/* The frame every denoiser preset works in: half resolution behind
 * pixel_unshuffle (node "u") ... */
static void
dn_begin (Graph *g, AeColor color)
{
  begin (g, "denoise", color, 1);
  resample (g, "u", "pixel_unshuffle", "input", 2);
}

/* ... and back: a linear conv from @from to the four pixels' values,
 * pixel_shuffle, plus the input (residual learning). */
static char *
dn_end (Graph *g, AeColor color, const char *from)
{
  conv (g, "o", from, 4 * channels (color), 3, 1, "none");
  resample (g, "s", "pixel_shuffle", "o", 2);
  add (g, "y", "s", "input");
  return end (g, "y");
}

/* Residual denoiser at half resolution behind pixel_unshuffle (FFDNet's
 * layout, much thinner), about 6.6 kFLOP per pixel for luma. A context
 * branch pools the first layer's rectified features to 1/8 resolution and
 * adds what three convolutions make of them back before the second layer:
 * the noise and texture energy of an 81-pixel neighbourhood, which a
 * blind denoiser with a 17-pixel receptive field cannot tell apart (measured
 * at equal steps: +0.5 to +0.6 dB at every sigma from 5 to 50, for 10% more
 * FLOPs). */
static char *
build_dn_half (AeColor color, int width, int depth)
{
  Graph g;
  char prev[8] = "a";
  dn_begin (&g, color);
  conv (&g, "c1", "u", width, 3, 1, "relu");
  context (&g, "c1", width, 3);
  chain (&g, prev, 2, depth, width);
  return dn_end (&g, color, prev);
}

static char *
build_dn_fast (AeColor color, int scale)
{
  return build_dn_half (color, 24, 3);
}

/* dn-fast's layout at FFDNet's width and most of its depth: nine convs of
 * 64 channels at half resolution; about 150 kFLOP per pixel, for GPUs. */
static char *
build_dn_wide (AeColor color, int scale)
{
  return build_dn_half (color, 64, 9);
}

/* Residual two-level U-Net: half resolution behind pixel_unshuffle, a
 * quarter-resolution middle, one skip. About 100 kFLOP per pixel. */
static char *
build_dn_unet (AeColor color, int scale)
{
  Graph g;
  dn_begin (&g, color);
  conv (&g, "e1", "u", 48, 3, 1, "relu");
  conv (&g, "e2", "e1", 48, 3, 1, "relu");
  conv (&g, "d", "e2", 96, 3, 2, "relu");
  conv (&g, "m1", "d", 96, 3, 1, "relu");
  conv (&g, "m2", "m1", 96, 3, 1, "relu");
  conv (&g, "m3", "m2", 96, 3, 1, "relu");
  conv (&g, "m4", "m3", 96, 3, 1, "relu");
  conv (&g, "p", "m4", 192, 1, 1, "none");
  resample (&g, "up", "pixel_shuffle", "p", 2);
  node (&g, "\"name\":\"cat\",\"op\":\"concat\",\"inputs\":[\"up\",\"e2\"]");
  conv (&g, "f1", "cat", 48, 3, 1, "relu");
  conv (&g, "f2", "f1", 48, 3, 1, "relu");
  return dn_end (&g, color, "f2");
}

/* Residual U-Net in the spirit of dn-fast, three times its width and
 * depth: half resolution behind pixel_unshuffle, a quarter-resolution middle
 * of 64 channels that also sees a 1/16-resolution context, skips added
 * rather than concatenated. About 33 kFLOP per pixel: a quality model that
 * 2 CPU cores can still train in hours. */
static char *
build_dn_mid (AeColor color, int scale)
{
  Graph g;
  dn_begin (&g, color);
  conv (&g, "e1", "u", 32, 3, 1, "relu");
  conv (&g, "e2", "e1", 32, 3, 1, "relu");
  conv (&g, "d", "e2", 64, 3, 2, "relu");
  context (&g, "d", 64, 2);
  conv (&g, "m1", "a", 64, 3, 1, "relu");
  conv (&g, "m2", "m1", 64, 3, 1, "relu");
  conv (&g, "m3", "m2", 64, 3, 1, "relu");
  conv (&g, "m4", "m3", 64, 3, 1, "relu");
  conv (&g, "up", "m4", 128, 1, 1, "none");
  resample (&g, "us", "pixel_shuffle", "up", 2);
  add (&g, "k", "us", "e2");
  conv (&g, "f1", "k", 32, 3, 1, "relu");
  return dn_end (&g, color, "f1");
}

/* ESPCN-style: every layer at low resolution, pixel_shuffle at the end,
 * learning the residual over a bilinear upscale. */
static char *
build_sr (AeColor color, int scale, int width, int depth)
{
  Graph g;
  int c = channels (color);
  char prev[8] = "input";
  begin (&g, "superres", color, scale);
  chain (&g, prev, 1, depth, width);
  conv (&g, "o", prev, c * scale * scale, 3, 1, "none");
  resample (&g, "s", "pixel_shuffle", "o", scale);
  node (&g, "\"name\":\"b\",\"op\":\"upsample\",\"inputs\":[\"input\"],"
      "\"factor\":%d,\"mode\":\"bilinear\"", scale);
  add (&g, "y", "s", "b");
  return end (&g, "y");
}

static char *
build_sr_fast (AeColor color, int scale)
{
  return build_sr (color, scale, 24, 3);
}

static char *
build_sr_espcn (AeColor color, int scale)
{
  return build_sr (color, scale, 48, 7);
}

/* Undercomplete convolutional autoencoder without skips: 1/8 resolution,
 * 8 latent channels (an eighth of a value per input pixel), so it can only
 * reproduce what it has learnt the scene looks like. */
static char *
build_ae_bottleneck (AeColor color, int scale)
{
  Graph g;
  int c = channels (color);
  begin (&g, "anomaly", color, 1);
  conv (&g, "e1", "input", 16, 3, 2, "relu");
  conv (&g, "e2", "e1", 32, 3, 2, "relu");
  conv (&g, "e3", "e2", 32, 3, 2, "relu");
  conv (&g, "z", "e3", 8, 3, 1, "none");
  node (&g, "\"name\":\"d1\",\"op\":\"conv_transpose2d\",\"inputs\":[\"z\"],"
      "\"out\":32,\"kernel\":4,\"stride\":2,\"padding\":1,\"act\":\"relu\"");
  node (&g, "\"name\":\"d2\",\"op\":\"conv_transpose2d\",\"inputs\":[\"d1\"],"
      "\"out\":32,\"kernel\":4,\"stride\":2,\"padding\":1,\"act\":\"relu\"");
  /* the last step up as pixel_shuffle: no layer runs at full resolution */
  conv (&g, "o", "d2", 4 * c, 3, 1, "sigmoid");
  resample (&g, "y", "pixel_shuffle", "o", 2);
  return end (&g, "y");
}

const AePreset ae_presets[] = {
  {"dn-fast", AE_TASK_DENOISE, "residual CNN at 1/2 resolution behind "
        "pixel_unshuffle with a 1/8-resolution context branch; ~7 kFLOP/pixel, "
        "real time on 2 CPU cores",
      build_dn_fast},
  {"dn-wide", AE_TASK_DENOISE, "dn-fast's layout with nine convs of 64 "
        "channels at 1/2 resolution; ~150 kFLOP/pixel, for GPUs",
      build_dn_wide},
  {"dn-unet", AE_TASK_DENOISE, "residual two-level U-Net from 1/2 "
        "resolution; ~100 kFLOP/pixel, for GPUs", build_dn_unet},
  {"dn-mid", AE_TASK_DENOISE, "residual U-Net to 1/4 resolution with a "
        "1/16-resolution context, skips added; ~33 kFLOP/pixel",
      build_dn_mid},
  {"sr-fast", AE_TASK_SUPERRES, "ESPCN-style, 3 layers of 24 channels at "
        "low resolution + bilinear residual; ~6 kFLOP/output pixel (x2)",
      build_sr_fast},
  {"sr-espcn", AE_TASK_SUPERRES, "ESPCN-style, 7 layers of 48 channels at "
        "low resolution + bilinear residual; ~65 kFLOP/output pixel (x2)",
      build_sr_espcn},
  {"ae-bottleneck", AE_TASK_ANOMALY, "undercomplete autoencoder, 1/8 "
        "resolution x 8 latent channels, no skips (latent node 'z' for "
        "--variational)", build_ae_bottleneck},
  {NULL, 0, NULL, NULL},
};

const AePreset *
ae_preset_find (const char *name)
{
  for (const AePreset *p = ae_presets; p->name; p++)
    if (g_strcmp0 (p->name, name) == 0)
      return p;
  return NULL;
}

const AePreset *
ae_preset_default (AeTask task)
{
  static const char *const names[] = { "dn-fast", "sr-fast",
    "ae-bottleneck"
  };
  return ae_preset_find (names[task]);
}
