/* gemba-niced-task.c: run a GTask's work in a thread of its own, at a lower priority
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <errno.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gemba-niced-task.h"

typedef struct {
  GTask *task;
  GTaskThreadFunc func;
} NicedTask;

static gpointer
niced_thread_main (gpointer data)
{
  NicedTask *job = data;

  if (setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), 10) != 0)
    g_debug ("could not lower a worker thread's priority: %s", g_strerror (errno));
  job->func (job->task, g_task_get_source_object (job->task), g_task_get_task_data (job->task),
             g_task_get_cancellable (job->task));
  g_object_unref (job->task);
  g_free (job);
  return NULL;
}

void
gemba_niced_task_run (GTask *task, GTaskThreadFunc func, const char *name)
{
  NicedTask *job = g_new0 (NicedTask, 1);

  job->task = g_object_ref (task);
  job->func = func;
  g_thread_unref (g_thread_new (name, niced_thread_main, job));
}
