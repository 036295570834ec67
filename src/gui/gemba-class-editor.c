/* gemba-class-editor.c: add, rename, recolour, reorder, retire classes and set their keys
 *
 * Every change is one store call on the project's writer thread; the list is rebuilt from the
 * store when the project reports its classes changed, so what is shown is what is saved.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-class-editor.h"

struct _GembaClassEditor
{
  AdwWindow parent_instance;

  AdwToastOverlay *toast_overlay;
  GtkListBox *class_list;
  AdwEntryRow *new_row;

  GembaProject *project;
  gulong classes_id;
  gboolean rebuilding;
};

G_DEFINE_FINAL_TYPE (GembaClassEditor, gemba_class_editor, ADW_TYPE_WINDOW)

typedef enum { OP_ADD, OP_RENAME, OP_COLOR, OP_KEY, OP_MOVE, OP_RETIRE, OP_RESTORE } Op;

typedef struct
{
  Op op;
  gint64 class_id;
  char *text;
  int number;
} Edit;

static void
edit_free (Edit *edit)
{
  g_free (edit->text);
  g_free (edit);
}

static gpointer
edit_func (GembaStore *store, gpointer data, GError **error)
{
  Edit *edit = data;
  gboolean ok = FALSE;

  switch (edit->op)
    {
    case OP_ADD:
      {
        GembaClass *klass = gemba_store_add_class (store, edit->text, NULL, -1, error);
        ok = klass != NULL;
        g_clear_pointer (&klass, gemba_class_free);
      }
      break;
    case OP_RENAME: ok = gemba_store_rename_class (store, edit->class_id, edit->text, error); break;
    case OP_COLOR: ok = gemba_store_set_class_color (store, edit->class_id, edit->text, error); break;
    case OP_KEY: ok = gemba_store_set_class_key (store, edit->class_id, edit->number, error); break;
    case OP_MOVE: ok = gemba_store_move_class (store, edit->class_id, edit->number, error); break;
    case OP_RETIRE:
    case OP_RESTORE:
      ok = gemba_store_set_class_retired (store, edit->class_id, edit->op == OP_RETIRE, error);
      break;
    default:
      g_assert_not_reached ();
    }
  return ok ? GINT_TO_POINTER (1) : NULL;
}

static void
edit_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaClassEditor) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!gemba_project_write_finish (GEMBA_PROJECT (object), result, &error))
    adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (error->message));
  /* Also after an error: the list goes back to what the store holds. */
  gemba_project_reload_classes (GEMBA_PROJECT (object));
}

static void
run_edit (GembaClassEditor *self, Op op, gint64 class_id, const char *text, int number)
{
  Edit *edit = g_new0 (Edit, 1);

  edit->op = op;
  edit->class_id = class_id;
  edit->text = g_strdup (text);
  edit->number = number;
  gemba_project_write_async (self->project, edit_func, edit, (GDestroyNotify) edit_free,
                             edit_done_cb, g_object_ref (self));
}

static gint64
row_class_id (GtkWidget *widget)
{
  GtkWidget *row = gtk_widget_get_ancestor (widget, GTK_TYPE_LIST_BOX_ROW);

  return *(gint64 *) g_object_get_data (G_OBJECT (row), "class-id");
}

static void
rename_applied_cb (AdwEntryRow *row, GembaClassEditor *self)
{
  g_autofree char *name = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (row))));

  if (*name)
    run_edit (self, OP_RENAME, row_class_id (GTK_WIDGET (row)), name, 0);
}

static void
color_set_cb (GtkColorButton *button, GembaClassEditor *self)
{
  GdkRGBA rgba;
  g_autofree char *color = NULL;

  gtk_color_chooser_get_rgba (GTK_COLOR_CHOOSER (button), &rgba);
  color = g_strdup_printf ("#%02x%02x%02x", (int) (rgba.red * 255 + 0.5),
                           (int) (rgba.green * 255 + 0.5), (int) (rgba.blue * 255 + 0.5));
  run_edit (self, OP_COLOR, row_class_id (GTK_WIDGET (button)), color, 0);
}

static void
key_selected_cb (GtkDropDown *dropdown, GParamSpec *pspec, GembaClassEditor *self)
{
  guint selected = gtk_drop_down_get_selected (dropdown);

  /* Items: "None", "1" … "9", "0". */
  if (self->rebuilding)
    return;
  run_edit (self, OP_KEY, row_class_id (GTK_WIDGET (dropdown)), NULL,
            selected == 0 ? -1 : selected == 10 ? 0 : (int) selected);
}

static void
move_clicked_cb (GtkButton *button, GembaClassEditor *self)
{
  int position = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "position"));

  run_edit (self, OP_MOVE, row_class_id (GTK_WIDGET (button)), NULL, position);
}

static void
retire_clicked_cb (GtkButton *button, GembaClassEditor *self)
{
  gboolean retired = GPOINTER_TO_INT (g_object_get_data (G_OBJECT (button), "retired"));

  run_edit (self, retired ? OP_RESTORE : OP_RETIRE, row_class_id (GTK_WIDGET (button)), NULL, 0);
}

static void
new_applied_cb (AdwEntryRow *row, GembaClassEditor *self)
{
  g_autofree char *name = g_strstrip (g_strdup (gtk_editable_get_text (GTK_EDITABLE (row))));

  if (!*name)
    return;
  run_edit (self, OP_ADD, 0, name, 0);
  gtk_editable_set_text (GTK_EDITABLE (row), "");
}

static GtkWidget *
icon_button (const char *icon, const char *tooltip)
{
  GtkWidget *button = gtk_button_new_from_icon_name (icon);

  gtk_widget_set_tooltip_text (button, tooltip);
  gtk_widget_set_valign (button, GTK_ALIGN_CENTER);
  gtk_widget_add_css_class (button, "flat");
  return button;
}

static void
rebuild (GembaClassEditor *self)
{
  GPtrArray *classes = gemba_project_get_classes (self->project);
  const char *keys[] = { NULL, "1", "2", "3", "4", "5", "6", "7", "8", "9", "0", NULL };
  GtkWidget *child;

  keys[0] = _("No key");
  self->rebuilding = TRUE;
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->class_list))))
    gtk_list_box_remove (self->class_list, child);
  for (guint i = 0; i < classes->len; i++)
    {
      const GembaClass *klass = g_ptr_array_index (classes, i);
      GtkWidget *row = adw_entry_row_new ();
      GtkWidget *color, *key, *up, *down, *retire;
      GdkRGBA rgba;

      g_object_set_data_full (G_OBJECT (row), "class-id",
                              g_memdup2 (&klass->id, sizeof klass->id), g_free);
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (row),
                                     klass->retired ? _("Name (retired)") : _("Name"));
      gtk_editable_set_text (GTK_EDITABLE (row), klass->name);
      adw_entry_row_set_show_apply_button (ADW_ENTRY_ROW (row), TRUE);
      g_signal_connect (row, "apply", G_CALLBACK (rename_applied_cb), self);
      /* Enter applies too (in libadwaita 1.2 it only activates). */
      g_signal_connect (row, "entry-activated", G_CALLBACK (rename_applied_cb), self);

      color = gtk_color_button_new ();
      if (gdk_rgba_parse (&rgba, klass->color))
        gtk_color_chooser_set_rgba (GTK_COLOR_CHOOSER (color), &rgba);
      gtk_widget_set_tooltip_text (color, _("Colour"));
      gtk_widget_set_valign (color, GTK_ALIGN_CENTER);
      g_signal_connect (color, "color-set", G_CALLBACK (color_set_cb), self);
      adw_entry_row_add_prefix (ADW_ENTRY_ROW (row), color);

      key = gtk_drop_down_new_from_strings (keys);
      gtk_drop_down_set_selected (GTK_DROP_DOWN (key),
                                  klass->key < 0 ? 0 : klass->key == 0 ? 10 : (guint) klass->key);
      gtk_widget_set_tooltip_text (key, _("Number key"));
      gtk_widget_set_valign (key, GTK_ALIGN_CENTER);
      g_signal_connect (key, "notify::selected", G_CALLBACK (key_selected_cb), self);
      adw_entry_row_add_suffix (ADW_ENTRY_ROW (row), key);

      up = icon_button ("go-up-symbolic", _("Move up"));
      g_object_set_data (G_OBJECT (up), "position", GINT_TO_POINTER (MAX (0, klass->position - 1)));
      gtk_widget_set_sensitive (up, i > 0);
      g_signal_connect (up, "clicked", G_CALLBACK (move_clicked_cb), self);
      adw_entry_row_add_suffix (ADW_ENTRY_ROW (row), up);

      down = icon_button ("go-down-symbolic", _("Move down"));
      g_object_set_data (G_OBJECT (down), "position", GINT_TO_POINTER (klass->position + 1));
      gtk_widget_set_sensitive (down, i + 1 < classes->len);
      g_signal_connect (down, "clicked", G_CALLBACK (move_clicked_cb), self);
      adw_entry_row_add_suffix (ADW_ENTRY_ROW (row), down);

      retire = gtk_button_new_with_label (klass->retired ? _("Restore") : _("Retire"));
      gtk_widget_set_valign (retire, GTK_ALIGN_CENTER);
      g_object_set_data (G_OBJECT (retire), "retired", GINT_TO_POINTER (klass->retired));
      g_signal_connect (retire, "clicked", G_CALLBACK (retire_clicked_cb), self);
      adw_entry_row_add_suffix (ADW_ENTRY_ROW (row), retire);

      if (klass->retired)
        gtk_widget_add_css_class (row, "dim-label");
      gtk_list_box_append (self->class_list, row);
    }
  self->rebuilding = FALSE;
  /* In a team project only an owner may change the classes: say so rather than fail. */
  {
    g_autofree char *refused = gemba_project_dup_refusal (self->project, GEMBA_ROLE_OWNER,
                                                          _("changing the classes"));
    gtk_widget_set_sensitive (GTK_WIDGET (self->class_list), refused == NULL);
    gtk_widget_set_sensitive (GTK_WIDGET (self->new_row), refused == NULL);
    gtk_widget_set_tooltip_text (GTK_WIDGET (self->class_list), refused);
    gtk_widget_set_tooltip_text (GTK_WIDGET (self->new_row), refused);
  }
}

static void
classes_changed_cb (GembaProject *project, GembaClassEditor *self)
{
  rebuild (self);
}

static void
gemba_class_editor_dispose (GObject *object)
{
  GembaClassEditor *self = GEMBA_CLASS_EDITOR (object);

  if (self->project)
    g_clear_signal_handler (&self->classes_id, self->project);
  g_clear_object (&self->project);
  gtk_widget_dispose_template (GTK_WIDGET (self), GEMBA_TYPE_CLASS_EDITOR);
  G_OBJECT_CLASS (gemba_class_editor_parent_class)->dispose (object);
}

static void
gemba_class_editor_class_init (GembaClassEditorClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = gemba_class_editor_dispose;
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_BASE_PATH "/gemba-class-editor.ui");
  gtk_widget_class_bind_template_child (widget_class, GembaClassEditor, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, GembaClassEditor, class_list);
  gtk_widget_class_bind_template_child (widget_class, GembaClassEditor, new_row);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
gemba_class_editor_init (GembaClassEditor *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  g_signal_connect (self->new_row, "apply", G_CALLBACK (new_applied_cb), self);
  g_signal_connect (self->new_row, "entry-activated", G_CALLBACK (new_applied_cb), self);
}

GtkWindow *
gemba_class_editor_new (GtkWindow *parent, GembaProject *project)
{
  GembaClassEditor *self = g_object_new (GEMBA_TYPE_CLASS_EDITOR, "transient-for", parent,
                                         NULL);

  self->project = g_object_ref (project);
  self->classes_id = g_signal_connect (project, "classes-changed",
                                       G_CALLBACK (classes_changed_cb), self);
  rebuild (self);
  /* Adding a class is what the editor is opened for most. */
  gtk_widget_grab_focus (GTK_WIDGET (self->new_row));
  return GTK_WINDOW (self);
}
