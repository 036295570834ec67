/* gemba-project.c: an open project as the workbench sees it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <unistd.h>

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
/* While the server cannot be reached: the first retry, the longest wait between retries. */
#define FIRST_RETRY_MS 500
#define LAST_RETRY_MS 5000
/* Another member's label counts as crossing this person's (::labels-crossed) when it came at
 * most this long before it (and the person had not seen it) or after it. */
#define CROSSING_USEC (30 * G_USEC_PER_SEC)

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

  /* The outbox (see gemba-project.h): OutboxEntry, oldest first. Used by the writer thread;
   * the lock lets the main thread count it. */
  GMutex outbox_lock;
  GQueue outbox;
  char *outbox_path;
  gint64 last_action_at;     /* µs: the time of the last label, undo or redo (main thread) */
  gboolean reconnecting;     /* main thread, as :reconnecting */
  guint n_waiting;           /* main thread, as :n-waiting */
  guint retry_id;
  guint retry_ms;
  gboolean retry_queued;     /* a send of the outbox is queued on the writer thread */
  guint watch_poll_id;

  GembaStoreWatch *watch;    /* a team project: other members' changes */
  guint remote_pending;      /* 1 << GembaChangeKind heard since the last emission */
  GArray *remote_models;     /* gint64 ids of models others added, to signal */
  gint64 remote_production;
  guint remote_flush_id;

  /* A team project: leases and crossing checks, on a thread and connection of their own. */
  GThreadPool *team_pool;
  GembaStore *team_store;    /* the team thread's; opened there */
  char *lease_holder;
  guint renew_id;
  gboolean claimed;          /* something was claimed: renew */
  GHashTable *recent_labels; /* main thread: frame id → CheckData, this person's recent labels */
  GHashTable *changed_at;    /* main thread: frame id → µs monotonic of its last change notice */
  GHashTable *crossings;     /* main thread: other members' label ids already told */
};

G_DEFINE_FINAL_TYPE (GembaProject, gemba_project, G_TYPE_OBJECT)

enum { CLASSES_CHANGED, UNDO_CHANGED, FRAMES_CHANGED, MODEL_ADDED, PRODUCTION_CHANGED,
       LABEL_REFUSED, LABELS_CROSSED, N_SIGNALS };
static guint signals[N_SIGNALS];

enum { PROP_0, PROP_RECONNECTING, PROP_N_WAITING, N_PROPS };
static GParamSpec *properties[N_PROPS];

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

typedef enum { ACTION_LABEL, ACTION_UNDO, ACTION_REDO } ActionKind;

/* One label, undo or redo as the person gave it; @created_at names it (see
 * gemba_store_set_label_at()), so that sending it twice saves it once. */
typedef struct
{
  GembaProject *project;
  ActionKind action;
  gint64 frame_id;
  gint64 class_id;
  GembaLabelKind kind;
  gint64 created_at;
  char *author;
  /* The frame's label as the person saw it: its author and time (0: unlabeled); unknown
   * (seen_known FALSE) for actions read back from the outbox file. */
  gboolean seen_known;
  gint64 seen_at;
  char *seen_author;
} LabelData;

/* This person's label of a frame to check against other members' (crossing labels); on the
 * main thread, kept a while in recent_labels. */
typedef struct
{
  gint64 frame_id;
  gint64 label_id;
  gboolean seen_known;
  gint64 seen_at;
  char *seen_author;
  gboolean after_label;     /* checked right after the label landed (else: another's came) */
  gint64 read_at;           /* µs monotonic, when the check read the frame's history */
  gint64 landed;            /* µs monotonic, once in recent_labels */
} CheckData;

static void
check_data_free (CheckData *data)
{
  g_free (data->seen_author);
  g_free (data);
}

static CheckData *
check_data_copy (const CheckData *data)
{
  CheckData *copy = g_memdup2 (data, sizeof *data);

  copy->seen_author = g_strdup (data->seen_author);
  return copy;
}

static void
label_data_free (LabelData *data)
{
  g_free (data->author);
  g_free (data->seen_author);
  g_free (data);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LabelData, label_data_free)

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
gemba_label_crossing_free (GembaLabelCrossing *crossing)
{
  g_free (crossing->frame_name);
  g_free (crossing->other_author);
  g_free (crossing->other_class);
  g_free (crossing->own_class);
  g_free (crossing->current_author);
  g_free (crossing->current_class);
  g_free (crossing);
}

void
gemba_project_claim_free (GembaProjectClaim *claim)
{
  g_clear_pointer (&claim->claimed, g_array_unref);
  g_clear_pointer (&claim->others, g_hash_table_unref);
  g_free (claim);
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

/* Hands @job's result or @error to its task (a job without one is fire-and-forget: both are
 * dropped), then frees the job. */
static void
complete_job (WriteJob *job, gpointer result, GError *error)
{
  if (!job->task)
    {
      if (error)
        g_debug ("%s", error->message);
      g_clear_error (&error);
      if (result && job->result_destroy)
        job->result_destroy (result);
    }
  else if (error)
    g_task_return_error (job->task, error);
  else
    g_task_return_pointer (job->task, result, job->result_destroy);
  if (job->destroy)
    job->destroy (job->data);
  g_clear_object (&job->task);
  g_free (job);
}

static void
write_worker (gpointer data, gpointer user_data)
{
  WriteJob *job = data;
  GembaProject *self = user_data;
  GError *error = NULL;
  gpointer result;

  result = job->func (self->writer, job->data, &error);
  complete_job (job, result, error);
}

static void
gemba_project_dispose (GObject *object)
{
  GembaProject *self = GEMBA_PROJECT (object);

  gemba_project_close (self);
  g_clear_handle_id (&self->frames_changed_id, g_source_remove);
  g_clear_handle_id (&self->remote_flush_id, g_source_remove);
  g_clear_handle_id (&self->retry_id, g_source_remove);
  g_clear_handle_id (&self->watch_poll_id, g_source_remove);
  g_clear_handle_id (&self->renew_id, g_source_remove);
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
  g_queue_clear_full (&self->outbox, (GDestroyNotify) label_data_free);
  g_mutex_clear (&self->outbox_lock);
  g_free (self->outbox_path);
  g_free (self->lease_holder);
  g_clear_pointer (&self->recent_labels, g_hash_table_unref);
  g_clear_pointer (&self->crossings, g_hash_table_unref);
  g_clear_pointer (&self->changed_at, g_hash_table_unref);
  G_OBJECT_CLASS (gemba_project_parent_class)->finalize (object);
}

static void
gemba_project_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GembaProject *self = GEMBA_PROJECT (object);

  switch (prop_id)
    {
    case PROP_RECONNECTING:
      g_value_set_boolean (value, self->reconnecting);
      break;
    case PROP_N_WAITING:
      g_value_set_uint (value, self->n_waiting);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
gemba_project_class_init (GembaProjectClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gemba_project_dispose;
  object_class->finalize = gemba_project_finalize;
  object_class->get_property = gemba_project_get_property;

  /* A team project's server cannot be reached; labels wait in the outbox. */
  properties[PROP_RECONNECTING] =
    g_param_spec_boolean ("reconnecting", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* Labels, undos and redos waiting in the outbox. */
  properties[PROP_N_WAITING] =
    g_param_spec_uint ("n-waiting", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

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
  /* A label, undo or redo of the outbox that the server refused when it was sent (say, an
   * undo of a frame somebody else labeled meanwhile); the message. It is not kept. */
  signals[LABEL_REFUSED] =
    g_signal_new ("label-refused", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
  /* A team project: another member's label crossed this person's (a const
   * GembaLabelCrossing *, valid during the emission). Told once per pair of labels. */
  signals[LABELS_CROSSED] =
    g_signal_new ("labels-crossed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
gemba_project_init (GembaProject *self)
{
  self->jobs = g_ptr_array_new_with_free_func (g_object_unref);
  self->idle_workers = g_ptr_array_new_with_free_func (g_object_unref);
  g_mutex_init (&self->workers_lock);
  g_mutex_init (&self->outbox_lock);
  g_queue_init (&self->outbox);
  self->remote_models = g_array_new (FALSE, FALSE, sizeof (gint64));
  self->retry_ms = FIRST_RETRY_MS;
  self->recent_labels = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                               (GDestroyNotify) check_data_free);
  self->crossings = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  self->changed_at = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
}

/* --- The outbox ---------------------------------------------------------------------------- */

/* In the user's cache folder, not the project's: a team project's folder is shared by every
 * member, and what waits here is this person's. One file per project folder. */
static char *
outbox_path_for (const char *project_path)
{
  g_autofree char *hash = g_compute_checksum_for_string (G_CHECKSUM_SHA256, project_path, -1);
  g_autofree char *name = g_strdup_printf ("%.24s.outbox", hash);

  return g_build_filename (g_get_user_cache_dir (), "gemba", "outbox", name, NULL);
}

static const char *const action_names[] = { "label", "undo", "redo" };

/* One line per action: "label|undo|redo FRAME CLASS KIND CREATED_AT AUTHOR". */
static void
outbox_load (GembaProject *self)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents (self->outbox_path, &text, NULL, NULL))
    return;
  lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++)
    {
      g_auto(GStrv) f = g_strsplit (lines[i], " ", 6);
      g_autoptr(LabelData) data = NULL;

      if (g_strv_length (f) != 6)
        continue;
      data = g_new0 (LabelData, 1);
      data->project = self;
      data->action = g_str_equal (f[0], "undo") ? ACTION_UNDO
                     : g_str_equal (f[0], "redo") ? ACTION_REDO : ACTION_LABEL;
      data->frame_id = g_ascii_strtoll (f[1], NULL, 10);
      data->class_id = g_ascii_strtoll (f[2], NULL, 10);
      data->kind = (GembaLabelKind) g_ascii_strtoll (f[3], NULL, 10);
      data->created_at = g_ascii_strtoll (f[4], NULL, 10);
      data->author = g_strdup (f[5]);
      if (data->created_at <= 0 || (data->action == ACTION_LABEL && data->frame_id <= 0))
        {
          g_warning ("%s: line %u is damaged; skipped", self->outbox_path, i + 1);
          continue;
        }
      self->last_action_at = MAX (self->last_action_at, data->created_at);
      g_queue_push_tail (&self->outbox, g_steal_pointer (&data));
    }
}

/* Writes the outbox to its file (removed when empty); caller holds outbox_lock. A failure is
 * reported: the actions still wait in memory. */
static void
outbox_save (GembaProject *self)
{
  g_autoptr(GString) text = g_string_new (NULL);
  g_autofree char *dir = g_path_get_dirname (self->outbox_path);
  g_autoptr(GError) error = NULL;

  if (g_queue_is_empty (&self->outbox))
    {
      g_remove (self->outbox_path);
      return;
    }
  for (GList *l = self->outbox.head; l; l = l->next)
    {
      LabelData *d = l->data;
      g_string_append_printf (text, "%s %" G_GINT64_FORMAT " %" G_GINT64_FORMAT " %d %"
                              G_GINT64_FORMAT " %s\n", action_names[d->action], d->frame_id,
                              d->class_id, (int) d->kind, d->created_at, d->author);
    }
  if (g_mkdir_with_parents (dir, 0700) != 0 ||
      !g_file_set_contents_full (self->outbox_path, text->str, text->len,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0600, &error))
    g_warning (_("%s: cannot keep the labels waiting for the server: %s"), self->outbox_path,
               error ? error->message : g_strerror (errno));
}

static guint
outbox_length (GembaProject *self)
{
  guint n;

  g_mutex_lock (&self->outbox_lock);
  n = self->outbox.length;
  g_mutex_unlock (&self->outbox_lock);
  return n;
}

/* Main thread: :reconnecting and :n-waiting as they are now. */
static void
update_outbox_state (GembaProject *self, gboolean reconnecting)
{
  guint n = outbox_length (self);

  g_object_freeze_notify (G_OBJECT (self));
  if (self->reconnecting != reconnecting)
    {
      self->reconnecting = reconnecting;
      if (!reconnecting)
        self->retry_ms = FIRST_RETRY_MS;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RECONNECTING]);
    }
  if (self->n_waiting != n)
    {
      self->n_waiting = n;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_WAITING]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

/* --- Other members' changes (team projects) ----------------------------------------------- */

static void emit_model_added (GembaProject *self, gint64 model_id);
static void schedule_retry (GembaProject *self);
static gboolean poll_watch_cb (gpointer user_data);
static void emit_production_changed (GembaProject *self, gint64 model_id);
static void recheck_crossing (GembaProject *self, gint64 frame_id);
static void queue_check (GembaProject *self, const CheckData *data, gboolean after_label,
                         gpointer source_tag);
static void team_worker (gpointer data, gpointer user_data);
static gboolean renew_cb (gpointer user_data);

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

/* Main thread: forgets change notices older than a crossing can be, once more than @above
 * are kept (other members label much faster than a crossing window passes). */
static void
prune_changed_at (GembaProject *self, gint64 now, guint above)
{
  GHashTableIter iter;
  gint64 *changed;

  if (g_hash_table_size (self->changed_at) <= above)
    return;
  g_hash_table_iter_init (&iter, self->changed_at);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &changed))
    if (now - *changed > 2 * CROSSING_USEC)
      g_hash_table_iter_remove (&iter);
}

static void
remote_change_cb (GembaChangeKind kind, gint64 id, gpointer user_data)
{
  GembaProject *self = user_data;

  self->remote_pending |= 1 << kind;
  /* Another member labeled a frame this person labeled a moment ago. The time is kept for a
   * check of this person's label that read the history before that label landed, and whose
   * answer comes after this notice (crossing_checked_cb). */
  if (kind == GEMBA_CHANGE_FRAMES && id > 0)
    {
      gint64 now = g_get_monotonic_time ();

      prune_changed_at (self, now, 256);
      g_hash_table_insert (self->changed_at, g_memdup2 (&id, sizeof id),
                           g_memdup2 (&now, sizeof now));
      recheck_crossing (self, id);
    }
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
  /* What waited for the server when the project was last closed is sent first. */
  self->outbox_path = outbox_path_for (self->path);
  outbox_load (self);
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
      /* A team project: the team thread's connection claims under this name (which outlives
       * the connection: one opened again after a failure gets the leases back). */
      if (gemba_store_get_server (self->reader))
        {
          static gint n_opened;

          /* Two windows of one workbench on one project hold frames apart too. */
          self->lease_holder = g_strdup_printf ("%s@%s:%d:%d", self->author, g_get_host_name (),
                                                (int) getpid (),
                                                g_atomic_int_add (&n_opened, 1));
          self->team_pool = g_thread_pool_new (team_worker, self, 1, FALSE, NULL);
          self->renew_id = g_timeout_add_seconds (GEMBA_LEASE_TIMEOUT_USEC / G_USEC_PER_SEC / 4,
                                                  renew_cb, self);
        }
      self->write_pool = g_thread_pool_new (write_worker, self, 1, FALSE, NULL);
      /* A team project: other members' labels, models and promotions show up as they are
       * made (this workbench's own writes are signalled where they are made). */
      if (gemba_store_get_server (self->reader) &&
          !(self->watch = gemba_store_watch_new (self->reader, GEMBA_WATCH_SKIP_OWN_PROCESS,
                                                 NULL, remote_change_cb, self, &watch_error)))
        g_warning ("%s", watch_error->message);
      if (self->watch)
        self->watch_poll_id = g_timeout_add (1000, poll_watch_cb, self);
      if (!g_queue_is_empty (&self->outbox))
        {
          update_outbox_state (self, FALSE);
          schedule_retry (self);
        }
    }
  return self;
}

void
gemba_project_close (GembaProject *self)
{
  GPtrArray *idle;

  g_return_if_fail (GEMBA_IS_PROJECT (self));

  g_clear_pointer (&self->watch, gemba_store_watch_free);
  g_clear_handle_id (&self->watch_poll_id, g_source_remove);
  g_clear_handle_id (&self->retry_id, g_source_remove);
  g_clear_handle_id (&self->renew_id, g_source_remove);
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
  /* Then the frames this workbench held are the others' at once, not after the timeout
   * (unless the server is away: then they time out). */
  if (self->team_pool)
    {
      if (self->claimed && !self->reconnecting)
        gemba_project_release_leases (self);
      g_thread_pool_free (g_steal_pointer (&self->team_pool), FALSE, TRUE);
    }
  g_clear_object (&self->team_store);
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

char *
gemba_project_dup_refusal (GembaProject *self, GembaRole needed, const char *action)
{
  g_autoptr(GError) error = NULL;

  /* A page without a project yet refuses nothing. */
  if (!self)
    return NULL;
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);
  if (!self->reader || gemba_store_require_role (self->reader, needed, action, &error))
    return NULL;
  return g_strdup (error->message);
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

gboolean
gemba_project_get_reconnecting (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), FALSE);
  return self->reconnecting;
}

guint
gemba_project_get_n_waiting (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), 0);
  return self->n_waiting;
}

const char *
gemba_project_get_server_name (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);
  return self->reader ? gemba_store_get_server (self->reader) : NULL;
}

const char *
gemba_project_get_outbox_path (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);
  return self->outbox_path;
}

/* --- Writes ------------------------------------------------------------------------------- */

static void
queue_on (GembaProject *self, GThreadPool *pool, GembaProjectWriteFunc func, gpointer data,
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
  if (!pool)
    {
      g_task_return_new_error (job->task, GEMBA_ERROR, GEMBA_ERROR_IO,
                               _("The project %s is closed."), self->path);
      if (destroy)
        destroy (data);
      g_object_unref (job->task);
      g_free (job);
      return;
    }
  g_thread_pool_push (pool, job, NULL);
}

static void
queue_write (GembaProject *self, GembaProjectWriteFunc func, gpointer data,
             GDestroyNotify destroy, GDestroyNotify result_destroy, gpointer source_tag,
             GAsyncReadyCallback callback, gpointer user_data)
{
  queue_on (self, self->write_pool, func, data, destroy, result_destroy, source_tag, callback,
            user_data);
}

/* --- Team projects: leases and crossing labels -------------------------------------------- */

/* The team thread: like write_worker(), on a connection of its own (opened here, again after
 * a failure). */
static void
team_worker (gpointer data, gpointer user_data)
{
  WriteJob *job = data;
  GembaProject *self = user_data;
  GError *error = NULL;
  gpointer result = NULL;

  if (!self->team_store && (self->team_store = gemba_store_open (self->path, &error)))
    {
      g_mutex_lock (&self->workers_lock);
      gemba_store_set_author (self->team_store, self->author);
      g_mutex_unlock (&self->workers_lock);
      gemba_store_set_lease_holder (self->team_store, self->lease_holder);
    }
  if (self->team_store)
    result = job->func (self->team_store, job->data, &error);
  complete_job (job, result, error);
}

/* Any thread but the team thread: @func on the team thread, its result and error dropped. */
static void
queue_team_and_forget (GembaProject *self, GembaProjectWriteFunc func, gpointer data,
                       GDestroyNotify destroy)
{
  WriteJob *job;

  if (!self->team_pool)
    {
      if (destroy)
        destroy (data);
      return;
    }
  job = g_new0 (WriteJob, 1);
  job->func = func;
  job->data = data;
  job->destroy = destroy;
  g_thread_pool_push (self->team_pool, job, NULL);
}

typedef struct
{
  CheckData *data;
  GPtrArray *found;         /* GembaLabelCrossing */
} CheckResult;

static void
check_result_free (CheckResult *result)
{
  g_clear_pointer (&result->data, check_data_free);
  g_clear_pointer (&result->found, g_ptr_array_unref);
  g_free (result);
}

static gboolean
is_a_label (GembaLabelKind kind)
{
  return kind == GEMBA_LABEL_SET || kind == GEMBA_LABEL_CONFIRM || kind == GEMBA_LABEL_CLEAR;
}

/* The labels of other members in @history (oldest first, as committed) that crossed this
 * person's label @data->label_id: ones that landed before it since the label the person saw
 * (or, when that is not known, less than CROSSING_USEC before it), and ones that landed after
 * it, given less than CROSSING_USEC after it. */
static GPtrArray *
find_crossings (GPtrArray *history, const CheckData *data)
{
  GPtrArray *found = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_label_crossing_free);
  const GembaLabel *own = NULL;
  const GembaLabel *current;
  gboolean seen_found = FALSE;
  guint o = 0, first = 0;

  for (guint i = 0; i < history->len; i++)
    if (((const GembaLabel *) history->pdata[i])->id == data->label_id)
      {
        own = history->pdata[i];
        o = i;
      }
  if (!own)
    return found;
  /* The person's newest label of the frame is the one another member's crossed (they may
   * have labeled it again since, before this check). */
  for (guint i = o + 1; i < history->len; i++)
    {
      const GembaLabel *l = history->pdata[i];

      if (g_strcmp0 (l->author, own->author) == 0 && is_a_label (l->kind))
        {
          own = l;
          o = i;
        }
    }
  current = history->pdata[history->len - 1];
  if (data->seen_known && data->seen_at > 0)
    for (guint i = o; i-- > 0;)
      {
        const GembaLabel *l = history->pdata[i];

        if (l->created_at == data->seen_at && g_strcmp0 (l->author, data->seen_author) == 0)
          {
            first = i + 1;
            seen_found = TRUE;
            break;
          }
      }
  for (guint i = first; i < history->len; i++)
    {
      const GembaLabel *other = history->pdata[i];
      GembaLabelCrossing *c;

      if (i == o || g_strcmp0 (other->author, own->author) == 0 || !is_a_label (other->kind))
        continue;
      if (i < o ? !seen_found && other->created_at < own->created_at - CROSSING_USEC
                : other->created_at > own->created_at + CROSSING_USEC)
        continue;
      c = g_new0 (GembaLabelCrossing, 1);
      c->frame_id = own->frame_id;
      c->own_label_id = own->id;
      c->other_label_id = other->id;
      c->other_author = g_strdup (other->author);
      c->other_class = g_strdup (other->class_name);
      c->own_class = g_strdup (own->class_name);
      c->other_first = i < o;
      c->own_current = current == own;
      c->current_author = g_strdup (current->author);
      c->current_class = g_strdup (current->class_name);
      g_ptr_array_add (found, c);
    }
  return found;
}

static gpointer
check_crossing_func (GembaStore *store, gpointer user_data, GError **error)
{
  CheckData *data = user_data;
  g_autoptr(GPtrArray) history = NULL;
  CheckResult *result;

  data->read_at = g_get_monotonic_time ();
  if (!(history = gemba_store_list_label_history (store, data->frame_id, error)))
    return NULL;
  result = g_new0 (CheckResult, 1);
  result->found = find_crossings (history, data);
  if (result->found->len > 0)
    {
      g_autoptr(GembaFrame) frame = gemba_store_get_frame (store, data->frame_id, NULL);

      for (guint i = 0; i < result->found->len; i++)
        {
          GembaLabelCrossing *c = result->found->pdata[i];
          c->frame_name = frame ? g_strndup (frame->sha256, 12)
                                : g_strdup_printf ("%" G_GINT64_FORMAT, data->frame_id);
        }
    }
  /* The data goes back to the main thread (which remembers the label); not freed here. */
  result->data = check_data_copy (data);
  return result;
}

/* Main thread. */
static void
crossing_checked_cb (GObject *object, GAsyncResult *res, gpointer user_data)
{
  GembaProject *self = GEMBA_PROJECT (object);
  g_autoptr(GError) error = NULL;
  CheckResult *result = gemba_project_write_finish (self, res, &error);
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  CheckData *own;

  if (!result)
    {
      g_debug ("could not check the label history: %s", error->message);
      return;
    }
  if (result->data->after_label)
    {
      gint64 *changed;

      /* Kept a while, for another member's label that lands just after it. */
      g_hash_table_iter_init (&iter, self->recent_labels);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &own))
        if (now - own->landed > 2 * CROSSING_USEC)
          g_hash_table_iter_remove (&iter);
      prune_changed_at (self, now, 0);
      own = g_steal_pointer (&result->data);
      own->landed = now;
      g_hash_table_insert (self->recent_labels, g_memdup2 (&own->frame_id, sizeof (gint64)),
                           own);
      /* Another member's notice came after this check read the history (and before the label
       * was in recent_labels, so remote_change_cb could not check it): check again. */
      changed = g_hash_table_lookup (self->changed_at, &own->frame_id);
      if (changed && *changed >= own->read_at)
        queue_check (self, own, FALSE, recheck_crossing);
    }
  for (guint i = 0; i < result->found->len; i++)
    {
      const GembaLabelCrossing *c = result->found->pdata[i];

      if (g_hash_table_contains (self->crossings, &c->other_label_id))
        continue;
      g_hash_table_add (self->crossings, g_memdup2 (&c->other_label_id, sizeof (gint64)));
      g_signal_emit (self, signals[LABELS_CROSSED], 0, c);
    }
  check_result_free (result);
}

/* Any thread: reads the history of @data's frame on the team thread; what crossed the label
 * is emitted as ::labels-crossed. */
static void
queue_check (GembaProject *self, const CheckData *data, gboolean after_label, gpointer source_tag)
{
  CheckData *copy = check_data_copy (data);

  copy->after_label = after_label;
  queue_on (self, self->team_pool, check_crossing_func, copy, (GDestroyNotify) check_data_free,
            (GDestroyNotify) check_result_free, source_tag, crossing_checked_cb, NULL);
}

/* Any thread: this person just labeled a frame (@label, given as @given). */
static void
check_crossing (GembaProject *self, const GembaLabel *label, const LabelData *given)
{
  CheckData data = { 0 };

  if (!self->team_pool || !label)
    return;
  data.frame_id = label->frame_id;
  data.label_id = label->id;
  data.seen_known = given->seen_known;
  data.seen_at = given->seen_at;
  data.seen_author = given->seen_author;
  queue_check (self, &data, TRUE, check_crossing);
}

/* Main thread: another member changed @frame_id; did it cross this person's label? */
static void
recheck_crossing (GembaProject *self, gint64 frame_id)
{
  CheckData *own = g_hash_table_lookup (self->recent_labels, &frame_id);

  if (own && self->team_pool && g_get_monotonic_time () - own->landed <= 2 * CROSSING_USEC)
    queue_check (self, own, FALSE, recheck_crossing);
}

gboolean
gemba_project_get_is_team (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), FALSE);
  return self->lease_holder != NULL;
}

const char *
gemba_project_get_lease_holder (GembaProject *self)
{
  g_return_val_if_fail (GEMBA_IS_PROJECT (self), NULL);
  return self->lease_holder;
}

typedef struct
{
  GArray *queue;
  guint n;
  char *holder;
} ClaimData;

static void
claim_data_free (ClaimData *data)
{
  g_clear_pointer (&data->queue, g_array_unref);
  g_free (data->holder);
  g_free (data);
}

static gpointer
claim_func (GembaStore *store, gpointer user_data, GError **error)
{
  ClaimData *data = user_data;
  g_autoptr(GembaProjectClaim) claim = g_new0 (GembaProjectClaim, 1);
  g_autoptr(GPtrArray) leases = NULL;

  if (!(claim->claimed = gemba_store_claim_frames (store, data->queue, data->n, error)) ||
      !(leases = gemba_store_list_leases (store, error)))
    return NULL;
  claim->others = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
  for (guint i = 0; i < leases->len; i++)
    {
      const GembaLease *lease = g_ptr_array_index (leases, i);

      if (g_strcmp0 (lease->holder, data->holder) != 0)
        g_hash_table_insert (claim->others, g_memdup2 (&lease->frame_id, sizeof (gint64)),
                             g_strdup (lease->holder));
    }
  return g_steal_pointer (&claim);
}

void
gemba_project_claim_async (GembaProject *self, GArray *queue, guint n,
                           GAsyncReadyCallback callback, gpointer user_data)
{
  ClaimData *data;

  g_return_if_fail (GEMBA_IS_PROJECT (self));
  data = g_new0 (ClaimData, 1);
  data->queue = g_array_ref (queue);
  data->n = n;
  data->holder = g_strdup (self->lease_holder);
  queue_on (self, self->team_pool, claim_func, data, (GDestroyNotify) claim_data_free,
            (GDestroyNotify) gemba_project_claim_free, gemba_project_claim_async, callback,
            user_data);
}

GembaProjectClaim *
gemba_project_claim_finish (GembaProject *self, GAsyncResult *result, GError **error)
{
  GembaProjectClaim *claim;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  if ((claim = g_task_propagate_pointer (G_TASK (result), error)))
    self->claimed = TRUE;
  return claim;
}

static gpointer
release_frames_func (GembaStore *store, gpointer user_data, GError **error)
{
  GArray *ids = user_data;

  for (guint i = 0; i < ids->len; i++)
    if (!gemba_store_release_frame (store, g_array_index (ids, gint64, i), error))
      return NULL;
  return NULL;
}

void
gemba_project_release_frames (GembaProject *self, GArray *frame_ids)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  if (frame_ids->len > 0)
    queue_team_and_forget (self, release_frames_func, g_array_ref (frame_ids),
                           (GDestroyNotify) g_array_unref);
}

static gpointer
release_leases_func (GembaStore *store, gpointer user_data, GError **error)
{
  gemba_store_release_leases (store, error);
  return NULL;
}

void
gemba_project_release_leases (GembaProject *self)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  queue_team_and_forget (self, release_leases_func, NULL, NULL);
}

static gpointer
renew_leases_func (GembaStore *store, gpointer user_data, GError **error)
{
  gemba_store_renew_leases (store, error);
  return NULL;
}

/* Well under the timeout: a renewal that is late or lost to a short outage is no harm. */
static gboolean
renew_cb (gpointer user_data)
{
  GembaProject *self = user_data;

  if (self->claimed)
    queue_team_and_forget (self, renew_leases_func, NULL, NULL);
  return G_SOURCE_CONTINUE;
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

/* Sends one action, as the person's own, by its time: safe to send again. */
static GembaLabel *
send_action (GembaStore *store, LabelData *data, GError **error)
{
  g_autofree char *author = g_strdup (gemba_store_get_author (store));
  gboolean other = g_strcmp0 (author, data->author) != 0;
  GError *local = NULL;
  GembaLabel *label = NULL;

  /* An action that waited keeps the name it was given under. */
  if (other)
    gemba_store_set_author (store, data->author);
  switch (data->action)
    {
    case ACTION_LABEL:
      label = gemba_store_set_label_at (store, data->frame_id, data->class_id, data->kind,
                                        data->created_at, &local);
      break;
    case ACTION_UNDO:
      label = gemba_store_undo_label_at (store, data->created_at, &local);
      break;
    case ACTION_REDO:
      label = gemba_store_redo_label_at (store, data->created_at, &local);
      break;
    }
  if (other)
    gemba_store_set_author (store, author);
  if (local)
    g_propagate_error (error, local);
  return label;
}

/* The writer thread: appends @data to the outbox, in order behind what waits there. */
static gpointer
queue_in_outbox (GembaProject *self, LabelData *data, gboolean disconnected)
{
  GembaLabelResult *result = g_new0 (GembaLabelResult, 1);
  LabelData *copy = g_memdup2 (data, sizeof *data);

  copy->author = g_strdup (data->author);
  copy->seen_author = g_strdup (data->seen_author);
  g_mutex_lock (&self->outbox_lock);
  g_queue_push_tail (&self->outbox, copy);
  outbox_save (self);
  g_mutex_unlock (&self->outbox_lock);
  result->queued = TRUE;
  result->disconnected = disconnected;
  result->n_undo = self->n_undo;
  result->n_redo = self->n_redo;
  return result;
}

static gpointer
label_func (GembaStore *store, gpointer user_data, GError **error)
{
  LabelData *data = user_data;
  GembaProject *self = data->project;
  GError *local = NULL;
  GembaLabel *label;

  /* Behind actions that wait for the server, this one waits too: the order is kept. */
  if (outbox_length (self) > 0)
    return queue_in_outbox (self, data, FALSE);
  label = send_action (store, data, &local);
  if (label && data->action == ACTION_LABEL)
    check_crossing (self, label, data);
  if (g_error_matches (local, GEMBA_ERROR, GEMBA_ERROR_DISCONNECTED))
    {
      g_debug ("%s; the action waits for the server", local->message);
      g_error_free (local);
      return queue_in_outbox (self, data, TRUE);
    }
  if (local)
    {
      g_propagate_error (error, local);
      return NULL;
    }
  return finish_label (store, label, error);
}

/* Main thread: the next action's time, later than every earlier one (names it uniquely). */
static gint64
next_action_time (GembaProject *self)
{
  self->last_action_at = MAX (g_get_real_time (), self->last_action_at + 1);
  return self->last_action_at;
}

static void
queue_action (GembaProject *self, ActionKind action, gint64 frame_id, gint64 class_id,
              GembaLabelKind kind, const GembaFrame *seen, GAsyncReadyCallback callback,
              gpointer user_data)
{
  LabelData *data = g_new0 (LabelData, 1);

  if (seen)
    {
      data->seen_known = TRUE;
      data->seen_at = seen->label_class_id ? seen->label_at : 0;
      data->seen_author = g_strdup (seen->label_author);
    }
  data->project = self;
  data->action = action;
  data->frame_id = frame_id;
  data->class_id = class_id;
  data->kind = class_id || action != ACTION_LABEL ? kind : GEMBA_LABEL_CLEAR;
  data->created_at = next_action_time (self);
  g_mutex_lock (&self->workers_lock);
  data->author = g_strdup (self->author);
  g_mutex_unlock (&self->workers_lock);
  queue_write (self, label_func, data, (GDestroyNotify) label_data_free,
               (GDestroyNotify) gemba_label_result_free, gemba_project_label_async, callback,
               user_data);
}

void
gemba_project_label_async (GembaProject *self, gint64 frame_id, gint64 class_id,
                           GembaLabelKind kind, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  queue_action (self, ACTION_LABEL, frame_id, class_id, kind, NULL, callback, user_data);
}

void
gemba_project_label_frame_async (GembaProject *self, const GembaFrame *frame, gint64 class_id,
                                 GembaLabelKind kind, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  g_return_if_fail (frame != NULL);
  queue_action (self, ACTION_LABEL, frame->id, class_id, kind, frame, callback, user_data);
}

void
gemba_project_undo_async (GembaProject *self, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  queue_action (self, ACTION_UNDO, 0, 0, GEMBA_LABEL_UNDO, NULL, callback, user_data);
}

void
gemba_project_redo_async (GembaProject *self, GAsyncReadyCallback callback, gpointer user_data)
{
  g_return_if_fail (GEMBA_IS_PROJECT (self));
  queue_action (self, ACTION_REDO, 0, 0, GEMBA_LABEL_REDO, NULL, callback, user_data);
}

/* --- Sending the outbox when the server is back ------------------------------------------- */

typedef struct {
  gboolean connected;   /* the server answered, and every action that waited was sent */
  guint n_sent;
  GPtrArray *refused;   /* messages of actions the server refused (not kept) */
  guint n_undo, n_redo;
} SendResult;

static void
send_result_free (SendResult *result)
{
  g_clear_pointer (&result->refused, g_ptr_array_unref);
  g_free (result);
}

/* The writer thread: sends the outbox, oldest first, each action removed once it is saved;
 * stops at the first that cannot reach the server. */
static gpointer
send_outbox_func (GembaStore *store, gpointer user_data, GError **error)
{
  GembaProject *self = user_data;
  SendResult *result = g_new0 (SendResult, 1);

  result->refused = g_ptr_array_new_with_free_func (g_free);
  result->connected = gemba_store_check_connection (store, NULL);
  while (result->connected)
    {
      g_autoptr(GError) local = NULL;
      g_autoptr(GembaLabel) label = NULL;
      LabelData *head;

      g_mutex_lock (&self->outbox_lock);
      head = g_queue_peek_head (&self->outbox);
      g_mutex_unlock (&self->outbox_lock);
      if (!head)
        break;
      /* Only this thread removes entries: head stays valid. */
      label = send_action (store, head, &local);
      if (g_error_matches (local, GEMBA_ERROR, GEMBA_ERROR_DISCONNECTED))
        {
          result->connected = FALSE;
          break;
        }
      if (local)
        g_ptr_array_add (result->refused, g_strdup (local->message));
      else
        result->n_sent++;
      if (label && head->action == ACTION_LABEL)
        check_crossing (self, label, head);
      g_mutex_lock (&self->outbox_lock);
      label_data_free (g_queue_pop_head (&self->outbox));
      outbox_save (self);
      g_mutex_unlock (&self->outbox_lock);
    }
  if (result->connected)
    gemba_store_get_undo_state (store, &result->n_undo, &result->n_redo);
  return result;
}

static void
outbox_sent_cb (GObject *object, GAsyncResult *res, gpointer user_data)
{
  GembaProject *self = GEMBA_PROJECT (object);
  g_autoptr(GError) error = NULL;
  SendResult *result = gemba_project_write_finish (self, res, &error);

  self->retry_queued = FALSE;
  if (!result)
    return;  /* the project was closed */
  for (guint i = 0; i < result->refused->len; i++)
    g_signal_emit (self, signals[LABEL_REFUSED], 0, result->refused->pdata[i]);
  if (result->connected)
    {
      if (self->n_undo != result->n_undo || self->n_redo != result->n_redo)
        {
          self->n_undo = result->n_undo;
          self->n_redo = result->n_redo;
          g_signal_emit (self, signals[UNDO_CHANGED], 0);
        }
      update_outbox_state (self, FALSE);
      if (result->n_sent > 0 || result->refused->len > 0)
        g_signal_emit (self, signals[FRAMES_CHANGED], 0);
      /* Actions that were queued behind this send went to the outbox: send them too. */
      if (self->n_waiting > 0)
        schedule_retry (self);
    }
  else
    {
      update_outbox_state (self, TRUE);
      self->retry_ms = MIN (self->retry_ms * 2, LAST_RETRY_MS);
      schedule_retry (self);
    }
  send_result_free (result);
}

static gboolean
retry_cb (gpointer user_data)
{
  GembaProject *self = user_data;

  self->retry_id = 0;
  if (self->retry_queued || !self->write_pool)
    return G_SOURCE_REMOVE;
  self->retry_queued = TRUE;
  queue_write (self, send_outbox_func, self, NULL, (GDestroyNotify) send_result_free,
               gemba_project_write_async, outbox_sent_cb, NULL);
  return G_SOURCE_REMOVE;
}

/* Tries the server again: at once while it answers, else after the current delay. */
static void
schedule_retry (GembaProject *self)
{
  if (self->retry_id || self->retry_queued || !self->write_pool)
    return;
  self->retry_id = g_timeout_add (self->reconnecting ? self->retry_ms : 0, retry_cb, self);
}

/* A team project: the watch's connection going away is the first sign when nobody labels. */
static gboolean
poll_watch_cb (gpointer user_data)
{
  GembaProject *self = user_data;

  if (self->watch && !gemba_store_watch_is_connected (self->watch) && !self->reconnecting)
    {
      update_outbox_state (self, TRUE);
      schedule_retry (self);
    }
  return G_SOURCE_CONTINUE;
}

GembaLabelResult *
gemba_project_label_finish (GembaProject *self, GAsyncResult *result, GError **error)
{
  GembaLabelResult *label_result;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  if ((label_result = g_task_propagate_pointer (G_TASK (result), error)))
    {
      if (label_result->queued)
        {
          update_outbox_state (self, self->reconnecting || label_result->disconnected);
          schedule_retry (self);
          return label_result;
        }
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
