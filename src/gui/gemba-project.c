/* gemba-project.c: an open project as the workbench sees it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <inttypes.h>
#include <glib/gi18n.h>

#include "gemba-demo.h"
#include "gemba-error.h"
#include "gemba-niced-task.h"
#include "gemba-project.h"

/* Worker connections kept open between jobs; more jobs at once open more, closed after. */
#define MAX_IDLE_WORKERS 2
/* Training reports are thinned to about this many a second. */
#define TRAIN_REPORTS_PER_SECOND 15
/* Other members' changes (team projects) are signalled at most once per kind this often. */
#define REMOTE_CHANGES_MS 100

struct _GembaProject
{
  GObject parent_instance;

  char *path;
  char *name;
  GembaStore *writer;
  GembaStore *reader;
  GembaThumbnailer *thumbnailer;
  GThreadPool *write_pool;   /* one thread: writes happen in the order they were asked */

  GPtrArray *jobs;           /* GembaJob running (main thread) */
  GMutex workers_lock;       /* guards the three below: worker threads lend and return */
  GPtrArray *idle_workers;   /* GembaStore connections for jobs, not in use */
  char *author;
  gboolean closed;
  gint64 last_frames_changed;  /* µs monotonic, for imports */
  guint frames_changed_id;

  GPtrArray *classes;
  GPtrArray *sources;
  GPtrArray *packages;
  guint n_undo;
  guint n_redo;

  GembaStoreWatch *watch;    /* a team project: other members' changes */
  guint remote_pending;      /* 1 << GembaChangeKind heard since the last emission */
  GArray *remote_models;     /* gint64 ids of models others added, to signal */
  gint64 remote_production;
  guint remote_flush_id;
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
  g_clear_handle_id (&self->frames_changed_id, g_source_remove);
  g_clear_handle_id (&self->remote_flush_id, g_source_remove);
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
  g_free (self->author);
  g_clear_pointer (&self->jobs, g_ptr_array_unref);
  g_clear_pointer (&self->idle_workers, g_ptr_array_unref);
  g_mutex_clear (&self->workers_lock);
  g_clear_pointer (&self->classes, g_ptr_array_unref);
  g_clear_pointer (&self->sources, g_ptr_array_unref);
  g_clear_pointer (&self->packages, g_ptr_array_unref);
  g_clear_pointer (&self->remote_models, g_array_unref);
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
  self->jobs = g_ptr_array_new_with_free_func (g_object_unref);
  self->idle_workers = g_ptr_array_new_with_free_func (g_object_unref);
  g_mutex_init (&self->workers_lock);
  self->remote_models = g_array_new (FALSE, FALSE, sizeof (gint64));
}

/* --- Other members' changes (team projects) ----------------------------------------------- */

static void emit_model_added (GembaProject *self, gint64 model_id);
static void emit_production_changed (GembaProject *self, gint64 model_id);

/* Emits what other members changed since the last time, each kind once. */
static gboolean
flush_remote_changes (gpointer user_data)
{
  GembaProject *self = user_data;
  guint pending = self->remote_pending;
  g_autoptr(GArray) models = g_steal_pointer (&self->remote_models);

  self->remote_flush_id = 0;
  self->remote_pending = 0;
  self->remote_models = g_array_new (FALSE, FALSE, sizeof (gint64));
  if (pending & (1 << GEMBA_CHANGE_RESYNC))
    {
      /* Changes may have been missed while disconnected: everything is read again. */
      pending |= (1 << GEMBA_CHANGE_CLASSES) | (1 << GEMBA_CHANGE_PRODUCTION);
      self->remote_production = gemba_store_get_production_model_id (self->reader);
    }
  if (pending & (1 << GEMBA_CHANGE_CLASSES))
    gemba_project_reload_classes (self);
  for (guint i = 0; i < models->len; i++)
    emit_model_added (self, g_array_index (models, gint64, i));
  if (pending & (1 << GEMBA_CHANGE_PRODUCTION))
    emit_production_changed (self, self->remote_production);  /* frames-changed too */
  else if (pending & (1 << GEMBA_CHANGE_FRAMES))
    g_signal_emit (self, signals[FRAMES_CHANGED], 0);
  return G_SOURCE_REMOVE;
}

static void
remote_change_cb (GembaChangeKind kind, gint64 id, gpointer user_data)
{
  GembaProject *self = user_data;

  self->remote_pending |= 1 << kind;
  if (kind == GEMBA_CHANGE_MODEL)
    g_array_append_val (self->remote_models, id);
  else if (kind == GEMBA_CHANGE_PRODUCTION)
    self->remote_production = id;
  if (!self->remote_flush_id)
    self->remote_flush_id = g_timeout_add (REMOTE_CHANGES_MS, flush_remote_changes, self);
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
  self->author = g_strdup (data->author);
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
      g_autoptr(GError) watch_error = NULL;

      self->thumbnailer = gemba_thumbnailer_new (self->reader);
      self->write_pool = g_thread_pool_new (write_worker, self, 1, FALSE, NULL);
      /* A team project: other members' labels, models and promotions show up as they are
       * made (this workbench's own writes are signalled where they are made). */
      if (gemba_store_get_server (self->reader) &&
          !(self->watch = gemba_store_watch_new (self->reader, GEMBA_WATCH_SKIP_OWN_PROCESS,
                                                 NULL, remote_change_cb, self, &watch_error)))
        g_warning ("%s", watch_error->message);
    }
  return self;
}

void
gemba_project_close (GembaProject *self)
{
  GPtrArray *idle;

  g_return_if_fail (GEMBA_IS_PROJECT (self));

  g_clear_pointer (&self->watch, gemba_store_watch_free);
  for (guint i = 0; i < self->jobs->len; i++)
    gemba_job_cancel (g_ptr_array_index (self->jobs, i));
  g_mutex_lock (&self->workers_lock);
  self->closed = TRUE;
  idle = g_steal_pointer (&self->idle_workers);
  self->idle_workers = g_ptr_array_new_with_free_func (g_object_unref);
  g_mutex_unlock (&self->workers_lock);
  g_ptr_array_unref (idle);
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
  g_mutex_lock (&self->workers_lock);
  g_free (self->author);
  self->author = g_strdup (author);
  for (guint i = 0; i < self->idle_workers->len; i++)
    gemba_store_set_author (g_ptr_array_index (self->idle_workers, i), author);
  g_mutex_unlock (&self->workers_lock);
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
  /* Niced: while labeling, the counts are redone every few hundred ms and ranking the review
   * queue takes a CPU for a while; the frame being drawn must not wait for it. */
  gemba_niced_task_run (task, count_thread, "gemba-count");
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

static void
emit_model_added (GembaProject *self, gint64 model_id)
{
  g_signal_emit (self, signals[MODEL_ADDED], 0, model_id);
}

static void
emit_production_changed (GembaProject *self, gint64 model_id)
{
  g_signal_emit (self, signals[PRODUCTION_CHANGED], 0, model_id);
  /* Promotion classified every frame again: their predictions changed. */
  g_signal_emit (self, signals[FRAMES_CHANGED], 0);
}

/* --- Jobs --------------------------------------------------------------------------------- */

/* Main thread, once a job's worker is done and before its caller sees the result: what the
 * result changed in the project (signals). */
typedef void (*JobDoneFunc) (GembaProject *self, gpointer data, gpointer result);

typedef struct
{
  GembaJob *job;
  GembaJobFunc func;
  gpointer data;
  GDestroyNotify destroy;
  GDestroyNotify result_destroy;
  JobDoneFunc done;
  GTask *outer;              /* the caller's */
} RunData;

static void
run_data_free (RunData *run)
{
  if (run->destroy)
    run->destroy (run->data);
  g_clear_object (&run->job);
  g_clear_object (&run->outer);
  g_free (run);
}

/* Worker thread: an idle worker connection, else a new one. */
static GembaStore *
acquire_worker_store (GembaProject *self, GError **error)
{
  GembaStore *store = NULL;
  g_autofree char *author = NULL;

  g_mutex_lock (&self->workers_lock);
  if (self->idle_workers->len > 0)
    store = g_ptr_array_steal_index_fast (self->idle_workers, self->idle_workers->len - 1);
  author = g_strdup (self->author);
  g_mutex_unlock (&self->workers_lock);
  if (store)
    return store;
  if (!(store = gemba_store_open (self->path, error)))
    return NULL;
  gemba_store_set_author (store, author);
  return store;
}

/* Worker thread: keeps @store for the next job, or closes it. */
static void
release_worker_store (GembaProject *self, GembaStore *store)
{
  g_mutex_lock (&self->workers_lock);
  if (!self->closed && self->idle_workers->len < MAX_IDLE_WORKERS)
    {
      g_ptr_array_add (self->idle_workers, store);
      store = NULL;
    }
  g_mutex_unlock (&self->workers_lock);
  g_clear_object (&store);
}

static void
job_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *unused)
{
  GembaProject *self = source_object;
  RunData *run = task_data;
  GError *error = NULL;
  GembaStore *store = acquire_worker_store (self, &error);
  gpointer result = NULL;

  if (store)
    {
      result = run->func (run->job, store, run->data, gemba_job_get_cancellable (run->job),
                          &error);
      release_worker_store (self, store);
    }
  if (error)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, result, run->result_destroy);
}

static void
job_done_cb (GObject *object, GAsyncResult *res, gpointer user_data)
{
  GembaProject *self = GEMBA_PROJECT (object);
  RunData *run = user_data;
  GError *error = NULL;
  gpointer result = g_task_propagate_pointer (G_TASK (res), &error);

  /* The last reports first, then :running, then what the result changed, then the caller. */
  gemba_job_set_running (run->job, FALSE);
  g_ptr_array_remove (self->jobs, run->job);
  if (result && run->done)
    run->done (self, run->data, result);
  if (error)
    g_task_return_error (run->outer, error);
  else
    g_task_return_pointer (run->outer, result, run->result_destroy);
}

static GembaJob *
run_job (GembaProject *self, const char *title, GembaJobFlags flags, GembaJobFunc func,
         gpointer data, GDestroyNotify destroy, GDestroyNotify result_destroy, JobDoneFunc done,
         gpointer source_tag, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;
  RunData *run = g_new0 (RunData, 1);

  run->job = gemba_job_new (title);
  run->func = func;
  run->data = data;
  run->destroy = destroy;
  run->result_destroy = result_destroy;
  run->done = done;
  /* A cancelled job's result is G_IO_ERROR_CANCELLED, as a GTask's, unless the worker's
   * partial result is wanted. */
  run->outer = g_task_new (self, flags & GEMBA_JOB_KEEP_RESULT
                                   ? NULL : gemba_job_get_cancellable (run->job),
                           callback, user_data);
  g_task_set_source_tag (run->outer, source_tag);
  g_task_set_name (run->outer, title);
  g_ptr_array_add (self->jobs, g_object_ref (run->job));
  gemba_job_set_running (run->job, TRUE);

  task = g_task_new (self, NULL, job_done_cb, run);
  g_task_set_task_data (task, run, (GDestroyNotify) run_data_free);
  if (!self->write_pool)
    {
      g_task_return_new_error (task, GEMBA_ERROR, GEMBA_ERROR_IO,
                               _("The project %s is closed."), self->path);
      return g_object_ref (run->job);
    }
  if (flags & GEMBA_JOB_LOW_PRIORITY)
    gemba_niced_task_run (task, job_thread, "gemba-job");
  else
    g_task_run_in_thread (task, job_thread);
  return g_object_ref (run->job);
}

GembaJob *
gemba_project_run_job (GembaProject *self, const char *title, GembaJobFlags flags,
                       GembaJobFunc func, gpointer data, GDestroyNotify destroy,
                       GDestroyNotify result_destroy, GAsyncReadyCallback callback,
                       gpointer user_data)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);
  g_return_val_if_fail (func != NULL, NULL);

  return run_job (self, title, flags, func, data, destroy, result_destroy, NULL,
                  gemba_project_run_job, callback, user_data);
}

gpointer
gemba_project_job_finish (GembaProject *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- Listing models ----------------------------------------------------------------------- */

static gpointer
list_models_func (GembaJob *job, GembaStore *store, gpointer data, GCancellable *cancellable,
                  GError **error)
{
  return gemba_store_list_models (store, error);
}

GembaJob *
gemba_project_list_models_async (GembaProject *self, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);
  return run_job (self, _("Reading the models"), GEMBA_JOB_DEFAULT, list_models_func, NULL,
                  NULL, (GDestroyNotify) g_ptr_array_unref, NULL,
                  gemba_project_list_models_async, callback, user_data);
}

/* --- Training ----------------------------------------------------------------------------- */

typedef struct {
  GembaWorkflowTrainOptions options;
  GembaJob *job;            /* while the worker runs */
  gint64 last_report;       /* µs, monotonic */
} TrainData;

void
gemba_project_train_result_free (GembaProjectTrainResult *result)
{
  g_clear_pointer (&result->record, gemba_model_record_free);
  g_free (result->change);
  g_free (result);
}

/* In the training thread. */
static void
train_progress_cb (const GembaTrainProgress *p, gpointer user_data)
{
  TrainData *data = user_data;
  gint64 now = g_get_monotonic_time ();
  g_autofree char *message = NULL;
  double fraction;

  if (!p->epoch_done && !p->saved_model_id && p->epoch > 0 && p->step != p->n_steps &&
      now - data->last_report < G_USEC_PER_SEC / TRAIN_REPORTS_PER_SECOND)
    return;
  data->last_report = now;
  if (p->saved_model_id)
    {
      fraction = 1;
      message = g_strdup_printf (_("Model %" PRId64 " is saved; evaluating it on the locked "
                                   "test split…"), p->saved_model_id);
    }
  else if (p->epoch == 0)
    {
      /* Reading the images: the first 5 %. */
      fraction = 0.05 * (p->n_steps ? (double) p->step / p->n_steps : 0);
      message = g_strdup_printf (_("Reading frames: %d of %d"), p->step, p->n_steps);
    }
  else
    {
      fraction = 0.05 + 0.95 * ((p->epoch - 1) + (double) p->step / MAX (1, p->n_steps)) /
                 MAX (1, p->n_epochs);
      message = g_strdup_printf (_("Epoch %d of %d, step %d of %d"), p->epoch, p->n_epochs,
                                 p->step, p->n_steps);
    }
  gemba_job_report (data->job, fraction, message, g_memdup2 (p, sizeof *p), g_free);
}

static gpointer
train_func (GembaJob *job, GembaStore *store, gpointer user_data, GCancellable *cancellable,
            GError **error)
{
  TrainData *data = user_data;
  g_autoptr(GembaProjectTrainResult) result = g_new0 (GembaProjectTrainResult, 1);
  gint64 production;

  data->job = job;
  if (!(result->record = gemba_workflow_train (store, &data->options, cancellable,
                                               train_progress_cb, data, error)))
    return NULL;
  production = gemba_store_get_production_model_id (store);
  if (production != 0 && production != result->record->id)
    result->change = gemba_workflow_describe_change (store, result->record->id, NULL);
  return g_steal_pointer (&result);
}

static void
train_done (GembaProject *self, gpointer data, gpointer result)
{
  emit_model_added (self, ((GembaProjectTrainResult *) result)->record->id);
}

GembaJob *
gemba_project_train_async (GembaProject *self, const GembaWorkflowTrainOptions *options,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  TrainData *data;

  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);

  data = g_new0 (TrainData, 1);
  data->options = *options;
  /* KEEP_RESULT: a Cancel that comes after the model is saved does not unsave it. */
  return run_job (self, options->parent_id ? _("Fine-tuning") : _("Training"),
                  GEMBA_JOB_LOW_PRIORITY | GEMBA_JOB_KEEP_RESULT, train_func, data, g_free,
                  (GDestroyNotify) gemba_project_train_result_free, train_done,
                  gemba_project_train_async, callback, user_data);
}

GembaProjectTrainResult *
gemba_project_train_finish (GembaProject *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* --- Comparing and promoting -------------------------------------------------------------- */

typedef struct {
  gint64 a, b;
} CompareData;

static gpointer
compare_func (GembaJob *job, GembaStore *store, gpointer user_data, GCancellable *cancellable,
              GError **error)
{
  CompareData *data = user_data;

  return gemba_workflow_compare (store, data->a, data->b, cancellable, error);
}

GembaJob *
gemba_project_compare_async (GembaProject *self, gint64 a, gint64 b,
                             GAsyncReadyCallback callback, gpointer user_data)
{
  CompareData *data;

  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);

  data = g_new0 (CompareData, 1);
  data->a = a;
  data->b = b;
  return run_job (self, _("Classifying the test frames with both versions…"), GEMBA_JOB_DEFAULT,
                  compare_func, data, g_free, (GDestroyNotify) gemba_comparison_free, NULL,
                  gemba_project_compare_async, callback, user_data);
}

GembaComparison *
gemba_project_compare_finish (GembaProject *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

typedef struct {
  gint64 model_id;
  GembaJob *job;
} PromoteData;

/* In the promoting thread. */
static void
promote_progress_cb (guint done, guint total, gpointer user_data)
{
  PromoteData *data = user_data;
  g_autofree char *message = g_strdup_printf (_("Classifying frames: %u of %u"), done, total);

  gemba_job_report (data->job, total ? (double) done / total : 0, message, NULL, NULL);
}

static gpointer
promote_func (GembaJob *job, GembaStore *store, gpointer user_data, GCancellable *cancellable,
              GError **error)
{
  PromoteData *data = user_data;
  gint64 n;

  data->job = job;
  gemba_job_report (job, 0, _("Classifying frames…"), NULL, NULL);
  if ((n = gemba_workflow_promote (store, data->model_id, cancellable, promote_progress_cb, data,
                                   error)) < 0)
    return NULL;
  return g_memdup2 (&n, sizeof n);
}

static void
promote_done (GembaProject *self, gpointer data, gpointer result)
{
  emit_production_changed (self, ((PromoteData *) data)->model_id);
}

GembaJob *
gemba_project_promote_async (GembaProject *self, gint64 model_id, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  PromoteData *data;

  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);

  data = g_new0 (PromoteData, 1);
  data->model_id = model_id;
  return run_job (self, _("Promoting"), GEMBA_JOB_DEFAULT, promote_func, data, g_free, g_free,
                  promote_done, gemba_project_promote_async, callback, user_data);
}

gint64
gemba_project_promote_finish (GembaProject *self, GAsyncResult *result, GError **error)
{
  g_autofree gint64 *n = NULL;

  g_return_val_if_fail (g_task_is_valid (result, self), -1);
  n = g_task_propagate_pointer (G_TASK (result), error);
  return n ? *n : -1;
}

/* --- Capturing ---------------------------------------------------------------------------- */

typedef struct {
  GembaFrameSource *source;
  GembaSampler *sampler;
  GembaJob *job;
  gint stored;              /* atomic: new frames stored this run */
  gint64 stored_seen;       /* main thread: stored in the last report handled */
} ImportData;

static void
import_data_free (ImportData *data)
{
  g_clear_object (&data->source);
  g_clear_pointer (&data->sampler, gemba_sampler_free);
  g_free (data);
}

static void
import_report (ImportData *data, const GembaMediaProgress *progress)
{
  GembaProjectImportProgress *p = g_new0 (GembaProjectImportProgress, 1);

  if (progress)
    {
      p->progress = *progress;
      p->is_progress = TRUE;
    }
  p->stored = g_atomic_int_get (&data->stored);
  gemba_job_report (data->job, -1, NULL, p, g_free);
}

/* The import's thread, about five times a second. */
static void
import_progress_cb (const GembaMediaProgress *progress, gpointer user_data)
{
  import_report (user_data, progress);
}

/* The store's writer thread, once a frame's batch has committed. */
static void
import_stored_cb (const GembaFrame *frame, gboolean duplicate, gpointer user_data)
{
  ImportData *data = user_data;

  if (duplicate)
    return;
  g_atomic_int_inc (&data->stored);
  import_report (data, NULL);
}

static gpointer
import_func (GembaJob *job, GembaStore *store, gpointer user_data, GCancellable *cancellable,
             GError **error)
{
  ImportData *data = user_data;
  GembaMediaImportOptions options;
  GembaMediaProgress summary = { 0 };
  GError *local = NULL;

  data->job = job;
  gemba_media_import_options_init (&options);
  options.sampler = data->sampler;
  options.progress = import_progress_cb;
  options.stored = import_stored_cb;
  options.user_data = data;
  if (!gemba_media_import (store, data->source, &options, &summary, cancellable, &local) &&
      !g_error_matches (local, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_propagate_error (error, local);
      return NULL;
    }
  g_clear_error (&local);
  return g_memdup2 (&summary, sizeof summary);
}

static gboolean
frames_changed_cb (gpointer user_data)
{
  GembaProject *self = user_data;

  self->frames_changed_id = 0;
  self->last_frames_changed = g_get_monotonic_time ();
  g_signal_emit (self, signals[FRAMES_CHANGED], 0);
  return G_SOURCE_REMOVE;
}

typedef struct {
  GembaProject *project;
  ImportData *data;
} ImportWatch;

/* New frames stored: ::frames-changed at most once a second while they come in. */
static void
import_job_progress_cb (GembaJob *job, gpointer detail, gpointer user_data)
{
  const GembaProjectImportProgress *p = detail;
  ImportWatch *watch = user_data;
  GembaProject *self = watch->project;
  gint64 since;

  if (p->stored == watch->data->stored_seen)
    return;
  watch->data->stored_seen = p->stored;
  if (self->frames_changed_id)
    return;
  since = g_get_monotonic_time () - self->last_frames_changed;
  self->frames_changed_id = g_timeout_add (since > G_USEC_PER_SEC ? 50
                                           : (G_USEC_PER_SEC - since) / 1000 + 50,
                                           frames_changed_cb, self);
}

static void
import_done (GembaProject *self, gpointer data, gpointer result)
{
  g_signal_handlers_disconnect_matched (((ImportData *) data)->job, G_SIGNAL_MATCH_FUNC, 0, 0,
                                        NULL, import_job_progress_cb, NULL);
  g_clear_handle_id (&self->frames_changed_id, g_source_remove);
  frames_changed_cb (self);
}

GembaJob *
gemba_project_import_async (GembaProject *self, GembaFrameSource *source, GembaSampler *sampler,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  ImportData *data;
  ImportWatch *watch;
  GembaJob *job;

  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);

  data = g_new0 (ImportData, 1);
  data->source = g_object_ref (source);
  data->sampler = sampler;
  job = run_job (self, gemba_frame_source_get_display_name (source),
                 GEMBA_JOB_LOW_PRIORITY | GEMBA_JOB_KEEP_RESULT, import_func, data,
                 (GDestroyNotify) import_data_free, g_free, import_done,
                 gemba_project_import_async, callback, user_data);
  /* Reports are applied on this thread, after this returns; the job holds a reference to the
   * project until it is done (its task's source object), and @data lives as long. */
  watch = g_new0 (ImportWatch, 1);
  watch->project = self;
  watch->data = data;
  g_signal_connect_data (job, "progress", G_CALLBACK (import_job_progress_cb), watch,
                         (GClosureNotify) (void (*) (void)) g_free, 0);
  return job;
}

GembaMediaProgress *
gemba_project_import_finish (GembaProject *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}
