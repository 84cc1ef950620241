/* ae-colours.h: which colours a scene shows, and how much of each part of
 * a frame is in colours it does not.
 *
 * A foreign object in a fixed camera's view is often of a colour the scene
 * never shows (a red case on grass, a blue tarpaulin on a grey yard), while
 * its brightness and texture are no more unusual than a passer-by's. The
 * trainer counts the pixels of an anomaly model's training frames per
 * quantised colour (AeColourCounter) and keeps the set of colours that
 * occur (AeColours, stored in the model with the calibration); at run time
 * ae_colours_rare_cells() gives, per cell of a grid over the frame, the
 * fraction of its pixels whose colour is not in the set.
 *
 * Colours are full-range BT.601 Y'CbCr of 8-bit R'G'B', quantised to
 * AE_COLOURS_Y_BINS levels of Y' and AE_COLOURS_C_BINS of Cb and of Cr:
 * coarse in brightness, so that shade and light do not make a known colour
 * new, and fine in chroma. A colour "occurs" when at least AE_COLOURS_RARE
 * of the counted pixels fall in its bin: a handful of stray pixels (noise,
 * compression) does not make a colour normal.
 *
 * No GStreamer; no global state.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define AE_COLOURS_Y_BINS 8
#define AE_COLOURS_C_BINS 32
#define AE_COLOURS_N_BINS \
  (AE_COLOURS_Y_BINS * AE_COLOURS_C_BINS * AE_COLOURS_C_BINS)
#define AE_COLOURS_RARE 1e-5

/* The grid of ae_colours_rare_cells(): the frame split evenly into
 * GRID_W x GRID_H cells whatever its size (24x24 pixels at 768x576). */
#define AE_COLOURS_GRID_W 32
#define AE_COLOURS_GRID_H 24
#define AE_COLOURS_N_CELLS (AE_COLOURS_GRID_W * AE_COLOURS_GRID_H)

/* The colours a scene shows: bit b of seen[b / 8] (least significant bit
 * first) is set when bin b occurs. */
typedef struct {
  guint8 seen[AE_COLOURS_N_BINS / 8];
} AeColours;

/* The bin of an 8-bit R'G'B' colour, 0 <= bin < AE_COLOURS_N_BINS. */
int ae_colours_bin (guint8 r, guint8 g, guint8 b);

static inline gboolean
ae_colours_has (const AeColours *c, int bin)
{
  return (c->seen[bin >> 3] >> (bin & 7)) & 1;
}

typedef struct _AeColourCounter AeColourCounter;

AeColourCounter *ae_colour_counter_new (void);
void ae_colour_counter_free (AeColourCounter *counter);
/* Counts @width x @height pixels of @rgb: @bpp bytes each (3 or 4; the
 * first three are R', G', B'), rows @stride bytes apart. */
void ae_colour_counter_add (AeColourCounter *counter, const guint8 *rgb,
    gsize stride, int width, int height, int bpp);
/* The colours that occur among the counted pixels into @out. FALSE (and
 * @out untouched) when nothing was counted or every pixel was grey
 * (R' = G' = B'): grey footage says nothing of colour. */
gboolean ae_colour_counter_finish (const AeColourCounter *counter,
    AeColours *out);

/* For each cell of the AE_COLOURS_GRID_W x AE_COLOURS_GRID_H grid over
 * @width x @height pixels of @rgb (as for ae_colour_counter_add), the
 * fraction 0..1 of its pixels whose colour @colours does not have, into
 * @cells (row major). A cell with no pixels (frames smaller than the grid)
 * gets 0. */
void ae_colours_rare_cells (const AeColours *colours, const guint8 *rgb,
    gsize stride, int width, int height, int bpp,
    double cells[AE_COLOURS_N_CELLS]);

/* @c as lower-case hex, two digits per byte of seen[] in order (newly
 * allocated), and back: FALSE for a string of another length or with
 * other characters. */
char *ae_colours_to_hex (const AeColours *c);
gboolean ae_colours_from_hex (const char *hex, AeColours *c);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeColourCounter, ae_colour_counter_free)

G_END_DECLS
