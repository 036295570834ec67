/* gemba-cli-media.c: `gemba devices`, `gemba capture` and the video part of `gemba import`
 *
 * Everything goes through libgemba-media (GStreamer); this file parses the command line,
 * shows progress on stderr and reports what was stored.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-cli"

#include "config.h"

#include <inttypes.h>
#include <glib/gi18n.h>

#include "gemba-cli.h"
#include "gemba-media.h"

#define EXIT_INTERRUPTED 130

static const char *video_extensions[] = { "mp4", "mkv", "avi", "webm", "mov", "m4v", "mpg",
                                          "mpeg", "ts", "ogv" };

gboolean
gemba_cli_is_video_path (const char *path)
{
  const char *dot = strrchr (path, '.');

  if (!dot || strchr (dot, '/'))
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (video_extensions); i++)
    if (g_ascii_strcasecmp (dot + 1, video_extensions[i]) == 0)
      return TRUE;
  return FALSE;
}

static char *
format_stream_time (gint64 ns)
{
  guint64 t = ns < 0 ? 0 : (guint64) ns;

  return g_strdup_printf ("%u:%02u:%04.1f", (guint) (t / (3600 * G_GUINT64_CONSTANT (1000000000))),
                          (guint) (t / (60 * G_GUINT64_CONSTANT (1000000000)) % 60),
                          (t % (60 * G_GUINT64_CONSTANT (1000000000))) / 1e9);
}

/* "10m", "90s", "1h30m", "2.5" (seconds) → ns; -1 when malformed. */
static gint64
parse_duration (const char *text)
{
  const char *p = text;
  double total = 0;
  gboolean any = FALSE;

  while (*p)
    {
      char *end = NULL;
      double value = g_ascii_strtod (p, &end);
      double unit = 1;

      if (end == p || value < 0)
        return -1;
      p = end;
      switch (*p)
        {
        case 'h':
          unit = 3600;
          p++;
          break;
        case 'm':
          if (p[1] == 's')
            {
              unit = 0.001;
              p++;
            }
          else
            unit = 60;
          p++;
          break;
        case 's':
          p++;
          break;
        case '\0':
          break;
        default:
          return -1;
        }
      total += value * unit;
      any = TRUE;
    }
  return any && total > 0 ? (gint64) (total * 1e9) : -1;
}

/* --- progress and reporting ------------------------------------------------------------ */

typedef struct
{
  GembaCliProgress *progress;
  gboolean json;
  gboolean quiet;
  const char *location;
} Report;

static void
progress_cb (const GembaMediaProgress *p, gpointer user_data)
{
  Report *report = user_data;
  g_autofree char *at = format_stream_time (p->stream_time);
  g_autofree char *detail = NULL;

  /* The progress line shows frames kept; the detail adds frames seen and the stream time. */
  if (p->dropped)
    detail = g_strdup_printf (_("%" PRId64 " seen, at %s, %" PRId64
                                " dropped"), p->seen, at, p->dropped);
  else
    detail = g_strdup_printf (_("%" PRId64 " seen, at %s"), p->seen, at);
  gemba_cli_progress_update (report->progress, p->kept, detail);
}

static void
stored_cb (const GembaFrame *frame, gboolean duplicate, gpointer user_data)
{
  Report *report = user_data;
  g_autoptr(JsonBuilder) b = NULL;
  g_autoptr(JsonNode) root = NULL;

  if (!report->json)
    return;
  b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "source");
  json_builder_add_string_value (b, report->location);
  json_builder_set_member_name (b, "id");
  json_builder_add_string_value (b, frame->sha256);
  json_builder_set_member_name (b, "frame_number");
  json_builder_add_int_value (b, frame->frame_number);
  json_builder_set_member_name (b, "stream_time_ns");
  json_builder_add_int_value (b, frame->stream_time);
  json_builder_set_member_name (b, "duplicate");
  json_builder_add_boolean_value (b, duplicate);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  gemba_cli_print_json (root);
}

static void
dropped_cb (GembaFrameSource *source, const char *message, gpointer user_data)
{
  gemba_cli_error (_("%s: the stream dropped (%s); reconnecting, frames kept so far are "
                     "saved"), gemba_frame_source_get_location (source), message);
}

static void
reconnected_cb (GembaFrameSource *source, gint64 gap, gpointer user_data)
{
  gemba_cli_error (_("%s: reconnected after a gap of %.1f s"),
                   gemba_frame_source_get_location (source), gap / (double) G_USEC_PER_SEC);
}

static void
print_summary (const char *location, const GembaMediaProgress *p, gboolean quiet)
{
  g_autoptr(GString) s = g_string_new (NULL);
  double seconds = p->elapsed / (double) G_USEC_PER_SEC;

  g_string_append_printf (s, g_dngettext (GETTEXT_PACKAGE,
                                          "%s: stored %" PRId64 " frame",
                                          "%s: stored %" PRId64 " frames", p->stored),
                          location, p->stored);
  g_string_append_printf (s, _(" (kept %" PRId64 " of %" PRId64
                               " seen) in %.1f s, %.0f frames/s decoded"),
                          p->kept, p->seen, seconds, seconds > 0 ? p->seen / seconds : 0.0);
  if (p->duplicates)
    g_string_append_printf (s, _("; %" PRId64 " already in the project"),
                            p->duplicates);
  if (p->dropped)
    g_string_append_printf (s, _("; %" PRId64 " dropped because saving fell behind"),
                            p->dropped);
  if (p->reconnects)
    g_string_append_printf (s, _("; reconnected %u times, %.1f s lost"), p->reconnects,
                            p->gap_time / (double) G_USEC_PER_SEC);
  if (p->cancelled)
    g_string_append (s, _("; stopped by the user"));
  if (!quiet || p->cancelled)
    g_printerr ("%s.\n", s->str);
}

/* Runs @source into @store. Returns the exit status. */
static int
run_import (GembaStore *store, GembaFrameSource *source, GembaSampler *sampler,
            const char *source_name, gboolean lossless, gint64 max_frames, gint64 max_duration,
            gboolean quiet, gboolean json, GembaMediaProgress *summary)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaCliProgress) progress = NULL;
  GembaMediaImportOptions options;
  Report report = { 0 };
  gboolean ok;

  progress = gemba_cli_progress_new (_("Frames kept"), 0, quiet);
  report.progress = progress;
  report.json = json;
  report.quiet = quiet;
  report.location = gemba_frame_source_get_location (source);

  gemba_media_import_options_init (&options);
  options.sampler = sampler;
  options.lossless = lossless;
  options.source_name = source_name;
  options.max_frames = max_frames;
  options.max_duration = max_duration;
  options.progress = progress_cb;
  options.stored = stored_cb;
  options.user_data = &report;

  g_signal_connect (source, "dropped", G_CALLBACK (dropped_cb), NULL);
  g_signal_connect (source, "reconnected", G_CALLBACK (reconnected_cb), NULL);
  ok = gemba_media_import (store, source, &options, summary,
                           gemba_cli_interrupt_cancellable (), &error);
  g_clear_pointer (&progress, gemba_cli_progress_free);
  print_summary (report.location, summary, quiet);
  if (!ok && !summary->cancelled)
    {
      if (summary->stored + summary->duplicates > 0)
        gemba_cli_error (_("%s (the %" PRId64 " frames stored before are kept)"),
                         error->message, summary->stored + summary->duplicates);
      else
        gemba_cli_error ("%s", error->message);
      return GEMBA_EXIT_FAILED;
    }
  return summary->cancelled ? EXIT_INTERRUPTED : GEMBA_EXIT_OK;
}

/* One sampler from the mutually exclusive options; NULL with a message when they clash. */
static GembaSampler *
make_sampler (const char *command, int every, double every_seconds, double fps,
              double scene_change, gboolean manual, int *status)
{
  guint n = (every > 0) + (every_seconds > 0) + (fps > 0) + (scene_change >= 0) + manual;

  *status = GEMBA_EXIT_OK;
  if (n > 1)
    {
      *status = gemba_cli_usage (command, _("choose one of --every, --every-seconds, --fps and "
                                            "--scene-change"));
      return NULL;
    }
  if (every < 0 || every_seconds < 0 || fps < 0 || scene_change > 1)
    {
      *status = gemba_cli_usage (command, _("--every, --every-seconds and --fps must be "
                                            "positive, --scene-change between 0 and 1"));
      return NULL;
    }
  if (every > 0)
    return gemba_sampler_new_every ((guint) every);
  if (every_seconds > 0)
    return gemba_sampler_new_interval ((gint64) (every_seconds * 1e9));
  if (fps > 0)
    return gemba_sampler_new_interval ((gint64) (1e9 / fps));
  if (scene_change >= 0)
    return gemba_sampler_new_scene_change (scene_change);
  return gemba_sampler_new_all ();
}

/* --- gemba import (videos) ------------------------------------------------------------- */

int
gemba_cli_import_video (GembaStore *store, const char *path, const GembaCliVideoOptions *opts,
                        gint64 *n_stored, gint64 *n_duplicates)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaFrameSource) source = NULL;
  g_autoptr(GembaSampler) sampler = NULL;
  GembaMediaProgress summary = { 0 };
  int status;

  sampler = make_sampler ("import", opts->every, 0, opts->fps, opts->scene_change, FALSE,
                          &status);
  if (!sampler)
    return status;
  if (!(source = gemba_frame_source_new (path, &error)))
    return gemba_cli_fail (error);
  status = run_import (store, source, sampler, opts->source, opts->lossless, 0, 0, opts->quiet,
                       opts->json, &summary);
  if (n_stored)
    *n_stored += summary.stored;
  if (n_duplicates)
    *n_duplicates += summary.duplicates;
  return status;
}

/* --- gemba capture --------------------------------------------------------------------- */

int
gemba_cli_capture (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaFrameSource) source = NULL;
  g_autoptr(GembaSampler) sampler = NULL;
  g_autofree char *pipeline = NULL, *source_name = NULL, *duration = NULL;
  GembaMediaProgress summary = { 0 };
  gboolean lossless = FALSE, quiet = FALSE, json = FALSE;
  int every = 0, max_frames = 0, status;
  double every_seconds = 0, fps = 0, scene_change = -1;
  gint64 max_duration = 0;
  const GOptionEntry entries[] = {
    { "pipeline", 'p', 0, G_OPTION_ARG_STRING, &pipeline,
      N_("Capture from a GStreamer pipeline description instead of a camera or URI"),
      N_("DESCRIPTION") },
    { "every", 0, 0, G_OPTION_ARG_INT, &every, N_("Keep every N-th frame"), N_("N") },
    { "every-seconds", 0, 0, G_OPTION_ARG_DOUBLE, &every_seconds,
      N_("Keep one frame every T seconds"), N_("T") },
    { "fps", 0, 0, G_OPTION_ARG_DOUBLE, &fps, N_("Keep F frames per second"), N_("F") },
    { "scene-change", 0, 0, G_OPTION_ARG_DOUBLE, &scene_change,
      N_("Keep a frame when it differs from the last kept one by at least T (0–1)"), N_("T") },
    { "max", 'n', 0, G_OPTION_ARG_INT, &max_frames, N_("Stop after keeping N frames"),
      N_("N") },
    { "duration", 'd', 0, G_OPTION_ARG_STRING, &duration,
      N_("Stop after this long (90s, 10m, 1h)"), N_("TIME") },
    { "source", 's', 0, G_OPTION_ARG_STRING, &source_name,
      N_("Name of the source the frames come from (default: the camera or host name)"),
      N_("NAME") },
    { "lossless", 0, 0, G_OPTION_ARG_NONE, &lossless,
      N_("Store frames as PNG instead of JPEG quality 95"), NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, N_("No progress line"), NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json,
      N_("One JSON line per stored frame, printed once it is safely saved"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT [CAMERA|URI]",
                        N_("Capture frames from a camera (v4l2:///dev/video0, or a name from "
                           "“gemba devices”), a network stream (rtsp://, http://), any "
                           "GStreamer URI, or a pipeline (--pipeline). Ctrl+C stops and keeps "
                           "every frame stored so far. A dropped network stream is reconnected.")))
    return GEMBA_EXIT_USAGE;
  if (argc < 2)
    return gemba_cli_usage (argv[0], _("give the project, and a camera or URI or --pipeline"));
  if ((argc >= 3) == (pipeline != NULL) || argc > 3)
    return gemba_cli_usage (argv[0], _("give either a camera or URI, or --pipeline"));
  if (max_frames < 0)
    return gemba_cli_usage (argv[0], _("--max must be positive"));
  if (duration && (max_duration = parse_duration (duration)) < 0)
    return gemba_cli_usage (argv[0], _("“%s” is not a duration: write e.g. 90s, 10m or 1h"),
                            duration);
  sampler = make_sampler (argv[0], every, every_seconds, fps, scene_change, FALSE, &status);
  if (!sampler)
    return status;

  if (pipeline)
    source = gemba_frame_source_new_for_pipeline (pipeline, &error);
  else
    {
      const char *location = argv[2];
      g_autofree char *scheme = g_uri_parse_scheme (location);

      if (scheme || location[0] == '/' || g_file_test (location, G_FILE_TEST_EXISTS))
        source = gemba_frame_source_new (location, &error);
      else
        {
          /* A camera by the name “gemba devices” shows. */
          g_autoptr(GembaDeviceInfo) device = gemba_devices_find (location, &error);
          if (device)
            source = gemba_frame_source_new_for_device (device->device, &error);
        }
    }
  if (!source)
    return gemba_cli_fail (error);
  if (!(store = gemba_cli_open_project (argv[1], &error)) ||
      !gemba_store_check_writable (store, &error))
    return gemba_cli_fail (error);

  status = run_import (store, source, sampler, source_name, lossless, max_frames, max_duration,
                       quiet, json, &summary);
  /* Ctrl+C is how an open-ended capture ends: not a failure. */
  return status == EXIT_INTERRUPTED ? GEMBA_EXIT_OK : status;
}

/* --- gemba devices --------------------------------------------------------------------- */

int
gemba_cli_devices (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) devices = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("One JSON line per camera"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "",
                        N_("List the cameras GStreamer can see, with their modes. Capture from "
                           "one with “gemba capture PROJECT NAME” or its v4l2:// path.")))
    return GEMBA_EXIT_USAGE;
  if (argc > 1)
    return gemba_cli_usage (argv[0], _("takes no arguments"));
  if (!(devices = gemba_devices_list (&error)))
    return gemba_cli_fail (error);

  if (devices->len == 0 && !json)
    g_print (_("No camera found. Check that it is plugged in and that you may use it (the "
               "“video” group), or capture from an rtsp:// address.\n"));
  for (guint i = 0; i < devices->len; i++)
    {
      GembaDeviceInfo *info = devices->pdata[i];
      if (json)
        {
          g_autoptr(JsonBuilder) b = json_builder_new ();
          g_autoptr(JsonNode) root = NULL;
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "name");
          json_builder_add_string_value (b, info->name);
          json_builder_set_member_name (b, "class");
          json_builder_add_string_value (b, info->device_class);
          json_builder_set_member_name (b, "path");
          if (info->path)
            json_builder_add_string_value (b, info->path);
          else
            json_builder_add_null_value (b);
          json_builder_set_member_name (b, "modes");
          json_builder_begin_array (b);
          for (guint j = 0; j < info->modes->len; j++)
            json_builder_add_string_value (b, info->modes->pdata[j]);
          json_builder_end_array (b);
          json_builder_end_object (b);
          root = json_builder_get_root (b);
          gemba_cli_print_json (root);
          continue;
        }
      g_print ("%s", info->name);
      if (info->path)
        g_print ("  v4l2://%s", info->path);
      g_print ("\n");
      for (guint j = 0; j < info->modes->len; j++)
        g_print ("    %s\n", (char *) info->modes->pdata[j]);
    }
  return GEMBA_EXIT_OK;
}
