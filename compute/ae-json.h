/* ae-json.h: JSON in and out of model files, checkpoints and reports,
 * around two flaws of json-glib 1.6 (Debian 12's).
 *
 * Reading: json-glib recurses once per nesting level, so a file of a few
 * thousand '[' overflows the stack, and it accepts more than JSON (a
 * leading "var x =", values after the first), and a \u0000 in a string
 * silently cuts its C copy short. ae_json_parse_object() refuses all
 * three before json-glib sees the text.
 *
 * Writing: json-glib writes doubles with g_ascii_dtostr() and appends
 * ".0" when there is no '.', so 1e-10 comes out as "1e-10.0", which no
 * parser (json-glib's included) reads back. ae_json_to_string() writes
 * such numbers as "1e-10".
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Deeper than any document of ours (a graph is 4 levels). */
#define AE_JSON_MAX_DEPTH 64

/* Parses @len bytes of @json (-1: up to its NUL) as one JSON object with
 * only whitespace around it. Returns the parser holding it (its root is
 * the object), or NULL with an AE_COMPUTE_ERROR_INVALID_MODEL error
 * "WHAT: DOC is not valid JSON: reason" (without "WHAT: " when @what is
 * NULL). */
JsonParser *ae_json_parse_object (const char *json, gssize len,
    const char *what, const char *doc, GError **error);

/* @root as JSON text (indented when @pretty) that parses back; bytes of
 * strings that are not UTF-8 (file names) become U+FFFD. */
char *ae_json_to_string (JsonNode *root, gboolean pretty);

G_END_DECLS
