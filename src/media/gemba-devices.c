#define G_LOG_DOMAIN "gemba-media"
/* gemba-devices.c: the cameras GStreamer can see, and their modes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <glib/gi18n-lib.h>

#include "gemba-devices.h"
#include "gemba-error.h"

void
gemba_device_info_free (GembaDeviceInfo *info)
{
  if (!info)
    return;
  g_free (info->name);
  g_free (info->device_class);
  g_free (info->path);
  g_free (info->provider);
  g_clear_pointer (&info->modes, g_ptr_array_unref);
  gst_clear_object (&info->device);
  g_free (info);
}

static char *
serialize_field (const GstStructure *structure, const char *field)
{
  const GValue *value = gst_structure_get_value (structure, field);
  char *text;

  if (!value)
    return NULL;
  text = gst_value_serialize (value);
  /* "{ (string)YUY2, … }" and "(fraction)30/1" read better without the type names. */
  if (text)
    {
      GString *clean = g_string_new (NULL);
      for (const char *p = text; *p; p++)
        {
          if (*p == '(')
            {
              const char *close = strchr (p, ')');
              if (close && close != p + 1 && g_ascii_isalpha (p[1]))
                {
                  p = close;
                  continue;
                }
            }
          g_string_append_c (clean, *p);
        }
      g_free (text);
      text = g_string_free (clean, FALSE);
    }
  return text;
}

char *
gemba_devices_describe_mode (const GstStructure *structure)
{
  GString *mode = g_string_new (NULL);
  const char *media = gst_structure_get_name (structure);
  g_autofree char *format = serialize_field (structure, "format");
  g_autofree char *width = serialize_field (structure, "width");
  g_autofree char *height = serialize_field (structure, "height");
  g_autofree char *rate = serialize_field (structure, "framerate");

  if (g_str_equal (media, "image/jpeg"))
    g_string_append (mode, "MJPG");
  else if (g_str_equal (media, "video/x-raw") && format)
    g_string_append (mode, format);
  else
    g_string_append (mode, media);
  if (width && height)
    g_string_append_printf (mode, " %s×%s", width, height);
  if (rate)
    g_string_append_printf (mode, _(" %s fps"), rate);
  return g_string_free (mode, FALSE);
}

static char *
device_path (GstDevice *device)
{
  g_autoptr(GstStructure) props = gst_device_get_properties (device);
  static const char * const keys[] = { "device.path", "api.v4l2.path", "object.path" };

  if (!props)
    return NULL;
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      const char *value = gst_structure_get_string (props, keys[i]);
      if (value && g_str_has_prefix (value, "/dev/"))
        return g_strdup (value);
    }
  return NULL;
}

GPtrArray *
gemba_devices_list (GError **error)
{
  g_autoptr(GstDeviceMonitor) monitor = NULL;
  GPtrArray *result;
  GList *devices;
  GError *local = NULL;

  if (!gst_is_initialized () && !gst_init_check (NULL, NULL, &local))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                   _("GStreamer cannot start: %s"), local->message);
      g_error_free (local);
      return NULL;
    }

  monitor = gst_device_monitor_new ();
  gst_device_monitor_add_filter (monitor, "Video/Source", NULL);
  result = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_device_info_free);
  /* Without start() only providers that can probe synchronously answer; start() makes every
   * provider list what it has. It fails when no provider can run at all: then none exist. */
  if (!gst_device_monitor_start (monitor))
    return result;
  devices = gst_device_monitor_get_devices (monitor);
  gst_device_monitor_stop (monitor);

  for (GList *l = devices; l; l = l->next)
    {
      GstDevice *device = l->data;
      GembaDeviceInfo *info = g_new0 (GembaDeviceInfo, 1);
      g_autoptr(GstCaps) caps = gst_device_get_caps (device);
      g_autoptr(GstStructure) props = gst_device_get_properties (device);

      info->name = gst_device_get_display_name (device);
      info->device_class = gst_device_get_device_class (device);
      info->path = device_path (device);
      if (props && gst_structure_get_string (props, "device.api"))
        info->provider = g_strdup (gst_structure_get_string (props, "device.api"));
      info->modes = g_ptr_array_new_with_free_func (g_free);
      for (guint i = 0; caps && i < gst_caps_get_size (caps); i++)
        {
          char *mode = gemba_devices_describe_mode (gst_caps_get_structure (caps, i));
          gboolean seen = FALSE;
          for (guint j = 0; j < info->modes->len && !seen; j++)
            seen = g_str_equal (info->modes->pdata[j], mode);
          if (seen)
            g_free (mode);
          else
            g_ptr_array_add (info->modes, mode);
        }
      info->device = gst_object_ref (device);
      g_ptr_array_add (result, info);
    }
  g_list_free_full (devices, gst_object_unref);
  return result;
}

GembaDeviceInfo *
gemba_devices_find (const char *name_or_path, GError **error)
{
  g_autoptr(GPtrArray) devices = gemba_devices_list (error);

  if (!devices)
    return NULL;
  for (guint i = 0; i < devices->len; i++)
    {
      GembaDeviceInfo *info = devices->pdata[i];
      if (g_strcmp0 (info->name, name_or_path) == 0 || g_strcmp0 (info->path, name_or_path) == 0)
        return g_ptr_array_steal_index (devices, i);
    }
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
               _("There is no camera “%s” (see “gemba devices”)"), name_or_path);
  return NULL;
}
