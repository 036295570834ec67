/* gemba-niced-task.h: run a GTask's work in a thread of its own, at a lower priority
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Runs @func for @task in a new thread named @name, niced to 10. Linux gives each thread its
 * own nice value and the threads it starts inherit it, so long work (training, decoding a
 * video flat out) keeps every core busy while the main loop still gets one the moment it has
 * something to draw. Not a GTask pool thread, which would keep the lower priority for later
 * tasks. */
void gemba_niced_task_run (GTask *task, GTaskThreadFunc func, const char *name);

G_END_DECLS
