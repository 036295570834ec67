/* gemba-probe.h: timing probes for the GUI tests and benchmarks
 *
 * Off unless GEMBA_PROBE_LOG names a file; then events are appended to it, one a line:
 * "<ms since start> <event> [key=value…]".
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void     gemba_probe_init         (void);
gboolean gemba_probe_enabled      (void);
double   gemba_probe_elapsed_ms   (void);
void     gemba_probe_log          (const char *event, const char *format, ...) G_GNUC_PRINTF (2, 3);
/* The main-loop stall monitor: a high-priority timeout that records the longest gap between
 * two of its runs, i.e. the longest time the main loop was busy with something else. */
void     gemba_probe_stall_reset  (void);
void     gemba_probe_stall_report (const char *name);
/* The main thread's time spent runnable but waiting for a CPU so far, in ms (0 without the
 * kernel's schedstat). Called from the main thread only. */
double   gemba_probe_waited_ms    (void);
/* One latency of @ms, of which the main thread waited @waited_ms for a CPU. */
void     gemba_probe_latency      (const char *name, double ms, double waited_ms);

G_END_DECLS
