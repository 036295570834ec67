#define G_LOG_DOMAIN "gemba-media"
/* gemba-media-import.c: frames from a video, camera or stream into a project
 *
 * streaming thread ──(sampler)──► raw queue ──► encoder threads ──► writer thread
 *                                  bounded       convert, JPEG/PNG     batches
 *
 * Two bounds: frames decoded but not encoded yet (raw_capacity, megabytes each), and all kept
 * frames not written yet (capacity, mostly encoded, a tenth of that), so that a batch's sync
 * to disk does not stop the decoder but memory stays bounded.
 *
 * A file's kept frame is the decoder's own buffer, handed over without a copy; a live source's
 * is copied at once (its buffers must go back to the camera).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <glib/gi18n-lib.h>

#include <gst/video/video.h>

#include "gemba-media-import.h"
#include "gemba-media-jpeg.h"

#define DEFAULT_QUEUE_FRAMES 8     /* decoded frames waiting for an encoder, at least */
/* Kept frames not written yet, for 720p (fewer for bigger frames: about the same memory).
 * Most of them are encoded (a 720p JPEG is ~150 KB): enough to keep the decoder going while
 * the writer syncs a batch to disk (syncfs() takes tens of milliseconds, more when other
 * programs have written a lot). */
#define DEFAULT_WAITING_FRAMES 48
#define DEFAULT_WAITING_PIXELS (DEFAULT_WAITING_FRAMES * 1280 * 720)
#define BATCH_FRAMES 64
#define BATCH_USEC (G_USEC_PER_SEC / 2)
#define PROGRESS_USEC (G_USEC_PER_SEC / 5)

typedef struct
{
  GembaImage *image;      /* RGB until encoded, or NULL */
  GembaYuvImage *yuv;     /* a live source's I420, copied, until encoded, or NULL */
  GstSample *sample;      /* a file's decoded I420 frame, encoded as it is, or NULL */
  GstVideoInfo info;      /* @sample's */
  guint width;
  guint height;
  GBytes *bytes;          /* once encoded */
  GError *error;          /* encoding failed */
  gint64 stream_time;
  gint64 frame_number;
  gint64 captured_at;
} Job;

typedef struct
{
  GembaStore *store;
  GembaFrameSource *source;
  const GembaMediaImportOptions *options;
  const char *source_name;
  gboolean drop_when_full;
  guint capacity;         /* kept frames not written yet, at most */
  guint raw_capacity;     /* of which decoded but not encoded yet, at most */

  GMutex lock;
  /* Three conditions, so that a frame going through wakes only the thread that waits for it
   * (one shared condition woke every thread five times a frame). */
  GCond work;             /* raw gained a job, or closed: the encoders */
  GCond room;             /* in_flight or n_raw went down, or aborted: the streaming thread */
  GCond done;             /* source_done: the thread that called gemba_media_import() */
  GQueue raw;             /* Job, not encoded yet */
  guint in_flight;        /* jobs queued, encoding or waiting for the writer */
  guint n_raw;            /* jobs queued or encoding */
  gboolean closed;        /* no more frames will come */
  gboolean aborted;       /* the writer failed: drop everything */
  gboolean limit_reached; /* max_frames / max_duration */
  GError *write_error;
  gboolean source_done;
  GError *run_error;
  GCancellable *cancellable;
  GembaMediaProgress counts;

  GAsyncQueue *encoded;   /* Job, or the END sentinel */
  GAsyncQueue *spare;     /* GembaYuvImage to reuse; at most as many as frames in flight */
  guint n_encoders;
  GThread **encoders;
  GThread *writer;
} Import;

static Job end_of_jobs;

static void
job_free (Job *job)
{
  if (!job || job == &end_of_jobs)
    return;
  g_clear_pointer (&job->image, gemba_image_free);
  g_clear_pointer (&job->yuv, _gemba_yuv_image_free);
  g_clear_pointer (&job->sample, gst_sample_unref);
  g_clear_pointer (&job->bytes, g_bytes_unref);
  g_clear_error (&job->error);
  g_free (job);
}

void
gemba_media_import_options_init (GembaMediaImportOptions *options)
{
  memset (options, 0, sizeof *options);
}

/* Packed RGB, whatever the source's stride and pixel format. */
static GembaImage *
copy_frame (const GembaVideoFrame *frame)
{
  GembaImage *image = gemba_image_new (frame->width, frame->height);
  gsize row = (gsize) frame->width * 3;

  for (guint y = 0; y < frame->height; y++)
    {
      const guint8 *src = frame->pixels + (gsize) y * frame->stride;
      guint8 *dst = image->pixels + (gsize) y * row;
      if (frame->bpp == 3)
        memcpy (dst, src, row);
      else
        for (guint x = 0; x < frame->width; x++)
          {
            dst[3 * x] = src[4 * x];
            dst[3 * x + 1] = src[4 * x + 1];
            dst[3 * x + 2] = src[4 * x + 2];
          }
    }
  return image;
}

/* Planes to fill: a spare one (fresh megabytes every frame cost page faults) or a new one. */
static GembaYuvImage *
take_yuv (Import *import, guint width, guint height, gboolean limited_range, gboolean bt709)
{
  GembaYuvImage *yuv = g_async_queue_try_pop (import->spare);

  if (yuv && (yuv->width != width || yuv->height != height))
    g_clear_pointer (&yuv, _gemba_yuv_image_free);
  if (!yuv)
    yuv = _gemba_yuv_image_new (width, height);
  yuv->limited_range = limited_range;
  yuv->bt709 = bt709;
  return yuv;
}

static void
frame_cb (GembaFrameSource *source, const GembaVideoFrame *frame, gpointer user_data)
{
  Import *import = user_data;
  const GembaMediaImportOptions *options = import->options;
  gboolean drop;
  Job *job;

  g_mutex_lock (&import->lock);
  import->counts.seen++;
  import->counts.stream_time = frame->stream_time;
  if (import->limit_reached || import->aborted)
    {
      g_mutex_unlock (&import->lock);
      return;
    }
  if (options->max_duration > 0 && frame->stream_time >= options->max_duration)
    {
      import->limit_reached = TRUE;
      g_mutex_unlock (&import->lock);
      gemba_frame_source_stop (source);
      return;
    }
  g_mutex_unlock (&import->lock);

  if (options->sampler
      ? !gemba_sampler_offer (options->sampler, frame->pixels, frame->width, frame->height,
                              frame->stride, frame->bpp, frame->stream_time,
                              frame->frame_number, frame->snapshot)
      : FALSE)
    return;

  job = g_new0 (Job, 1);
  job->width = frame->width;
  job->height = frame->height;
  if (frame->bpp == 1 && !import->drop_when_full && !gemba_frame_source_is_live (source) &&
      gst_video_info_from_caps (&job->info, gst_sample_get_caps (frame->sample)))
    {
      /* A file: keep the decoder's buffer and let an encoder thread convert it, so that the
       * streaming thread only decodes. (The decoder waits when the queue is full anyway.) */
      job->sample = gst_sample_ref (frame->sample);
    }
  else if (frame->bpp == 1)
    {
      /* Live: copy now, the source's buffers must go back to it at once. */
      job->yuv = take_yuv (import, frame->width, frame->height, frame->limited_range,
                           frame->bt709);
      _gemba_yuv_image_fill (job->yuv, frame->planes, frame->strides);
    }
  else
    job->image = copy_frame (frame);
  job->stream_time = frame->stream_time;
  job->frame_number = frame->frame_number;
  job->captured_at = frame->captured_at;

  g_mutex_lock (&import->lock);
  if (!options->queue_frames && import->counts.kept == 0)
    import->capacity = CLAMP (DEFAULT_WAITING_PIXELS / ((guint64) frame->width * frame->height),
                              import->raw_capacity, DEFAULT_WAITING_FRAMES);
  /* A live pipeline is only known to be live once it plays. */
  drop = import->drop_when_full || gemba_frame_source_is_live (source);
  while ((import->in_flight >= import->capacity || import->n_raw >= import->raw_capacity) &&
         !import->aborted && !drop)
    g_cond_wait (&import->room, &import->lock);
  if (import->aborted)
    {
      g_mutex_unlock (&import->lock);
      job_free (job);
      return;
    }
  if (import->in_flight >= import->capacity || import->n_raw >= import->raw_capacity)
    {
      /* Live: the camera must not wait. Drop the oldest frame not encoded yet, or this one. */
      Job *oldest = g_queue_pop_head (&import->raw);
      import->counts.dropped++;
      if (oldest)
        {
          job_free (oldest);
          import->in_flight--;
          import->n_raw--;
        }
      else
        {
          import->counts.kept++;
          g_mutex_unlock (&import->lock);
          job_free (job);
          return;
        }
    }
  g_queue_push_tail (&import->raw, job);
  import->in_flight++;
  import->n_raw++;
  import->counts.kept++;
  if (options->max_frames > 0 &&
      import->counts.kept - import->counts.dropped >= options->max_frames)
    {
      import->limit_reached = TRUE;
      gemba_frame_source_stop (source);
    }
  g_cond_signal (&import->work);
  g_mutex_unlock (&import->lock);
}

/* Encoding and writing are throughput work; decoding is the one thread everything waits
 * for. On Linux, SCHED_BATCH keeps the encoders' and the writer's fair share of the CPU but
 * stops them from preempting the thread that just woke them: without it, the streaming thread
 * lost the CPU to an encoder every time it handed over a frame. */
static void
yield_to_decoding (void)
{
#ifdef SCHED_BATCH
  struct sched_param param = { 0 };

  pthread_setschedparam (pthread_self (), SCHED_BATCH, &param);
#endif
}

/* The job is not a decoded frame any more: room for the next one. */
static void
hand_to_writer (Import *import, Job *job)
{
  g_mutex_lock (&import->lock);
  import->n_raw--;
  g_cond_broadcast (&import->room);
  g_mutex_unlock (&import->lock);
  g_async_queue_push (import->encoded, job);
}

static gpointer
encoder_thread (gpointer data)
{
  Import *import = data;

  yield_to_decoding ();
  for (;;)
    {
      Job *job;

      g_mutex_lock (&import->lock);
      while (g_queue_is_empty (&import->raw) && !import->closed)
        g_cond_wait (&import->work, &import->lock);
      job = g_queue_pop_head (&import->raw);
      g_mutex_unlock (&import->lock);
      if (!job)
        return NULL;

      if (job->sample)
        {
          GstVideoFrame vframe;
          const guint8 *planes[3];
          gsize strides[3];

          if (!gst_video_frame_map (&vframe, &job->info, gst_sample_get_buffer (job->sample),
                                    GST_MAP_READ))
            {
              g_set_error (&job->error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                           _("%s: cannot read a decoded frame"),
                           gemba_frame_source_get_location (import->source));
              hand_to_writer (import, job);
              continue;
            }
          for (guint i = 0; i < 3; i++)
            {
              planes[i] = GST_VIDEO_FRAME_PLANE_DATA (&vframe, i);
              strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE (&vframe, i);
            }
          /* Straight from the decoder's planes: converted a band at a time while encoding. */
          job->bytes = _gemba_jpeg_encode_i420 (
            job->width, job->height, planes, strides,
            job->info.colorimetry.range != GST_VIDEO_COLOR_RANGE_0_255,
            job->info.colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT709 ||
            job->info.colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_BT2020 ||
            job->info.colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_SMPTE240M,
            95, &job->error);
          gst_video_frame_unmap (&vframe);
          g_clear_pointer (&job->sample, gst_sample_unref);
        }
      else if (job->yuv)
        job->bytes = _gemba_yuv_image_encode_jpeg (job->yuv, 95, &job->error);
      else if (import->options->lossless)
        job->bytes = gemba_image_encode_png (job->image, &job->error);
      else
        job->bytes = gemba_image_encode_jpeg (job->image, 95, &job->error);
      /* The pixels are not needed any more: free them before the writer gets the job. */
      g_clear_pointer (&job->image, gemba_image_free);
      if (job->yuv)
        g_async_queue_push (import->spare, g_steal_pointer (&job->yuv));
      hand_to_writer (import, job);
    }
}

static void
release (Import *import, guint n)
{
  g_mutex_lock (&import->lock);
  import->in_flight -= n;
  g_cond_broadcast (&import->room);
  g_mutex_unlock (&import->lock);
}

static void
fail (Import *import, GError *error)
{
  g_mutex_lock (&import->lock);
  if (!import->write_error)
    import->write_error = error;
  else
    g_error_free (error);
  import->aborted = TRUE;
  g_cond_broadcast (&import->room);
  g_mutex_unlock (&import->lock);
  gemba_frame_source_stop (import->source);
}

typedef struct
{
  GembaFrame *frame;
  gboolean duplicate;
} Pending;

static gboolean
commit (Import *import, GArray *pending)
{
  GError *error = NULL;
  gint64 stored = 0, duplicates = 0;

  if (!gemba_store_commit_batch (import->store, &error))
    {
      /* The failed commit rolled the batch back: nothing of it was saved. */
      fail (import, error);
      for (guint i = 0; i < pending->len; i++)
        gemba_frame_free (g_array_index (pending, Pending, i).frame);
      g_array_set_size (pending, 0);
      return FALSE;
    }
  for (guint i = 0; i < pending->len; i++)
    {
      Pending *p = &g_array_index (pending, Pending, i);
      if (p->duplicate)
        duplicates++;
      else
        stored++;
      if (import->options->stored)
        import->options->stored (p->frame, p->duplicate, import->options->user_data);
      gemba_frame_free (p->frame);
    }
  g_array_set_size (pending, 0);
  g_mutex_lock (&import->lock);
  import->counts.stored += stored;
  import->counts.duplicates += duplicates;
  g_mutex_unlock (&import->lock);
  return TRUE;
}

static gpointer
writer_thread (gpointer data)
{
  Import *import = data;
  g_autoptr(GArray) pending = g_array_new (FALSE, FALSE, sizeof (Pending));
  const char *uri = gemba_frame_source_get_location (import->source);
  const char *kind = gemba_frame_source_get_kind_name (import->source);
  g_autofree char *original = NULL;
  gboolean in_batch = FALSE;
  gint64 batch_started = 0;

  yield_to_decoding ();
  if (gemba_frame_source_get_kind (import->source) == GEMBA_FRAME_SOURCE_VIDEO)
    original = g_path_get_basename (uri);

  for (;;)
    {
      Job *job = g_async_queue_timeout_pop (import->encoded, 100 * 1000);
      gboolean aborted;

      g_mutex_lock (&import->lock);
      aborted = import->aborted;
      g_mutex_unlock (&import->lock);

      if (job && job != &end_of_jobs && !aborted)
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(GembaFrame) frame = NULL;
          GembaFrameInfo info;
          gboolean duplicate = FALSE;

          if (job->error)
            {
              fail (import, g_steal_pointer (&job->error));
              job_free (job);
              release (import, 1);
              continue;
            }
          if (!in_batch)
            {
              if (!gemba_store_begin_batch (import->store, &error))
                {
                  fail (import, g_steal_pointer (&error));
                  job_free (job);
                  release (import, 1);
                  continue;
                }
              in_batch = TRUE;
              batch_started = g_get_monotonic_time ();
            }
          gemba_frame_info_init (&info);
          info.source_name = import->source_name;
          info.source_kind = kind;
          info.source_uri = uri;
          info.captured_at = job->captured_at;
          info.stream_time = job->stream_time;
          info.frame_number = job->frame_number;
          info.original_name = original;
          frame = gemba_store_add_frame (import->store, job->bytes,
                                         import->options->lossless ? "png" : "jpg",
                                         job->width, job->height, &info,
                                         &duplicate, &error);
          if (!frame)
            fail (import, g_steal_pointer (&error));
          else
            {
              Pending p = { g_steal_pointer (&frame), duplicate };
              g_array_append_val (pending, p);
            }
          /* Its bytes are on disk now: room for the next frame, even before the commit. */
          job_free (job);
          release (import, 1);
        }
      else if (job && job != &end_of_jobs)
        {
          job_free (job);
          release (import, 1);
        }

      /* Commit when the batch is big or half a second old, when no frame came for a while
       * (a slow live source), and at the end. Each commit syncs the frame files: committing
       * every frame would make that the bottleneck. */
      if (in_batch && (job == NULL || job == &end_of_jobs || pending->len >= BATCH_FRAMES ||
                       g_get_monotonic_time () - batch_started >= BATCH_USEC))
        {
          in_batch = FALSE;
          commit (import, pending);
        }
      if (job == &end_of_jobs)
        return NULL;
    }
}

static gpointer
source_thread (gpointer data)
{
  Import *import = data;
  GError *error = NULL;

  gemba_frame_source_run (import->source, import->cancellable, &error);
  g_mutex_lock (&import->lock);
  import->run_error = error;
  import->source_done = TRUE;
  g_cond_broadcast (&import->done);
  g_mutex_unlock (&import->lock);
  return NULL;
}

static void
snapshot_counts (Import *import, gint64 started, GembaMediaProgress *out)
{
  g_mutex_lock (&import->lock);
  *out = import->counts;
  g_mutex_unlock (&import->lock);
  out->elapsed = g_get_monotonic_time () - started;
  out->duration = gemba_frame_source_get_duration (import->source);
  out->reconnects = gemba_frame_source_get_n_reconnects (import->source);
  out->gap_time = gemba_frame_source_get_gap_time (import->source);
}

gboolean
gemba_media_import (GembaStore *store, GembaFrameSource *source,
                    const GembaMediaImportOptions *options, GembaMediaProgress *summary,
                    GCancellable *cancellable, GError **error)
{
  GembaMediaImportOptions defaults;
  GembaFrameSourceKind kind;
  GembaPixelFormat format;
  Import import = { 0 };
  GThread *runner;
  GError *run_error;
  GembaMediaProgress final;
  gint64 started = g_get_monotonic_time ();
  gint64 last_progress = 0;
  gboolean ok;

  g_return_val_if_fail (GEMBA_IS_STORE (store), FALSE);
  g_return_val_if_fail (GEMBA_IS_FRAME_SOURCE (source), FALSE);

  if (!options)
    {
      gemba_media_import_options_init (&defaults);
      options = &defaults;
    }
  kind = gemba_frame_source_get_kind (source);
  import.store = store;
  import.source = source;
  import.options = options;
  import.source_name = options->source_name ? options->source_name
                                            : gemba_frame_source_get_display_name (source);
  import.drop_when_full = kind == GEMBA_FRAME_SOURCE_CAMERA || kind == GEMBA_FRAME_SOURCE_STREAM;
  import.n_encoders = CLAMP (g_get_num_processors (), 1, 8);
  import.capacity = options->queue_frames ? options->queue_frames : DEFAULT_WAITING_FRAMES;
  import.raw_capacity = MIN (import.capacity,
                             MAX (DEFAULT_QUEUE_FRAMES, 2 * import.n_encoders + 2));
  import.counts.stream_time = -1;
  g_mutex_init (&import.lock);
  g_cond_init (&import.work);
  g_cond_init (&import.room);
  g_cond_init (&import.done);
  g_queue_init (&import.raw);
  import.encoded = g_async_queue_new ();
  import.spare = g_async_queue_new_full ((GDestroyNotify) _gemba_yuv_image_free);

  /* JPEG frames are encoded from the decoder's own 4:2:0 planes (no colour conversion);
   * PNG needs RGB. A source set to RGBA for a preview keeps it. */
  format = gemba_frame_source_get_pixel_format (source);
  if (format != GEMBA_PIXEL_RGBA)
    gemba_frame_source_set_pixel_format (source, options->lossless ? GEMBA_PIXEL_RGB
                                                                   : GEMBA_PIXEL_I420);
  gemba_frame_source_set_frame_func (source, frame_cb, &import, NULL);
  import.encoders = g_new0 (GThread *, import.n_encoders);
  for (guint i = 0; i < import.n_encoders; i++)
    import.encoders[i] = g_thread_new ("gemba-encode", encoder_thread, &import);
  import.writer = g_thread_new ("gemba-write", writer_thread, &import);
  import.cancellable = cancellable;
  runner = g_thread_new ("gemba-source", source_thread, &import);

  /* Report progress here, on the caller's thread, until the source ends. The capture limit
   * by duration is also checked here, for a live source that stops sending frames. */
  for (;;)
    {
      gint64 now = g_get_monotonic_time ();
      gboolean done;

      g_mutex_lock (&import.lock);
      if (!import.source_done)
        g_cond_wait_until (&import.done, &import.lock, now + PROGRESS_USEC / 4);
      done = import.source_done;
      g_mutex_unlock (&import.lock);
      if (done)
        break;
      now = g_get_monotonic_time ();
      if (options->max_duration > 0 && import.drop_when_full &&
          (now - started) * 1000 >= options->max_duration)
        gemba_frame_source_stop (source);
      if (options->progress && now - last_progress >= PROGRESS_USEC)
        {
          GembaMediaProgress progress;
          snapshot_counts (&import, started, &progress);
          options->progress (&progress, options->user_data);
          last_progress = now;
        }
    }
  g_thread_join (runner);
  run_error = g_steal_pointer (&import.run_error);

  /* No frame comes any more: let the encoders finish the queue, then the writer. */
  g_mutex_lock (&import.lock);
  import.closed = TRUE;
  g_cond_broadcast (&import.work);
  g_mutex_unlock (&import.lock);
  for (guint i = 0; i < import.n_encoders; i++)
    g_thread_join (import.encoders[i]);
  g_async_queue_push (import.encoded, &end_of_jobs);
  g_thread_join (import.writer);
  gemba_frame_source_set_frame_func (source, NULL, NULL, NULL);
  gemba_frame_source_set_pixel_format (source, format);

  snapshot_counts (&import, started, &final);
  final.cancelled = run_error && g_error_matches (run_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  if (options->progress)
    options->progress (&final, options->user_data);
  if (summary)
    *summary = final;

  ok = !run_error && !import.write_error;
  if (import.write_error &&
      g_error_matches (import.write_error, GEMBA_ERROR, GEMBA_ERROR_NO_SPACE))
    {
      /* The same words as `gemba import`: what was committed before is kept. */
      g_clear_error (&import.write_error);
      gemba_set_disk_full_error (&import.write_error, gemba_store_get_path (store),
                                 final.stored);
    }
  if (import.write_error)
    {
      g_propagate_error (error, import.write_error);
      g_clear_error (&run_error);
    }
  else if (run_error)
    g_propagate_error (error, run_error);

  g_free (import.encoders);
  g_queue_clear_full (&import.raw, (GDestroyNotify) job_free);
  g_async_queue_unref (import.encoded);
  g_async_queue_unref (import.spare);
  g_cond_clear (&import.work);
  g_cond_clear (&import.room);
  g_cond_clear (&import.done);
  g_mutex_clear (&import.lock);
  return ok;
}
