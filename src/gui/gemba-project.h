/* gemba-project.h: an open project as the workbench sees it
 *
 * Owns two GembaStores on the same folder: a writer, used by one serial worker thread so that
 * labels are written in the order they were given, and a reader for the grid, thumbnails and
 * counts, so that reads never wait behind a write. The main thread never calls either.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gtk/gtk.h>

#include "gemba-store.h"
#include "gemba-thumbnailer.h"

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
} GembaLabelResult;

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

/* Tell every view of the project what changed: the pages observe these signals and never
 * call each other. ::frames-changed: frames were added (capture) or relabeled elsewhere. */
void     gemba_project_frames_changed (GembaProject *self);
/* ::model-added: a model was trained. */
void     gemba_project_model_added    (GembaProject *self, gint64 model_id);
/* ::production-changed then ::frames-changed: a model was promoted and classified every frame. */
void     gemba_project_production_changed (GembaProject *self, gint64 model_id);

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

/* Stops the worker threads, waiting for queued writes to finish. */
void     gemba_project_close          (GembaProject *self);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaLabelResult, gemba_label_result_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaProjectCounts, gemba_project_counts_free)

G_END_DECLS
