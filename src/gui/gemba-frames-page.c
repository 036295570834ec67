/* gemba-frames-page.c: the Frames page: filters, the frame grid, one frame large, labeling
 *
 * The filter sidebar is a GListStore of GembaFilterItems bound to a GtkListBox; the counts,
 * read off the main thread after the grid is drawn, are set on the items. The content is a
 * stack of the grid, the frame view and an empty page. Labels go through a GembaLabeler, the
 * same one the frame window uses.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>
#include <inttypes.h>

#include "gemba-filter-item.h"
#include "gemba-frame-grid.h"
#include "gemba-frame-item.h"
#include "gemba-frame-list.h"
#include "gemba-frame-view.h"
#include "gemba-frames-page.h"
#include "gemba-labeler.h"
#include "gemba-leaser.h"
#include "gemba-locator.h"
#include "gemba-probe.h"

#define SCHEMA_ID "dev.gemba.Workbench"
/* The notice that labels crossed hides itself after this long. */
#define CROSSING_NOTICE_S 90

struct _GembaFramesPage
{
  GtkWidget parent_instance;

  AdwToastOverlay *toast_overlay;
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
  GtkRevealer *crossing_notice;
  GtkLabel *crossing_label;
  GtkButton *crossing_button;
  gint64 crossed_frame_id;       /* the frame the crossing notice is about */
  guint crossing_timeout;        /* hides the notice a while after, unless dismissed first */
  gint64 show_after_load;        /* a frame to show once the list is loaded, 0 for none */
  gint64 keep_frame_id;          /* a reload keeps this frame selected, ... */
  GArray *keep_after;            /* ... or the first of these (the frames after it) left */

  GSettings *settings;
  GembaProject *project;
  GembaLabeler *labeler;
  GembaLeaser *leaser;           /* a team project's review queue: the frames held */
  GembaFrameList *frame_list;
  GtkSingleSelection *selection;
  GListStore *filters;           /* GembaFilterItem: the sidebar's rows */
  GHashTable *filter_items;      /* filter key → GembaFilterItem in filters */
  GembaFrameQuery query;
  char *filter_key;
  GCancellable *cancellable;
  guint counts_timeout;
  gboolean counting;             /* a count is running ... */
  gboolean count_again;          /* ... and something changed since it started */
  gboolean grid_timed;
  gboolean updating_filters;
  gboolean stale;                /* frames changed while the page was hidden */
  gint64 test_source_id;         /* the source the test notice is about, 0 for none */
  gboolean test_source_short;    /* ... which still needs frames reserved */
};

G_DEFINE_FINAL_TYPE (GembaFramesPage, gemba_frames_page, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_PROJECT, PROP_SHOWING_FRAME, N_PROPS };
static GParamSpec *properties[N_PROPS];

static void schedule_counts (GembaFramesPage *self);
static void show_frame (GembaFramesPage *self, guint position);
static gboolean crossing_timeout_cb (gpointer user_data);
static void set_query_from_key (GembaFramesPage *self, const char *key);

static void
show_error (GembaFramesPage *self, const char *message)
{
  gemba_labeler_show_error (self->labeler, message);
}

/* --- Grid --------------------------------------------------------------------------------- */

static void
set_thumbnail_size (GembaFramesPage *self)
{
  gemba_frame_grid_set_thumbnail_size (self->grid_view,
                                       g_settings_get_int (self->settings, "thumbnail-size"));
}

static void
grid_painted_cb (GdkFrameClock *clock, GembaFramesPage *self)
{
  g_signal_handlers_disconnect_by_func (clock, grid_painted_cb, self);
  gemba_probe_log ("grid-painted", "n=%u",
                   self->frame_list ? g_list_model_get_n_items (G_LIST_MODEL (self->frame_list))
                                    : 0);
  /* The sidebar's counts scan every frame: after the grid is up, not competing with it. */
  schedule_counts (self);
}

static const char *
empty_description (GembaFramesPage *self)
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
update_count_label (GembaFramesPage *self)
{
  guint n = self->frame_list ? g_list_model_get_n_items (G_LIST_MODEL (self->frame_list)) : 0;
  g_autofree char *text = NULL;

  text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u frame", "%u frames", n), n);
  gtk_label_set_label (self->count_label, text);
}

static void
show_content (GembaFramesPage *self, const char *name)
{
  gtk_stack_set_visible_child_name (self->content_stack, name);
}

static gboolean
content_is (GembaFramesPage *self, const char *name)
{
  return g_strcmp0 (gtk_stack_get_visible_child_name (self->content_stack), name) == 0;
}

/* After a reload (another member labeled), the frame selected stays selected, or, when it left
 * the list (labeled, held by someone else), the next one that is still in it: the annotator
 * in the frame view goes on where they were. */
static void
remember_selection (GembaFramesPage *self)
{
  const GArray *ids = self->frame_list ? gemba_frame_list_get_ids (self->frame_list) : NULL;
  guint position = gtk_single_selection_get_selected (self->selection);

  self->keep_frame_id = 0;
  g_clear_pointer (&self->keep_after, g_array_unref);
  if (!ids || position == GTK_INVALID_LIST_POSITION || position >= ids->len)
    return;
  self->keep_frame_id = g_array_index (ids, gint64, position);
  self->keep_after = g_array_new (FALSE, FALSE, sizeof (gint64));
  g_array_append_vals (self->keep_after, &g_array_index (ids, gint64, position + 1),
                       MIN (ids->len - position - 1, 64));
}

static void
keep_selection (GembaFramesPage *self)
{
  const GArray *ids = gemba_frame_list_get_ids (self->frame_list);
  g_autoptr(GArray) after = g_steal_pointer (&self->keep_after);
  gint64 keep = self->keep_frame_id;
  guint position, best = G_MAXUINT, best_rank = G_MAXUINT;

  self->keep_frame_id = 0;
  if (!keep || !ids)
    return;
  if ((position = gemba_frame_list_find (self->frame_list, keep)) == G_MAXUINT && after)
    {
      g_autoptr(GHashTable) rank = g_hash_table_new (g_int64_hash, g_int64_equal);

      for (guint i = 0; i < after->len; i++)
        g_hash_table_insert (rank, &g_array_index (after, gint64, i), GUINT_TO_POINTER (i + 1));
      for (guint i = 0; i < ids->len; i++)
        {
          guint r = GPOINTER_TO_UINT (g_hash_table_lookup (rank, &g_array_index (ids, gint64,
                                                                                 i)));
          if (r && r < best_rank)
            {
              best_rank = r;
              best = i;
            }
        }
      position = best;
    }
  if (position != G_MAXUINT &&
      position != gtk_single_selection_get_selected (self->selection))
    gtk_single_selection_set_selected (self->selection, position);
}

static void
list_loaded_cb (GembaFrameList *list, GError *error, GembaFramesPage *self)
{
  guint n;

  if (error)
    {
      show_error (self, error->message);
      return;
    }
  n = g_list_model_get_n_items (G_LIST_MODEL (list));
  update_count_label (self);
  keep_selection (self);
  if (self->show_after_load)
    {
      guint position = gemba_frame_list_find (list, self->show_after_load);

      self->show_after_load = 0;
      if (position != G_MAXUINT)
        show_frame (self, position);
    }
  gemba_probe_log ("list-loaded", "n=%u", n);
  if (n == 0)
    {
      adw_status_page_set_description (self->empty_page, empty_description (self));
      show_content (self, "empty");
      schedule_counts (self);
      return;
    }
  if (content_is (self, "empty"))
    show_content (self, "grid");
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
show_grid (GembaFramesPage *self)
{
  guint position = gtk_single_selection_get_selected (self->selection);

  if (g_list_model_get_n_items (G_LIST_MODEL (self->selection)) == 0)
    return;
  show_content (self, "grid");
  if (position != GTK_INVALID_LIST_POSITION)
    gemba_frame_grid_scroll_to (self->grid_view, position);
  gtk_widget_grab_focus (GTK_WIDGET (self->grid_view));
}

static void
show_frame (GembaFramesPage *self, guint position)
{
  if (position >= g_list_model_get_n_items (G_LIST_MODEL (self->selection)))
    return;
  gtk_single_selection_set_selected (self->selection, position);
  show_content (self, "frame");
  gtk_widget_grab_focus (GTK_WIDGET (self->frame_view));
}

static void
grid_activate_cb (GembaFrameGrid *grid, guint position, GembaFramesPage *self)
{
  show_frame (self, position);
}

static void
content_changed_cb (GembaFramesPage *self)
{
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHOWING_FRAME]);
}

/* --- Filters ------------------------------------------------------------------------------ */

static gboolean
count_to_label (GBinding *binding, const GValue *from, GValue *to, gpointer data)
{
  gint64 count = g_value_get_int64 (from);

  g_value_take_string (to, count < 0 ? g_strdup ("") : g_strdup_printf ("%" G_GINT64_FORMAT,
                                                                        count));
  return TRUE;
}

static GtkWidget *
create_filter_row (gpointer object, gpointer user_data)
{
  GembaFilterItem *item = object;
  GtkWidget *row = gtk_list_box_row_new ();
  GtkWidget *box, *label, *count;
  g_autofree char *where = NULL;

  if (gemba_filter_item_is_heading (item))
    {
      label = gtk_label_new (gemba_filter_item_get_title (item));
      gtk_label_set_xalign (GTK_LABEL (label), 0);
      gtk_widget_add_css_class (label, "heading");
      gtk_widget_add_css_class (label, "dim-label");
      gtk_widget_set_margin_top (label, 12);
      gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), label);
      gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), FALSE);
      gtk_list_box_row_set_selectable (GTK_LIST_BOX_ROW (row), FALSE);
      gtk_widget_set_focusable (row, FALSE);
      return row;
    }

  box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 10);
  if (gemba_filter_item_get_icon_name (item))
    gtk_box_append (GTK_BOX (box),
                    gtk_image_new_from_icon_name (gemba_filter_item_get_icon_name (item)));
  label = gtk_label_new (NULL);
  gtk_label_set_markup (GTK_LABEL (label), gemba_filter_item_get_title (item));
  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_widget_set_hexpand (label, TRUE);
  gtk_box_append (GTK_BOX (box), label);
  count = gtk_label_new ("");
  gtk_widget_add_css_class (count, "dim-label");
  gtk_widget_add_css_class (count, "numeric");
  g_object_bind_property_full (item, "count", count, "label", G_BINDING_SYNC_CREATE,
                               count_to_label, NULL, NULL, NULL);
  gtk_box_append (GTK_BOX (box), count);
  gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), box);
  g_object_bind_property (item, "tooltip", row, "tooltip-text", G_BINDING_SYNC_CREATE);
  where = g_strconcat ("filter.", gemba_filter_item_get_key (item), NULL);
  gemba_locator_watch (row, where);
  return row;
}

static void
add_filter (GembaFramesPage *self, GPtrArray *items, const char *key, const char *markup,
            const char *icon)
{
  GembaFilterItem *item = gemba_filter_item_new (key, markup, icon);
  GembaFilterItem *old = g_hash_table_lookup (self->filter_items, key);

  /* A rebuilt sidebar keeps the counts it had until new ones come. */
  if (old)
    gemba_filter_item_set_count (item, gemba_filter_item_get_count (old));
  g_ptr_array_add (items, item);
}

/* The rows of the sources that are production lines (@lines) or that are not. */
static void
add_source_filters (GembaFramesPage *self, GPtrArray *items, GPtrArray *sources, gboolean lines,
                    const char *heading)
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
        g_ptr_array_add (items, gemba_filter_item_new_heading (heading));
      headed = TRUE;
      key = g_strdup_printf ("source:%" G_GINT64_FORMAT, source->id);
      markup = g_markup_escape_text (source->name, -1);
      add_filter (self, items, key, markup, lines ? "network-wired-symbolic"
                                                  : "camera-video-symbolic");
    }
}

static void
select_filter (GembaFramesPage *self, const char *key)
{
  GListModel *filters = G_LIST_MODEL (self->filters);

  for (guint i = 0; key && i < g_list_model_get_n_items (filters); i++)
    {
      g_autoptr(GembaFilterItem) item = g_list_model_get_item (filters, i);

      if (g_strcmp0 (gemba_filter_item_get_key (item), key) == 0)
        {
          gtk_list_box_select_row (self->filter_list,
                                   gtk_list_box_get_row_at_index (self->filter_list, (int) i));
          return;
        }
    }
}

static void
rebuild_filters (GembaFramesPage *self)
{
  GPtrArray *classes = gemba_project_get_classes (self->project);
  GPtrArray *sources = gemba_project_get_sources (self->project);
  GPtrArray *packages = gemba_project_get_packages (self->project);
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree char *review = g_markup_escape_text (_("Review queue"), -1);
  g_autofree char *all = g_markup_escape_text (_("All frames"), -1);
  g_autofree char *unlabeled = g_markup_escape_text (_("Unlabeled"), -1);
  g_autofree char *false_readings = g_markup_escape_text (_("False readings"), -1);
  g_autofree char *suspect = g_markup_escape_text (_("Suspect labels"), -1);
  g_autofree char *test_batch = g_markup_escape_text (_("To label for testing"), -1);

  add_filter (self, items, "review", review, "task-due-symbolic");
  /* A team project's queue is shared (gemba-leaser.c); the count is everyone's. */
  if (gemba_project_get_is_team (self->project))
    gemba_filter_item_set_tooltip (g_ptr_array_index (items, items->len - 1),
                                   _("Shared with the team: frames other members are labeling "
                                     "now are left out of the list (the count includes them)"));
  add_filter (self, items, "all", all, "view-grid-symbolic");
  add_filter (self, items, "unlabeled", unlabeled, "mail-unread-symbolic");
  add_filter (self, items, "false", false_readings, "dialog-warning-symbolic");
  add_filter (self, items, "suspect", suspect, "dialog-question-symbolic");
  add_filter (self, items, "test", test_batch, "emblem-ok-symbolic");

  g_ptr_array_add (items, gemba_filter_item_new_heading (_("Classes")));
  for (guint i = 0; i < classes->len; i++)
    {
      const GembaClass *klass = g_ptr_array_index (classes, i);
      g_autofree char *key = g_strdup_printf ("class:%" G_GINT64_FORMAT, klass->id);
      g_autofree char *markup = gemba_class_markup (self->project, klass->id);

      add_filter (self, items, key, markup, NULL);
    }
  /* Production lines (spooled by gembaclassify) apart from cameras, videos and folders. */
  add_source_filters (self, items, sources, TRUE, _("Lines"));
  add_source_filters (self, items, sources, FALSE, _("Sources"));
  if (packages->len > 0)
    g_ptr_array_add (items, gemba_filter_item_new_heading (_("Package versions")));
  for (guint i = 0; i < packages->len; i++)
    {
      const GembaFramePackage *package = g_ptr_array_index (packages, i);
      g_autofree char *key = g_strdup_printf ("package:%" G_GINT64_FORMAT, package->id);
      g_autofree char *markup = g_markup_printf_escaped ("%s <span alpha=\"55%%\">%s</span>",
                                                         package->version, package->name);
      g_autofree char *tooltip = g_strdup_printf (_("Frames a line classified with package "
                                                    "“%s” version %s (sha256 %.12s…)"),
                                                  package->name, package->version,
                                                  package->sha256);

      add_filter (self, items, key, markup, "package-x-generic-symbolic");
      gemba_filter_item_set_tooltip (g_ptr_array_index (items, items->len - 1), tooltip);
    }

  self->updating_filters = TRUE;
  g_hash_table_remove_all (self->filter_items);
  for (guint i = 0; i < items->len; i++)
    {
      GembaFilterItem *item = g_ptr_array_index (items, i);

      if (!gemba_filter_item_is_heading (item))
        g_hash_table_insert (self->filter_items, g_strdup (gemba_filter_item_get_key (item)),
                             item);
    }
  g_list_store_splice (self->filters, 0, g_list_model_get_n_items (G_LIST_MODEL (self->filters)),
                       items->pdata, items->len);
  select_filter (self, self->filter_key);
  self->updating_filters = FALSE;
}

static void
set_count (GembaFramesPage *self, const char *key, gint64 count)
{
  GembaFilterItem *item = g_hash_table_lookup (self->filter_items, key);

  if (!item)
    return;
  gemba_filter_item_set_count (item, count);
  gemba_probe_log ("filter-count", "key=%s n=%" G_GINT64_FORMAT, key, count);
}

/* A capture or an import since the sidebar was built brought a source or a package it has no
 * row for. */
static gboolean
has_new_source (GembaFramesPage *self, const GembaProjectCounts *counts)
{
  for (guint i = 0; i < counts->sources->len; i++)
    {
      const GembaSource *source = g_ptr_array_index (counts->sources, i);
      g_autofree char *key = g_strdup_printf ("source:%" G_GINT64_FORMAT, source->id);
      if (!g_hash_table_contains (self->filter_items, key))
        return TRUE;
    }
  for (guint i = 0; i < counts->packages->len; i++)
    {
      const GembaFramePackage *package = g_ptr_array_index (counts->packages, i);
      g_autofree char *key = g_strdup_printf ("package:%" G_GINT64_FORMAT, package->id);
      if (!g_hash_table_contains (self->filter_items, key))
        return TRUE;
    }
  return FALSE;
}

/* A source with too few labeled test frames cannot be judged by the gate: say so, and offer
 * the random batch to label for testing (what `gemba ls --test-batch` reserves). */
static void
update_test_notice (GembaFramesPage *self, const GembaProjectCounts *counts)
{
  const GembaSourceTestCount *c = gemba_project_counts_short_of_tests (counts);
  g_autofree char *text = NULL;

  gtk_revealer_set_reveal_child (self->test_notice, c != NULL);
  self->test_source_id = c ? c->source_id : 0;
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "frames.label-test-batch", c != NULL);
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
counts_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaProjectCounts) counts = NULL;
  g_autoptr(GError) error = NULL;
  GembaFramesPage *self;

  counts = gemba_project_count_finish (GEMBA_PROJECT (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = GEMBA_FRAMES_PAGE (user_data);
  self->counting = FALSE;
  if (self->count_again)
    {
      self->count_again = FALSE;
      schedule_counts (self);
    }
  if (!counts)
    {
      show_error (self, error->message);
      return;
    }
  if (g_hash_table_size (self->filter_items) == 0 || has_new_source (self, counts))
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
  GembaFramesPage *self = user_data;

  self->counts_timeout = 0;
  if (self->project)
    {
      self->counting = TRUE;
      gemba_project_count_async (self->project, self->cancellable, counts_done_cb, self);
    }
  return G_SOURCE_REMOVE;
}

/* One count at a time: what changes while one runs is counted once more after it. */
static void
schedule_counts (GembaFramesPage *self)
{
  if (self->counting)
    self->count_again = TRUE;
  else if (self->counts_timeout == 0 && self->project)
    self->counts_timeout = g_timeout_add (400, counts_timeout_cb, self);
}

static void
set_query_from_key (GembaFramesPage *self, const char *key)
{
  GembaFrameQuery query = { .filter = GEMBA_FILTER_ALL };

  if (!gemba_filter_key_to_query (key, &query))
    key = "all";
  query.sort = gtk_drop_down_get_selected (self->sort_dropdown) == 1 ? GEMBA_SORT_CONFIDENCE
                                                                      : GEMBA_SORT_CAPTURED;
  if (self->filter_key != key)
    {
      g_free (self->filter_key);
      self->filter_key = g_strdup (key);
    }
  self->query = query;
  gemba_leaser_set_active (self->leaser, query.filter == GEMBA_FILTER_REVIEW);
  gemba_frame_list_set_query (self->frame_list, &query);
}

/* Shows the frames of filter @key, in the grid. */
static void
apply_filter (GembaFramesPage *self, const char *key)
{
  self->keep_frame_id = 0;
  set_query_from_key (self, key);
  if (content_is (self, "frame"))
    show_content (self, "grid");
}

static void
filter_selected_cb (GtkListBox *list, GtkListBoxRow *row, GembaFramesPage *self)
{
  g_autoptr(GembaFilterItem) item = NULL;
  const char *key;

  if (self->updating_filters || !row || !self->frame_list)
    return;
  item = g_list_model_get_item (G_LIST_MODEL (self->filters), gtk_list_box_row_get_index (row));
  key = item ? gemba_filter_item_get_key (item) : NULL;
  if (!key || (self->filter_key && g_str_equal (key, self->filter_key)))
    return;
  apply_filter (self, key);
}

static void
sort_changed_cb (GtkDropDown *dropdown, GParamSpec *pspec, GembaFramesPage *self)
{
  g_settings_set_string (self->settings, "sort-order",
                         gtk_drop_down_get_selected (dropdown) == 1 ? "confidence" : "captured");
  if (self->frame_list && self->filter_key)
    set_query_from_key (self, self->filter_key);
}

/* --- What the project says changed -------------------------------------------------------- */

static void
classes_changed_cb (GembaFramesPage *self)
{
  rebuild_filters (self);
  schedule_counts (self);
  /* The cells show class names and colours: rebind them. */
  set_thumbnail_size (self);
}

static void
reload_frames_now (GembaFramesPage *self)
{
  self->stale = FALSE;
  if (!self->project || !self->frame_list || !self->filter_key)
    return;
  remember_selection (self);
  set_query_from_key (self, self->filter_key);
  schedule_counts (self);
}

/* ::frames-changed (capture, the frame window, a promotion). */
static void
frames_changed_cb (GembaFramesPage *self)
{
  /* Replacing the grid's rows costs the main loop a frame or more; while the page is hidden,
   * do it when it is shown again. The counts are cheap: now. */
  if (!gtk_widget_get_mapped (GTK_WIDGET (self)))
    {
      self->stale = TRUE;
      schedule_counts (self);
      return;
    }
  reload_frames_now (self);
}

/* A team project: another member's label of a frame crossed this person's. Said in the notice
 * above the frames until dismissed or replaced by the next: who, which class, and which label
 * is the frame's now (the later one); both are in the frame's history. */
static void
labels_crossed_cb (GembaProject *project, const GembaLabelCrossing *c, GembaFramesPage *self)
{
  const char *other = c->other_class ? c->other_class : _("unlabeled");
  const char *own = c->own_class ? c->own_class : _("unlabeled");
  g_autofree char *what = NULL;
  g_autofree char *now = NULL;
  g_autofree char *markup = NULL;
  GembaFrameItem *shown;

  if (c->other_first)
    /* Translators: another member's label landed just before this person's: member, their
     * class, this person's class. */
    what = g_strdup_printf (_("%s labeled it “%s” just before your “%s” was saved."),
                            c->other_author, other, own);
  else
    /* Translators: another member's label landed just after this person's. */
    what = g_strdup_printf (_("%s labeled it “%s” just after your “%s” was saved."),
                            c->other_author, other, own);
  if (c->own_current)
    now = g_strdup_printf (_("Yours, “%s”, is its label now."), own);
  else if (g_strcmp0 (c->current_author, c->other_author) == 0)
    now = g_strdup_printf (_("Theirs, “%s”, is its label now."), other);
  else
    now = g_strdup_printf (_("Its label now is “%s”, by %s."),
                           c->current_class ? c->current_class : _("unlabeled"),
                           c->current_author);
  /* Translators: the notice when two members' labels of one frame crossed; the frame's
   * short id, what happened, which label is current. */
  markup = g_markup_printf_escaped (_("<b>Labels crossed on frame %s.</b> %s %s Both labels "
                                      "are in the frame's history."),
                                    c->frame_name, what, now);
  gtk_label_set_markup (self->crossing_label, markup);
  self->crossed_frame_id = c->frame_id;
  gtk_revealer_set_reveal_child (self->crossing_notice, TRUE);
  /* Long enough to be read by someone labeling on; not there for the rest of the day. */
  g_clear_handle_id (&self->crossing_timeout, g_source_remove);
  self->crossing_timeout = g_timeout_add_seconds (CROSSING_NOTICE_S, crossing_timeout_cb, self);
  gemba_probe_log ("labels-crossed", "frame=%" G_GINT64_FORMAT " name=%s other=%s other_class=%s "
                   "own_class=%s other_first=%d own_current=%d", c->frame_id, c->frame_name,
                   c->other_author,
                   other, own, c->other_first, c->own_current);
  /* The frame's history shows both. */
  shown = self->selection ? gtk_single_selection_get_selected_item (self->selection) : NULL;
  if (shown && gemba_frame_item_get_id (shown) == c->frame_id)
    gemba_frame_view_refresh (self->frame_view);
}

/* ::production-changed: the suspect labels and false readings are the production model's; the
 * frames themselves follow in the ::frames-changed the promotion emits next. */
static void
production_changed_cb (GembaFramesPage *self)
{
  schedule_counts (self);
}

static void
mapped_cb (GembaFramesPage *self)
{
  if (self->stale)
    reload_frames_now (self);
}

/* --- Labeling ----------------------------------------------------------------------------- */

/* Labels come from the Frames page only when it is shown: a digit or Enter typed on the
 * Capture, Training or Models page must not label the frame selected out of sight. */
static gboolean
labeling_shown (GembaFramesPage *self)
{
  return self->project && gtk_widget_get_mapped (GTK_WIDGET (self));
}

/* After a label given in the frame view, the next frame; in the grid, the selection stays. */
static void
labeled_next (GembaFramesPage *self, gboolean in_frame_view, gboolean queued)
{
  if (queued && in_frame_view)
    gemba_frame_view_next (self->frame_view);
}

static void
action_label_key (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFramesPage *self = GEMBA_FRAMES_PAGE (widget);
  gboolean in_frame_view = content_is (self, "frame");

  if (labeling_shown (self))
    labeled_next (self, in_frame_view,
                  gemba_labeler_label_key (self->labeler, g_variant_get_int32 (param)));
}

static void
action_label_class (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFramesPage *self = GEMBA_FRAMES_PAGE (widget);
  gboolean in_frame_view = content_is (self, "frame");

  if (labeling_shown (self))
    labeled_next (self, in_frame_view,
                  gemba_labeler_label_class (self->labeler, g_variant_get_int64 (param)));
}

static void
action_confirm (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFramesPage *self = GEMBA_FRAMES_PAGE (widget);
  gboolean in_frame_view = content_is (self, "frame");

  if (labeling_shown (self))
    labeled_next (self, in_frame_view, gemba_labeler_confirm (self->labeler));
}

static void
action_undo (GtkWidget *widget, const char *name, GVariant *param)
{
  gemba_labeler_undo (GEMBA_FRAMES_PAGE (widget)->labeler);
}

static void
action_redo (GtkWidget *widget, const char *name, GVariant *param)
{
  gemba_labeler_redo (GEMBA_FRAMES_PAGE (widget)->labeler);
}

/* The labeler wrote a label, an undo or a redo: redraw the frame, recount. */
static void
labeler_changed_cb (GembaLabeler *labeler, gint64 frame_id, gboolean history,
                    GembaFramesPage *self)
{
  GembaFrameItem *shown = self->selection
                          ? gtk_single_selection_get_selected_item (self->selection) : NULL;

  if (shown && gemba_frame_item_get_id (shown) == frame_id)
    gemba_frame_view_refresh (self->frame_view);
  if (!history)
    gemba_leaser_labeled (self->leaser, frame_id);
  if (history && content_is (self, "grid"))
    gemba_frame_grid_scroll_to (self->grid_view,
                                gtk_single_selection_get_selected (self->selection));
  schedule_counts (self);
}

static void
labeler_undo_cb (GembaFramesPage *self, GParamSpec *pspec)
{
  gboolean can_undo = gemba_labeler_get_can_undo (self->labeler);
  gboolean can_redo = gemba_labeler_get_can_redo (self->labeler);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "frames.undo", can_undo);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "frames.redo", can_redo);
}

/* --- Other actions ------------------------------------------------------------------------ */

static void
test_batch_reserved_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaFramesPage) self = user_data;
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
  apply_filter (self, "test");
  schedule_counts (self);
}

static void
action_label_test_batch (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFramesPage *self = GEMBA_FRAMES_PAGE (widget);

  if (!self->project || self->test_source_id == 0)
    return;
  gemba_project_reserve_test_batch_async (self->project, self->test_source_id,
                                          test_batch_reserved_cb, g_object_ref (self));
}

/* The frame whose labels crossed, large; from "All frames" when the filter shown lacks it
 * (a labeled frame leaves the review queue). */
static void
action_show_crossed (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFramesPage *self = GEMBA_FRAMES_PAGE (widget);
  guint position;

  if (!self->project || !self->crossed_frame_id)
    return;
  position = gemba_frame_list_find (self->frame_list, self->crossed_frame_id);
  if (position != G_MAXUINT && !gemba_frame_list_is_loading (self->frame_list))
    {
      show_frame (self, position);
      return;
    }
  self->show_after_load = self->crossed_frame_id;
  self->updating_filters = TRUE;
  select_filter (self, "all");
  self->updating_filters = FALSE;
  apply_filter (self, "all");
}

static void
action_dismiss_crossing (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFramesPage *self = GEMBA_FRAMES_PAGE (widget);

  g_clear_handle_id (&self->crossing_timeout, g_source_remove);
  gtk_revealer_set_reveal_child (self->crossing_notice, FALSE);
}

static gboolean
crossing_timeout_cb (gpointer user_data)
{
  GembaFramesPage *self = user_data;

  self->crossing_timeout = 0;
  gtk_revealer_set_reveal_child (self->crossing_notice, FALSE);
  return G_SOURCE_REMOVE;
}

static void
action_show_grid (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFramesPage *self = GEMBA_FRAMES_PAGE (widget);

  if (self->project)
    show_grid (self);
}

static void
action_show_frame (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFramesPage *self = GEMBA_FRAMES_PAGE (widget);

  if (self->project)
    show_frame (self, gtk_single_selection_get_selected (self->selection));
}

/* frames.filter: the frames of one filter, as if its row had been clicked. */
static void
action_filter (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaFramesPage *self = GEMBA_FRAMES_PAGE (widget);
  const char *key = g_variant_get_string (param, NULL);
  GembaFrameQuery query;

  if (!self->project || !gemba_filter_key_to_query (key, &query))
    return;
  self->updating_filters = TRUE;
  select_filter (self, key);
  self->updating_filters = FALSE;
  apply_filter (self, key);
}

static gboolean
gemba_frames_page_grab_focus (GtkWidget *widget)
{
  GembaFramesPage *self = GEMBA_FRAMES_PAGE (widget);

  if (content_is (self, "frame"))
    return gtk_widget_grab_focus (GTK_WIDGET (self->frame_view));
  return gtk_widget_grab_focus (GTK_WIDGET (self->grid_view));
}

/* --- Project ------------------------------------------------------------------------------ */

static void
settings_changed_cb (GSettings *settings, const char *key, GembaFramesPage *self)
{
  if (!self->project)
    return;
  if (g_str_equal (key, "thumbnail-size"))
    set_thumbnail_size (self);
  else if (g_str_equal (key, "preload-depth"))
    gemba_frame_view_set_preload_depth (self->frame_view, g_settings_get_int (settings, key));
}

static void
let_go (GembaFramesPage *self)
{
  g_autoptr(GembaProject) project = g_steal_pointer (&self->project);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  g_clear_handle_id (&self->counts_timeout, g_source_remove);
  self->counting = FALSE;
  self->count_again = FALSE;
  gemba_frame_view_set_model (self->frame_view, NULL, NULL);
  gemba_frame_grid_set_model (self->grid_view, NULL, NULL);
  g_signal_handlers_disconnect_by_data (project, self);
  gemba_labeler_set_project (self->labeler, NULL);
  gemba_labeler_set_selection (self->labeler, NULL);
  gemba_leaser_set_model (self->leaser, NULL, NULL, NULL);
  self->keep_frame_id = 0;
  g_clear_pointer (&self->keep_after, g_array_unref);
  g_clear_object (&self->selection);
  if (self->frame_list)
    g_signal_handlers_disconnect_by_data (self->frame_list, self);
  g_clear_object (&self->frame_list);
  g_clear_pointer (&self->filter_key, g_free);
  self->updating_filters = TRUE;
  g_hash_table_remove_all (self->filter_items);
  g_list_store_remove_all (self->filters);
  self->updating_filters = FALSE;
  self->stale = FALSE;
  self->test_source_id = 0;
  gtk_revealer_set_reveal_child (self->test_notice, FALSE);
  gtk_revealer_set_reveal_child (self->crossing_notice, FALSE);
  g_clear_handle_id (&self->crossing_timeout, g_source_remove);
  self->crossed_frame_id = 0;
  self->show_after_load = 0;
  show_content (self, "grid");
}

GembaProject *
gemba_frames_page_get_project (GembaFramesPage *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAMES_PAGE (self), NULL);
  return self->project;
}

GembaLabeler *
gemba_frames_page_get_labeler (GembaFramesPage *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAMES_PAGE (self), NULL);
  return self->labeler;  /* NULL once disposed */
}

void
gemba_frames_page_set_project (GembaFramesPage *self, GembaProject *project)
{
  g_return_if_fail (GEMBA_IS_FRAMES_PAGE (self));
  g_return_if_fail (!project || GEMBA_IS_PROJECT (project));

  if (self->project == project)
    return;
  if (self->project)
    let_go (self);
  if (project)
    {
      self->project = g_object_ref (project);
      g_signal_connect_swapped (project, "classes-changed", G_CALLBACK (classes_changed_cb),
                                self);
      g_signal_connect_swapped (project, "frames-changed", G_CALLBACK (frames_changed_cb), self);
      g_signal_connect_swapped (project, "production-changed",
                                G_CALLBACK (production_changed_cb), self);
      g_signal_connect (project, "labels-crossed", G_CALLBACK (labels_crossed_cb), self);

      self->frame_list = gemba_frame_list_new (project);
      g_signal_connect (self->frame_list, "loaded", G_CALLBACK (list_loaded_cb), self);
      self->selection = gtk_single_selection_new (g_object_ref (G_LIST_MODEL (self->frame_list)));
      gtk_single_selection_set_can_unselect (self->selection, FALSE);
      set_thumbnail_size (self);
      gemba_frame_grid_set_model (self->grid_view, project, self->selection);
      gemba_frame_view_set_model (self->frame_view, project, self->selection);
      gemba_frame_view_set_preload_depth (self->frame_view,
                                          g_settings_get_int (self->settings, "preload-depth"));
      gemba_labeler_set_project (self->labeler, project);
      gemba_labeler_set_selection (self->labeler, self->selection);
      gemba_leaser_set_model (self->leaser, project, self->frame_list, self->selection);

      self->filter_key = g_strdup ("review");
      rebuild_filters (self);
      set_query_from_key (self, "review");
      show_content (self, "grid");
    }
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "frames.label-test-batch", FALSE);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROJECT]);
}

static void
gemba_frames_page_dispose (GObject *object)
{
  GembaFramesPage *self = GEMBA_FRAMES_PAGE (object);

  if (self->project)
    let_go (self);
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->counts_timeout, g_source_remove);
  g_clear_handle_id (&self->crossing_timeout, g_source_remove);
  if (self->settings)
    g_signal_handlers_disconnect_by_data (self->settings, self);
  if (self->labeler)
    g_signal_handlers_disconnect_by_data (self->labeler, self);
  g_clear_object (&self->labeler);
  g_clear_object (&self->leaser);
  gtk_widget_dispose_template (GTK_WIDGET (self), GEMBA_TYPE_FRAMES_PAGE);
  G_OBJECT_CLASS (gemba_frames_page_parent_class)->dispose (object);
}

static void
gemba_frames_page_finalize (GObject *object)
{
  GembaFramesPage *self = GEMBA_FRAMES_PAGE (object);

  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->filters);
  g_clear_pointer (&self->filter_items, g_hash_table_unref);
  g_free (self->filter_key);
  G_OBJECT_CLASS (gemba_frames_page_parent_class)->finalize (object);
}

static void
gemba_frames_page_get_property (GObject *object, guint prop_id, GValue *value,
                                GParamSpec *pspec)
{
  GembaFramesPage *self = GEMBA_FRAMES_PAGE (object);

  switch (prop_id)
    {
    case PROP_PROJECT:
      g_value_set_object (value, self->project);
      break;
    case PROP_SHOWING_FRAME:
      g_value_set_boolean (value, self->content_stack && content_is (self, "frame"));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
gemba_frames_page_set_property (GObject *object, guint prop_id, const GValue *value,
                                GParamSpec *pspec)
{
  if (prop_id == PROP_PROJECT)
    gemba_frames_page_set_project (GEMBA_FRAMES_PAGE (object), g_value_get_object (value));
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
}

static void
gemba_frames_page_class_init (GembaFramesPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = gemba_frames_page_dispose;
  object_class->finalize = gemba_frames_page_finalize;
  object_class->get_property = gemba_frames_page_get_property;
  object_class->set_property = gemba_frames_page_set_property;
  widget_class->grab_focus = gemba_frames_page_grab_focus;

  /* The open project, bound to the window's. */
  properties[PROP_PROJECT] =
    g_param_spec_object ("project", NULL, NULL, GEMBA_TYPE_PROJECT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* One frame is shown large (the window shows its back-to-the-grid button). */
  properties[PROP_SHOWING_FRAME] =
    g_param_spec_boolean ("showing-frame", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (GEMBA_TYPE_FRAME_GRID);
  g_type_ensure (GEMBA_TYPE_FRAME_VIEW);
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_BASE_PATH "/gemba-frames-page.ui");
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, filter_list);
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, count_label);
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, sort_dropdown);
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, content_stack);
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, grid_view);
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, frame_view);
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, empty_page);
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, test_notice);
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, test_notice_label);
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, test_batch_button);
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, crossing_notice);
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, crossing_label);
  gtk_widget_class_bind_template_child (widget_class, GembaFramesPage, crossing_button);

  /* The names GembaFrameView's class buttons and keys use, as in the frame window. */
  gtk_widget_class_install_action (widget_class, "win.label-key", "i", action_label_key);
  gtk_widget_class_install_action (widget_class, "win.label-class", "x", action_label_class);
  gtk_widget_class_install_action (widget_class, "win.confirm", NULL, action_confirm);
  gtk_widget_class_install_action (widget_class, "frames.undo", NULL, action_undo);
  gtk_widget_class_install_action (widget_class, "frames.redo", NULL, action_redo);
  gtk_widget_class_install_action (widget_class, "frames.show-grid", NULL, action_show_grid);
  gtk_widget_class_install_action (widget_class, "frames.show-frame", NULL, action_show_frame);
  gtk_widget_class_install_action (widget_class, "frames.filter", "s", action_filter);
  gtk_widget_class_install_action (widget_class, "frames.label-test-batch", NULL,
                                   action_label_test_batch);
  gtk_widget_class_install_action (widget_class, "frames.dismiss-crossing", NULL,
                                   action_dismiss_crossing);
  gtk_widget_class_install_action (widget_class, "frames.show-crossed", NULL,
                                   action_show_crossed);
}

/* Number keys label the selected frame wherever the focus is in the window (the sidebar, the
 * header bar), as long as this page is shown: the shortcuts are the window's, their action
 * this page's. */
static void
add_number_keys (GembaFramesPage *self)
{
  GtkEventController *controller = gtk_shortcut_controller_new ();

  gtk_shortcut_controller_set_scope (GTK_SHORTCUT_CONTROLLER (controller),
                                     GTK_SHORTCUT_SCOPE_GLOBAL);
  for (int i = 0; i <= 9; i++)
    {
      GtkShortcutTrigger *trigger =
        gtk_alternative_trigger_new (gtk_keyval_trigger_new (GDK_KEY_0 + i, 0),
                                     gtk_keyval_trigger_new (GDK_KEY_KP_0 + i, 0));
      GtkShortcut *shortcut = gtk_shortcut_new (trigger, gtk_named_action_new ("win.label-key"));

      gtk_shortcut_set_arguments (shortcut, g_variant_new_int32 (i));
      gtk_shortcut_controller_add_shortcut (GTK_SHORTCUT_CONTROLLER (controller), shortcut);
    }
  gtk_widget_add_controller (GTK_WIDGET (self), controller);
}

static void
gemba_frames_page_init (GembaFramesPage *self)
{
  g_autofree char *sort = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->settings = g_settings_new (SCHEMA_ID);
  self->cancellable = g_cancellable_new ();
  self->filters = g_list_store_new (GEMBA_TYPE_FILTER_ITEM);
  self->filter_items = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->labeler = gemba_labeler_new (self->toast_overlay, "");
  self->leaser = gemba_leaser_new ();
  g_signal_connect (self->labeler, "changed", G_CALLBACK (labeler_changed_cb), self);
  g_signal_connect_swapped (self->labeler, "notify::can-undo", G_CALLBACK (labeler_undo_cb),
                            self);
  g_signal_connect_swapped (self->labeler, "notify::can-redo", G_CALLBACK (labeler_undo_cb),
                            self);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "frames.undo", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "frames.redo", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "frames.label-test-batch", FALSE);

  gtk_list_box_bind_model (self->filter_list, G_LIST_MODEL (self->filters), create_filter_row,
                           self, NULL);
  sort = g_settings_get_string (self->settings, "sort-order");
  gtk_drop_down_set_selected (self->sort_dropdown, g_str_equal (sort, "confidence") ? 1 : 0);
  g_signal_connect (self->sort_dropdown, "notify::selected", G_CALLBACK (sort_changed_cb), self);
  g_signal_connect (self->filter_list, "row-selected", G_CALLBACK (filter_selected_cb), self);
  g_signal_connect (self->grid_view, "activate", G_CALLBACK (grid_activate_cb), self);
  g_signal_connect_swapped (self->content_stack, "notify::visible-child-name",
                            G_CALLBACK (content_changed_cb), self);
  g_signal_connect (self, "map", G_CALLBACK (mapped_cb), NULL);
  /* Enter opens the selected frame also when the grid itself, not one of its cells, has the
   * focus (right after opening a project). */
  {
    GtkEventController *controller = gtk_shortcut_controller_new ();
    gtk_shortcut_controller_add_shortcut (
      GTK_SHORTCUT_CONTROLLER (controller),
      gtk_shortcut_new (gtk_alternative_trigger_new (gtk_keyval_trigger_new (GDK_KEY_Return, 0),
                                                     gtk_keyval_trigger_new (GDK_KEY_KP_Enter, 0)),
                        gtk_named_action_new ("frames.show-frame")));
    gtk_widget_add_controller (GTK_WIDGET (self->grid_view), controller);
  }
  add_number_keys (self);
  g_signal_connect (self->settings, "changed", G_CALLBACK (settings_changed_cb), self);
  gemba_locator_watch (GTK_WIDGET (self->test_batch_button), "frames.test-batch");
  gemba_locator_watch (GTK_WIDGET (self->crossing_button), "frames.show-crossed");
}
