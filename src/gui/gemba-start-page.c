/* gemba-start-page.c: what the workbench shows without a project
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-start-page.h"
#include "gemba-store.h"

struct _GembaStartPage
{
  GtkWidget parent_instance;

  GtkWidget *open_button;
  GtkWidget *recent_heading;
  GtkListBox *recent_list;

  GSettings *settings;
  gulong changed_id;
};

G_DEFINE_FINAL_TYPE (GembaStartPage, gemba_start_page, GTK_TYPE_WIDGET)

static void
fill_recent (GembaStartPage *self)
{
  g_auto(GStrv) recent = g_settings_get_strv (self->settings, "recent-projects");
  GtkWidget *child;
  guint n = 0;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->recent_list))))
    gtk_list_box_remove (self->recent_list, child);
  for (guint i = 0; recent[i] && n < 8; i++)
    {
      g_autofree char *name = NULL;
      GtkWidget *row;

      if (!gemba_store_is_project (recent[i]))
        continue;
      name = g_path_get_basename (recent[i]);
      row = adw_action_row_new ();
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row), name);
      adw_preferences_row_set_use_markup (ADW_PREFERENCES_ROW (row), FALSE);
      adw_action_row_set_subtitle (ADW_ACTION_ROW (row), recent[i]);
      adw_action_row_add_suffix (ADW_ACTION_ROW (row),
                                 gtk_image_new_from_icon_name ("go-next-symbolic"));
      gtk_list_box_row_set_activatable (GTK_LIST_BOX_ROW (row), TRUE);
      gtk_actionable_set_action_name (GTK_ACTIONABLE (row), "win.open-path");
      gtk_actionable_set_action_target (GTK_ACTIONABLE (row), "s", recent[i]);
      gtk_list_box_append (self->recent_list, row);
      n++;
    }
  gtk_widget_set_visible (self->recent_heading, n > 0);
  gtk_widget_set_visible (GTK_WIDGET (self->recent_list), n > 0);
}

static void
recent_changed_cb (GSettings *settings, const char *key, GembaStartPage *self)
{
  fill_recent (self);
}

static void
gemba_start_page_dispose (GObject *object)
{
  GembaStartPage *self = GEMBA_START_PAGE (object);
  GtkWidget *child;

  if (self->settings)
    g_clear_signal_handler (&self->changed_id, self->settings);
  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), GEMBA_TYPE_START_PAGE);
  /* Template children that are not bound are still ours to unparent. */
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))))
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (gemba_start_page_parent_class)->dispose (object);
}

static void
gemba_start_page_class_init (GembaStartPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = gemba_start_page_dispose;
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_BASE_PATH "/gemba-start-page.ui");
  gtk_widget_class_bind_template_child (widget_class, GembaStartPage, open_button);
  gtk_widget_class_bind_template_child (widget_class, GembaStartPage, recent_heading);
  gtk_widget_class_bind_template_child (widget_class, GembaStartPage, recent_list);
}

static void
gemba_start_page_init (GembaStartPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

void
gemba_start_page_set_settings (GembaStartPage *self, GSettings *settings)
{
  g_return_if_fail (GEMBA_IS_START_PAGE (self));

  g_set_object (&self->settings, settings);
  self->changed_id = g_signal_connect (settings, "changed::recent-projects",
                                       G_CALLBACK (recent_changed_cb), self);
  fill_recent (self);
}

void
gemba_start_page_focus_default (GembaStartPage *self)
{
  g_return_if_fail (GEMBA_IS_START_PAGE (self));
  gtk_widget_grab_focus (self->open_button);
}
