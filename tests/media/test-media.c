#define G_LOG_DOMAIN "gemba-test-media"

#include "config.h"

/* test-media.c: libgemba-media and the CLI's capture and video import
 *
 * Every video is made here with GStreamer (videotestsrc or appsrc, encoders from
 * gst-plugins-good), and the RTSP stream comes from a gst-rtsp-server on 127.0.0.1 that the
 * test starts, stops and starts again.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <string.h>

#include <glib/gstdio.h>
#include <gst/app/gstappsrc.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <gst/video/video.h>

#include "gemba.h"
#include "gemba-media.h"

#define FRAME_NS(n, fps) ((gint64) (n) * GST_SECOND / (fps))

typedef struct {
  char *dir;
  GembaStore *store;
} Fixture;

static void
remove_tree (const char *path)
{
  GDir *dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir && (name = g_dir_read_name (dir)))
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_unlink (child);
    }
  if (dir)
    g_dir_close (dir);
  g_rmdir (path);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *project = NULL;

  f->dir = g_dir_make_tmp ("gemba-test-media-XXXXXX", &error);
  g_assert_no_error (error);
  project = g_build_filename (f->dir, "line", NULL);
  f->store = gemba_store_create (project, NULL, &error);
  g_assert_no_error (error);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->store);
  remove_tree (f->dir);
  g_free (f->dir);
}

/* Runs a gst-launch description to its end. */
static void
run_launch (const char *description)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) pipeline = gst_parse_launch (description, &error);
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstMessage) msg = NULL;

  g_assert_no_error (error);
  bus = gst_element_get_bus (pipeline);
  g_assert_cmpint (gst_element_set_state (pipeline, GST_STATE_PLAYING), !=,
                   GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR)
    {
      g_autoptr(GError) gst_error = NULL;
      gst_message_parse_error (msg, &gst_error, NULL);
      g_error ("%s: %s", description, gst_error->message);
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);
}

/* A moving ball (every frame differs) of @n frames at 30 fps, 320×240. */
static char *
make_video (Fixture *f, const char *name, guint n, const char *encode)
{
  char *path = g_build_filename (f->dir, name, NULL);
  g_autofree char *description =
    g_strdup_printf ("videotestsrc pattern=ball num-buffers=%u ! "
                     "video/x-raw,width=320,height=240,framerate=30/1 ! %s ! "
                     "filesink location=\"%s\"", n, encode, path);
  run_launch (description);
  return path;
}

#define VP8_WEBM "vp8enc deadline=1 ! webmmux"
#define MJPEG_AVI "jpegenc ! avimux"

/* Three scenes of 30 frames (black, white, grey backgrounds) with a small moving square: the
 * square changes every frame a little, the scene cut changes everything. */
static char *
make_scenes_video (Fixture *f, const char *name)
{
  char *path = g_build_filename (f->dir, name, NULL);
  g_autofree char *description =
    g_strdup_printf ("appsrc name=src format=time ! videoconvert ! " VP8_WEBM
                     " ! filesink location=\"%s\"", path);
  g_autoptr(GError) error = NULL;
  g_autoptr(GstElement) pipeline = gst_parse_launch (description, &error);
  g_autoptr(GstElement) src = NULL;
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstMessage) msg = NULL;
  g_autoptr(GstCaps) caps = gst_caps_from_string ("video/x-raw,format=RGB,width=160,height=120,"
                                                  "framerate=30/1");
  const guint8 backgrounds[] = { 0, 255, 128 };

  g_assert_no_error (error);
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  g_object_set (src, "caps", caps, NULL);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  for (guint n = 0; n < 90; n++)
    {
      GstBuffer *buffer = gst_buffer_new_allocate (NULL, 160 * 120 * 3, NULL);
      GstMapInfo map;
      guint8 bg = backgrounds[n / 30];

      gst_buffer_map (buffer, &map, GST_MAP_WRITE);
      memset (map.data, bg, map.size);
      for (guint y = 50; y < 66; y++)
        for (guint x = 10 + n % 30 * 4; x < 26 + n % 30 * 4; x++)
          {
            guint8 *p = map.data + (y * 160 + x) * 3;
            p[0] = 255 - bg;
            p[1] = 64;
            p[2] = bg;
          }
      gst_buffer_unmap (buffer, &map);
      GST_BUFFER_PTS (buffer) = FRAME_NS (n, 30);
      GST_BUFFER_DURATION (buffer) = FRAME_NS (1, 30);
      g_assert_cmpint (gst_app_src_push_buffer (GST_APP_SRC (src), buffer), ==, GST_FLOW_OK);
    }
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  bus = gst_element_get_bus (pipeline);
  msg = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (msg);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_EOS);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return path;
}

/* Every frame of the project, oldest first. */
static GPtrArray *
list_frames (GembaStore *store)
{
  g_autoptr(GError) error = NULL;
  GembaFrameQuery query = { 0 };
  GPtrArray *frames;

  query.filter = GEMBA_FILTER_ALL;
  query.sort = GEMBA_SORT_CAPTURED;
  frames = gemba_store_list_frames (store, &query, 0, -1, &error);
  g_assert_no_error (error);
  return frames;
}

static int
compare_frame_numbers (gconstpointer a, gconstpointer b)
{
  const GembaFrame *fa = *(GembaFrame * const *) a, *fb = *(GembaFrame * const *) b;

  return fa->frame_number < fb->frame_number ? -1 : fa->frame_number > fb->frame_number;
}

static gboolean
import_file (Fixture *f, const char *path, GembaSampler *sampler, gboolean lossless,
             GembaMediaProgress *summary, GError **error)
{
  g_autoptr(GembaFrameSource) source = gemba_frame_source_new (path, error);
  GembaMediaImportOptions options;

  if (!source)
    return FALSE;
  g_assert_cmpstr (gemba_frame_source_get_kind_name (source), ==, "video");
  gemba_media_import_options_init (&options);
  options.sampler = sampler;
  options.lossless = lossless;
  return gemba_media_import (f->store, source, &options, summary, NULL, error);
}

/* --- sampler --------------------------------------------------------------------------- */

static void
test_sampler_modes (void)
{
  g_autoptr(GembaSampler) every = gemba_sampler_new_every (4);
  g_autoptr(GembaSampler) interval = gemba_sampler_new_interval (GST_SECOND / 2);
  g_autoptr(GembaSampler) manual = gemba_sampler_new_manual ();
  g_autoptr(GembaSampler) scene = gemba_sampler_new_scene_change (0.25);
  guint8 black[8 * 8 * 3] = { 0 }, white[8 * 8 * 3], dim[8 * 8 * 3];
  guint n_every = 0, n_interval = 0;

  memset (white, 255, sizeof white);
  memset (dim, 40, sizeof dim);   /* 40/255 ≈ 0.16 from black */
  for (guint n = 0; n < 30; n++)
    {
      gboolean kept = gemba_sampler_offer (every, NULL, 0, 0, 0, 3, -1, n, FALSE);
      g_assert_cmpint (kept, ==, n % 4 == 0);
      n_every += kept;
      /* 30 fps with WebM's 1 ms rounding: frames 0, 15 are due; 16 is not. */
      n_interval += gemba_sampler_offer (interval, NULL, 0, 0, 0, 3,
                                         FRAME_NS (n, 30) / GST_MSECOND * GST_MSECOND, n,
                                         FALSE);
    }
  g_assert_cmpuint (n_every, ==, 8);
  g_assert_cmpuint (n_interval, ==, 2);
  /* After a gap of 3 s, one frame is kept, not a burst of six. */
  g_assert_true (gemba_sampler_offer (interval, NULL, 0, 0, 0, 3, 4 * GST_SECOND, 120, FALSE));
  g_assert_false (gemba_sampler_offer (interval, NULL, 0, 0, 0, 3, 4 * GST_SECOND + 10, 121,
                                       FALSE));

  g_assert_false (gemba_sampler_offer (manual, NULL, 0, 0, 0, 3, 0, 0, FALSE));
  g_assert_true (gemba_sampler_offer (manual, NULL, 0, 0, 0, 3, 0, 1, TRUE));

  g_assert_true (gemba_sampler_offer (scene, black, 8, 8, 24, 3, 0, 0, FALSE));
  g_assert_false (gemba_sampler_offer (scene, dim, 8, 8, 24, 3, 1, 1, FALSE));
  g_assert_cmpfloat_with_epsilon (gemba_sampler_get_last_difference (scene), 40 / 255.0, 0.01);
  g_assert_true (gemba_sampler_offer (scene, white, 8, 8, 24, 3, 2, 2, FALSE));
  g_assert_cmpfloat_with_epsilon (gemba_sampler_difference (black, white, 8, 8, 24, 3), 1.0,
                                  0.001);
}

/* --- import from files ----------------------------------------------------------------- */

static void
test_import_webm_all (Fixture *f, gconstpointer data)
{
  g_autofree char *path = make_video (f, "all.webm", 60, VP8_WEBM);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  g_autoptr(GPtrArray) sources = NULL;
  GembaMediaProgress summary;

  g_assert_true (import_file (f, path, NULL, FALSE, &summary, &error));
  g_assert_no_error (error);
  g_assert_cmpint (summary.seen, ==, 60);
  g_assert_cmpint (summary.kept, ==, 60);
  g_assert_cmpint (summary.stored, ==, 60);
  g_assert_cmpint (summary.duplicates, ==, 0);
  g_assert_cmpint (ABS (summary.duration - 2 * GST_SECOND), <=, GST_MSECOND);

  frames = list_frames (f->store);
  g_assert_cmpuint (frames->len, ==, 60);
  g_ptr_array_sort (frames, compare_frame_numbers);
  for (guint i = 0; i < frames->len; i++)
    {
      GembaFrame *frame = frames->pdata[i];
      g_assert_cmpint (frame->frame_number, ==, i);
      /* WebM stores milliseconds. */
      g_assert_cmpint (ABS (frame->stream_time - FRAME_NS (i, 30)), <=, GST_MSECOND);
      g_assert_cmpstr (frame->ext, ==, "jpg");
      g_assert_cmpuint (frame->width, ==, 320);
      g_assert_cmpuint (frame->height, ==, 240);
      g_assert_cmpstr (frame->source_name, ==, "all.webm");
    }
  sources = gemba_store_list_sources (f->store, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (sources->len, ==, 1);
  g_assert_cmpstr (((GembaSource *) sources->pdata[0])->kind, ==, "video");
  g_assert_cmpint (((GembaSource *) sources->pdata[0])->n_frames, ==, 60);

  /* The same video again: nothing new, every frame a duplicate. */
  g_assert_true (import_file (f, path, NULL, FALSE, &summary, &error));
  g_assert_cmpint (summary.stored, ==, 0);
  g_assert_cmpint (summary.duplicates, ==, 60);
}

static void
test_import_avi_every (Fixture *f, gconstpointer data)
{
  g_autofree char *path = make_video (f, "every.avi", 90, MJPEG_AVI);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  g_autoptr(GembaSampler) sampler = gemba_sampler_new_every (15);
  GembaMediaProgress summary;

  g_assert_true (import_file (f, path, sampler, FALSE, &summary, &error));
  g_assert_no_error (error);
  g_assert_cmpint (summary.seen, ==, 90);
  g_assert_cmpint (summary.stored, ==, 6);
  frames = list_frames (f->store);
  g_ptr_array_sort (frames, compare_frame_numbers);
  g_assert_cmpuint (frames->len, ==, 6);
  for (guint i = 0; i < frames->len; i++)
    {
      GembaFrame *frame = frames->pdata[i];
      g_assert_cmpint (frame->frame_number, ==, 15 * i);
      g_assert_cmpint (ABS (frame->stream_time - FRAME_NS (15 * i, 30)), <=, GST_MSECOND);
    }
}

static void
test_import_fps_lossless (Fixture *f, gconstpointer data)
{
  g_autofree char *path = make_video (f, "fps.webm", 90, VP8_WEBM);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  g_autoptr(GembaSampler) sampler = gemba_sampler_new_interval (GST_SECOND / 2);
  GembaMediaProgress summary;

  g_assert_true (import_file (f, path, sampler, TRUE, &summary, &error));
  g_assert_no_error (error);
  g_assert_cmpint (summary.stored, ==, 6);   /* 3 s at 2 frames per second */
  frames = list_frames (f->store);
  g_ptr_array_sort (frames, compare_frame_numbers);
  for (guint i = 0; i < frames->len; i++)
    {
      GembaFrame *frame = frames->pdata[i];
      g_autofree char *file = gemba_store_dup_frame_path (f->store, frame);
      g_autoptr(GembaImage) image = NULL;

      g_assert_cmpint (frame->frame_number, ==, 15 * i);
      g_assert_cmpint (ABS (frame->stream_time - (gint64) i * GST_SECOND / 2), <=, GST_MSECOND);
      g_assert_cmpstr (frame->ext, ==, "png");
      image = gemba_image_load (file, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (image->width, ==, 320);
    }
}

static void
test_import_scene_change (Fixture *f, gconstpointer data)
{
  g_autofree char *path = make_scenes_video (f, "scenes.webm");
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  g_autoptr(GembaSampler) sampler = gemba_sampler_new_scene_change (0.25);
  GembaMediaProgress summary;

  g_assert_true (import_file (f, path, sampler, FALSE, &summary, &error));
  g_assert_no_error (error);
  g_assert_cmpint (summary.seen, ==, 90);
  g_assert_cmpint (summary.stored, ==, 3);
  frames = list_frames (f->store);
  g_ptr_array_sort (frames, compare_frame_numbers);
  g_assert_cmpint (((GembaFrame *) frames->pdata[0])->frame_number, ==, 0);
  g_assert_cmpint (((GembaFrame *) frames->pdata[1])->frame_number, ==, 30);
  g_assert_cmpint (((GembaFrame *) frames->pdata[2])->frame_number, ==, 60);
}

/* Frames are encoded from the decoder's YUV: the colours must survive, for SD (BT.601) and
 * HD (BT.709) video, in JPEG and in PNG. */
static void
check_colour (Fixture *f, guint width, guint height, gboolean lossless)
{
  g_autofree char *name = g_strdup_printf ("colour-%u-%d.webm", width, lossless);
  g_autofree char *path = g_build_filename (f->dir, name, NULL);
  g_autofree char *description = g_strdup_printf (
    "videotestsrc pattern=solid-color foreground-color=0xff3060c0 num-buffers=3 ! "
    "video/x-raw,width=%u,height=%u,framerate=30/1 ! vp8enc ! webmmux ! "
    "filesink location=\"%s\"", width, height, path);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  g_autoptr(GembaSampler) sampler = gemba_sampler_new_every (100);
  GembaMediaProgress summary;
  const guint8 expected[3] = { 0x30, 0x60, 0xc0 };

  run_launch (description);
  g_assert_true (import_file (f, path, sampler, lossless, &summary, &error));
  g_assert_no_error (error);
  frames = list_frames (f->store);
  for (guint i = 0; i < frames->len; i++)
    {
      GembaFrame *frame = frames->pdata[i];
      g_autofree char *file = NULL;
      g_autoptr(GembaImage) image = NULL;
      const guint8 *p;

      if (frame->width != width || g_strcmp0 (frame->ext, lossless ? "png" : "jpg") != 0)
        continue;
      file = gemba_store_dup_frame_path (f->store, frame);
      image = gemba_image_load (file, &error);
      g_assert_no_error (error);
      p = image->pixels + ((gsize) (height / 2) * width + width / 2) * 3;
      g_test_message ("%u×%u %s: %02x%02x%02x", width, height, frame->ext, p[0], p[1], p[2]);
      for (guint c = 0; c < 3; c++)
        g_assert_cmpint (ABS ((int) p[c] - (int) expected[c]), <=, 8);
      return;
    }
  g_assert_not_reached ();
}

static void
test_import_colours (Fixture *f, gconstpointer data)
{
  check_colour (f, 320, 240, FALSE);
  check_colour (f, 1280, 720, FALSE);
  check_colour (f, 320, 240, TRUE);
}

/* Cut in half: the frames before the cut are kept, the error names the file and the time. */
static void
test_import_truncated (Fixture *f, gconstpointer data)
{
  g_autofree char *path = make_video (f, "whole.webm", 150, VP8_WEBM);
  g_autofree char *cut = g_build_filename (f->dir, "cut.webm", NULL);
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  GembaMediaProgress summary;
  gint64 last_time = -1;
  gsize length;

  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  g_assert_true (g_file_set_contents (cut, contents, length / 2, NULL));

  g_assert_false (import_file (f, cut, NULL, FALSE, &summary, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "cut.webm"));
  g_assert_nonnull (strstr (error->message, "0:00:0"));
  g_test_message ("%s", error->message);

  frames = list_frames (f->store);
  g_assert_cmpuint (frames->len, >, 30);
  g_assert_cmpuint (frames->len, <, 150);
  g_assert_cmpint (summary.stored, ==, frames->len);
  for (guint i = 0; i < frames->len; i++)
    last_time = MAX (last_time, ((GembaFrame *) frames->pdata[i])->stream_time);
  {
    /* The time in the message is the last frame kept. */
    g_autofree char *expected = g_strdup_printf ("0:00:%02u.%03u",
                                                 (guint) (last_time / GST_SECOND),
                                                 (guint) (last_time / GST_MSECOND % 1000));
    g_assert_nonnull (strstr (error->message, expected));
  }
}

/* Garbage in the middle of a file: frames before the damage are kept. */
static void
test_import_corrupt (Fixture *f, gconstpointer data)
{
  g_autofree char *path = make_video (f, "damaged.webm", 150, VP8_WEBM);
  g_autofree char *contents = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  GembaMediaProgress summary;
  GRand *rand = g_rand_new_with_seed (7);
  gsize length;

  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  for (gsize i = length / 2; i < length / 2 + 20000 && i < length; i++)
    contents[i] = (char) g_rand_int (rand);
  g_rand_free (rand);
  g_assert_true (g_file_set_contents (path, contents, length, NULL));

  g_assert_false (import_file (f, path, NULL, FALSE, &summary, &error));
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT);
  g_assert_nonnull (strstr (error->message, "damaged.webm"));
  frames = list_frames (f->store);
  g_assert_cmpuint (frames->len, >, 30);
  g_assert_cmpint (summary.stored, ==, frames->len);
}

/* --- memory bound: a slow disk holds the decoder back (files) or drops frames (live) ----- */

typedef struct {
  gint64 max_waiting;    /* most kept frames not yet saved, seen by the progress callback */
  gint64 max_ahead;      /* most decoded frames not yet saved */
} Backlog;

static void
slow_stored_cb (const GembaFrame *frame, gboolean duplicate, gpointer user_data)
{
  g_usleep (30 * 1000);   /* a slow disk */
}

static void
backlog_progress_cb (const GembaMediaProgress *p, gpointer user_data)
{
  Backlog *b = user_data;

  b->max_waiting = MAX (b->max_waiting, p->kept - p->stored - p->duplicates - p->dropped);
  b->max_ahead = MAX (b->max_ahead, p->seen - p->stored - p->duplicates - p->dropped);
}

static void
test_import_bounded (Fixture *f, gconstpointer data)
{
  g_autofree char *path = make_video (f, "long.avi", 120, MJPEG_AVI);
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaFrameSource) source = gemba_frame_source_new (path, &error);
  g_autoptr(GembaFrameSource) live = NULL;
  GembaMediaImportOptions options;
  GembaMediaProgress summary;
  Backlog backlog = { 0 };

  g_assert_no_error (error);
  gemba_media_import_options_init (&options);
  options.queue_frames = 4;
  options.stored = slow_stored_cb;
  options.progress = backlog_progress_cb;
  options.user_data = &backlog;
  g_assert_true (gemba_media_import (f->store, source, &options, &summary, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (summary.stored, ==, 120);
  g_assert_cmpint (summary.dropped, ==, 0);
  /* Frames wait in the queue (4) or in the open batch (up to 64), never more: the decoder
   * waited for the disk instead of filling memory. */
  g_test_message ("file: at most %" G_GINT64_FORMAT " kept frames waiting, %" G_GINT64_FORMAT
                  " decoded ahead", backlog.max_waiting, backlog.max_ahead);
  g_assert_cmpint (backlog.max_waiting, <=, 4 + 64 + 2);
  g_assert_cmpint (backlog.max_ahead, <=, 4 + 64 + 8);

  /* Live: the camera is never held back; what the disk cannot take is dropped and counted. */
  memset (&backlog, 0, sizeof backlog);
  live = gemba_frame_source_new_for_pipeline (
    "videotestsrc is-live=true pattern=snow num-buffers=90 ! "
    "video/x-raw,width=160,height=120,framerate=60/1", &error);
  g_assert_no_error (error);
  g_assert_true (gemba_media_import (f->store, live, &options, &summary, NULL, &error));
  g_assert_no_error (error);
  g_test_message ("live: %" G_GINT64_FORMAT " stored, %" G_GINT64_FORMAT " dropped",
                  summary.stored, summary.dropped);
  g_assert_true (gemba_frame_source_is_live (live));
  g_assert_cmpint (summary.seen, ==, 90);
  g_assert_cmpint (summary.dropped, >, 0);
  g_assert_cmpint (summary.stored + summary.duplicates + summary.dropped, ==, 90);
  g_assert_cmpint (summary.kept, ==, 90);
}

/* --- bad sources ----------------------------------------------------------------------- */

static void
test_bad_pipeline (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaFrameSource) source = NULL;

  source = gemba_frame_source_new ("nosuchscheme://host/x", &error);
  g_assert_null (source);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "nosuchscheme"));
  g_clear_error (&error);

  source = gemba_frame_source_new_for_pipeline ("videotestsrc ! nosuchelement", &error);
  g_assert_null (source);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "nosuchelement"));
  g_clear_error (&error);

  source = gemba_frame_source_new_for_pipeline ("videotestsrc ! ! videoconvert", &error);
  g_assert_null (source);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
  g_clear_error (&error);

  /* Parses, but leaves no output for the video. */
  source = gemba_frame_source_new_for_pipeline ("videotestsrc ! fakesink", &error);
  g_assert_null (source);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID);
}

static void
test_missing_camera (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaFrameSource) source = NULL;
  gint64 started = g_get_monotonic_time ();

  source = gemba_frame_source_new ("v4l2:///dev/video99", &error);
  g_assert_null (source);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "/dev/video99"));
  g_clear_error (&error);
  source = gemba_frame_source_new ("/dev/video99", &error);
  g_assert_null (source);
  g_assert_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND);
  g_assert_cmpint (g_get_monotonic_time () - started, <, 5 * G_USEC_PER_SEC);
}

/* A port nobody listens on: refused at once, not a hang. */
static guint16
free_port (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  g_assert_true (g_socket_bind (socket, any, TRUE, NULL));
  bound = g_socket_get_local_address (socket, NULL);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static void
test_rtsp_unreachable (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = g_strdup_printf ("rtsp://127.0.0.1:%u/cam", free_port ());
  g_autoptr(GembaFrameSource) source = gemba_frame_source_new (uri, &error);
  gint64 started = g_get_monotonic_time ();
  GembaMediaProgress summary;

  g_assert_no_error (error);
  g_assert_cmpstr (gemba_frame_source_get_kind_name (source), ==, "stream");
  g_assert_false (gemba_media_import (f->store, source, NULL, &summary, NULL, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, uri));
  g_test_message ("%s", error->message);
  g_assert_cmpint (g_get_monotonic_time () - started, <, 10 * G_USEC_PER_SEC);
  g_assert_cmpint (summary.stored, ==, 0);
}

/* --- live: pipeline, preview, snapshot, cancel ----------------------------------------- */

static void
test_pipeline_preview_snapshot (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaSampler) sampler = gemba_sampler_new_manual ();
  g_autoptr(GembaFrameSource) source = NULL;
  g_autoptr(GstSample) sample = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  GembaMediaImportOptions options;
  GembaMediaProgress summary;
  guint width = 0, height = 0;
  gsize stride = 0;
  guint64 serial = 0;

  source = gemba_frame_source_new_for_pipeline (
    "videotestsrc pattern=ball num-buffers=20 ! video/x-raw,width=64,height=48", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (gemba_frame_source_get_kind_name (source), ==, "pipeline");
  g_assert_null (gemba_frame_source_dup_latest_sample (source, &serial));
  gemba_frame_source_set_pixel_format (source, GEMBA_PIXEL_RGBA);
  /* Asked before the first frame: the first frame is the snapshot. */
  gemba_frame_source_snapshot (source);

  gemba_media_import_options_init (&options);
  options.sampler = sampler;
  g_assert_true (gemba_media_import (f->store, source, &options, &summary, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (summary.seen, ==, 20);
  g_assert_cmpint (summary.stored, ==, 1);
  frames = list_frames (f->store);
  g_assert_cmpint (((GembaFrame *) frames->pdata[0])->frame_number, ==, 0);
  g_assert_cmpuint (((GembaFrame *) frames->pdata[0])->width, ==, 64);

  /* The preview: the newest frame, RGBA. */
  sample = gemba_frame_source_dup_latest_sample (source, &serial);
  g_assert_nonnull (sample);
  g_assert_cmpuint (serial, ==, 20);
  {
    GstVideoInfo info;
    g_assert_true (gst_video_info_from_caps (&info, gst_sample_get_caps (sample)));
    g_assert_cmpint (GST_VIDEO_INFO_FORMAT (&info), ==, GST_VIDEO_FORMAT_RGBA);
  }
  bytes = gemba_frame_source_dup_latest_frame (source, &width, &height, &stride, NULL);
  g_assert_nonnull (bytes);
  g_assert_cmpuint (width, ==, 64);
  g_assert_cmpuint (height, ==, 48);
  g_assert_cmpuint (stride, ==, 64 * 4);
  g_assert_cmpuint (g_bytes_get_size (bytes), >=, stride * 48);
}

/* Waits until @source has delivered @n frames; fails the test after 20 s. */
static void
wait_frames (GembaFrameSource *source, gint64 n)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  while (gemba_frame_source_get_n_frames (source) < n)
    {
      if (g_get_monotonic_time () > deadline)
        g_error ("%s: %" G_GINT64_FORMAT " frames after 20 s, expected %" G_GINT64_FORMAT,
                 gemba_frame_source_get_location (source),
                 gemba_frame_source_get_n_frames (source), n);
      g_usleep (20000);
    }
}

typedef struct {
  GembaStore *store;
  GembaFrameSource *source;
  GCancellable *cancellable;
  GembaMediaImportOptions options;
  GembaMediaProgress summary;
  GError *error;
  gboolean ok;
} Capture;

static gpointer
capture_thread (gpointer data)
{
  Capture *c = data;

  c->ok = gemba_media_import (c->store, c->source, &c->options, &c->summary, c->cancellable,
                              &c->error);
  return NULL;
}

static void
test_cancel_keeps_frames (Fixture *f, gconstpointer data)
{
  Capture c = { 0 };
  g_autoptr(GPtrArray) frames = NULL;
  g_autoptr(GembaSampler) sampler = gemba_sampler_new_every (2);
  GThread *thread;

  c.store = f->store;
  c.source = gemba_frame_source_new_for_pipeline (
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=160,height=120,framerate=30/1",
    &c.error);
  g_assert_no_error (c.error);
  c.cancellable = g_cancellable_new ();
  gemba_media_import_options_init (&c.options);
  c.options.sampler = sampler;
  thread = g_thread_new ("capture", capture_thread, &c);
  wait_frames (c.source, 20);
  g_cancellable_cancel (c.cancellable);
  g_thread_join (thread);

  g_assert_false (c.ok);
  g_assert_error (c.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (c.summary.cancelled);
  g_assert_cmpint (c.summary.stored, >=, 10);
  frames = list_frames (f->store);
  /* Every frame kept before the stop is stored (unless dropped on a very busy machine). */
  g_assert_cmpint (frames->len, ==, c.summary.kept - c.summary.dropped);
  g_assert_cmpint (frames->len, ==, c.summary.stored);
  g_clear_error (&c.error);
  g_object_unref (c.source);
  g_object_unref (c.cancellable);
}

/* --- RTSP: drop and reconnect ---------------------------------------------------------- */

typedef struct {
  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;
  GstRTSPServer *server;
  GSource *source;
} RtspServer;

static gpointer
rtsp_thread (gpointer data)
{
  RtspServer *s = data;

  g_main_context_push_thread_default (s->context);
  g_main_loop_run (s->loop);
  g_main_context_pop_thread_default (s->context);
  return NULL;
}

/* @color: the ball's, so that frames after a restart differ from those before (the store
 * keeps one copy of identical frames); @fps: frames per second. */
static RtspServer *
rtsp_server_start (guint16 port, guint32 color, guint fps)
{
  RtspServer *s = g_new0 (RtspServer, 1);
  g_autoptr(GstRTSPMediaFactory) factory = gst_rtsp_media_factory_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *service = g_strdup_printf ("%u", port);
  g_autofree char *launch = g_strdup_printf (
    "( videotestsrc is-live=true pattern=ball foreground-color=0x%08x ! "
    "video/x-raw,format=I420,width=160,height=120,framerate=%u/1 ! jpegenc ! "
    "rtpjpegpay name=pay0 pt=96 )", color, fps);
  GstRTSPMountPoints *mounts;

  s->context = g_main_context_new ();
  s->loop = g_main_loop_new (s->context, FALSE);
  s->server = gst_rtsp_server_new ();
  gst_rtsp_server_set_address (s->server, "127.0.0.1");
  gst_rtsp_server_set_service (s->server, service);
  gst_rtsp_media_factory_set_launch (factory, launch);
  gst_rtsp_media_factory_set_shared (factory, TRUE);
  mounts = gst_rtsp_server_get_mount_points (s->server);
  gst_rtsp_mount_points_add_factory (mounts, "/cam", g_object_ref (factory));
  g_object_unref (mounts);
  s->source = gst_rtsp_server_create_source (s->server, NULL, &error);
  g_assert_no_error (error);
  g_source_attach (s->source, s->context);
  s->thread = g_thread_new ("rtsp-server", rtsp_thread, s);
  return s;
}

static GstRTSPFilterResult
remove_client (GstRTSPServer *server, GstRTSPClient *client, gpointer user_data)
{
  return GST_RTSP_FILTER_REMOVE;
}

static gboolean
rtsp_server_quit (gpointer data)
{
  RtspServer *s = data;

  g_source_destroy (s->source);
  gst_rtsp_server_client_filter (s->server, remove_client, NULL);
  g_main_loop_quit (s->loop);
  return G_SOURCE_REMOVE;
}

static void
rtsp_server_stop (RtspServer *s)
{
  g_main_context_invoke (s->context, rtsp_server_quit, s);
  g_thread_join (s->thread);
  g_source_unref (s->source);
  g_object_unref (s->server);
  g_main_loop_unref (s->loop);
  g_main_context_unref (s->context);
  g_free (s);
}

static guint n_dropped;

static void
dropped_cb (GembaFrameSource *source, const char *message, gpointer user_data)
{
  g_test_message ("dropped: %s", message);
  g_atomic_int_inc (&n_dropped);
}

/* Prepares @c to capture @uri with @sampler into @f's store as "Line 3 top", counting its
 * "dropped" signals in n_dropped. */
static void
rtsp_capture_init (Capture *c, Fixture *f, const char *uri, GembaSampler *sampler)
{
  c->store = f->store;
  c->source = gemba_frame_source_new (uri, &c->error);
  g_assert_no_error (c->error);
  g_signal_connect (c->source, "dropped", G_CALLBACK (dropped_cb), NULL);
  gemba_media_import_options_init (&c->options);
  c->options.sampler = sampler;
  c->options.source_name = "Line 3 top";
}

static void
test_rtsp_reconnect (Fixture *f, gconstpointer data)
{
  guint16 port = free_port ();
  g_autofree char *uri = g_strdup_printf ("rtsp://127.0.0.1:%u/cam", port);
  g_autoptr(GPtrArray) frames = NULL;
  g_autoptr(GembaSampler) sampler = gemba_sampler_new_all ();
  RtspServer *server = rtsp_server_start (port, 0xffffffff, 15);
  Capture c = { 0 };
  GThread *thread;
  gint64 stopped_at, restarted_at, before = 0, after = 0, gap_ns;

  g_atomic_int_set (&n_dropped, 0);
  rtsp_capture_init (&c, f, uri, sampler);
  gemba_frame_source_set_timeouts (c.source, 10, 20, 3);
  thread = g_thread_new ("capture", capture_thread, &c);

  /* Play for a while, drop the server, bring it back. */
  wait_frames (c.source, 15);
  rtsp_server_stop (server);
  stopped_at = g_get_monotonic_time ();
  g_usleep (1500 * 1000);
  server = rtsp_server_start (port, 0xff40ff40, 15);
  restarted_at = g_get_monotonic_time ();
  while (gemba_frame_source_get_n_reconnects (c.source) == 0 &&
         g_get_monotonic_time () - restarted_at < 20 * G_USEC_PER_SEC)
    g_usleep (50000);
  g_assert_cmpuint (gemba_frame_source_get_n_reconnects (c.source), ==, 1);
  {
    gint64 n = gemba_frame_source_get_n_frames (c.source);
    wait_frames (c.source, n + 15);
  }
  gemba_frame_source_stop (c.source);
  g_thread_join (thread);
  rtsp_server_stop (server);

  g_assert_no_error (c.error);
  g_assert_true (c.ok);
  g_assert_cmpuint (g_atomic_int_get (&n_dropped), ==, 1);
  g_assert_cmpuint (c.summary.reconnects, ==, 1);
  g_assert_cmpint (c.summary.gap_time, >=, 1000 * 1000);

  /* Frames from before the drop and after the reconnection are all there, numbered on. */
  frames = list_frames (f->store);
  g_assert_cmpint (c.summary.duplicates, ==, 0);
  g_assert_cmpint (frames->len, ==, c.summary.stored);
  g_assert_cmpint (c.summary.stored + c.summary.duplicates + c.summary.dropped, ==,
                   c.summary.kept);
  g_ptr_array_sort (frames, compare_frame_numbers);
  gap_ns = 0;
  for (guint i = 0; i < frames->len; i++)
    {
      GembaFrame *frame = frames->pdata[i];
      g_assert_cmpstr (frame->source_name, ==, "Line 3 top");
      if (i > 0)
        {
          GembaFrame *prev = frames->pdata[i - 1];
          g_assert_cmpint (frame->frame_number, >, prev->frame_number);
          gap_ns = MAX (gap_ns, frame->stream_time - prev->stream_time);
        }
    }
  /* One gap of at least the time the server was away, frames on both sides of it. */
  g_assert_cmpint (gap_ns, >=, (restarted_at - stopped_at) * 1000 - 200 * GST_MSECOND);
  for (guint i = 1; i < frames->len; i++)
    {
      GembaFrame *frame = frames->pdata[i], *prev = frames->pdata[i - 1];
      if (frame->stream_time - prev->stream_time == gap_ns)
        {
          before = i;
          after = frames->len - i;
        }
    }
  g_assert_cmpint (before, >=, 10);
  g_assert_cmpint (after, >=, 10);
  g_object_unref (c.source);
}

/* Stopping a live network stream is a stop, not a drop. The sink ends the stream when asked to
 * stop, and that end of stream must not be taken for the camera going away (a "dropped"
 * signal, a reconnection). At 60 frames per second the end arrives while the capture is still
 * waiting on the pipeline's bus, where at 15 it mostly came after. */
static void
test_rtsp_stop_is_not_a_drop (Fixture *f, gconstpointer data)
{
  guint16 port = free_port ();
  g_autofree char *uri = g_strdup_printf ("rtsp://127.0.0.1:%u/cam", port);
  RtspServer *server = rtsp_server_start (port, 0xffffffff, 60);

  g_atomic_int_set (&n_dropped, 0);
  for (int i = 0; i < 10; i++)
    {
      g_autoptr(GembaSampler) sampler = gemba_sampler_new_all ();
      Capture c = { 0 };
      GThread *thread;

      rtsp_capture_init (&c, f, uri, sampler);
      thread = g_thread_new ("capture", capture_thread, &c);
      wait_frames (c.source, 5);
      gemba_frame_source_stop (c.source);
      g_thread_join (thread);
      g_assert_no_error (c.error);
      g_assert_true (c.ok);
      g_assert_cmpuint (gemba_frame_source_get_n_reconnects (c.source), ==, 0);
      g_object_unref (c.source);
    }
  rtsp_server_stop (server);
  g_assert_cmpuint (g_atomic_int_get (&n_dropped), ==, 0);
}

/* --- the CLI --------------------------------------------------------------------------- */

static char *
gemba_path (void)
{
  const char *root = g_getenv ("GEMBA_BUILD_ROOT");

  g_assert_nonnull (root);
  return g_build_filename (root, "src", "cli", "gemba", NULL);
}

/* Runs the gemba CLI with @env_name=@env_value (may be NULL); returns its exit status. */
static int
run_gemba (const char *env_name, const char *env_value, char **out, char **err,
           const char * const *args)
{
  g_autoptr(GSubprocessLauncher) launcher =
    g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;

  g_ptr_array_add (argv, gemba_path ());
  for (guint i = 0; args[i]; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  if (env_name)
    g_subprocess_launcher_setenv (launcher, env_name, env_value, TRUE);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (process, NULL, NULL, out, err, &error));
  g_assert_no_error (error);
  return g_subprocess_get_exit_status (process);
}

static void
test_cli_import_and_capture (Fixture *f, gconstpointer data)
{
  g_autofree char *video = make_video (f, "shift-2.avi", 60, MJPEG_AVI);
  g_autofree char *out = NULL, *err = NULL;
  const char *project = gemba_store_get_path (f->store);
  g_auto(GStrv) lines = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  gint64 started;
  int status;

  status = run_gemba (NULL, NULL, &out, &err, (const char *[]) {
    "import", project, video, "--every", "15", "--json", NULL });
  g_assert_cmpint (status, ==, 0);
  lines = g_strsplit (g_strstrip (out), "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 4);
  g_assert_nonnull (strstr (lines[1], "\"frame_number\":15"));
  g_assert_nonnull (strstr (err, "stored 4 frames"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  status = run_gemba (NULL, NULL, &out, &err, (const char *[]) {
    "capture", project, "--pipeline", "videotestsrc pattern=ball num-buffers=100 ! videoconvert",
    "--every", "10", "--source", "Test pattern", "-q", NULL });
  g_assert_cmpint (status, ==, 0);
  frames = list_frames (f->store);
  g_assert_cmpuint (frames->len, ==, 14);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* --max stops a live source. */
  status = run_gemba (NULL, NULL, &out, &err, (const char *[]) {
    "capture", project, "--pipeline", "videotestsrc is-live=true pattern=snow ! "
    "video/x-raw,width=64,height=48,framerate=30/1", "--max", "5", "-q", NULL });
  g_assert_cmpint (status, ==, 0);
  g_clear_pointer (&frames, g_ptr_array_unref);
  frames = list_frames (f->store);
  g_assert_cmpuint (frames->len, ==, 19);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* --duration stops a live source: 2 s at one frame every 0.5 s. */
  started = g_get_monotonic_time ();
  status = run_gemba (NULL, NULL, &out, &err, (const char *[]) {
    "capture", project, "--pipeline", "videotestsrc is-live=true pattern=ball ! "
    "video/x-raw,width=64,height=48,framerate=10/1", "--duration", "2s", "--every-seconds",
    "0.5", "--source", "Timed", "-q", NULL });
  g_assert_cmpint (status, ==, 0);
  g_assert_cmpint (g_get_monotonic_time () - started, <, 8 * G_USEC_PER_SEC);
  g_clear_pointer (&frames, g_ptr_array_unref);
  frames = list_frames (f->store);
  g_assert_cmpuint (frames->len, ==, 23);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* Faults: a clear message, fast. */
  started = g_get_monotonic_time ();
  status = run_gemba (NULL, NULL, &out, &err, (const char *[]) {
    "capture", project, "--pipeline", "videotestsrc ! nosuchelement", NULL });
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "nosuchelement"));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  status = run_gemba (NULL, NULL, &out, &err, (const char *[]) {
    "capture", project, "v4l2:///dev/video99", NULL });
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (err, "/dev/video99"));
  g_assert_cmpint (g_get_monotonic_time () - started, <, 10 * G_USEC_PER_SEC);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  status = run_gemba (NULL, NULL, &out, &err, (const char *[]) {
    "capture", project, "--pipeline", "videotestsrc", "--every", "2", "--fps", "3", NULL });
  g_assert_cmpint (status, ==, 2);
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* `gemba devices` works with or without cameras. */
  status = run_gemba (NULL, NULL, &out, &err, (const char *[]) { "devices", "--json", NULL });
  g_assert_cmpint (status, ==, 0);
}

/* No VP8 decoder: the message names what is missing. */
static void
test_cli_missing_plugin (Fixture *f, gconstpointer data)
{
  g_autofree char *video = make_video (f, "vp8.webm", 10, VP8_WEBM);
  g_autofree char *out = NULL, *err = NULL;
  const char *project = gemba_store_get_path (f->store);
  int status;

  /* Both decoders that could play VP8 (vp8dec from -good, avdec_vp8 from -libav) ranked out:
   * decodebin never picks an element of rank NONE. */
  status = run_gemba ("GST_PLUGIN_FEATURE_RANK", "vp8dec:NONE,avdec_vp8:NONE", &out, &err,
                      (const char *[]) { "import", project, video, NULL });
  g_assert_cmpint (status, ==, 1);
  g_test_message ("%s", err);
  g_assert_nonnull (strstr (err, "vp8.webm"));
  g_assert_nonnull (strstr (err, "VP8"));
  g_assert_nonnull (strstr (err, "plug-in"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gst_init (&argc, &argv);

  g_test_add_func ("/media/sampler/modes", test_sampler_modes);
  g_test_add_func ("/media/source/bad-pipeline", test_bad_pipeline);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/media/import/webm-every-frame", test_import_webm_all);
  ADD ("/media/import/avi-every-n", test_import_avi_every);
  ADD ("/media/import/fps-lossless", test_import_fps_lossless);
  ADD ("/media/import/scene-change", test_import_scene_change);
  ADD ("/media/import/colours", test_import_colours);
  ADD ("/media/import/bounded", test_import_bounded);
  ADD ("/media/import/truncated", test_import_truncated);
  ADD ("/media/import/corrupt", test_import_corrupt);
  ADD ("/media/source/missing-camera", test_missing_camera);
  ADD ("/media/source/rtsp-unreachable", test_rtsp_unreachable);
  ADD ("/media/capture/preview-snapshot", test_pipeline_preview_snapshot);
  ADD ("/media/capture/cancel-keeps-frames", test_cancel_keeps_frames);
  ADD ("/media/capture/rtsp-reconnect", test_rtsp_reconnect);
  ADD ("/media/capture/rtsp-stop-is-not-a-drop", test_rtsp_stop_is_not_a_drop);
  ADD ("/media/cli/import-and-capture", test_cli_import_and_capture);
  ADD ("/media/cli/missing-plugin", test_cli_missing_plugin);
#undef ADD
  return g_test_run ();
}
