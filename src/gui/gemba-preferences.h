/* gemba-preferences.h: the preferences window (annotator name, thumbnail size, preload depth)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define GEMBA_TYPE_PREFERENCES (gemba_preferences_get_type ())
G_DECLARE_FINAL_TYPE (GembaPreferences, gemba_preferences, GEMBA, PREFERENCES,
                      AdwPreferencesWindow)

GtkWindow *gemba_preferences_new (GtkWindow *parent);

G_END_DECLS
