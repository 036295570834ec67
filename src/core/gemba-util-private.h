/* gemba-util-private.h: small helpers the core's modules share (not public API)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Removes @path and everything below it, never following symbolic links. */
void _gemba_remove_tree (const char *path);

G_END_DECLS
