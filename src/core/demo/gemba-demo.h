/* gemba-demo.h: a demo project of machined parts on a conveyor belt
 *
 * The frames are rendered here, in plain C, from a fixed seed: two camera stations looking at
 * washers and L-brackets, some of them scratched, dented or missing a hole. Every defect is
 * visible to a person at 320 × 240 and learnable by a small CNN, and no two frames are alike
 * (position, rotation, part size, metal, belt, lighting and sensor noise all vary).
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "gemba-types.h"

G_BEGIN_DECLS

/* Frames in the demo project, and their size. */
#define GEMBA_DEMO_N_FRAMES 320
#define GEMBA_DEMO_WIDTH 320
#define GEMBA_DEMO_HEIGHT 240
/* The two camera stations of the demo project. */
#define GEMBA_DEMO_N_SOURCES 2
/* A third station that gemba_demo_render() can draw but the demo project leaves out: a new line
 * under a new lighting (darker, warmer, vignetted, another belt), for lighting-shift tests such
 * as bench/loop. */
#define GEMBA_DEMO_SOURCE_NEW_LIGHTING 2
#define GEMBA_DEMO_N_RENDER_SOURCES 3

/* The demo's classes, in the project's order. */
typedef enum {
  GEMBA_DEMO_OK,
  GEMBA_DEMO_SCRATCH,
  GEMBA_DEMO_DENT,
  GEMBA_DEMO_MISSING_HOLE,
  GEMBA_DEMO_N_CLASSES,
} GembaDemoClass;

/* Called after each frame, in the thread that called gemba_demo_create(). */
typedef void (*GembaDemoProgress) (guint done, guint total, gpointer user_data);

/* "ok", "scratch", "dent", "missing-hole". */
GEMBA_API const char *gemba_demo_class_name (GembaDemoClass klass);
/* "Line 1 top camera", "Line 2 side camera", "Line 3 top camera" (the new lighting). */
GEMBA_API const char *gemba_demo_source_name (guint source);

/* Renders one GEMBA_DEMO_WIDTH × GEMBA_DEMO_HEIGHT frame of camera @source showing a part of
 * class @klass. The same arguments always give the same pixels; other seeds give other
 * parts, poses and lighting. Useful on its own as a learnable synthetic data set. */
GEMBA_API GembaImage *gemba_demo_render (guint source, GembaDemoClass klass, guint64 seed);

/* Creates a Gemba project at @path (which must not exist, or be empty) holding
 * GEMBA_DEMO_N_FRAMES JPEG frames from two sources captured over a morning shift, about 70 %
 * of them labeled by two inspectors, with the test and validation splits assigned. The result
 * is the same on every run. On error or cancellation (GEMBA_ERROR_CANCELLED) the half-made
 * project is removed. Takes a few seconds: call it from a worker thread in a GUI. */
GEMBA_API gboolean gemba_demo_create (const char *path, GembaDemoProgress progress,
                                      gpointer user_data, GCancellable *cancellable,
                                      GError **error);

G_END_DECLS
