/* ae-json: JSON from untrusted files is parsed within limits, and JSON we
 * write parses back (json-glib 1.6 alone gets both wrong). */
#include "ae-error.h"
#include "ae-json.h"
#include "ae-model.h"

#include <string.h>

/* {"a": [[[...]]]} nested @depth deep */
static char *
nested (int depth)
{
  GString *s = g_string_new ("{\"a\": ");
  for (int i = 0; i < depth; i++)
    g_string_append_c (s, '[');
  for (int i = 0; i < depth; i++)
    g_string_append_c (s, ']');
  g_string_append_c (s, '}');
  return g_string_free (s, FALSE);
}

static void
expect_refused (const char *json, gssize len, const char *why)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) p = ae_json_parse_object (json, len, "f.safetensors",
      "header", &error);
  g_assert_null (p);
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL);
  g_assert_true (g_str_has_prefix (error->message, "f.safetensors: header "));
  if (!strstr (error->message, why))
    g_error ("'%s' lacks '%s'", error->message, why);
}

static void
test_parse (void)
{
  /* a few hundred thousand levels overflow json-glib's recursion */
  g_autofree char *deep = nested (300000);
  expect_refused (deep, -1, "nested more than 64 levels deep");
  g_autofree char *ok_depth = nested (AE_JSON_MAX_DEPTH - 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonParser) ok = ae_json_parse_object (ok_depth, -1, NULL, "doc",
      &error);
  g_assert_no_error (error);

  /* what json-glib accepts but JSON is not */
  expect_refused ("var x = {\"a\": 1};", -1, "must be a JSON object");
  expect_refused ("{\"a\": 1} {\"b\": 2}", -1, "more text after the object");
  expect_refused ("{\"a\": 1}\n]", -1, "more text after the object");
  expect_refused ("{\"a\": \"x\0y\"}", 12, "a NUL byte at offset 8");
  expect_refused ("{\"a\": \"1\\u0000.5\"}", -1,
      "a \\u0000 (NUL) in a string at offset 8");
  expect_refused ("[1, 2]", -1, "must be a JSON object");
  expect_refused ("", -1, "must be a JSON object");
  /* json-glib's own errors for the rest */
  expect_refused ("{\"a\": }", -1, "is not valid JSON");
  expect_refused ("{\"a\": [1, 2}", -1, "is not valid JSON");

  /* braces and quotes inside strings are text; space around is fine */
  const char *text = "  {\"a\": \"{[[\\\"}\", \"b\": [1, {\"c\": 2}]}   \n";
  g_autoptr (JsonParser) p = ae_json_parse_object (text, -1, NULL, "doc",
      &error);
  g_assert_no_error (error);
  JsonObject *o = json_node_get_object (json_parser_get_root (p));
  g_assert_cmpstr (json_object_get_string_member (o, "a"), ==, "{[[\"}");
}

/* A model file whose header, or whose graph, nests too deep: an error. */
static void
test_deep_model (void)
{
  g_autofree char *deep = nested (300000);
  gsize n = strlen (deep);
  guint8 *blob = g_malloc (8 + n);
  for (int i = 0; i < 8; i++)
    blob[i] = (guint8) ((guint64) n >> (8 * i));
  memcpy (blob + 8, deep, n);
  g_autoptr (GBytes) bytes = g_bytes_new_take (blob, 8 + n);
  g_autoptr (GError) error = NULL;
  g_autoptr (AeModel) m = ae_model_load_from_bytes (bytes, "deep.safetensors",
      &error);
  g_assert_null (m);
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "nested more than"));

  g_clear_error (&error);
  g_autoptr (AeModel) g = ae_model_new (deep, &error);
  g_assert_null (g);
  g_assert_error (error, AE_COMPUTE_ERROR, AE_COMPUTE_ERROR_INVALID_MODEL);
  g_assert_nonnull (strstr (error->message, "ae.graph is not valid JSON"));
}

/* Doubles in exponent form come out as JSON numbers that parse back to the
 * same value; strings are left alone. */
static void
test_write (void)
{
  static const double values[] = { 1e-10, 1e+20, -3e-7, 0.5, 2.0, 0.0,
    123456.789, 1.5e-300, -2e+100
  };
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "v");
  json_builder_begin_array (b);
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    json_builder_add_double_value (b, values[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "s");
  json_builder_add_string_value (b, "1e-10.0 \"x\" 2e+3.0");
  json_builder_set_member_name (b, "n");
  json_builder_add_int_value (b, 42);
  json_builder_set_member_name (b, "path");
  json_builder_add_string_value (b, "d\xff");      /* a Latin-1 file name */
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);

  for (int pretty = 0; pretty <= 1; pretty++) {
    g_autofree char *text = ae_json_to_string (root, pretty);
    g_autoptr (GError) error = NULL;
    g_autoptr (JsonParser) p = ae_json_parse_object (text, -1, NULL, "doc",
        &error);
    g_assert_no_error (error);
    JsonObject *o = json_node_get_object (json_parser_get_root (p));
    JsonArray *a = json_object_get_array_member (o, "v");
    g_assert_cmpuint (json_array_get_length (a), ==, G_N_ELEMENTS (values));
    for (guint i = 0; i < G_N_ELEMENTS (values); i++)
      g_assert_cmpfloat (json_array_get_double_element (a, i), ==, values[i]);
    g_assert_cmpstr (json_object_get_string_member (o, "s"), ==,
        "1e-10.0 \"x\" 2e+3.0");
    g_assert_cmpint (json_object_get_int_member (o, "n"), ==, 42);
    g_assert_true (g_utf8_validate (text, -1, NULL));
    g_assert_cmpstr (json_object_get_string_member (o, "path"), ==,
        "d\xef\xbf\xbd");
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/json/parse", test_parse);
  g_test_add_func ("/json/deep-model", test_deep_model);
  g_test_add_func ("/json/write", test_write);
  return g_test_run ();
}
