/* gemba-probe.c: timing probes for the GUI tests and benchmarks
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-gui"

#include "config.h"

#include <stdio.h>
#include <unistd.h>

#include "gemba-probe.h"

#define STALL_INTERVAL_MS 4

static gint64 start_time;
static FILE *log_file;
static gint64 last_tick;
static gint64 last_delay;
static gint64 max_gap;
static gint64 max_own_gap;
static guint n_ticks;
static GArray *latencies;
static GArray *own_latencies;   /* the same, less the time the main thread waited for a CPU */
static FILE *schedstat;

/* Nanoseconds this thread has spent runnable but waiting for a CPU (the second field of
 * /proc/thread-self/schedstat), or -1. On a loaded machine a gap between two ticks is partly
 * that wait, which is the machine's doing, not the main loop's. */
static gint64
run_delay_ns (void)
{
  unsigned long long cpu, delay;

  if (!schedstat)
    return -1;
  rewind (schedstat);
  fflush (schedstat);
  if (fscanf (schedstat, "%llu %llu", &cpu, &delay) != 2)
    return -1;
  return (gint64) delay;
}

static gboolean
stall_tick_cb (gpointer user_data)
{
  gint64 now = g_get_monotonic_time ();
  gint64 delay = run_delay_ns ();

  if (last_tick != 0)
    {
      gint64 gap = now - last_tick;
      gint64 waited = delay >= 0 && last_delay >= 0 ? (delay - last_delay) / 1000 : 0;
      gint64 own = MAX (0, gap - waited);

      if (gap > max_gap)
        max_gap = gap;
      if (own > max_own_gap)
        max_own_gap = own;
      /* Each stall longer than a frame at 60 Hz is logged where it happened, to be matched
       * with what the test did; as in the report, the tick's own interval is not stall. */
      if (gap - STALL_INTERVAL_MS * 1000 > 16 * 1000)
        gemba_probe_log ("gap", "ms=%.1f own_ms=%.1f", gap / 1000.0 - STALL_INTERVAL_MS,
                         MAX (0.0, own / 1000.0 - STALL_INTERVAL_MS));
    }
  last_tick = now;
  last_delay = delay;
  n_ticks++;
  return G_SOURCE_CONTINUE;
}

void
gemba_probe_init (void)
{
  const char *path = g_getenv ("GEMBA_PROBE_LOG");

  start_time = g_get_monotonic_time ();
  if (!path || !*path || log_file)
    return;
  if (!(log_file = fopen (path, "a")))
    {
      g_warning ("GEMBA_PROBE_LOG: cannot open %s", path);
      return;
    }
  latencies = g_array_new (FALSE, FALSE, sizeof (double));
  own_latencies = g_array_new (FALSE, FALSE, sizeof (double));
  /* Opened here, in the main thread: thread-self is the main thread's entry. */
  schedstat = fopen ("/proc/thread-self/schedstat", "r");
  g_timeout_add_full (G_PRIORITY_HIGH, STALL_INTERVAL_MS, stall_tick_cb, NULL, NULL);
  /* The clock the times are counted from (CLOCK_MONOTONIC, as Python's time.monotonic()):
   * a test with two workbenches compares their logs with it. */
  gemba_probe_log ("start", "pid=%d monotonic_us=%" G_GINT64_FORMAT, (int) getpid (),
                   start_time);
}

gboolean
gemba_probe_enabled (void)
{
  return log_file != NULL;
}

double
gemba_probe_elapsed_ms (void)
{
  return (g_get_monotonic_time () - start_time) / 1000.0;
}

void
gemba_probe_log (const char *event, const char *format, ...)
{
  va_list args;

  if (!log_file)
    return;
  fprintf (log_file, "%.1f %s", gemba_probe_elapsed_ms (), event);
  if (format && *format)
    {
      fputc (' ', log_file);
      va_start (args, format);
      vfprintf (log_file, format, args);
      va_end (args);
    }
  fputc ('\n', log_file);
  fflush (log_file);
}

void
gemba_probe_stall_reset (void)
{
  max_gap = 0;
  max_own_gap = 0;
  n_ticks = 0;
  last_tick = g_get_monotonic_time ();
  if (latencies)
    g_array_set_size (latencies, 0);
  if (own_latencies)
    g_array_set_size (own_latencies, 0);
  gemba_probe_log ("stall-reset", NULL);
}

static int
compare_doubles (gconstpointer a, gconstpointer b)
{
  double da = *(const double *) a, db = *(const double *) b;

  return da < db ? -1 : da > db;
}

void
gemba_probe_stall_report (const char *name)
{
  double worst = MAX (0.0, max_gap / 1000.0 - STALL_INTERVAL_MS);
  double own = MAX (0.0, max_own_gap / 1000.0 - STALL_INTERVAL_MS);

  if (!log_file)
    return;
  /* A gap counts from the previous tick: the part above the interval is the stall. "own"
   * leaves out the time the main thread was ready to run but had no CPU. */
  gemba_probe_log ("stall", "name=%s max_ms=%.1f own_max_ms=%.1f ticks=%u", name, worst, own,
                   n_ticks);
  if (latencies && latencies->len > 0)
    {
      g_array_sort (latencies, compare_doubles);
      g_array_sort (own_latencies, compare_doubles);
      gemba_probe_log ("latency-summary", "name=%s n=%u median_ms=%.1f p95_ms=%.1f max_ms=%.1f "
                       "own_median_ms=%.1f own_max_ms=%.1f",
                       name, latencies->len,
                       g_array_index (latencies, double, latencies->len / 2),
                       g_array_index (latencies, double, (latencies->len * 95) / 100),
                       g_array_index (latencies, double, latencies->len - 1),
                       g_array_index (own_latencies, double, own_latencies->len / 2),
                       g_array_index (own_latencies, double, own_latencies->len - 1));
    }
}

double
gemba_probe_waited_ms (void)
{
  gint64 delay = log_file ? run_delay_ns () : -1;

  return delay >= 0 ? delay / 1e6 : 0.0;
}

void
gemba_probe_latency (const char *name, double ms, double waited_ms)
{
  double own = MAX (0.0, ms - waited_ms);

  if (!log_file)
    return;
  g_array_append_val (latencies, ms);
  g_array_append_val (own_latencies, own);
  gemba_probe_log ("latency", "name=%s ms=%.1f own_ms=%.1f", name, ms, own);
}
