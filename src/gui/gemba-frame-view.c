/* gemba-frame-view.c: one frame large, with its label, prediction, history and details
 *
 * Moving to the next frame must feel instant, so the next frames (the "preload-depth" setting)
 * are decoded ahead in worker threads, at the size they are shown at, and kept as textures;
 * the frame's thumbnail stands in while a frame that was not preloaded is decoded. Zooming in
 * loads the shown frame at its full size.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include <adwaita.h>

#include "gemba-frame-item.h"
#include "gemba-frame-view.h"
#include "gemba-image-canvas.h"
#include "gemba-probe.h"
#include "gemba-store-models.h"

#define THUMB_SIZE_FOR_PLACEHOLDER 160

struct _GembaFrameView
{
  GtkWidget parent_instance;

  GembaImageCanvas *canvas;
  GtkLabel *position_label;
  GtkLabel *zoom_label;
  GtkLabel *label_value;
  GtkLabel *label_meta;
  GtkFlowBox *class_buttons;
  GtkLabel *prediction_value;
  GtkGrid *probabilities_grid;
  GtkButton *confirm_button;
  GtkLabel *info_value;
  GtkListBox *history_list;

  GembaProject *project;
  GtkSingleSelection *selection;
  gulong selection_id;
  gulong classes_id;
  guint preload_depth;

  GembaFrameItem *item;          /* shown */
  gulong item_notify_id;
  GembaFrameItem *texture_item;  /* whose full texture is on the canvas */
  GCancellable *history_cancellable;

  GHashTable *textures;          /* frame id → GdkTexture (fitted to the canvas, preloaded) */
  GCancellable *zoom_cancellable;   /* loading the shown frame at full size, for zooming */
  gint64 zoom_frame_id;          /* whose full size is on the canvas or loading; 0: none */
  gboolean zoom_shown;           /* and it is on the canvas */
  GQueue texture_order;          /* frame ids (gint64 *), oldest first */
  GHashTable *pending;           /* frame id → GCancellable */
  GPtrArray *preload_items;      /* items whose rows are awaited for preloading */
  gboolean preload_after_shown;  /* preloading waits for the shown frame's decode */

  gint64 nav_started;            /* µs, the first move not yet drawn; 0: none */
  GArray *nav_pending;           /* NavStart: the moves not yet drawn, for the probe */
  gboolean details_deferred;     /* history and preloading wait for the moved-to frame drawn */
  GdkFrameClock *paint_clock;    /* whose after-paint is awaited, with after_paint_id */
  gulong after_paint_id;
};

G_DEFINE_FINAL_TYPE (GembaFrameView, gemba_frame_view, GTK_TYPE_WIDGET)

static void show_item (GembaFrameView *self);
static void await_paint (GembaFrameView *self);
static void preload (GembaFrameView *self);

typedef struct
{
  GembaFrameView *self;   /* weak: the view lives as long as the window */
  gint64 frame_id;
  gboolean full_size;     /* for zooming; else fitted */
} LoadData;

typedef struct
{
  gint64 started;         /* µs */
  double waited_ms;       /* the probe's CPU wait then */
} NavStart;

/* A frame's texture as decoded for the canvas's present size, or its full size. A texture
 * made for another size (the window was resized since) still shows the frame, only slower
 * to draw. */
static gboolean
texture_fits (GembaFrameView *self, const GembaFrame *frame, GdkTexture *texture)
{
  int w, h;

  if (!frame->width || !frame->height ||
      !gemba_image_canvas_get_fitted_size (self->canvas, (int) frame->width,
                                           (int) frame->height, &w, &h))
    return TRUE;
  return ABS (gdk_texture_get_width (texture) - w) <= 1 &&
         ABS (gdk_texture_get_height (texture) - h) <= 1;
}

/* Before its first layout the canvas has no size to decode the frames ahead for: they wait
 * for the first frame drawn, as after a move. */
static gboolean
canvas_sized (GembaFrameView *self)
{
  int w, h;

  return gemba_image_canvas_get_fitted_size (self->canvas, 1, 1, &w, &h);
}

static void
show_texture (GembaFrameView *self, const GembaFrame *frame, GdkTexture *texture)
{
  if (texture && frame->width && frame->height)
    gemba_image_canvas_set_image (self->canvas, texture, (int) frame->width,
                                  (int) frame->height);
  else
    gemba_image_canvas_set_texture (self->canvas, texture);
}

static guint
texture_capacity (GembaFrameView *self)
{
  return self->preload_depth * 2 + 6;
}

static void
remember_texture (GembaFrameView *self, gint64 frame_id, GdkTexture *texture)
{
  if (g_hash_table_contains (self->textures, &frame_id))
    return;
  g_hash_table_insert (self->textures, g_memdup2 (&frame_id, sizeof frame_id),
                       g_object_ref (texture));
  g_queue_push_tail (&self->texture_order, g_memdup2 (&frame_id, sizeof frame_id));
  while (self->texture_order.length > texture_capacity (self))
    {
      g_autofree gint64 *old = g_queue_pop_head (&self->texture_order);
      g_hash_table_remove (self->textures, old);
    }
}

static void
full_loaded_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  LoadData *data = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GdkTexture) texture =
    gemba_thumbnailer_load_full_finish (GEMBA_THUMBNAILER (object), result, &error);
  GembaFrameView *self = data->self;
  const GembaFrame *frame;
  gboolean shown;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_free (data);
      return;
    }
  if (!data->full_size)
    g_hash_table_remove (self->pending, &data->frame_id);
  frame = self->item ? gemba_frame_item_get_frame (self->item) : NULL;
  shown = frame && frame->id == data->frame_id;
  if (texture)
    {

      if (!data->full_size)
        remember_texture (self, data->frame_id, texture);
      /* The fitted texture does not replace the full size. */
      if (shown && (data->full_size || self->zoom_frame_id != frame->id || !self->zoom_shown))
        {
          g_set_object (&self->texture_item, self->item);
          show_texture (self, frame, texture);
          self->zoom_shown = data->full_size;
        }
    }
  else
    g_warning ("%s", error->message);
  if (shown && !data->full_size && self->preload_after_shown && !self->details_deferred)
    preload (self);
  g_free (data);
}

/* Zoomed in, the shown frame at its full size. */
static void
request_zoom (GembaFrameView *self, const GembaFrame *frame)
{
  LoadData *data;

  if (self->zoom_frame_id == frame->id ||
      gemba_image_canvas_get_zoom (self->canvas) <= 1.0)
    return;
  if (self->zoom_cancellable)
    g_cancellable_cancel (self->zoom_cancellable);
  g_clear_object (&self->zoom_cancellable);
  self->zoom_cancellable = g_cancellable_new ();
  self->zoom_frame_id = frame->id;
  self->zoom_shown = FALSE;
  data = g_new0 (LoadData, 1);
  data->self = self;
  data->frame_id = frame->id;
  data->full_size = TRUE;
  gemba_thumbnailer_load_full_async (gemba_project_get_thumbnailer (self->project), frame,
                                     self->zoom_cancellable, full_loaded_cb, data);
}

static void
request_full (GembaFrameView *self, const GembaFrame *frame)
{
  GCancellable *cancellable;
  LoadData *data;

  GdkTexture *texture;
  int w, h;

  if ((texture = g_hash_table_lookup (self->textures, &frame->id)))
    {
      if (texture_fits (self, frame, texture))
        return;
      /* Made before a resize: again, at the present size. */
      g_hash_table_remove (self->textures, &frame->id);
      for (GList *l = self->texture_order.head; l; l = l->next)
        if (*(gint64 *) l->data == frame->id)
          {
            g_free (l->data);
            g_queue_delete_link (&self->texture_order, l);
            break;
          }
    }
  if (g_hash_table_contains (self->pending, &frame->id))
    return;
  cancellable = g_cancellable_new ();
  g_hash_table_insert (self->pending, g_memdup2 (&frame->id, sizeof frame->id), cancellable);
  data = g_new0 (LoadData, 1);
  data->self = self;
  data->frame_id = frame->id;
  if (frame->width && frame->height &&
      gemba_image_canvas_get_fitted_size (self->canvas, (int) frame->width,
                                          (int) frame->height, &w, &h))
    gemba_thumbnailer_load_fitted_async (gemba_project_get_thumbnailer (self->project), frame,
                                         (guint) w, (guint) h, cancellable, full_loaded_cb,
                                         data);
  else
    gemba_thumbnailer_load_full_async (gemba_project_get_thumbnailer (self->project), frame,
                                       cancellable, full_loaded_cb, data);
}

static void
cancel_pending (GembaFrameView *self)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->pending);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_cancellable_cancel (value);
  g_hash_table_remove_all (self->pending);
}

static char *
format_time (gint64 usec)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (usec / G_USEC_PER_SEC);
  g_autoptr(GDateTime) local = utc ? g_date_time_to_local (utc) : NULL;

  /* Translators: date and time format of capture and label times; see g_date_time_format(). */
  return local ? g_date_time_format (local, _("%Y-%m-%d %H:%M:%S")) : g_strdup ("?");
}

/* The @index-th row of the history list (newest first), made when missing: moving to the next
 * frame updates the rows in place rather than building new ones. */
static AdwActionRow *
history_row (GembaFrameView *self, guint index)
{
  GtkListBoxRow *row = gtk_list_box_get_row_at_index (self->history_list, (int) index);
  GtkWidget *made;

  if (row)
    return ADW_ACTION_ROW (row);
  made = adw_action_row_new ();
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (made), FALSE);
  gtk_list_box_append (self->history_list, made);
  return ADW_ACTION_ROW (made);
}

static void
trim_history (GembaFrameView *self, guint n_rows)
{
  GtkListBoxRow *row;

  while ((row = gtk_list_box_get_row_at_index (self->history_list, (int) n_rows)))
    gtk_list_box_remove (self->history_list, GTK_WIDGET (row));
}

static void
set_history_row (GembaFrameView *self, guint index, const GembaLabel *label)
{
  g_autofree char *title = NULL;
  g_autofree char *when = format_time (label->created_at);
  g_autofree char *subtitle = NULL;
  const char *kind;
  AdwActionRow *row;

  switch (label->kind)
    {
    case GEMBA_LABEL_SET: kind = _("labeled"); break;
    case GEMBA_LABEL_CONFIRM: kind = _("confirmed the model"); break;
    case GEMBA_LABEL_IMPORT: kind = _("imported"); break;
    case GEMBA_LABEL_UNDO: kind = _("undid"); break;
    case GEMBA_LABEL_REDO: kind = _("redid"); break;
    case GEMBA_LABEL_CLEAR: kind = _("cleared"); break;
    default: kind = "?"; break;
    }
  if (label->previous_class_id)
    /* Translators: a label history entry: new class (class before). */
    title = g_strdup_printf (_("%s (was %s)"),
                             label->class_name ? label->class_name : _("unlabeled"),
                             label->previous_class_name ? label->previous_class_name : "?");
  else
    title = g_strdup (label->class_name ? label->class_name : _("unlabeled"));
  /* Translators: who did what when, in the label history: "anna · labeled · 2026-…". */
  subtitle = g_strdup_printf (_("%s · %s · %s"), label->author, kind, when);
  row = history_row (self, index);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (row, subtitle);
}

/* What the side panel reads for one frame, off the main thread. */
typedef struct
{
  GPtrArray *labels;       /* GembaLabel, oldest first */
  float *probabilities;    /* production model's, in its output order; NULL without */
  guint n_classes;
  char **class_names;      /* the model's classes */
  gint64 *class_ids;       /* the project class of each, 0 when gone */
} FrameDetails;

static void
frame_details_free (FrameDetails *details)
{
  g_clear_pointer (&details->labels, g_ptr_array_unref);
  g_free (details->probabilities);
  g_strfreev (details->class_names);
  g_free (details->class_ids);
  g_free (details);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (FrameDetails, frame_details_free)

static void
history_thread (GTask *task, gpointer source_object, gpointer task_data,
                GCancellable *cancellable)
{
  GembaStore *store = source_object;
  gint64 frame_id = *(gint64 *) task_data;
  g_autoptr(FrameDetails) details = g_new0 (FrameDetails, 1);
  gint64 production = gemba_store_get_production_model_id (store);
  GError *error = NULL;

  if (!(details->labels = gemba_store_list_label_history (store, frame_id, &error)))
    {
      g_task_return_error (task, error);
      return;
    }
  /* The production model's probability for each of its classes, with the project class each
   * one is now (for its colour), when the model has seen this frame. */
  if (production &&
      gemba_store_get_prediction (store, production, frame_id, NULL, NULL,
                                  &details->probabilities, &details->n_classes, NULL))
    {
      g_autoptr(GembaModelRecord) model = gemba_store_get_model (store, production, NULL);
      guint n_names = model ? g_strv_length (model->classes) : 0;

      if (n_names != details->n_classes)
        details->n_classes = 0;
      else
        {
          details->class_names = g_strdupv (model->classes);
          details->class_ids = g_new0 (gint64, n_names);
          for (guint i = 0; i < n_names; i++)
            {
              g_autoptr(GembaClass) klass = gemba_store_find_class (store, model->classes[i],
                                                                    NULL);
              details->class_ids[i] = klass ? klass->id : 0;
            }
        }
    }
  g_task_return_pointer (task, g_steal_pointer (&details), (GDestroyNotify) frame_details_free);
}

static void
show_probabilities (GembaFrameView *self, FrameDetails *details)
{
  g_autofree guint *order = g_new0 (guint, MAX (details->n_classes, 1));

  /* Rows are kept from frame to frame and updated in place; extra ones go. */
  while (gtk_grid_get_child_at (self->probabilities_grid, 0, (int) details->n_classes))
    gtk_grid_remove_row (self->probabilities_grid, (int) details->n_classes);
  gtk_widget_set_visible (GTK_WIDGET (self->probabilities_grid), details->n_classes > 0);

  /* Most probable first. */
  for (guint i = 0; i < details->n_classes; i++)
    order[i] = i;
  for (guint i = 1; i < details->n_classes; i++)
    for (guint j = i; j > 0 && details->probabilities[order[j]] >
                               details->probabilities[order[j - 1]]; j--)
      {
        guint t = order[j];
        order[j] = order[j - 1];
        order[j - 1] = t;
      }

  for (guint row = 0; row < details->n_classes; row++)
    {
      guint k = order[row];
      double p = details->probabilities[k];
      g_autofree char *name = details->class_ids[k]
                              ? gemba_class_markup (self->project, details->class_ids[k])
                              : g_markup_escape_text (details->class_names[k], -1);
      g_autofree char *percent = g_strdup_printf (_("%.1f %%"), 100.0 * p);
      GtkWidget *label = gtk_grid_get_child_at (self->probabilities_grid, 0, (int) row);
      GtkWidget *bar = gtk_grid_get_child_at (self->probabilities_grid, 1, (int) row);
      GtkWidget *value = gtk_grid_get_child_at (self->probabilities_grid, 2, (int) row);

      if (!label)
        {
          label = gtk_label_new (NULL);
          bar = gtk_level_bar_new_for_interval (0.0, 1.0);
          value = gtk_label_new (NULL);
          gtk_label_set_xalign (GTK_LABEL (label), 0);
          gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
          gtk_widget_set_size_request (bar, 120, -1);
          gtk_widget_set_valign (bar, GTK_ALIGN_CENTER);
          gtk_label_set_xalign (GTK_LABEL (value), 1);
          gtk_widget_add_css_class (value, "numeric");
          gtk_grid_attach (self->probabilities_grid, label, 0, (int) row, 1, 1);
          gtk_grid_attach (self->probabilities_grid, bar, 1, (int) row, 1, 1);
          gtk_grid_attach (self->probabilities_grid, value, 2, (int) row, 1, 1);
        }
      gtk_label_set_markup (GTK_LABEL (label), name);
      gtk_level_bar_set_value (GTK_LEVEL_BAR (bar), p);
      gtk_label_set_label (GTK_LABEL (value), percent);
    }
}

static void
history_read_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(FrameDetails) details = g_task_propagate_pointer (G_TASK (result), &error);
  GembaFrameView *self;
  GPtrArray *labels;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = GEMBA_FRAME_VIEW (user_data);
  if (!details)
    {
      trim_history (self, 0);
      g_warning ("%s", error->message);
      return;
    }
  show_probabilities (self, details);
  labels = details->labels;
  if (labels->len == 0)
    {
      AdwActionRow *row = history_row (self, 0);

      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), _("Never labeled"));
      adw_action_row_set_subtitle (row, "");
    }
  /* Newest first. */
  for (guint i = 0; i < labels->len; i++)
    set_history_row (self, i, g_ptr_array_index (labels, labels->len - 1 - i));
  trim_history (self, MAX (labels->len, 1));
}

static void
read_history (GembaFrameView *self, gint64 frame_id)
{
  g_autoptr(GTask) task = NULL;

  if (self->history_cancellable)
    g_cancellable_cancel (self->history_cancellable);
  g_clear_object (&self->history_cancellable);
  self->history_cancellable = g_cancellable_new ();
  task = g_task_new (gemba_project_get_reader (self->project), self->history_cancellable,
                     history_read_cb, self);
  g_task_set_source_tag (task, read_history);
  g_task_set_check_cancellable (task, TRUE);
  g_task_set_task_data (task, g_memdup2 (&frame_id, sizeof frame_id), g_free);
  g_task_run_in_thread (task, history_thread);
}

static void
update_details (GembaFrameView *self)
{
  const GembaFrame *frame = self->item ? gemba_frame_item_get_frame (self->item) : NULL;
  guint position = gtk_single_selection_get_selected (self->selection);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->selection));
  g_autofree char *position_text = NULL;
  g_autofree char *label = NULL;
  g_autofree char *meta = NULL;
  g_autofree char *prediction = NULL;
  g_autofree char *captured = NULL;
  g_autofree char *info = NULL;

  /* Translators: position in the current list of frames, "12 / 320". */
  position_text = g_strdup_printf (_("%u / %u"), position + 1, n);
  gtk_label_set_label (self->position_label, position_text);
  gtk_widget_set_visible (GTK_WIDGET (self->position_label), position != GTK_INVALID_LIST_POSITION);
  if (!frame)
    {
      gtk_label_set_label (self->label_value, "");
      gtk_label_set_label (self->label_meta, _("Loading…"));
      gtk_label_set_label (self->prediction_value, "");
      gtk_label_set_label (self->info_value, "");
      gtk_widget_set_sensitive (GTK_WIDGET (self->confirm_button), FALSE);
      return;
    }

  label = gemba_class_markup (self->project, frame->label_class_id);
  gtk_label_set_markup (self->label_value, label);
  if (frame->label_class_id)
    {
      g_autofree char *when = format_time (frame->label_at);
      /* Translators: who gave the current label and when. */
      meta = g_strdup_printf (_("by %s, %s"), frame->label_author, when);
    }
  else
    meta = g_strdup (_("Nobody has labeled this frame yet."));
  gtk_label_set_label (self->label_meta, meta);

  if (frame->pred_class_id)
    {
      const GembaClass *klass = gemba_project_lookup_class (self->project, frame->pred_class_id);
      g_autofree char *name = gemba_class_markup (self->project, frame->pred_class_id);
      gboolean disagree = frame->label_class_id && frame->label_class_id != frame->pred_class_id;

      /* Translators: the model's verdict (with its colour dot) and confidence. */
      prediction = g_strdup_printf (_("%s — %.0f %% sure"), name, frame->pred_confidence * 100.0);
      if (disagree)
        {
          g_autofree char *plain = g_steal_pointer (&prediction);
          g_autofree char *warning = g_markup_escape_text (_("False reading: the label disagrees with the model."), -1);
          prediction = g_strdup_printf ("%s\n<span foreground=\"#e01b24\" weight=\"bold\">%s</span>",
                                        plain, warning);
        }
      gtk_widget_set_sensitive (GTK_WIDGET (self->confirm_button), klass && !klass->retired);
    }
  else
    {
      prediction = g_markup_escape_text (_("No prediction: this project has no production model yet."), -1);
      gtk_widget_set_sensitive (GTK_WIDGET (self->confirm_button), FALSE);
    }
  gtk_label_set_markup (self->prediction_value, prediction);

  captured = format_time (frame->captured_at);
  info = g_strdup_printf (_("Source: %s\nCaptured: %s\nFile: %s\nSize: %u × %u\nSplit: %s\n"
                            "Id: %.12s"),
                          frame->source_name ? frame->source_name : _("none"), captured,
                          frame->original_name ? frame->original_name : "—",
                          frame->width, frame->height, gemba_split_to_string (frame->split),
                          frame->sha256);
  gtk_label_set_label (self->info_value, info);
}

static void
item_frame_changed_cb (GembaFrameItem *item, GParamSpec *pspec, GembaFrameView *self)
{
  show_item (self);
}

static void
show_item (GembaFrameView *self)
{
  const GembaFrame *frame;
  GdkTexture *texture;

  update_details (self);
  if (!self->item || !(frame = gemba_frame_item_get_frame (self->item)))
    return;

  if (self->texture_item != self->item)
    {
      if (self->zoom_frame_id != frame->id)
        {
          if (self->zoom_cancellable)
            g_cancellable_cancel (self->zoom_cancellable);
          self->zoom_frame_id = 0;
          self->zoom_shown = FALSE;
        }
      if ((texture = g_hash_table_lookup (self->textures, &frame->id)))
        {
          g_set_object (&self->texture_item, self->item);
          show_texture (self, frame, texture);
          if (!texture_fits (self, frame, texture))
            request_full (self, frame);
        }
      else
        {
          /* The thumbnail stands in until the frame is decoded. */
          texture = gemba_thumbnailer_lookup (gemba_project_get_thumbnailer (self->project),
                                              frame, THUMB_SIZE_FOR_PLACEHOLDER);
          show_texture (self, frame, texture);
          request_full (self, frame);
        }
      /* Zoomed in on a detail, the next frame keeps the zoom: it is loaded at full size. */
      request_zoom (self, frame);
      /* After a move, the frame is drawn first: reading its history and decoding the frames
       * ahead would take a CPU from it (there may be only two). */
      if ((self->nav_started || !canvas_sized (self)) &&
          gtk_widget_get_mapped (GTK_WIDGET (self)))
        {
          self->details_deferred = TRUE;
          await_paint (self);
        }
      else
        read_history (self, frame->id);
    }
  if (!self->details_deferred)
    preload (self);
}

static void
preload_item_changed_cb (GembaFrameItem *item, GParamSpec *pspec, GembaFrameView *self)
{
  const GembaFrame *frame = gemba_frame_item_get_frame (item);

  if (frame)
    request_full (self, frame);
}

static void
preload (GembaFrameView *self)
{
  guint position = gtk_single_selection_get_selected (self->selection);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->selection));

  for (guint i = 0; i < self->preload_items->len; i++)
    g_signal_handlers_disconnect_by_func (g_ptr_array_index (self->preload_items, i),
                                          preload_item_changed_cb, self);
  g_ptr_array_set_size (self->preload_items, 0);
  if (position == GTK_INVALID_LIST_POSITION)
    return;

  /* The shown frame is decoded before any frame ahead: the thumbnailer serves the newest
   * request first, so these would otherwise overtake it. full_loaded_cb() comes back here. */
  if (self->item && g_hash_table_contains (self->pending,
                                           &(gint64) { gemba_frame_item_get_id (self->item) }))
    {
      self->preload_after_shown = TRUE;
      return;
    }
  self->preload_after_shown = FALSE;

  /* The next frame first, then the following ones, then the previous one (a step back is
   * common after a slip). The thumbnailer serves the newest request first, so they are
   * requested in the opposite order: the next frame last. Requested nearest first, the
   * frame the second label key moves to waited for the eight behind it (90–120 ms with
   * 1280×720 frames). */
  for (guint i = self->preload_depth + 1; i >= 1; i--)
    {
      guint p = i <= self->preload_depth ? position + i : position - 1;
      g_autoptr(GembaFrameItem) item = NULL;
      const GembaFrame *frame;

      if (p >= n || (i > self->preload_depth && position == 0))
        continue;
      item = g_list_model_get_item (G_LIST_MODEL (self->selection), p);
      if ((frame = gemba_frame_item_get_frame (item)))
        request_full (self, frame);
      else
        {
          g_signal_connect (item, "notify::frame", G_CALLBACK (preload_item_changed_cb), self);
          g_ptr_array_add (self->preload_items, g_object_ref (item));
        }
    }
}

static void
selection_changed_cb (GtkSingleSelection *selection, GParamSpec *pspec, GembaFrameView *self)
{
  GembaFrameItem *item = gtk_single_selection_get_selected_item (selection);

  if (self->item != item)
    {
      if (self->item)
        g_clear_signal_handler (&self->item_notify_id, self->item);
      g_set_object (&self->item, item);
      if (item)
        self->item_notify_id = g_signal_connect (item, "notify::frame",
                                                 G_CALLBACK (item_frame_changed_cb), self);
    }
  if (gtk_widget_get_mapped (GTK_WIDGET (self)))
    show_item (self);
}

static void
after_paint_cb (GdkFrameClock *clock, GembaFrameView *self)
{
  const GembaFrame *frame;

  g_clear_signal_handler (&self->after_paint_id, self->paint_clock);
  g_clear_object (&self->paint_clock);
  /* Timed when the frame that drew the new frame's full texture has been rendered and handed
   * to the display server. */
  if (self->nav_started && self->texture_item == self->item)
    {
      gint64 now = g_get_monotonic_time ();
      double waited = gemba_probe_waited_ms ();

      /* Keys that came faster than frames are each timed to the first frame drawn after
       * them. */
      for (guint i = 0; i < self->nav_pending->len; i++)
        {
          const NavStart *start = &g_array_index (self->nav_pending, NavStart, i);

          gemba_probe_latency ("next-frame", (now - start->started) / 1000.0,
                               waited - start->waited_ms);
        }
      g_array_set_size (self->nav_pending, 0);
      self->nav_started = 0;
    }
  if (self->details_deferred)
    {
      self->details_deferred = FALSE;
      if (self->item && (frame = gemba_frame_item_get_frame (self->item)))
        {
          read_history (self, frame->id);
          /* Shown before the canvas had a size: now at the size it is shown at. */
          request_full (self, frame);
        }
      preload (self);
    }
}

/* after_paint_cb() at the end of the frame being drawn or the next one. */
static void
await_paint (GembaFrameView *self)
{
  GdkFrameClock *clock;

  if (self->after_paint_id || !(clock = gtk_widget_get_frame_clock (GTK_WIDGET (self))))
    return;
  self->paint_clock = g_object_ref (clock);
  self->after_paint_id = g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint_cb),
                                           self);
  gdk_frame_clock_request_phase (clock, GDK_FRAME_CLOCK_PHASE_PAINT);
}

static void
canvas_painted_cb (GembaImageCanvas *canvas, GembaFrameView *self)
{
  if (self->nav_started || self->details_deferred)
    await_paint (self);
}

static void
zoom_changed_cb (GembaImageCanvas *canvas, GParamSpec *pspec, GembaFrameView *self)
{
  g_autofree char *text = g_strdup_printf ("%.0f %%", gemba_image_canvas_get_zoom (canvas) * 100);
  const GembaFrame *frame = self->item ? gemba_frame_item_get_frame (self->item) : NULL;

  if (frame)
    request_zoom (self, frame);
  gtk_label_set_label (self->zoom_label, text);
  gtk_widget_set_visible (GTK_WIDGET (self->zoom_label),
                          gemba_image_canvas_get_zoom (canvas) > 1.0);
}

static void
rebuild_class_buttons (GembaFrameView *self)
{
  GPtrArray *classes = gemba_project_get_classes (self->project);
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->class_buttons))))
    gtk_flow_box_remove (self->class_buttons, child);
  for (guint i = 0; i < classes->len; i++)
    {
      const GembaClass *klass = g_ptr_array_index (classes, i);
      g_autofree char *markup = NULL;
      GtkWidget *button, *label;

      if (klass->retired)
        continue;
      if (klass->key >= 0)
        markup = g_markup_printf_escaped ("<b>%d</b>  <span foreground=\"%s\">⬤</span> %s",
                                          klass->key, klass->color, klass->name);
      else
        markup = g_markup_printf_escaped ("<span foreground=\"%s\">⬤</span> %s",
                                          klass->color, klass->name);
      label = gtk_label_new (NULL);
      gtk_label_set_markup (GTK_LABEL (label), markup);
      gtk_label_set_xalign (GTK_LABEL (label), 0);
      gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
      button = gtk_button_new ();
      gtk_button_set_child (GTK_BUTTON (button), label);
      gtk_widget_set_focus_on_click (button, FALSE);
      gtk_actionable_set_action_name (GTK_ACTIONABLE (button), "win.label-class");
      gtk_actionable_set_action_target (GTK_ACTIONABLE (button), "x", klass->id);
      gtk_flow_box_append (self->class_buttons, button);
    }
}

static void
classes_changed_cb (GembaProject *project, GembaFrameView *self)
{
  rebuild_class_buttons (self);
  update_details (self);
}

static void
action_next (GtkWidget *widget, const char *name, GVariant *param)
{
  gemba_frame_view_next (GEMBA_FRAME_VIEW (widget));
}

static void
action_previous (GtkWidget *widget, const char *name, GVariant *param)
{
  gemba_frame_view_previous (GEMBA_FRAME_VIEW (widget));
}

static void
action_zoom (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFrameView *self = GEMBA_FRAME_VIEW (widget);

  if (g_str_equal (name, "frame.zoom-in"))
    gemba_image_canvas_zoom_by (self->canvas, 1.5);
  else if (g_str_equal (name, "frame.zoom-out"))
    gemba_image_canvas_zoom_by (self->canvas, 1 / 1.5);
  else
    gemba_image_canvas_reset (self->canvas);
}

static void
action_pan (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFrameView *self = GEMBA_FRAME_VIEW (widget);
  int dx, dy;

  g_variant_get (param, "(ii)", &dx, &dy);
  gemba_image_canvas_pan_by (self->canvas, dx * 60.0, dy * 60.0);
}

static void
canvas_pressed_cb (GtkGestureClick *gesture, int n_press, double x, double y,
                   GembaFrameView *self)
{
  gtk_widget_grab_focus (GTK_WIDGET (self));
}

static void
gemba_frame_view_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (gemba_frame_view_parent_class)->map (widget);
  show_item (GEMBA_FRAME_VIEW (widget));
}

static void
gemba_frame_view_dispose (GObject *object)
{
  GembaFrameView *self = GEMBA_FRAME_VIEW (object);
  GtkWidget *child;

  if (self->selection)
    g_clear_signal_handler (&self->selection_id, self->selection);
  if (self->project)
    g_clear_signal_handler (&self->classes_id, self->project);
  if (self->item)
    g_clear_signal_handler (&self->item_notify_id, self->item);
  if (self->paint_clock)
    g_clear_signal_handler (&self->after_paint_id, self->paint_clock);
  g_clear_object (&self->paint_clock);
  if (self->history_cancellable)
    g_cancellable_cancel (self->history_cancellable);
  if (self->zoom_cancellable)
    g_cancellable_cancel (self->zoom_cancellable);
  g_clear_object (&self->zoom_cancellable);
  if (self->pending)
    cancel_pending (self);
  if (self->preload_items)
    {
      for (guint i = 0; i < self->preload_items->len; i++)
        g_signal_handlers_disconnect_by_func (g_ptr_array_index (self->preload_items, i),
                                              preload_item_changed_cb, self);
      g_clear_pointer (&self->preload_items, g_ptr_array_unref);
    }
  g_clear_object (&self->history_cancellable);
  g_clear_object (&self->item);
  g_clear_object (&self->texture_item);
  g_clear_object (&self->selection);
  g_clear_object (&self->project);
  gtk_widget_dispose_template (GTK_WIDGET (self), GEMBA_TYPE_FRAME_VIEW);
  /* Template children that are not bound are still ours to unparent. */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))))
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (gemba_frame_view_parent_class)->dispose (object);
}

static void
gemba_frame_view_finalize (GObject *object)
{
  GembaFrameView *self = GEMBA_FRAME_VIEW (object);

  g_hash_table_destroy (self->textures);
  g_hash_table_destroy (self->pending);
  g_array_unref (self->nav_pending);
  g_queue_clear_full (&self->texture_order, g_free);
  G_OBJECT_CLASS (gemba_frame_view_parent_class)->finalize (object);
}

static void
gemba_frame_view_class_init (GembaFrameViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  static const struct { guint key; int dx, dy; } pans[] = {
    { GDK_KEY_Left, 1, 0 }, { GDK_KEY_Right, -1, 0 }, { GDK_KEY_Up, 0, 1 }, { GDK_KEY_Down, 0, -1 },
  };

  object_class->dispose = gemba_frame_view_dispose;
  object_class->finalize = gemba_frame_view_finalize;
  widget_class->map = gemba_frame_view_map;

  g_type_ensure (GEMBA_TYPE_IMAGE_CANVAS);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_BASE_PATH "/gemba-frame-view.ui");
  gtk_widget_class_bind_template_child (widget_class, GembaFrameView, canvas);
  gtk_widget_class_bind_template_child (widget_class, GembaFrameView, position_label);
  gtk_widget_class_bind_template_child (widget_class, GembaFrameView, zoom_label);
  gtk_widget_class_bind_template_child (widget_class, GembaFrameView, label_value);
  gtk_widget_class_bind_template_child (widget_class, GembaFrameView, label_meta);
  gtk_widget_class_bind_template_child (widget_class, GembaFrameView, class_buttons);
  gtk_widget_class_bind_template_child (widget_class, GembaFrameView, prediction_value);
  gtk_widget_class_bind_template_child (widget_class, GembaFrameView, probabilities_grid);
  gtk_widget_class_bind_template_child (widget_class, GembaFrameView, confirm_button);
  gtk_widget_class_bind_template_child (widget_class, GembaFrameView, info_value);
  gtk_widget_class_bind_template_child (widget_class, GembaFrameView, history_list);

  gtk_widget_class_install_action (widget_class, "frame.next", NULL, action_next);
  gtk_widget_class_install_action (widget_class, "frame.previous", NULL, action_previous);
  gtk_widget_class_install_action (widget_class, "frame.zoom-in", NULL, action_zoom);
  gtk_widget_class_install_action (widget_class, "frame.zoom-out", NULL, action_zoom);
  gtk_widget_class_install_action (widget_class, "frame.zoom-reset", NULL, action_zoom);
  gtk_widget_class_install_action (widget_class, "frame.pan", "(ii)", action_pan);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_space, 0, "frame.next", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Right, 0, "frame.next", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Right, 0, "frame.next", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Left, 0, "frame.previous", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Left, 0, "frame.previous", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_BackSpace, 0, "frame.previous", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Return, 0, "win.confirm", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Enter, 0, "win.confirm", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_ISO_Enter, 0, "win.confirm", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "win.show-grid", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_plus, 0, "frame.zoom-in", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_plus, GDK_SHIFT_MASK, "frame.zoom-in", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_equal, 0, "frame.zoom-in", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Add, 0, "frame.zoom-in", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_minus, 0, "frame.zoom-out", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_KP_Subtract, 0, "frame.zoom-out", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_0, GDK_CONTROL_MASK, "frame.zoom-reset", NULL);
  for (guint i = 0; i < G_N_ELEMENTS (pans); i++)
    gtk_widget_class_add_binding_action (widget_class, pans[i].key, GDK_SHIFT_MASK, "frame.pan",
                                         "(ii)", pans[i].dx, pans[i].dy);
}

static void
gemba_frame_view_init (GembaFrameView *self)
{
  GtkGesture *click = gtk_gesture_click_new ();

  gtk_widget_init_template (GTK_WIDGET (self));
  self->preload_depth = 8;
  self->textures = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
  self->pending = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
  self->preload_items = g_ptr_array_new_with_free_func (g_object_unref);
  self->nav_pending = g_array_new (FALSE, FALSE, sizeof (NavStart));
  g_queue_init (&self->texture_order);
  g_signal_connect (self->canvas, "painted", G_CALLBACK (canvas_painted_cb), self);
  g_signal_connect (self->canvas, "notify::zoom", G_CALLBACK (zoom_changed_cb), self);
  gtk_widget_set_visible (GTK_WIDGET (self->zoom_label), FALSE);
  g_signal_connect (click, "pressed", G_CALLBACK (canvas_pressed_cb), self);
  gtk_widget_add_controller (GTK_WIDGET (self->canvas), GTK_EVENT_CONTROLLER (click));
}

void
gemba_frame_view_set_model (GembaFrameView *self, GembaProject *project,
                            GtkSingleSelection *selection)
{
  g_return_if_fail (GEMBA_IS_FRAME_VIEW (self));

  if (self->selection)
    g_clear_signal_handler (&self->selection_id, self->selection);
  if (self->project)
    g_clear_signal_handler (&self->classes_id, self->project);
  cancel_pending (self);
  if (self->zoom_cancellable)
    g_cancellable_cancel (self->zoom_cancellable);
  self->zoom_frame_id = 0;
  self->zoom_shown = FALSE;
  g_hash_table_remove_all (self->textures);
  g_queue_clear_full (&self->texture_order, g_free);
  g_set_object (&self->project, project);
  g_set_object (&self->selection, selection);
  g_clear_object (&self->texture_item);
  gemba_image_canvas_set_texture (self->canvas, NULL);
  if (project)
    {
      self->classes_id = g_signal_connect (project, "classes-changed",
                                           G_CALLBACK (classes_changed_cb), self);
      rebuild_class_buttons (self);
    }
  if (selection)
    {
      self->selection_id = g_signal_connect (selection, "notify::selected-item",
                                             G_CALLBACK (selection_changed_cb), self);
      selection_changed_cb (selection, NULL, self);
    }
}

void
gemba_frame_view_set_preload_depth (GembaFrameView *self, guint depth)
{
  g_return_if_fail (GEMBA_IS_FRAME_VIEW (self));
  self->preload_depth = depth;
}

static gboolean
move (GembaFrameView *self, int delta)
{
  guint position, n;

  if (!self->selection)
    return FALSE;
  position = gtk_single_selection_get_selected (self->selection);
  n = g_list_model_get_n_items (G_LIST_MODEL (self->selection));
  if (position == GTK_INVALID_LIST_POSITION || (delta < 0 && position == 0) ||
      (delta > 0 && position + 1 >= n))
    {
      gtk_widget_error_bell (GTK_WIDGET (self));
      return FALSE;
    }
  {
    NavStart start = { g_get_monotonic_time (), gemba_probe_waited_ms () };

    if (!self->nav_started)
      self->nav_started = start.started;
    if (gemba_probe_enabled ())
      g_array_append_val (self->nav_pending, start);
  }
  gtk_single_selection_set_selected (self->selection, position + delta);
  return TRUE;
}

gboolean
gemba_frame_view_next (GembaFrameView *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_VIEW (self), FALSE);
  return move (self, 1);
}

gboolean
gemba_frame_view_previous (GembaFrameView *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_VIEW (self), FALSE);
  return move (self, -1);
}

void
gemba_frame_view_refresh (GembaFrameView *self)
{
  const GembaFrame *frame;

  g_return_if_fail (GEMBA_IS_FRAME_VIEW (self));

  update_details (self);
  if (self->item && (frame = gemba_frame_item_get_frame (self->item)))
    read_history (self, frame->id);
}
