#include "ae-json.h"

#include <string.h>

#include "ae-error.h"

static gboolean
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Checks the nesting and the text after the object without recursion
 * (json-glib's errors for what passes are good; it is what it accepts or
 * crashes on that must be caught). Returns NULL, or what is wrong. The
 * text must start with '{' (after whitespace). */
static char *
check_shape (const char *s, gsize len, gsize i)
{
  gsize end = 0;
  int depth = 0;
  gboolean in_string = FALSE;

  for (; i < len; i++) {
    char c = s[i];
    if (c == '\0')
      return g_strdup_printf ("a NUL byte at offset %" G_GSIZE_FORMAT, i);
    if (in_string) {
      /* a NUL in a string would cut its C copy short, silently */
      if (c == '\\' && len - i >= 6 && !memcmp (s + i + 1, "u0000", 5))
        return g_strdup_printf ("a \\u0000 (NUL) in a string at offset %"
            G_GSIZE_FORMAT, i);
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = FALSE;
      continue;
    }
    if (c == '"') {
      in_string = TRUE;
    } else if (c == '{' || c == '[') {
      if (++depth > AE_JSON_MAX_DEPTH)
        return g_strdup_printf ("nested more than %d levels deep",
            AE_JSON_MAX_DEPTH);
    } else if (c == '}' || c == ']') {
      if (--depth == 0) {
        end = i + 1;
        break;
      }
    }
  }
  if (!end)
    return NULL;                /* unterminated: json-glib says where */
  for (i = end; i < len; i++)
    if (!is_space (s[i]))
      return g_strdup_printf ("more text after the object, at offset %"
          G_GSIZE_FORMAT, i);
  return NULL;
}

/* "WHAT: DOC PROBLEM", or "DOC PROBLEM" */
static void
set_error (GError **error, const char *what, const char *doc,
    const char *problem)
{
  g_set_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL,
      "%s%s%s %s", what ? what : "", what ? ": " : "", doc, problem);
}

JsonParser *
ae_json_parse_object (const char *json, gssize len, const char *what,
    const char *doc, GError **error)
{
  gsize n = len < 0 ? strlen (json) : (gsize) len, start = 0;
  g_autoptr (GError) jerr = NULL;

  while (start < n && is_space (json[start]))
    start++;
  if (start == n || json[start] != '{') {
    set_error (error, what, doc, "must be a JSON object");
    return NULL;
  }
  g_autofree char *wrong = check_shape (json, n, start);
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!wrong && !json_parser_load_from_data (parser, json, n, &jerr))
    wrong = g_strdup (jerr->message);
  if (wrong) {
    g_autofree char *problem = g_strconcat ("is not valid JSON: ", wrong,
        NULL);
    set_error (error, what, doc, problem);
    return NULL;
  }
  return g_steal_pointer (&parser);
}

char *
ae_json_to_string (JsonNode *root, gboolean pretty)
{
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, pretty);
  g_autofree char *text = json_generator_to_data (gen, NULL);
  GString *out = g_string_sized_new (strlen (text));
  gboolean in_string = FALSE;

  for (const char *p = text; *p; p++) {
    if (in_string) {
      g_string_append_c (out, *p);
      if (*p == '\\' && p[1])
        g_string_append_c (out, *++p);
      else if (*p == '"')
        in_string = FALSE;
      continue;
    }
    if (*p == '"') {
      in_string = TRUE;
      g_string_append_c (out, *p);
      continue;
    }
    /* a number: its exponent followed by the ".0" json-glib added */
    gsize k = strspn (p, "0123456789+-.eE");
    if (k == 0) {
      g_string_append_c (out, *p);
      continue;
    }
    if (k > 2 && memchr (p, 'e', k) && p[k - 2] == '.' && p[k - 1] == '0'
        && memchr (p, '.', k) == p + k - 2)
      g_string_append_len (out, p, k - 2);
    else
      g_string_append_len (out, p, k);
    p += k - 1;
  }
  /* file names need not be UTF-8; JSON must be */
  g_autofree char *text_out = g_string_free (out, FALSE);
  return g_utf8_make_valid (text_out, -1);
}
