/* gemba-store-check.h: the health of a project and what crashed writers left behind
 *
 * Every process that opens a project holds a shared lock on its owner file (gemba.lock). A
 * process that can take it exclusively knows that no other process has the project open, so
 * staging folders, temporary files and runs recorded as running are provably stale.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "gemba-types.h"

G_BEGIN_DECLS

/* The owner file inside a project folder. */
#define GEMBA_STORE_OWNER_NAME "gemba.lock"

/* What gemba_store_check() found, and removed when asked to repair. */
typedef struct {
  char *integrity;           /* "ok", or what SQLite's integrity_check said */
  GPtrArray *missing_files;  /* paths of frame files that a frames row needs but are missing */
  GPtrArray *orphan_files;   /* paths of frame files that no frames row references */
  GPtrArray *leftovers;      /* staging folders and temporary files of interrupted writers */
  gint64 n_interrupted_runs; /* runs still recorded as running that no live process owns */
  guint n_cleaned_at_open;   /* leftovers and runs this process cleaned when it opened */
  gboolean in_use;           /* another process has the project open: nothing was removed */
  gboolean repaired;         /* orphans, leftovers and runs were removed or marked */
} GembaStoreCheck;

/* Runs integrity_check, compares the frames folder with the frames rows and lists leftovers.
 * With @repair, and only when no other process has the project open, removes the orphan frame
 * files and leftovers and marks running runs interrupted. */
GEMBA_API GembaStoreCheck *gemba_store_check (GembaStore *store, gboolean repair,
                                              GCancellable *cancellable, GError **error);
/* TRUE when the project has nothing to report (after any repair). */
GEMBA_API gboolean gemba_store_check_is_healthy (const GembaStoreCheck *check);
GEMBA_API void gemba_store_check_free (GembaStoreCheck *check);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaStoreCheck, gemba_store_check_free)

G_END_DECLS
