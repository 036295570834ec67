/* gemba-drift.h: statistics that show a production line drifting away from the test split
 *
 * The export records them for the locked test split in the manifest ("reference"); the
 * gembaclassify element keeps the same over a sliding window and compares the two with
 * gemba_drift_compare() (the test is documented in README.md, "Drift alarm").
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "gemba-types.h"

G_BEGIN_DECLS

/* Bins of the top-confidence histogram over [0, 1]. */
#define GEMBA_DRIFT_BINS 10
/* Population stability index above which a distribution has shifted. */
#define GEMBA_DRIFT_PSI_ALARM 0.25
/* Difference of the mean brightness or contrast, in reference standard deviations (at least
 * GEMBA_DRIFT_MIN_STD grey levels), above which the images have shifted. */
#define GEMBA_DRIFT_D_ALARM 1.0
#define GEMBA_DRIFT_MIN_STD 4.0

/* Sums over a set of frames. Zero-initialise with gemba_drift_stats_new(). */
typedef struct {
  guint n_classes;
  double n;                        /* frames */
  double hist[GEMBA_DRIFT_BINS];   /* frames per top-confidence bin */
  double n_uncertain;
  double *class_counts;            /* frames per top class */
  double brightness, brightness2;  /* sums of the per-frame mean luma and its square */
  double contrast, contrast2;      /* sums of the per-frame luma standard deviation … */
} GembaDriftStats;

GEMBA_API GembaDriftStats *gemba_drift_stats_new (guint n_classes);
GEMBA_API void gemba_drift_stats_free (GembaDriftStats *stats);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaDriftStats, gemba_drift_stats_free)

/* Mean and standard deviation of the luma (0.299 R + 0.587 G + 0.114 B, 0–255) of an
 * interleaved 8-bit image with @bpp bytes per pixel, R at @r, G at @g, B at @b. Every second
 * pixel of every second row is read. */
GEMBA_API void gemba_drift_measure (const guint8 *pixels, guint width, guint height,
                                    gsize stride, guint bpp, guint r, guint g, guint b,
                                    double *brightness, double *contrast);

/* Adds (@sign 1) or removes (@sign -1) one frame. */
GEMBA_API void gemba_drift_stats_add (GembaDriftStats *stats, double top_confidence,
                                      guint top_class, gboolean uncertain, double brightness,
                                      double contrast, int sign);

/* Writes the statistics as the manifest's "reference" object. */
GEMBA_API void gemba_drift_stats_to_json (const GembaDriftStats *stats, JsonBuilder *b);
/* Reads a manifest's "reference" (already validated by the package reader). */
GEMBA_API GembaDriftStats *gemba_drift_stats_from_json (JsonObject *reference, guint n_classes);

/* Compares a window with the reference: an object with the window's values, the reference's,
 * the scores and "shifted" (what moved, comma-separated, "" when nothing did). Free with
 * json_object_unref(). */
GEMBA_API JsonObject *gemba_drift_compare (const GembaDriftStats *reference,
                                           const GembaDriftStats *window);

G_END_DECLS
