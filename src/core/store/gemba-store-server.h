/* gemba-store-server.h: moving a project between SQLite and a PostgreSQL server
 *
 * A location is a project folder (its SQLite database) or a postgresql:// URI. The same data
 * model and schema version live on both; see DESIGN.md, "Team projects".
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "gemba-types.h"

G_BEGIN_DECLS

/* One table of a store: how many rows and a SHA-256 of their content in key order, computed
 * the same way on both backends, so that two stores hold the same data iff their digests
 * are equal. */
typedef struct {
  char *table;
  gint64 rows;
  char sha256[65];
} GembaTableDigest;

GEMBA_API void gemba_table_digest_free (GembaTableDigest *digest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaTableDigest, gemba_table_digest_free)

typedef void (*GembaMigrateProgress) (guint64 done, guint64 total, gpointer user_data);

/* TRUE when @location is a postgresql:// (or postgres://) URI rather than a folder. */
GEMBA_API gboolean gemba_store_location_is_server (const char *location);

/* The digest of every table of the store at @location, in the data model's order. */
GEMBA_API GPtrArray *gemba_store_digest (const char *location, GError **error);

/* Copies every table of the project at @from into @to, losslessly (frames' rows, labels
 * with their whole history, splits, models, predictions, runs, the audit trail), then checks
 * that both stores' digests are equal. @to must be an empty server database, or a project
 * folder without a database (frame files stay where they are: copy the frames/ folder with
 * it). Refuses to touch a target that holds anything. Returns the digests of @to. */
GEMBA_API GPtrArray *gemba_store_migrate (const char *from, const char *to,
                                          GembaMigrateProgress progress, gpointer user_data,
                                          GCancellable *cancellable, GError **error);

G_END_DECLS
