/* gemba-job.c: one piece of background work of an open project, as the pages observe it
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-job.h"

typedef struct {
  double fraction;
  char *message;
  gpointer detail;
  GDestroyNotify detail_free;
} Report;

struct _GembaJob
{
  GObject parent_instance;

  char *title;
  double fraction;
  char *message;
  gboolean running;
  GCancellable *cancellable;
  GMainContext *context;        /* where reports are applied: the creator's */

  GMutex lock;                  /* guards reports and flush_pending */
  GQueue reports;               /* Report, oldest first */
  gboolean flush_pending;
};

G_DEFINE_FINAL_TYPE (GembaJob, gemba_job, G_TYPE_OBJECT)

enum { PROP_0, PROP_TITLE, PROP_FRACTION, PROP_MESSAGE, PROP_RUNNING, N_PROPS };
static GParamSpec *properties[N_PROPS];

enum { PROGRESS, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
report_free (Report *report)
{
  g_free (report->message);
  if (report->detail && report->detail_free)
    report->detail_free (report->detail);
  g_free (report);
}

static void
set_fraction (GembaJob *self, double fraction)
{
  if (fraction == self->fraction)
    return;
  self->fraction = fraction;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FRACTION]);
}

static void
set_message (GembaJob *self, const char *message)
{
  if (g_strcmp0 (message, self->message) == 0)
    return;
  g_free (self->message);
  self->message = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MESSAGE]);
}

/* Main context: applies every queued report, in order. */
static void
flush_reports (GembaJob *self)
{
  GQueue reports = G_QUEUE_INIT;
  Report *report;

  g_mutex_lock (&self->lock);
  reports = self->reports;
  g_queue_init (&self->reports);
  self->flush_pending = FALSE;
  g_mutex_unlock (&self->lock);

  g_object_freeze_notify (G_OBJECT (self));
  while ((report = g_queue_pop_head (&reports)))
    {
      if (report->fraction >= 0)
        set_fraction (self, CLAMP (report->fraction, 0, 1));
      if (report->message && !g_cancellable_is_cancelled (self->cancellable))
        set_message (self, report->message);
      if (report->detail)
        g_signal_emit (self, signals[PROGRESS], 0, report->detail);
      report_free (report);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

static gboolean
flush_cb (gpointer data)
{
  flush_reports (data);
  return G_SOURCE_REMOVE;
}

void
gemba_job_report (GembaJob *self, double fraction, const char *message, gpointer detail,
                  GDestroyNotify detail_free)
{
  Report *report;
  gboolean schedule;

  g_return_if_fail (GEMBA_IS_JOB (self));

  report = g_new0 (Report, 1);
  report->fraction = fraction;
  report->message = g_strdup (message);
  report->detail = detail;
  report->detail_free = detail_free;
  g_mutex_lock (&self->lock);
  g_queue_push_tail (&self->reports, report);
  schedule = !self->flush_pending;
  self->flush_pending = TRUE;
  g_mutex_unlock (&self->lock);
  /* The source holds a reference: a report outlives the page that started the job. */
  if (schedule)
    g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, flush_cb,
                                g_object_ref (self), g_object_unref);
}

void
gemba_job_set_running (GembaJob *self, gboolean running)
{
  g_return_if_fail (GEMBA_IS_JOB (self));

  if (!running)
    flush_reports (self);
  if (self->running == running)
    return;
  self->running = running;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

void
gemba_job_cancel (GembaJob *self)
{
  g_return_if_fail (GEMBA_IS_JOB (self));

  if (g_cancellable_is_cancelled (self->cancellable))
    return;
  if (self->running)
    set_message (self, _("Cancelling…"));
  /* Even once done: a result not handed over yet becomes G_IO_ERROR_CANCELLED. */
  g_cancellable_cancel (self->cancellable);
}

gboolean
gemba_job_is_cancelled (GembaJob *self)
{
  g_return_val_if_fail (GEMBA_IS_JOB (self), FALSE);
  return g_cancellable_is_cancelled (self->cancellable);
}

const char *
gemba_job_get_title (GembaJob *self)
{
  g_return_val_if_fail (GEMBA_IS_JOB (self), NULL);
  return self->title;
}

double
gemba_job_get_fraction (GembaJob *self)
{
  g_return_val_if_fail (GEMBA_IS_JOB (self), 0);
  return self->fraction;
}

const char *
gemba_job_get_message (GembaJob *self)
{
  g_return_val_if_fail (GEMBA_IS_JOB (self), NULL);
  return self->message;
}

gboolean
gemba_job_get_running (GembaJob *self)
{
  g_return_val_if_fail (GEMBA_IS_JOB (self), FALSE);
  return self->running;
}

GCancellable *
gemba_job_get_cancellable (GembaJob *self)
{
  g_return_val_if_fail (GEMBA_IS_JOB (self), NULL);
  return self->cancellable;
}

static void
gemba_job_finalize (GObject *object)
{
  GembaJob *self = GEMBA_JOB (object);

  g_queue_clear_full (&self->reports, (GDestroyNotify) report_free);
  g_mutex_clear (&self->lock);
  g_clear_object (&self->cancellable);
  g_main_context_unref (self->context);
  g_free (self->title);
  g_free (self->message);
  G_OBJECT_CLASS (gemba_job_parent_class)->finalize (object);
}

static void
gemba_job_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GembaJob *self = GEMBA_JOB (object);

  switch (prop_id)
    {
    case PROP_TITLE:
      g_value_set_string (value, self->title);
      break;
    case PROP_FRACTION:
      g_value_set_double (value, self->fraction);
      break;
    case PROP_MESSAGE:
      g_value_set_string (value, self->message ? self->message : "");
      break;
    case PROP_RUNNING:
      g_value_set_boolean (value, self->running);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
gemba_job_class_init (GembaJobClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = gemba_job_finalize;
  object_class->get_property = gemba_job_get_property;

  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  /* Done so far, 0 to 1 (never goes back to unknown once known). */
  properties[PROP_FRACTION] =
    g_param_spec_double ("fraction", NULL, NULL, -1, 1, -1,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_MESSAGE] =
    g_param_spec_string ("message", NULL, NULL, "",
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_RUNNING] =
    g_param_spec_boolean ("running", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* A report's detail (what the verb that started the job says it is), on the main context,
   * after :fraction and :message took that report's values. */
  signals[PROGRESS] =
    g_signal_new ("progress", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                  NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
gemba_job_init (GembaJob *self)
{
  self->fraction = -1;
  self->cancellable = g_cancellable_new ();
  self->context = g_main_context_ref_thread_default ();
  g_mutex_init (&self->lock);
  g_queue_init (&self->reports);
}

GembaJob *
gemba_job_new (const char *title)
{
  GembaJob *self = g_object_new (GEMBA_TYPE_JOB, NULL);

  self->title = g_strdup (title);
  return self;
}
