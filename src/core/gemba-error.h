/* gemba-error.h: the error domain of the core library
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include "gemba-types.h"

G_BEGIN_DECLS

#define GEMBA_ERROR (gemba_error_quark ())

/**
 * GembaError:
 * @GEMBA_ERROR_FAILED: anything not listed below
 * @GEMBA_ERROR_NOT_FOUND: a frame, class, model, source or file that does not exist
 * @GEMBA_ERROR_AMBIGUOUS: a frame-id prefix that matches several frames
 * @GEMBA_ERROR_EXISTS: something with that name already exists
 * @GEMBA_ERROR_INVALID: input that is malformed or out of range
 * @GEMBA_ERROR_NOT_A_PROJECT: a folder that is not a Gemba project
 * @GEMBA_ERROR_TOO_NEW: a project written by a newer Gemba
 * @GEMBA_ERROR_CORRUPT: a damaged file (database, image, weights, package)
 * @GEMBA_ERROR_UNSUPPORTED: a format or feature this build cannot handle
 * @GEMBA_ERROR_LOCKED: a change the project forbids (e.g. moving a frame out of the test split)
 * @GEMBA_ERROR_IO: reading or writing a file failed
 * @GEMBA_ERROR_CANCELLED: the user stopped the work
 * @GEMBA_ERROR_SECURITY: a package that is unsigned, tampered with or untrusted
 * @GEMBA_ERROR_REFUSED: a request the project's rules refuse (e.g. the regression gate)
 * @GEMBA_ERROR_NO_SPACE: the disk (or the user's quota) is full; what was saved before is kept
 * @GEMBA_ERROR_READ_ONLY: a change to a project opened read-only (its folder or database is
 *   not writable)
 * @GEMBA_ERROR_DISCONNECTED: a team project's server could not be reached, or the connection
 *   to it was lost; a change that failed so was rolled back by the server, unless its commit
 *   had been sent (see gemba_store_set_label_at()): try it again once the server is back
 */
typedef enum {
  GEMBA_ERROR_FAILED,
  GEMBA_ERROR_NOT_FOUND,
  GEMBA_ERROR_AMBIGUOUS,
  GEMBA_ERROR_EXISTS,
  GEMBA_ERROR_INVALID,
  GEMBA_ERROR_NOT_A_PROJECT,
  GEMBA_ERROR_TOO_NEW,
  GEMBA_ERROR_CORRUPT,
  GEMBA_ERROR_UNSUPPORTED,
  GEMBA_ERROR_LOCKED,
  GEMBA_ERROR_IO,
  GEMBA_ERROR_CANCELLED,
  GEMBA_ERROR_SECURITY,
  GEMBA_ERROR_REFUSED,
  GEMBA_ERROR_NO_SPACE,
  GEMBA_ERROR_READ_ONLY,
  GEMBA_ERROR_DISCONNECTED,
} GembaError;

GEMBA_API GQuark gemba_error_quark (void);

/* Sets @error (GEMBA_ERROR_NO_SPACE) to the one message every front end gives when the disk
 * holding the project @folder fills up during an import that stored @n_stored frames. */
GEMBA_API void gemba_set_disk_full_error (GError **error, const char *folder, gint64 n_stored);

G_END_DECLS
