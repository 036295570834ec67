/* gemba-package-private.h: what the package files share and do not export
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* sodium_init() once, from any thread. */
void _gemba_sodium_init (void);

G_END_DECLS
