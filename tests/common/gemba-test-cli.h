/* gemba-test-cli.h: running the gemba CLI from a test
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The gemba binary of this build tree ($GEMBA_BUILD_ROOT/src/cli/gemba). */
const char *gemba_test_cli_path (void);
/* Runs `gemba FIRST …` (NULL-terminated) and asserts that it succeeded. */
void gemba_test_cli_run (const char *first, ...) G_GNUC_NULL_TERMINATED;
/* Runs `gemba FIRST …` (NULL-terminated); returns its exit status and, when not NULL, what it
 * printed on @out and @err. */
int gemba_test_cli_capture (char **out, char **err, const char *first, ...)
  G_GNUC_NULL_TERMINATED;

G_END_DECLS
