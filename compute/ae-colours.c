#include "ae-colours.h"

#include <string.h>

int
ae_colours_bin (guint8 r, guint8 g, guint8 b)
{
  /* BT.601 full range in 8.8 fixed point; Cb and Cr are offset by 128 and
   * stay within 0..255 for any R'G'B' */
  int y = (77 * r + 150 * g + 29 * b + 128) >> 8;
  int cb = (-43 * r - 85 * g + 128 * b + 32768 + 128) >> 8;
  int cr = (128 * r - 107 * g - 21 * b + 32768 + 128) >> 8;
  y = MIN (y, 255);
  cb = CLAMP (cb, 0, 255);
  cr = CLAMP (cr, 0, 255);
  return ((y * AE_COLOURS_Y_BINS) >> 8) * AE_COLOURS_C_BINS * AE_COLOURS_C_BINS
      + ((cb * AE_COLOURS_C_BINS) >> 8) * AE_COLOURS_C_BINS
      + ((cr * AE_COLOURS_C_BINS) >> 8);
}

struct _AeColourCounter {
  guint64 count[AE_COLOURS_N_BINS];
  guint64 total;
  gboolean colourful;           /* some pixel was not grey */
};

AeColourCounter *
ae_colour_counter_new (void)
{
  return g_new0 (AeColourCounter, 1);
}

void
ae_colour_counter_free (AeColourCounter *counter)
{
  g_free (counter);
}

void
ae_colour_counter_add (AeColourCounter *counter, const guint8 *rgb,
    gsize stride, int width, int height, int bpp)
{
  g_return_if_fail (counter != NULL && rgb != NULL);
  g_return_if_fail (bpp == 3 || bpp == 4);

  for (int y = 0; y < height; y++) {
    const guint8 *p = rgb + (gsize) y * stride;
    for (int x = 0; x < width; x++, p += bpp) {
      counter->count[ae_colours_bin (p[0], p[1], p[2])]++;
      counter->colourful |= p[0] != p[1] || p[1] != p[2];
    }
  }
  counter->total += (guint64) width * MAX (height, 0);
}

gboolean
ae_colour_counter_finish (const AeColourCounter *counter, AeColours *out)
{
  g_return_val_if_fail (counter != NULL && out != NULL, FALSE);

  if (!counter->total || !counter->colourful)
    return FALSE;
  memset (out, 0, sizeof *out);
  for (int b = 0; b < AE_COLOURS_N_BINS; b++)
    if (counter->count[b] > 0
        && counter->count[b] >= AE_COLOURS_RARE * counter->total)
      out->seen[b >> 3] |= 1 << (b & 7);
  return TRUE;
}

void
ae_colours_rare_cells (const AeColours *colours, const guint8 *rgb,
    gsize stride, int width, int height, int bpp,
    double cells[AE_COLOURS_N_CELLS])
{
  guint32 rare[AE_COLOURS_N_CELLS] = { 0 };
  guint32 pixels[AE_COLOURS_N_CELLS] = { 0 };
  g_autofree guint8 *cell_x = g_new (guint8, MAX (width, 1));

  g_return_if_fail (colours != NULL && rgb != NULL && cells != NULL);
  g_return_if_fail (bpp == 3 || bpp == 4);

  /* pixel x is in cell x * GRID_W / width (floor), as every grid here */
  for (int x = 0; x < width; x++)
    cell_x[x] = (guint8) ((gint64) x * AE_COLOURS_GRID_W / width);
  for (int y = 0; y < height; y++) {
    const guint8 *p = rgb + (gsize) y * stride;
    int row = (int) ((gint64) y * AE_COLOURS_GRID_H / height) *
        AE_COLOURS_GRID_W;
    for (int x = 0; x < width; x++, p += bpp) {
      int c = row + cell_x[x];
      rare[c] += !ae_colours_has (colours, ae_colours_bin (p[0], p[1], p[2]));
      pixels[c]++;
    }
  }
  for (int c = 0; c < AE_COLOURS_N_CELLS; c++)
    cells[c] = pixels[c] ? (double) rare[c] / pixels[c] : 0.0;
}

char *
ae_colours_to_hex (const AeColours *c)
{
  static const char digits[] = "0123456789abcdef";
  char *hex = g_new (char, 2 * sizeof c->seen + 1);

  for (gsize i = 0; i < sizeof c->seen; i++) {
    hex[2 * i] = digits[c->seen[i] >> 4];
    hex[2 * i + 1] = digits[c->seen[i] & 15];
  }
  hex[2 * sizeof c->seen] = '\0';
  return hex;
}

gboolean
ae_colours_from_hex (const char *hex, AeColours *c)
{
  AeColours out;

  if (!hex || strlen (hex) != 2 * sizeof out.seen)
    return FALSE;
  for (gsize i = 0; i < sizeof out.seen; i++) {
    int hi = g_ascii_xdigit_value (hex[2 * i]);
    int lo = g_ascii_xdigit_value (hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return FALSE;
    out.seen[i] = (guint8) (hi << 4 | lo);
  }
  *c = out;
  return TRUE;
}
