/* gemba-store-models.c: model versions, training runs and predictions of a project
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-store"

#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "gemba-error.h"
#include "gemba-store-models.h"
#include "gemba-store-private.h"
#include "gemba-util-private.h"

#define MODEL_COLUMNS \
  "m.id, m.name, m.parent_id, m.created_at, m.author, m.architecture, m.classes, m.settings, " \
  "m.seed, m.dataset_revision, m.n_train, m.n_val, m.n_test, m.metrics, m.test_accuracy, " \
  "m.duration, m.weights_sha256"

void
gemba_model_record_free (GembaModelRecord *record)
{
  if (!record)
    return;
  g_free (record->name);
  g_free (record->author);
  g_free (record->architecture);
  g_strfreev (record->classes);
  g_free (record->settings);
  g_free (record->metrics);
  g_free (record->weights_sha256);
  g_free (record);
}

static char **
classes_from_json (const char *text)
{
  g_autoptr(JsonNode) node = text ? json_from_string (text, NULL) : NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new ();

  if (node && JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      for (guint i = 0; i < json_array_get_length (array); i++)
        g_ptr_array_add (names, g_strdup (json_array_get_string_element (array, i)));
    }
  g_ptr_array_add (names, NULL);
  return (char **) g_ptr_array_free (g_steal_pointer (&names), FALSE);
}

static char *
classes_to_json (char **classes)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;

  json_builder_begin_array (builder);
  for (guint i = 0; classes && classes[i]; i++)
    json_builder_add_string_value (builder, classes[i]);
  json_builder_end_array (builder);
  root = json_builder_get_root (builder);
  return json_to_string (root, FALSE);
}

static GembaModelRecord *
model_from_row (GembaStore *self, GembaStmt *stmt)
{
  GembaModelRecord *record = g_new0 (GembaModelRecord, 1);
  g_autofree char *classes = NULL;

  record->id = gemba_db_column_int64 (stmt, 0);
  record->name = _gemba_store_dup_column (stmt, 1);
  record->parent_id = gemba_db_column_int64 (stmt, 2);
  record->created_at = gemba_db_column_int64 (stmt, 3);
  record->author = _gemba_store_dup_column (stmt, 4);
  record->architecture = _gemba_store_dup_column (stmt, 5);
  classes = _gemba_store_dup_column (stmt, 6);
  record->classes = classes_from_json (classes);
  record->settings = _gemba_store_dup_column (stmt, 7);
  record->seed = (guint64) gemba_db_column_int64 (stmt, 8);
  record->dataset_revision = gemba_db_column_int64 (stmt, 9);
  record->n_train = gemba_db_column_int64 (stmt, 10);
  record->n_val = gemba_db_column_int64 (stmt, 11);
  record->n_test = gemba_db_column_int64 (stmt, 12);
  record->metrics = _gemba_store_dup_column (stmt, 13);
  record->test_accuracy = gemba_db_column_type (stmt, 14) == GEMBA_DB_NULL
                          ? -1.0 : gemba_db_column_double (stmt, 14);
  record->duration = gemba_db_column_double (stmt, 15);
  record->weights_sha256 = _gemba_store_dup_column (stmt, 16);
  record->production = record->id == _gemba_store_production_model (self);
  return record;
}

char *
gemba_store_make_staging_dir (GembaStore *self, GError **error)
{
  g_autofree char *models = g_build_filename (gemba_store_get_path (self), "models", NULL);
  g_autofree char *template = g_build_filename (models, ".staging-XXXXXX", NULL);

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  /* 0755 like the rest of the project (g_mkdtemp makes 0700): a project copied to a share
   * or an archive must be readable by the users who read its frames. */
  if (g_mkdir_with_parents (models, 0755) != 0 || !g_mkdtemp_full (template, 0755))
    {
      int saved = errno;
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot create a folder: %s"),
                   models, g_strerror (saved));
      return NULL;
    }
  return g_steal_pointer (&template);
}

GembaModelRecord *
gemba_store_add_model (GembaStore *self, const GembaModelRecord *record,
                       const char *staging_dir, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  g_autofree char *classes = NULL;
  g_autofree char *name = NULL;
  g_autofree char *target = NULL;
  gint64 id;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);
  g_return_val_if_fail (record != NULL && staging_dir != NULL, NULL);

  if (!gemba_store_require_role (self, GEMBA_ROLE_ENGINEER, _("adding a model"), error))
    return NULL;
  classes = classes_to_json (record->classes);
  _gemba_store_lock (self);
  if (!_gemba_store_begin (self, error))
    goto out;
  stmt = _gemba_store_prepare (self,
                               "INSERT INTO models (name, parent_id, created_at, author, "
                               "architecture, classes, settings, seed, dataset_revision, n_train, "
                               "n_val, n_test, metrics, test_accuracy, duration, weights_sha256) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", error);
  if (!stmt)
    goto fail;
  _gemba_store_bind_text (stmt, 1, record->name ? record->name : "");
  if (record->parent_id)
    gemba_db_bind_int64 (stmt, 2, record->parent_id);
  else
    gemba_db_bind_null (stmt, 2);
  gemba_db_bind_int64 (stmt, 3, record->created_at ? record->created_at : _gemba_store_now ());
  _gemba_store_bind_text (stmt, 4, record->author ? record->author : gemba_store_get_author (self));
  _gemba_store_bind_text (stmt, 5, record->architecture);
  _gemba_store_bind_text (stmt, 6, classes);
  _gemba_store_bind_text (stmt, 7, record->settings ? record->settings : "{}");
  gemba_db_bind_int64 (stmt, 8, (gint64) record->seed);
  gemba_db_bind_int64 (stmt, 9, record->dataset_revision);
  gemba_db_bind_int64 (stmt, 10, record->n_train);
  gemba_db_bind_int64 (stmt, 11, record->n_val);
  gemba_db_bind_int64 (stmt, 12, record->n_test);
  _gemba_store_bind_text (stmt, 13, record->metrics);
  if (record->test_accuracy >= 0)
    gemba_db_bind_double (stmt, 14, record->test_accuracy);
  else
    gemba_db_bind_null (stmt, 14);
  gemba_db_bind_double (stmt, 15, record->duration);
  _gemba_store_bind_text (stmt, 16, record->weights_sha256);
  if (gemba_db_step (stmt, NULL) != GEMBA_DB_STEP_DONE)
    {
      _gemba_store_fail (self, error, _("could not record the model"));
      goto fail;
    }
  id = _gemba_store_last_insert_id (self);

  if (!record->name || !*record->name)
    {
      g_autoptr(GembaStmt) rename = _gemba_store_prepare (self, "UPDATE models SET name = ? "
                                                                "WHERE id = ?", error);
      name = g_strdup_printf (_("Model %" PRId64), id);
      if (!rename)
        goto fail;
      _gemba_store_bind_text (rename, 1, name);
      gemba_db_bind_int64 (rename, 2, id);
      if (gemba_db_step (rename, NULL) != GEMBA_DB_STEP_DONE)
        {
          _gemba_store_fail (self, error, _("could not record the model"));
          goto fail;
        }
    }

  target = gemba_store_dup_model_dir (self, id);
  if (g_file_test (target, G_FILE_TEST_EXISTS))
    _gemba_remove_tree (target);  /* left by a crash between the move and the commit */
  if (g_rename (staging_dir, target) != 0)
    {
      int saved = errno;
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot move the model into place: %s"),
                   target, g_strerror (saved));
      goto fail;
    }
  {
    g_autofree char *subject = g_strdup_printf ("%" G_GINT64_FORMAT, id);
    if (!gemba_store_audit (self, "model-add", subject, record->settings, error) ||
        !_gemba_store_notify (self, GEMBA_CHANGE_MODEL, id, error) ||
        !_gemba_store_commit (self, error))
      {
        g_rename (target, staging_dir);
        goto fail;
      }
  }
  _gemba_store_unlock (self);
  return gemba_store_get_model (self, id, error);

fail:
  _gemba_store_rollback (self);
out:
  _gemba_store_unlock (self);
  _gemba_store_explain_refusal (self, GEMBA_ROLE_ENGINEER, _("adding a model"), error);
  return NULL;
}

GPtrArray *
gemba_store_list_models (GembaStore *self, GError **error)
{
  g_autoptr(GPtrArray) models = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_model_record_free);
  g_autoptr(GembaStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  if (!(stmt = _gemba_store_prepare (self, "SELECT " MODEL_COLUMNS " FROM models m "
                                           "ORDER BY m.id DESC", error)))
    {
      _gemba_store_unlock (self);
      return NULL;
    }
  while ((rc = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    g_ptr_array_add (models, model_from_row (self, stmt));
  _gemba_store_unlock (self);
  if (rc != GEMBA_DB_STEP_DONE)
    {
      _gemba_store_fail (self, error, _("could not read the models"));
      return NULL;
    }
  return g_steal_pointer (&models);
}

GembaModelRecord *
gemba_store_get_model (GembaStore *self, gint64 model_id, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  GembaModelRecord *record = NULL;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self, "SELECT " MODEL_COLUMNS " FROM models m WHERE m.id = ?",
                               error);
  if (stmt)
    {
      gemba_db_bind_int64 (stmt, 1, model_id);
      if (gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW)
        record = model_from_row (self, stmt);
      else
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                     _("%s: there is no model %" PRId64 " (see “gemba models”)"),
                     gemba_store_get_path (self), model_id);
    }
  _gemba_store_unlock (self);
  return record;
}

GembaModelRecord *
gemba_store_find_model (GembaStore *self, const char *spec, GError **error)
{
  gint64 id = 0;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);
  g_return_val_if_fail (spec != NULL, NULL);

  if (g_str_equal (spec, "production"))
    {
      if (!(id = gemba_store_get_production_model_id (self)))
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                       _("%s: no model is in production yet (promote one with “gemba promote”)"),
                       gemba_store_get_path (self));
          return NULL;
        }
    }
  else if (g_str_equal (spec, "latest"))
    {
      g_autoptr(GPtrArray) models = gemba_store_list_models (self, error);
      if (!models)
        return NULL;
      if (models->len == 0)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                       _("%s: no model has been trained yet (train one with “gemba train”)"),
                       gemba_store_get_path (self));
          return NULL;
        }
      id = ((GembaModelRecord *) models->pdata[0])->id;
    }
  else if (!g_ascii_string_to_signed (spec, 10, 1, G_MAXINT64, &id, NULL))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("“%s” is not a model: give its number, “production” or “latest”"), spec);
      return NULL;
    }
  return gemba_store_get_model (self, id, error);
}

gboolean
gemba_store_set_model_metrics (GembaStore *self, gint64 model_id, const char *metrics,
                               double test_accuracy, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  gboolean ok = FALSE;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  if (!gemba_store_require_role (self, GEMBA_ROLE_ENGINEER, _("saving a model’s metrics"),
                                 error))
    return FALSE;
  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self, "UPDATE models SET metrics = ?, test_accuracy = ? "
                                     "WHERE id = ?", error);
  if (stmt)
    {
      _gemba_store_bind_text (stmt, 1, metrics);
      gemba_db_bind_double (stmt, 2, test_accuracy);
      gemba_db_bind_int64 (stmt, 3, model_id);
      ok = gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_DONE ||
           _gemba_store_fail (self, error, _("could not save the metrics"));
    }
  _gemba_store_unlock (self);
  if (!ok)
    _gemba_store_explain_refusal (self, GEMBA_ROLE_ENGINEER, _("saving a model’s metrics"),
                                  error);
  return ok;
}

gint64
gemba_store_get_production_model_id (GembaStore *self)
{
  gint64 id;

  g_return_val_if_fail (GEMBA_IS_STORE (self), 0);
  _gemba_store_lock (self);
  id = _gemba_store_production_model (self);
  _gemba_store_unlock (self);
  return id;
}

gboolean
gemba_store_promote_model (GembaStore *self, gint64 model_id, GError **error)
{
  g_autoptr(GembaModelRecord) record = NULL;
  g_autofree char *value = NULL;
  g_autofree char *detail = NULL;
  gint64 previous;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  if (!gemba_store_require_role (self, GEMBA_ROLE_ENGINEER, _("promoting a model"), error))
    return FALSE;
  _gemba_store_lock (self);
  if (!(record = gemba_store_get_model (self, model_id, error)) ||
      !_gemba_store_begin (self, error))
    {
      _gemba_store_unlock (self);
      return FALSE;
    }
  previous = _gemba_store_production_model (self);
  value = g_strdup_printf ("%" G_GINT64_FORMAT, model_id);
  detail = g_strdup_printf ("{\"previous\": %" G_GINT64_FORMAT "}", previous);
  if (!gemba_store_set_setting (self, "production-model", value, error) ||
      !gemba_store_audit (self, "promote", value, detail, error) ||
      !_gemba_store_notify (self, GEMBA_CHANGE_PRODUCTION, model_id, error) ||
      !_gemba_store_commit (self, error))
    {
      _gemba_store_rollback (self);
      _gemba_store_unlock (self);
      _gemba_store_explain_refusal (self, GEMBA_ROLE_ENGINEER, _("promoting a model"), error);
      return FALSE;
    }
  _gemba_store_unlock (self);
  return TRUE;
}

gboolean
gemba_store_save_predictions (GembaStore *self, gint64 model_id, guint n,
                              const gint64 *frame_ids, const float *probabilities,
                              guint n_classes, const gint64 *class_ids, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  gint64 now = _gemba_store_now ();

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);
  g_return_val_if_fail (n_classes > 0, FALSE);

  _gemba_store_lock (self);
  if (!_gemba_store_begin (self, error))
    {
      _gemba_store_unlock (self);
      return FALSE;
    }
  stmt = _gemba_store_prepare (self, "INSERT INTO predictions (model_id, frame_id, "
                                     "class_id, confidence, probabilities, created_at) "
                                     "VALUES (?, ?, ?, ?, ?, ?) "
                                     "ON CONFLICT (model_id, frame_id) DO UPDATE SET "
                                     "class_id = excluded.class_id, "
                                     "confidence = excluded.confidence, "
                                     "probabilities = excluded.probabilities, "
                                     "created_at = excluded.created_at", error);
  if (!stmt)
    goto fail;
  for (guint i = 0; i < n; i++)
    {
      const float *p = probabilities + (gsize) i * n_classes;
      guint best = 0;
      for (guint k = 1; k < n_classes; k++)
        if (p[k] > p[best])
          best = k;
      gemba_db_reset (stmt);
      gemba_db_bind_int64 (stmt, 1, model_id);
      gemba_db_bind_int64 (stmt, 2, frame_ids[i]);
      if (class_ids[best])
        gemba_db_bind_int64 (stmt, 3, class_ids[best]);
      else
        gemba_db_bind_null (stmt, 3);
      gemba_db_bind_double (stmt, 4, p[best]);
      gemba_db_bind_blob (stmt, 5, p, n_classes * sizeof (float));
      gemba_db_bind_int64 (stmt, 6, now);
      if (gemba_db_step (stmt, NULL) != GEMBA_DB_STEP_DONE)
        {
          _gemba_store_fail (self, error, _("could not save the predictions"));
          goto fail;
        }
    }
  if (!_gemba_store_commit (self, error))
    goto fail;
  _gemba_store_unlock (self);
  return TRUE;

fail:
  _gemba_store_rollback (self);
  _gemba_store_unlock (self);
  return FALSE;
}

gboolean
gemba_store_get_prediction (GembaStore *self, gint64 model_id, gint64 frame_id,
                            gint64 *class_id, double *confidence, float **probabilities,
                            guint *n_classes, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  gboolean found = FALSE;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  _gemba_store_lock (self);
  if (!model_id)
    model_id = _gemba_store_production_model (self);
  stmt = _gemba_store_prepare (self, "SELECT class_id, confidence, probabilities FROM predictions "
                                     "WHERE model_id = ? AND frame_id = ?", error);
  if (stmt)
    {
      gemba_db_bind_int64 (stmt, 1, model_id);
      gemba_db_bind_int64 (stmt, 2, frame_id);
      if (gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW)
        {
          gsize bytes = 0;
          const guint8 *blob = gemba_db_column_blob (stmt, 2, &bytes);
          found = TRUE;
          if (class_id)
            *class_id = gemba_db_column_int64 (stmt, 0);
          if (confidence)
            *confidence = gemba_db_column_double (stmt, 1);
          if (probabilities)
            *probabilities = g_memdup2 (blob, bytes);
          if (n_classes)
            *n_classes = bytes / sizeof (float);
        }
    }
  _gemba_store_unlock (self);
  return found;
}

gint64
gemba_store_count_predictions (GembaStore *self, gint64 model_id, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  gint64 count = -1;

  g_return_val_if_fail (GEMBA_IS_STORE (self), -1);

  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self, "SELECT count(*) FROM predictions WHERE model_id = ?", error);
  if (stmt)
    {
      gemba_db_bind_int64 (stmt, 1, model_id);
      if (gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW)
        count = gemba_db_column_int64 (stmt, 0);
    }
  _gemba_store_unlock (self);
  return count;
}

GArray *
gemba_store_list_corrections (GembaStore *self, GError **error)
{
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_autoptr(GembaStmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self,
                               "SELECT f.id FROM frames f JOIN labels l ON l.id = f.label_id "
                               "WHERE l.correction = 1 AND l.class_id IS NOT NULL "
                               "ORDER BY l.id", error);
  if (!stmt)
    {
      _gemba_store_unlock (self);
      return NULL;
    }
  while ((rc = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    {
      gint64 id = gemba_db_column_int64 (stmt, 0);
      g_array_append_val (ids, id);
    }
  _gemba_store_unlock (self);
  if (rc != GEMBA_DB_STEP_DONE)
    {
      _gemba_store_fail (self, error, _("could not read the false readings"));
      return NULL;
    }
  return g_steal_pointer (&ids);
}

gint64
gemba_store_begin_run (GembaStore *self, gint64 parent_id, const char *settings, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  gint64 id = 0;

  g_return_val_if_fail (GEMBA_IS_STORE (self), 0);

  if (!gemba_store_require_role (self, GEMBA_ROLE_ENGINEER, _("training"), error))
    return 0;
  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self, "INSERT INTO runs (parent_id, author, started_at, status, "
                                     "settings) VALUES (?, ?, ?, 'running', ?)", error);
  if (stmt)
    {
      if (parent_id)
        gemba_db_bind_int64 (stmt, 1, parent_id);
      else
        gemba_db_bind_null (stmt, 1);
      _gemba_store_bind_text (stmt, 2, gemba_store_get_author (self));
      gemba_db_bind_int64 (stmt, 3, _gemba_store_now ());
      _gemba_store_bind_text (stmt, 4, settings);
      if (gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_DONE)
        id = _gemba_store_last_insert_id (self);
      else
        _gemba_store_fail (self, error, _("could not record the training run"));
    }
  _gemba_store_unlock (self);
  if (!id)
    _gemba_store_explain_refusal (self, GEMBA_ROLE_ENGINEER, _("training"), error);
  return id;
}

gboolean
gemba_store_finish_run (GembaStore *self, gint64 run_id, const char *status, gint64 model_id,
                        const char *log, GError **error)
{
  g_autoptr(GembaStmt) stmt = NULL;
  gboolean ok = FALSE;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  _gemba_store_lock (self);
  stmt = _gemba_store_prepare (self, "UPDATE runs SET finished_at = ?, status = ?, model_id = ?, "
                                     "log = ? WHERE id = ?", error);
  if (stmt)
    {
      gemba_db_bind_int64 (stmt, 1, _gemba_store_now ());
      _gemba_store_bind_text (stmt, 2, status);
      if (model_id)
        gemba_db_bind_int64 (stmt, 3, model_id);
      else
        gemba_db_bind_null (stmt, 3);
      _gemba_store_bind_text (stmt, 4, log);
      gemba_db_bind_int64 (stmt, 5, run_id);
      ok = gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_DONE ||
           _gemba_store_fail (self, error, _("could not record the training run"));
    }
  _gemba_store_unlock (self);
  return ok;
}
