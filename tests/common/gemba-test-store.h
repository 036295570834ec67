/* gemba-test-store.h: projects and frames for the store tests
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include "gemba.h"

G_BEGIN_DECLS

/* A distinct small JPEG of @width × @height per @seed (the same bytes for the same arguments). */
GBytes *gemba_test_make_jpeg (guint width, guint height, guint seed);
/* The test server's URI when the tests run against PostgreSQL (GEMBA_TEST_ON_SERVER set
 * by tests/server/with-server.sh's callers), else NULL: projects are then team projects. */
const char *gemba_test_server (void);
/* A URI of a new empty database (a schema) on the test server. */
char *gemba_test_server_new_database (void);
/* Makes a new folder from @tmpl (as g_dir_make_tmp) into *@dir; returns the path of @name in it. */
char *gemba_test_project_path (const char *tmpl, const char *name, char **dir);
/* Creates a project with @classes in a new folder from @tmpl (paths into *@dir and *@project),
 * with "tester" as its author. */
GembaStore *gemba_test_project_create (const char *tmpl, const char * const *classes,
                                       char **dir, char **project);
/* Closes *@store, removes *@dir with the project in it and frees both paths. */
void gemba_test_project_clear (GembaStore **store, char **project, char **dir);

G_END_DECLS
