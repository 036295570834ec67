/* gemba-store-watch.h: seeing what other members change in a team project, as it happens
 *
 * On a PostgreSQL server every write that changes frames or labels, classes, models or the
 * production model sends a notification (NOTIFY gemba_changes) in its own transaction, so a
 * watcher hears of it once it is committed and never of a write that was rolled back.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "gemba-types.h"

G_BEGIN_DECLS

/* What changed; the id says which row, or 0 when several or unknown. */
typedef enum {
  GEMBA_CHANGE_FRAMES,      /* frames added, labeled, or moved between splits; id: a frame */
  GEMBA_CHANGE_CLASSES,     /* a class added or changed; id: the class */
  GEMBA_CHANGE_MODEL,       /* a model added; id: the model */
  GEMBA_CHANGE_PRODUCTION,  /* a model promoted to production; id: the model */
  GEMBA_CHANGE_RESYNC,      /* the watch reconnected: changes may have been missed, reload all */
} GembaChangeKind;

typedef enum {
  GEMBA_WATCH_DEFAULT = 0,
  /* Ignores what this process wrote itself (through any of its stores). */
  GEMBA_WATCH_SKIP_OWN_PROCESS = 1 << 0,
} GembaWatchFlags;

typedef void (*GembaChangeFunc) (GembaChangeKind kind, gint64 id, gpointer user_data);
typedef struct _GembaStoreWatch GembaStoreWatch;

/* Calls @func in @context (NULL: the thread-default one) for every change committed to the
 * team project of @store, through a server connection of its own that LISTENs; it listens
 * when this returns. A lost connection is reported (g_warning) and retried with a backoff
 * from 0.5 s to 30 s, then GEMBA_CHANGE_RESYNC is delivered. On a SQLite project the watch
 * is inert (a project file has one writer PC). NULL with @error if the server cannot be
 * reached. */
GEMBA_API GembaStoreWatch *gemba_store_watch_new (GembaStore *store, GembaWatchFlags flags,
                                                  GMainContext *context, GembaChangeFunc func,
                                                  gpointer user_data, GError **error);
/* TRUE while the watch is connected (always TRUE on SQLite). */
GEMBA_API gboolean gemba_store_watch_is_connected (GembaStoreWatch *watch);
/* Stops watching; @func is not called afterwards. Call it in the watch's context's thread. */
GEMBA_API void gemba_store_watch_free (GembaStoreWatch *watch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaStoreWatch, gemba_store_watch_free)

G_END_DECLS
