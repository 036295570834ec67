/* gemba-models-page.c: model versions, two of them side by side, promotion and export
 *
 * The comparison evaluates both versions on the locked test split now (the project's compare
 * job: gemba_workflow_compare(), as `gemba compare`), so they are compared on the same frames
 * even when the split has grown since one of them was trained, and adds the corrected false
 * readings from their stored predictions. Frames whose verdict differs are listed; activating
 * one opens it in a frame view. Promotion (the project's promote job: gemba_workflow_promote(),
 * as `gemba promote`) first classifies every frame with the new version (so the grid and the
 * review queue have its verdicts at once), then makes it production; the Promote button shows
 * the job's progress, bound to its :message. The version compared with production is the
 * :selected-model property (win.show-model sets it).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <math.h>
#include <inttypes.h>
#include <glib/gi18n.h>

#include "gemba-confusion-view.h"
#include "gemba-export-dialog.h"
#include "gemba-frame-item.h"
#include "gemba-frame-view.h"
#include "gemba-frame-window.h"
#include "gemba-locator.h"
#include "gemba-models-page.h"
#include "gemba-probe.h"
#include "gemba-workflow.h"

/* Rows of changed frames built at a time: each is a few widgets, and a weak model can change
 * hundreds of verdicts. */
#define CHANGED_ROWS_STEP 20

struct _GembaModelsPage
{
  GtkWidget parent_instance;

  /* A change seen while hidden: reload when shown again. */
  gboolean stale;

  GtkStack *stack;
  GtkListBox *model_list;
  GtkDropDown *a_dropdown;
  GtkDropDown *b_dropdown;
  GtkSpinner *spinner;
  GtkWidget *export_button;
  GtkWidget *promote_button;
  GtkWidget *compare_box;
  GtkLabel *summary_label;
  GtkGrid *metrics_grid;
  GtkWidget *confusion_box;
  GtkLabel *changed_heading;
  GtkListBox *changed_list;
  GembaConfusionView *confusion_a;
  GembaConfusionView *confusion_b;

  GembaProject *project;
  GPtrArray *models;            /* GembaModelRecord, newest first */
  gint64 production_id;
  gint64 replaced_id;           /* production before the last promotion made here, 0: none */
  gint64 select_id;             /* :selected-model */
  GembaJob *list_job;
  GembaJob *compare_job;
  GBinding *spinner_binding;    /* compare_job:running → spinner:spinning */
  GembaJob *promote_job;
  GBinding *promote_binding;    /* promote_job:message → promote_button:label */
  GPtrArray *changed;           /* ChangedFrame of the comparison shown */
  char *name_a, *name_b;        /* the compared versions' names */
  guint n_rows;                 /* changed rows built */
  gboolean filling;
};

G_DEFINE_FINAL_TYPE (GembaModelsPage, gemba_models_page, GTK_TYPE_WIDGET)

/* The comparison is core's (gemba_workflow_compare(), also `gemba compare`). */
typedef GembaChangedFrame ChangedFrame;
typedef GembaComparison Comparison;

enum { PROP_0, PROP_PROJECT, PROP_SELECTED_MODEL, N_PROPS };
static GParamSpec *properties[N_PROPS];

static void reload (GembaModelsPage *self);

/* --- Helpers ------------------------------------------------------------------------------ */

static GembaModelRecord *
model_at (GembaModelsPage *self, GtkDropDown *dropdown)
{
  guint i = gtk_drop_down_get_selected (dropdown);

  if (!self->models || i >= self->models->len)
    return NULL;
  return g_ptr_array_index (self->models, i);
}

static char *
format_percent (double v)
{
  if (isnan (v) || v < 0)
    return g_strdup ("–");
  return g_strdup_printf ("%.1f %%", 100 * v);
}

static GtkWidget *
grid_label (const char *text, gboolean heading, float xalign)
{
  GtkWidget *label = gtk_label_new (text);

  gtk_label_set_xalign (GTK_LABEL (label), xalign);
  if (heading)
    gtk_widget_add_css_class (label, "heading");
  else
    gtk_widget_add_css_class (label, "numeric");
  return label;
}

static void
clear_container (GtkWidget *container)
{
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (container)))
    {
      if (GTK_IS_LIST_BOX (container))
        gtk_list_box_remove (GTK_LIST_BOX (container), child);
      else if (GTK_IS_GRID (container))
        gtk_grid_remove (GTK_GRID (container), child);
      else
        gtk_widget_unparent (child);
    }
}

static void
fill_metrics (GembaModelsPage *self, Comparison *c)
{
  GtkGrid *grid = self->metrics_grid;
  GembaEvaluation *ea = c->ea, *eb = c->eb;
  g_autoptr(GArray) classes = NULL;
  int row = 0, col;
  g_autofree char *pa = NULL, *pb = NULL, *ra = NULL, *rb = NULL;

  clear_container (GTK_WIDGET (grid));
  gtk_grid_attach (grid, grid_label (_("Class"), TRUE, 0), 0, row, 1, 1);
  col = 1;
  pa = g_strdup_printf (_("Precision\n%s"), c->a->name);
  ra = g_strdup_printf (_("Recall\n%s"), c->a->name);
  gtk_grid_attach (grid, grid_label (pa, TRUE, 1), col++, row, 1, 1);
  if (eb)
    {
      pb = g_strdup_printf (_("Precision\n%s"), c->b->name);
      gtk_grid_attach (grid, grid_label (pb, TRUE, 1), col++, row, 1, 1);
    }
  gtk_grid_attach (grid, grid_label (ra, TRUE, 1), col++, row, 1, 1);
  if (eb)
    {
      rb = g_strdup_printf (_("Recall\n%s"), c->b->name);
      gtk_grid_attach (grid, grid_label (rb, TRUE, 1), col++, row, 1, 1);
    }
  gtk_grid_attach (grid, grid_label (_("Test frames"), TRUE, 1), col++, row, 1, 1);
  row++;

  classes = gemba_comparison_list_classes (c);
  for (guint k = 0; k < classes->len; k++)
    {
      const GembaComparisonClass *klass = &g_array_index (classes, GembaComparisonClass, k);
      const double values[] = { klass->precision_a, klass->precision_b, klass->recall_a,
                                klass->recall_b };
      g_autofree char *n_test = g_strdup_printf ("%u", klass->n_test);

      col = 0;
      gtk_grid_attach (grid, grid_label (klass->name, FALSE, 0), col++, row, 1, 1);
      for (guint v = 0; v < G_N_ELEMENTS (values); v++)
        {
          g_autofree char *text = NULL;

          /* precision_b and recall_b (odd) only when there are two models. */
          if (v % 2 == 1 && !eb)
            continue;
          text = format_percent (values[v]);
          gtk_grid_attach (grid, grid_label (text, FALSE, 1), col++, row, 1, 1);
        }
      gtk_grid_attach (grid, grid_label (n_test, FALSE, 1), col++, row, 1, 1);
      row++;
    }
  /* Overall accuracy last, in bold. */
  {
    g_autofree char *acc_a = format_percent (gemba_metrics_accuracy (ea->metrics));
    g_autofree char *total = g_strdup_printf ("%u", ea->metrics->total);
    col = 0;
    gtk_grid_attach (grid, grid_label (_("Accuracy"), TRUE, 0), col++, row, 1, 1);
    gtk_grid_attach (grid, grid_label (acc_a, TRUE, 1), col, row, eb ? 1 : 2, 1);
    col += eb ? 1 : 2;
    if (eb)
      {
        g_autofree char *acc_b = format_percent (gemba_metrics_accuracy (eb->metrics));
        gtk_grid_attach (grid, grid_label (acc_b, TRUE, 1), col++, row, 1, 1);
        col += 2;
      }
    gtk_grid_attach (grid, grid_label (total, TRUE, 1), col, row, 1, 1);
  }
}

static void
set_confusion (GembaConfusionView *view, GembaModelRecord *record, GembaEvaluation *e)
{
  g_autofree char *title = NULL;

  if (!e)
    {
      gtk_widget_set_visible (GTK_WIDGET (view), FALSE);
      return;
    }
  title = g_strdup_printf (_("%s: label (rows) against verdict"), record->name);
  gemba_confusion_view_set_title (view, title);
  gemba_confusion_view_set_matrix (view, e->metrics->n_classes, e->metrics->confusion,
                                   (const char *const *) e->class_names);
  gtk_widget_set_visible (GTK_WIDGET (view), TRUE);
}

/* Builds the next CHANGED_ROWS_STEP rows, then a "Show more" row if some are left. */
static void
add_changed_rows (GembaModelsPage *self)
{
  GtkListBoxRow *more = g_object_get_data (G_OBJECT (self->changed_list), "more-row");
  guint end = MIN (self->changed->len, self->n_rows + CHANGED_ROWS_STEP);

  if (more)
    {
      gtk_list_box_remove (self->changed_list, GTK_WIDGET (more));
      g_object_set_data (G_OBJECT (self->changed_list), "more-row", NULL);
    }
  for (guint i = self->n_rows; i < end; i++)
    {
      ChangedFrame *cf = g_ptr_array_index (self->changed, i);
      GembaChange change = gemba_changed_frame_get_change (cf);
      g_autofree char *title = NULL;
      g_autofree char *subtitle = NULL;
      GtkWidget *row, *icon;

      row = adw_action_row_new ();
      /* The model's verdicts, e.g. "Model 1: ok → Model 2: scratch". */
      title = g_strdup_printf (_("%s: %s → %s: %s"), self->name_a, cf->verdict_a, self->name_b,
                               cf->verdict_b);
      subtitle = g_strdup_printf (_("Labeled %s · %s · frame %.10s%s"), cf->label,
                                  cf->frame->source_name ? cf->frame->source_name : _("no source"),
                                  cf->frame->sha256,
                                  cf->test ? _(" · test split") : _(" · correction"));
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
      icon = gtk_image_new_from_icon_name (change == GEMBA_CHANGE_FIXED ? "emblem-ok-symbolic"
                                           : change == GEMBA_CHANGE_BROKEN
                                           ? "dialog-warning-symbolic" : "view-refresh-symbolic");
      gtk_widget_set_tooltip_text (icon, change == GEMBA_CHANGE_FIXED ? _("Now right")
                                         : change == GEMBA_CHANGE_BROKEN ? _("Now wrong")
                                         : _("Still wrong"));
      gtk_widget_add_css_class (icon, change == GEMBA_CHANGE_FIXED ? "success"
                                      : change == GEMBA_CHANGE_BROKEN ? "error" : "dim-label");
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), icon);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                                 gtk_image_new_from_icon_name ("go-next-symbolic"));
      gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
      g_object_set_data (G_OBJECT (row), "changed-index", GUINT_TO_POINTER (i));
      if (i == 0)
        gemba_locator_watch (row, "models.changed0");
      gtk_list_box_append (self->changed_list, row);
    }
  self->n_rows = end;
  if (end < self->changed->len)
    {
      g_autofree char *text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                            "Show More (%u more frame)",
                                                            "Show More (%u more frames)",
                                                            self->changed->len - end),
                                               self->changed->len - end);
      GtkWidget *row = gtk_list_box_row_new ();
      GtkWidget *label = gtk_label_new (text);

      gtk_widget_set_margin_top (label, 12);
      gtk_widget_set_margin_bottom (label, 12);
      gtk_list_box_row_set_child (GTK_LIST_BOX_ROW (row), label);
      g_object_set_data (G_OBJECT (row), "changed-index", GUINT_TO_POINTER (G_MAXUINT));
      g_object_set_data (G_OBJECT (self->changed_list), "more-row", row);
      gtk_list_box_append (self->changed_list, row);
    }
}

static void
fill_changed (GembaModelsPage *self, Comparison *c)
{
  g_autofree char *heading = NULL;
  guint n_fixed, n_broken;

  g_object_set_data (G_OBJECT (self->changed_list), "more-row", NULL);
  clear_container (GTK_WIDGET (self->changed_list));
  gemba_comparison_count_changes (c, &n_fixed, &n_broken);
  g_clear_pointer (&self->changed, g_ptr_array_unref);
  self->changed = g_steal_pointer (&c->changed);
  self->n_rows = 0;
  g_free (self->name_a);
  g_free (self->name_b);
  self->name_a = g_strdup (c->a->name);
  self->name_b = g_strdup (c->b->name);
  if (!self->changed)
    {
      gtk_widget_set_visible (GTK_WIDGET (self->changed_heading), FALSE);
      gtk_widget_set_visible (GTK_WIDGET (self->changed_list), FALSE);
      return;
    }
  add_changed_rows (self);
  if (self->changed->len == 0)
    heading = g_strdup_printf (_("No frame’s verdict differs between %s and %s."),
                               c->a->name, c->b->name);
  else
    heading = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                            "%u frame’s verdict differs: %u now right, %u now "
                                            "wrong. Activate one to open it.",
                                            "%u frames’ verdicts differ: %u now right, %u now "
                                            "wrong. Activate one to open it.",
                                            self->changed->len),
                               self->changed->len, n_fixed, n_broken);
  gtk_label_set_label (self->changed_heading, heading);
  gtk_widget_set_visible (GTK_WIDGET (self->changed_heading), TRUE);
  gtk_widget_set_visible (GTK_WIDGET (self->changed_list), self->changed->len > 0);
}

/* Cancels *@job (its callback then touches no page) and unbinds the page from it. */
static void
stop_job (GembaJob **job, GBinding **binding)
{
  if (binding && *binding)
    {
      g_binding_unbind (*binding);
      g_clear_object (binding);
    }
  if (*job)
    gemba_job_cancel (*job);
  g_clear_object (job);
}

static void
update_buttons (GembaModelsPage *self)
{
  GembaModelRecord *b = model_at (self, self->b_dropdown);
  gboolean busy = self->promote_job != NULL;
  g_autofree char *promote = NULL;
  g_autofree char *export = NULL;
  g_autofree char *promote_refused = NULL;
  g_autofree char *export_refused = NULL;

  if (!busy)
    {
      promote = b ? g_strdup_printf (b->production ? _("%s Is in Production")
                                                   : _("_Promote %s to Production"), b->name)
                  : g_strdup (_("_Promote to Production"));
      gtk_button_set_label (GTK_BUTTON (self->promote_button), promote);
    }
  /* In a team project the server refuses these to an annotator: say so before a click. */
  promote_refused = gemba_project_dup_refusal (self->project, GEMBA_ROLE_ENGINEER,
                                               _("promoting a model"));
  export_refused = gemba_project_dup_refusal (self->project, GEMBA_ROLE_ENGINEER,
                                              _("exporting a package"));
  gtk_widget_set_sensitive (self->promote_button,
                            b && !b->production && !busy && !promote_refused);
  gtk_widget_set_tooltip_text (self->promote_button, promote_refused);
  export = b ? g_strdup_printf (_("_Export %s…"), b->name) : g_strdup (_("_Export Package…"));
  gtk_button_set_label (GTK_BUTTON (self->export_button), export);
  gtk_widget_set_sensitive (self->export_button, b != NULL && !busy && !export_refused);
  gtk_widget_set_tooltip_text (self->export_button, export_refused);
}

static void
compared_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  Comparison *c = gemba_project_compare_finish (GEMBA_PROJECT (object), result, &error);
  GembaModelsPage *self;

  /* A comparison replaced by another, or of a page gone: cancelled, and no page touched. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = GEMBA_MODELS_PAGE (user_data);
  if (!c)
    {
      gtk_label_set_label (self->summary_label, error->message);
      return;
    }
  if (c->change)
    gtk_label_set_label (self->summary_label, c->change);
  else if (c->eb)
    {
      g_autofree char *acc_a = format_percent (gemba_metrics_accuracy (c->ea->metrics));
      g_autofree char *acc_b = format_percent (gemba_metrics_accuracy (c->eb->metrics));
      g_autofree char *text = g_strdup_printf (_("On the same %u test frames, %s is right on "
                                                 "%s and %s on %s."), c->eb->metrics->total,
                                               c->b->name, acc_b, c->a->name, acc_a);
      gtk_label_set_label (self->summary_label, text);
    }
  else
    {
      g_autofree char *acc = format_percent (gemba_metrics_accuracy (c->ea->metrics));
      g_autofree char *text = g_strdup_printf (_("%s is right on %s of %u test frames. Choose "
                                                 "another version to compare it with."),
                                               c->a->name, acc, c->ea->metrics->total);
      gtk_label_set_label (self->summary_label, text);
    }
  fill_metrics (self, c);
  set_confusion (self->confusion_a, c->a, c->ea);
  set_confusion (self->confusion_b, c->b, c->eb);
  fill_changed (self, c);
  gemba_probe_log ("models-compared", "a=%" PRId64 " b=%" PRId64
                   " changed=%u", c->a->id, c->b->id, self->changed ? self->changed->len : 0);
  gemba_comparison_free (c);
}

static void
compare (GembaModelsPage *self)
{
  GembaModelRecord *a = model_at (self, self->a_dropdown);
  GembaModelRecord *b = model_at (self, self->b_dropdown);

  update_buttons (self);
  if (!a || !b || !self->project)
    return;
  stop_job (&self->compare_job, &self->spinner_binding);
  gtk_label_set_label (self->summary_label, _("Classifying the test frames with both "
                                              "versions…"));
  self->compare_job = gemba_project_compare_async (self->project, a->id, b->id, compared_cb,
                                                   self);
  self->spinner_binding = g_object_ref (g_object_bind_property (self->compare_job, "running",
                                                                self->spinner, "spinning",
                                                                G_BINDING_SYNC_CREATE));
}

static GtkWidget *
model_row (GembaModelsPage *self, GembaModelRecord *m)
{
  GtkWidget *row = adw_action_row_new ();
  g_autoptr(GDateTime) when = g_date_time_new_from_unix_local (m->created_at / G_USEC_PER_SEC);
  g_autofree char *date = g_date_time_format (when, "%x %H:%M");
  g_autofree char *lineage = NULL;
  g_autofree char *acc = format_percent (m->test_accuracy);
  g_autofree char *subtitle = NULL;
  g_autofree char *title = NULL;

  if (m->parent_id)
    {
      GembaModelRecord *parent = NULL;
      for (guint i = 0; i < self->models->len; i++)
        if (((GembaModelRecord *) g_ptr_array_index (self->models, i))->id == m->parent_id)
          parent = g_ptr_array_index (self->models, i);
      lineage = g_strdup_printf (_("fine-tuned from %s"),
                                 parent ? parent->name : _("a deleted version"));
    }
  else
    lineage = g_strdup_printf (_("new %s"), m->architecture);
  title = m->production ? g_strdup_printf (_("%s · production"), m->name) : g_strdup (m->name);
  /* e.g. "fine-tuned from Model 1 · 28/11/26 21:10\n166 training frames · test accuracy
   * 97.8 %" */
  subtitle = g_strdup_printf (_("%s · %s\n%" PRId64 " training frames · test "
                                "accuracy %s"), lineage, date, m->n_train, acc);
  adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
  adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), title);
  adw_action_row_set_subtitle (ADW_ACTION_ROW (row), subtitle);
  adw_action_row_set_subtitle_lines (ADW_ACTION_ROW (row), 2);
  if (m->production)
    {
      GtkWidget *icon = gtk_image_new_from_icon_name ("starred-symbolic");
      gtk_widget_set_tooltip_text (icon, _("Production"));
      gtk_widget_add_css_class (icon, "accent");
      adw_action_row_add_prefix (ADW_ACTION_ROW (row), icon);
    }
  return row;
}

/* The version production is compared with when production itself is shown: the one it
 * replaced in a promotion made here, else the one it was fine-tuned from, else the newest other. */
static guint
reference_for_production (GembaModelsPage *self, guint production)
{
  GembaModelRecord *p = g_ptr_array_index (self->models, production);
  guint parent = G_MAXUINT, other = G_MAXUINT;

  for (guint i = 0; i < self->models->len; i++)
    {
      GembaModelRecord *m = g_ptr_array_index (self->models, i);

      if (i == production)
        continue;
      if (self->replaced_id && m->id == self->replaced_id)
        return i;
      if (m->id == p->parent_id)
        parent = i;
      if (other == G_MAXUINT)
        other = i;
    }
  return parent != G_MAXUINT ? parent : other;
}

static void
fill_models (GembaModelsPage *self)
{
  g_autoptr(GtkStringList) names = gtk_string_list_new (NULL);
  guint a = 0, b = 0;
  gboolean found_select = FALSE;

  self->filling = TRUE;
  clear_container (GTK_WIDGET (self->model_list));
  self->production_id = 0;
  for (guint i = 0; i < self->models->len; i++)
    {
      GembaModelRecord *m = g_ptr_array_index (self->models, i);
      g_autofree char *name = m->production ? g_strdup_printf (_("%s (production)"), m->name)
                                            : g_strdup (m->name);

      gtk_string_list_append (names, name);
      gtk_list_box_append (self->model_list, model_row (self, m));
      if (m->production)
        {
          self->production_id = m->id;
          a = i;
        }
      if (self->select_id && m->id == self->select_id)
        {
          b = i;
          found_select = TRUE;
        }
    }
  if (!found_select)
    {
      /* The newest version that is not production, else production itself. */
      b = a;
      for (guint i = 0; i < self->models->len; i++)
        if (!((GembaModelRecord *) g_ptr_array_index (self->models, i))->production)
          {
            b = i;
            break;
          }
    }
  if (self->production_id == 0 && self->models->len > 1)
    a = b == 0 ? 1 : 0;
  else if (a == b && self->models->len > 1)
    a = reference_for_production (self, b);
  gtk_drop_down_set_model (self->a_dropdown, G_LIST_MODEL (names));
  gtk_drop_down_set_model (self->b_dropdown, G_LIST_MODEL (names));
  gtk_drop_down_set_selected (self->a_dropdown, a);
  gtk_drop_down_set_selected (self->b_dropdown, b);
  gtk_list_box_select_row (self->model_list, gtk_list_box_get_row_at_index (self->model_list, b));
  self->filling = FALSE;
  gtk_stack_set_visible_child_name (self->stack, "models");
  compare (self);
}

static void
listed_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *models = gemba_project_job_finish (GEMBA_PROJECT (object), result, &error);
  GembaModelsPage *self;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = GEMBA_MODELS_PAGE (user_data);
  g_clear_pointer (&self->models, g_ptr_array_unref);
  if (!models)
    {
      adw_status_page_set_title (ADW_STATUS_PAGE (gtk_stack_get_child_by_name (self->stack,
                                                                               "empty")),
                                 _("Could Not Read the Models"));
      adw_status_page_set_description (ADW_STATUS_PAGE (gtk_stack_get_child_by_name (self->stack,
                                                                                     "empty")),
                                       error->message);
      gtk_stack_set_visible_child_name (self->stack, "empty");
      return;
    }
  self->models = models;
  if (gemba_probe_enabled ())
    {
      gint64 production = 0;

      for (guint i = 0; i < models->len; i++)
        {
          const GembaModelRecord *m = g_ptr_array_index (models, i);

          if (m->production)
            production = m->id;
        }
      gemba_probe_log ("models-listed", "n=%u production=%" G_GINT64_FORMAT, models->len,
                       production);
    }
  if (models->len == 0)
    {
      gtk_stack_set_visible_child_name (self->stack, "empty");
      return;
    }
  fill_models (self);
}

/* --- Frame window ------------------------------------------------------------------------- */

static void
open_changed_frame (GembaModelsPage *self, guint index)
{
  g_autoptr(GListStore) store = g_list_store_new (GEMBA_TYPE_FRAME_ITEM);
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  g_autofree char *title = NULL;
  GtkWidget *window;

  for (guint i = 0; i < self->changed->len; i++)
    {
      ChangedFrame *cf = g_ptr_array_index (self->changed, i);
      g_autoptr(GembaFrameItem) item = gemba_frame_item_new (cf->frame->id);
      gemba_frame_item_set_frame (item, gemba_frame_copy (cf->frame));
      g_list_store_append (store, item);
    }
  title = g_strdup_printf (_("Changed Verdicts: %s against %s"),
                           gtk_string_object_get_string (GTK_STRING_OBJECT (
                             gtk_drop_down_get_selected_item (self->b_dropdown))),
                           gtk_string_object_get_string (GTK_STRING_OBJECT (
                             gtk_drop_down_get_selected_item (self->a_dropdown))));
  window = gemba_frame_window_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                   self->project, G_LIST_MODEL (store), index, title);
  gtk_window_present (GTK_WINDOW (window));
  gemba_probe_log ("changed-frame-opened", "index=%u", index);
}

/* --- Callbacks ---------------------------------------------------------------------------- */

static void
model_selected_cb (GembaModelsPage *self, GtkListBoxRow *row)
{
  if (self->filling || !row)
    return;
  gtk_drop_down_set_selected (self->b_dropdown, gtk_list_box_row_get_index (row));
}

static void
dropdown_changed_cb (GtkDropDown *dropdown, GParamSpec *pspec, GembaModelsPage *self)
{
  GembaModelRecord *b;

  if (self->filling)
    return;
  b = model_at (self, self->b_dropdown);
  if (b && b->id != self->select_id)
    {
      self->select_id = b->id;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED_MODEL]);
    }
  if (dropdown == self->b_dropdown)
    {
      self->filling = TRUE;
      gtk_list_box_select_row (self->model_list,
                               gtk_list_box_get_row_at_index (self->model_list,
                                                              gtk_drop_down_get_selected (dropdown)));
      self->filling = FALSE;
    }
  compare (self);
}

static void
changed_activated_cb (GembaModelsPage *self, GtkListBoxRow *row)
{
  guint index = GPOINTER_TO_UINT (g_object_get_data (G_OBJECT (row), "changed-index"));

  if (!self->changed)
    return;
  if (index == G_MAXUINT)
    add_changed_rows (self);
  else
    open_changed_frame (self, index);
}

static void
promoted_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaModelsPage) self = user_data;
  g_autoptr(GError) error = NULL;
  gint64 n = gemba_project_promote_finish (GEMBA_PROJECT (object), result, &error);

  /* The project, having emitted ::production-changed, reloads this page through
   * models_changed_cb (it compares the new production with the one before from now on). */
  if (self->promote_binding)
    g_binding_unbind (self->promote_binding);
  g_clear_object (&self->promote_binding);
  g_clear_object (&self->promote_job);
  if (n < 0)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        gtk_label_set_label (self->summary_label, error->message);
      update_buttons (self);
      return;
    }
  gemba_probe_log ("promoted", "model=%" PRId64, self->select_id);
}

/* The project's model-added and production-changed: the new version becomes the one compared
 * with production; reloaded now if shown, else when shown. */
static void
models_changed_cb (GembaModelsPage *self, gint64 model_id)
{
  if (model_id && model_id != self->select_id)
    {
      self->select_id = model_id;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED_MODEL]);
    }
  reload (self);
}

static void
promote_clicked_cb (GembaModelsPage *self)
{
  GembaModelRecord *b = model_at (self, self->b_dropdown);

  if (!b || b->production || self->promote_job || !self->project)
    return;
  self->select_id = b->id;
  self->replaced_id = self->production_id;
  self->promote_job = gemba_project_promote_async (self->project, b->id, promoted_cb,
                                                   g_object_ref (self));
  update_buttons (self);
  gtk_button_set_label (GTK_BUTTON (self->promote_button), _("Classifying frames…"));
  /* "Classifying frames: N of M" on the button while it runs. */
  self->promote_binding = g_object_ref (g_object_bind_property (self->promote_job, "message",
                                                                self->promote_button, "label",
                                                                G_BINDING_DEFAULT));
  gemba_probe_log ("promote-started", "model=%" PRId64, b->id);
}

static void
export_clicked_cb (GembaModelsPage *self)
{
  GembaModelRecord *b = model_at (self, self->b_dropdown);
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkWidget *dialog;

  if (!b || !self->project)
    return;
  dialog = gemba_export_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                    self->project, b->id, b->name);
  gtk_window_present (GTK_WINDOW (dialog));
}

/* --- Overrides ---------------------------------------------------------------------------- */

static void
gemba_models_page_map (GtkWidget *widget)
{
  GembaModelsPage *self = GEMBA_MODELS_PAGE (widget);

  GTK_WIDGET_CLASS (gemba_models_page_parent_class)->map (widget);
  if (self->stale)
    reload (self);
}

static void
gemba_models_page_dispose (GObject *object)
{
  GembaModelsPage *self = GEMBA_MODELS_PAGE (object);
  GtkWidget *child;

  stop_job (&self->list_job, NULL);
  stop_job (&self->compare_job, &self->spinner_binding);
  stop_job (&self->promote_job, &self->promote_binding);
  g_clear_object (&self->project);
  g_clear_pointer (&self->models, g_ptr_array_unref);
  g_clear_pointer (&self->changed, g_ptr_array_unref);
  gtk_widget_dispose_template (GTK_WIDGET (self), GEMBA_TYPE_MODELS_PAGE);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))))
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (gemba_models_page_parent_class)->dispose (object);
}

static void
gemba_models_page_finalize (GObject *object)
{
  GembaModelsPage *self = GEMBA_MODELS_PAGE (object);

  g_free (self->name_a);
  g_free (self->name_b);
  G_OBJECT_CLASS (gemba_models_page_parent_class)->finalize (object);
}

static void
gemba_models_page_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GembaModelsPage *self = GEMBA_MODELS_PAGE (object);

  if (prop_id == PROP_PROJECT)
    g_value_set_object (value, self->project);
  else if (prop_id == PROP_SELECTED_MODEL)
    g_value_set_int64 (value, self->select_id);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
}

static void
gemba_models_page_set_property (GObject *object, guint prop_id, const GValue *value,
                                GParamSpec *pspec)
{
  if (prop_id == PROP_PROJECT)
    gemba_models_page_set_project (GEMBA_MODELS_PAGE (object), g_value_get_object (value));
  else if (prop_id == PROP_SELECTED_MODEL)
    gemba_models_page_set_selected_model (GEMBA_MODELS_PAGE (object), g_value_get_int64 (value));
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
}

static void
gemba_models_page_class_init (GembaModelsPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = gemba_models_page_dispose;
  object_class->get_property = gemba_models_page_get_property;
  object_class->set_property = gemba_models_page_set_property;

  /* The open project, bound to the window's (NULL when none is open). */
  properties[PROP_PROJECT] =
    g_param_spec_object ("project", NULL, NULL, GEMBA_TYPE_PROJECT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  /* The version compared with production (0: the newest that is not production). Setting it
   * reads the versions again, now if the page is shown, else when it is. */
  properties[PROP_SELECTED_MODEL] =
    g_param_spec_int64 ("selected-model", NULL, NULL, 0, G_MAXINT64, 0,
                        G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  object_class->finalize = gemba_models_page_finalize;
  widget_class->map = gemba_models_page_map;
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_BASE_PATH "/gemba-models-page.ui");
  gtk_widget_class_bind_template_child (widget_class, GembaModelsPage, stack);
  gtk_widget_class_bind_template_child (widget_class, GembaModelsPage, model_list);
  gtk_widget_class_bind_template_child (widget_class, GembaModelsPage, a_dropdown);
  gtk_widget_class_bind_template_child (widget_class, GembaModelsPage, b_dropdown);
  gtk_widget_class_bind_template_child (widget_class, GembaModelsPage, spinner);
  gtk_widget_class_bind_template_child (widget_class, GembaModelsPage, export_button);
  gtk_widget_class_bind_template_child (widget_class, GembaModelsPage, promote_button);
  gtk_widget_class_bind_template_child (widget_class, GembaModelsPage, compare_box);
  gtk_widget_class_bind_template_child (widget_class, GembaModelsPage, summary_label);
  gtk_widget_class_bind_template_child (widget_class, GembaModelsPage, metrics_grid);
  gtk_widget_class_bind_template_child (widget_class, GembaModelsPage, confusion_box);
  gtk_widget_class_bind_template_child (widget_class, GembaModelsPage, changed_heading);
  gtk_widget_class_bind_template_child (widget_class, GembaModelsPage, changed_list);
  gtk_widget_class_bind_template_callback (widget_class, model_selected_cb);
  gtk_widget_class_bind_template_callback (widget_class, changed_activated_cb);
  gtk_widget_class_bind_template_callback (widget_class, promote_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, export_clicked_cb);
}

static void
gemba_models_page_init (GembaModelsPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->confusion_a = GEMBA_CONFUSION_VIEW (gemba_confusion_view_new ());
  self->confusion_b = GEMBA_CONFUSION_VIEW (gemba_confusion_view_new ());
  gtk_box_append (GTK_BOX (self->confusion_box), GTK_WIDGET (self->confusion_a));
  gtk_box_append (GTK_BOX (self->confusion_box), GTK_WIDGET (self->confusion_b));
  g_signal_connect (self->a_dropdown, "notify::selected", G_CALLBACK (dropdown_changed_cb),
                    self);
  g_signal_connect (self->b_dropdown, "notify::selected", G_CALLBACK (dropdown_changed_cb),
                    self);
  gemba_locator_watch (self->promote_button, "models.promote");
  gemba_locator_watch (self->export_button, "models.export");
  gemba_locator_watch (GTK_WIDGET (self->a_dropdown), "models.a");
  gemba_locator_watch (GTK_WIDGET (self->b_dropdown), "models.b");
  update_buttons (self);
}

void
gemba_models_page_set_project (GembaModelsPage *self, GembaProject *project)
{
  g_return_if_fail (GEMBA_IS_MODELS_PAGE (self));
  if (self->project == project)
    return;

  stop_job (&self->list_job, NULL);
  stop_job (&self->compare_job, &self->spinner_binding);
  stop_job (&self->promote_job, &self->promote_binding);
  if (self->project)
    g_signal_handlers_disconnect_by_data (self->project, self);
  g_set_object (&self->project, project);
  if (project)
    {
      g_signal_connect_object (project, "production-changed", G_CALLBACK (models_changed_cb),
                               self, G_CONNECT_SWAPPED);
      g_signal_connect_object (project, "model-added", G_CALLBACK (models_changed_cb), self,
                               G_CONNECT_SWAPPED);
    }
  g_clear_pointer (&self->models, g_ptr_array_unref);
  g_clear_pointer (&self->changed, g_ptr_array_unref);
  self->select_id = 0;
  gtk_stack_set_visible_child_name (self->stack, "empty");
  gemba_locator_watch_switcher (GTK_WIDGET (self));
  update_buttons (self);
  reload (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROJECT]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED_MODEL]);
}

gint64
gemba_models_page_get_selected_model (GembaModelsPage *self)
{
  g_return_val_if_fail (GEMBA_IS_MODELS_PAGE (self), 0);
  return self->select_id;
}

void
gemba_models_page_set_selected_model (GembaModelsPage *self, gint64 model_id)
{
  g_return_if_fail (GEMBA_IS_MODELS_PAGE (self));

  if (model_id != self->select_id)
    {
      self->select_id = model_id;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SELECTED_MODEL]);
    }
  reload (self);
}

/* Reads the versions again and compares :selected-model with production; comparing classifies
 * the test frames and builds rows, so not while nobody looks: then when shown. */
static void
reload (GembaModelsPage *self)
{
  if (!self->project)
    return;
  if (!gtk_widget_get_mapped (GTK_WIDGET (self)))
    {
      self->stale = TRUE;
      return;
    }
  self->stale = FALSE;
  stop_job (&self->list_job, NULL);
  self->list_job = gemba_project_list_models_async (self->project, listed_cb, self);
}
