/* gemba-cli-project.c: init, demo, classes, label, ls, stats, history, split
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-cli"

#include "config.h"

#include <inttypes.h>
#include <glib/gi18n.h>
#include <stdio.h>

#include "gemba-cli.h"

/* --- init ----------------------------------------------------------------------------- */

int
gemba_cli_init (int argc, char **argv)
{
  g_autofree char *classes = NULL;
  g_autofree char *server = NULL;
  g_auto(GStrv) names = NULL;
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GError) error = NULL;
  const GOptionEntry entries[] = {
    { "classes", 'c', 0, G_OPTION_ARG_STRING, &classes,
      N_("The classes, comma-separated, in order (e.g. ok,scratch,dent)"), N_("LIST") },
    { "server", 0, 0, G_OPTION_ARG_STRING, &server,
      N_("A team project: its database is this empty PostgreSQL database "
         "(postgresql://host/db; the password comes from ~/.pgpass or PGPASSWORD)"), N_("URI") },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT", N_("Create a project folder.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 2)
    return gemba_cli_usage (argv[0], _("give the folder of the new project"));

  if (classes)
    {
      names = g_strsplit (classes, ",", -1);
      for (guint i = 0; names[i]; i++)
        g_strstrip (names[i]);
    }
  store = server ? gemba_store_create_team (argv[1], server, (const char * const *) names, &error)
                 : gemba_store_create (argv[1], (const char * const *) names, &error);
  if (!store)
    return gemba_cli_fail (error);
  g_print (_("Created project %s with %u classes.\n"), gemba_store_get_path (store),
           names ? g_strv_length (names) : 0);
  return GEMBA_EXIT_OK;
}

/* --- migrate -------------------------------------------------------------------------- */

typedef struct {
  GembaCliProgress *progress;
  gboolean quiet;
} MigrateView;

static void
migrate_progress_cb (guint64 done, guint64 total, gpointer user_data)
{
  MigrateView *view = user_data;

  if (!view->progress)
    view->progress = gemba_cli_progress_new (_("Copying rows"), (gint64) total, view->quiet);
  gemba_cli_progress_update (view->progress, (gint64) done, NULL);
}

int
gemba_cli_migrate (int argc, char **argv)
{
  g_autofree char *to = NULL;
  g_autofree char *from = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) digests = NULL;
  MigrateView view = { NULL, FALSE };
  gint64 rows = 0;
  const GOptionEntry entries[] = {
    { "to", 0, 0, G_OPTION_ARG_STRING, &to,
      N_("Where to: a postgresql:// URI, or “sqlite” (with --from)"), N_("TARGET") },
    { "from", 0, 0, G_OPTION_ARG_STRING, &from,
      N_("With --to sqlite: the postgresql:// URI to copy from"), N_("URI") },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &view.quiet, N_("No progress bar"), NULL },
    { NULL }
  };
  const char *source, *target;

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT",
                        N_("Copy a project between its folder’s SQLite database and a "
                           "PostgreSQL server, losslessly, and check the copy table by table. "
                           "The target must be empty. Frame files stay in the folder.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 2)
    return gemba_cli_usage (argv[0], _("give the project folder"));
  if (to && gemba_store_location_is_server (to) && !from)
    source = argv[1], target = to;
  else if (to && g_str_equal (to, "sqlite") && gemba_store_location_is_server (from))
    source = from, target = argv[1];
  else
    return gemba_cli_usage (argv[0], _("use --to postgresql://… or --from postgresql://… "
                                       "--to sqlite"));

  digests = gemba_store_migrate (source, target, migrate_progress_cb, &view,
                                 gemba_cli_interrupt_cancellable (), &error);
  g_clear_pointer (&view.progress, gemba_cli_progress_free);
  if (!digests)
    return gemba_cli_fail (error);
  for (guint i = 0; i < digests->len; i++)
    {
      GembaTableDigest *digest = digests->pdata[i];
      g_autoptr(GString) row = g_string_new ("  ");
      gemba_cli_cell (row, -12, digest->table);
      gemba_cli_cell_int (row, 9, digest->rows);
      g_string_append_printf (row, "%.16s", digest->sha256);
      g_print ("%s\n", row->str);
      rows += digest->rows;
    }
  /* Not the URIs: one may hold a password. */
  g_print (_("Copied %" PRId64 " rows; every table is the same on both sides.\n"),
           rows);
  return GEMBA_EXIT_OK;
}

/* --- demo ----------------------------------------------------------------------------- */

static void
demo_progress_cb (guint done, guint total, gpointer user_data)
{
  gemba_cli_progress_update (user_data, done, NULL);
}

int
gemba_cli_demo (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaCliProgress) progress = NULL;
  gboolean quiet = FALSE;
  const GOptionEntry entries[] = {
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("Show no progress"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT",
                        N_("Create the demo project: a few hundred frames of washers and "
                           "brackets on a conveyor, from two cameras, partly labeled.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 2)
    return gemba_cli_usage (argv[0], _("give the folder of the demo project"));

  progress = gemba_cli_progress_new (_("Rendering"), 0, quiet);
  if (!gemba_demo_create (argv[1], demo_progress_cb, progress,
                          gemba_cli_interrupt_cancellable (), &error))
    return gemba_cli_fail (error);
  g_clear_pointer (&progress, gemba_cli_progress_free);
  g_print (_("Created the demo project %s.\n"), argv[1]);
  return GEMBA_EXIT_OK;
}

/* --- classes -------------------------------------------------------------------------- */

static void
print_classes (GembaStore *store, GPtrArray *classes, GArray *counts)
{
  g_autoptr(GString) row = g_string_new (NULL);

  gemba_cli_cell (row, -4, _("#"));
  gemba_cli_cell (row, -20, _("Class"));
  gemba_cli_cell (row, -8, _("Colour"));
  gemba_cli_cell (row, -4, _("Key"));
  gemba_cli_cell (row, 8, _("Labeled"));
  g_print ("%s\n", row->str);
  for (guint i = 0; i < classes->len; i++)
    {
      GembaClass *klass = classes->pdata[i];
      gint64 n = 0;
      g_autofree char *key = klass->key >= 0 ? g_strdup_printf ("%d", klass->key) : g_strdup ("-");
      for (guint j = 0; j < counts->len; j++)
        if (g_array_index (counts, GembaClassCount, j).class_id == klass->id)
          n = g_array_index (counts, GembaClassCount, j).count;
      g_string_truncate (row, 0);
      gemba_cli_cell_int (row, -4, i + 1);
      gemba_cli_cell (row, -20, klass->name);
      gemba_cli_cell (row, -8, klass->color);
      gemba_cli_cell (row, -4, key);
      gemba_cli_cell_int (row, 8, n);
      g_print ("%s%s\n", row->str, klass->retired ? _("  (retired)") : "");
    }
}

static int
classes_json (GPtrArray *classes, GArray *counts)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_array (builder);
  for (guint i = 0; i < classes->len; i++)
    {
      GembaClass *klass = classes->pdata[i];
      gint64 n = 0;
      for (guint j = 0; j < counts->len; j++)
        if (g_array_index (counts, GembaClassCount, j).class_id == klass->id)
          n = g_array_index (counts, GembaClassCount, j).count;
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, klass->name);
      json_builder_set_member_name (builder, "color");
      json_builder_add_string_value (builder, klass->color);
      json_builder_set_member_name (builder, "key");
      if (klass->key >= 0)
        json_builder_add_int_value (builder, klass->key);
      else
        json_builder_add_null_value (builder);
      json_builder_set_member_name (builder, "retired");
      json_builder_add_boolean_value (builder, klass->retired);
      json_builder_set_member_name (builder, "labeled");
      json_builder_add_int_value (builder, n);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  {
    g_autoptr(JsonNode) root = json_builder_get_root (builder);
    gemba_cli_print_json (root);
  }
  return GEMBA_EXIT_OK;
}

static gboolean
parse_key (const char *text, int *key, GError **error)
{
  gint64 value;

  if (g_str_equal (text, "none"))
    {
      *key = -1;
      return TRUE;
    }
  if (!g_ascii_string_to_signed (text, 10, 0, 9, &value, NULL))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("“%s” is not a number key: use 0–9, or “none”"), text);
      return FALSE;
    }
  *key = (int) value;
  return TRUE;
}

int
gemba_cli_classes (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaClass) klass = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *color = NULL;
  g_autofree char *key_text = NULL;
  gboolean json = FALSE, all = FALSE;
  const char *action;
  gboolean ok = FALSE;
  const GOptionEntry entries[] = {
    { "color", 0, 0, G_OPTION_ARG_STRING, &color, N_("Colour for “add”, as #rrggbb"), N_("COLOUR") },
    { "key", 'k', 0, G_OPTION_ARG_STRING, &key_text, N_("Number key for “add” (0–9)"), N_("KEY") },
    { "all", 'a', 0, G_OPTION_ARG_NONE, &all, N_("List retired classes too"), NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries,
                        "PROJECT [add NAME | rename NAME NEW | color NAME #RRGGBB | "
                        "key NAME 0-9|none | move NAME POSITION | retire NAME | restore NAME]",
                        N_("List or change the classes. Retiring a class keeps its labels and "
                           "history but offers it for no new label.")))
    return GEMBA_EXIT_USAGE;
  if (argc < 2)
    return gemba_cli_usage (argv[0], _("give the project folder"));
  if (!(store = gemba_cli_open_project (argv[1], &error)))
    return gemba_cli_fail (error);

  if (argc == 2)
    {
      g_autoptr(GPtrArray) classes = gemba_store_list_classes (store, TRUE, &error);
      g_autoptr(GArray) counts = classes ? gemba_store_count_labels_per_class (store, -1,
                                                                               &error) : NULL;
      if (!counts)
        return gemba_cli_fail (error);
      if (!all)
        for (guint i = classes->len; i-- > 0;)
          if (((GembaClass *) classes->pdata[i])->retired)
            g_ptr_array_remove_index (classes, i);
      if (json)
        return classes_json (classes, counts);
      print_classes (store, classes, counts);
      return GEMBA_EXIT_OK;
    }

  action = argv[2];
  if (g_str_equal (action, "add"))
    {
      int key = -1;
      if (argc != 4)
        return gemba_cli_usage (argv[0], _("“add” takes one class name"));
      if (key_text && !parse_key (key_text, &key, &error))
        return gemba_cli_fail (error);
      if (!(klass = gemba_store_add_class (store, argv[3], color, key, &error)))
        return gemba_cli_fail (error);
      if (klass->key >= 0)
        g_print (_("Added class “%s” (key %d, colour %s).\n"), klass->name, klass->key,
                 klass->color);
      else
        g_print (_("Added class “%s” (no number key, colour %s).\n"), klass->name, klass->color);
      return GEMBA_EXIT_OK;
    }

  if (argc < 4)
    return gemba_cli_usage (argv[0], _("“%s” needs a class name"), action);
  if (!(klass = gemba_store_find_class (store, argv[3], &error)))
    return gemba_cli_fail (error);

  if (g_str_equal (action, "rename") && argc == 5)
    ok = gemba_store_rename_class (store, klass->id, argv[4], &error);
  else if ((g_str_equal (action, "color") || g_str_equal (action, "colour")) && argc == 5)
    ok = gemba_store_set_class_color (store, klass->id, argv[4], &error);
  else if (g_str_equal (action, "key") && argc == 5)
    {
      int key;
      ok = parse_key (argv[4], &key, &error) &&
           gemba_store_set_class_key (store, klass->id, key, &error);
    }
  else if (g_str_equal (action, "move") && argc == 5)
    {
      gint64 position;
      if (!g_ascii_string_to_signed (argv[4], 10, 1, 1000, &position, NULL))
        return gemba_cli_usage (argv[0], _("“%s” is not a position (1 is first)"), argv[4]);
      ok = gemba_store_move_class (store, klass->id, (int) position - 1, &error);
    }
  else if (g_str_equal (action, "retire") && argc == 4)
    ok = gemba_store_set_class_retired (store, klass->id, TRUE, &error);
  else if (g_str_equal (action, "restore") && argc == 4)
    ok = gemba_store_set_class_retired (store, klass->id, FALSE, &error);
  else
    return gemba_cli_usage (argv[0], _("unknown action or wrong number of arguments: “%s”"),
                            action);

  if (!ok)
    return gemba_cli_fail (error);
  g_print (_("Done.\n"));
  return GEMBA_EXIT_OK;
}

/* --- label ---------------------------------------------------------------------------- */

int
gemba_cli_label (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaFrame) frame = NULL;
  g_autoptr(GembaLabel) label = NULL;
  g_autoptr(GError) error = NULL;
  gint64 class_id = 0;

  if (!gemba_cli_parse (&argc, &argv, NULL, "PROJECT FRAME CLASS|none",
                        N_("Label a frame. FRAME is a unique prefix (4 or more hex digits) of its "
                           "id; “none” removes the label. The old label stays in the history.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 4)
    return gemba_cli_usage (argv[0], _("give the project, a frame id and a class"));
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !(frame = gemba_store_find_frame (store, argv[2], &error)))
    return gemba_cli_fail (error);
  if (!g_str_equal (argv[3], "none"))
    {
      g_autoptr(GembaClass) klass = gemba_store_find_class (store, argv[3], &error);
      if (!klass)
        return gemba_cli_fail (error);
      class_id = klass->id;
    }
  if (!(label = gemba_store_set_label (store, frame->id, class_id, GEMBA_LABEL_SET, &error)))
    return gemba_cli_fail (error);
  g_print (_("%.12s: %s → %s (by %s)\n"), frame->sha256,
           label->previous_class_name ? label->previous_class_name : _("unlabeled"),
           label->class_name ? label->class_name : _("unlabeled"), label->author);
  return GEMBA_EXIT_OK;
}

/* --- ls ------------------------------------------------------------------------------- */

static const char *
class_name_of (GPtrArray *classes, gint64 id)
{
  for (guint i = 0; id && i < classes->len; i++)
    if (((GembaClass *) classes->pdata[i])->id == id)
      return ((GembaClass *) classes->pdata[i])->name;
  return NULL;
}

static JsonNode *
frame_to_json (GembaStore *store, GembaFrame *frame, GPtrArray *classes)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autofree char *captured = gemba_cli_format_iso8601 (frame->captured_at);
  g_autofree char *path = gemba_store_dup_frame_path (store, frame);
  const char *label = class_name_of (classes, frame->label_class_id);
  const char *prediction = class_name_of (classes, frame->pred_class_id);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, frame->sha256);
  json_builder_set_member_name (builder, "path");
  json_builder_add_string_value (builder, path);
  json_builder_set_member_name (builder, "width");
  json_builder_add_int_value (builder, frame->width);
  json_builder_set_member_name (builder, "height");
  json_builder_add_int_value (builder, frame->height);
  json_builder_set_member_name (builder, "source");
  if (frame->source_name)
    json_builder_add_string_value (builder, frame->source_name);
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "captured");
  json_builder_add_string_value (builder, captured);
  if (frame->stream_time >= 0)
    {
      json_builder_set_member_name (builder, "stream_time");
      json_builder_add_double_value (builder, frame->stream_time / 1e9);
    }
  if (frame->frame_number >= 0)
    {
      json_builder_set_member_name (builder, "frame_number");
      json_builder_add_int_value (builder, frame->frame_number);
    }
  json_builder_set_member_name (builder, "split");
  json_builder_add_string_value (builder, gemba_split_to_string (frame->split));
  json_builder_set_member_name (builder, "label");
  if (label)
    json_builder_add_string_value (builder, label);
  else
    json_builder_add_null_value (builder);
  if (label)
    {
      json_builder_set_member_name (builder, "label_author");
      json_builder_add_string_value (builder, frame->label_author);
    }
  json_builder_set_member_name (builder, "prediction");
  if (prediction)
    json_builder_add_string_value (builder, prediction);
  else
    json_builder_add_null_value (builder);
  if (prediction)
    {
      json_builder_set_member_name (builder, "confidence");
      json_builder_add_double_value (builder, frame->pred_confidence);
    }
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/* The id of the source named @name, or 0 after saying there is none. */
static gint64
find_source (GembaStore *store, const char *project, const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) sources = gemba_store_list_sources (store, &error);

  if (!sources)
    {
      gemba_cli_fail (error);
      return 0;
    }
  for (guint i = 0; i < sources->len; i++)
    if (g_str_equal (((GembaSource *) sources->pdata[i])->name, name))
      return ((GembaSource *) sources->pdata[i])->id;
  gemba_cli_error (_("%s: no source named “%s” (see “gemba stats”)"), project, name);
  return 0;
}

/* Tops the source's test split up (gemba_store_top_up_test_batch()) and says so on stderr. */
static gboolean
reserve_test_batch (GembaStore *store, gint64 source_id, GError **error)
{
  gint64 reserved = gemba_store_top_up_test_batch (store, source_id, error);

  if (reserved < 0)
    return FALSE;
  if (reserved > 0)
    g_printerr (g_dngettext (GETTEXT_PACKAGE,
                             "Reserved %" PRId64 " random frame for the test split; "
                             "label it and it tests every model on this source.\n",
                             "Reserved %" PRId64 " random frames for the test split; "
                             "label them and they test every model on this source.\n",
                             reserved), reserved);
  return TRUE;
}

int
gemba_cli_ls (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GPtrArray) classes = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  g_autoptr(GError) error = NULL;
  gboolean unlabeled = FALSE, labeled = FALSE, false_readings = FALSE, review = FALSE;
  gboolean suspect = FALSE, corrections = FALSE, json = FALSE;
  g_autofree char *class_name = NULL, *source_name = NULL, *split_name = NULL, *sort = NULL;
  g_autofree char *test_batch = NULL;
  int limit = -1;
  GembaFrameQuery query = { .filter = GEMBA_FILTER_ALL };
  int n_filters;
  const GOptionEntry entries[] = {
    { "unlabeled", 'u', 0, G_OPTION_ARG_NONE, &unlabeled, N_("Only frames without a label"), NULL },
    { "labeled", 0, 0, G_OPTION_ARG_NONE, &labeled, N_("Only labeled frames"), NULL },
    { "class", 'c', 0, G_OPTION_ARG_STRING, &class_name, N_("Only frames labeled CLASS"),
      N_("CLASS") },
    { "source", 's', 0, G_OPTION_ARG_STRING, &source_name, N_("Only frames from SOURCE"),
      N_("SOURCE") },
    { "split", 0, 0, G_OPTION_ARG_STRING, &split_name, N_("Only frames in train, val, test or none"),
      N_("SPLIT") },
    { "false-readings", 'f', 0, G_OPTION_ARG_NONE, &false_readings,
      N_("Only frames whose label disagrees with the production model"), NULL },
    { "review", 'r', 0, G_OPTION_ARG_NONE, &review,
      N_("The review queue: unlabeled frames, least certain first, across classes and sources"),
      NULL },
    { "suspect", 0, 0, G_OPTION_ARG_NONE, &suspect,
      N_("Suspect labels: labeled frames the production model confidently disagrees with"), NULL },
    { "corrections", 0, 0, G_OPTION_ARG_NONE, &corrections,
      N_("Frames whose label corrected the production model's verdict"), NULL },
    { "test-batch", 0, 0, G_OPTION_ARG_STRING, &test_batch,
      N_("Frames of SOURCE to label for testing: reserves a random batch for the test split "
         "when the source has too few test frames"), N_("SOURCE") },
    { "sort", 0, 0, G_OPTION_ARG_STRING, &sort,
      N_("captured (default), captured-desc, confidence or confidence-desc"), N_("ORDER") },
    { "limit", 'n', 0, G_OPTION_ARG_INT, &limit, N_("At most N frames"), N_("N") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("One JSON object per frame and line"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT", N_("List frames.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 2)
    return gemba_cli_usage (argv[0], _("give the project folder"));
  n_filters = unlabeled + labeled + false_readings + review + suspect + corrections +
              (class_name != NULL) + (source_name != NULL) + (split_name != NULL) +
              (test_batch != NULL);
  if (n_filters > 1)
    return gemba_cli_usage (argv[0], _("use one filter at a time"));
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !(classes = gemba_store_list_classes (store, TRUE, &error)))
    return gemba_cli_fail (error);

  if (unlabeled)
    query.filter = GEMBA_FILTER_UNLABELED;
  else if (labeled)
    query.filter = GEMBA_FILTER_LABELED;
  else if (false_readings)
    query.filter = GEMBA_FILTER_FALSE_READINGS;
  else if (review)
    query.filter = GEMBA_FILTER_REVIEW;
  else if (suspect)
    query.filter = GEMBA_FILTER_SUSPECT;
  else if (corrections)
    query.filter = GEMBA_FILTER_CORRECTIONS;
  else if (test_batch)
    {
      query.filter = GEMBA_FILTER_TEST_BATCH;
      if (!(query.source_id = find_source (store, argv[1], test_batch)) ||
          !reserve_test_batch (store, query.source_id, &error))
        return error ? gemba_cli_fail (error) : GEMBA_EXIT_FAILED;
    }
  else if (class_name)
    {
      g_autoptr(GembaClass) klass = gemba_store_find_class (store, class_name, &error);
      if (!klass)
        return gemba_cli_fail (error);
      query.filter = GEMBA_FILTER_CLASS;
      query.class_id = klass->id;
    }
  else if (source_name)
    {
      if (!(query.source_id = find_source (store, argv[1], source_name)))
        return GEMBA_EXIT_FAILED;
      query.filter = GEMBA_FILTER_SOURCE;
    }
  else if (split_name)
    {
      static const char *names[] = { "none", "train", "val", "test" };
      query.filter = GEMBA_FILTER_SPLIT;
      query.split = 99;
      for (guint i = 0; i < G_N_ELEMENTS (names); i++)
        if (g_str_equal (split_name, names[i]))
          query.split = i;
      if (query.split == 99)
        return gemba_cli_usage (argv[0], _("“%s” is not a split: use train, val, test or none"),
                                split_name);
    }
  if (sort)
    {
      if (g_str_equal (sort, "captured"))
        query.sort = GEMBA_SORT_CAPTURED;
      else if (g_str_equal (sort, "captured-desc"))
        query.sort = GEMBA_SORT_CAPTURED_DESC;
      else if (g_str_equal (sort, "confidence"))
        query.sort = GEMBA_SORT_CONFIDENCE;
      else if (g_str_equal (sort, "confidence-desc"))
        query.sort = GEMBA_SORT_CONFIDENCE_DESC;
      else
        return gemba_cli_usage (argv[0], _("“%s” is not an order"), sort);
    }

  if (!(frames = gemba_store_list_frames (store, &query, 0, limit, &error)))
    return gemba_cli_fail (error);

  if (!json)
    {
      g_autoptr(GString) row = g_string_new (NULL);
      gemba_cli_cell (row, -13, _("Frame"));
      gemba_cli_cell (row, -20, _("Captured"));
      gemba_cli_cell (row, -23, _("Source"));
      gemba_cli_cell (row, -6, _("Split"));
      gemba_cli_cell (row, -15, _("Label"));
      g_print ("%s%s\n", row->str, _("Prediction"));
    }
  for (guint i = 0; i < frames->len; i++)
    {
      GembaFrame *frame = frames->pdata[i];
      if (json)
        {
          g_autoptr(JsonNode) node = frame_to_json (store, frame, classes);
          gemba_cli_print_json (node);
        }
      else
        {
          g_autoptr(GString) row = g_string_new (NULL);
          g_autofree char *captured = gemba_cli_format_time (frame->captured_at);
          g_autofree char *id = g_strndup (frame->sha256, 12);
          g_autofree char *prediction = NULL;
          const char *label = class_name_of (classes, frame->label_class_id);
          const char *predicted = class_name_of (classes, frame->pred_class_id);
          if (predicted)
            prediction = g_strdup_printf ("%s %.0f%%%s", predicted, 100 * frame->pred_confidence,
                                          label && frame->pred_class_id != frame->label_class_id
                                            ? _("  ✗ false reading") : "");
          gemba_cli_cell (row, -13, id);
          gemba_cli_cell (row, -20, captured);
          gemba_cli_cell (row, -23, frame->source_name ? frame->source_name : "-");
          gemba_cli_cell (row, -6, gemba_split_to_string (frame->split));
          gemba_cli_cell (row, -15, label ? label : "-");
          g_print ("%s%s\n", row->str, prediction ? prediction : "-");
        }
    }
  return GEMBA_EXIT_OK;
}

/* --- stats ---------------------------------------------------------------------------- */

static int print_stats (GembaStore *store, const GembaStats *stats, GPtrArray *classes,
                        GPtrArray *sources, GArray *per_split[4], GArray *tests,
                        gboolean json);

int
gemba_cli_stats (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GPtrArray) classes = NULL;
  g_autoptr(GPtrArray) sources = NULL;
  GArray *per_split[4] = { NULL };
  GArray *tests = NULL;
  int status;
  g_autoptr(GError) error = NULL;
  GembaStats stats;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print JSON"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT",
                        N_("Frames, labels per class and split, and sources.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 2)
    return gemba_cli_usage (argv[0], _("give the project folder"));
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !gemba_store_get_stats (store, &stats, &error) ||
      !(classes = gemba_store_list_classes (store, TRUE, &error)) ||
      !(sources = gemba_store_list_sources (store, &error)) ||
      !(tests = gemba_store_count_test_frames_per_source (store, &error)))
    return gemba_cli_fail (error);
  for (int s = 0; s < 4; s++)
    if (!(per_split[s] = gemba_store_count_labels_per_class (store, s, &error)))
      {
        for (int t = 0; t < s; t++)
          g_array_unref (per_split[t]);
        gemba_source_test_counts_free (tests);
        return gemba_cli_fail (error);
      }
  status = print_stats (store, &stats, classes, sources, per_split, tests, json);
  gemba_source_test_counts_free (tests);
  for (int s = 0; s < 4; s++)
    g_array_unref (per_split[s]);
  return status;
}

static const GembaSourceTestCount *
test_count_of (GArray *tests, gint64 source_id)
{
  static const GembaSourceTestCount none = { 0 };

  for (guint i = 0; i < tests->len; i++)
    if (g_array_index (tests, GembaSourceTestCount, i).source_id == source_id)
      return &g_array_index (tests, GembaSourceTestCount, i);
  return &none;
}

static int
print_stats (GembaStore *store, const GembaStats *stats_in, GPtrArray *classes,
             GPtrArray *sources, GArray *per_split[4], GArray *tests, gboolean json)
{
  g_autofree char *name = gemba_store_dup_name (store);
  GembaStats stats = *stats_in;

  if (json)
    {
      g_autoptr(JsonBuilder) b = json_builder_new ();
      g_autoptr(JsonNode) root = NULL;
      json_builder_begin_object (b);
      json_builder_set_member_name (b, "project");
      json_builder_add_string_value (b, name);
      json_builder_set_member_name (b, "frames");
      json_builder_add_int_value (b, stats.n_frames);
      json_builder_set_member_name (b, "labeled");
      json_builder_add_int_value (b, stats.n_labeled);
      json_builder_set_member_name (b, "unlabeled");
      json_builder_add_int_value (b, stats.n_unlabeled);
      json_builder_set_member_name (b, "false_readings");
      json_builder_add_int_value (b, stats.n_false_readings);
      json_builder_set_member_name (b, "revision");
      json_builder_add_int_value (b, stats.revision);
      json_builder_set_member_name (b, "splits");
      json_builder_begin_object (b);
      for (int s = 0; s < 4; s++)
        {
          json_builder_set_member_name (b, gemba_split_to_string (s));
          json_builder_add_int_value (b, stats.n_split[s]);
        }
      json_builder_end_object (b);
      json_builder_set_member_name (b, "classes");
      json_builder_begin_array (b);
      for (guint i = 0; i < classes->len; i++)
        {
          GembaClass *klass = classes->pdata[i];
          gint64 total = 0;
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "name");
          json_builder_add_string_value (b, klass->name);
          json_builder_set_member_name (b, "retired");
          json_builder_add_boolean_value (b, klass->retired);
          for (int s = 0; s < 4; s++)
            {
              gint64 n = g_array_index (per_split[s], GembaClassCount, i).count;
              json_builder_set_member_name (b, gemba_split_to_string (s));
              json_builder_add_int_value (b, n);
              total += n;
            }
          json_builder_set_member_name (b, "labeled");
          json_builder_add_int_value (b, total);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_set_member_name (b, "sources");
      json_builder_begin_array (b);
      for (guint i = 0; i < sources->len; i++)
        {
          GembaSource *source = sources->pdata[i];
          const GembaSourceTestCount *t = test_count_of (tests, source->id);
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "name");
          json_builder_add_string_value (b, source->name);
          json_builder_set_member_name (b, "kind");
          json_builder_add_string_value (b, source->kind);
          json_builder_set_member_name (b, "frames");
          json_builder_add_int_value (b, source->n_frames);
          json_builder_set_member_name (b, "labeled");
          json_builder_add_int_value (b, t->n_labeled);
          json_builder_set_member_name (b, "labeled_test");
          json_builder_add_int_value (b, t->n_test);
          json_builder_set_member_name (b, "reserved_test");
          json_builder_add_int_value (b, t->n_reserved);
          json_builder_set_member_name (b, "too_few_test_frames");
          json_builder_add_boolean_value (b, t->n_test < GEMBA_MIN_TEST_FRAMES);
          json_builder_end_object (b);
        }
      json_builder_end_array (b);
      json_builder_end_object (b);
      root = json_builder_get_root (b);
      gemba_cli_print_json (root);
      return GEMBA_EXIT_OK;
    }

  g_print (_("Project %s (%s)\n\n"), name, gemba_store_get_path (store));
  g_print (_("Frames       %" PRId64 "\n"), stats.n_frames);
  g_print (_("Labeled      %" PRId64 "\n"), stats.n_labeled);
  g_print (_("Unlabeled    %" PRId64 "\n"), stats.n_unlabeled);
  if (stats.n_false_readings > 0)
    g_print (_("False readings %" PRId64 "\n"), stats.n_false_readings);
  {
    g_autoptr(GString) row = g_string_new ("\n");
    gemba_cli_cell (row, -20, _("Class"));
    gemba_cli_cell (row, 7, _("train"));
    gemba_cli_cell (row, 7, _("val"));
    gemba_cli_cell (row, 7, _("test"));
    gemba_cli_cell (row, 7, _("none"));
    gemba_cli_cell (row, 8, _("labeled"));
    g_print ("%s\n", row->str);
    for (guint i = 0; i < classes->len; i++)
      {
        GembaClass *klass = classes->pdata[i];
        gint64 n[4], total = 0;
        for (int s = 0; s < 4; s++)
          total += n[s] = g_array_index (per_split[s], GembaClassCount, i).count;
        g_string_truncate (row, 0);
        gemba_cli_cell (row, -20, klass->name);
        gemba_cli_cell_int (row, 7, n[GEMBA_SPLIT_TRAIN]);
        gemba_cli_cell_int (row, 7, n[GEMBA_SPLIT_VAL]);
        gemba_cli_cell_int (row, 7, n[GEMBA_SPLIT_TEST]);
        gemba_cli_cell_int (row, 7, n[GEMBA_SPLIT_NONE]);
        gemba_cli_cell_int (row, 8, total);
        g_print ("%s%s\n", row->str, klass->retired ? _("  (retired)") : "");
      }
    g_string_truncate (row, 0);
    gemba_cli_cell (row, -20, _("all frames"));
    gemba_cli_cell_int (row, 7, stats.n_split[GEMBA_SPLIT_TRAIN]);
    gemba_cli_cell_int (row, 7, stats.n_split[GEMBA_SPLIT_VAL]);
    gemba_cli_cell_int (row, 7, stats.n_split[GEMBA_SPLIT_TEST]);
    gemba_cli_cell_int (row, 7, stats.n_split[GEMBA_SPLIT_NONE]);
    gemba_cli_cell_int (row, 8, stats.n_frames);
    g_print ("%s\n", row->str);
  }
  g_print (_("\nSources                        kind      frames labeled   test\n"));
  if (sources->len == 0)
    g_print (_("  none\n"));
  for (guint i = 0; i < sources->len; i++)
    {
      GembaSource *source = sources->pdata[i];
      const GembaSourceTestCount *t = test_count_of (tests, source->id);
      g_autoptr(GString) row = g_string_new ("  ");
      gemba_cli_cell (row, -30, source->name);
      gemba_cli_cell (row, -8, source->kind);
      gemba_cli_cell_int (row, 7, source->n_frames);
      gemba_cli_cell_int (row, 8, t->n_labeled);
      gemba_cli_cell_int (row, 7, t->n_test);
      g_print ("%s\n", row->str);
    }
  for (guint i = 0; i < sources->len; i++)
    {
      GembaSource *source = sources->pdata[i];
      const GembaSourceTestCount *t = test_count_of (tests, source->id);
      if (t->n_test >= GEMBA_MIN_TEST_FRAMES)
        continue;
      g_print (_("\n“%s” has %" PRId64 " labeled test frames (at least %d are needed to judge a "
                 "model on it)"), source->name, t->n_test, GEMBA_MIN_TEST_FRAMES);
      if (t->n_reserved > 0)
        g_print (_("; %" PRId64 " reserved frames wait for a label"), t->n_reserved);
      g_print (_(".\nLabel a random batch for testing: gemba ls %s --test-batch \"%s\"\n"),
               gemba_store_get_path (store), source->name);
    }
  return GEMBA_EXIT_OK;
}

/* --- history -------------------------------------------------------------------------- */

int
gemba_cli_history (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaFrame) frame = NULL;
  g_autoptr(GPtrArray) labels = NULL;
  g_autoptr(GError) error = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("One JSON object per label and line"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT FRAME",
                        N_("Every label a frame had, oldest first: who, when, what before.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 3)
    return gemba_cli_usage (argv[0], _("give the project and a frame id"));
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !(frame = gemba_store_find_frame (store, argv[2], &error)) ||
      !(labels = gemba_store_list_label_history (store, frame->id, &error)))
    return gemba_cli_fail (error);

  if (!json)
    {
      g_autofree char *captured = gemba_cli_format_time (frame->captured_at);
      g_print (_("Frame %s\n  %u×%u, %s, captured %s\n\n"), frame->sha256, frame->width,
               frame->height, frame->source_name ? frame->source_name : _("no source"), captured);
      if (labels->len == 0)
        g_print (_("Never labeled.\n"));
    }
  for (guint i = 0; i < labels->len; i++)
    {
      GembaLabel *label = labels->pdata[i];
      if (json)
        {
          g_autoptr(JsonBuilder) b = json_builder_new ();
          g_autoptr(JsonNode) root = NULL;
          g_autofree char *at = gemba_cli_format_iso8601 (label->created_at);
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "at");
          json_builder_add_string_value (b, at);
          json_builder_set_member_name (b, "author");
          json_builder_add_string_value (b, label->author);
          json_builder_set_member_name (b, "kind");
          json_builder_add_string_value (b, gemba_label_kind_to_string (label->kind));
          json_builder_set_member_name (b, "class");
          if (label->class_name)
            json_builder_add_string_value (b, label->class_name);
          else
            json_builder_add_null_value (b);
          json_builder_set_member_name (b, "previous");
          if (label->previous_class_name)
            json_builder_add_string_value (b, label->previous_class_name);
          else
            json_builder_add_null_value (b);
          json_builder_set_member_name (b, "correction");
          json_builder_add_boolean_value (b, label->correction);
          json_builder_set_member_name (b, "model");
          if (label->model_id)
            json_builder_add_int_value (b, label->model_id);
          else
            json_builder_add_null_value (b);
          json_builder_set_member_name (b, "model_verdict");
          if (label->model_class_name)
            json_builder_add_string_value (b, label->model_class_name);
          else
            json_builder_add_null_value (b);
          json_builder_end_object (b);
          root = json_builder_get_root (b);
          gemba_cli_print_json (root);
        }
      else
        {
          g_autofree char *at = gemba_cli_format_time (label->created_at);
          g_autoptr(GString) row = g_string_new ("  ");
          gemba_cli_cell (row, -20, at);
          gemba_cli_cell (row, -16, label->author);
          gemba_cli_cell (row, -8, gemba_label_kind_to_string (label->kind));
          g_print ("%s%s → %s", row->str,
                   label->previous_class_name ? label->previous_class_name : _("unlabeled"),
                   label->class_name ? label->class_name : _("unlabeled"));
          if (label->correction)
            g_print (_("  corrects model %" PRId64 ", which read it as %s"), label->model_id,
                     label->model_class_name ? label->model_class_name : _("a retired class"));
          g_print ("\n");
        }
    }
  return GEMBA_EXIT_OK;
}

/* --- split ---------------------------------------------------------------------------- */

int
gemba_cli_split (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GError) error = NULL;
  double test = 0.2, val = 0.1;
  int seed = 1;
  gint64 assigned[4];
  const GOptionEntry entries[] = {
    { "test", 0, 0, G_OPTION_ARG_DOUBLE, &test, N_("Fraction for the locked test split (0.2)"),
      N_("F") },
    { "val", 0, 0, G_OPTION_ARG_DOUBLE, &val, N_("Fraction for the validation split (0.1)"),
      N_("F") },
    { "seed", 0, 0, G_OPTION_ARG_INT, &seed, N_("Seed of the random assignment (1)"), N_("N") },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT",
                        N_("Assign every labeled frame that has no split yet to train, val or "
                           "test. Frames labeled after seeing the production model's verdict "
                           "(the review queue's, every correction) train; the others are split "
                           "at random in the same proportions for each source and class. "
                           "Unlabeled frames get a split once labeled. Frames in the test split "
                           "stay there for good, so that models are always compared on the "
                           "same frames. “gemba train” does this itself.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 2)
    return gemba_cli_usage (argv[0], _("give the project folder"));
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !gemba_store_assign_splits (store, test, val, (guint64) seed, assigned, &error))
    return gemba_cli_fail (error);
  g_print (_("Assigned %" PRId64 " frames: %" PRId64 " train, %"
             PRId64 " val, %" PRId64 " test.\n"),
           assigned[1] + assigned[2] + assigned[3], assigned[1], assigned[2], assigned[3]);
  return GEMBA_EXIT_OK;
}

static void
print_check_paths (const char *title, GPtrArray *paths)
{
  const guint shown = 20;

  if (paths->len == 0)
    return;
  g_print ("%s\n", title);
  for (guint i = 0; i < paths->len && i < shown; i++)
    g_print ("  %s\n", (char *) paths->pdata[i]);
  if (paths->len > shown)
    g_print (_("  … and %u more\n"), paths->len - shown);
}

int
gemba_cli_check (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaStoreCheck) check = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *missing = NULL, *orphans = NULL, *leftovers = NULL;
  gboolean repair = FALSE, healthy;
  const GOptionEntry entries[] = {
    { "repair", 0, 0, G_OPTION_ARG_NONE, &repair,
      N_("Remove orphan frame files and leftovers, mark runs interrupted"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT",
                        N_("Check the database, the frame files and what interrupted processes "
                           "left behind. Exits 0 when the project is healthy.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 2)
    return gemba_cli_usage (argv[0], _("give the project folder"));
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !(check = gemba_store_check (store, repair, NULL, &error)))
    return gemba_cli_fail (error);

  g_print (_("Database: %s\n"), check->integrity);
  missing = g_strdup_printf (_("Frames whose file is missing: %u (their labels are kept; "
                               "restore the files from a backup)"), check->missing_files->len);
  orphans = g_strdup_printf (check->repaired ? _("Frame files no frame references, removed: %u")
                                             : _("Frame files no frame references: %u"),
                             check->orphan_files->len);
  leftovers = g_strdup_printf (check->repaired
                               ? _("Leftovers of interrupted writers, removed: %u")
                               : _("Leftovers of interrupted writers: %u"),
                               check->leftovers->len);
  print_check_paths (missing, check->missing_files);
  print_check_paths (orphans, check->orphan_files);
  print_check_paths (leftovers, check->leftovers);
  if (check->n_interrupted_runs > 0)
    g_print (check->repaired ? _("Training runs left running, marked interrupted: %" PRId64 "\n")
                             : _("Training runs left running: %" PRId64 "\n"),
             check->n_interrupted_runs);
  if (check->n_cleaned_at_open > 0)
    g_print (_("Cleaned when the project was opened (leftovers and interrupted runs): %u\n"),
             check->n_cleaned_at_open);
  if (check->in_use)
    g_print (_("Another process has the project open: what it may be writing was listed, not "
               "judged, and nothing was removed. Close it and run the check again.\n"));

  healthy = gemba_store_check_is_healthy (check);
  if (healthy)
    g_print (_("The project is healthy.\n"));
  else if (!repair && g_strcmp0 (check->integrity, "ok") == 0 && check->missing_files->len == 0)
    g_print (_("Run “gemba check --repair %s” to remove the leftovers.\n"), argv[1]);
  else
    g_print (_("The project has problems that --repair cannot fix.\n"));
  return healthy ? GEMBA_EXIT_OK : GEMBA_EXIT_FAILED;
}
