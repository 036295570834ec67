/* gemba-job.h: one piece of background work of an open project, as the pages observe it
 *
 * A job is started by GembaProject (gemba_project_run_job() and the project's verbs) and runs
 * in a worker thread on a store connection the project lends it. Its worker reports progress
 * from that thread; the job applies the reports on the main context, in order, so pages bind
 * their progress bars and labels to :fraction and :message and their Cancel buttons to
 * :running instead of hopping to the main context themselves.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define GEMBA_TYPE_JOB (gemba_job_get_type ())
G_DECLARE_FINAL_TYPE (GembaJob, gemba_job, GEMBA, JOB, GObject)

/* A new job titled @title (e.g. "Training"), not running yet. For GembaProject. */
GembaJob     *gemba_job_new             (const char *title);

/* What the job does, for people (e.g. "Training Model 3"). */
const char   *gemba_job_get_title       (GembaJob *self);
/* Done so far, 0 to 1; -1 when nobody knows (a live capture). */
double        gemba_job_get_fraction    (GembaJob *self);
/* What the job is doing now, e.g. "Epoch 2 of 10, step 5 of 40". */
const char   *gemba_job_get_message     (GembaJob *self);
/* TRUE from the start until the result is handed over. */
gboolean      gemba_job_get_running     (GembaJob *self);
/* Cancelled by gemba_job_cancel(); the worker watches it. */
GCancellable *gemba_job_get_cancellable (GembaJob *self);
/* Asks the worker to stop at its next check; :message becomes "Cancelling…" and later reports
 * no longer change it. The result still comes: G_IO_ERROR_CANCELLED, or with
 * GEMBA_JOB_KEEP_RESULT what was done before stopping. Harmless once the job is done. */
void          gemba_job_cancel          (GembaJob *self);
gboolean      gemba_job_is_cancelled    (GembaJob *self);

/* Any thread: sets :fraction (negative: unchanged) and :message (NULL: unchanged) and, with
 * @detail, emits ::progress (detail) on the main context, after the reports before it.
 * @detail is freed with @detail_free once handled. */
void          gemba_job_report          (GembaJob      *self,
                                         double         fraction,
                                         const char    *message,
                                         gpointer       detail,
                                         GDestroyNotify detail_free);

/* For GembaProject: marks the job running or done (main thread). Done applies every report
 * still queued first, so the last progress is seen before the result. */
void          gemba_job_set_running     (GembaJob *self, gboolean running);

G_END_DECLS
