/* The colours of a scene (compute/ae-colours.h): binning, counting, rare
 * cells and the hex form stored in models. */
#include "ae-colours.h"

#include <string.h>

/* Bins follow BT.601 Y'CbCr: greys have neutral chroma whatever their
 * level, and pure colours land where their chroma says. */
static void
test_bin (void)
{
  const int cc = AE_COLOURS_C_BINS * AE_COLOURS_C_BINS;
  const int neutral = (128 * AE_COLOURS_C_BINS >> 8) * AE_COLOURS_C_BINS
      + (128 * AE_COLOURS_C_BINS >> 8);

  for (int v = 0; v < 256; v++) {
    int b = ae_colours_bin (v, v, v);
    g_assert_cmpint (b % cc, ==, neutral);
    g_assert_cmpint (b / cc, ==, v * AE_COLOURS_Y_BINS / 256);
  }
  /* red: Cr high, Cb low; blue: Cb high */
  int red = ae_colours_bin (255, 0, 0) % cc, blue = ae_colours_bin (0, 0,
      255) % cc;
  g_assert_cmpint (red % AE_COLOURS_C_BINS, ==, AE_COLOURS_C_BINS - 1);
  g_assert_cmpint (red / AE_COLOURS_C_BINS, <, AE_COLOURS_C_BINS / 2);
  g_assert_cmpint (blue / AE_COLOURS_C_BINS, ==, AE_COLOURS_C_BINS - 1);
  /* every colour has a bin in range */
  for (int r = 0; r < 256; r += 15)
    for (int g = 0; g < 256; g += 15)
      for (int b = 0; b < 256; b += 15) {
        int bin = ae_colours_bin (r, g, b);
        g_assert_cmpint (bin, >=, 0);
        g_assert_cmpint (bin, <, AE_COLOURS_N_BINS);
      }
}

/* A green field with a few stray red pixels: green occurs, the red (less
 * than AE_COLOURS_RARE of the pixels) does not; grey footage has no
 * colours at all. */
static void
test_counter (void)
{
  const int w = 400, h = 300;
  g_autofree guint8 *rgb = g_new (guint8, w * h * 3);
  g_autoptr (AeColourCounter) counter = ae_colour_counter_new ();
  AeColours colours;

  for (int i = 0; i < w * h; i++) {
    rgb[3 * i] = 40 + i % 7;
    rgb[3 * i + 1] = 140;
    rgb[3 * i + 2] = 50;
  }
  rgb[0] = 250, rgb[1] = 10, rgb[2] = 10;      /* 1 of 120,000 */
  g_assert_false (ae_colour_counter_finish (counter, &colours));
  ae_colour_counter_add (counter, rgb, w * 3, w, h, 3);
  g_assert_true (ae_colour_counter_finish (counter, &colours));
  g_assert_true (ae_colours_has (&colours, ae_colours_bin (43, 140, 50)));
  g_assert_false (ae_colours_has (&colours, ae_colours_bin (250, 10, 10)));
  g_assert_false (ae_colours_has (&colours, ae_colours_bin (128, 128, 128)));

  g_autoptr (AeColourCounter) grey = ae_colour_counter_new ();
  memset (rgb, 90, w * h * 3);
  ae_colour_counter_add (grey, rgb, w * 3, w, h, 3);
  memset (&colours, 0xab, sizeof colours);
  g_assert_false (ae_colour_counter_finish (grey, &colours));
  g_assert_cmpint (colours.seen[0], ==, 0xab);   /* untouched */
}

/* The fraction of unknown colours per cell, on an RGBx frame of a size the
 * grid does not divide, and on one smaller than the grid. */
static void
test_rare_cells (void)
{
  const int w = 101, h = 53;
  g_autofree guint8 *rgbx = g_new (guint8, w * h * 4);
  AeColours colours = { 0 };
  double cells[AE_COLOURS_N_CELLS];
  int grey = ae_colours_bin (100, 100, 100);

  colours.seen[grey >> 3] |= 1 << (grey & 7);
  memset (rgbx, 100, w * h * 4);
  ae_colours_rare_cells (&colours, rgbx, w * 4, w, h, 4, cells);
  for (int c = 0; c < AE_COLOURS_N_CELLS; c++)
    g_assert_cmpfloat (cells[c], ==, 0.0);

  /* two pixels of cell 0 blue */
  for (int y = 0; y < h / AE_COLOURS_GRID_H; y++) {
    guint8 *p = rgbx + (gsize) y * w * 4;
    p[0] = 0, p[1] = 0, p[2] = 255;
  }
  ae_colours_rare_cells (&colours, rgbx, w * 4, w, h, 4, cells);
  /* cell 0 is columns 0..3 (x * 32 / 101 < 1) and rows 0..2: 2 of 12 */
  g_assert_cmpfloat (cells[0], ==, 2.0 / 12);
  for (int c = 1; c < AE_COLOURS_N_CELLS; c++)
    g_assert_cmpfloat (cells[c], ==, 0.0);

  /* 5x3 pixels: most cells are empty and report 0; all 15 pixels known */
  ae_colours_rare_cells (&colours, rgbx + 4 * w * 10, w * 4, 5, 3, 4, cells);
  for (int c = 0; c < AE_COLOURS_N_CELLS; c++)
    g_assert_cmpfloat (cells[c], ==, 0.0);
}

static void
test_hex (void)
{
  AeColours c, back;

  for (gsize i = 0; i < sizeof c.seen; i++)
    c.seen[i] = (guint8) (i * 37 + 5);
  g_autofree char *hex = ae_colours_to_hex (&c);
  g_assert_cmpuint (strlen (hex), ==, AE_COLOURS_N_BINS / 4);
  g_assert_true (ae_colours_from_hex (hex, &back));
  g_assert_cmpmem (&c, sizeof c, &back, sizeof back);

  /* upper case reads too; wrong length or a stray character does not */
  g_autofree char *upper = g_ascii_strup (hex, -1);
  g_assert_true (ae_colours_from_hex (upper, &back));
  g_assert_cmpmem (&c, sizeof c, &back, sizeof back);
  memset (&back, 0, sizeof back);
  hex[7] = 'g';
  g_assert_false (ae_colours_from_hex (hex, &back));
  hex[7] = '0';
  hex[strlen (hex) - 1] = '\0';
  g_assert_false (ae_colours_from_hex (hex, &back));
  g_assert_false (ae_colours_from_hex ("", &back));
  g_assert_false (ae_colours_from_hex (NULL, &back));
  AeColours zero = { 0 };
  g_assert_cmpmem (&zero, sizeof zero, &back, sizeof back);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/colours/bin", test_bin);
  g_test_add_func ("/colours/counter", test_counter);
  g_test_add_func ("/colours/rare-cells", test_rare_cells);
  g_test_add_func ("/colours/hex", test_hex);
  return g_test_run ();
}
