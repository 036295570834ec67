/* gemba-preferences.c: the preferences window (annotator name, thumbnail size, preload depth)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-preferences.h"

struct _GembaPreferences
{
  AdwPreferencesWindow parent_instance;

  AdwEntryRow *annotator_row;
  GtkSpinButton *thumbnail_spin;
  GtkSpinButton *preload_spin;

  GSettings *settings;
};

G_DEFINE_FINAL_TYPE (GembaPreferences, gemba_preferences, ADW_TYPE_PREFERENCES_WINDOW)

static void
annotator_applied_cb (AdwEntryRow *row, GembaPreferences *self)
{
  g_autofree char *name = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (row))));

  /* Applied on Enter only: a half-typed name must not end up in the history. */
  g_settings_set_string (self->settings, "annotator-name", name);
}

static void
gemba_preferences_dispose (GObject *object)
{
  GembaPreferences *self = GEMBA_PREFERENCES (object);

  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), GEMBA_TYPE_PREFERENCES);
  G_OBJECT_CLASS (gemba_preferences_parent_class)->dispose (object);
}

static void
gemba_preferences_class_init (GembaPreferencesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = gemba_preferences_dispose;
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_BASE_PATH "/gemba-preferences.ui");
  gtk_widget_class_bind_template_child (widget_class, GembaPreferences, annotator_row);
  gtk_widget_class_bind_template_child (widget_class, GembaPreferences, thumbnail_spin);
  gtk_widget_class_bind_template_child (widget_class, GembaPreferences, preload_spin);
}

static void
gemba_preferences_init (GembaPreferences *self)
{
  g_autofree char *name = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->settings = g_settings_new ("dev.gemba.Workbench");
  name = g_settings_get_string (self->settings, "annotator-name");
  gtk_editable_set_text (GTK_EDITABLE (self->annotator_row), name);
  /* Translators: shown in the empty annotator name field. */
  if (!*name)
    gtk_widget_set_tooltip_text (GTK_WIDGET (self->annotator_row),
                                 _("When empty, your user name is used."));
  g_signal_connect (self->annotator_row, "apply", G_CALLBACK (annotator_applied_cb), self);
  /* Enter applies too (in libadwaita 1.2 it only activates). */
  g_signal_connect (self->annotator_row, "entry-activated", G_CALLBACK (annotator_applied_cb),
                    self);
  g_settings_bind (self->settings, "thumbnail-size", self->thumbnail_spin, "value",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "preload-depth", self->preload_spin, "value",
                   G_SETTINGS_BIND_DEFAULT);
}

GtkWindow *
gemba_preferences_new (GtkWindow *parent)
{
  return g_object_new (GEMBA_TYPE_PREFERENCES, "transient-for", parent, NULL);
}
