/* gemba-cli-spool.c: `gemba import` of a spool written by the gembaclassify element
 *
 * A spool holds LINE/DAY/NAME.png + NAME.json records; the JSON sidecar is written last, so
 * a record without one is still being written and is left alone. Each record becomes a frame
 * whose source is the line; the element's scores become that frame's prediction by the
 * project model the package was exported from (found by the manifest's weights sha256), and the
 * package itself (sha256, name, version) is recorded with the frame. Frames are
 * content-addressed, so importing a spool again stores nothing twice; predictions are written
 * for already-stored frames too, so a run killed between the two is completed by the next one.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-cli"

#include "config.h"

#include <inttypes.h>
#include <glib/gi18n.h>
#include <string.h>

#include "gemba-cli.h"

#define SPOOL_RECORD_FORMAT "gemba-spool-record"
#define SPOOL_BATCH 128
#define SPOOL_BATCH_USEC (G_USEC_PER_SEC / 2)

/* The record sidecars (@drift: the drift records instead) under @dir, depth ≤ @depth. */
static void
collect (const char *dir, int depth, gboolean drift, GPtrArray *out)
{
  g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;

  while (handle && (name = g_dir_read_name (handle)))
    {
      g_autofree char *path = NULL;

      if (name[0] == '.')
        continue;
      path = g_build_filename (dir, name, NULL);
      if (g_str_has_suffix (name, ".json") && g_file_test (path, G_FILE_TEST_IS_REGULAR))
        {
          if (g_str_has_suffix (name, ".drift.json") == drift)
            g_ptr_array_add (out, g_steal_pointer (&path));
        }
      else if (depth > 0 && g_file_test (path, G_FILE_TEST_IS_DIR))
        collect (path, depth - 1, drift, out);
    }
}

static int
compare_paths (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(char * const *) a, *(char * const *) b);
}

static JsonObject *
read_record (const char *path, JsonParser *parser, GError **error)
{
  JsonNode *root;
  JsonObject *o;

  if (!json_parser_load_from_file (parser, path, error))
    return NULL;
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root) ||
      g_strcmp0 (json_object_get_string_member_with_default (
                   (o = json_node_get_object (root)), "format", NULL), SPOOL_RECORD_FORMAT) != 0)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, _("not a spool record"));
      return NULL;
    }
  return o;
}

gboolean
gemba_cli_is_spool (const char *dir)
{
  g_autoptr(GPtrArray) sidecars = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(JsonParser) parser = json_parser_new ();

  /* A spool root, a line's folder or a day's folder. */
  collect (dir, 2, FALSE, sidecars);
  for (guint i = 0; i < sidecars->len && i < 8; i++)
    if (read_record (sidecars->pdata[i], parser, NULL))
      return TRUE;
  return FALSE;
}

/* One record read and checked, waiting for its batch to commit. */
typedef struct
{
  char *sidecar;
  GembaFrame *frame;
  gboolean duplicate;
  gint64 model_id;           /* 0: the package's model is not in this project */
  guint n_classes;
  float *scores;
  gint64 *class_ids;
} SpoolRecord;

static void
spool_record_clear (gpointer data)
{
  SpoolRecord *r = data;

  g_free (r->sidecar);
  g_clear_pointer (&r->frame, gemba_frame_free);
  g_free (r->scores);
  g_free (r->class_ids);
}

typedef struct
{
  GembaStore *store;
  GPtrArray *models;         /* GembaModelRecord */
  GHashTable *unknown;       /* package sha256s already reported as not from this project */
  gboolean quiet, json;
  gint64 n_stored, n_duplicates, n_failed, n_predictions;
} SpoolImport;

static gint64
find_model (SpoolImport *imp, JsonObject *package, const char *sidecar)
{
  const char *weights = json_object_get_string_member_with_default (package, "weights_sha256",
                                                                    NULL);
  const char *sha = json_object_get_string_member_with_default (package, "sha256", "");

  for (guint i = 0; weights && i < imp->models->len; i++)
    {
      GembaModelRecord *m = imp->models->pdata[i];
      if (g_strcmp0 (m->weights_sha256, weights) == 0)
        return m->id;
    }
  if (!g_hash_table_contains (imp->unknown, sha))
    {
      g_hash_table_add (imp->unknown, g_strdup (sha));
      if (!imp->quiet)
        g_printerr (_("gemba: %s: package %s %s was not exported from this project; its frames "
                      "are imported without the package’s verdict\n"),
                    sidecar, json_object_get_string_member_with_default (package, "name", "?"),
                    json_object_get_string_member_with_default (package, "version", "?"));
    }
  return 0;
}

/* Reads and checks one record and adds its frame to the open batch. */
static gboolean
import_record (SpoolImport *imp, const char *sidecar, SpoolRecord *out, GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) local = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GDateTime) when = NULL;
  g_autofree char *image_path = NULL, *contents = NULL, *sha = NULL;
  JsonObject *o, *image, *package;
  JsonArray *classes, *scores;
  GembaImageFormat format;
  GembaFrameInfo info;
  guint width, height;
  gsize length;
  const char *line, *expected;

  if (!(o = read_record (sidecar, parser, &local)))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, _("%s: damaged spool record: %s"),
                   sidecar, local->message);
      return FALSE;
    }
  line = json_object_get_string_member_with_default (o, "line", NULL);
  image = json_object_has_member (o, "image") ? json_object_get_object_member (o, "image") : NULL;
  package = json_object_has_member (o, "package") ?
            json_object_get_object_member (o, "package") : NULL;
  classes = json_object_has_member (o, "classes") ?
            json_object_get_array_member (o, "classes") : NULL;
  scores = json_object_has_member (o, "scores") ? json_object_get_array_member (o, "scores") :
           NULL;
  expected = image ? json_object_get_string_member_with_default (image, "sha256", NULL) : NULL;
  if (!line || !expected || !package || !classes || !scores ||
      json_array_get_length (classes) == 0 ||
      json_array_get_length (classes) != json_array_get_length (scores))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("%s: damaged spool record: line, image, package, classes or scores missing"),
                   sidecar);
      return FALSE;
    }

  {
    g_autofree char *stem = g_strndup (sidecar, strlen (sidecar) - strlen (".json"));
    image_path = g_strconcat (stem, ".png", NULL);
  }
  if (!g_file_get_contents (image_path, &contents, &length, &local))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                   _("%s: damaged spool record: its image cannot be read: %s"), sidecar,
                   local->message);
      return FALSE;
    }
  bytes = g_bytes_new_take (g_steal_pointer (&contents), length);
  sha = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, bytes);
  if (g_ascii_strcasecmp (sha, expected) != 0)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("%s: damaged spool record: the image’s sha256 is %.12s…, the record says "
                     "%.12s…"), image_path, sha, expected);
      return FALSE;
    }
  if (!gemba_image_probe (g_bytes_get_data (bytes, NULL), length, image_path, &format, &width,
                          &height, error))
    return FALSE;

  gemba_frame_info_init (&info);
  info.source_name = line;
  info.source_kind = "line";
  info.original_name = image_path;
  /* Recorded with the frame, so the workbench can show a line's frames by package version. */
  info.package_sha256 = json_object_get_string_member_with_default (package, "sha256", NULL);
  info.package_name = json_object_get_string_member_with_default (package, "name", NULL);
  info.package_version = json_object_get_string_member_with_default (package, "version", NULL);
  if ((when = g_date_time_new_from_iso8601 (
         json_object_get_string_member_with_default (o, "time", ""), NULL)))
    info.captured_at = g_date_time_to_unix (when) * G_USEC_PER_SEC +
                       g_date_time_get_microsecond (when);
  if (json_object_has_member (o, "pts") && !json_object_get_null_member (o, "pts"))
    info.stream_time = json_object_get_int_member (o, "pts");
  if (!(out->frame = gemba_store_add_frame (imp->store, bytes, gemba_image_format_extension (format),
                                            width, height, &info, &out->duplicate, &local)))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, "%s: %s", sidecar, local->message);
      return FALSE;
    }

  out->sidecar = g_strdup (sidecar);
  out->model_id = find_model (imp, package, sidecar);
  out->n_classes = json_array_get_length (classes);
  out->scores = g_new (float, out->n_classes);
  out->class_ids = g_new0 (gint64, out->n_classes);
  for (guint k = 0; k < out->n_classes; k++)
    {
      g_autoptr(GembaClass) klass = gemba_store_find_class (
        imp->store, json_array_get_string_element (classes, k), NULL);
      out->scores[k] = json_array_get_double_element (scores, k);
      out->class_ids[k] = klass ? klass->id : 0;
    }
  return TRUE;
}

/* Stores the verdicts of the batch's frames by model @model_id, in one transaction. */
static void
save_verdicts (SpoolImport *imp, GArray *pending, gint64 model_id)
{
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GArray) scores = g_array_new (FALSE, FALSE, sizeof (float));
  g_autoptr(GError) error = NULL;
  SpoolRecord *first = NULL;

  for (guint i = 0; i < pending->len; i++)
    {
      SpoolRecord *r = &g_array_index (pending, SpoolRecord, i);
      if (r->model_id != model_id)
        continue;
      /* One model: the same classes in the same order (found by its weights). */
      if (!first)
        first = r;
      g_return_if_fail (r->n_classes == first->n_classes);
      g_array_append_val (ids, r->frame->id);
      g_array_append_vals (scores, r->scores, r->n_classes);
    }
  if (!first)
    return;
  if (!gemba_store_save_predictions (imp->store, model_id, ids->len, (gint64 *) ids->data,
                                     (float *) scores->data, first->n_classes, first->class_ids,
                                     &error))
    gemba_cli_error ("%s: %s", first->sidecar, error->message);
  else
    imp->n_predictions += ids->len;
}

/* Commits the open batch, then stores the verdicts of its frames, new and already stored. */
static void
flush (SpoolImport *imp, GArray *pending)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) models = g_hash_table_new (g_int64_hash, g_int64_equal);

  if (!gemba_store_commit_batch (imp->store, &error))
    {
      gemba_cli_error ("%s", error->message);
      imp->n_failed += pending->len;
      g_array_set_size (pending, 0);
      return;
    }
  for (guint i = 0; i < pending->len; i++)
    {
      SpoolRecord *r = &g_array_index (pending, SpoolRecord, i);

      if (r->model_id && !g_hash_table_contains (models, &r->model_id))
        {
          g_hash_table_add (models, &r->model_id);
          save_verdicts (imp, pending, r->model_id);
        }
      if (r->duplicate)
        imp->n_duplicates++;
      else
        imp->n_stored++;
      if (imp->json)
        {
          g_autoptr(JsonBuilder) b = json_builder_new ();
          g_autoptr(JsonNode) root = NULL;
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "file");
          json_builder_add_string_value (b, r->sidecar);
          json_builder_set_member_name (b, "id");
          json_builder_add_string_value (b, r->frame->sha256);
          json_builder_set_member_name (b, "duplicate");
          json_builder_add_boolean_value (b, r->duplicate);
          json_builder_set_member_name (b, "model");
          json_builder_add_int_value (b, r->model_id);
          json_builder_end_object (b);
          root = json_builder_get_root (b);
          gemba_cli_print_json (root);
        }
    }
  g_array_set_size (pending, 0);
}

int
gemba_cli_import_spool (GembaStore *store, const char *dir, gboolean quiet, gboolean json,
                        gint64 *n_stored, gint64 *n_duplicates, gint64 *n_failed)
{
  g_autoptr(GPtrArray) sidecars = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GArray) pending = g_array_new (FALSE, TRUE, sizeof (SpoolRecord));
  g_autoptr(GHashTable) unknown = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GPtrArray) models = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaCliProgress) progress = NULL;
  GCancellable *cancellable = gemba_cli_interrupt_cancellable ();
  SpoolImport imp = { store, NULL, unknown, quiet, json, 0, 0, 0, 0 };
  gboolean in_batch = FALSE;
  gint64 batch_started = 0;
  guint i;

  g_array_set_clear_func (pending, spool_record_clear);
  if (!(models = gemba_store_list_models (store, &error)))
    return gemba_cli_fail (g_steal_pointer (&error));
  imp.models = models;
  collect (dir, 2, FALSE, sidecars);
  g_ptr_array_sort (sidecars, compare_paths);
  progress = gemba_cli_progress_new (_("Importing the spool"), sidecars->len,
                                     quiet || sidecars->len < 50);

  for (i = 0; i < sidecars->len && !g_cancellable_is_cancelled (cancellable); i++)
    {
      SpoolRecord record = { 0 };
      g_autoptr(GError) local = NULL;

      if (!in_batch)
        {
          if (!gemba_store_begin_batch (store, &local))
            {
              gemba_cli_error ("%s", local->message);
              imp.n_failed++;
              break;
            }
          in_batch = TRUE;
          batch_started = g_get_monotonic_time ();
        }
      if (!import_record (&imp, sidecars->pdata[i], &record, &local))
        {
          spool_record_clear (&record);
          gemba_cli_error ("%s", local->message);
          imp.n_failed++;
        }
      else
        g_array_append_val (pending, record);
      /* Small batches: a run killed part-way keeps what it committed. */
      if (pending->len >= SPOOL_BATCH ||
          g_get_monotonic_time () - batch_started > SPOOL_BATCH_USEC)
        {
          flush (&imp, pending);
          in_batch = FALSE;
        }
      gemba_cli_progress_update (progress, i + 1, NULL);
    }
  if (in_batch)
    flush (&imp, pending);
  g_clear_pointer (&progress, gemba_cli_progress_free);
  if (!quiet && imp.n_predictions)
    g_printerr (g_dngettext (GETTEXT_PACKAGE, "%s: %" PRId64 " verdict of the line "
                             "stored as its model’s prediction\n",
                             "%s: %" PRId64 " verdicts of the line stored as their "
                             "model’s predictions\n", imp.n_predictions),
                dir, imp.n_predictions);
  *n_stored += imp.n_stored;
  *n_duplicates += imp.n_duplicates;
  *n_failed += imp.n_failed;
  if (i < sidecars->len)
    return 130;
  return imp.n_failed ? GEMBA_EXIT_FAILED : GEMBA_EXIT_OK;
}

/* --- gemba monitor ------------------------------------------------------------------------ */

typedef struct
{
  char *line, *day;
  gint64 records, ok, reject, uncertain;
  gint64 sampled, sampled_uncertain;
  gint64 alarms;
  GHashTable *shifted;       /* what drifted, as a set */
} MonitorRow;

static void
monitor_row_free (gpointer data)
{
  MonitorRow *row = data;

  g_free (row->line);
  g_free (row->day);
  g_hash_table_unref (row->shifted);
  g_free (row);
}

static MonitorRow *
monitor_row (GHashTable *rows, JsonObject *o)
{
  const char *line = json_object_get_string_member_with_default (o, "line", "?");
  const char *time = json_object_get_string_member_with_default (o, "time", "");
  g_autofree char *day = g_strndup (time, 10);
  g_autofree char *key = g_strconcat (line, "\n", day, NULL);
  MonitorRow *row = g_hash_table_lookup (rows, key);

  if (row == NULL)
    {
      row = g_new0 (MonitorRow, 1);
      row->line = g_strdup (line);
      row->day = g_steal_pointer (&day);
      row->shifted = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_hash_table_insert (rows, g_steal_pointer (&key), row);
    }
  return row;
}

static int
compare_rows (gconstpointer a, gconstpointer b)
{
  const MonitorRow *x = *(MonitorRow * const *) a, *y = *(MonitorRow * const *) b;
  int c = g_strcmp0 (x->line, y->line);

  return c ? c : g_strcmp0 (x->day, y->day);
}

static char *
shifted_list (MonitorRow *row)
{
  g_autoptr(GPtrArray) names = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, row->shifted);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (names, key);
  g_ptr_array_sort (names, compare_paths);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (",", (char **) names->pdata);
}

static char *
share (gint64 part, gint64 whole)
{
  return whole > 0 ? g_strdup_printf ("%.1f%%", 100.0 * part / whole) : g_strdup ("–");
}

int
gemba_cli_monitor (int argc, char **argv)
{
  g_autoptr(GHashTable) rows = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                      monitor_row_free);
  g_autoptr(GPtrArray) sidecars = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) drifts = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) sorted = NULL;
  gboolean json = FALSE;
  gint64 damaged = 0;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("One JSON object per line and day"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "SPOOL_DIR",
                        N_("Per line and day of a gembaclassify spool: the verdicts of the "
                           "spooled frames, the uncertain share of the sampled frames, and the "
                           "drift alarms with what shifted.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 2)
    return gemba_cli_usage (argv[0], _("give the spool folder"));
  if (!g_file_test (argv[1], G_FILE_TEST_IS_DIR))
    {
      gemba_cli_error (_("%s: not a folder"), argv[1]);
      return GEMBA_EXIT_FAILED;
    }
  collect (argv[1], 2, FALSE, sidecars);
  collect (argv[1], 2, TRUE, drifts);

  for (guint i = 0; i < sidecars->len; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_autoptr(GError) error = NULL;
      JsonObject *o = read_record (sidecars->pdata[i], parser, &error);
      MonitorRow *row;
      const char *verdict, *reason;

      if (o == NULL)
        {
          gemba_cli_error (_("%s: damaged spool record: %s"), (char *) sidecars->pdata[i],
                           error->message);
          damaged++;
          continue;
        }
      row = monitor_row (rows, o);
      verdict = json_object_get_string_member_with_default (o, "verdict", "");
      reason = json_object_get_string_member_with_default (o, "reason", "");
      row->records++;
      row->ok += g_str_equal (verdict, "ok");
      row->reject += g_str_equal (verdict, "reject");
      row->uncertain += g_str_equal (verdict, "uncertain");
      if (g_str_equal (reason, "sampled"))
        {
          row->sampled++;
          row->sampled_uncertain += g_str_equal (verdict, "uncertain");
        }
    }
  for (guint i = 0; i < drifts->len; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      g_auto(GStrv) names = NULL;
      MonitorRow *row;
      JsonObject *o;

      if (!json_parser_load_from_file (parser, drifts->pdata[i], NULL) ||
          !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        {
          gemba_cli_error (_("%s: damaged drift record"), (char *) drifts->pdata[i]);
          damaged++;
          continue;
        }
      o = json_node_get_object (json_parser_get_root (parser));
      row = monitor_row (rows, o);
      row->alarms++;
      names = g_strsplit (json_object_get_string_member_with_default (o, "shifted", ""), ",", -1);
      for (guint k = 0; names[k]; k++)
        if (names[k][0])
          g_hash_table_add (row->shifted, g_strdup (names[k]));
    }

  sorted = g_ptr_array_new ();
  {
    GHashTableIter iter;
    gpointer value;
    g_hash_table_iter_init (&iter, rows);
    while (g_hash_table_iter_next (&iter, NULL, &value))
      g_ptr_array_add (sorted, value);
  }
  g_ptr_array_sort (sorted, compare_rows);
  if (!json)
    {
      g_autoptr(GString) head = g_string_new (NULL);
      gemba_cli_cell (head, -16, _("Line"));
      gemba_cli_cell (head, -10, _("Day"));
      gemba_cli_cell (head, 8, _("Spooled"));
      gemba_cli_cell (head, 7, _("OK"));
      gemba_cli_cell (head, 7, _("Reject"));
      gemba_cli_cell (head, 9, _("Uncertain"));
      gemba_cli_cell (head, 15, _("Sampled unsure"));
      gemba_cli_cell (head, 6, _("Drift"));
      gemba_cli_cell (head, 0, _("Shifted"));
      g_print ("%s\n", head->str);
    }
  for (guint i = 0; i < sorted->len; i++)
    {
      MonitorRow *row = sorted->pdata[i];
      g_autofree char *shifted = shifted_list (row);

      if (json)
        {
          g_autoptr(JsonBuilder) b = json_builder_new ();
          g_autoptr(JsonNode) root = NULL;
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "line");
          json_builder_add_string_value (b, row->line);
          json_builder_set_member_name (b, "day");
          json_builder_add_string_value (b, row->day);
          json_builder_set_member_name (b, "spooled");
          json_builder_add_int_value (b, row->records);
          json_builder_set_member_name (b, "ok");
          json_builder_add_int_value (b, row->ok);
          json_builder_set_member_name (b, "reject");
          json_builder_add_int_value (b, row->reject);
          json_builder_set_member_name (b, "uncertain");
          json_builder_add_int_value (b, row->uncertain);
          json_builder_set_member_name (b, "sampled");
          json_builder_add_int_value (b, row->sampled);
          json_builder_set_member_name (b, "sampled_uncertain_share");
          if (row->sampled)
            json_builder_add_double_value (b, (double) row->sampled_uncertain / row->sampled);
          else
            json_builder_add_null_value (b);
          json_builder_set_member_name (b, "drift_alarms");
          json_builder_add_int_value (b, row->alarms);
          json_builder_set_member_name (b, "shifted");
          json_builder_add_string_value (b, shifted);
          json_builder_end_object (b);
          root = json_builder_get_root (b);
          gemba_cli_print_json (root);
        }
      else
        {
          g_autoptr(GString) out = g_string_new (NULL);
          g_autofree char *ok = share (row->ok, row->records);
          g_autofree char *reject = share (row->reject, row->records);
          g_autofree char *uncertain = share (row->uncertain, row->records);
          g_autofree char *sampled = share (row->sampled_uncertain, row->sampled);
          gemba_cli_cell (out, -16, row->line);
          gemba_cli_cell (out, -10, row->day);
          gemba_cli_cell_int (out, 8, row->records);
          gemba_cli_cell (out, 7, ok);
          gemba_cli_cell (out, 7, reject);
          gemba_cli_cell (out, 9, uncertain);
          gemba_cli_cell (out, 15, sampled);
          gemba_cli_cell_int (out, 6, row->alarms);
          gemba_cli_cell (out, 0, shifted);
          g_print ("%s\n", out->str);
        }
    }
  return damaged ? GEMBA_EXIT_FAILED : GEMBA_EXIT_OK;
}
