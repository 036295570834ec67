/* gemba-labeler.c: labeling, confirming and undo of the selected frame, with their toast
 *
 * Number keys, Enter and the class buttons queue the label on the project's writer thread at
 * once and return, so the annotator moves on; the toast and the frame's item update when the
 * write is done. Undo and redo queue behind the labels still being written, which is why they
 * stay enabled while any label is pending. On a team project whose server cannot be reached,
 * they wait in the project's outbox (gemba-project.h) and are sent in order when it is back;
 * the window's banner says so, and they stay undoable meanwhile.
 *
 * A written label's result (the frame's item, ::changed, the toast) waits for the end of the
 * next frame drawn: the key that moved to the next frame is usually still being drawn when
 * the write comes back, and that frame comes first.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-frame-item.h"
#include "gemba-frame-list.h"
#include "gemba-labeler.h"
#include "gemba-probe.h"

struct _GembaLabeler
{
  GObject parent_instance;

  AdwToastOverlay *overlay;     /* weak */
  char *probe_prefix;
  GembaProject *project;
  GtkSingleSelection *selection;
  AdwToast *toast;              /* the one label toast, retitled while shown */
  guint pending;                /* labels, undos and redos queued and not written yet */
  gboolean can_undo;
  gboolean can_redo;

  GQueue results;               /* WriteResult: written, shown after the next paint */
  GdkFrameClock *paint_clock;   /* whose after-paint is awaited, with after_paint_id */
  gulong after_paint_id;
};

G_DEFINE_FINAL_TYPE (GembaLabeler, gemba_labeler, G_TYPE_OBJECT)

enum { PROP_0, PROP_CAN_UNDO, PROP_CAN_REDO, N_PROPS };
static GParamSpec *properties[N_PROPS];

enum { CHANGED, N_SIGNALS };
static guint signals[N_SIGNALS];

typedef enum { WRITE_LABEL, WRITE_UNDO, WRITE_REDO } WriteKind;

typedef struct
{
  WriteKind kind;
  GembaLabelResult *result;     /* NULL: failed, with error */
  GError *error;
} WriteResult;

static void
write_result_free (WriteResult *written)
{
  g_clear_pointer (&written->result, gemba_label_result_free);
  g_clear_error (&written->error);
  g_free (written);
}

/* --- Toasts and probe events -------------------------------------------------------------- */

static void
toast_dismissed_cb (AdwToast *toast, GembaLabeler *self)
{
  if (self->toast == toast)
    g_clear_object (&self->toast);
}

static void
show_toast (GembaLabeler *self, const char *title, gboolean with_undo)
{
  if (!self->overlay)
    return;
  /* One toast, retitled while it is shown: a fast annotator would otherwise queue a minute
   * of toasts, and replacing toasts at typing speed races their animations. */
  if (!self->toast)
    {
      self->toast = g_object_ref (adw_toast_new (title));
      adw_toast_set_priority (self->toast, ADW_TOAST_PRIORITY_HIGH);
      adw_toast_set_timeout (self->toast, 5);
      g_signal_connect (self->toast, "dismissed", G_CALLBACK (toast_dismissed_cb), self);
      adw_toast_set_action_name (self->toast, "win.undo");
      adw_toast_set_button_label (self->toast, with_undo ? _("_Undo") : NULL);
      adw_toast_overlay_add_toast (self->overlay, self->toast);
      return;
    }
  adw_toast_set_title (self->toast, title);
  adw_toast_set_button_label (self->toast, with_undo ? _("_Undo") : NULL);
}

void
gemba_labeler_show_error (GembaLabeler *self, const char *message)
{
  AdwToast *toast;

  g_return_if_fail (GEMBA_IS_LABELER (self));
  if (!self->overlay)
    return;
  toast = adw_toast_new (message);
  adw_toast_set_priority (toast, ADW_TOAST_PRIORITY_HIGH);
  adw_toast_set_timeout (toast, 0);
  adw_toast_overlay_add_toast (self->overlay, toast);
}

static void
bell (GembaLabeler *self)
{
  if (self->overlay)
    gtk_widget_error_bell (GTK_WIDGET (self->overlay));
}

static void G_GNUC_PRINTF (3, 4)
probe (GembaLabeler *self, const char *event, const char *format, ...)
{
  g_autofree char *name = NULL;
  g_autofree char *details = NULL;
  va_list args;

  if (!gemba_probe_enabled ())
    return;
  name = g_strconcat (self->probe_prefix, event, NULL);
  va_start (args, format);
  details = g_strdup_vprintf (format, args);
  va_end (args);
  gemba_probe_log (name, "%s", details);
}

/* --- Undo state --------------------------------------------------------------------------- */

static void
update_can_undo (GembaLabeler *self)
{
  gboolean open = self->project != NULL;
  /* While labels are still being written, Ctrl+Z must not be refused: it queues behind them. */
  guint waiting = open ? self->pending + gemba_project_get_n_waiting (self->project) : 0;
  gboolean can_undo = open && (waiting > 0 || gemba_project_get_n_undo (self->project) > 0);
  gboolean can_redo = open && (waiting > 0 || gemba_project_get_n_redo (self->project) > 0);

  if (can_undo != self->can_undo)
    {
      self->can_undo = can_undo;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_UNDO]);
    }
  if (can_redo != self->can_redo)
    {
      self->can_redo = can_redo;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CAN_REDO]);
    }
}

gboolean
gemba_labeler_get_can_undo (GembaLabeler *self)
{
  g_return_val_if_fail (GEMBA_IS_LABELER (self), FALSE);
  return self->can_undo;
}

gboolean
gemba_labeler_get_can_redo (GembaLabeler *self)
{
  g_return_val_if_fail (GEMBA_IS_LABELER (self), FALSE);
  return self->can_redo;
}

/* --- Writing ------------------------------------------------------------------------------ */

static const char *
class_name (GembaLabeler *self, gint64 class_id)
{
  const GembaClass *klass = gemba_project_lookup_class (self->project, class_id);

  return class_id == 0 ? _("unlabeled") : klass ? klass->name : "?";
}

/* Position of @frame_id in the selection's list, or G_MAXUINT. */
static guint
find_frame (GembaLabeler *self, gint64 frame_id)
{
  GListModel *frames = gtk_single_selection_get_model (self->selection);
  guint n = g_list_model_get_n_items (frames);

  if (GEMBA_IS_FRAME_LIST (frames))
    return gemba_frame_list_find (GEMBA_FRAME_LIST (frames), frame_id);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GembaFrameItem) item = g_list_model_get_item (frames, i);

      if (gemba_frame_item_get_id (item) == frame_id)
        return i;
    }
  return G_MAXUINT;
}

/* The frame as it is now, in the list its view shows. */
static void
apply_result (GembaLabeler *self, const GembaLabelResult *result)
{
  GListModel *frames;
  guint position;

  if (!result->frame || !self->selection)
    return;
  frames = gtk_single_selection_get_model (self->selection);
  if (GEMBA_IS_FRAME_LIST (frames))
    {
      gemba_frame_list_update_frame (GEMBA_FRAME_LIST (frames), gemba_frame_copy (result->frame));
      return;
    }
  position = find_frame (self, result->frame->id);
  if (position != G_MAXUINT)
    {
      g_autoptr(GembaFrameItem) item = g_list_model_get_item (frames, position);
      gemba_frame_item_set_frame (item, gemba_frame_copy (result->frame));
    }
}

static void
show_result (GembaLabeler *self, WriteKind kind, const GembaLabelResult *label_result,
             const GError *error)
{
  g_autofree char *title = NULL;
  gint64 class_id;

  if (!label_result)
    {
      gemba_labeler_show_error (self, error->message);
      return;
    }
  if (label_result->queued)
    {
      guint n = gemba_project_get_n_waiting (self->project);

      probe (self, "queued", "kind=%d waiting=%u", (int) kind, n);
      /* Translators: toast when a label could not reach the team project's server yet. */
      title = g_strdup_printf (ngettext ("Kept here; sent when the server is back (%u waiting)",
                                         "Kept here; sent when the server is back (%u waiting)",
                                         n), n);
      show_toast (self, title, FALSE);
      return;
    }
  if (!label_result->label)
    {
      show_toast (self, kind == WRITE_REDO ? _("Nothing to redo") : _("Nothing to undo"), FALSE);
      return;
    }
  apply_result (self, label_result);
  class_id = label_result->label->class_id;
  switch (kind)
    {
    case WRITE_LABEL:
      probe (self, "labeled", "frame=%" G_GINT64_FORMAT " class=%" G_GINT64_FORMAT,
             label_result->label->frame_id, class_id);
      /* Translators: toast after a label was saved; %s is the class. */
      title = g_strdup_printf (_("Saved: %s"), class_name (self, class_id));
      break;
    case WRITE_UNDO:
      probe (self, "undone", "frame=%" G_GINT64_FORMAT " class=%" G_GINT64_FORMAT,
             label_result->label->frame_id, class_id);
      title = g_strdup_printf (_("Undone: the frame is %s again"), class_name (self, class_id));
      break;
    case WRITE_REDO:
      probe (self, "redone", "frame=%" G_GINT64_FORMAT " class=%" G_GINT64_FORMAT,
             label_result->label->frame_id, class_id);
      title = g_strdup_printf (_("Redone: %s"), class_name (self, class_id));
      break;
    }
  /* After an undo or redo, show the frame whose label changed: the annotator sees what it did. */
  if (kind != WRITE_LABEL && self->selection)
    {
      guint position = find_frame (self, label_result->label->frame_id);

      if (position != G_MAXUINT)
        gtk_single_selection_set_selected (self->selection, position);
    }
  g_signal_emit (self, signals[CHANGED], 0, label_result->label->frame_id, kind != WRITE_LABEL);
  show_toast (self, title, kind == WRITE_LABEL);
}

static void
show_results (GembaLabeler *self)
{
  WriteResult *written;

  g_clear_signal_handler (&self->after_paint_id, self->paint_clock);
  g_clear_object (&self->paint_clock);
  /* In the order written: an undo's result comes after the label it undid. */
  while ((written = g_queue_pop_head (&self->results)))
    {
      show_result (self, written->kind, written->result, written->error);
      write_result_free (written);
    }
}

static void
after_paint_cb (GdkFrameClock *clock, GembaLabeler *self)
{
  show_results (self);
}

static void
drop_results (GembaLabeler *self)
{
  g_clear_signal_handler (&self->after_paint_id, self->paint_clock);
  g_clear_object (&self->paint_clock);
  g_queue_clear_full (&self->results, (GDestroyNotify) write_result_free);
}

static void
write_done (GembaLabeler *self, GObject *object, GAsyncResult *result, WriteKind kind)
{
  WriteResult *written = g_new0 (WriteResult, 1);
  GdkFrameClock *clock;

  written->kind = kind;
  written->result = gemba_project_label_finish (GEMBA_PROJECT (object), result,
                                                &written->error);
  if (!self->project || GEMBA_PROJECT (object) != self->project)
    {
      write_result_free (written);
      return;
    }
  self->pending--;
  update_can_undo (self);
  g_queue_push_tail (&self->results, written);
  if (self->after_paint_id)
    return;
  /* Not shown (no frame is drawn): at once. */
  if (!self->overlay || !gtk_widget_get_mapped (GTK_WIDGET (self->overlay)) ||
      !(clock = gtk_widget_get_frame_clock (GTK_WIDGET (self->overlay))))
    {
      show_results (self);
      return;
    }
  self->paint_clock = g_object_ref (clock);
  self->after_paint_id = g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb),
                                           self);
  gdk_frame_clock_request_phase (clock, GDK_FRAME_CLOCK_PHASE_PAINT);
}

static void
labeled_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaLabeler) self = user_data;

  write_done (self, object, result, WRITE_LABEL);
}

static void
undone_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaLabeler) self = user_data;

  write_done (self, object, result, WRITE_UNDO);
}

static void
redone_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaLabeler) self = user_data;

  write_done (self, object, result, WRITE_REDO);
}

static const GembaFrame *
selected_frame (GembaLabeler *self)
{
  GembaFrameItem *item;

  if (!self->project || !self->selection)
    return NULL;
  item = gtk_single_selection_get_selected_item (self->selection);
  return item ? gemba_frame_item_get_frame (item) : NULL;
}

static gboolean
label_selected (GembaLabeler *self, const GembaClass *klass, GembaLabelKind kind)
{
  const GembaFrame *frame = selected_frame (self);

  if (!frame || !klass || klass->retired)
    {
      bell (self);
      return FALSE;
    }
  self->pending++;
  update_can_undo (self);
  gemba_project_label_frame_async (self->project, frame, klass->id, kind, labeled_cb,
                                   g_object_ref (self));
  probe (self, "label-given", "frame=%" G_GINT64_FORMAT " class=%" G_GINT64_FORMAT,
         frame->id, klass->id);
  return TRUE;
}

gboolean
gemba_labeler_label_key (GembaLabeler *self, int key)
{
  g_return_val_if_fail (GEMBA_IS_LABELER (self), FALSE);
  if (!self->project)
    return FALSE;
  return label_selected (self, gemba_project_class_for_key (self->project, key),
                         GEMBA_LABEL_SET);
}

gboolean
gemba_labeler_label_class (GembaLabeler *self, gint64 class_id)
{
  g_return_val_if_fail (GEMBA_IS_LABELER (self), FALSE);
  if (!self->project)
    return FALSE;
  return label_selected (self, gemba_project_lookup_class (self->project, class_id),
                         GEMBA_LABEL_SET);
}

gboolean
gemba_labeler_confirm (GembaLabeler *self)
{
  const GembaFrame *frame;
  const GembaClass *klass = NULL;

  g_return_val_if_fail (GEMBA_IS_LABELER (self), FALSE);
  if (!self->project)
    return FALSE;
  frame = selected_frame (self);
  if (frame && frame->pred_class_id)
    klass = gemba_project_lookup_class (self->project, frame->pred_class_id);
  if (!klass || klass->retired)
    {
      show_toast (self, _("This frame has no prediction to confirm. Press a number key to "
                          "label it."), FALSE);
      return FALSE;
    }
  return label_selected (self, klass, GEMBA_LABEL_CONFIRM);
}

void
gemba_labeler_undo (GembaLabeler *self)
{
  g_return_if_fail (GEMBA_IS_LABELER (self));
  if (!self->project)
    return;
  self->pending++;
  gemba_project_undo_async (self->project, undone_cb, g_object_ref (self));
}

void
gemba_labeler_redo (GembaLabeler *self)
{
  g_return_if_fail (GEMBA_IS_LABELER (self));
  if (!self->project)
    return;
  self->pending++;
  gemba_project_redo_async (self->project, redone_cb, g_object_ref (self));
}

/* --- Object ------------------------------------------------------------------------------- */

static void
undo_changed_cb (GembaProject *project, GembaLabeler *self)
{
  update_can_undo (self);
}

/* A label that waited for the server was refused when it was sent. */
static void
label_refused_cb (GembaProject *project, const char *message, GembaLabeler *self)
{
  g_autofree char *text = g_strdup_printf (_("A label that waited for the server was not "
                                             "saved: %s"), message);

  gemba_labeler_show_error (self, text);
}

void
gemba_labeler_set_project (GembaLabeler *self, GembaProject *project)
{
  g_return_if_fail (GEMBA_IS_LABELER (self));
  g_return_if_fail (!project || GEMBA_IS_PROJECT (project));

  if (self->project == project)
    return;
  if (self->project)
    g_signal_handlers_disconnect_by_data (self->project, self);
  g_set_object (&self->project, project);
  /* Writes still queued on the old project finish there; their results are not ours. */
  self->pending = 0;
  drop_results (self);
  if (project)
    {
      g_signal_connect (project, "undo-changed", G_CALLBACK (undo_changed_cb), self);
      g_signal_connect_swapped (project, "notify::n-waiting", G_CALLBACK (update_can_undo), self);
      g_signal_connect (project, "label-refused", G_CALLBACK (label_refused_cb), self);
    }
  update_can_undo (self);
}

void
gemba_labeler_set_selection (GembaLabeler *self, GtkSingleSelection *selection)
{
  g_return_if_fail (GEMBA_IS_LABELER (self));
  g_set_object (&self->selection, selection);
}

static void
gemba_labeler_dispose (GObject *object)
{
  GembaLabeler *self = GEMBA_LABELER (object);

  gemba_labeler_set_project (self, NULL);
  g_clear_object (&self->selection);
  if (self->toast)
    g_signal_handlers_disconnect_by_func (self->toast, toast_dismissed_cb, self);
  g_clear_object (&self->toast);
  g_clear_weak_pointer (&self->overlay);
  G_OBJECT_CLASS (gemba_labeler_parent_class)->dispose (object);
}

static void
gemba_labeler_finalize (GObject *object)
{
  g_free (GEMBA_LABELER (object)->probe_prefix);
  G_OBJECT_CLASS (gemba_labeler_parent_class)->finalize (object);
}

static void
gemba_labeler_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GembaLabeler *self = GEMBA_LABELER (object);

  switch (prop_id)
    {
    case PROP_CAN_UNDO:
      g_value_set_boolean (value, self->can_undo);
      break;
    case PROP_CAN_REDO:
      g_value_set_boolean (value, self->can_redo);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
gemba_labeler_class_init (GembaLabelerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = gemba_labeler_dispose;
  object_class->finalize = gemba_labeler_finalize;
  object_class->get_property = gemba_labeler_get_property;

  /* Whether Undo (Redo) has something to do: history, or a label still being written. */
  properties[PROP_CAN_UNDO] =
    g_param_spec_boolean ("can-undo", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_CAN_REDO] =
    g_param_spec_boolean ("can-redo", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* ::changed (frame_id, history): a label, undo (history TRUE) or redo was written and the
   * frame's item updated; after an undo or redo the frame is the selected one. */
  signals[CHANGED] =
    g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_INT64, G_TYPE_BOOLEAN);
}

static void
gemba_labeler_init (GembaLabeler *self)
{
  g_queue_init (&self->results);
}

GembaLabeler *
gemba_labeler_new (AdwToastOverlay *overlay, const char *probe_prefix)
{
  GembaLabeler *self = g_object_new (GEMBA_TYPE_LABELER, NULL);

  g_set_weak_pointer (&self->overlay, overlay);
  self->probe_prefix = g_strdup (probe_prefix ? probe_prefix : "");
  return self;
}
