#define G_LOG_DOMAIN "gemba-media"
/* gemba-sampler.c: which frames of a video or stream to keep
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <math.h>
#include <string.h>

#include "gemba-sampler.h"

/* Scene change compares grey thumbnails of THUMB_W × THUMB_H cells: cheap (one pass that
 * reads a sparse grid of pixels) and blind to sensor noise and small motion. */
#define THUMB_W 32
#define THUMB_H 18
/* Pixels read per cell along each axis. */
#define CELL_SAMPLES 4
/* Stream times are rounded by containers (WebM: 1 ms); a frame this close to its due time
 * counts as on time. */
#define INTERVAL_TOLERANCE_NS 1000000

struct _GembaSampler
{
  GembaSampleMode mode;
  guint every;
  gint64 interval;
  double threshold;

  gint64 first_time;       /* stream time of the first kept frame (interval), -1 before */
  gint64 next_due;         /* stream time the next frame is due at (interval) */
  gboolean have_last;      /* scene change: a kept thumbnail exists */
  guint8 last[THUMB_W * THUMB_H];
  double last_difference;
};

static GembaSampler *
sampler_new (GembaSampleMode mode)
{
  GembaSampler *self = g_new0 (GembaSampler, 1);

  self->mode = mode;
  self->every = 1;
  gemba_sampler_reset (self);
  return self;
}

/* Grey thumbnail: the mean of a CELL_SAMPLES² grid of points in each cell. */
static void
thumbnail (const guint8 *pixels, guint width, guint height, gsize stride, guint bpp,
           guint8 out[THUMB_W * THUMB_H])
{
  for (guint ty = 0; ty < THUMB_H; ty++)
    for (guint tx = 0; tx < THUMB_W; tx++)
      {
        guint sum = 0;
        for (guint sy = 0; sy < CELL_SAMPLES; sy++)
          {
            guint y = (guint) (((guint64) ty * CELL_SAMPLES + sy) * height /
                               (THUMB_H * CELL_SAMPLES));
            const guint8 *row = pixels + (gsize) y * stride;
            for (guint sx = 0; sx < CELL_SAMPLES; sx++)
              {
                guint x = (guint) (((guint64) tx * CELL_SAMPLES + sx) * width /
                                   (THUMB_W * CELL_SAMPLES));
                const guint8 *p = row + (gsize) x * bpp;
                /* BT.601 luma, integer weights summing to 256; a grey plane as it is. */
                sum += bpp == 1 ? p[0] : (77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8;
              }
          }
        out[ty * THUMB_W + tx] = (guint8) (sum / (CELL_SAMPLES * CELL_SAMPLES));
      }
}

static double
thumb_difference (const guint8 *a, const guint8 *b)
{
  guint64 sum = 0;

  for (guint i = 0; i < THUMB_W * THUMB_H; i++)
    sum += (guint) ABS ((int) a[i] - (int) b[i]);
  return sum / (255.0 * THUMB_W * THUMB_H);
}

GembaSampler *
gemba_sampler_new_all (void)
{
  return sampler_new (GEMBA_SAMPLE_ALL);
}

GembaSampler *
gemba_sampler_new_every (guint n)
{
  GembaSampler *self;

  g_return_val_if_fail (n >= 1, NULL);
  self = sampler_new (GEMBA_SAMPLE_EVERY_N);
  self->every = n;
  return self;
}

GembaSampler *
gemba_sampler_new_interval (gint64 interval_ns)
{
  GembaSampler *self;

  g_return_val_if_fail (interval_ns > 0, NULL);
  self = sampler_new (GEMBA_SAMPLE_INTERVAL);
  self->interval = interval_ns;
  return self;
}

GembaSampler *
gemba_sampler_new_scene_change (double threshold)
{
  GembaSampler *self;

  g_return_val_if_fail (threshold >= 0.0 && threshold <= 1.0, NULL);
  self = sampler_new (GEMBA_SAMPLE_SCENE_CHANGE);
  self->threshold = threshold;
  return self;
}

GembaSampler *
gemba_sampler_new_manual (void)
{
  return sampler_new (GEMBA_SAMPLE_MANUAL);
}

void
gemba_sampler_free (GembaSampler *self)
{
  g_free (self);
}

GembaSampleMode
gemba_sampler_get_mode (GembaSampler *self)
{
  return self->mode;
}

double
gemba_sampler_get_last_difference (GembaSampler *self)
{
  return self->last_difference;
}

void
gemba_sampler_reset (GembaSampler *self)
{
  self->first_time = -1;
  self->next_due = -1;
  self->have_last = FALSE;
  self->last_difference = -1;
}

double
gemba_sampler_difference (const guint8 *a, const guint8 *b, guint width, guint height,
                          gsize stride, guint bpp)
{
  guint8 ta[THUMB_W * THUMB_H], tb[THUMB_W * THUMB_H];

  thumbnail (a, width, height, stride, bpp, ta);
  thumbnail (b, width, height, stride, bpp, tb);
  return thumb_difference (ta, tb);
}

gboolean
gemba_sampler_offer (GembaSampler *self, const guint8 *pixels, guint width, guint height,
                     gsize stride, guint bpp, gint64 stream_time, gint64 frame_number,
                     gboolean snapshot)
{
  gboolean keep = FALSE;

  g_return_val_if_fail (self != NULL, FALSE);

  switch (self->mode)
    {
    case GEMBA_SAMPLE_ALL:
      keep = TRUE;
      break;

    case GEMBA_SAMPLE_EVERY_N:
      keep = frame_number >= 0 && frame_number % self->every == 0;
      break;

    case GEMBA_SAMPLE_INTERVAL:
      if (stream_time < 0)
        break;
      if (self->first_time < 0 || stream_time < self->first_time)
        {
          /* The first frame, or time went backwards (a new segment): start over. */
          self->first_time = stream_time;
          self->next_due = stream_time + self->interval;
          keep = TRUE;
        }
      else if (stream_time + INTERVAL_TOLERANCE_NS >= self->next_due)
        {
          /* Due on the grid first_time + k·T; after a gap, skip to the next grid point
           * instead of keeping a burst of frames. */
          gint64 k = (stream_time + INTERVAL_TOLERANCE_NS - self->first_time) / self->interval;
          self->next_due = self->first_time + (k + 1) * self->interval;
          keep = TRUE;
        }
      break;

    case GEMBA_SAMPLE_SCENE_CHANGE:
      {
        guint8 thumb[THUMB_W * THUMB_H];

        g_return_val_if_fail (pixels != NULL && (bpp == 1 || bpp == 3 || bpp == 4), FALSE);
        thumbnail (pixels, width, height, stride, bpp, thumb);
        if (!self->have_last)
          {
            self->last_difference = -1;
            keep = TRUE;
          }
        else
          {
            self->last_difference = thumb_difference (self->last, thumb);
            keep = self->last_difference >= self->threshold;
          }
        /* A snapshot becomes the new reference too. */
        if (keep || snapshot)
          {
            memcpy (self->last, thumb, sizeof thumb);
            self->have_last = TRUE;
          }
      }
      break;

    case GEMBA_SAMPLE_MANUAL:
    default:
      break;
    }

  return keep || snapshot;
}
