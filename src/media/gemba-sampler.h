/* gemba-sampler.h: which frames of a video or stream to keep
 *
 * A sampler sees every decoded frame and says whether to keep it: every frame, every N-th
 * frame, one frame every T of stream time, a frame that differs enough from the last kept one
 * (scene change), or only the frames a person asked for (manual snapshots). A snapshot request
 * is honoured in every mode. Not thread-safe: one streaming thread offers the frames.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  GEMBA_SAMPLE_ALL,           /* every frame */
  GEMBA_SAMPLE_EVERY_N,       /* frames 0, N, 2N, … */
  GEMBA_SAMPLE_INTERVAL,      /* the first frame at or after 0, T, 2T, … of stream time */
  GEMBA_SAMPLE_SCENE_CHANGE,  /* differs from the last kept frame by at least the threshold */
  GEMBA_SAMPLE_MANUAL,        /* only snapshots */
} GembaSampleMode;

typedef struct _GembaSampler GembaSampler;

GembaSampler *gemba_sampler_new_all (void);
/* @n ≥ 1. */
GembaSampler *gemba_sampler_new_every (guint n);
/* @interval_ns > 0 of stream time. */
GembaSampler *gemba_sampler_new_interval (gint64 interval_ns);
/* @threshold in 0–1: the mean absolute difference of a small grey thumbnail, 1 being black
 * against white everywhere. */
GembaSampler *gemba_sampler_new_scene_change (double threshold);
GembaSampler *gemba_sampler_new_manual (void);
void gemba_sampler_free (GembaSampler *self);

GembaSampleMode gemba_sampler_get_mode (GembaSampler *self);

/* Whether to keep a frame. @pixels are RGB (@bpp 3), RGBA (@bpp 4) or grey (@bpp 1: the
 * luma plane of YUV) rows of @stride bytes;
 * only the scene-change mode reads them. @stream_time is ns (-1 when unknown), @snapshot TRUE
 * when a person asked for this frame. */
gboolean gemba_sampler_offer (GembaSampler *self, const guint8 *pixels, guint width,
                              guint height, gsize stride, guint bpp, gint64 stream_time,
                              gint64 frame_number, gboolean snapshot);

/* The difference between the last two frames the scene-change mode compared (0–1), or -1. */
double gemba_sampler_get_last_difference (GembaSampler *self);

/* Forgets the last kept frame and time (after a stream restarted). */
void gemba_sampler_reset (GembaSampler *self);

/* The mean absolute difference (0–1) of two frames' grey thumbnails, for tests and tools. */
double gemba_sampler_difference (const guint8 *a, const guint8 *b, guint width, guint height,
                                 gsize stride, guint bpp);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaSampler, gemba_sampler_free)

G_END_DECLS
