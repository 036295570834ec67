#define G_LOG_DOMAIN "gemba-media"
/* gemba-frame-source.c: decoded frames from a camera, a stream, a video file or a pipeline
 *
 * The pipeline is   <source> ! videoconvert ! appsink caps=video/x-raw,format=RGB
 * where <source> is uridecodebin (files and URIs), or an element (v4l2src, a GstDevice's
 * element, a parsed description) followed by decodebin. run() polls the bus on the calling
 * thread; frames arrive on the streaming thread through appsink's new-sample callback.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>
#include <inttypes.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <gst/app/gstappsink.h>
#include <gst/pbutils/pbutils.h>
#include <gst/video/video.h>

#include "gemba-error.h"
#include "gemba-frame-source.h"

#define BUS_POLL_MS 50
#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS 8000
/* A video whose last frame is this much before the duration its container states was cut. */
#define TRUNCATION_SLACK_NS (GST_SECOND / 2)

struct _GembaFrameSource
{
  GObject parent_instance;

  GembaFrameSourceKind kind;
  char *location;
  char *display_name;
  char *uri;               /* uridecodebin's, or NULL */
  char *v4l2_device;       /* v4l2src's, or NULL */
  char *description;       /* a pipeline's, or NULL */
  GstDevice *device;       /* or NULL */
  gboolean network;        /* reconnect after drops */
  gboolean always_live;    /* rtsp://, udp://, …: live whatever the state change says */
  gint64 file_time;        /* µs: a video file's modification time, 0 otherwise */

  GembaPixelFormat format;
  GembaFrameFunc func;
  gpointer func_data;
  GDestroyNotify func_destroy;
  guint start_timeout;
  guint reconnect_timeout;
  guint stall_timeout;

  gint running;
  gint stop_requested;
  gint snapshot_requested;

  /* Under lock: written by the streaming thread, read by any. */
  GMutex lock;
  GstSample *latest;
  guint64 serial;
  gint64 n_frames;
  gint64 last_stream_time;     /* ns, -1 before the first frame */
  gint64 last_frame_mono;      /* µs */
  gint64 duration;             /* ns or -1 */
  guint n_reconnects;
  gint64 gap_time;

  /* Set by run() for the streaming thread. */
  gint live;                   /* atomic */
  gint64 run_started_mono;
  gint64 dropped_at;           /* µs (monotonic) a network stream dropped, 0 when playing */
};

G_DEFINE_FINAL_TYPE (GembaFrameSource, gemba_frame_source, G_TYPE_OBJECT)

enum {
  SIGNAL_DROPPED,
  SIGNAL_RECONNECTED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

typedef enum {
  OUTCOME_END,
  OUTCOME_STOPPED,
  OUTCOME_CANCELLED,
  OUTCOME_FAILED,
} Outcome;

static const char * const network_schemes[] = {
  "rtsp", "rtsps", "rtspt", "rtspu", "http", "https", "rtmp", "rtmps", "srt", "udp", "tcp",
  "rist", "hls",
};
/* Always live: their timestamps start again with every connection. */
static const char * const live_schemes[] = {
  "rtsp", "rtsps", "rtspt", "rtspu", "rtmp", "rtmps", "srt", "udp", "rist",
};

static char *
format_time (gint64 ns)
{
  guint64 t = ns < 0 ? 0 : (guint64) ns;

  return g_strdup_printf ("%u:%02u:%02u.%03u", (guint) (t / (3600 * GST_SECOND)),
                          (guint) (t / (60 * GST_SECOND) % 60), (guint) (t / GST_SECOND % 60),
                          (guint) (t / GST_MSECOND % 1000));
}

static gboolean
ensure_gst (GError **error)
{
  GError *local = NULL;

  if (gst_is_initialized ())
    return TRUE;
  if (!gst_init_check (NULL, NULL, &local))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                   _("GStreamer cannot start: %s"), local->message);
      g_error_free (local);
      return FALSE;
    }
  return TRUE;
}

gboolean
gemba_media_has_element (const char *factory_name)
{
  g_autoptr(GstElementFactory) factory = NULL;

  if (!ensure_gst (NULL))
    return FALSE;
  factory = gst_element_factory_find (factory_name);
  return factory != NULL;
}

static GembaFrameSource *
frame_source_new (GembaFrameSourceKind kind, const char *location)
{
  GembaFrameSource *self = g_object_new (GEMBA_TYPE_FRAME_SOURCE, NULL);

  self->kind = kind;
  self->location = g_strdup (location);
  return self;
}

/* --- Streaming thread ------------------------------------------------------------------ */

static GstFlowReturn
new_sample_cb (GstAppSink *sink, gpointer user_data)
{
  GembaFrameSource *self = user_data;
  g_autoptr(GstSample) sample = gst_app_sink_pull_sample (sink);
  GstBuffer *buffer;
  GstCaps *caps;
  GstVideoInfo info;
  GstVideoFrame vframe;
  GembaVideoFrame frame = { 0 };
  gint64 now = g_get_monotonic_time ();

  if (!sample)
    return GST_FLOW_EOS;
  buffer = gst_sample_get_buffer (sample);
  caps = gst_sample_get_caps (sample);
  if (!buffer || !caps || !gst_video_info_from_caps (&info, caps))
    return GST_FLOW_OK;

  frame.width = GST_VIDEO_INFO_WIDTH (&info);
  frame.height = GST_VIDEO_INFO_HEIGHT (&info);
  frame.bpp = GST_VIDEO_INFO_COMP_PSTRIDE (&info, 0);
  frame.limited_range = info.colorimetry.range != GST_VIDEO_COLOR_RANGE_0_255;
  /* BT.2020 and SMPTE 240M are close enough to BT.709 for a frame to label. */
  frame.bt709 = info.colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT709 ||
                info.colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT2020 ||
                info.colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_SMPTE240M;

  if (g_atomic_int_get (&self->live))
    {
      /* A live source's timestamps restart with every connection: count from the start of
       * the capture instead, on the wall clock the frames arrived by. */
      frame.stream_time = (now - self->run_started_mono) * 1000;
      frame.captured_at = g_get_real_time ();
    }
  else
    {
      const GstSegment *segment = gst_sample_get_segment (sample);
      GstClockTime pts = GST_BUFFER_PTS (buffer);
      guint64 st = GST_CLOCK_TIME_NONE;

      if (GST_CLOCK_TIME_IS_VALID (pts))
        st = segment ? gst_segment_to_stream_time (segment, GST_FORMAT_TIME, pts) : pts;
      frame.stream_time = GST_CLOCK_TIME_IS_VALID (st) ? (gint64) st : -1;
      frame.captured_at = self->file_time ? self->file_time : g_get_real_time ();
      if (frame.stream_time >= 0)
        frame.captured_at += frame.stream_time / 1000;
    }
  frame.snapshot = g_atomic_int_compare_and_exchange (&self->snapshot_requested, 1, 0);
  frame.sample = sample;

  g_mutex_lock (&self->lock);
  frame.frame_number = self->n_frames++;
  if (self->latest)
    gst_sample_unref (self->latest);
  self->latest = gst_sample_ref (sample);
  self->serial++;
  self->last_stream_time = frame.stream_time;
  self->last_frame_mono = now;
  g_mutex_unlock (&self->lock);

  if (g_atomic_int_get (&self->stop_requested))
    return GST_FLOW_EOS;

  if (self->func)
    {
      if (!gst_video_frame_map (&vframe, &info, buffer, GST_MAP_READ))
        return GST_FLOW_ERROR;
      for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES (&vframe) && i < 3; i++)
        {
          frame.planes[i] = GST_VIDEO_FRAME_PLANE_DATA (&vframe, i);
          frame.strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE (&vframe, i);
        }
      frame.pixels = frame.planes[0];
      frame.stride = frame.strides[0];
      self->func (self, &frame, self->func_data);
      gst_video_frame_unmap (&vframe);
    }
  return GST_FLOW_OK;
}

static gboolean
pad_has_video (GstPad *pad)
{
  g_autoptr(GstCaps) caps = gst_pad_get_current_caps (pad);
  const GstStructure *s;

  if (!caps)
    caps = gst_pad_query_caps (pad, NULL);
  if (!caps || gst_caps_is_empty (caps))
    return FALSE;
  s = gst_caps_get_structure (caps, 0);
  return g_str_has_prefix (gst_structure_get_name (s), "video/");
}

static void
pad_added_cb (GstElement *element, GstPad *pad, gpointer user_data)
{
  GstElement *convert = user_data;
  g_autoptr(GstPad) sink = gst_element_get_static_pad (convert, "sink");

  if (gst_pad_is_linked (sink) || !pad_has_video (pad))
    return;
  if (GST_PAD_LINK_FAILED (gst_pad_link (pad, sink)))
    GST_ELEMENT_ERROR (element, CORE, NEGOTIATION, (NULL),
                       ("cannot link the decoded video pad"));
}

static void
source_setup_cb (GstElement *uridecodebin, GstElement *source, gpointer user_data)
{
  GObjectClass *klass = G_OBJECT_GET_CLASS (source);

  /* RTSP over TCP: a server that goes away closes the connection, which is noticed at once,
   * where UDP would wait for a timeout; it also passes NAT and firewalls. */
  if (g_object_class_find_property (klass, "protocols") &&
      g_object_class_find_property (klass, "tcp-timeout"))
    {
      gst_util_set_object_arg (G_OBJECT (source), "protocols", "tcp");
      g_object_set (source, "tcp-timeout", (guint64) 5 * G_USEC_PER_SEC, NULL);
    }
  if (g_object_class_find_property (klass, "latency"))
    g_object_set (source, "latency", (guint) 200, NULL);
  if (g_object_class_find_property (klass, "timeout") &&
      G_IS_PARAM_SPEC_UINT (g_object_class_find_property (klass, "timeout")))
    g_object_set (source, "timeout", (guint) 5, NULL);   /* souphttpsrc: seconds */
}

static GstElement *
build_pipeline (GembaFrameSource *self, GError **error)
{
  g_autoptr(GstElement) pipeline = gst_pipeline_new ("gemba-frame-source");
  GstElement *convert = gst_element_factory_make ("videoconvert", NULL);
  GstElement *sink = gst_element_factory_make ("appsink", "gemba-sink");
  GstElement *head = NULL, *decode = NULL;
  g_autoptr(GstCaps) caps = NULL;
  GstAppSinkCallbacks callbacks = { 0 };

  if (!convert || !sink)
    {
      g_clear_object (&convert);
      g_clear_object (&sink);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                   _("GStreamer’s videoconvert or appsink element is missing: install "
                     "gstreamer1.0-plugins-base"));
      return NULL;
    }
  gst_bin_add_many (GST_BIN (pipeline), convert, sink, NULL);

  caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING,
                              self->format == GEMBA_PIXEL_RGBA ? "RGBA"
                              : self->format == GEMBA_PIXEL_I420 ? "I420" : "RGB", NULL);
  g_object_set (sink, "caps", caps, "sync", FALSE, "max-buffers", (guint) 2,
                "enable-last-sample", FALSE, NULL);
  callbacks.new_sample = new_sample_cb;
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, self, NULL);
  /* Conversion of big frames is a large share of the work: use both cores for it. */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (convert), "n-threads"))
    g_object_set (convert, "n-threads", (guint) MIN (g_get_num_processors (), 4), NULL);
  if (!gst_element_link (convert, sink))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                   _("%s: cannot build the pipeline"), self->location);
      return NULL;
    }

  if (self->uri)
    {
      head = gst_element_factory_make ("uridecodebin", NULL);
      if (!head)
        goto missing_base;
      g_object_set (head, "uri", self->uri, NULL);
      g_signal_connect (head, "source-setup", G_CALLBACK (source_setup_cb), NULL);
      gst_bin_add (GST_BIN (pipeline), head);
      g_signal_connect_object (head, "pad-added", G_CALLBACK (pad_added_cb), convert, 0);
      return g_steal_pointer (&pipeline);
    }

  if (self->v4l2_device)
    {
      head = gst_element_factory_make ("v4l2src", NULL);
      if (!head)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                       _("%s: GStreamer has no v4l2src element: install "
                         "gstreamer1.0-plugins-good"), self->location);
          return NULL;
        }
      g_object_set (head, "device", self->v4l2_device, NULL);
    }
  else if (self->device)
    {
      head = gst_device_create_element (self->device, NULL);
      if (!head)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                       _("%s: GStreamer cannot open this camera"), self->location);
          return NULL;
        }
    }
  else
    {
      GError *local = NULL;
      g_autoptr(GstPad) pad = NULL;

      g_autofree char *full = NULL;

      g_assert (self->description);
      /* A description may end in caps ("videotestsrc ! video/x-raw,width=640"), which the
       * parser accepts only between two elements. */
      full = g_strdup_printf ("%s ! identity silent=true", self->description);
      head = gst_parse_bin_from_description (full, TRUE, &local);
      if (!head)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                       _("The pipeline “%s” is malformed: %s"), self->description,
                       local->message);
          g_error_free (local);
          return NULL;
        }
      if (local)
        {
          /* Parsed with a recoverable problem, typically a missing element. */
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                       _("The pipeline “%s” is malformed: %s"), self->description,
                       local->message);
          g_error_free (local);
          gst_object_unref (head);
          return NULL;
        }
      pad = gst_element_get_static_pad (head, "src");
      if (!pad)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                       _("The pipeline “%s” has no unlinked output for the video: end it "
                         "with an element whose source pad is free, e.g. “… ! videoconvert”"),
                       self->description);
          gst_object_unref (head);
          return NULL;
        }
    }

  /* decodebin passes raw video through and decodes anything else (MJPEG cameras, …). */
  decode = gst_element_factory_make ("decodebin", NULL);
  if (!decode)
    {
      gst_object_unref (head);
      goto missing_base;
    }
  gst_bin_add_many (GST_BIN (pipeline), head, decode, NULL);
  if (!gst_element_link (head, decode))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("%s: its output cannot be decoded as video"), self->location);
      return NULL;
    }
  g_signal_connect_object (decode, "pad-added", G_CALLBACK (pad_added_cb), convert, 0);
  return g_steal_pointer (&pipeline);

missing_base:
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
               _("GStreamer’s uridecodebin/decodebin element is missing: install "
                 "gstreamer1.0-plugins-base"));
  return NULL;
}

/* --- Bus ------------------------------------------------------------------------------- */

static void
teardown (GstElement **pipeline)
{
  if (!*pipeline)
    return;
  gst_element_set_state (*pipeline, GST_STATE_NULL);
  gst_clear_object (pipeline);
}

static gint64
get_n_frames (GembaFrameSource *self, gint64 *last_frame_mono, gint64 *last_stream_time)
{
  gint64 n;

  g_mutex_lock (&self->lock);
  n = self->n_frames;
  if (last_frame_mono)
    *last_frame_mono = self->last_frame_mono;
  if (last_stream_time)
    *last_stream_time = self->last_stream_time;
  g_mutex_unlock (&self->lock);
  return n;
}

static void
query_duration (GembaFrameSource *self, GstElement *pipeline)
{
  gint64 duration = -1;

  if (!gst_element_query_duration (pipeline, GST_FORMAT_TIME, &duration) || duration <= 0)
    return;
  g_mutex_lock (&self->lock);
  self->duration = duration;
  g_mutex_unlock (&self->lock);
}

/* The error of a failed run, naming the location, where it broke, and any missing plug-in. */
static void
set_stream_error (GembaFrameSource *self, GError **error, GError *gst_error, const char *debug,
                  GPtrArray *missing)
{
  gint64 last_stream_time, n;

  n = get_n_frames (self, NULL, &last_stream_time);

  if (missing->len > 0)
    {
      g_autofree char *what = NULL;
      g_ptr_array_add (missing, NULL);
      what = g_strjoinv (", ", (char **) missing->pdata);
      g_ptr_array_remove_index (missing, missing->len - 1);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                   _("%s: cannot play it: GStreamer has no plug-in for %s. Install the package "
                     "that has it (gstreamer1.0-plugins-good, -bad, -ugly or gstreamer1.0-libav)"),
                   self->location, what);
      return;
    }

  if (self->kind == GEMBA_FRAME_SOURCE_VIDEO && n > 0)
    {
      g_autofree char *at = format_time (last_stream_time);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: the video breaks at %s, after frame %" PRId64
                     " (it is damaged or truncated): %s"),
                   self->location, at, n - 1, gst_error->message);
    }
  else if (self->kind == GEMBA_FRAME_SOURCE_VIDEO)
    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                 _("%s: cannot read the video: %s"), self->location, gst_error->message);
  else if (gst_error->domain == GST_RESOURCE_ERROR &&
           gst_error->code == GST_RESOURCE_ERROR_BUSY)
    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                 _("%s: the camera is busy (another program uses it): %s"), self->location,
                 gst_error->message);
  else if (gst_error->domain == GST_RESOURCE_ERROR && self->kind != GEMBA_FRAME_SOURCE_PIPELINE)
    {
      /* The debug text's last line often says what really happened ("Failed to connect."). */
      const char *detail = debug ? strrchr (debug, '\n') : NULL;
      g_autofree char *why = g_strdup (detail ? detail + 1 : "");
      g_strstrip (why);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                   _("%s: cannot open it: %s%s%s Check the address, and that the camera or "
                     "server is on and reachable."), self->location, gst_error->message,
                   *why ? " " : "", why);
    }
  else
    g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED, "%s: %s", self->location,
                 gst_error->message);
}

static gboolean
sleep_cancellable (GembaFrameSource *self, guint ms, GCancellable *cancellable)
{
  gint64 until = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_get_monotonic_time () < until)
    {
      if (g_cancellable_is_cancelled (cancellable) || g_atomic_int_get (&self->stop_requested))
        return FALSE;
      g_usleep (BUS_POLL_MS * 1000);
    }
  return TRUE;
}

/* Plays @pipeline until it ends, fails or is stopped. On OUTCOME_FAILED, *@failure says why. */
static Outcome
play (GembaFrameSource *self, GstElement *pipeline, GCancellable *cancellable,
      GError **failure, gboolean *produced)
{
  g_autoptr(GstBus) bus = gst_element_get_bus (pipeline);
  g_autoptr(GPtrArray) missing = g_ptr_array_new_with_free_func (g_free);
  GstStateChangeReturn ret;
  gint64 started = g_get_monotonic_time ();
  gint64 n_at_start = get_n_frames (self, NULL, NULL);

  *produced = FALSE;
  ret = gst_element_set_state (pipeline, GST_STATE_PLAYING);
  if (ret == GST_STATE_CHANGE_NO_PREROLL)
    g_atomic_int_set (&self->live, TRUE);

  for (;;)
    {
      g_autoptr(GstMessage) msg = NULL;
      gint64 now, last_frame, n;

      if (g_cancellable_is_cancelled (cancellable))
        return OUTCOME_CANCELLED;
      if (g_atomic_int_get (&self->stop_requested))
        return OUTCOME_STOPPED;

      msg = gst_bus_timed_pop (bus, BUS_POLL_MS * GST_MSECOND);
      now = g_get_monotonic_time ();
      n = get_n_frames (self, &last_frame, NULL);
      if (n > n_at_start && !*produced)
        {
          *produced = TRUE;
          if (self->dropped_at)
            {
              /* The frames came back: the reconnection worked. */
              gint64 gap = now - self->dropped_at;
              g_mutex_lock (&self->lock);
              self->n_reconnects++;
              self->gap_time += gap;
              g_mutex_unlock (&self->lock);
              self->dropped_at = 0;
              g_signal_emit (self, signals[SIGNAL_RECONNECTED], 0, gap);
            }
          /* Some live sources do not say so in the state change; the latency query does. */
          if (!self->live)
            {
              /* Asked upstream of the appsink: a sink that does not sync says "not live". */
              g_autoptr(GstQuery) query = gst_query_new_latency ();
              g_autoptr(GstElement) sink = gst_bin_get_by_name (GST_BIN (pipeline), "gemba-sink");
              g_autoptr(GstPad) pad = sink ? gst_element_get_static_pad (sink, "sink") : NULL;
              gboolean live = FALSE;
              if (pad && gst_pad_peer_query (pad, query))
                gst_query_parse_latency (query, &live, NULL, NULL);
              if (live)
                g_atomic_int_set (&self->live, TRUE);
            }
        }

      if (msg)
        switch (GST_MESSAGE_TYPE (msg))
          {
          case GST_MESSAGE_EOS:
            return OUTCOME_END;

          case GST_MESSAGE_ERROR:
            {
              g_autoptr(GError) gst_error = NULL;
              g_autofree char *debug = NULL;

              /* A missing plug-in is announced just before the error it causes. */
              while (TRUE)
                {
                  g_autoptr(GstMessage) more = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
                  if (!more)
                    break;
                  if (gst_is_missing_plugin_message (more))
                    g_ptr_array_add (missing,
                                     gst_missing_plugin_message_get_description (more));
                }
              gst_message_parse_error (msg, &gst_error, &debug);
              g_debug ("%s: error from %s: %s (%s)", self->location,
                       GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), gst_error->message,
                       debug ? debug : "");
              set_stream_error (self, failure, gst_error, debug, missing);
              return OUTCOME_FAILED;
            }

          case GST_MESSAGE_ELEMENT:
            if (gst_is_missing_plugin_message (msg))
              g_ptr_array_add (missing, gst_missing_plugin_message_get_description (msg));
            break;

          case GST_MESSAGE_WARNING:
            {
              g_autoptr(GError) warning = NULL;
              gst_message_parse_warning (msg, &warning, NULL);
              g_debug ("%s: warning: %s", self->location, warning->message);
            }
            break;

          case GST_MESSAGE_ASYNC_DONE:
          case GST_MESSAGE_DURATION_CHANGED:
            if (!self->live)
              query_duration (self, pipeline);
            break;

          default:
            break;
          }

      /* Live sources can fall silent without an error: time them out. */
      if (self->live || self->kind != GEMBA_FRAME_SOURCE_VIDEO)
        {
          if (!*produced && self->start_timeout > 0 &&
              now - started > (gint64) self->start_timeout * G_USEC_PER_SEC)
            {
              g_set_error (failure, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                           _("%s: no video after %u s: check that the address is right and "
                             "that the camera or server is running"),
                           self->location, self->start_timeout);
              return OUTCOME_FAILED;
            }
          if (*produced && self->live && self->network && self->stall_timeout > 0 &&
              now - last_frame > (gint64) self->stall_timeout * G_USEC_PER_SEC)
            {
              g_set_error (failure, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                           _("%s: no frame for %u s"), self->location, self->stall_timeout);
              return OUTCOME_FAILED;
            }
        }
    }
}

static gboolean
check_complete (GembaFrameSource *self, GError **error)
{
  gint64 last_stream_time, duration, n;

  n = get_n_frames (self, NULL, &last_stream_time);
  g_mutex_lock (&self->lock);
  duration = self->duration;
  g_mutex_unlock (&self->lock);

  if (self->kind != GEMBA_FRAME_SOURCE_VIDEO || self->live)
    return TRUE;
  if (n == 0)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                   _("%s: no video frame could be decoded from it"), self->location);
      return FALSE;
    }
  if (duration > 0 && last_stream_time + TRUNCATION_SLACK_NS < duration)
    {
      g_autofree char *at = format_time (last_stream_time);
      g_autofree char *total = format_time (duration);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: the video breaks at %s, after frame %" PRId64
                     ", but it says it lasts %s: the file is truncated or damaged"),
                   self->location, at, n - 1, total);
      return FALSE;
    }
  return TRUE;
}

gboolean
gemba_frame_source_run (GembaFrameSource *self, GCancellable *cancellable, GError **error)
{
  g_autoptr(GstElement) pipeline = NULL;
  g_autoptr(GError) failure = NULL;
  guint backoff = BACKOFF_FIRST_MS;
  gboolean ok = FALSE;

  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (self), FALSE);

  if (!ensure_gst (error))
    return FALSE;
  if (!g_atomic_int_compare_and_exchange (&self->running, 0, 1))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED, _("%s: already running"),
                   self->location);
      return FALSE;
    }
  g_atomic_int_set (&self->stop_requested, 0);
  self->dropped_at = 0;
  g_atomic_int_set (&self->live,
                    self->kind == GEMBA_FRAME_SOURCE_CAMERA || self->always_live);
  self->run_started_mono = g_get_monotonic_time ();

  for (;;)
    {
      gboolean produced = FALSE;
      Outcome outcome;

      g_clear_error (&failure);
      if (!(pipeline = build_pipeline (self, error)))
        break;
      outcome = play (self, pipeline, cancellable, &failure, &produced);
      /* The sink answers a stop with the end of the stream (new_sample_cb ()), and that end can
       * reach play () before it sees the stop: it is the stop, not the camera going away. */
      if (outcome != OUTCOME_CANCELLED && g_atomic_int_get (&self->stop_requested))
        outcome = OUTCOME_STOPPED;
      if (!self->live)
        query_duration (self, pipeline);
      teardown (&pipeline);

      if (produced)
        backoff = BACKOFF_FIRST_MS;

      if (outcome == OUTCOME_STOPPED)
        {
          ok = TRUE;
          break;
        }
      if (outcome == OUTCOME_CANCELLED)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("%s: stopped"),
                       self->location);
          break;
        }
      if (outcome == OUTCOME_END && !(self->network && self->live))
        {
          ok = check_complete (self, error);
          break;
        }

      /* Failed, or a live network stream that ended: reconnect if it ever played. */
      if (!(self->network && self->live && get_n_frames (self, NULL, NULL) > 0))
        {
          if (failure)
            g_propagate_error (error, g_steal_pointer (&failure));
          else
            ok = TRUE;
          break;
        }
      if (!self->dropped_at)
        {
          self->dropped_at = g_get_monotonic_time ();
          g_signal_emit (self, signals[SIGNAL_DROPPED], 0,
                         failure ? failure->message : _("the stream ended"));
        }
      else if (g_get_monotonic_time () - self->dropped_at >
               (gint64) self->reconnect_timeout * G_USEC_PER_SEC)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                       _("%s: the stream dropped and did not come back within %u s: %s"),
                       self->location, self->reconnect_timeout,
                       failure ? failure->message : _("the stream ended"));
          break;
        }
      g_debug ("%s: reconnecting in %u ms", self->location, backoff);
      if (!sleep_cancellable (self, backoff, cancellable))
        {
          if (g_cancellable_is_cancelled (cancellable))
            g_set_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("%s: stopped"),
                         self->location);
          else
            ok = TRUE;
          break;
        }
      backoff = MIN (backoff * 2, BACKOFF_MAX_MS);
    }

  g_atomic_int_set (&self->running, 0);
  return ok;
}

static void
run_thread (GTask *task, gpointer source_object, gpointer task_data, GCancellable *cancellable)
{
  GError *error = NULL;

  if (gemba_frame_source_run (source_object, cancellable, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

void
gemba_frame_source_run_async (GembaFrameSource *self, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (GEMBA_IS_FRAME_SOURCE (self));
  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, gemba_frame_source_run_async);
  g_task_run_in_thread (task, run_thread);
}

gboolean
gemba_frame_source_run_finish (GembaFrameSource *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* --- GObject --------------------------------------------------------------------------- */

static void
gemba_frame_source_finalize (GObject *object)
{
  GembaFrameSource *self = GEMBA_FRAME_SOURCE (object);

  if (self->func_destroy)
    self->func_destroy (self->func_data);
  g_clear_pointer (&self->latest, gst_sample_unref);
  gst_clear_object (&self->device);
  g_free (self->location);
  g_free (self->display_name);
  g_free (self->uri);
  g_free (self->v4l2_device);
  g_free (self->description);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (gemba_frame_source_parent_class)->finalize (object);
}

static void
gemba_frame_source_class_init (GembaFrameSourceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = gemba_frame_source_finalize;

  /**
   * GembaFrameSource::dropped:
   * @message: why
   * A network stream dropped; reconnection starts. Emitted on run()'s thread.
   */
  signals[SIGNAL_DROPPED] =
    g_signal_new ("dropped", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);
  /**
   * GembaFrameSource::reconnected:
   * @gap: µs without frames
   * A dropped stream gives frames again. Emitted on run()'s thread.
   */
  signals[SIGNAL_RECONNECTED] =
    g_signal_new ("reconnected", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                  NULL, G_TYPE_NONE, 1, G_TYPE_INT64);
}

static void
gemba_frame_source_init (GembaFrameSource *self)
{
  g_mutex_init (&self->lock);
  self->format = GEMBA_PIXEL_RGB;
  self->start_timeout = 10;
  self->reconnect_timeout = 60;
  self->stall_timeout = 5;
  self->last_stream_time = -1;
  self->duration = -1;
}

/* --- Public API ------------------------------------------------------------------------ */

GembaFrameSource *
gemba_frame_source_new_for_file (const char *path, GError **error)
{
  g_autofree char *absolute = NULL;
  GembaFrameSource *self;
  GError *local = NULL;
  GStatBuf st;

  g_return_val_if_fail (path != NULL, NULL);
  if (!ensure_gst (error))
    return NULL;
  if (g_stat (path, &st) != 0)
    {
      int saved = errno;
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND, "%s: %s", path,
                   g_strerror (saved));
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, _("%s: not a regular file"), path);
      return NULL;
    }
  self = frame_source_new (GEMBA_FRAME_SOURCE_VIDEO, path);
  absolute = g_canonicalize_filename (path, NULL);
  self->uri = g_filename_to_uri (absolute, NULL, &local);
  if (!self->uri)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, "%s: %s", path, local->message);
      g_error_free (local);
      g_object_unref (self);
      return NULL;
    }
  self->display_name = g_path_get_basename (path);
  self->file_time = (gint64) st.st_mtime * G_USEC_PER_SEC;
  return self;
}

static GembaFrameSource *
new_for_v4l2 (const char *location, const char *device, GError **error)
{
  GembaFrameSource *self;

  if (!g_file_test (device, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                   _("%s: there is no camera %s (see “gemba devices”)"), location, device);
      return NULL;
    }
  self = frame_source_new (GEMBA_FRAME_SOURCE_CAMERA, location);
  self->v4l2_device = g_strdup (device);
  self->display_name = g_path_get_basename (device);
  return self;
}

GembaFrameSource *
gemba_frame_source_new_for_uri (const char *uri, GError **error)
{
  g_autofree char *scheme = NULL;
  g_autoptr(GUri) parsed = NULL;
  GembaFrameSource *self;

  g_return_val_if_fail (uri != NULL, NULL);
  if (!ensure_gst (error))
    return NULL;
  scheme = g_uri_parse_scheme (uri);
  if (!scheme || !(parsed = g_uri_parse (uri, G_URI_FLAGS_ENCODED, NULL)))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, _("“%s” is not a valid URI"), uri);
      return NULL;
    }
  if (g_ascii_strcasecmp (scheme, "file") == 0)
    {
      g_autofree char *path = g_filename_from_uri (uri, NULL, NULL);
      if (!path)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                       _("“%s” is not a valid file URI"), uri);
          return NULL;
        }
      return gemba_frame_source_new_for_file (path, error);
    }
  if (g_ascii_strcasecmp (scheme, "v4l2") == 0)
    {
      const char *path = g_uri_get_path (parsed);
      return new_for_v4l2 (uri, path && *path ? path : "/dev/video0", error);
    }
  if (!gst_uri_protocol_is_supported (GST_URI_SRC, scheme))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
                   _("%s: GStreamer has no element that reads “%s:” addresses"), uri, scheme);
      return NULL;
    }

  self = frame_source_new (GEMBA_FRAME_SOURCE_STREAM, uri);
  self->uri = g_strdup (uri);
  for (guint i = 0; i < G_N_ELEMENTS (network_schemes); i++)
    if (g_ascii_strcasecmp (scheme, network_schemes[i]) == 0)
      self->network = TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (live_schemes); i++)
    if (g_ascii_strcasecmp (scheme, live_schemes[i]) == 0)
      self->always_live = TRUE;
  self->display_name = g_strdup (g_uri_get_host (parsed) ? g_uri_get_host (parsed) : uri);
  return self;
}

GembaFrameSource *
gemba_frame_source_new (const char *location, GError **error)
{
  g_autofree char *scheme = NULL;

  g_return_val_if_fail (location != NULL, NULL);
  if (!ensure_gst (error))
    return NULL;
  scheme = g_uri_parse_scheme (location);
  /* "C:…" would be a drive letter elsewhere; here any scheme of two letters or more is one. */
  if (scheme && strlen (scheme) > 1)
    return gemba_frame_source_new_for_uri (location, error);
  if (g_str_has_prefix (location, "/dev/video"))
    return new_for_v4l2 (location, location, error);
  return gemba_frame_source_new_for_file (location, error);
}

GembaFrameSource *
gemba_frame_source_new_for_device (GstDevice *device, GError **error)
{
  g_autofree char *name = NULL;
  GembaFrameSource *self;

  g_return_val_if_fail (GST_IS_DEVICE (device), NULL);
  if (!ensure_gst (error))
    return NULL;
  name = gst_device_get_display_name (device);
  self = frame_source_new (GEMBA_FRAME_SOURCE_CAMERA, name);
  self->device = gst_object_ref (device);
  self->display_name = g_strdup (name);
  return self;
}

GembaFrameSource *
gemba_frame_source_new_for_pipeline (const char *description, GError **error)
{
  g_autoptr(GstElement) check = NULL;
  GembaFrameSource *self;

  g_return_val_if_fail (description != NULL, NULL);
  if (!ensure_gst (error))
    return NULL;
  self = frame_source_new (GEMBA_FRAME_SOURCE_PIPELINE, description);
  self->description = g_strdup (description);
  self->display_name = g_strdup (description);
  /* Parse it now, so that a typo is reported before anything starts. */
  check = build_pipeline (self, error);
  if (!check)
    {
      g_object_unref (self);
      return NULL;
    }
  return self;
}

GembaFrameSourceKind
gemba_frame_source_get_kind (GembaFrameSource *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (self), GEMBA_FRAME_SOURCE_VIDEO);
  return self->kind;
}

const char *
gemba_frame_source_get_kind_name (GembaFrameSource *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (self), NULL);
  switch (self->kind)
    {
    case GEMBA_FRAME_SOURCE_CAMERA:
      return "camera";
    case GEMBA_FRAME_SOURCE_STREAM:
      return "stream";
    case GEMBA_FRAME_SOURCE_PIPELINE:
      return "pipeline";
    case GEMBA_FRAME_SOURCE_VIDEO:
    default:
      return "video";
    }
}

const char *
gemba_frame_source_get_location (GembaFrameSource *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (self), NULL);
  return self->location;
}

const char *
gemba_frame_source_get_display_name (GembaFrameSource *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (self), NULL);
  return self->display_name;
}

void
gemba_frame_source_set_pixel_format (GembaFrameSource *self, GembaPixelFormat format)
{
  g_return_if_fail (GEMBA_IS_FRAME_SOURCE (self));
  g_return_if_fail (!g_atomic_int_get (&self->running));
  self->format = format;
}

GembaPixelFormat
gemba_frame_source_get_pixel_format (GembaFrameSource *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (self), GEMBA_PIXEL_RGB);
  return self->format;
}

void
gemba_frame_source_set_frame_func (GembaFrameSource *self, GembaFrameFunc func,
                                   gpointer user_data, GDestroyNotify destroy)
{
  g_return_if_fail (GEMBA_IS_FRAME_SOURCE (self));
  g_return_if_fail (!g_atomic_int_get (&self->running));
  if (self->func_destroy)
    self->func_destroy (self->func_data);
  self->func = func;
  self->func_data = user_data;
  self->func_destroy = destroy;
}

void
gemba_frame_source_set_timeouts (GembaFrameSource *self, guint start_seconds,
                                 guint reconnect_seconds, guint stall_seconds)
{
  g_return_if_fail (GEMBA_IS_FRAME_SOURCE (self));
  self->start_timeout = start_seconds;
  self->reconnect_timeout = reconnect_seconds;
  self->stall_timeout = stall_seconds;
}

void
gemba_frame_source_stop (GembaFrameSource *self)
{
  g_return_if_fail (GEMBA_IS_FRAME_SOURCE (self));
  g_atomic_int_set (&self->stop_requested, 1);
}

void
gemba_frame_source_snapshot (GembaFrameSource *self)
{
  g_return_if_fail (GEMBA_IS_FRAME_SOURCE (self));
  g_atomic_int_set (&self->snapshot_requested, 1);
}

GstSample *
gemba_frame_source_dup_latest_sample (GembaFrameSource *self, guint64 *serial)
{
  GstSample *sample = NULL;

  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (self), NULL);
  g_mutex_lock (&self->lock);
  if (self->latest)
    sample = gst_sample_ref (self->latest);
  if (serial)
    *serial = self->serial;
  g_mutex_unlock (&self->lock);
  return sample;
}

GBytes *
gemba_frame_source_dup_latest_frame (GembaFrameSource *self, guint *width, guint *height,
                                     gsize *stride, gint64 *stream_time)
{
  g_autoptr(GstSample) sample = NULL;
  GstVideoInfo info;
  GstVideoMeta *meta;
  GstBuffer *buffer;
  GstMapInfo map;
  GBytes *bytes;
  gint64 pts_time;

  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (self), NULL);
  g_mutex_lock (&self->lock);
  if (self->latest)
    sample = gst_sample_ref (self->latest);
  pts_time = self->last_stream_time;
  g_mutex_unlock (&self->lock);

  if (!sample || !(buffer = gst_sample_get_buffer (sample)) ||
      !gst_video_info_from_caps (&info, gst_sample_get_caps (sample)) ||
      !gst_buffer_map (buffer, &map, GST_MAP_READ))
    return NULL;
  bytes = g_bytes_new (map.data, map.size);
  gst_buffer_unmap (buffer, &map);
  if (width)
    *width = GST_VIDEO_INFO_WIDTH (&info);
  if (height)
    *height = GST_VIDEO_INFO_HEIGHT (&info);
  if (stride)
    {
      *stride = GST_VIDEO_INFO_PLANE_STRIDE (&info, 0);
      if ((meta = gst_buffer_get_video_meta (buffer)))
        *stride = meta->stride[0];
    }
  if (stream_time)
    *stream_time = pts_time;
  return bytes;
}

gboolean
gemba_frame_source_is_live (GembaFrameSource *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (self), FALSE);
  return g_atomic_int_get (&self->live);
}

gint64
gemba_frame_source_get_n_frames (GembaFrameSource *self)
{
  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (self), 0);
  return get_n_frames (self, NULL, NULL);
}

guint
gemba_frame_source_get_n_reconnects (GembaFrameSource *self)
{
  guint n;

  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (self), 0);
  g_mutex_lock (&self->lock);
  n = self->n_reconnects;
  g_mutex_unlock (&self->lock);
  return n;
}

gint64
gemba_frame_source_get_gap_time (GembaFrameSource *self)
{
  gint64 gap;

  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (self), 0);
  g_mutex_lock (&self->lock);
  gap = self->gap_time;
  g_mutex_unlock (&self->lock);
  return gap;
}

gint64
gemba_frame_source_get_duration (GembaFrameSource *self)
{
  gint64 duration;

  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (self), -1);
  g_mutex_lock (&self->lock);
  duration = self->duration;
  g_mutex_unlock (&self->lock);
  return duration;
}
