/* gemba-window-private.h: what gemba-window.c shares with gemba-window-actions.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "gemba-frames-page.h"
#include "gemba-models-page.h"
#include "gemba-start-page.h"
#include "gemba-window.h"

G_BEGIN_DECLS

struct _GembaWindow
{
  AdwApplicationWindow parent_instance;

  AdwViewSwitcherTitle *switcher_title;
  GtkWidget *back_button;
  GtkWidget *undo_button;
  GtkWidget *redo_button;
  GtkRevealer *reconnect_revealer;
  GtkSpinner *reconnect_spinner;
  GtkLabel *reconnect_label;
  AdwToastOverlay *toast_overlay;
  GtkStack *main_stack;
  GembaStartPage *start_page;
  GtkSpinner *loading_spinner;
  GtkLabel *loading_label;
  AdwViewStack *view_stack;
  GembaFramesPage *frames_page;
  GembaModelsPage *models_page;

  GSettings *settings;
  GembaProject *project;
  GCancellable *cancellable;
  gboolean banner_shown;
};

/* Closes the open project and opens the one at @path, showing a spinner meanwhile. */
void _gemba_window_open               (GembaWindow *self, const char *path,
                                       GembaProjectOpenMode mode);
/* Installs the win.* actions and their keys on the window class (gemba-window-actions.c). */
void _gemba_window_class_actions_init  (GtkWidgetClass *widget_class);
/* Enables the actions that need a project, and undo and redo as the Frames page says. */
void _gemba_window_update_actions     (GembaWindow *self);
/* Closes the open project (waiting for the labels still being written). */
void _gemba_window_close_project      (GembaWindow *self);
/* The start page, with no project open. */
void _gemba_window_show_start         (GembaWindow *self);

G_END_DECLS
