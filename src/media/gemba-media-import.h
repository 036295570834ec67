/* gemba-media-import.h: frames from a video, camera or stream into a project
 *
 * The source's streaming thread only decides (with the sampler) and copies the frames it keeps
 * into a bounded queue. Encoder threads turn them into JPEG (quality 95) or PNG, and one
 * writer thread stores them in batches, one transaction each, committed at least every half
 * second. Memory is bounded by the queue whatever the length of the video: for a file the
 * decoder waits when the queue is full; for a live source the oldest waiting frame is dropped
 * and counted, so the camera never stalls.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

#include "gemba.h"
#include "gemba-frame-source.h"
#include "gemba-sampler.h"

G_BEGIN_DECLS

typedef struct {
  gint64 seen;          /* frames decoded */
  gint64 kept;          /* frames the sampler kept: in the end stored + duplicates + dropped,
                         * unless an error stopped the import */
  gint64 stored;        /* kept frames saved (committed) as new frames */
  gint64 duplicates;    /* kept frames whose content the project already had */
  gint64 dropped;       /* kept frames dropped because storing fell behind (live only) */
  gint64 elapsed;       /* µs since the import started */
  gint64 stream_time;   /* ns: the newest frame's, -1 before the first */
  gint64 duration;      /* ns: the video's, -1 when unknown or live */
  guint reconnects;     /* times a dropped stream came back */
  gint64 gap_time;      /* µs without frames because of drops */
  gboolean cancelled;   /* stopped by the GCancellable (what was kept is stored) */
} GembaMediaProgress;

/* Called on the thread that called gemba_media_import() about five times a second. */
typedef void (*GembaMediaProgressFunc) (const GembaMediaProgress *progress, gpointer user_data);
/* Called on the writer thread for each frame once its batch has committed. */
typedef void (*GembaMediaStoredFunc) (const GembaFrame *frame, gboolean duplicate,
                                      gpointer user_data);

typedef struct {
  GembaSampler *sampler;        /* NULL: every frame. Used by the streaming thread only. */
  gboolean lossless;            /* PNG instead of JPEG quality 95 */
  const char *source_name;      /* NULL: the source's display name */
  gint64 max_frames;            /* stop after keeping this many (not dropped); 0: no limit */
  gint64 max_duration;          /* ns of stream time (live: of capture); 0: no limit */
  guint queue_frames;           /* kept frames waiting to be stored at most; 0: default */
  GembaMediaProgressFunc progress;
  GembaMediaStoredFunc stored;
  gpointer user_data;           /* for progress and stored */
} GembaMediaImportOptions;

void gemba_media_import_options_init (GembaMediaImportOptions *options);

/* Runs @source to its end (or max_frames / max_duration / cancellation) and stores the frames
 * the sampler keeps. Frames stored before an error or cancellation stay in the project;
 * @summary (may be NULL) tells how many. FALSE with the source's error (naming the file or
 * URI and where it broke), a store error, or G_IO_ERROR_CANCELLED. */
gboolean gemba_media_import (GembaStore *store, GembaFrameSource *source,
                             const GembaMediaImportOptions *options, GembaMediaProgress *summary,
                             GCancellable *cancellable, GError **error);

G_END_DECLS
