/* gemba-frame-source.h: decoded frames from a camera, a stream, a video file or a pipeline
 *
 * A GembaFrameSource wraps one GStreamer pipeline that ends in an appsink giving packed RGB
 * (or RGBA, for a preview) frames. gemba_frame_source_run() plays it on the calling thread
 * until the end of the video, an error, gemba_frame_source_stop() or cancellation. Each
 * decoded frame goes to the frame function on GStreamer's streaming thread. The newest frame
 * is also kept for a live preview, readable from any thread.
 *
 * Network streams (rtsp://, http://, …) that drop after they played are reconnected with
 * back-off; the gap is reported through the "reconnected" signal and frame numbers go on
 * counting.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <gst/gst.h>

G_BEGIN_DECLS

typedef enum {
  GEMBA_FRAME_SOURCE_VIDEO,     /* a video file */
  GEMBA_FRAME_SOURCE_CAMERA,    /* a local camera: v4l2, a GstDevice */
  GEMBA_FRAME_SOURCE_STREAM,    /* a network stream or any other URI */
  GEMBA_FRAME_SOURCE_PIPELINE,  /* a gst-launch pipeline description */
} GembaFrameSourceKind;

typedef enum {
  GEMBA_PIXEL_RGB,   /* 3 bytes per pixel: frames to store */
  GEMBA_PIXEL_RGBA,  /* 4 bytes per pixel: what gdk_memory_texture_new() takes fastest */
  GEMBA_PIXEL_I420,  /* planar 4:2:0 YUV, what most decoders give: no conversion at all */
} GembaPixelFormat;

/**
 * GembaVideoFrame:
 * One decoded frame, valid only during the frame function call (ref @sample to keep it).
 */
typedef struct {
  const guint8 *pixels;  /* RGB, RGBA, or for I420 the luma plane */
  guint width;
  guint height;
  gsize stride;          /* bytes per row */
  guint bpp;             /* 3 (RGB), 4 (RGBA) or 1 (I420: @pixels is the grey Y plane) */
  const guint8 *planes[3];   /* I420: Y, U, V */
  gsize strides[3];
  gboolean limited_range;    /* I420: Y 16–235 (video range) */
  gboolean bt709;            /* I420: BT.709 matrix (else BT.601) */
  gint64 stream_time;    /* ns: the video's timestamp; for live sources since capture began */
  gint64 frame_number;   /* 0, 1, 2 … counted across reconnections */
  gint64 captured_at;    /* µs since the epoch, UTC */
  gboolean snapshot;     /* gemba_frame_source_snapshot() asked for this frame */
  GstSample *sample;
} GembaVideoFrame;

#define GEMBA_TYPE_FRAME_SOURCE (gemba_frame_source_get_type ())
G_DECLARE_FINAL_TYPE (GembaFrameSource, gemba_frame_source, GEMBA, FRAME_SOURCE, GObject)

typedef void (*GembaFrameFunc) (GembaFrameSource *source, const GembaVideoFrame *frame,
                                gpointer user_data);

/* From what a user types: a video file path, a URI (file://, rtsp://, http://, …),
 * v4l2:///dev/video0, or a /dev/video* path. Checks that a file exists and the URI parses;
 * nothing is opened yet. */
GembaFrameSource *gemba_frame_source_new (const char *location, GError **error);
/* A file, even one whose name looks like a URI. */
GembaFrameSource *gemba_frame_source_new_for_file (const char *path, GError **error);
GembaFrameSource *gemba_frame_source_new_for_uri (const char *uri, GError **error);
/* A camera found by GstDeviceMonitor (see gemba-devices.h). */
GembaFrameSource *gemba_frame_source_new_for_device (GstDevice *device, GError **error);
/* A gst-launch description whose one unlinked source pad gives video, e.g.
 * "videotestsrc num-buffers=100 ! videoconvert". A malformed description fails here. */
GembaFrameSource *gemba_frame_source_new_for_pipeline (const char *description,
                                                       GError **error);

GembaFrameSourceKind gemba_frame_source_get_kind (GembaFrameSource *self);
/* "video", "camera", "stream" or "pipeline", as the store records it. */
const char *gemba_frame_source_get_kind_name (GembaFrameSource *self);
/* The file path, URI, device name or pipeline description. */
const char *gemba_frame_source_get_location (GembaFrameSource *self);
/* A short name for the source list: the file's base name, the device name, the host… */
const char *gemba_frame_source_get_display_name (GembaFrameSource *self);

/* Before run(): pixel format of the frames (default RGB). */
void gemba_frame_source_set_pixel_format (GembaFrameSource *self, GembaPixelFormat format);
GembaPixelFormat gemba_frame_source_get_pixel_format (GembaFrameSource *self);
/* Before run(): called on the streaming thread for every frame. */
void gemba_frame_source_set_frame_func (GembaFrameSource *self, GembaFrameFunc func,
                                        gpointer user_data, GDestroyNotify destroy);
/* Seconds to wait for the first frame of a live source (default 10), for a reconnected one
 * after a drop (default 60), and the silence after which a playing network stream counts as
 * dropped (default 5). */
void gemba_frame_source_set_timeouts (GembaFrameSource *self, guint start_seconds,
                                      guint reconnect_seconds, guint stall_seconds);

/* Plays until the end (TRUE), gemba_frame_source_stop() (TRUE), cancellation (FALSE,
 * G_IO_ERROR_CANCELLED) or an error (FALSE): an error names the file or URI, and for a video
 * the stream time where it broke; a missing GStreamer plug-in is GEMBA_ERROR_UNSUPPORTED and
 * names what is missing. Frames delivered before an error stay delivered. One run at a time. */
gboolean gemba_frame_source_run (GembaFrameSource *self, GCancellable *cancellable,
                                 GError **error);
void gemba_frame_source_run_async (GembaFrameSource *self, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
gboolean gemba_frame_source_run_finish (GembaFrameSource *self, GAsyncResult *result,
                                        GError **error);
/* Any thread: ends run() after the current frame, as at the end of a video. */
void gemba_frame_source_stop (GembaFrameSource *self);

/* Any thread: the next frame is flagged as a snapshot (kept by every sampler). */
void gemba_frame_source_snapshot (GembaFrameSource *self);

/* Any thread: the newest frame, or NULL before the first. The sample holds a buffer of the
 * pixel format chosen (packed rows of @stride bytes); turn it into a GdkTexture on the GUI
 * thread. @serial grows with every frame, so a preview can skip frames it has shown. */
GstSample *gemba_frame_source_dup_latest_sample (GembaFrameSource *self, guint64 *serial);
/* The same as bytes: @width × @height pixels, rows of @stride bytes. */
GBytes *gemba_frame_source_dup_latest_frame (GembaFrameSource *self, guint *width,
                                             guint *height, gsize *stride, gint64 *stream_time);

/* Whether the source is live (a camera, a stream, a live pipeline): known once frames come. */
gboolean gemba_frame_source_is_live (GembaFrameSource *self);

/* Counters, readable from any thread during and after run(). */
gint64 gemba_frame_source_get_n_frames (GembaFrameSource *self);
guint gemba_frame_source_get_n_reconnects (GembaFrameSource *self);
/* µs of stream lost to drops (sum of the gaps). */
gint64 gemba_frame_source_get_gap_time (GembaFrameSource *self);
/* ns: the video's duration when the container says it, else -1. */
gint64 gemba_frame_source_get_duration (GembaFrameSource *self);

/* Whether GStreamer has the element (e.g. "gtk4paintablesink"); decided at run time. */
gboolean gemba_media_has_element (const char *factory_name);

G_END_DECLS
