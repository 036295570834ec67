/* gemba-capture-page.c: capture frames from a camera, a stream or a video file
 *
 * The capture is the project's import job (gemba_project_import_async(): gemba_media_import()
 * in a worker thread on a connection of the project's): the source's streaming thread decides
 * with the sampler, encoder threads make the JPEGs and one writer thread stores them. The source gives RGBA frames, so the newest one doubles as the
 * live preview: a main-thread timer copies it (gemba_frame_source_dup_latest_frame) into a
 * GdkMemoryTexture when its serial changed; Debian 12 has no GTK 4 video sink, and no GTK
 * call is made off the main thread. Frames stored are counted on the writer thread and come
 * with the job's ::progress; the project tells the grid at most once a second.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <inttypes.h>
#include <glib/gi18n.h>

#include "gemba-capture-page.h"
#include "gemba-locator.h"
#include "gemba-media.h"
#include "gemba-probe.h"

#define PREVIEW_INTERVAL_MS 100
#define STALL_SECONDS 2

struct _GembaCapturePage
{
  GtkWidget parent_instance;

  AdwComboRow *source_row;
  AdwEntryRow *location_row;
  AdwComboRow *mode_row;
  AdwActionRow *interval_row;
  GtkSpinButton *interval_spin;
  AdwActionRow *scene_row;
  GtkSpinButton *scene_spin;
  GtkWidget *start_button;
  GtkWidget *stop_button;
  GtkWidget *snapshot_button;
  GtkLabel *count_label;
  GtkLabel *state_label;
  GtkStack *preview_stack;
  GtkPicture *preview;
  GtkWidget *drop_label;
  GObject *paintable;              /* PreviewPaintable */

  GembaProject *project;
  GPtrArray *devices;            /* GembaDeviceInfo */
  GCancellable *device_cancellable;
  GembaJob *job;                 /* the capture's; NULL when idle */
  GembaFrameSource *source;
  GtkNativeDialog *chooser;
  guint preview_id;
  guint64 preview_serial;
  gint64 last_frame_time;        /* µs monotonic, when the preview last changed */
  gint64 last_state_time;        /* µs monotonic, when the state line was last written */
  gint64 n_session;              /* frames stored this session (all captures) */
  gint64 n_run_base;             /* n_session when this capture started */
  GembaMediaProgress last_progress;
  gboolean live;
};

G_DEFINE_FINAL_TYPE (GembaCapturePage, gemba_capture_page, GTK_TYPE_WIDGET)

/* --- Preview paintable -------------------------------------------------------------------- */

/* The newest frame as a paintable whose contents change and whose size only changes with the
 * stream's: a new texture per frame through gtk_picture_set_paintable() would relayout the
 * page 15–30 times a second. */
#define PREVIEW_TYPE_PAINTABLE (preview_paintable_get_type ())
G_DECLARE_FINAL_TYPE (PreviewPaintable, preview_paintable, PREVIEW, PAINTABLE, GObject)

struct _PreviewPaintable
{
  GObject parent_instance;
  GdkTexture *texture;
};

static void
preview_paintable_snapshot (GdkPaintable *paintable, GdkSnapshot *snapshot, double width,
                            double height)
{
  PreviewPaintable *self = PREVIEW_PAINTABLE (paintable);

  if (self->texture)
    gdk_paintable_snapshot (GDK_PAINTABLE (self->texture), snapshot, width, height);
}

static int
preview_paintable_get_intrinsic_width (GdkPaintable *paintable)
{
  PreviewPaintable *self = PREVIEW_PAINTABLE (paintable);

  return self->texture ? gdk_texture_get_width (self->texture) : 0;
}

static int
preview_paintable_get_intrinsic_height (GdkPaintable *paintable)
{
  PreviewPaintable *self = PREVIEW_PAINTABLE (paintable);

  return self->texture ? gdk_texture_get_height (self->texture) : 0;
}

static void
preview_paintable_iface_init (GdkPaintableInterface *iface)
{
  iface->snapshot = preview_paintable_snapshot;
  iface->get_intrinsic_width = preview_paintable_get_intrinsic_width;
  iface->get_intrinsic_height = preview_paintable_get_intrinsic_height;
}

G_DEFINE_FINAL_TYPE_WITH_CODE (PreviewPaintable, preview_paintable, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (GDK_TYPE_PAINTABLE,
                                                      preview_paintable_iface_init))

static void
preview_paintable_finalize (GObject *object)
{
  g_clear_object (&PREVIEW_PAINTABLE (object)->texture);
  G_OBJECT_CLASS (preview_paintable_parent_class)->finalize (object);
}

static void
preview_paintable_class_init (PreviewPaintableClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = preview_paintable_finalize;
}

static void
preview_paintable_init (PreviewPaintable *self)
{
}

/* Takes @texture. */
static void
preview_paintable_set_texture (PreviewPaintable *self, GdkTexture *texture)
{
  gboolean resized = !self->texture || !texture ||
                     gdk_texture_get_width (self->texture) != gdk_texture_get_width (texture) ||
                     gdk_texture_get_height (self->texture) != gdk_texture_get_height (texture);

  g_clear_object (&self->texture);
  self->texture = texture;
  if (resized)
    gdk_paintable_invalidate_size (GDK_PAINTABLE (self));
  gdk_paintable_invalidate_contents (GDK_PAINTABLE (self));
}

/* --- Worker ------------------------------------------------------------------------------- */

static void
list_devices_thread (GTask *task, gpointer source, gpointer task_data,
                     GCancellable *cancellable)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *devices = gemba_devices_list (&error);

  if (!devices)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, devices, (GDestroyNotify) g_ptr_array_unref);
}

/* --- Helpers ------------------------------------------------------------------------------ */

static gboolean
location_selected (GembaCapturePage *self)
{
  guint n = self->devices ? self->devices->len : 0;

  return adw_combo_row_get_selected (self->source_row) >= n;
}

static void
update_count (GembaCapturePage *self)
{
  g_autofree char *text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                                        "%" PRId64 " frame captured "
                                                        "this session",
                                                        "%" PRId64 " frames captured "
                                                        "this session",
                                                        self->n_session),
                                           self->n_session);
  gtk_label_set_label (self->count_label, text);
}

static void
update_rows (GembaCapturePage *self)
{
  guint mode = adw_combo_row_get_selected (self->mode_row);
  gboolean running = self->job != NULL;

  gtk_widget_set_visible (GTK_WIDGET (self->location_row), location_selected (self));
  gtk_widget_set_visible (GTK_WIDGET (self->interval_row), mode == 1);
  gtk_widget_set_visible (GTK_WIDGET (self->scene_row), mode == 2);
  gtk_widget_set_visible (self->start_button, !running);
  gtk_widget_set_visible (self->stop_button, running);
  gtk_widget_set_sensitive (self->snapshot_button, running);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "capture.snapshot", running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->source_row), !running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->location_row), !running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->mode_row), !running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->interval_row), !running);
  gtk_widget_set_sensitive (GTK_WIDGET (self->scene_row), !running);
}

/* The capture job's ::progress. */
static void
apply_update (GembaCapturePage *self, const GembaProjectImportProgress *update)
{
  gint64 session = self->n_run_base + update->stored;

  if (session != self->n_session)
    {
      self->n_session = session;
      update_count (self);
      gemba_probe_log ("capture-stored", "n=%" PRId64, self->n_session);
    }
  if (update->is_progress)
    {
      if (update->progress.reconnects != self->last_progress.reconnects)
        gemba_probe_log ("capture-reconnected", "n=%u", update->progress.reconnects);
      self->last_progress = update->progress;
    }
}

static gboolean
preview_tick_cb (gpointer data)
{
  GembaCapturePage *self = data;
  g_autoptr(GstSample) sample = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *state = NULL;
  guint64 serial = 0;
  guint width, height;
  gsize stride;
  gint64 now = g_get_monotonic_time ();

  if (!self->source)
    {
      self->preview_id = 0;
      return G_SOURCE_REMOVE;
    }
  sample = gemba_frame_source_dup_latest_sample (self->source, &serial);
  if (sample && serial != self->preview_serial &&
      (bytes = gemba_frame_source_dup_latest_frame (self->source, &width, &height, &stride,
                                                    NULL)))
    {
      texture = gdk_memory_texture_new (width, height, GDK_MEMORY_R8G8B8A8, bytes, stride);
      preview_paintable_set_texture (PREVIEW_PAINTABLE (self->paintable),
                                     g_steal_pointer (&texture));
      gtk_stack_set_visible_child_name (self->preview_stack, "preview");
      if (self->preview_serial == 0)
        gemba_probe_log ("capture-preview", "width=%u height=%u", width, height);
      self->preview_serial = serial;
      self->last_frame_time = now;
    }

  /* The state line: what the stream is doing now, once a second (a label that changes
   * relayouts the page, and changing numbers are hard to read). */
  if (self->last_state_time && now - self->last_state_time < G_USEC_PER_SEC)
    return G_SOURCE_CONTINUE;
  self->last_state_time = now;
  if (self->last_frame_time == 0)
    state = g_strdup_printf (_("Connecting to %s…"),
                             gemba_frame_source_get_display_name (self->source));
  else if (self->live && now - self->last_frame_time > STALL_SECONDS * G_USEC_PER_SEC)
    state = g_strdup_printf (_("No picture from %s for %d s: the stream dropped. Reconnecting…"),
                             gemba_frame_source_get_display_name (self->source),
                             (int) ((now - self->last_frame_time) / G_USEC_PER_SEC));
  else
    {
      const GembaMediaProgress *p = &self->last_progress;
      g_autofree char *seen = g_strdup_printf (_("%s: %" PRId64 " frames seen, %"
                                                 PRId64 " kept"),
                                               gemba_frame_source_get_display_name (self->source),
                                               p->seen, p->kept);
      if (p->reconnects > 0)
        state = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                              "%s; reconnected %u time (%.1f s lost)",
                                              "%s; reconnected %u times (%.1f s lost)",
                                              p->reconnects),
                                 seen, p->reconnects, p->gap_time / 1e6);
      else
        state = g_steal_pointer (&seen);
    }
  gtk_label_set_label (self->state_label, state);
  /* A dropped stream says so over the frozen picture too. */
  gtk_widget_set_visible (gtk_widget_get_parent (self->drop_label),
                          self->live && self->last_frame_time != 0 &&
                          now - self->last_frame_time > STALL_SECONDS * G_USEC_PER_SEC);
  if (gtk_widget_get_visible (gtk_widget_get_parent (self->drop_label)))
    gtk_label_set_label (GTK_LABEL (self->drop_label), state);
  return G_SOURCE_CONTINUE;
}

static void
capture_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GembaCapturePage) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree GembaMediaProgress *summary = gemba_project_import_finish (GEMBA_PROJECT (object),
                                                                        result, &error);
  g_autofree char *text = NULL;
  const char *name = self->source ? gemba_frame_source_get_display_name (self->source) : "";

  if (self->job)
    g_signal_handlers_disconnect_by_data (self->job, self);
  g_clear_object (&self->job);
  if (summary)
    {
      gint64 session = self->n_run_base + summary->stored;
      if (session > self->n_session)
        self->n_session = session;
      update_count (self);
      text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE,
                                           "Stopped. %s: %" PRId64 " new frame stored.",
                                           "Stopped. %s: %" PRId64 " new frames stored.",
                                           summary->stored),
                              name, summary->stored);
      gemba_probe_log ("capture-done", "stored=%" PRId64 " seen=%" PRId64
                       " reconnects=%u", summary->stored, summary->seen, summary->reconnects);
    }
  else
    {
      text = g_strdup_printf (_("The capture stopped: %s (the %" PRId64 " frames "
                                "stored before are kept)"), error->message,
                              self->n_session - self->n_run_base);
      gemba_probe_log ("capture-failed", NULL);
    }
  g_clear_handle_id (&self->preview_id, g_source_remove);
  g_clear_object (&self->source);
  gtk_widget_set_visible (gtk_widget_get_parent (self->drop_label), FALSE);
  gtk_label_set_label (self->state_label, text);
  update_rows (self);
  gtk_widget_grab_focus (self->start_button);
}

/* --- Callbacks ---------------------------------------------------------------------------- */

static void
start_clicked_cb (GembaCapturePage *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaFrameSource) source = NULL;
  GembaSampler *sampler;
  guint selected = adw_combo_row_get_selected (self->source_row);
  guint mode = adw_combo_row_get_selected (self->mode_row);
  GembaFrameSourceKind kind;

  if (!self->project || self->job)
    return;
  if (!location_selected (self))
    {
      GembaDeviceInfo *info = g_ptr_array_index (self->devices, selected);
      source = gemba_frame_source_new_for_device (info->device, &error);
    }
  else
    {
      g_autofree char *location = g_strstrip (g_strdup (gtk_editable_get_text (
                                               GTK_EDITABLE (self->location_row))));
      if (!*location)
        {
          gtk_label_set_label (self->state_label,
                               _("Type a stream URL (rtsp://…, http://…) or a video file, or "
                                 "choose one with the button."));
          gtk_widget_grab_focus (GTK_WIDGET (self->location_row));
          return;
        }
      source = gemba_frame_source_new (location, &error);
    }
  if (!source)
    {
      gtk_label_set_label (self->state_label, error->message);
      return;
    }
  gemba_frame_source_set_pixel_format (source, GEMBA_PIXEL_RGBA);
  kind = gemba_frame_source_get_kind (source);
  self->live = kind == GEMBA_FRAME_SOURCE_CAMERA || kind == GEMBA_FRAME_SOURCE_STREAM;

  if (mode == 1)
    sampler = gemba_sampler_new_interval ((gint64) (gtk_spin_button_get_value (self->interval_spin)
                                                    * 1e9));
  else if (mode == 2)
    sampler = gemba_sampler_new_scene_change (gtk_spin_button_get_value (self->scene_spin) / 100);
  else
    sampler = gemba_sampler_new_manual ();

  self->source = g_steal_pointer (&source);
  self->job = gemba_project_import_async (self->project, self->source, sampler, capture_done_cb,
                                          g_object_ref (self));
  g_signal_connect_object (self->job, "progress", G_CALLBACK (apply_update), self,
                           G_CONNECT_SWAPPED);
  self->preview_serial = 0;
  self->last_frame_time = 0;
  self->last_state_time = 0;
  self->n_run_base = self->n_session;
  memset (&self->last_progress, 0, sizeof self->last_progress);
  self->preview_id = g_timeout_add (PREVIEW_INTERVAL_MS, preview_tick_cb, self);
  preview_tick_cb (self);
  update_rows (self);
  gtk_widget_grab_focus (self->snapshot_button);
  gemba_probe_log ("capture-started", "kind=%s live=%d",
                   gemba_frame_source_get_kind_name (self->source), self->live);
}

static void
stop_clicked_cb (GembaCapturePage *self)
{
  if (!self->source)
    return;
  /* Stop, not cancel: what was kept is stored and the run ends normally. */
  gemba_frame_source_stop (self->source);
  gtk_label_set_label (self->state_label, _("Stopping…"));
  gemba_probe_log ("capture-stop-clicked", NULL);
}

static void
action_snapshot (GtkWidget *widget, const char *name, GVariant *param)
{
  GembaCapturePage *self = GEMBA_CAPTURE_PAGE (widget);

  if (!self->source)
    return;
  gemba_frame_source_snapshot (self->source);
  gemba_probe_log ("capture-snapshot", NULL);
}

static void
chooser_response_cb (GtkNativeDialog *dialog, int response, GembaCapturePage *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = g_file_get_path (file);
      if (path)
        gtk_editable_set_text (GTK_EDITABLE (self->location_row), path);
    }
  g_clear_object (&self->chooser);
}

static void
browse_clicked_cb (GembaCapturePage *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  GtkFileChooserNative *chooser;
  g_autoptr(GtkFileFilter) filter = gtk_file_filter_new ();

  chooser = gtk_file_chooser_native_new (_("Choose a Video File"),
                                         GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                         GTK_FILE_CHOOSER_ACTION_OPEN, _("_Choose"),
                                         _("_Cancel"));
  gtk_file_filter_set_name (filter, _("Videos"));
  gtk_file_filter_add_mime_type (filter, "video/*");
  gtk_file_chooser_add_filter (GTK_FILE_CHOOSER (chooser), filter);
  g_signal_connect (chooser, "response", G_CALLBACK (chooser_response_cb), self);
  g_clear_object (&self->chooser);
  self->chooser = GTK_NATIVE_DIALOG (chooser);
  gtk_native_dialog_show (self->chooser);
}

static void
rows_changed_cb (GObject *object, GParamSpec *pspec, GembaCapturePage *self)
{
  update_rows (self);
}

static void
devices_listed_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *devices = g_task_propagate_pointer (G_TASK (result), &error);
  g_autoptr(GtkStringList) list = gtk_string_list_new (NULL);
  GembaCapturePage *self;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_clear_pointer (&devices, g_ptr_array_unref);
      return;
    }
  self = GEMBA_CAPTURE_PAGE (user_data);
  g_clear_object (&self->device_cancellable);
  g_clear_pointer (&self->devices, g_ptr_array_unref);
  self->devices = devices;
  for (guint i = 0; devices && i < devices->len; i++)
    {
      GembaDeviceInfo *info = g_ptr_array_index (devices, i);
      g_autofree char *text = info->path ? g_strdup_printf ("%s (%s)", info->name, info->path)
                                         : g_strdup (info->name);
      gtk_string_list_append (list, text);
    }
  gtk_string_list_append (list, _("Stream or video file"));
  adw_combo_row_set_model (self->source_row, G_LIST_MODEL (list));
  adw_combo_row_set_selected (self->source_row, 0);
  if (!devices || devices->len == 0)
    adw_action_row_set_subtitle (ADW_ACTION_ROW (self->source_row), error ? error->message
                                                        : _("GStreamer sees no camera"));
  else
    adw_action_row_set_subtitle (ADW_ACTION_ROW (self->source_row), NULL);
  update_rows (self);
  gemba_probe_log ("capture-devices", "n=%u", devices ? devices->len : 0);
}

/* --- Overrides ---------------------------------------------------------------------------- */

static void
stop_capture (GembaCapturePage *self)
{
  if (self->job)
    gemba_job_cancel (self->job);
  if (self->source)
    gemba_frame_source_stop (self->source);
}

static void
gemba_capture_page_dispose (GObject *object)
{
  GembaCapturePage *self = GEMBA_CAPTURE_PAGE (object);
  GtkWidget *child;

  stop_capture (self);
  if (self->job)
    g_signal_handlers_disconnect_by_data (self->job, self);
  g_clear_object (&self->job);
  if (self->device_cancellable)
    g_cancellable_cancel (self->device_cancellable);
  g_clear_object (&self->device_cancellable);
  g_clear_handle_id (&self->preview_id, g_source_remove);
  g_clear_object (&self->source);
  if (self->chooser)
    gtk_native_dialog_destroy (self->chooser);
  g_clear_object (&self->chooser);
  g_clear_object (&self->project);
  g_clear_pointer (&self->devices, g_ptr_array_unref);
  g_clear_object (&self->paintable);
  gtk_widget_dispose_template (GTK_WIDGET (self), GEMBA_TYPE_CAPTURE_PAGE);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))))
    gtk_widget_unparent (child);
  G_OBJECT_CLASS (gemba_capture_page_parent_class)->dispose (object);
}

/* GstDeviceMonitor loads GStreamer's registry and probes every device: list the cameras once,
 * off the main thread, and only when the page is first shown, so that opening a project for
 * labeling never pays for it. */
static void
list_devices (GembaCapturePage *self)
{
  g_autoptr(GTask) task = NULL;

  if (!self->project || self->devices || self->device_cancellable)
    return;
  self->device_cancellable = g_cancellable_new ();
  task = g_task_new (NULL, self->device_cancellable, devices_listed_cb, self);
  g_task_set_source_tag (task, list_devices);
  g_task_run_in_thread (task, list_devices_thread);
}

static void
gemba_capture_page_map (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (gemba_capture_page_parent_class)->map (widget);
  list_devices (GEMBA_CAPTURE_PAGE (widget));
}

enum { PROP_0, PROP_PROJECT, N_PROPS };
static GParamSpec *properties[N_PROPS];

static void
gemba_capture_page_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GembaProject *project = GEMBA_CAPTURE_PAGE (object)->project;

  if (prop_id == PROP_PROJECT)
    g_value_set_object (value, project);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
}

static void
gemba_capture_page_set_property (GObject *object, guint prop_id, const GValue *value,
                                 GParamSpec *pspec)
{
  if (prop_id == PROP_PROJECT)
    gemba_capture_page_set_project (GEMBA_CAPTURE_PAGE (object), g_value_get_object (value));
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
}

static void
gemba_capture_page_class_init (GembaCapturePageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = gemba_capture_page_dispose;
  object_class->get_property = gemba_capture_page_get_property;
  object_class->set_property = gemba_capture_page_set_property;

  /* The open project, bound to the window's (NULL when none is open). */
  properties[PROP_PROJECT] =
    g_param_spec_object ("project", NULL, NULL, GEMBA_TYPE_PROJECT,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  widget_class->map = gemba_capture_page_map;
  gtk_widget_class_set_template_from_resource (widget_class,
                                               RESOURCE_BASE_PATH "/gemba-capture-page.ui");
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, source_row);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, location_row);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, mode_row);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, interval_row);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, interval_spin);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, scene_row);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, scene_spin);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, start_button);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, stop_button);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, snapshot_button);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, count_label);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, state_label);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, preview_stack);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, preview);
  gtk_widget_class_bind_template_child (widget_class, GembaCapturePage, drop_label);
  gtk_widget_class_bind_template_callback (widget_class, start_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, stop_clicked_cb);
  gtk_widget_class_bind_template_callback (widget_class, browse_clicked_cb);
  gtk_widget_class_install_action (widget_class, "capture.snapshot", NULL, action_snapshot);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_s, 0, "capture.snapshot", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_S, GDK_SHIFT_MASK,
                                       "capture.snapshot", NULL);
}

static void
gemba_capture_page_init (GembaCapturePage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->paintable = g_object_new (PREVIEW_TYPE_PAINTABLE, NULL);
  gtk_picture_set_paintable (self->preview, GDK_PAINTABLE (self->paintable));
  g_signal_connect (self->source_row, "notify::selected", G_CALLBACK (rows_changed_cb), self);
  g_signal_connect (self->mode_row, "notify::selected", G_CALLBACK (rows_changed_cb), self);
  gemba_locator_watch (GTK_WIDGET (self->source_row), "capture.source");
  gemba_locator_watch (GTK_WIDGET (self->location_row), "capture.location");
  gemba_locator_watch (GTK_WIDGET (self->mode_row), "capture.mode");
  gemba_locator_watch (GTK_WIDGET (self->interval_spin), "capture.interval");
  gemba_locator_watch (self->start_button, "capture.start");
  gemba_locator_watch (self->stop_button, "capture.stop");
  gemba_locator_watch (self->snapshot_button, "capture.snapshot");
  update_count (self);
  update_rows (self);
}

void
gemba_capture_page_set_project (GembaCapturePage *self, GembaProject *project)
{
  g_return_if_fail (GEMBA_IS_CAPTURE_PAGE (self));
  if (self->project == project)
    return;

  stop_capture (self);
  g_set_object (&self->project, project);
  self->n_session = 0;
  update_count (self);
  gtk_label_set_label (self->state_label, "");
  gtk_stack_set_visible_child_name (self->preview_stack, "idle");
  update_rows (self);
  if (gtk_widget_get_mapped (GTK_WIDGET (self)))
    list_devices (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROJECT]);
}

gboolean
gemba_capture_page_is_running (GembaCapturePage *self)
{
  g_return_val_if_fail (GEMBA_IS_CAPTURE_PAGE (self), FALSE);
  return self->job != NULL;
}
