/* gemba-window.c: the workbench window
 *
 * A GtkStack switches between the start page and the project. The project is an AdwViewStack
 * whose first page, "Frames", holds the filter sidebar and a stack of the grid and the frame
 * view; part 2 adds "Capture", "Training" and "Models" as more view-stack pages, and the
 * AdwViewSwitcherTitle shows the switcher as soon as there is more than one.
 *
 * Labels: number keys, Enter and the class buttons queue the label on the project's writer
 * thread at once and move on; the toast and the grid cell update when the write is done.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>
#include <inttypes.h>

#include "gemba-capture-page.h"
#include "gemba-class-editor.h"
#include "gemba-frame-grid.h"
#include "gemba-frame-list.h"
#include "gemba-frame-view.h"
#include "gemba-locator.h"
#include "gemba-models-page.h"
#include "gemba-probe.h"
#include "gemba-start-page.h"
#include "gemba-training-page.h"
#include "gemba-window.h"

#define SCHEMA_ID "dev.gemba.Workbench"
#define MAX_RECENT 10

struct _GembaWindow
{
  AdwApplicationWindow parent_instance;

  AdwViewSwitcherTitle *switcher_title;
  GtkWidget *back_button;
  GtkWidget *undo_button;
  GtkWidget *redo_button;
  AdwToastOverlay *toast_overlay;
  GtkStack *main_stack;
  GembaStartPage *start_page;
  GtkSpinner *loading_spinner;
  GtkLabel *loading_label;
  AdwViewStack *view_stack;
  GtkListBox *filter_list;
  GtkLabel *count_label;
  GtkDropDown *sort_dropdown;
  GtkStack *content_stack;
  GembaFrameGrid *grid_view;
  GembaFrameView *frame_view;
  AdwStatusPage *empty_page;
  GtkRevealer *test_notice;
  GtkLabel *test_notice_label;
  GtkButton *test_batch_button;

  GSettings *settings;
  GembaProject *project;
  GembaFrameList *frame_list;
  GtkSingleSelection *selection;
  GembaFrameQuery query;
  char *filter_key;
  GHashTable *count_labels;      /* filter key → GtkLabel */
  GCancellable *cancellable;
  guint counts_timeout;
  guint pending_writes;
  AdwToast *label_toast;
  gboolean grid_timed;
  gboolean updating_filters;
  gint64 test_source_id;         /* the source the test notice is about, 0 for none */
  gboolean test_source_short;    /* ... which still needs frames reserved */
};

G_DEFINE_FINAL_TYPE (GembaWindow, gemba_window, ADW_TYPE_APPLICATION_WINDOW)

static void set_query_from_key (GembaWindow *self, const char *key);
static void schedule_counts (GembaWindow *self);

/* --- Toasts ------------------------------------------------------------------------------- */

static void
label_toast_dismissed_cb (AdwToast *toast, GembaWindow *self)
{
  if (self->label_toast == toast)
    g_clear_object (&self->label_toast);
}

static void
show_toast (GembaWindow *self, const char *title, gboolean with_undo)
{
  /* One toast, retitled while it is shown: a fast annotator would otherwise queue a minute
   * of toasts, and replacing toasts at typing speed races their animations. */
  if (!self->label_toast)
    {
      self->label_toast = g_object_ref (adw_toast_new (title));
      adw_toast_set_priority (self->label_toast, ADW_TOAST_PRIORITY_HIGH);
      adw_toast_set_timeout (self->label_toast, 5);
      g_signal_connect (self->label_toast, "dismissed", G_CALLBACK (label_toast_dismissed_cb),
                        self);
      adw_toast_set_action_name (self->label_toast, "win.undo");
      adw_toast_set_button_label (self->label_toast, with_undo ? _("_Undo") : NULL);
      adw_toast_overlay_add_toast (self->toast_overlay, self->label_toast);
      return;
    }
  adw_toast_set_title (self->label_toast, title);
  adw_toast_set_button_label (self->label_toast, with_undo ? _("_Undo") : NULL);
}

static void
show_error (GembaWindow *self, const char *message)
{
  AdwToast *toast = adw_toast_new (message);

  adw_toast_set_priority (toast, ADW_TOAST_PRIORITY_HIGH);
  adw_toast_set_timeout (toast, 0);
  adw_toast_overlay_add_toast (self->toast_overlay, toast);
}

/* --- Undo state --------------------------------------------------------------------------- */

static void
update_undo_actions (GembaWindow *self)
{
  gboolean open = self->project != NULL;

  /* While labels are still being written, Ctrl+Z must not be refused: it queues behind them. */
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.undo",
                                 open && (self->pending_writes > 0 ||
                                          gemba_project_get_n_undo (self->project) > 0));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.redo",
                                 open && (self->pending_writes > 0 ||
                                          gemba_project_get_n_redo (self->project) > 0));
}

static void
undo_changed_cb (GembaProject *project, GembaWindow *self)
{
  update_undo_actions (self);
}

/* --- Grid --------------------------------------------------------------------------------- */

static void
set_thumbnail_size (GembaWindow *self)
{
  gemba_frame_grid_set_thumbnail_size (self->grid_view,
                                       g_settings_get_int (self->settings, "thumbnail-size"));
}

static void
grid_painted_cb (GdkFrameClock *clock, GembaWindow *self)
{
  g_signal_handlers_disconnect_by_func (clock, grid_painted_cb, self);
  gemba_probe_log ("grid-painted", "n=%u",
                   g_list_model_get_n_items (G_LIST_MODEL (self->frame_list)));
  /* The sidebar's counts scan every frame: after the grid is up, not competing with it. */
  schedule_counts (self);
}

static const char *
empty_description (GembaWindow *self)
{
  switch (self->query.filter)
    {
    case GEMBA_FILTER_REVIEW:
      return _("The review queue is empty: every frame is labeled and agrees with the model.");
    case GEMBA_FILTER_UNLABELED:
      return _("Every frame has a label.");
    case GEMBA_FILTER_FALSE_READINGS:
      return _("No label disagrees with the production model.");
    case GEMBA_FILTER_SUSPECT:
      return _("No label is suspect: the production model does not confidently disagree with "
               "any label.");
    case GEMBA_FILTER_TEST_BATCH:
      return _("No frame waits to be labeled for testing.");
    case GEMBA_FILTER_ALL:
      return _("This project has no frames yet. Frames come from cameras, videos and image "
               "folders.");
    default:
      return _("No frame matches this filter.");
    }
}

static void
update_count_label (GembaWindow *self)
{
  guint n = self->frame_list ? g_list_model_get_n_items (G_LIST_MODEL (self->frame_list)) : 0;
  g_autofree char *text = NULL;

  text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u frame", "%u frames", n), n);
  gtk_label_set_label (self->count_label, text);
}

static void
list_loaded_cb (GembaFrameList *list, GError *error, GembaWindow *self)
{
  guint n;

  if (error)
    {
      show_error (self, error->message);
      return;
    }
  n = g_list_model_get_n_items (G_LIST_MODEL (list));
  update_count_label (self);
  gemba_probe_log ("list-loaded", "n=%u", n);
  if (n == 0)
    {
      adw_status_page_set_description (self->empty_page, empty_description (self));
      gtk_stack_set_visible_child_name (self->content_stack, "empty");
      gtk_widget_set_visible (self->back_button, FALSE);
      schedule_counts (self);
      return;
    }
  if (g_str_equal (gtk_stack_get_visible_child_name (self->content_stack), "empty"))
    gtk_stack_set_visible_child_name (self->content_stack, "grid");
  if (!self->grid_timed)
    {
      GdkFrameClock *clock = gtk_widget_get_frame_clock (GTK_WIDGET (self->grid_view));

      self->grid_timed = TRUE;
      if (clock)
        {
          g_signal_connect (clock, "after-paint", G_CALLBACK (grid_painted_cb), self);
          return;
        }
    }
  schedule_counts (self);
}

static void
show_grid (GembaWindow *self)
{
  guint position = gtk_single_selection_get_selected (self->selection);

  if (g_list_model_get_n_items (G_LIST_MODEL (self->selection)) == 0)
    return;
  gtk_stack_set_visible_child_name (self->content_stack, "grid");
  gtk_widget_set_visible (self->back_button, FALSE);
  if (position != GTK_INVALID_LIST_POSITION)
    gemba_frame_grid_scroll_to (self->grid_view, position);
  gtk_widget_grab_focus (GTK_WIDGET (self->grid_view));
}

static void
show_frame (GembaWindow *self, guint position)
{
  if (position >= g_list_model_get_n_items (G_LIST_MODEL (self->selection)))
    return;
  gtk_single_selection_set_selected (self->selection, position);
  gtk_stack_set_visible_child_name (self->content_stack, "frame");
  gtk_widget_set_visible (self->back_button, TRUE);
  gtk_widget_grab_focus (GTK_WIDGET (self->frame_view));
}

static void
grid_activate_cb (GembaFrameGrid *grid, guint position, GembaWindow *self)
{
  show_frame (self, position);
}

/* --- Filters ------------------------------------------------------------------------------ */

static GtkWidget *
add_filter_row (GembaWindow *self, const char *key, const char *markup, const char *icon)
{
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 10);
  GtkWidget *label = gtk_label_new (NULL);
  GtkWidget *count = gtk_label_new ("");

  if (icon)
    gtk_box_append (GTK_BOX (box), gtk_image_new_from_icon_name (icon));
  gtk_label_set_markup (GTK_LABEL (label), markup);
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_widget_set_hexpand (label, TRUE);
  gtk_box_append (GTK_BOX (box), label);
  gtk_widget_add_css_class (count, "dim-label");
  gtk_widget_add_css_class (count, "numeric");
  gtk_box_append (GTK_BOX (box), count);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
  g_object_set_data_full (G_OBJECT (row), "filter-key", g_strdup (key), g_free);
  g_hash_table_insert (self->count_labels, g_strdup (key), count);
  gtk_list_box_append (self->filter_list, row);
  {
    g_autofree char *where = g_strconcat ("filter.", key, NULL);
    gemba_locator_watch (row, where);
  }
  return row;
}

static void
add_filter_heading (GembaWindow *self, const char *title)
{
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *label = gtk_label_new (title);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_widget_add_css_class (label, "heading");
  gtk_widget_add_css_class (label, "dim-label");
  gtk_widget_set_margin_top (label, 12);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), label);
  gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), FALSE);
  gtk_list_box_row_set_selectable (GTK_LIST_BOX_ROW (row), FALSE);
  gtk_widget_set_focusable (row, FALSE);
  gtk_list_box_append (self->filter_list, row);
}

/* The rows of the sources that are production lines (@lines) or that are not. */
static void
add_source_rows (GembaWindow *self, GPtrArray *sources, gboolean lines, const char *heading)
{
  gboolean headed = FALSE;

  for (guint i = 0; i < sources->len; i++)
    {
      const GembaSource *source = g_ptr_array_index (sources, i);
      g_autofree char *key = NULL;
      g_autofree char *markup = NULL;

      if ((g_strcmp0 (source->kind, "line") == 0) != lines)
        continue;
      if (!headed)
        add_filter_heading (self, heading);
      headed = TRUE;
      key = g_strdup_printf ("source:%" G_GINT64_FORMAT, source->id);
      markup = g_markup_escape_text (source->name, -1);
      add_filter_row (self, key, markup, lines ? "network-wired-symbolic"
                                               : "camera-video-symbolic");
    }
}

static void
rebuild_filters (GembaWindow *self)
{
  GPtrArray *classes = gemba_project_get_classes (self->project);
  GPtrArray *sources = gemba_project_get_sources (self->project);
  GPtrArray *packages = gemba_project_get_packages (self->project);
  g_autofree char *review = g_markup_escape_text (_("Review queue"), -1);
  g_autofree char *all = g_markup_escape_text (_("All frames"), -1);
  g_autofree char *unlabeled = g_markup_escape_text (_("Unlabeled"), -1);
  g_autofree char *false_readings = g_markup_escape_text (_("False readings"), -1);
  g_autofree char *suspect = g_markup_escape_text (_("Suspect labels"), -1);
  g_autofree char *test_batch = g_markup_escape_text (_("To label for testing"), -1);
  GtkWidget *child;

  self->updating_filters = TRUE;
  g_hash_table_remove_all (self->count_labels);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->filter_list))))
    gtk_list_box_remove (self->filter_list, child);

  add_filter_row (self, "review", review, "task-due-symbolic");
  add_filter_row (self, "all", all, "view-grid-symbolic");
  add_filter_row (self, "unlabeled", unlabeled, "mail-unread-symbolic");
  add_filter_row (self, "false", false_readings, "dialog-warning-symbolic");
  add_filter_row (self, "suspect", suspect, "dialog-question-symbolic");
  add_filter_row (self, "test", test_batch, "emblem-ok-symbolic");

  add_filter_heading (self, _("Classes"));
  for (guint i = 0; i < classes->len; i++)
    {
      const GembaClass *klass = g_ptr_array_index (classes, i);
      g_autofree char *key = g_strdup_printf ("class:%" G_GINT64_FORMAT, klass->id);
      g_autofree char *markup = gemba_class_markup (self->project, klass->id);

      add_filter_row (self, key, markup, NULL);
    }
  /* Production lines (spooled by gembaclassify) apart from cameras, videos and folders. */
  add_source_rows (self, sources, TRUE, _("Lines"));
  add_source_rows (self, sources, FALSE, _("Sources"));
  if (packages->len > 0)
    add_filter_heading (self, _("Package versions"));
  for (guint i = 0; i < packages->len; i++)
    {
      const GembaFramePackage *package = g_ptr_array_index (packages, i);
      g_autofree char *key = g_strdup_printf ("package:%" G_GINT64_FORMAT, package->id);
      g_autofree char *markup = g_markup_printf_escaped ("%s <span alpha=\"55%%\">%s</span>",
                                                         package->version, package->name);
      GtkWidget *row = add_filter_row (self, key, markup, "package-x-generic-symbolic");
      g_autofree char *tooltip = g_strdup_printf (_("Frames a line classified with package "
                                                    "“%s” version %s (sha256 %.12s…)"),
                                                  package->name, package->version,
                                                  package->sha256);

      gtk_widget_set_tooltip_text (row, tooltip);
    }

  for (child = gtk_widget_get_first_child (GTK_WIDGET (self->filter_list)); child;
       child = gtk_widget_get_next_sibling (child))
    {
      const char *key = g_object_get_data (G_OBJECT (child), "filter-key");
      if (key && self->filter_key && g_str_equal (key, self->filter_key))
        gtk_list_box_select_row (self->filter_list, GTK_LIST_BOX_ROW (child));
    }
  self->updating_filters = FALSE;
}

static void
set_count (GembaWindow *self, const char *key, gint64 count)
{
  GtkLabel *label = g_hash_table_lookup (self->count_labels, key);
  g_autofree char *text = NULL;

  if (!label)
    return;
  text = g_strdup_printf ("%" G_GINT64_FORMAT, count);
  gtk_label_set_label (label, text);
  gemba_probe_log ("filter-count", "key=%s n=%" G_GINT64_FORMAT, key, count);
}

/* A capture or an import since the sidebar was built brought a source or a package it has no
 * row for. */
static gboolean
has_new_source (GembaWindow *self, const GembaProjectCounts *counts)
{
  for (guint i = 0; i < counts->sources->len; i++)
    {
      const GembaSource *source = g_ptr_array_index (counts->sources, i);
      g_autofree char *key = g_strdup_printf ("source:%" G_GINT64_FORMAT, source->id);
      if (!g_hash_table_contains (self->count_labels, key))
        return TRUE;
    }
  for (guint i = 0; i < counts->packages->len; i++)
    {
      const GembaFramePackage *package = g_ptr_array_index (counts->packages, i);
      g_autofree char *key = g_strdup_printf ("package:%" G_GINT64_FORMAT, package->id);
      if (!g_hash_table_contains (self->count_labels, key))
        return TRUE;
    }
  return FALSE;
}

/* A source with too few labeled test frames cannot be judged by the gate: say so, and offer
 * the random batch to label for testing (what `gemba ls --test-batch` reserves). */
static void
update_test_notice (GembaWindow *self, const GembaProjectCounts *counts)
{
  const GembaSourceTestCount *c = gemba_project_counts_short_of_tests (counts);
  g_autofree char *text = NULL;

  gtk_revealer_set_reveal_child (self->test_notice, c != NULL);
  self->test_source_id = c ? c->source_id : 0;
  if (!c)
    return;
  self->test_source_short = c->n_test + c->n_reserved < GEMBA_MIN_TEST_FRAMES;
  if (c->n_reserved > 0)
    text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                         "“%s” has %" PRId64 " labeled test frames; "
                                         "at least %d are needed to judge a model on it. "
                                         "%" PRId64 " random frame waits for a label.",
                                         "“%s” has %" PRId64 " labeled test frames; "
                                         "at least %d are needed to judge a model on it. "
                                         "%" PRId64 " random frames wait for a label.",
                                         c->n_reserved),
                            c->source_name, c->n_test, GEMBA_MIN_TEST_FRAMES, c->n_reserved);
  else
    text = g_strdup_printf (_("“%s” has %" PRId64 " labeled test frames; at least %d "
                              "are needed to judge a model on it. Label a small random batch "
                              "for testing."),
                            c->source_name, c->n_test, GEMBA_MIN_TEST_FRAMES);
  gtk_label_set_label (self->test_notice_label, text);
  gtk_button_set_label (self->test_batch_button, self->test_source_short
                                                 ? _("_Label a Test Batch")
                                                 : _("_Show the Test Batch"));
}

static void
select_filter (GembaWindow *self, const char *key)
{
  for (GtkWidget *child = gtk_widget_get_first_child (GTK_WIDGET (self->filter_list)); child;
       child = gtk_widget_get_next_sibling (child))
    {
      const char *row_key = g_object_get_data (G_OBJECT (child), "filter-key");
      if (row_key && g_str_equal (row_key, key))
        gtk_list_box_select_row (self->filter_list, GTK_LIST_BOX_ROW (child));
    }
}

static void
counts_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaProjectCounts) counts = NULL;
  g_autoptr(GError) error = NULL;
  GembaWindow *self;

  counts = gemba_project_count_finish (GEMBA_PROJECT (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = GEMBA_WINDOW (user_data);
  if (!counts)
    {
      show_error (self, error->message);
      return;
    }
  if (g_hash_table_size (self->count_labels) == 0 || has_new_source (self, counts))
    rebuild_filters (self);
  set_count (self, "review", counts->n_review);
  set_count (self, "all", counts->stats.n_frames);
  set_count (self, "unlabeled", counts->stats.n_unlabeled);
  set_count (self, "false", counts->stats.n_false_readings);
  set_count (self, "suspect", counts->n_suspect);
  set_count (self, "test", counts->n_test_batch);
  update_test_notice (self, counts);
  gemba_probe_log ("counts", "review=%" G_GINT64_FORMAT " suspect=%" G_GINT64_FORMAT
                   " test_batch=%" G_GINT64_FORMAT " short_source=%" G_GINT64_FORMAT,
                   counts->n_review, counts->n_suspect, counts->n_test_batch,
                   self->test_source_id);
  for (guint i = 0; i < counts->per_class->len; i++)
    {
      GembaClassCount *count = &g_array_index (counts->per_class, GembaClassCount, i);
      g_autofree char *key = g_strdup_printf ("class:%" G_GINT64_FORMAT, count->class_id);
      set_count (self, key, count->count);
    }
  for (guint i = 0; i < counts->sources->len; i++)
    {
      const GembaSource *source = g_ptr_array_index (counts->sources, i);
      g_autofree char *key = g_strdup_printf ("source:%" G_GINT64_FORMAT, source->id);
      set_count (self, key, source->n_frames);
    }
  for (guint i = 0; i < counts->packages->len; i++)
    {
      const GembaFramePackage *package = g_ptr_array_index (counts->packages, i);
      g_autofree char *key = g_strdup_printf ("package:%" G_GINT64_FORMAT, package->id);
      set_count (self, key, package->n_frames);
    }
}

static gboolean
counts_timeout_cb (gpointer user_data)
{
  GembaWindow *self = user_data;

  self->counts_timeout = 0;
  if (self->project)
    gemba_project_count_async (self->project, self->cancellable, counts_done_cb, self);
  return G_SOURCE_REMOVE;
}

static void
schedule_counts (GembaWindow *self)
{
  if (self->counts_timeout == 0)
    self->counts_timeout = g_timeout_add (400, counts_timeout_cb, self);
}

static void
set_query_from_key (GembaWindow *self, const char *key)
{
  GembaFrameQuery query = { .filter = GEMBA_FILTER_ALL };

  if (g_str_equal (key, "review"))
    query.filter = GEMBA_FILTER_REVIEW;
  else if (g_str_equal (key, "unlabeled"))
    query.filter = GEMBA_FILTER_UNLABELED;
  else if (g_str_equal (key, "false"))
    query.filter = GEMBA_FILTER_FALSE_READINGS;
  else if (g_str_equal (key, "suspect"))
    query.filter = GEMBA_FILTER_SUSPECT;
  else if (g_str_equal (key, "test"))
    query.filter = GEMBA_FILTER_TEST_BATCH;
  else if (g_str_has_prefix (key, "class:"))
    {
      query.filter = GEMBA_FILTER_CLASS;
      query.class_id = g_ascii_strtoll (key + 6, NULL, 10);
    }
  else if (g_str_has_prefix (key, "source:"))
    {
      query.filter = GEMBA_FILTER_SOURCE;
      query.source_id = g_ascii_strtoll (key + 7, NULL, 10);
    }
  else if (g_str_has_prefix (key, "package:"))
    {
      query.filter = GEMBA_FILTER_PACKAGE;
      query.package_id = g_ascii_strtoll (key + 8, NULL, 10);
    }
  query.sort = gtk_drop_down_get_selected (self->sort_dropdown) == 1 ? GEMBA_SORT_CONFIDENCE
                                                                      : GEMBA_SORT_CAPTURED;
  g_free (self->filter_key);
  self->filter_key = g_strdup (key);
  self->query = query;
  gemba_frame_list_set_query (self->frame_list, &query);
}

static void
filter_selected_cb (GtkListBox *list, GtkListBoxRow *row, GembaWindow *self)
{
  const char *key;

  if (self->updating_filters || !row || !self->frame_list)
    return;
  key = g_object_get_data (G_OBJECT (row), "filter-key");
  if (!key || (self->filter_key && g_str_equal (key, self->filter_key)))
    return;
  set_query_from_key (self, key);
  if (g_str_equal (gtk_stack_get_visible_child_name (self->content_stack), "frame"))
    gtk_stack_set_visible_child_name (self->content_stack, "grid");
  gtk_widget_set_visible (self->back_button, FALSE);
}

static void
sort_changed_cb (GtkDropDown *dropdown, GParamSpec *pspec, GembaWindow *self)
{
  g_settings_set_string (self->settings, "sort-order",
                         gtk_drop_down_get_selected (dropdown) == 1 ? "confidence" : "captured");
  if (self->frame_list && self->filter_key)
    {
      g_autofree char *key = g_strdup (self->filter_key);
      set_query_from_key (self, key);
    }
}

static void
classes_changed_cb (GembaProject *project, GembaWindow *self)
{
  rebuild_filters (self);
  schedule_counts (self);
  /* The cells show class names and colours: rebind them. */
  set_thumbnail_size (self);
}

/* --- Opening ------------------------------------------------------------------------------ */

static void
remember_project (GembaWindow *self, const char *path)
{
  g_auto(GStrv) old = g_settings_get_strv (self->settings, "recent-projects");
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) recent = NULL;
  guint n = 1;

  g_strv_builder_add (builder, path);
  for (guint i = 0; old[i] && n < MAX_RECENT; i++)
    if (!g_str_equal (old[i], path))
      {
        g_strv_builder_add (builder, old[i]);
        n++;
      }
  recent = g_strv_builder_end (builder);
  g_settings_set_strv (self->settings, "recent-projects", (const char * const *) recent);
  g_settings_set_string (self->settings, "last-project", path);
}

enum { PROP_0, PROP_PROJECT, N_PROPS };
static GParamSpec *properties[N_PROPS];

static void
close_project (GembaWindow *self)
{
  g_autoptr(GembaProject) project = NULL;

  if (!self->project)
    return;
  /* The pages let go of the project first (they are bound to the window's property). */
  project = g_steal_pointer (&self->project);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROJECT]);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  g_clear_handle_id (&self->counts_timeout, g_source_remove);
  gemba_frame_view_set_model (self->frame_view, NULL, NULL);
  gemba_frame_grid_set_model (self->grid_view, NULL, NULL);
  g_signal_handlers_disconnect_by_data (project, self);
  gemba_project_close (project);
  g_clear_object (&self->selection);
  g_clear_object (&self->frame_list);
  g_clear_pointer (&self->filter_key, g_free);
  g_hash_table_remove_all (self->count_labels);
  self->pending_writes = 0;
  self->test_source_id = 0;
  gtk_revealer_set_reveal_child (self->test_notice, FALSE);
}

static void
show_start (GembaWindow *self)
{
  gtk_stack_set_visible_child_name (self->main_stack, "start");
  gtk_widget_set_visible (self->back_button, FALSE);
  adw_view_switcher_title_set_title (self->switcher_title, _("Gemba Workbench"));
  adw_view_switcher_title_set_subtitle (self->switcher_title, "");
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.close-project", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.edit-classes", FALSE);
  gtk_widget_set_visible (self->undo_button, FALSE);
  gtk_widget_set_visible (self->redo_button, FALSE);
  adw_view_switcher_title_set_view_switcher_enabled (self->switcher_title, FALSE);
  gemba_start_page_focus_default (self->start_page);
}

static void
reload_frames_now (GembaWindow *self)
{
  g_autofree char *key = NULL;

  if (!self->project || !self->frame_list || !self->filter_key)
    return;
  key = g_strdup (self->filter_key);
  set_query_from_key (self, key);
  schedule_counts (self);
}

static void
frames_page_shown_cb (AdwViewStack *stack, GParamSpec *pspec, GembaWindow *self)
{
  const char *name = adw_view_stack_get_visible_child_name (stack);

  if (!name || !g_str_equal (name, "frames"))
    return;
  g_signal_handlers_disconnect_by_func (stack, frames_page_shown_cb, self);
  g_object_set_data (G_OBJECT (self), "gemba-frames-stale", NULL);
  reload_frames_now (self);
}

/* ::frames-changed of the project (capture, the frame window, a promotion). */
static void
frames_changed_cb (GembaWindow *self)
{
  const char *name;

  /* Replacing the grid's rows costs the main loop a frame or more; while another page is
   * shown, do it when the grid comes back into view. The counts are cheap: now. */
  name = adw_view_stack_get_visible_child_name (self->view_stack);
  if (name && !g_str_equal (name, "frames"))
    {
      if (!g_object_get_data (G_OBJECT (self), "gemba-frames-stale"))
        {
          g_object_set_data (G_OBJECT (self), "gemba-frames-stale", GINT_TO_POINTER (1));
          g_signal_connect (self->view_stack, "notify::visible-child-name",
                            G_CALLBACK (frames_page_shown_cb), self);
        }
      if (self->project)
        schedule_counts (self);
      return;
    }
  reload_frames_now (self);
}

static void
project_opened_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaProject) project = gemba_project_open_finish (result, &error);
  g_autofree char *annotator = NULL;

  gtk_spinner_stop (self->loading_spinner);
  if (!project)
    {
      show_start (self);
      show_error (self, error->message);
      return;
    }
  gemba_probe_log ("project-opened", NULL);
  self->project = g_steal_pointer (&project);
  g_signal_connect (self->project, "undo-changed", G_CALLBACK (undo_changed_cb), self);
  g_signal_connect (self->project, "classes-changed", G_CALLBACK (classes_changed_cb), self);
  g_signal_connect_swapped (self->project, "frames-changed", G_CALLBACK (frames_changed_cb), self);
  remember_project (self, gemba_project_get_path (self->project));

  self->frame_list = gemba_frame_list_new (self->project);
  g_signal_connect (self->frame_list, "loaded", G_CALLBACK (list_loaded_cb), self);
  self->selection = gtk_single_selection_new (g_object_ref (G_LIST_MODEL (self->frame_list)));
  gtk_single_selection_set_can_unselect (self->selection, FALSE);
  set_thumbnail_size (self);
  gemba_frame_grid_set_model (self->grid_view, self->project, self->selection);
  gemba_frame_view_set_model (self->frame_view, self->project, self->selection);
  gemba_frame_view_set_preload_depth (self->frame_view,
                                      g_settings_get_int (self->settings, "preload-depth"));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROJECT]);

  adw_view_switcher_title_set_title (self->switcher_title, gemba_project_get_name (self->project));
  adw_view_switcher_title_set_subtitle (self->switcher_title,
                                        gemba_project_get_path (self->project));
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.close-project", TRUE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "win.edit-classes", TRUE);
  gtk_widget_set_visible (self->undo_button, TRUE);
  gtk_widget_set_visible (self->redo_button, TRUE);
  update_undo_actions (self);
  {
    g_autoptr(GtkSelectionModel) pages = adw_view_stack_get_pages (self->view_stack);

    /* With one page the switcher would be a lone button; more pages make it worth showing. */
    adw_view_switcher_title_set_view_switcher_enabled (
      self->switcher_title, g_list_model_get_n_items (G_LIST_MODEL (pages)) > 1);
  }

  g_clear_pointer (&self->filter_key, g_free);
  self->filter_key = g_strdup ("review");
  rebuild_filters (self);
  set_query_from_key (self, "review");

  gtk_stack_set_visible_child_name (self->content_stack, "grid");
  gtk_stack_set_visible_child_name (self->main_stack, "project");
  gtk_widget_grab_focus (GTK_WIDGET (self->grid_view));
}

void
gemba_window_open (GembaWindow *self, const char *path, GembaProjectOpenMode mode)
{
  g_autofree char *annotator = NULL;
  g_autofree char *message = NULL;
  g_autofree char *display = NULL;

  g_return_if_fail (GEMBA_IS_WINDOW (self));

  close_project (self);
  display = g_filename_display_name (path);
  message = mode == GEMBA_PROJECT_CREATE_DEMO && !gemba_store_is_project (path)
            ? g_strdup_printf (_("Creating the demo project in %s…"), display)
            : g_strdup_printf (_("Opening %s…"), display);
  gtk_label_set_label (self->loading_label, message);
  gtk_spinner_start (self->loading_spinner);
  gtk_stack_set_visible_child_name (self->main_stack, "loading");
  annotator = g_settings_get_string (self->settings, "annotator-name");
  gemba_project_open_async (path, mode, annotator, self->cancellable, project_opened_cb,
                            g_object_ref (self));
}

GembaProject *
gemba_window_get_project (GembaWindow *self)
{
  g_return_val_if_fail (GEMBA_IS_WINDOW (self), NULL);
  return self->project;
}

/* --- Labeling ----------------------------------------------------------------------------- */

static const char *
class_name (GembaWindow *self, gint64 class_id)
{
  const GembaClass *klass = gemba_project_lookup_class (self->project, class_id);

  return class_id == 0 ? _("unlabeled") : klass ? klass->name : "?";
}

static void
apply_result (GembaWindow *self, GembaLabelResult *result)
{
  const GembaFrameItem *shown = gtk_single_selection_get_selected_item (self->selection);

  if (!result->frame)
    return;
  gemba_frame_list_update_frame (self->frame_list, gemba_frame_copy (result->frame));
  if (shown && gemba_frame_item_get_id ((GembaFrameItem *) shown) == result->frame->id)
    gemba_frame_view_refresh (self->frame_view);
  schedule_counts (self);
}

static void
label_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaLabelResult) label_result = NULL;
  g_autofree char *title = NULL;

  label_result = gemba_project_label_finish (GEMBA_PROJECT (object), result, &error);
  self->pending_writes--;
  if (!self->project || GEMBA_PROJECT (object) != self->project)
    return;
  update_undo_actions (self);
  if (!label_result)
    {
      show_error (self, error->message);
      return;
    }
  apply_result (self, label_result);
  gemba_probe_log ("labeled", "frame=%" G_GINT64_FORMAT " class=%" G_GINT64_FORMAT,
                   label_result->label->frame_id, label_result->label->class_id);
  /* Translators: toast after a label was saved; %s is the class. */
  title = g_strdup_printf (_("Saved: %s"), class_name (self, label_result->label->class_id));
  show_toast (self, title, TRUE);
}

static void
label_current (GembaWindow *self, const GembaClass *klass, GembaLabelKind kind)
{
  GembaFrameItem *item;
  const GembaFrame *frame;
  gboolean in_frame_view;

  if (!self->project || !self->selection)
    return;
  item = gtk_single_selection_get_selected_item (self->selection);
  in_frame_view = g_str_equal (gtk_stack_get_visible_child_name (self->content_stack), "frame");
  if (!item || !(frame = gemba_frame_item_get_frame (item)) ||
      !g_str_equal (gtk_stack_get_visible_child_name (self->main_stack), "project"))
    {
      gtk_widget_error_bell (GTK_WIDGET (self));
      return;
    }
  self->pending_writes++;
  update_undo_actions (self);
  gemba_project_label_async (self->project, frame->id, klass->id, kind, label_done_cb,
                             g_object_ref (self));
  gemba_probe_log ("label-given", "frame=%" G_GINT64_FORMAT " class=%" G_GINT64_FORMAT,
                   frame->id, klass->id);
  if (in_frame_view)
    gemba_frame_view_next (self->frame_view);
}

/* Labels come from the Frames page only: a digit or Enter typed on the Capture, Training or
 * Models page must not label the frame selected out of sight. */
static gboolean
labeling_shown (GembaWindow *self)
{
  return self->project &&
         g_strcmp0 (adw_view_stack_get_visible_child_name (self->view_stack), "frames") == 0;
}

static void
action_label_key (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);
  const GembaClass *klass;

  if (!labeling_shown (self))
    return;
  if (!(klass = gemba_project_class_for_key (self->project, g_variant_get_int32 (param))))
    {
      gtk_widget_error_bell (widget);
      return;
    }
  label_current (self, klass, GEMBA_LABEL_SET);
}

static void
action_label_class (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);
  const GembaClass *klass;

  if (labeling_shown (self) &&
      (klass = gemba_project_lookup_class (self->project, g_variant_get_int64 (param))) &&
      !klass->retired)
    label_current (self, klass, GEMBA_LABEL_SET);
}

static void
action_confirm (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);
  GembaFrameItem *item;
  const GembaFrame *frame;
  const GembaClass *klass;

  if (!labeling_shown (self))
    return;
  item = gtk_single_selection_get_selected_item (self->selection);
  frame = item ? gemba_frame_item_get_frame (item) : NULL;
  if (!frame || !frame->pred_class_id ||
      !(klass = gemba_project_lookup_class (self->project, frame->pred_class_id)) ||
      klass->retired)
    {
      show_toast (self, _("This frame has no prediction to confirm. Press a number key to "
                          "label it."), FALSE);
      return;
    }
  label_current (self, klass, GEMBA_LABEL_CONFIRM);
}

static void
undo_redo_done (GembaWindow *self, GObject *object, GAsyncResult *result, gboolean undo)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaLabelResult) label_result = NULL;
  g_autofree char *title = NULL;
  guint position;

  label_result = gemba_project_label_finish (GEMBA_PROJECT (object), result, &error);
  self->pending_writes--;
  if (!self->project || GEMBA_PROJECT (object) != self->project)
    return;
  update_undo_actions (self);
  if (!label_result)
    {
      show_error (self, error->message);
      return;
    }
  if (!label_result->label)
    {
      show_toast (self, undo ? _("Nothing to undo") : _("Nothing to redo"), FALSE);
      return;
    }
  apply_result (self, label_result);
  gemba_probe_log (undo ? "undone" : "redone", "frame=%" G_GINT64_FORMAT,
                   label_result->label->frame_id);
  /* Show the frame whose label changed, so the annotator sees what the undo did. */
  position = gemba_frame_list_find (self->frame_list, label_result->label->frame_id);
  if (position != G_MAXUINT)
    {
      gtk_single_selection_set_selected (self->selection, position);
      if (g_str_equal (gtk_stack_get_visible_child_name (self->content_stack), "grid"))
        gemba_frame_grid_scroll_to (self->grid_view, position);
    }
  title = undo ? g_strdup_printf (_("Undone: the frame is %s again"),
                                  class_name (self, label_result->label->class_id))
               : g_strdup_printf (_("Redone: %s"),
                                  class_name (self, label_result->label->class_id));
  show_toast (self, title, FALSE);
}

static void
undo_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaWindow) self = user_data;

  undo_redo_done (self, object, result, TRUE);
}

static void
redo_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaWindow) self = user_data;

  undo_redo_done (self, object, result, FALSE);
}

static void
action_undo_redo (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);
  gboolean undo = g_str_equal (name, "win.undo");

  if (!self->project)
    return;
  self->pending_writes++;
  if (undo)
    gemba_project_undo_async (self->project, undo_done_cb, g_object_ref (self));
  else
    gemba_project_redo_async (self->project, redo_done_cb, g_object_ref (self));
}

/* --- Other actions ------------------------------------------------------------------------ */

static void
test_batch_reserved_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  gpointer reserved = gemba_project_write_finish (GEMBA_PROJECT (object), result, &error);

  if (!self->project || GEMBA_PROJECT (object) != self->project)
    return;
  if (!reserved)
    {
      show_error (self, error->message);
      return;
    }
  gemba_probe_log ("test-batch", "reserved=%d", GPOINTER_TO_INT (reserved) - 1);
  /* The filter re-reads the frames: the batch is in it now. */
  self->updating_filters = TRUE;
  select_filter (self, "test");
  self->updating_filters = FALSE;
  set_query_from_key (self, "test");
  if (g_str_equal (gtk_stack_get_visible_child_name (self->content_stack), "frame"))
    gtk_stack_set_visible_child_name (self->content_stack, "grid");
  gtk_widget_set_visible (self->back_button, FALSE);
  schedule_counts (self);
}

static void
action_label_test_batch (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);

  if (!self->project || self->test_source_id == 0)
    return;
  gemba_project_reserve_test_batch_async (self->project, self->test_source_id,
                                          test_batch_reserved_cb, g_object_ref (self));
}

static void
action_show_grid (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);

  if (self->project)
    show_grid (self);
}

/* The Models page with a model selected (e.g. the one just trained), compared with production. */
static void
action_show_model (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);

  if (!self->project)
    return;
  gemba_models_page_reload (GEMBA_MODELS_PAGE (
    adw_view_stack_get_child_by_name (self->view_stack, "models")), g_variant_get_int64 (param));
  adw_view_stack_set_visible_child_name (self->view_stack, "models");
}

static void
action_show_frame (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);

  if (self->project &&
      g_str_equal (gtk_stack_get_visible_child_name (self->main_stack), "project"))
    show_frame (self, gtk_single_selection_get_selected (self->selection));
}

static void
chooser_response_cb (GtkNativeDialog *dialog, int response, GembaWindow *self)
{
  gboolean create = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (dialog), "create"));

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = g_file_get_path (file);

      if (path)
        gemba_window_open (self, path, create ? GEMBA_PROJECT_CREATE : GEMBA_PROJECT_OPEN);
    }
  gtk_native_dialog_destroy (dialog);
  g_object_unref (dialog);
}

static void
run_chooser (GembaWindow *self, gboolean create)
{
  GtkFileChooserNative *chooser =
    gtk_file_chooser_native_new (create ? _("New Project — Choose an Empty Folder")
                                        : _("Open Project Folder"),
                                 GTK_WINDOW (self), GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                 create ? _("_Create") : _("_Open"), _("_Cancel"));

  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  g_object_set_data (G_OBJECT (chooser), "create", GINT_TO_POINTER (create));
  g_signal_connect (chooser, "response", G_CALLBACK (chooser_response_cb), self);
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
action_open_project (GtkWidget *widget, const char *name, GVariant *param)
{
  run_chooser (GEMBA_WINDOW (widget), FALSE);
}

static void
action_new_project (GtkWidget *widget, const char *name, GVariant *param)
{
  run_chooser (GEMBA_WINDOW (widget), TRUE);
}

static void
action_open_demo (GtkWidget *widget, const char *name, GVariant *param)
{
  g_autofree char *path = g_build_filename (g_get_user_data_dir (), "gemba", "demo", NULL);
  g_autofree char *parent = g_path_get_dirname (path);

  g_mkdir_with_parents (parent, 0755);
  gemba_window_open (GEMBA_WINDOW (widget), path, GEMBA_PROJECT_CREATE_DEMO);
}

static void
action_open_path (GtkWidget *widget, const char *name, GVariant *param)
{
  gemba_window_open (GEMBA_WINDOW (widget), g_variant_get_string (param, NULL),
                     GEMBA_PROJECT_OPEN);
}

static void
action_close_project (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);

  close_project (self);
  g_settings_set_string (self->settings, "last-project", "");
  show_start (self);
}

static void
action_edit_classes (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaWindow *self = GEMBA_WINDOW (widget);
  GtkWindow *editor;

  if (!self->project)
    return;
  editor = gemba_class_editor_new (GTK_WINDOW (self), self->project);
  gtk_window_present (editor);
}

/* --- Settings and window state ------------------------------------------------------------ */

static void
settings_changed_cb (GSettings *settings, const char *key, GembaWindow *self)
{
  if (!self->project)
    return;
  if (g_str_equal (key, "annotator-name"))
    {
      g_autofree char *name = g_settings_get_string (settings, key);
      gemba_project_set_author (self->project, name);
    }
  else if (g_str_equal (key, "thumbnail-size"))
    set_thumbnail_size (self);
  else if (g_str_equal (key, "preload-depth"))
    gemba_frame_view_set_preload_depth (self->frame_view, g_settings_get_int (settings, key));
}

static gboolean
gemba_window_close_request (GtkWindow *window)
{
  GembaWindow *self = GEMBA_WINDOW (window);
  int width, height;

  gtk_window_get_default_size (window, &width, &height);
  g_settings_set_int (self->settings, "window-width", width);
  g_settings_set_int (self->settings, "window-height", height);
  g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));
  /* Waits for the labels still queued: closing the window loses none. */
  close_project (self);
  return GTK_WINDOW_CLASS (gemba_window_parent_class)->close_request (window);
}

static void
gemba_window_dispose (GObject *object)
{
  GembaWindow *self = GEMBA_WINDOW (object);

  close_project (self);
  g_clear_handle_id (&self->counts_timeout, g_source_remove);
  if (self->settings)
    g_signal_handlers_disconnect_by_data (self->settings, self);
  gtk_widget_dispose_template (GTK_WIDGET (self), GEMBA_TYPE_WINDOW);
  G_OBJECT_CLASS (gemba_window_parent_class)->dispose (object);
}

static void
gemba_window_finalize (GObject *object)
{
  GembaWindow *self = GEMBA_WINDOW (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->label_toast);
  g_clear_pointer (&self->count_labels, g_hash_table_unref);
  g_free (self->filter_key);
  G_OBJECT_CLASS (gemba_window_parent_class)->finalize (object);
}

static void
gemba_window_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  if (prop_id == PROP_PROJECT)
    g_value_set_object (value, GEMBA_WINDOW (object)->project);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
}

static void
gemba_window_class_init (GembaWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);
  static const guint digits[] = { GDK_KEY_0, GDK_KEY_1, GDK_KEY_2, GDK_KEY_3, GDK_KEY_4,
                                  GDK_KEY_5, GDK_KEY_6, GDK_KEY_7, GDK_KEY_8, GDK_KEY_9 };
  static const guint keypad[] = { GDK_KEY_KP_0, GDK_KEY_KP_1, GDK_KEY_KP_2, GDK_KEY_KP_3,
                                  GDK_KEY_KP_4, GDK_KEY_KP_5, GDK_KEY_KP_6, GDK_KEY_KP_7,
                                  GDK_KEY_KP_8, GDK_KEY_KP_9 };

  object_class->dispose = gemba_window_dispose;
  object_class->finalize = gemba_window_finalize;
  object_class->get_property = gemba_window_get_property;
  window_class->close_request = gemba_window_close_request;

  /* The open project (NULL while the start page shows); every page binds to it. */
  properties[PROP_PROJECT] =
    g_param_spec_object ("project", NULL, NULL, GEMBA_TYPE_PROJECT,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (GEMBA_TYPE_FRAME_GRID);
  g_type_ensure (GEMBA_TYPE_START_PAGE);
  g_type_ensure (GEMBA_TYPE_FRAME_VIEW);
  g_type_ensure (GEMBA_TYPE_CAPTURE_PAGE);
  g_type_ensure (GEMBA_TYPE_TRAINING_PAGE);
  g_type_ensure (GEMBA_TYPE_MODELS_PAGE);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_BASE_PATH "/gemba-window.ui");
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, switcher_title);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, back_button);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, undo_button);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, redo_button);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, start_page);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, loading_spinner);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, loading_label);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, filter_list);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, count_label);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, sort_dropdown);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, content_stack);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, grid_view);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, frame_view);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, empty_page);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, test_notice);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, test_notice_label);
  gtk_widget_class_bind_template_child (widget_class, GembaWindow, test_batch_button);

  gtk_widget_class_install_action (widget_class, "win.open-project", NULL, action_open_project);
  gtk_widget_class_install_action (widget_class, "win.new-project", NULL, action_new_project);
  gtk_widget_class_install_action (widget_class, "win.open-demo", NULL, action_open_demo);
  gtk_widget_class_install_action (widget_class, "win.open-path", "s", action_open_path);
  gtk_widget_class_install_action (widget_class, "win.close-project", NULL, action_close_project);
  gtk_widget_class_install_action (widget_class, "win.edit-classes", NULL, action_edit_classes);
  gtk_widget_class_install_action (widget_class, "win.show-grid", NULL, action_show_grid);
  gtk_widget_class_install_action (widget_class, "win.show-frame", NULL, action_show_frame);
  gtk_widget_class_install_action (widget_class, "win.show-model", "x", action_show_model);
  gtk_widget_class_install_action (widget_class, "win.label-key", "i", action_label_key);
  gtk_widget_class_install_action (widget_class, "win.label-class", "x", action_label_class);
  gtk_widget_class_install_action (widget_class, "win.confirm", NULL, action_confirm);
  gtk_widget_class_install_action (widget_class, "win.label-test-batch", NULL,
                                   action_label_test_batch);
  gtk_widget_class_install_action (widget_class, "win.undo", NULL, action_undo_redo);
  gtk_widget_class_install_action (widget_class, "win.redo", NULL, action_undo_redo);

  for (guint i = 0; i < G_N_ELEMENTS (digits); i++)
    {
      gtk_widget_class_add_binding_action (widget_class, digits[i], 0, "win.label-key", "i", i);
      gtk_widget_class_add_binding_action (widget_class, keypad[i], 0, "win.label-key", "i", i);
    }
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK,
                                       "win.open-project", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_n, GDK_CONTROL_MASK,
                                       "win.new-project", NULL);
}

static void
gemba_window_init (GembaWindow *self)
{
  g_autofree char *sort = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->settings = g_settings_new (SCHEMA_ID);
  self->cancellable = g_cancellable_new ();
  self->count_labels = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));

  sort = g_settings_get_string (self->settings, "sort-order");
  gtk_drop_down_set_selected (self->sort_dropdown, g_str_equal (sort, "confidence") ? 1 : 0);
  g_signal_connect (self->sort_dropdown, "notify::selected", G_CALLBACK (sort_changed_cb), self);
  g_signal_connect (self->filter_list, "row-selected", G_CALLBACK (filter_selected_cb), self);
  g_signal_connect (self->grid_view, "activate", G_CALLBACK (grid_activate_cb), self);
  /* Enter opens the selected frame also when the grid itself, not one of its cells, has the
   * focus (right after opening a project). */
  {
    GtkEventController *controller = gtk_shortcut_controller_new ();
    gtk_shortcut_controller_add_shortcut (
      GTK_SHORTCUT_CONTROLLER (controller),
      gtk_shortcut_new (gtk_alternative_trigger_new (gtk_keyval_trigger_new (GDK_KEY_Return, 0),
                                                     gtk_keyval_trigger_new (GDK_KEY_KP_Enter, 0)),
                        gtk_named_action_new ("win.show-frame")));
    gtk_widget_add_controller (GTK_WIDGET (self->grid_view), controller);
  }
  g_signal_connect (self->settings, "changed", G_CALLBACK (settings_changed_cb), self);
  gemba_locator_watch (GTK_WIDGET (self->test_batch_button), "frames.test-batch");
  gemba_start_page_set_settings (self->start_page, self->settings);
  show_start (self);
}

GembaWindow *
gemba_window_new (AdwApplication *application)
{
  return g_object_new (GEMBA_TYPE_WINDOW, "application", application, NULL);
}
