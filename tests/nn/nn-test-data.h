/* Synthetic images for the nn tests: three classes of patterns a camera might see.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <math.h>

#include "gemba-image.h"
#include "gemba-tensor.h"

/* class 0: horizontal stripes, 1: vertical stripes, 2: a bright square on a dark ground;
 * random phase, contrast, position and noise. */
static inline GembaImage *
nn_test_pattern (int cls, int size, GembaRng *rng)
{
  GembaImage *img = gemba_image_new (size, size);
  int period = 4 + (int) gemba_rng_below (rng, 3);
  int phase = (int) gemba_rng_below (rng, (guint32) period);
  float lo = 40 + 40 * gemba_rng_uniform (rng), hi = 160 + 60 * gemba_rng_uniform (rng);
  int sq = size / 3, sx = (int) gemba_rng_below (rng, (guint32) (size - sq));
  int sy = (int) gemba_rng_below (rng, (guint32) (size - sq));

  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      {
        float v;

        if (cls == 0)
          v = ((y + phase) % period) < period / 2 ? hi : lo;
        else if (cls == 1)
          v = ((x + phase) % period) < period / 2 ? hi : lo;
        else
          v = (x >= sx && x < sx + sq && y >= sy && y < sy + sq) ? hi : lo;
        v += 12.0f * gemba_rng_normal (rng);
        for (int c = 0; c < 3; c++)
          img->pixels[(y * size + x) * 3 + c] = (guint8) CLAMP (v + 10 * c, 0, 255);
      }
  return img;
}
