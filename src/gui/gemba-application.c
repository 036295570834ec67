/* gemba-application.c: the workbench application
 *
 * `gemba-workbench` reopens the last project (or shows the start page); `gemba-workbench PATH`
 * opens PATH. With GEMBA_SCREENSHOT_DIR or GEMBA_PROBE_LOG set (the GUI tests), two more
 * actions exist, reachable over D-Bus like every application action:
 * app.debug-screenshot('name') renders each open window to DIR/name[-n].png, and
 * app.debug-probe('reset' | 'report:NAME') resets or logs the main-loop stall monitor.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-application.h"
#include "gemba-preferences.h"
#include "gemba-probe.h"
#include "gemba-store.h"
#include "gemba-window.h"

struct _GembaApplication
{
  AdwApplication parent_instance;
};

G_DEFINE_FINAL_TYPE (GembaApplication, gemba_application, ADW_TYPE_APPLICATION)

static GtkWidget *
get_window (GembaApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (GEMBA_IS_WINDOW (window))
    return GTK_WIDGET (window);
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l; l = l->next)
    if (GEMBA_IS_WINDOW (l->data))
      return l->data;
  return g_object_new (GEMBA_TYPE_WINDOW, "application", self, NULL);
}

static void
gemba_application_activate (GApplication *app)
{
  GembaApplication *self = GEMBA_APPLICATION (app);
  gboolean fresh = gtk_application_get_windows (GTK_APPLICATION (self)) == NULL;
  GtkWidget *window = get_window (self);

  if (fresh)
    {
      g_autoptr(GSettings) settings = g_settings_new ("dev.gemba.Workbench");
      g_autofree char *last = g_settings_get_string (settings, "last-project");

      if (*last && gemba_store_is_project (last))
        gtk_widget_activate_action (window, "win.open-path", "s", last);
    }
  gtk_window_present (GTK_WINDOW (window));
}

static void
gemba_application_open (GApplication *app, GFile **files, int n_files, const char *hint)
{
  GtkWidget *window = get_window (GEMBA_APPLICATION (app));
  g_autofree char *path = g_file_get_path (files[0]);

  if (path)
    gtk_widget_activate_action (window, "win.open-path", "s", path);
  gtk_window_present (GTK_WINDOW (window));
}

static void
quit_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GtkApplication *app = user_data;
  GList *windows = g_list_copy (gtk_application_get_windows (app));

  /* Closing each window writes its queued labels first. */
  for (GList *l = windows; l; l = l->next)
    gtk_window_close (l->data);
  g_list_free (windows);
}

static void
about_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  static const char *developers[] = { "The Gemba developers", NULL };

  adw_show_about_window (gtk_application_get_active_window (user_data),
                         "application-name", _("Gemba Workbench"),
                         "application-icon", APP_ID,
                         "version", PACKAGE_VERSION,
                         "comments", _("Review and correct what your inspection cameras’ model "
                                       "sees, then train the next model."),
                         "developers", developers,
                         "license-type", GTK_LICENSE_GPL_3_0,
                         "translator-credits", _("translator-credits"),
                         NULL);
}

static void
preferences_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  GtkWindow *window = gemba_preferences_new (gtk_application_get_active_window (user_data));

  gtk_window_present (window);
}

/* Renders @window to @path; FALSE when it has nothing drawn yet (not mapped, or its layout
 * is being redone), to try again after the next frame. */
static gboolean
save_window_png (GtkWindow *window, const char *path)
{
  int width = gtk_widget_get_width (GTK_WIDGET (window));
  int height = gtk_widget_get_height (GTK_WIDGET (window));
  g_autoptr(GdkPaintable) paintable = NULL;
  GtkSnapshot *snapshot;
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;

  if (!gtk_widget_get_mapped (GTK_WIDGET (window)) || width <= 0 || height <= 0)
    return FALSE;
  paintable = gtk_widget_paintable_new (GTK_WIDGET (window));
  snapshot = gtk_snapshot_new ();
  gdk_paintable_snapshot (paintable, snapshot, width, height);
  node = gtk_snapshot_free_to_node (snapshot);
  if (!node)
    return FALSE;
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (window)), node,
                                         &GRAPHENE_RECT_INIT (0, 0, width, height));
  if (!gdk_texture_save_to_png (texture, path))
    g_warning ("could not save %s", path);
  gemba_probe_log ("screenshot", "path=%s size=%dx%d", path, width, height);
  return TRUE;
}

typedef struct {
  GtkWindow *window;
  char *path;
  GdkFrameClock *clock;
  gulong handler;
  guint attempts;
} PendingShot;

static void
pending_shot_free (PendingShot *shot)
{
  if (shot->handler)
    g_signal_handler_disconnect (shot->clock, shot->handler);
  g_clear_object (&shot->clock);
  g_object_unref (shot->window);
  g_free (shot->path);
  g_free (shot);
}

static void shot_after_paint_cb (GdkFrameClock *clock, PendingShot *shot);

/* Once more at the end of the next frame, when the layout is fresh; a window that never has
 * anything to render within ten seconds is logged, so that a test waiting for its screenshot
 * hears why there is none instead of timing out. */
static gboolean
shot_try (PendingShot *shot)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (GTK_WIDGET (shot->window));

  if (save_window_png (shot->window, shot->path))
    return TRUE;
  if (++shot->attempts > 200)
    {
      gemba_probe_log ("screenshot-failed", "path=%s mapped=%d", shot->path,
                       gtk_widget_get_mapped (GTK_WIDGET (shot->window)));
      return TRUE;
    }
  if (clock && clock != shot->clock)
    {
      if (shot->handler)
        g_signal_handler_disconnect (shot->clock, shot->handler);
      g_set_object (&shot->clock, clock);
      shot->handler = g_signal_connect (clock, "after-paint", G_CALLBACK (shot_after_paint_cb),
                                        shot);
    }
  gtk_widget_queue_draw (GTK_WIDGET (shot->window));
  return FALSE;
}

static void
shot_after_paint_cb (GdkFrameClock *clock, PendingShot *shot)
{
  if (shot_try (shot))
    pending_shot_free (shot);
}

/* Not mapped yet: no frames to wait for, so a timer. */
static gboolean
shot_timeout_cb (gpointer data)
{
  PendingShot *shot = data;

  if (shot->handler)
    return G_SOURCE_REMOVE;     /* frames drive it now */
  if (shot_try (shot))
    {
      pending_shot_free (shot);
      return G_SOURCE_REMOVE;
    }
  return shot->handler ? G_SOURCE_REMOVE : G_SOURCE_CONTINUE;
}

static void
debug_screenshot_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  const char *dir = g_getenv ("GEMBA_SCREENSHOT_DIR");
  const char *name = g_variant_get_string (param, NULL);
  GListModel *toplevels = gtk_window_get_toplevels ();
  guint n = 0;

  if (!dir)
    return;
  g_mkdir_with_parents (dir, 0755);
  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) window = g_list_model_get_item (toplevels, i);
      g_autofree char *file = NULL;
      PendingShot *shot;

      if (!gtk_widget_get_visible (GTK_WIDGET (window)))
        continue;
      file = GEMBA_IS_WINDOW (window) ? g_strdup_printf ("%s.png", name)
                                      : g_strdup_printf ("%s-%u.png", name, ++n);
      shot = g_new0 (PendingShot, 1);
      shot->window = g_object_ref (window);
      shot->path = g_build_filename (dir, file, NULL);
      if (shot_try (shot))
        pending_shot_free (shot);
      else if (!shot->handler)
        g_timeout_add (50, shot_timeout_cb, shot);
    }
}

static void
debug_probe_activated (GSimpleAction *action, GVariant *param, gpointer user_data)
{
  const char *what = g_variant_get_string (param, NULL);

  if (g_str_equal (what, "reset"))
    gemba_probe_stall_reset ();
  else if (g_str_has_prefix (what, "report:"))
    gemba_probe_stall_report (what + 7);
}

static void
gemba_application_startup (GApplication *app)
{
  static const GActionEntry entries[] = {
    { "quit", quit_activated },
    { "about", about_activated },
    { "preferences", preferences_activated },
  };
  static const GActionEntry debug_entries[] = {
    { "debug-screenshot", debug_screenshot_activated, "s" },
    { "debug-probe", debug_probe_activated, "s" },
  };
  static const struct { const char *action; const char *accels[3]; } accels[] = {
    { "app.quit", { "<Control>q", NULL } },
    { "app.preferences", { "<Control>comma", NULL } },
    { "win.undo", { "<Control>z", NULL } },
    { "win.redo", { "<Control><Shift>z", "<Control>y", NULL } },
    { "win.show-grid", { "<Control>g", NULL } },
    { "win.show-frame", { "<Control>Return", NULL } },
    { "win.edit-classes", { "<Control>k", NULL } },
    { "window.close", { "<Control>w", NULL } },
  };

  G_APPLICATION_CLASS (gemba_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (app), entries, G_N_ELEMENTS (entries), app);
  if (g_getenv ("GEMBA_SCREENSHOT_DIR") || gemba_probe_enabled ())
    g_action_map_add_action_entries (G_ACTION_MAP (app), debug_entries,
                                     G_N_ELEMENTS (debug_entries), app);
  for (guint i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (app), accels[i].action,
                                           accels[i].accels);
}

static void
gemba_application_class_init (GembaApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  app_class->activate = gemba_application_activate;
  app_class->open = gemba_application_open;
  app_class->startup = gemba_application_startup;
}

static void
gemba_application_init (GembaApplication *self)
{
}

GembaApplication *
gemba_application_new (void)
{
  return g_object_new (GEMBA_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "resource-base-path", RESOURCE_BASE_PATH,
                       "flags", G_APPLICATION_HANDLES_OPEN,
                       NULL);
}
