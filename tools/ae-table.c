#include "ae-table.h"

#include <string.h>

struct _AeTable {
  int n_cols;
  char **headers;
  char *align;
  GPtrArray *rows;              /* of GPtrArray of char * */
};

AeTable *
ae_table_new (const char *headers, const char *align)
{
  AeTable *t = g_new0 (AeTable, 1);

  t->headers = g_strsplit (headers, "|", -1);
  t->n_cols = g_strv_length (t->headers);
  t->align = g_strnfill (t->n_cols, 'l');
  memcpy (t->align, align, MIN ((int) strlen (align), t->n_cols));
  t->rows = g_ptr_array_new_with_free_func ((GDestroyNotify)
      g_ptr_array_unref);
  return t;
}

void
ae_table_free (AeTable *t)
{
  if (!t)
    return;
  g_strfreev (t->headers);
  g_free (t->align);
  g_ptr_array_unref (t->rows);
  g_free (t);
}

void
ae_table_row (AeTable *t)
{
  g_ptr_array_add (t->rows, g_ptr_array_new_with_free_func (g_free));
}

static void
add_cell (AeTable *t, char *text)
{
  GPtrArray *row;

  if (t->rows->len == 0)
    ae_table_row (t);
  row = g_ptr_array_index (t->rows, t->rows->len - 1);
  if ((int) row->len < t->n_cols)
    g_ptr_array_add (row, text);
  else
    g_free (text);
}

void
ae_table_cell (AeTable *t, const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  add_cell (t, g_strdup_vprintf (format, ap));
  va_end (ap);
}

void
ae_table_skip (AeTable *t)
{
  add_cell (t, g_strdup (""));
}

static int
width_of (const char *s)
{
  return g_utf8_validate (s, -1, NULL) ? (int) g_utf8_strlen (s, -1)
      : (int) strlen (s);
}

static void
append_cell (GString *line, const char *s, int width, char align)
{
  int pad = width - width_of (s);

  if (align == 'r')
    g_string_append_printf (line, "%*s%s", pad, "", s);
  else
    g_string_append_printf (line, "%s%*s", s, pad, "");
}

static void
print_line (const AeTable *t, FILE *f, const char *indent, char **cells,
    int n, const int *widths)
{
  g_autoptr (GString) line = g_string_new (indent);

  for (int c = 0; c < t->n_cols; c++) {
    if (c > 0)
      g_string_append (line, "  ");
    append_cell (line, c < n ? cells[c] : "", widths[c], t->align[c]);
  }
  while (line->len > 0 && line->str[line->len - 1] == ' ')
    g_string_truncate (line, line->len - 1);
  fprintf (f, "%s\n", line->str);
}

void
ae_table_print (const AeTable *t, FILE *f, const char *indent)
{
  g_autofree int *widths = g_new0 (int, t->n_cols);
  int total = 0;

  for (int c = 0; c < t->n_cols; c++)
    widths[c] = width_of (t->headers[c]);
  for (guint r = 0; r < t->rows->len; r++) {
    GPtrArray *row = g_ptr_array_index (t->rows, r);
    for (guint c = 0; c < row->len; c++)
      widths[c] = MAX (widths[c], width_of (g_ptr_array_index (row, c)));
  }
  for (int c = 0; c < t->n_cols; c++)
    total += widths[c] + (c ? 2 : 0);

  print_line (t, f, indent, t->headers, t->n_cols, widths);
  fputs (indent, f);
  for (int i = 0; i < total; i++)
    fputc ('-', f);
  fputc ('\n', f);
  for (guint r = 0; r < t->rows->len; r++) {
    GPtrArray *row = g_ptr_array_index (t->rows, r);
    print_line (t, f, indent, (char **) row->pdata, row->len, widths);
  }
}
