/* gemba-project.c: an open project as the workbench sees it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-demo.h"
#include "gemba-error.h"
#include "gemba-project.h"

struct _GembaProject
{
  GObject parent_instance;

  char *path;
  char *name;
  GembaStore *writer;
  GembaStore *reader;
  GembaThumbnailer *thumbnailer;
  GThreadPool *write_pool;   /* one thread: writes happen in the order they were asked */

  GPtrArray *classes;
  GPtrArray *sources;
  GPtrArray *packages;
  guint n_undo;
  guint n_redo;
};

G_DEFINE_FINAL_TYPE (GembaProject, gemba_project, G_TYPE_OBJECT)

enum { CLASSES_CHANGED, UNDO_CHANGED, FRAMES_CHANGED, MODEL_ADDED, PRODUCTION_CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

typedef struct
{
  GTask *task;
  GembaProjectWriteFunc func;
  gpointer data;
  GDestroyNotify destroy;
  GDestroyNotify result_destroy;
} WriteJob;

typedef struct
{
  char *path;
  GembaProjectOpenMode mode;
  char *author;
} OpenData;

typedef struct
{
  gint64 frame_id;
  gint64 class_id;
  GembaLabelKind kind;
} LabelData;

static void
open_data_free (OpenData *data)
{
  g_free (data->path);
  g_free (data->author);
  g_free (data);
}

void
gemba_label_result_free (GembaLabelResult *result)
{
  g_clear_pointer (&result->label, gemba_label_free);
  g_clear_pointer (&result->frame, gemba_frame_free);
  g_free (result);
}

void
gemba_project_counts_free (GembaProjectCounts *counts)
{
  g_clear_pointer (&counts->per_class, g_array_unref);
  g_clear_pointer (&counts->sources, g_ptr_array_unref);
  g_clear_pointer (&counts->packages, g_ptr_array_unref);
  g_clear_pointer (&counts->tests, gemba_source_test_counts_free);
  g_free (counts);
}

const GembaSourceTestCount *
gemba_project_counts_short_of_tests (const GembaProjectCounts *counts)
{
  for (guint i = 0; counts->tests && i < counts->tests->len; i++)
    {
      const GembaSourceTestCount *c = &g_array_index (counts->tests, GembaSourceTestCount, i);
      if (c->source_id != 0 && c->n_test < GEMBA_MIN_TEST_FRAMES)
        return c;
    }
  return NULL;
}

static void
write_worker (gpointer data, gpointer user_data)
{
  WriteJob *job = data;
  GembaProject *self = user_data;
  GError *error = NULL;
  gpointer result;

  result = job->func (self->writer, job->data, &error);
  if (error)
    g_task_return_error (job->task, error);
  else
    g_task_return_pointer (job->task, result, job->result_destroy);
  if (job->destroy)
    job->destroy (job->data);
  g_object_unref (job->task);
  g_free (job);
}

static void
gemba_project_dispose (GObject *object)
{
  GembaProject *self = GEMBA_PROJECT (object);

  gemba_project_close (self);
  g_clear_object (&self->thumbnailer);
  g_clear_object (&self->writer);
  g_clear_object (&self->reader);
  G_OBJECT_CLASS (gemba_project_parent_class)->dispose (object);
}

static void
gemba_project_finalize (GObject *object)
{
  GembaProject *self = GEMBA_PROJECT (object);

  g_free (self->path);
  g_free (self->name);
  g_clear_pointer (&self->classes, g_ptr_array_unref);
  g_clear_pointer (&self->sources, g_ptr_array_unref);
  g_clear_pointer (&self->packages, g_ptr_array_unref);
  G_OBJECT_CLASS (gemba_project_parent_class)->finalize (object);
}

static void
gemba_project_class_init (GembaProjectClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gemba_project_dispose;
  object_class->finalize = gemba_project_finalize;

  signals[CLASSES_CHANGED] =
    g_signal_new ("classes-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[UNDO_CHANGED] =
    g_signal_new ("undo-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* Frames were added, or labels or predictions changed other than through label_async. */
  signals[FRAMES_CHANGED] =
    g_signal_new ("frames-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 0);
  /* A model was trained; its id. */
  signals[MODEL_ADDED] =
    g_signal_new ("model-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
  /* A model was promoted to production (every frame was classified by it); its id. */
  signals[PRODUCTION_CHANGED] =
    g_signal_new ("production-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
}

static void
gemba_project_init (GembaProject *self)
{
}

/* --- Opening ------------------------------------------------------------------------------ */

static void
open_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  OpenData *data = task_data;
  g_autoptr(GembaProject) self = g_object_new (GEMBA_TYPE_PROJECT, NULL);
  GError *error = NULL;

  switch (data->mode)
    {
    case GEMBA_PROJECT_CREATE:
      self->writer = gemba_store_create (data->path, NULL, &error);
      break;
    case GEMBA_PROJECT_CREATE_DEMO:
      if (!gemba_store_is_project (data->path) &&
          !gemba_demo_create (data->path, NULL, NULL, cancellable, &error))
        break;
      G_GNUC_FALLTHROUGH;
    case GEMBA_PROJECT_OPEN:
    default:
      self->writer = gemba_store_open (data->path, &error);
      break;
    }
  if (!self->writer || !(self->reader = gemba_store_open (data->path, &error)))
    {
      g_task_return_error (task, error);
      return;
    }
  gemba_store_set_author (self->writer, data->author);
  gemba_store_set_author (self->reader, data->author);
  if (!(self->classes = gemba_store_list_classes (self->reader, TRUE, &error)) ||
      !(self->sources = gemba_store_list_sources (self->reader, &error)) ||
      !(self->packages = gemba_store_list_frame_packages (self->reader, &error)))
    {
      g_task_return_error (task, error);
      return;
    }
  gemba_store_get_undo_state (self->writer, &self->n_undo, &self->n_redo);
  self->path = g_strdup (gemba_store_get_path (self->writer));
  self->name = gemba_store_dup_name (self->writer);
  g_task_return_pointer (task, g_steal_pointer (&self), g_object_unref);
}

void
gemba_project_open_async (const char *path, GembaProjectOpenMode mode, const char *author,
                          GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  OpenData *data = g_new0 (OpenData, 1);

  data->path = g_strdup (path);
  data->mode = mode;
  data->author = g_strdup (author);
  g_task_set_source_tag (task, gemba_project_open_async);
  g_task_set_task_data (task, data, (GDestroyNotify) open_data_free);
  g_task_run_in_thread (task, open_thread);
}

GembaProject *
gemba_project_open_finish (GAsyncResult *result, GError **error)
{
  GembaProject *self = g_task_propagate_pointer (G_TASK (result), error);

  if (self)
    {
      self->thumbnailer = gemba_thumbnailer_new (self->reader);
      self->write_pool = g_thread_pool_new (write_worker, self, 1, FALSE, NULL);
    }
  return self;
}

void
gemba_project_close (GembaProject *self)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));

  /* Every label that was given is written before the project goes away. */
  if (self->write_pool)
    g_thread_pool_free (g_steal_pointer (&self->write_pool), FALSE, TRUE);
  if (self->thumbnailer)
    gemba_thumbnailer_shutdown (self->thumbnailer);
}

/* --- Getters ------------------------------------------------------------------------------ */

const char *
gemba_project_get_path (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);
  return self->path;
}

const char *
gemba_project_get_name (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);
  return self->name;
}

GembaStore *
gemba_project_get_reader (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);
  return self->reader;
}

GembaThumbnailer *
gemba_project_get_thumbnailer (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);
  return self->thumbnailer;
}

GPtrArray *
gemba_project_get_classes (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);
  return self->classes;
}

GPtrArray *
gemba_project_get_sources (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);
  return self->sources;
}

GPtrArray *
gemba_project_get_packages (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);
  return self->packages;
}

const GembaClass *
gemba_project_lookup_class (GembaProject *self, gint64 class_id)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);

  for (guint i = 0; i < self->classes->len; i++)
    {
      const GembaClass *klass = g_ptr_array_index (self->classes, i);
      if (klass->id == class_id)
        return klass;
    }
  return NULL;
}

const GembaClass *
gemba_project_class_for_key (GembaProject *self, int key)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);

  for (guint i = 0; i < self->classes->len; i++)
    {
      const GembaClass *klass = g_ptr_array_index (self->classes, i);
      if (klass->key == key && !klass->retired)
        return klass;
    }
  return NULL;
}

guint
gemba_project_get_n_undo (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), 0);
  return self->n_undo;
}

guint
gemba_project_get_n_redo (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), 0);
  return self->n_redo;
}

/* --- Writes ------------------------------------------------------------------------------- */

static void
queue_write (GembaProject *self, GembaProjectWriteFunc func, gpointer data,
             GDestroyNotify destroy, GDestroyNotify result_destroy, gpointer source_tag,
             GAsyncReadyCallback callback, gpointer user_data)
{
  WriteJob *job = g_new0 (WriteJob, 1);

  job->task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (job->task, source_tag);
  job->func = func;
  job->data = data;
  job->destroy = destroy;
  job->result_destroy = result_destroy;
  if (!self->write_pool)
    {
      g_task_return_new_error (job->task, GEMBA_ERROR, GEMBA_ERROR_IO,
                               _("The project %s is closed."), self->path);
      if (destroy)
        destroy (data);
      g_object_unref (job->task);
      g_free (job);
      return;
    }
  g_thread_pool_push (self->write_pool, job, NULL);
}

void
gemba_project_write_async (GembaProject *self, GembaProjectWriteFunc func, gpointer data,
                           GDestroyNotify destroy, GAsyncReadyCallback callback,
                           gpointer user_data)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  queue_write (self, func, data, destroy, NULL, gemba_project_write_async, callback, user_data);
}

gpointer
gemba_project_write_finish (GembaProject *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static gpointer
set_author_func (GembaStore *store, gpointer data, GError **error)
{
  gemba_store_set_author (store, data);
  return GINT_TO_POINTER (1);
}

void
gemba_project_set_author (GembaProject *self, const char *author)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));

  gemba_store_set_author (self->reader, author);
  gemba_project_write_async (self, set_author_func, g_strdup (author), g_free, NULL, NULL);
}

static GembaLabelResult *
finish_label (GembaStore *store, GembaLabel *label, GError **error)
{
  g_autoptr(GembaLabelResult) result = g_new0 (GembaLabelResult, 1);

  result->label = label;
  if (label && !(result->frame = gemba_store_get_frame (store, label->frame_id, error)))
    return NULL;
  gemba_store_get_undo_state (store, &result->n_undo, &result->n_redo);
  return g_steal_pointer (&result);
}

static gpointer
label_func (GembaStore *store, gpointer data, GError **error)
{
  LabelData *label_data = data;
  GembaLabel *label;

  if (!(label = gemba_store_set_label (store, label_data->frame_id, label_data->class_id,
                                       label_data->kind, error)))
    return NULL;
  return finish_label (store, label, error);
}

static gpointer
undo_func (GembaStore *store, gpointer data, GError **error)
{
  GError *local = NULL;
  GembaLabel *label = gemba_store_undo_label (store, &local);

  if (local)
    {
      g_propagate_error (error, local);
      return NULL;
    }
  return finish_label (store, label, error);
}

static gpointer
redo_func (GembaStore *store, gpointer data, GError **error)
{
  GError *local = NULL;
  GembaLabel *label = gemba_store_redo_label (store, &local);

  if (local)
    {
      g_propagate_error (error, local);
      return NULL;
    }
  return finish_label (store, label, error);
}

void
gemba_project_label_async (GembaProject *self, gint64 frame_id, gint64 class_id,
                           GembaLabelKind kind, GAsyncReadyCallback callback, gpointer user_data)
{
  LabelData *data = g_new0 (LabelData, 1);

  g_return_if_fail (GEMBA_IS_PROJECT (self));

  data->frame_id = frame_id;
  data->class_id = class_id;
  data->kind = kind;
  queue_write (self, label_func, data, g_free, (GDestroyNotify) gemba_label_result_free,
               gemba_project_label_async, callback, user_data);
}

void
gemba_project_undo_async (GembaProject *self, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  queue_write (self, undo_func, NULL, NULL, (GDestroyNotify) gemba_label_result_free,
               gemba_project_label_async, callback, user_data);
}

void
gemba_project_redo_async (GembaProject *self, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  queue_write (self, redo_func, NULL, NULL, (GDestroyNotify) gemba_label_result_free,
               gemba_project_label_async, callback, user_data);
}

GembaLabelResult *
gemba_project_label_finish (GembaProject *self, GAsyncResult *result, GError **error)
{
  GembaLabelResult *label_result;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  if ((label_result = g_task_propagate_pointer (G_TASK (result), error)))
    {
      if (self->n_undo != label_result->n_undo || self->n_redo != label_result->n_redo)
        {
          self->n_undo = label_result->n_undo;
          self->n_redo = label_result->n_redo;
          g_signal_emit (self, signals[UNDO_CHANGED], 0);
        }
    }
  return label_result;
}

/* --- Classes and counts ------------------------------------------------------------------- */

static gpointer
list_classes_func (GembaStore *store, gpointer data, GError **error)
{
  return gemba_store_list_classes (store, TRUE, error);
}

static void
classes_listed_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  GembaProject *self = GEMBA_PROJECT (object);
  g_autoptr(GError) error = NULL;
  GPtrArray *classes = gemba_project_write_finish (self, result, &error);

  if (!classes)
    {
      g_warning ("%s: %s", self->path, error->message);
      return;
    }
  g_clear_pointer (&self->classes, g_ptr_array_unref);
  self->classes = classes;
  g_signal_emit (self, signals[CLASSES_CHANGED], 0);
}

void
gemba_project_reload_classes (GembaProject *self)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  queue_write (self, list_classes_func, NULL, NULL, (GDestroyNotify) g_ptr_array_unref,
               gemba_project_write_async, classes_listed_cb, NULL);
}

static void
count_thread (GTask *task, gpointer source_object, gpointer task_data,
              GCancellable *cancellable)
{
  GembaProject *self = source_object;
  g_autoptr(GembaProjectCounts) counts = g_new0 (GembaProjectCounts, 1);
  GembaFrameQuery review = { .filter = GEMBA_FILTER_REVIEW };
  GembaFrameQuery suspect = { .filter = GEMBA_FILTER_SUSPECT };
  GembaFrameQuery test_batch = { .filter = GEMBA_FILTER_TEST_BATCH };
  GError *error = NULL;

  if (!gemba_store_get_stats (self->reader, &counts->stats, &error) ||
      (counts->n_review = gemba_store_count_frames (self->reader, &review, &error)) < 0 ||
      (counts->n_suspect = gemba_store_count_frames (self->reader, &suspect, &error)) < 0 ||
      (counts->n_test_batch = gemba_store_count_frames (self->reader, &test_batch,
                                                        &error)) < 0 ||
      !(counts->tests = gemba_store_count_test_frames_per_source (self->reader, &error)) ||
      !(counts->per_class = gemba_store_count_labels_per_class (self->reader, -1,
                                                                &error)) ||
      !(counts->sources = gemba_store_list_sources (self->reader, &error)) ||
      !(counts->packages = gemba_store_list_frame_packages (self->reader, &error)))
    {
      g_task_return_error (task, error);
      return;
    }
  g_task_return_pointer (task, g_steal_pointer (&counts),
                         (GDestroyNotify) gemba_project_counts_free);
}

void
gemba_project_count_async (GembaProject *self, GCancellable *cancellable,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (GEMBA_IS_PROJECT (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, gemba_project_count_async);
  g_task_run_in_thread (task, count_thread);
}

GembaProjectCounts *
gemba_project_count_finish (GembaProject *self, GAsyncResult *result, GError **error)
{
  GembaProjectCounts *counts;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  if ((counts = g_task_propagate_pointer (G_TASK (result), error)))
    {
      g_clear_pointer (&self->sources, g_ptr_array_unref);
      self->sources = g_ptr_array_ref (counts->sources);
      g_clear_pointer (&self->packages, g_ptr_array_unref);
      self->packages = g_ptr_array_ref (counts->packages);
    }
  return counts;
}

static gpointer
reserve_test_batch_func (GembaStore *store, gpointer data, GError **error)
{
  gint64 reserved = gemba_store_top_up_test_batch (store, *(gint64 *) data, error);

  return reserved < 0 ? NULL : GINT_TO_POINTER (reserved + 1);
}

void
gemba_project_reserve_test_batch_async (GembaProject *self, gint64 source_id,
                                        GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  gemba_project_write_async (self, reserve_test_batch_func, g_memdup2 (&source_id,
                                                                        sizeof source_id),
                             g_free, callback, user_data);
}

char *
gemba_class_markup (GembaProject *project, gint64 class_id)
{
  const GembaClass *klass;
  g_autofree char *name = NULL;

  if (class_id == 0)
    return g_markup_printf_escaped ("<span alpha=\"60%%\">%s</span>", _("Unlabeled"));
  if (!(klass = gemba_project_lookup_class (project, class_id)))
    return g_markup_printf_escaped ("%s", _("Unknown class"));
  /* A retired class still names old labels, marked so nobody picks it again by mistake. */
  name = klass->retired ? g_strdup_printf (_("%s (retired)"), klass->name)
                        : g_strdup (klass->name);
  return g_markup_printf_escaped ("<span foreground=\"%s\">⬤</span> %s", klass->color, name);
}

void
gemba_project_frames_changed (GembaProject *self)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  g_signal_emit (self, signals[FRAMES_CHANGED], 0);
}

void
gemba_project_model_added (GembaProject *self, gint64 model_id)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  g_signal_emit (self, signals[MODEL_ADDED], 0, model_id);
}

void
gemba_project_production_changed (GembaProject *self, gint64 model_id)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  g_signal_emit (self, signals[PRODUCTION_CHANGED], 0, model_id);
  /* Promotion classified every frame again: their predictions changed. */
  g_signal_emit (self, signals[FRAMES_CHANGED], 0);
}
