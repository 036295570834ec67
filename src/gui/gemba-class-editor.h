/* gemba-class-editor.h: add, rename, recolour, reorder, retire classes and set their keys
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <adwaita.h>

#include "gemba-project.h"

G_BEGIN_DECLS

#define GEMBA_TYPE_CLASS_EDITOR (gemba_class_editor_get_type ())
G_DECLARE_FINAL_TYPE (GembaClassEditor, gemba_class_editor, GEMBA, CLASS_EDITOR, AdwWindow)

GtkWindow *gemba_class_editor_new (GtkWindow *parent, GembaProject *project);

G_END_DECLS
