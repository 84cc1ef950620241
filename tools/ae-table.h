/* ae-table.h: plain-text tables with aligned columns, for the reports that
 * ae-model prints.
 *
 *   AeTable *t = ae_table_new ("name|op|ms", "llr");
 *   ae_table_row (t);
 *   ae_table_cell (t, "%s", name);
 *   ...
 *   ae_table_print (t, stdout, "  ");
 *
 * Cells are UTF-8; column widths count characters, not bytes.
 */
#pragma once

#include <glib.h>
#include <stdio.h>

G_BEGIN_DECLS

typedef struct _AeTable AeTable;

/* @headers: column titles separated by '|'; @align: one 'l' or 'r' per
 * column (missing = 'l'). */
AeTable *ae_table_new (const char *headers, const char *align);
void ae_table_free (AeTable *t);

/* Starts a new row; the cells that follow fill it from the left. */
void ae_table_row (AeTable *t);
/* Appends a cell to the current row (ignored past the last column). */
void ae_table_cell (AeTable *t, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* Appends an empty cell. */
void ae_table_skip (AeTable *t);

/* Prints the header, a rule, then the rows, each line after @indent. */
void ae_table_print (const AeTable *t, FILE *f, const char *indent);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (AeTable, ae_table_free)

G_END_DECLS
