/* gemba-project.h: an open project as the workbench sees it
 *
 * Owns two GembaStores on the same folder: a writer, used by one serial worker thread so that
 * labels are written in the order they were given, and a reader for the grid, thumbnails and
 * counts, so that reads never wait behind a write. The main thread never calls either.
 *
 * Longer work (training, comparing, promoting, capturing, exporting) runs as a GembaJob
 * started here, in a worker thread on a store connection of the project's (opened on demand,
 * kept for the next job, closed with the project; SQLite WAL and the store's busy timeout
 * make the connections safe together). Pages bind to the job's properties; when a job's
 * result changes the project, the project emits the signal, not the page.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "gemba-job.h"
#include "gemba-media.h"
#include "gemba-store.h"
#include "gemba-store-team.h"
#include "gemba-thumbnailer.h"
#include "gemba-workflow.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_PROJECT (gemba_project_get_type ())
G_DECLARE_FINAL_TYPE (GembaProject, gemba_project, GEMBA, PROJECT, GObject)

typedef enum {
  GEMBA_PROJECT_OPEN,
  GEMBA_PROJECT_CREATE,
  GEMBA_PROJECT_CREATE_DEMO,
} GembaProjectOpenMode;

/* What a label, undo or redo did. */
typedef struct {
  GembaLabel *label;   /* the new history entry; NULL when there was nothing to undo/redo */
  GembaFrame *frame;   /* the frame afterwards */
  guint n_undo;
  guint n_redo;
  /* A team project whose server could not be reached: the action waits in the outbox and is
   * sent, in order, when the server is back (label and frame are NULL; the counts are as
   * before). */
  gboolean queued;
  gboolean disconnected;  /* queued because the server could not be reached (not only behind
                           * others waiting) */
} GembaLabelResult;

/* Two members' labels of one frame that crossed (::labels-crossed): another member's label
 * landed just before this person's (which that person had not seen), or just after it. Both
 * are in the frame's history; the later one is the frame's label. */
typedef struct {
  gint64 frame_id;
  char *frame_name;         /* the first 12 digits of its SHA-256, as the frame view shows */
  gint64 own_label_id;
  gint64 other_label_id;
  char *other_author;
  char *other_class;        /* NULL: the other member cleared the label */
  char *own_class;          /* NULL: cleared */
  gboolean other_first;     /* the other member's label landed first */
  gboolean own_current;     /* this person's label is the frame's label now */
  char *current_author;     /* the frame's label now (a third one when neither) */
  char *current_class;
} GembaLabelCrossing;

/* What gemba_project_claim_async() got: the frames this workbench holds now, and who holds
 * the others that are held. */
typedef struct {
  GArray *claimed;          /* gint64 frame ids claimed (or held already), queue order */
  GHashTable *others;       /* gint64 * frame id → char * holder: other members' leases */
} GembaProjectClaim;

typedef struct {
  GembaStats stats;
  gint64 n_review;
  gint64 n_suspect;    /* suspect labels */
  gint64 n_test_batch; /* frames reserved for the test split, waiting for a label */
  GArray *per_class;   /* GembaClassCount */
  GPtrArray *sources;  /* GembaSource, with n_frames */
  GPtrArray *packages; /* GembaFramePackage: packages that classified frames on a line */
  GArray *tests;       /* GembaSourceTestCount, newest source first */
} GembaProjectCounts;

typedef enum {
  GEMBA_JOB_DEFAULT = 0,
  /* A thread of its own at a lower priority (gemba_niced_task_run()): long CPU-bound work. */
  GEMBA_JOB_LOW_PRIORITY = 1 << 0,
  /* The worker's result even after a Cancel (what was done before stopping), not
   * G_IO_ERROR_CANCELLED. */
  GEMBA_JOB_KEEP_RESULT = 1 << 1,
} GembaJobFlags;

/* Runs in a worker thread with a store connection lent by the project; returns the result
 * (non-NULL) or NULL with @error set. Reports progress with gemba_job_report(). */
typedef gpointer (*GembaJobFunc) (GembaJob *job, GembaStore *store, gpointer data,
                                  GCancellable *cancellable, GError **error);

/* What a training run gave: the new version and, when there is a production model, the
 * one-sentence change against it (else NULL). */
typedef struct {
  GembaModelRecord *record;
  char *change;
} GembaProjectTrainResult;

/* The ::progress detail of an import job: the source's progress (when @is_progress) and the
 * new frames stored so far. */
typedef struct {
  GembaMediaProgress progress;
  gboolean is_progress;
  gint64 stored;
} GembaProjectImportProgress;

/* Runs in the writer thread with the writer store. */
typedef gpointer (*GembaProjectWriteFunc) (GembaStore *store, gpointer data, GError **error);

void          gemba_project_open_async  (const char          *path,
                                         GembaProjectOpenMode mode,
                                         const char          *author,
                                         GCancellable        *cancellable,
                                         GAsyncReadyCallback  callback,
                                         gpointer             user_data);
GembaProject *gemba_project_open_finish (GAsyncResult *result, GError **error);

const char       *gemba_project_get_path         (GembaProject *self);
const char       *gemba_project_get_name         (GembaProject *self);
GembaStore       *gemba_project_get_reader       (GembaProject *self);
/* NULL when the user may do @action, which needs @needed (always in a SQLite project); else
 * why not, for the tooltip of an insensitive button (gemba_store_require_role()). @self
 * may be NULL (a page without a project): NULL. */
char             *gemba_project_dup_refusal      (GembaProject *self,
                                                  GembaRole     needed,
                                                  const char   *action);
GembaThumbnailer *gemba_project_get_thumbnailer  (GembaProject *self);
/* Every class, retired too, in order. Array of GembaClass. */
GPtrArray        *gemba_project_get_classes      (GembaProject *self);
const GembaClass *gemba_project_lookup_class     (GembaProject *self, gint64 class_id);
/* Markup for a class: its colour dot and name; "Unlabeled" for 0. */
char             *gemba_class_markup             (GembaProject *self, gint64 class_id);
/* The class (not retired) with number key @key, or NULL. */
const GembaClass *gemba_project_class_for_key    (GembaProject *self, int key);
/* Array of GembaSource, as read when the project was opened or counted. */
GPtrArray        *gemba_project_get_sources      (GembaProject *self);
/* Array of GembaFramePackage, as read when the project was opened or counted. */
GPtrArray        *gemba_project_get_packages     (GembaProject *self);
guint             gemba_project_get_n_undo       (GembaProject *self);
guint             gemba_project_get_n_redo       (GembaProject *self);

/* A team project (see README, "When the server goes away"): labels, undos and redos given
 * while its server cannot be reached wait in an outbox, kept in order in a file of the
 * user's cache folder (so closing the workbench loses none), and are sent in that order once
 * the server answers again; meanwhile :reconnecting is TRUE and the project tries again,
 * every 0.5 s at first and then less often, up to every 5 s. */
gboolean          gemba_project_get_reconnecting (GembaProject *self);
/* Labels, undos and redos in the outbox (:n-waiting). */
guint             gemba_project_get_n_waiting    (GembaProject *self);
/* The team project's server without its password, for messages; NULL for a project file. */
const char       *gemba_project_get_server_name  (GembaProject *self);
/* The outbox file (may not exist). */
const char       *gemba_project_get_outbox_path  (GembaProject *self);

void     gemba_project_set_author     (GembaProject *self, const char *author);

/* Queues @func on the writer thread, after every write queued before. */
void     gemba_project_write_async    (GembaProject         *self,
                                       GembaProjectWriteFunc func,
                                       gpointer              data,
                                       GDestroyNotify        destroy,
                                       GAsyncReadyCallback   callback,
                                       gpointer              user_data);
gpointer gemba_project_write_finish   (GembaProject *self, GAsyncResult *result, GError **error);

/* Labels; the results are GembaLabelResult (free with gemba_label_result_free). */
void     gemba_project_label_async    (GembaProject       *self,
                                       gint64              frame_id,
                                       gint64              class_id,
                                       GembaLabelKind      kind,
                                       GAsyncReadyCallback callback,
                                       gpointer            user_data);
void     gemba_project_undo_async     (GembaProject       *self,
                                       GAsyncReadyCallback callback,
                                       gpointer            user_data);
void     gemba_project_redo_async     (GembaProject       *self,
                                       GAsyncReadyCallback callback,
                                       gpointer            user_data);
GembaLabelResult *gemba_project_label_finish (GembaProject *self, GAsyncResult *result,
                                              GError **error);
void     gemba_label_result_free      (GembaLabelResult *result);
/* The same as gemba_project_label_async() for @frame as the person saw it (its label and who
 * gave it): on a team project a label by another member that the person had not seen is
 * told by ::labels-crossed. */
void     gemba_project_label_frame_async (GembaProject       *self,
                                          const GembaFrame   *frame,
                                          gint64              class_id,
                                          GembaLabelKind      kind,
                                          GAsyncReadyCallback callback,
                                          gpointer            user_data);
void     gemba_label_crossing_free    (GembaLabelCrossing *crossing);

/* A team project shares its review queue (see README, "Roles"): the workbench claims the
 * frames it shows a few ahead of the annotator (leases, gemba_store_claim_frames()), renews
 * them every GEMBA_LEASE_TIMEOUT_USEC / 4 and releases them when the project closes. These
 * run on a thread and a server connection of their own, never behind labels. On a SQLite
 * project there is nothing to share: they are not used (is_team is FALSE). */
gboolean      gemba_project_get_is_team      (GembaProject *self);
/* Who this workbench is in the lease table (the author, the host and the process). */
const char   *gemba_project_get_lease_holder (GembaProject *self);
/* Claims up to @n frames of @queue (frame ids in queue order, not taken). */
void          gemba_project_claim_async      (GembaProject       *self,
                                              GArray             *queue,
                                              guint               n,
                                              GAsyncReadyCallback callback,
                                              gpointer            user_data);
GembaProjectClaim *gemba_project_claim_finish (GembaProject *self, GAsyncResult *result,
                                               GError **error);
void          gemba_project_claim_free       (GembaProjectClaim *claim);
/* Lets other members have these frames (or every frame this workbench holds) now, in the
 * background. */
void          gemba_project_release_frames   (GembaProject *self, GArray *frame_ids);
void          gemba_project_release_leases   (GembaProject *self);

/* Tell every view of the project what changed: the pages observe these signals and never
 * call each other. ::frames-changed: frames were added (capture) or relabeled elsewhere. */
void     gemba_project_frames_changed (GembaProject *self);
/* ::labels-crossed (const GembaLabelCrossing *): a team project, see GembaLabelCrossing.
 * ::model-added (a model was trained) and ::production-changed (then ::frames-changed: a model
 * was promoted and classified every frame) come from the project's own jobs. */

/* Re-reads the classes (after an edit); emits ::classes-changed. */
void     gemba_project_reload_classes (GembaProject *self);

void     gemba_project_count_async    (GembaProject       *self,
                                       GCancellable       *cancellable,
                                       GAsyncReadyCallback callback,
                                       gpointer            user_data);
GembaProjectCounts *gemba_project_count_finish (GembaProject *self, GAsyncResult *result,
                                                GError **error);
void     gemba_project_counts_free    (GembaProjectCounts *counts);
/* The first source (newest first) with fewer labeled test frames than GEMBA_MIN_TEST_FRAMES,
 * or NULL. */
const GembaSourceTestCount *gemba_project_counts_short_of_tests (const GembaProjectCounts *counts);

/* Tops the test split of @source_id up with a random batch to label for testing
 * (gemba_store_top_up_test_batch()) on the writer thread; the result is the number reserved,
 * as GINT_TO_POINTER (n + 1) from gemba_project_write_finish(). */
void     gemba_project_reserve_test_batch_async (GembaProject       *self,
                                                 gint64              source_id,
                                                 GAsyncReadyCallback callback,
                                                 gpointer            user_data);

/* Starts @func as a job titled @title; the result comes to @callback (source object: the
 * project) through gemba_project_job_finish(), freed with @result_destroy if nobody takes it.
 * Returns the job (transfer full): bind to it, cancel it. */
GembaJob *gemba_project_run_job        (GembaProject       *self,
                                        const char         *title,
                                        GembaJobFlags       flags,
                                        GembaJobFunc        func,
                                        gpointer            data,
                                        GDestroyNotify      destroy,
                                        GDestroyNotify      result_destroy,
                                        GAsyncReadyCallback callback,
                                        gpointer            user_data);
gpointer  gemba_project_job_finish     (GembaProject *self, GAsyncResult *result, GError **error);

/* The model versions, newest first (GPtrArray of GembaModelRecord, from
 * gemba_project_job_finish()). */
GembaJob *gemba_project_list_models_async (GembaProject       *self,
                                           GAsyncReadyCallback callback,
                                           gpointer            user_data);

/* Trains with gemba_workflow_train(): :fraction and :message follow the run and ::progress
 * gives each GembaTrainProgress. Emits ::model-added when a model was saved. */
GembaJob *gemba_project_train_async    (GembaProject                    *self,
                                        const GembaWorkflowTrainOptions *options,
                                        GAsyncReadyCallback              callback,
                                        gpointer                         user_data);
GembaProjectTrainResult *gemba_project_train_finish (GembaProject *self, GAsyncResult *result,
                                                     GError **error);
void      gemba_project_train_result_free (GembaProjectTrainResult *result);

/* Compares two versions with gemba_workflow_compare() (as `gemba compare` does). */
GembaJob *gemba_project_compare_async  (GembaProject       *self,
                                        gint64              a,
                                        gint64              b,
                                        GAsyncReadyCallback callback,
                                        gpointer            user_data);
GembaComparison *gemba_project_compare_finish (GembaProject *self, GAsyncResult *result,
                                               GError **error);

/* Promotes @model_id with gemba_workflow_promote() (as `gemba promote` does), with
 * "Classifying frames: N of M" progress; then emits ::production-changed and
 * ::frames-changed. Returns the frames classified, -1 on error. */
GembaJob *gemba_project_promote_async  (GembaProject       *self,
                                        gint64              model_id,
                                        GAsyncReadyCallback callback,
                                        gpointer            user_data);
gint64    gemba_project_promote_finish (GembaProject *self, GAsyncResult *result, GError **error);

/* Captures from @source with gemba_media_import() at a low priority; takes @sampler. Stop the
 * source (gemba_frame_source_stop()) to end it normally; cancelling the job abandons it.
 * ::progress gives GembaProjectImportProgress; ::frames-changed is emitted at most once a
 * second while frames are stored, and at the end. The result is the run's summary. */
GembaJob *gemba_project_import_async   (GembaProject       *self,
                                        GembaFrameSource   *source,
                                        GembaSampler       *sampler,
                                        GAsyncReadyCallback callback,
                                        gpointer            user_data);
GembaMediaProgress *gemba_project_import_finish (GembaProject *self, GAsyncResult *result,
                                                 GError **error);

/* Cancels the jobs, stops the worker threads (waiting for queued writes to finish) and closes
 * the idle worker connections. */
void     gemba_project_close          (GembaProject *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaLabelResult, gemba_label_result_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaLabelCrossing, gemba_label_crossing_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaProjectClaim, gemba_project_claim_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaProjectCounts, gemba_project_counts_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaProjectTrainResult, gemba_project_train_result_free)

G_END_DECLS
