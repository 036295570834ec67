/* gemba-package-private.h: what the package files share and do not export
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "gemba-augment.h"

G_BEGIN_DECLS

/* sodium_init() once, from any thread. */
void _gemba_sodium_init (void);

/* A manifest's "input" object (already type-checked) as a preprocessing, checked by
 * gemba_preprocess_validate(): errors name the package @name and the field. */
gboolean _gemba_package_manifest_preprocess (JsonObject *input, GembaPreprocess *pp,
                                             const char *name, GError **error);

G_END_DECLS
