#define G_LOG_DOMAIN "gemba-package"

#include "config.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gemba-drift.h"
#include "gemba-error.h"
#include "gemba-package.h"
#include "gemba-package-private.h"
#include "gemba-augment.h"
#include "gemba-net.h"

struct _GembaPackage
{
  gatomicrefcount ref_count;
  char *name;
  GHashTable *members;       /* member name → GBytes */
  JsonObject *manifest;
  char **classes;
  char key_id[GEMBA_KEY_ID_LEN + 1];
  guint8 signature[GEMBA_SIGNATURE_BYTES];
  gboolean verified;
};

typedef struct archive GembaArchive;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaArchive, archive_read_free)

#define MiB (G_GUINT64_CONSTANT (1024) * 1024)
#define MAX_SIGNATURE_SIZE 4096
/* Deeper JSON is refused before json-glib sees it: no manifest needs more than 6 levels. */
#define MAX_JSON_DEPTH 32
#define MAX_CLASSES 1000
#define READ_CHUNK 65536

static const char *const member_names[GEMBA_PACKAGE_N_MEMBERS] = {
  GEMBA_PACKAGE_MANIFEST, GEMBA_PACKAGE_SIGNATURE, GEMBA_PACKAGE_MODEL_CARD,
  GEMBA_PACKAGE_WEIGHTS, GEMBA_PACKAGE_ONNX,
};
/* The members whose size and hash the manifest lists. */
static const char *const hashed_members[] = {
  GEMBA_PACKAGE_WEIGHTS, GEMBA_PACKAGE_ONNX, GEMBA_PACKAGE_MODEL_CARD,
};

void
gemba_package_limits_init (GembaPackageLimits *limits)
{
  g_return_if_fail (limits != NULL);
  limits->max_binary_size = 256 * MiB;
  limits->max_text_size = 1 * MiB;
  limits->max_total_size = 544 * MiB;
  limits->max_archive_size = 544 * MiB;
}

/* A name from a hostile archive, safe to print: no control characters, valid UTF-8, short. */
static char *
printable (const char *raw)
{
  GString *out = g_string_new (NULL);
  const char *p = raw;
  const char *end = raw + strlen (raw);
  guint n = 0;

  while (p < end && n < 120)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);
      if (c == (gunichar) -1 || c == (gunichar) -2)
        {
          g_string_append_c (out, '?');
          p++;
        }
      else
        {
          if (g_unichar_iscntrl (c))
            g_string_append_c (out, '?');
          else
            g_string_append_unichar (out, c);
          p = g_utf8_next_char (p);
        }
      n++;
    }
  if (p < end)
    g_string_append (out, "…");
  return g_string_free (out, FALSE);
}

/* libarchive's last error, without its trailing newline; free it. */
static char *
archive_message (struct archive *a)
{
  const char *message = archive_error_string (a);
  return g_strstrip (g_strdup (message ? message : _("unknown error")));
}

/* --- manifest -------------------------------------------------------------------------- */

/* Counts the keys of every object in @data (a string followed by ':' outside a string). */
static gboolean
check_json_text (const char *name, const char *what, const char *data, gsize len,
                 guint64 *n_keys, GError **error)
{
  gboolean in_string = FALSE;
  gboolean escaped = FALSE;
  gboolean after_string = FALSE;
  int depth = 0;

  if (len == 0 || memchr (data, '\0', len) != NULL || !g_utf8_validate_len (data, len, NULL))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: %s is not valid JSON (empty, or not UTF-8 text)"), name, what);
      return FALSE;
    }
  *n_keys = 0;
  for (gsize i = 0; i < len; i++)
    {
      char c = data[i];
      if (in_string)
        {
          if (escaped)
            escaped = FALSE;
          else if (c == '\\')
            escaped = TRUE;
          else if (c == '"')
            in_string = FALSE, after_string = TRUE;
          continue;
        }
      if (after_string && c == ':')
        (*n_keys)++;
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
        after_string = FALSE;
      if (c == '"')
        in_string = TRUE;
      else if (c == '{' || c == '[')
        {
          if (++depth > MAX_JSON_DEPTH)
            {
              g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                           _("%s: %s nests deeper than %d levels; refused"), name, what,
                           MAX_JSON_DEPTH);
              return FALSE;
            }
        }
      else if (c == '}' || c == ']')
        depth--;
    }
  return TRUE;
}

static guint64
count_members (JsonNode *node)
{
  guint64 n = 0;

  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      g_autoptr(GList) values = json_object_get_values (json_node_get_object (node));
      n = g_list_length (values);
      for (GList *l = values; l; l = l->next)
        n += count_members (l->data);
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      for (guint i = 0; i < json_array_get_length (array); i++)
        n += count_members (json_array_get_element (array, i));
    }
  return n;
}

static JsonNode *
parse_json (const char *name, const char *what, const void *data, gsize len, GError **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) local_error = NULL;
  guint64 n_keys = 0;
  JsonNode *root;

  if (!check_json_text (name, what, data, len, &n_keys, error))
    return NULL;
  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, data, len, &local_error))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT, _("%s: %s is not valid JSON: %s"),
                   name, what, local_error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: %s is not a JSON object"), name, what);
      return NULL;
    }
  /* json-glib keeps the last of two equal keys, other readers the first: an auditor's tool
   * could then read another manifest than production. Fewer members than keys written means
   * a key appears twice in some object. */
  if (count_members (root) != n_keys)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: %s has a key that appears twice in one object; refused"), name, what);
      return NULL;
    }
  return json_node_ref (root);
}

typedef struct
{
  const char *name;   /* the package */
  GError **error;
} Checker;

static gboolean
missing (Checker *c, const char *path)
{
  g_set_error (c->error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
               _("%s: the manifest lacks the field “%s”"), c->name, path);
  return FALSE;
}

static gboolean
mistyped (Checker *c, const char *path, const char *expected)
{
  g_set_error (c->error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
               _("%s: the manifest’s field “%s” must be %s"), c->name, path, expected);
  return FALSE;
}

static JsonNode *
field (Checker *c, JsonObject *obj, const char *parent, const char *key, char **path)
{
  *path = parent ? g_strconcat (parent, ".", key, NULL) : g_strdup (key);
  return json_object_get_member (obj, key);
}

static JsonObject *
need_object (Checker *c, JsonObject *obj, const char *parent, const char *key)
{
  g_autofree char *path = NULL;
  JsonNode *node = field (c, obj, parent, key, &path);

  if (node == NULL)
    return missing (c, path), NULL;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return mistyped (c, path, _("an object")), NULL;
  return json_node_get_object (node);
}

static JsonArray *
need_array (Checker *c, JsonObject *obj, const char *parent, const char *key)
{
  g_autofree char *path = NULL;
  JsonNode *node = field (c, obj, parent, key, &path);

  if (node == NULL)
    return missing (c, path), NULL;
  if (!JSON_NODE_HOLDS_ARRAY (node))
    return mistyped (c, path, _("an array")), NULL;
  return json_node_get_array (node);
}

static gboolean
is_string (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING;
}

static gboolean
is_int (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64;
}

static gboolean
is_number (JsonNode *node)
{
  return JSON_NODE_HOLDS_VALUE (node) && (json_node_get_value_type (node) == G_TYPE_INT64 ||
                                          json_node_get_value_type (node) == G_TYPE_DOUBLE);
}

/* A string; @nullable accepts JSON null (returned as ""). */
static const char *
need_string (Checker *c, JsonObject *obj, const char *parent, const char *key,
             gboolean nonempty, gboolean nullable)
{
  g_autofree char *path = NULL;
  JsonNode *node = field (c, obj, parent, key, &path);

  if (node == NULL)
    return missing (c, path), NULL;
  if (nullable && JSON_NODE_HOLDS_NULL (node))
    return "";
  if (!is_string (node) || (nonempty && *json_node_get_string (node) == '\0'))
    return mistyped (c, path, nonempty ? _("a non-empty string") : _("a string")), NULL;
  return json_node_get_string (node);
}

static gboolean
need_int (Checker *c, JsonObject *obj, const char *parent, const char *key, gint64 min,
          gint64 max, gint64 *out)
{
  g_autofree char *path = NULL;
  JsonNode *node = field (c, obj, parent, key, &path);

  if (node == NULL)
    return missing (c, path);
  if (!is_int (node) || json_node_get_int (node) < min || json_node_get_int (node) > max)
    {
      g_autofree char *expected = g_strdup_printf (_("an integer from %" PRId64
                                                     " to %" PRId64), min, max);
      return mistyped (c, path, expected);
    }
  if (out)
    *out = json_node_get_int (node);
  return TRUE;
}

static gboolean
need_number (Checker *c, JsonObject *obj, const char *parent, const char *key)
{
  g_autofree char *path = NULL;
  JsonNode *node = field (c, obj, parent, key, &path);

  if (node == NULL)
    return missing (c, path);
  if (!is_number (node))
    return mistyped (c, path, _("a number"));
  return TRUE;
}

/* An array of @n numbers (any length when @n is 0), each in [@min, @max]. */
static gboolean
need_numbers (Checker *c, JsonObject *obj, const char *parent, const char *key, guint n,
              double min, double max)
{
  g_autofree char *path = NULL;
  g_autofree char *expected = NULL;
  JsonArray *array = need_array (c, obj, parent, key);

  if (array == NULL)
    return FALSE;
  path = parent ? g_strconcat (parent, ".", key, NULL) : g_strdup (key);
  expected = n ? g_strdup_printf (_("an array of %u numbers from %g to %g"), n, min, max)
               : g_strdup_printf (_("an array of numbers from %g to %g"), min, max);
  if (n && json_array_get_length (array) != n)
    return mistyped (c, path, expected);
  for (guint i = 0; i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      double v;
      if (!is_number (node))
        return mistyped (c, path, expected);
      v = json_node_get_double (node);
      if (!(v >= min && v <= max))
        return mistyped (c, path, expected);
    }
  return TRUE;
}

/* A number in [@min, @max]. */
static gboolean
need_numbers_in (Checker *c, JsonObject *obj, const char *parent, const char *key, double min,
                 double max)
{
  g_autofree char *path = NULL;
  JsonNode *node = field (c, obj, parent, key, &path);
  double v;

  if (node == NULL)
    return missing (c, path);
  v = is_number (node) ? json_node_get_double (node) : NAN;
  if (!(v >= min && v <= max))
    {
      g_autofree char *expected = g_strdup_printf (_("a number from %g to %g"), min, max);
      return mistyped (c, path, expected);
    }
  return TRUE;
}

static gboolean
is_sha256_hex (const char *s)
{
  if (strlen (s) != 64)
    return FALSE;
  for (guint i = 0; i < 64; i++)
    if (!g_ascii_isxdigit (s[i]) || g_ascii_isupper (s[i]))
      return FALSE;
  return TRUE;
}

gboolean
_gemba_package_manifest_preprocess (JsonObject *input, GembaPreprocess *pp, const char *name,
                                    GError **error)
{
  JsonArray *mean = json_object_get_array_member (input, "mean");
  JsonArray *std = json_object_get_array_member (input, "std");
  gint64 v;

  gemba_preprocess_init (pp, 1);
  v = json_object_get_int_member (input, "width");
  pp->width = (int) CLAMP (v, 0, G_MAXINT);
  v = json_object_get_int_member (input, "height");
  pp->height = (int) CLAMP (v, 0, G_MAXINT);
  v = json_object_get_int_member (input, "channels");
  pp->channels = (int) CLAMP (v, 0, G_MAXINT);
  pp->resize = g_strcmp0 (json_object_get_string_member (input, "resize"), "center-crop") == 0
                 ? GEMBA_RESIZE_CENTER_CROP : GEMBA_RESIZE_STRETCH;
  if (!_gemba_preprocess_crop_from_json (pp, json_object_get_member (input, "crop"), name,
                                         error))
    return FALSE;
  for (guint c = 0; c < (guint) pp->channels && c < 3; c++)
    {
      pp->mean[c] = (float) json_array_get_double_element (mean, c);
      pp->std[c] = (float) json_array_get_double_element (std, c);
    }
  return gemba_preprocess_validate (pp, name, error);
}

static gboolean
validate_manifest (Checker *c, JsonObject *m, gboolean allow_no_members)
{
  const char *format;
  gint64 version;
  gint64 channels;
  guint n_classes;
  JsonObject *model, *input, *architecture, *members, *dataset, *metrics, *test, *training;
  JsonArray *classes;
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  if (!(format = need_string (c, m, NULL, "format", TRUE, FALSE)))
    return FALSE;
  if (!g_str_equal (format, GEMBA_PACKAGE_FORMAT))
    {
      g_set_error (c->error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: the manifest is not a Gemba package manifest (format “%s”)"), c->name,
                   format);
      return FALSE;
    }
  /* The version decides how to read the rest, so it is checked before anything else. */
  {
    JsonNode *node = json_object_get_member (m, "format_version");
    if (node == NULL)
      return missing (c, "format_version");
    if (!is_int (node) || json_node_get_int (node) < 1)
      return mistyped (c, "format_version", _("a positive integer"));
    version = json_node_get_int (node);
    if (version > GEMBA_PACKAGE_FORMAT_VERSION)
      {
        g_set_error (c->error, GEMBA_ERROR, GEMBA_ERROR_TOO_NEW,
                     _("%s: the package has format version %" PRId64 ", but this "
                       "Gemba reads up to version %d; update Gemba"), c->name, version,
                     GEMBA_PACKAGE_FORMAT_VERSION);
        return FALSE;
      }
  }
  if (!need_string (c, m, NULL, "gemba_version", TRUE, FALSE))
    return FALSE;

  if (!(model = need_object (c, m, NULL, "model")) ||
      !need_string (c, model, "model", "name", TRUE, FALSE) ||
      !need_string (c, model, "model", "version", TRUE, FALSE) ||
      !need_string (c, model, "model", "parent", FALSE, TRUE) ||
      !need_string (c, model, "model", "trained_by", TRUE, FALSE) ||
      !need_string (c, model, "model", "exported_by", TRUE, FALSE) ||
      !need_string (c, model, "model", "created", TRUE, FALSE) ||
      !need_string (c, model, "model", "exported", TRUE, FALSE))
    return FALSE;

  if (!(classes = need_array (c, m, NULL, "classes")))
    return FALSE;
  n_classes = json_array_get_length (classes);
  if (n_classes < 2 || n_classes > MAX_CLASSES)
    return mistyped (c, "classes", _("an array of 2 to 1000 class names"));
  for (guint i = 0; i < n_classes; i++)
    {
      JsonNode *node = json_array_get_element (classes, i);
      if (!is_string (node) || *json_node_get_string (node) == '\0')
        return mistyped (c, "classes", _("an array of non-empty strings"));
      if (!g_hash_table_add (seen, (gpointer) json_node_get_string (node)))
        {
          g_autofree char *shown = printable (json_node_get_string (node));
          g_set_error (c->error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                       _("%s: the manifest lists the class “%s” twice"), c->name, shown);
          return FALSE;
        }
    }
  if (!need_numbers (c, m, NULL, "thresholds", n_classes, 0.0, 1.0))
    return FALSE;

  if (!(input = need_object (c, m, NULL, "input")) ||
      !need_int (c, input, "input", "width", 1, GEMBA_PREPROCESS_MAX_INPUT_SIDE, NULL) ||
      !need_int (c, input, "input", "height", 1, GEMBA_PREPROCESS_MAX_INPUT_SIDE, NULL) ||
      !need_int (c, input, "input", "channels", 1, 4, &channels) ||
      !need_string (c, input, "input", "color", TRUE, FALSE) ||
      !need_string (c, input, "input", "layout", TRUE, FALSE) ||
      !need_string (c, input, "input", "resize", TRUE, FALSE) ||
      !need_number (c, input, "input", "scale") ||
      !need_numbers (c, input, "input", "mean", channels, -1e6, 1e6) ||
      !need_numbers (c, input, "input", "std", channels, 1e-12, 1e6))
    return FALSE;
  {
    GembaPreprocess pp;

    if (!_gemba_package_manifest_preprocess (input, &pp, c->name, c->error))
      return FALSE;
  }

  if (!(architecture = need_object (c, m, NULL, "architecture")) ||
      !need_string (c, architecture, "architecture", "name", TRUE, FALSE))
    return FALSE;
  /* Optional network settings: typed and in range here, the network builder checks the rest. */
  if (json_object_has_member (architecture, "widths"))
    {
      JsonArray *widths = need_array (c, architecture, "architecture", "widths");

      if (widths == NULL)
        return FALSE;
      if (json_array_get_length (widths) < 1
          || json_array_get_length (widths) > GEMBA_NET_MAX_WIDTHS)
        return mistyped (c, "architecture.widths", _("an array of 1 to 8 integers"));
      for (guint i = 0; i < json_array_get_length (widths); i++)
        {
          JsonNode *node = json_array_get_element (widths, i);

          if (!is_int (node) || json_node_get_int (node) < 1 || json_node_get_int (node) > 4096)
            return mistyped (c, "architecture.widths", _("an array of integers from 1 to 4096"));
        }
    }
  if ((json_object_has_member (architecture, "depth") &&
       !need_int (c, architecture, "architecture", "depth", 1, 8, NULL)) ||
      (json_object_has_member (architecture, "width_mult") &&
       !need_numbers_in (c, architecture, "architecture", "width_mult", 0.1, 2.0)) ||
      (json_object_has_member (architecture, "dropout") &&
       !need_numbers_in (c, architecture, "architecture", "dropout", 0.0, 0.99)))
    return FALSE;

  if (!(dataset = need_object (c, m, NULL, "dataset")) ||
      !need_int (c, dataset, "dataset", "revision", 0, G_MAXINT64, NULL) ||
      !need_object (c, dataset, "dataset", "counts"))
    return FALSE;
  if (!(metrics = need_object (c, m, NULL, "metrics")) ||
      !(test = need_object (c, metrics, "metrics", "test")) ||
      !need_number (c, test, "metrics.test", "accuracy"))
    return FALSE;
  if (!(training = need_object (c, m, NULL, "training")) ||
      !need_int (c, training, "training", "seed", G_MININT64, G_MAXINT64, NULL) ||
      !need_object (c, training, "training", "settings"))
    return FALSE;

  /* Optional: the drift reference of the test split (gemba-drift.h). */
  if (json_object_has_member (m, "reference"))
    {
      JsonObject *reference = need_object (c, m, NULL, "reference");
      JsonObject *brightness, *contrast;

      if (reference == NULL ||
          !need_int (c, reference, "reference", "frames", 1, G_MAXINT32, NULL) ||
          !need_numbers (c, reference, "reference", "confidence_histogram", GEMBA_DRIFT_BINS,
                         0.0, 1.0) ||
          !need_numbers_in (c, reference, "reference", "uncertain_share", 0.0, 1.0) ||
          !need_numbers (c, reference, "reference", "class_rates", n_classes, 0.0, 1.0) ||
          !(brightness = need_object (c, reference, "reference", "brightness")) ||
          !need_numbers_in (c, brightness, "reference.brightness", "mean", 0.0, 255.0) ||
          !need_numbers_in (c, brightness, "reference.brightness", "std", 0.0, 255.0) ||
          !(contrast = need_object (c, reference, "reference", "contrast")) ||
          !need_numbers_in (c, contrast, "reference.contrast", "mean", 0.0, 255.0) ||
          !need_numbers_in (c, contrast, "reference.contrast", "std", 0.0, 255.0))
        return FALSE;
    }

  if (json_object_get_member (m, "members") == NULL && allow_no_members)
    return TRUE;
  if (!(members = need_object (c, m, NULL, "members")))
    return FALSE;
  if (json_object_get_size (members) != G_N_ELEMENTS (hashed_members))
    return mistyped (c, "members", _("an object with exactly weights.bin, model.onnx and "
                                     "MODEL_CARD.md"));
  for (guint i = 0; i < G_N_ELEMENTS (hashed_members); i++)
    {
      g_autofree char *path = g_strconcat ("members.", hashed_members[i], NULL);
      JsonObject *member = need_object (c, members, "members", hashed_members[i]);
      const char *sha;

      if (member == NULL || !need_int (c, member, path, "size", 0, G_MAXINT64, NULL) ||
          !(sha = need_string (c, member, path, "sha256", TRUE, FALSE)))
        return FALSE;
      if (!is_sha256_hex (sha))
        {
          g_autofree char *sha_path = g_strconcat (path, ".sha256", NULL);
          return mistyped (c, sha_path, _("64 lowercase hexadecimal digits"));
        }
    }
  return TRUE;
}

JsonObject *
gemba_package_parse_manifest (const char *name, const void *data, gsize len,
                              gboolean allow_no_members, GError **error)
{
  g_autoptr(JsonNode) root = NULL;
  Checker c = { name, error };

  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (data != NULL || len == 0, NULL);

  if (!(root = parse_json (name, GEMBA_PACKAGE_MANIFEST, data, len, error)))
    return NULL;
  if (!validate_manifest (&c, json_node_get_object (root), allow_no_members))
    return NULL;
  return json_object_ref (json_node_get_object (root));
}

/* --- writing --------------------------------------------------------------------------- */

static char *
sha256_hex (GBytes *bytes)
{
  return g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);
}

static JsonNode *
member_node (GBytes *bytes)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autofree char *sha = sha256_hex (bytes);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "size");
  json_builder_add_int_value (builder, g_bytes_get_size (bytes));
  json_builder_set_member_name (builder, "sha256");
  json_builder_add_string_value (builder, sha);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

static la_ssize_t
write_to_array_cb (struct archive *a, void *user_data, const void *buffer, size_t length)
{
  g_byte_array_append (user_data, buffer, length);
  return length;
}

static gboolean
add_entry (struct archive *a, const char *name, GBytes *bytes, gint64 mtime, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  struct archive_entry *entry = archive_entry_new ();
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  gboolean ok = TRUE;

  archive_entry_set_pathname (entry, name);
  archive_entry_set_filetype (entry, AE_IFREG);
  archive_entry_set_perm (entry, 0644);
  archive_entry_set_size (entry, size);
  archive_entry_set_mtime (entry, mtime, 0);
  if (archive_write_header (a, entry) != ARCHIVE_OK ||
      (size > 0 && archive_write_data (a, data, size) != (la_ssize_t) size) ||
      archive_write_finish_entry (a) != ARCHIVE_OK)
    {
      g_autofree char *why = archive_message (a);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                   _("cannot write %s into the package: %s"), name, why);
      ok = FALSE;
    }
  archive_entry_free (entry);
  return ok;
}

GBytes *
gemba_package_build (JsonObject *manifest, GBytes *weights, GBytes *onnx,
                     const char *model_card, GembaSecretKey *key, GError **error)
{
  g_autoptr(JsonObject) full = NULL;
  g_autoptr(JsonObject) members = NULL;
  g_autoptr(JsonObject) checked = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonGenerator) generator = NULL;
  g_autoptr(JsonBuilder) sig_builder = NULL;
  g_autoptr(JsonNode) sig_root = NULL;
  g_autoptr(GBytes) card = NULL;
  g_autoptr(GBytes) manifest_bytes = NULL;
  g_autoptr(GBytes) sig_bytes = NULL;
  g_autoptr(GByteArray) out = NULL;
  g_autoptr(GError) local_error = NULL;
  guint8 signature[GEMBA_SIGNATURE_BYTES];
  char sig_b64[sodium_base64_ENCODED_LEN (GEMBA_SIGNATURE_BYTES,
                                           sodium_base64_VARIANT_ORIGINAL)];
  char *text;
  gsize text_len;
  struct archive *a;
  gint64 mtime = g_get_real_time () / G_USEC_PER_SEC;
  gboolean ok;

  g_return_val_if_fail (manifest != NULL, NULL);
  g_return_val_if_fail (weights != NULL, NULL);
  g_return_val_if_fail (onnx != NULL, NULL);
  g_return_val_if_fail (model_card != NULL, NULL);
  g_return_val_if_fail (key != NULL, NULL);
  _gemba_sodium_init ();

  if (!g_utf8_validate (model_card, -1, NULL))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("the model card is not UTF-8 text"));
      return NULL;
    }
  card = g_bytes_new (model_card, strlen (model_card));

  /* A copy with the members' sizes and hashes, in the order the caller gave plus "members". */
  full = json_object_new ();
  {
    g_autoptr(GList) keys = json_object_get_members (manifest);
    for (GList *l = keys; l; l = l->next)
      if (!g_str_equal (l->data, "members"))
        json_object_set_member (full, l->data,
                                json_node_copy (json_object_get_member (manifest, l->data)));
  }
  members = json_object_new ();
  json_object_set_member (members, GEMBA_PACKAGE_WEIGHTS, member_node (weights));
  json_object_set_member (members, GEMBA_PACKAGE_ONNX, member_node (onnx));
  json_object_set_member (members, GEMBA_PACKAGE_MODEL_CARD, member_node (card));
  json_object_set_object_member (full, "members", json_object_ref (members));

  root = json_node_init_object (json_node_alloc (), full);
  generator = json_generator_new ();
  json_generator_set_pretty (generator, TRUE);
  json_generator_set_indent (generator, 2);
  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, &text_len);
  manifest_bytes = g_bytes_new_take (text, text_len);

  /* What Gemba writes, Gemba must read: the same validation as the reader's. */
  if (!(checked = gemba_package_parse_manifest (_("the new package"), text, text_len, FALSE,
                                                &local_error)))
    {
      g_set_error_literal (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, local_error->message);
      return NULL;
    }

  gemba_secret_key_sign (key, text, text_len, signature);
  sodium_bin2base64 (sig_b64, sizeof sig_b64, signature, sizeof signature,
                     sodium_base64_VARIANT_ORIGINAL);
  sig_builder = json_builder_new ();
  json_builder_begin_object (sig_builder);
  json_builder_set_member_name (sig_builder, "format");
  json_builder_add_string_value (sig_builder, "gemba-signature");
  json_builder_set_member_name (sig_builder, "version");
  json_builder_add_int_value (sig_builder, 1);
  json_builder_set_member_name (sig_builder, "algorithm");
  json_builder_add_string_value (sig_builder, "ed25519");
  json_builder_set_member_name (sig_builder, "key_id");
  json_builder_add_string_value (sig_builder, gemba_secret_key_get_id (key));
  json_builder_set_member_name (sig_builder, "signature");
  json_builder_add_string_value (sig_builder, sig_b64);
  json_builder_end_object (sig_builder);
  sig_root = json_builder_get_root (sig_builder);
  json_generator_set_root (generator, sig_root);
  text = json_generator_to_data (generator, &text_len);
  sig_bytes = g_bytes_new_take (text, text_len);

  out = g_byte_array_new ();
  a = archive_write_new ();
  archive_write_set_format_zip (a);
  archive_write_set_options (a, "zip:compression=deflate");
  archive_write_set_bytes_in_last_block (a, 1);
  if (archive_write_open2 (a, out, NULL, write_to_array_cb, NULL, NULL) != ARCHIVE_OK)
    {
      g_autofree char *why = archive_message (a);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED, _("cannot write the package: %s"),
                   why);
      archive_write_free (a);
      return NULL;
    }
  ok = add_entry (a, GEMBA_PACKAGE_MANIFEST, manifest_bytes, mtime, error) &&
       add_entry (a, GEMBA_PACKAGE_SIGNATURE, sig_bytes, mtime, error) &&
       add_entry (a, GEMBA_PACKAGE_MODEL_CARD, card, mtime, error) &&
       add_entry (a, GEMBA_PACKAGE_WEIGHTS, weights, mtime, error) &&
       add_entry (a, GEMBA_PACKAGE_ONNX, onnx, mtime, error);
  if (ok && archive_write_close (a) != ARCHIVE_OK)
    {
      g_autofree char *why = archive_message (a);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED, _("cannot write the package: %s"),
                   why);
      ok = FALSE;
    }
  archive_write_free (a);
  if (!ok)
    return NULL;
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/* The temporary file of a package being written beside @path: hidden, and named so that no
 * file of the user's can look like one (a bare "NAME.XXXXXX" would match "NAME.backup"). */
static char *
temporary_name (const char *path, const char *suffix)
{
  g_autofree char *folder = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *name = g_strconcat (".", base, ".export-", suffix, NULL);

  return g_build_filename (folder, name, NULL);
}

/* Temporary files ".NAME.export-XXXXXX" next to @path that an earlier write left. A writer holds an
 * exclusive flock on its temporary file until it is renamed (see write_locked), so one whose
 * lock can be taken belongs to a process that is gone (killed mid-way). */
static void
remove_stale_temporaries (const char *path)
{
  g_autofree char *folder = g_path_get_dirname (path);
  g_autofree char *template = temporary_name (path, "");
  g_autofree char *prefix = g_path_get_basename (template);
  g_autoptr(GDir) dir = g_dir_open (folder, 0, NULL);
  size_t len = strlen (prefix);
  const char *name;

  while (dir && (name = g_dir_read_name (dir)))
    {
      g_autofree char *full = NULL;
      gboolean ours = strlen (name) == len + 6 && strncmp (name, prefix, len) == 0;
      struct stat st;
      int fd;

      for (size_t i = len; ours && i < len + 6; i++)
        ours = g_ascii_isalnum (name[i]);
      if (!ours)
        continue;
      full = g_build_filename (folder, name, NULL);
      if ((fd = open (full, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        continue;
      if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode) && flock (fd, LOCK_EX | LOCK_NB) == 0)
        g_unlink (full);
      close (fd);
    }
}

/* Writes @data to a temporary file beside @path under an exclusive flock, fsyncs it and renames
 * it over @path: a reader sees the old package or the new one, never part of one. */
static gboolean
write_locked (const char *path, const void *data, gsize size, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *tmp = NULL;
  const guint8 *p = data;
  int fd = -1, saved;

  /* A cleaner may take the lock between mkstemp and flock and remove the file: then the name no
   * longer leads to this file, and another is made. */
  for (int attempt = 0; attempt < 5 && fd < 0; attempt++)
    {
      struct stat a, b;

      g_free (tmp);
      tmp = temporary_name (path, "XXXXXX");
      if ((fd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, 0644)) < 0)
        goto fail;
      if (flock (fd, LOCK_EX) != 0 || fstat (fd, &a) != 0 || stat (tmp, &b) != 0 ||
          a.st_ino != b.st_ino || a.st_dev != b.st_dev)
        {
          close (fd);
          fd = -1;
        }
    }
  if (fd < 0)
    {
      errno = EAGAIN;
      goto fail;
    }
  while (size > 0)
    {
      gssize n = write (fd, p, size);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          if (n == 0)
            errno = EIO;
          goto fail;
        }
      p += n;
      size -= n;
    }
  if (fsync (fd) != 0 || g_rename (tmp, path) != 0)
    goto fail;
  close (fd);
  {
    int dir_fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0)
      {
        fsync (dir_fd);
        close (dir_fd);
      }
  }
  return TRUE;

fail:
  saved = errno;
  if (fd >= 0)
    {
      g_unlink (tmp);
      close (fd);
    }
  g_set_error_literal (error, G_FILE_ERROR, g_file_error_from_errno (saved), g_strerror (saved));
  return FALSE;
}

gboolean
gemba_package_write (const char *path, JsonObject *manifest, GBytes *weights, GBytes *onnx,
                     const char *model_card, GembaSecretKey *key, GError **error)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize size;
  const char *data;

  g_return_val_if_fail (path != NULL, FALSE);

  if (!(bytes = gemba_package_build (manifest, weights, onnx, model_card, key, error)))
    return FALSE;
  data = g_bytes_get_data (bytes, &size);
  remove_stale_temporaries (path);
  if (!write_locked (path, data, size, &local_error))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot write the package: %s"),
                   path, local_error->message);
      return FALSE;
    }
  return TRUE;
}

/* --- reading --------------------------------------------------------------------------- */

static GembaPackage *
package_new (const char *name)
{
  GembaPackage *self = g_new0 (GembaPackage, 1);

  g_atomic_ref_count_init (&self->ref_count);
  self->name = g_strdup (name);
  self->members = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) g_bytes_unref);
  return self;
}

static gboolean
refuse (GError **error, GembaPackage *self, const char *member, const char *problem)
{
  g_autofree char *shown = printable (member);
  /* TRANSLATORS: "<package>: member <name> <problem>; refused" */
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY, _("%s: member %s %s; refused"),
               self->name, shown, problem);
  return FALSE;
}

static gboolean
is_absolute (const char *path)
{
  return path[0] == '/' || path[0] == '\\' ||
         (g_ascii_isalpha (path[0]) && path[1] == ':');
}

/* Byte by byte: names from an archive need not be UTF-8 (GRegex would refuse them). */
static gboolean
has_dotdot (const char *path)
{
  const char *start = path;

  for (const char *p = path;; p++)
    if (*p == '/' || *p == '\\' || *p == '\0')
      {
        if (p - start == 2 && start[0] == '.' && start[1] == '.')
          return TRUE;
        if (*p == '\0')
          return FALSE;
        start = p + 1;
      }
}

static guint64
member_limit (const char *name, const GembaPackageLimits *limits)
{
  if (g_str_equal (name, GEMBA_PACKAGE_SIGNATURE))
    return MAX_SIGNATURE_SIZE;
  if (g_str_equal (name, GEMBA_PACKAGE_MANIFEST) || g_str_equal (name,
                                                                GEMBA_PACKAGE_MODEL_CARD))
    return limits->max_text_size;
  return limits->max_binary_size;
}

static gboolean
known_member (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (member_names); i++)
    if (g_str_equal (name, member_names[i]))
      return TRUE;
  return FALSE;
}

/* Checks one entry's header; on success its data may be read. */
static gboolean
check_entry (GembaPackage *self, struct archive_entry *entry, const char *name, guint index,
             const GembaPackageLimits *limits, GError **error)
{
  mode_t type = archive_entry_filetype (entry);
  g_autofree char *message = NULL;

  if (is_absolute (name))
    return refuse (error, self, name, _("has an absolute path"));
  if (has_dotdot (name))
    return refuse (error, self, name, _("has a path outside the package"));
  if (archive_entry_hardlink (entry) != NULL)
    return refuse (error, self, name, _("is a hard link"));
  if (type == AE_IFLNK || archive_entry_symlink (entry) != NULL)
    return refuse (error, self, name, _("is a symbolic link"));
  if (type == AE_IFDIR)
    return refuse (error, self, name, _("is a folder (a package has no folders)"));
  if (type != AE_IFREG)
    return refuse (error, self, name, _("is not a regular file"));
  if (archive_entry_is_encrypted (entry))
    return refuse (error, self, name, _("is encrypted"));
  if (!known_member (name))
    return refuse (error, self, name,
                   _("is not part of a Gemba package (manifest.json, manifest.sig, "
                     "weights.bin, model.onnx, MODEL_CARD.md)"));
  if (g_hash_table_contains (self->members, name))
    return refuse (error, self, name, _("appears twice"));
  /* Implied by the two checks above; kept so that no change to them can lift the bound. */
  if (index >= GEMBA_PACKAGE_N_MEMBERS)
    return refuse (error, self, name, _("is one more than the five a package has"));
  if (archive_entry_size_is_set (entry) &&
      (archive_entry_size (entry) < 0 ||
       (guint64) archive_entry_size (entry) > member_limit (name, limits)))
    {
      message = g_strdup_printf (_("declares %" PRId64 " bytes, more than the limit "
                                   "of %" PRIu64), archive_entry_size (entry),
                                 member_limit (name, limits));
      return refuse (error, self, name, message);
    }
  return TRUE;
}

/* Reads the current entry's data, stopping as soon as it passes @limit or the total limit. */
static GBytes *
read_entry_data (GembaPackage *self, struct archive *a, struct archive_entry *entry,
                 const char *name, guint64 limit, guint64 *total,
                 const GembaPackageLimits *limits, GError **error)
{
  /* The declared size is checked against the limit, but it may still lie: reserve little. */
  g_autoptr(GByteArray) data =
    g_byte_array_sized_new (archive_entry_size_is_set (entry)
                              ? MIN ((guint64) archive_entry_size (entry), 16 * MiB) : 0);
  g_autofree guint8 *chunk = g_malloc (READ_CHUNK);

  for (;;)
    {
      gsize want = READ_CHUNK;
      la_ssize_t n;

      /* Ask for no more than one byte past the declared size. */
      if (archive_entry_size_is_set (entry) && archive_entry_size (entry) >= 0)
        want = MIN (want, (guint64) archive_entry_size (entry) + 1 - data->len);
      n = archive_read_data (a, chunk, want);
      if (n == 0)
        break;
      if (n < 0)
        {
          g_autofree char *shown = printable (name);
          g_autofree char *why = archive_message (a);
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                       _("%s: member %s cannot be read: %s"), self->name, shown,
                       why);
          return NULL;
        }
      /* A member may hold more than its header declares: stop at the declared size + 1
       * rather than inflating it up to the member limit. */
      if (archive_entry_size_is_set (entry) &&
          (guint64) data->len + n > (guint64) archive_entry_size (entry))
        {
          g_autofree char *message =
            g_strdup_printf (_("holds more than the %" PRId64 " bytes it declares"),
                             archive_entry_size (entry));
          refuse (error, self, name, message);
          return NULL;
        }
      if ((guint64) data->len + n > limit)
        {
          g_autofree char *message =
            g_strdup_printf (_("decompresses to more than the limit of %" PRIu64
                               " bytes"), limit);
          refuse (error, self, name, message);
          return NULL;
        }
      if (*total + n > limits->max_total_size)
        {
          g_autofree char *message =
            g_strdup_printf (_("brings the package past the limit of %" PRIu64
                               " bytes in all"), limits->max_total_size);
          refuse (error, self, name, message);
          return NULL;
        }
      *total += n;
      g_byte_array_append (data, chunk, n);
    }
  if (archive_entry_size_is_set (entry) && (gint64) data->len != archive_entry_size (entry))
    {
      g_autofree char *message =
        g_strdup_printf (_("declares %" PRId64 " bytes but holds %u"),
                         archive_entry_size (entry), data->len);
      refuse (error, self, name, message);
      return NULL;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&data));
}

static gboolean
read_members (GembaPackage *self, struct archive *a, const GembaPackageLimits *limits,
              GError **error)
{
  struct archive_entry *entry;
  guint64 total = 0;
  guint index = 0;

  for (;; index++)
    {
      const char *name;
      GBytes *bytes;
      int r = archive_read_next_header (a, &entry);

      if (r == ARCHIVE_EOF)
        break;
      if (r != ARCHIVE_OK)
        {
          g_autofree char *why = archive_message (a);
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                       index == 0 ? _("%s: not a complete ZIP archive: %s")
                                  : _("%s: the archive is damaged: %s"),
                       self->name, why);
          return FALSE;
        }
      name = archive_entry_pathname (entry);
      if (name == NULL)
        return refuse (error, self, "?", _("has a name that is not readable"));
      if (!check_entry (self, entry, name, index, limits, error))
        return FALSE;
      if (!(bytes = read_entry_data (self, a, entry, name, member_limit (name, limits), &total,
                                     limits, error)))
        return FALSE;
      g_hash_table_insert (self->members, g_strdup (name), bytes);
    }

  if (!g_hash_table_contains (self->members, GEMBA_PACKAGE_SIGNATURE))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY,
                   _("%s: the package is not signed (it has no manifest.sig); refused"),
                   self->name);
      return FALSE;
    }
  for (guint i = 0; i < G_N_ELEMENTS (member_names); i++)
    if (!g_hash_table_contains (self->members, member_names[i]))
      {
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                     _("%s: the package lacks %s"), self->name, member_names[i]);
        return FALSE;
      }
  return TRUE;
}

static gboolean
parse_signature (GembaPackage *self, GError **error)
{
  GBytes *bytes = g_hash_table_lookup (self->members, GEMBA_PACKAGE_SIGNATURE);
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) local_error = NULL;
  JsonObject *sig;
  JsonNode *node;
  const char *id;
  const char *b64;
  size_t bin_len = 0;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  if (!(root = parse_json (self->name, GEMBA_PACKAGE_SIGNATURE, data, len, &local_error)))
    goto damaged;
  sig = json_node_get_object (root);
#define STRING_MEMBER(key) \
  ((node = json_object_get_member (sig, key)) && is_string (node) ? json_node_get_string (node) \
                                                                  : NULL)
  if (g_strcmp0 (STRING_MEMBER ("format"), "gemba-signature") != 0 ||
      !(node = json_object_get_member (sig, "version")) || !is_int (node) ||
      json_node_get_int (node) != 1 ||
      g_strcmp0 (STRING_MEMBER ("algorithm"), "ed25519") != 0 ||
      !(id = STRING_MEMBER ("key_id")) || strlen (id) != GEMBA_KEY_ID_LEN ||
      !(b64 = STRING_MEMBER ("signature")))
    goto damaged;
#undef STRING_MEMBER
  for (guint i = 0; i < GEMBA_KEY_ID_LEN; i++)
    if (!g_ascii_isxdigit (id[i]))
      goto damaged;
  if (sodium_base642bin (self->signature, sizeof self->signature, b64, strlen (b64), NULL,
                         &bin_len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      bin_len != sizeof self->signature)
    goto damaged;
  memcpy (self->key_id, id, GEMBA_KEY_ID_LEN + 1);
  return TRUE;

damaged:
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY,
               _("%s: manifest.sig is not a valid Gemba signature%s%s; refused"), self->name,
               local_error ? ": " : "", local_error ? local_error->message : "");
  return FALSE;
}

gboolean
gemba_package_verify (GembaPackage *self, GembaTrust *trust, GError **error)
{
  GembaPublicKey *key;
  GBytes *manifest;
  gsize len;
  const guint8 *data;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (trust != NULL, FALSE);

  if (!(key = gemba_trust_lookup (trust, self->key_id)))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY,
                   _("%s: signed by key %s, which is not a trusted key; refused"), self->name,
                   self->key_id);
      return FALSE;
    }
  manifest = g_hash_table_lookup (self->members, GEMBA_PACKAGE_MANIFEST);
  data = g_bytes_get_data (manifest, &len);
  if (!gemba_public_key_verify (key, self->signature, data, len))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY,
                   _("%s: the signature does not match the manifest (altered after signing, or "
                     "signed by another key than %s); refused"), self->name, self->key_id);
      return FALSE;
    }
  self->verified = TRUE;
  return TRUE;
}

static gboolean
check_hashes (GembaPackage *self, GError **error)
{
  JsonObject *members = json_object_get_object_member (self->manifest, "members");

  for (guint i = 0; i < G_N_ELEMENTS (hashed_members); i++)
    {
      const char *name = hashed_members[i];
      JsonObject *member = json_object_get_object_member (members, name);
      GBytes *bytes = g_hash_table_lookup (self->members, name);
      g_autofree char *sha = sha256_hex (bytes);

      if ((gint64) g_bytes_get_size (bytes) != json_object_get_int_member (member, "size") ||
          !g_str_equal (sha, json_object_get_string_member (member, "sha256")))
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY,
                       _("%s: member %s does not match the manifest (SHA-256 %s, the manifest "
                         "says %s); the package was altered; refused"), self->name, name, sha,
                       json_object_get_string_member (member, "sha256"));
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
finish_reading (GembaPackage *self, GembaTrust *trust, GError **error)
{
  GBytes *manifest;
  GBytes *card;
  JsonArray *classes;
  gsize len;
  const char *data;

  if (!parse_signature (self, error))
    return FALSE;
  /* With a trust, nothing of the manifest is parsed before its signature is verified. */
  if (trust && !gemba_package_verify (self, trust, error))
    return FALSE;

  manifest = g_hash_table_lookup (self->members, GEMBA_PACKAGE_MANIFEST);
  data = g_bytes_get_data (manifest, &len);
  if (!(self->manifest = gemba_package_parse_manifest (self->name, data, len, FALSE, error)))
    return FALSE;
  if (!check_hashes (self, error))
    return FALSE;

  card = g_hash_table_lookup (self->members, GEMBA_PACKAGE_MODEL_CARD);
  data = g_bytes_get_data (card, &len);
  if (memchr (data, '\0', len) || !g_utf8_validate_len (data, len, NULL))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: MODEL_CARD.md is not UTF-8 text"), self->name);
      return FALSE;
    }
  /* Keep it NUL-terminated for gemba_package_get_model_card(). */
  g_hash_table_insert (self->members, g_strdup (GEMBA_PACKAGE_MODEL_CARD),
                       g_bytes_new_take (g_strndup (data, len), len));

  classes = json_object_get_array_member (self->manifest, "classes");
  self->classes = g_new0 (char *, json_array_get_length (classes) + 1);
  for (guint i = 0; i < json_array_get_length (classes); i++)
    self->classes[i] = g_strdup (json_array_get_string_element (classes, i));
  return TRUE;
}

static struct archive *
new_reader (void)
{
  struct archive *a = archive_read_new ();

  /* ZIP only, read from its central directory; no other format, no compression filter. */
  archive_read_support_format_zip_seekable (a);
  return a;
}

GembaPackage *
gemba_package_open_bytes (GBytes *bytes, const char *name, GembaTrust *trust,
                          const GembaPackageLimits *limits, GError **error)
{
  g_autoptr(GembaPackage) self = NULL;
  g_autoptr(GembaArchive) a = NULL;
  GembaPackageLimits defaults;
  gsize size;
  const guint8 *data;

  g_return_val_if_fail (bytes != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  _gemba_sodium_init ();

  if (limits == NULL)
    gemba_package_limits_init (&defaults), limits = &defaults;
  self = package_new (name);
  data = g_bytes_get_data (bytes, &size);
  if (size > limits->max_archive_size)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY,
                   _("%s: the package is larger than the limit of %" PRIu64 " bytes; "
                     "refused"), name, limits->max_archive_size);
      return NULL;
    }
  a = new_reader ();
  if (archive_read_open_memory (a, data ? data : (const guint8 *) "", size) != ARCHIVE_OK)
    {
      g_autofree char *why = archive_message (a);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: not a complete ZIP archive: %s"), name, why);
      return NULL;
    }
  if (!read_members (self, a, limits, error) || !finish_reading (self, trust, error))
    return NULL;
  return g_steal_pointer (&self);
}

GembaPackage *
gemba_package_open (const char *path, GembaTrust *trust, const GembaPackageLimits *limits,
                    GError **error)
{
  g_autoptr(GembaPackage) self = NULL;
  g_autoptr(GembaArchive) a = NULL;
  GembaPackageLimits defaults;
  struct stat st;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);
  _gemba_sodium_init ();

  if (limits == NULL)
    gemba_package_limits_init (&defaults), limits = &defaults;
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, GEMBA_ERROR,
                   saved == ENOENT ? GEMBA_ERROR_NOT_FOUND : GEMBA_ERROR_IO,
                   _("%s: cannot open the package: %s"), path, g_strerror (saved));
      return NULL;
    }
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, _("%s: not a regular file"), path);
      return NULL;
    }
  if ((guint64) st.st_size > limits->max_archive_size)
    {
      close (fd);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY,
                   _("%s: the package is larger than the limit of %" PRIu64 " bytes; "
                     "refused"), path, limits->max_archive_size);
      return NULL;
    }
  self = package_new (path);
  a = new_reader ();
  if (archive_read_open_fd (a, fd, READ_CHUNK) != ARCHIVE_OK)
    {
      g_autofree char *why = archive_message (a);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: not a complete ZIP archive: %s"), path, why);
      close (fd);
      return NULL;
    }
  if (!read_members (self, a, limits, error))
    {
      close (fd);
      return NULL;
    }
  close (fd);
  if (!finish_reading (self, trust, error))
    return NULL;
  return g_steal_pointer (&self);
}

GembaPackage *
gemba_package_load (const char *path, GembaTrust *trust, GError **error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (trust != NULL, NULL);
  return gemba_package_open (path, trust, NULL, error);
}

GembaPackage *
gemba_package_ref (GembaPackage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_atomic_ref_count_inc (&self->ref_count);
  return self;
}

void
gemba_package_unref (GembaPackage *self)
{
  g_return_if_fail (self != NULL);
  if (!g_atomic_ref_count_dec (&self->ref_count))
    return;
  g_free (self->name);
  g_hash_table_unref (self->members);
  g_clear_pointer (&self->manifest, json_object_unref);
  g_strfreev (self->classes);
  g_free (self);
}

const char *
gemba_package_get_name (GembaPackage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->name;
}

gboolean
gemba_package_is_verified (GembaPackage *self)
{
  g_return_val_if_fail (self != NULL, FALSE);
  return self->verified;
}

const char *
gemba_package_get_key_id (GembaPackage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->key_id;
}

JsonObject *
gemba_package_get_manifest (GembaPackage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return self->manifest;
}

GBytes *
gemba_package_get_manifest_bytes (GembaPackage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return g_hash_table_lookup (self->members, GEMBA_PACKAGE_MANIFEST);
}

GBytes *
gemba_package_get_member (GembaPackage *self, const char *member)
{
  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (member != NULL, NULL);
  return g_hash_table_lookup (self->members, member);
}

const char *
gemba_package_get_model_card (GembaPackage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return g_bytes_get_data (g_hash_table_lookup (self->members, GEMBA_PACKAGE_MODEL_CARD), NULL);
}

const char * const *
gemba_package_get_classes (GembaPackage *self)
{
  g_return_val_if_fail (self != NULL, NULL);
  return (const char * const *) self->classes;
}
