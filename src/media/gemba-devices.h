/* gemba-devices.h: the cameras GStreamer can see, and their modes
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * GembaDeviceInfo:
 * @name: what the system calls it ("HD Pro Webcam C920")
 * @device_class: GStreamer's class ("Video/Source")
 * @path: the device node ("/dev/video0") when known, else NULL
 * @provider: the monitor that found it ("v4l2deviceprovider", "pipewiredeviceprovider")
 * @modes: each mode as "MJPG 1920×1080 30/1 fps" (array of char*)
 * @device: the GstDevice, for gemba_frame_source_new_for_device()
 */
typedef struct {
  char *name;
  char *device_class;
  char *path;
  char *provider;
  GPtrArray *modes;
  GstDevice *device;
} GembaDeviceInfo;

void gemba_device_info_free (GembaDeviceInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaDeviceInfo, gemba_device_info_free)

/* Every video source GstDeviceMonitor finds now (array of GembaDeviceInfo), possibly empty. */
GPtrArray *gemba_devices_list (GError **error);

/* One mode of a camera's caps structure, as listed in GembaDeviceInfo.modes. */
char *gemba_devices_describe_mode (const GstStructure *structure);

/* The device whose name or path is @name_or_path, or NULL with GEMBA_ERROR_NOT_FOUND. */
GembaDeviceInfo *gemba_devices_find (const char *name_or_path, GError **error);

G_END_DECLS
