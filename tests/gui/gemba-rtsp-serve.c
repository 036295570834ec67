/* gemba-rtsp-serve.c: an RTSP test stream on 127.0.0.1 for the GUI capture test
 *
 *   gemba-rtsp-serve PORT [COLOR]   serves rtsp://127.0.0.1:PORT/cam until SIGTERM/SIGINT
 *
 * A moving ball (videotestsrc, MJPEG over RTP, 320×240 at 15 fps), as tests/media does; COLOR
 * (0xAARRGGBB) tells a restarted server's frames from the first one's. Prints "ready" when
 * it listens. The test compiles it with pkg-config (gstreamer-rtsp-server-1.0).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <glib-unix.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (data);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  GMainLoop *loop;
  GstRTSPServer *server;
  GstRTSPMediaFactory *factory;
  GstRTSPMountPoints *mounts;
  char *launch;

  gst_init (&argc, &argv);
  if (argc < 2)
    {
      fprintf (stderr, "usage: %s PORT [COLOR]\n", argv[0]);
      return 2;
    }
  launch = g_strdup_printf ("( videotestsrc is-live=true pattern=ball foreground-color=%s ! "
                            "video/x-raw,format=I420,width=320,height=240,framerate=15/1 ! "
                            "jpegenc ! rtpjpegpay name=pay0 pt=96 )",
                            argc > 2 ? argv[2] : "0xffffffff");
  loop = g_main_loop_new (NULL, FALSE);
  server = gst_rtsp_server_new ();
  gst_rtsp_server_set_address (server, "127.0.0.1");
  gst_rtsp_server_set_service (server, argv[1]);
  factory = gst_rtsp_media_factory_new ();
  gst_rtsp_media_factory_set_launch (factory, launch);
  gst_rtsp_media_factory_set_shared (factory, TRUE);
  mounts = gst_rtsp_server_get_mount_points (server);
  gst_rtsp_mount_points_add_factory (mounts, "/cam", factory);
  g_object_unref (mounts);
  if (gst_rtsp_server_attach (server, NULL) == 0)
    {
      fprintf (stderr, "cannot listen on 127.0.0.1:%s\n", argv[1]);
      return 1;
    }
  g_unix_signal_add (SIGTERM, quit_cb, loop);
  g_unix_signal_add (SIGINT, quit_cb, loop);
  printf ("ready\n");
  fflush (stdout);
  g_main_loop_run (loop);
  g_object_unref (server);
  g_main_loop_unref (loop);
  g_free (launch);
  return 0;
}
