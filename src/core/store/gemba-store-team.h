/* gemba-store-team.h: who may do what in a team project
 *
 * A team project's server has three group roles of its own (NOLOGIN, named after its
 * database: <db>_annotator, <db>_engineer, <db>_owner; <db>_<schema>_… for a project kept in
 * a schema other than public). An engineer is an annotator too, an owner is an engineer and
 * owns the tables. The server enforces them with grants, column grants, a row policy on the
 * settings and a trigger on the splits; Gemba asks before it starts and explains a refusal.
 * A SQLite project has no roles: whoever can write its folder is its owner.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "gemba-types.h"

G_BEGIN_DECLS

typedef enum {
  GEMBA_ROLE_NONE,       /* no rights to change anything */
  GEMBA_ROLE_ANNOTATOR,  /* labels; imports frames and the verdicts spooled with them */
  GEMBA_ROLE_ENGINEER,   /* also trains, assigns new frames' splits, promotes and exports */
  GEMBA_ROLE_OWNER,      /* also changes classes and the test split, manages the team */
} GembaRole;

typedef struct {
  char *user;        /* the server user (a login role) */
  GembaRole role;    /* the highest of the project's roles it was given */
} GembaTeamMember;

GEMBA_API void gemba_team_member_free (GembaTeamMember *member);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaTeamMember, gemba_team_member_free)

/* "annotator", "engineer", "owner" or "none": the words of the CLI (not translated). */
GEMBA_API const char *gemba_role_to_string (GembaRole role);
/* Parses gemba_role_to_string()'s words but "none"; FALSE for anything else. */
GEMBA_API gboolean gemba_role_from_string (const char *text, GembaRole *role);

/* What the project's user may do: on a server, from what the server grants the connection's
 * user (a superuser is an owner); GEMBA_ROLE_OWNER for a SQLite project. Asks the server
 * again when the last answer was refused by it. */
GEMBA_API GembaRole gemba_store_get_role (GembaStore *self);
/* The server user of a team project's connection, or NULL for a SQLite project. */
GEMBA_API const char *gemba_store_get_server_user (GembaStore *self);
/* TRUE when the user has at least @role; else FALSE with GEMBA_ERROR_REFUSED and a message
 * naming @action, the project, the server user, its role and the role needed. */
GEMBA_API gboolean gemba_store_require_role (GembaStore *self, GembaRole role,
                                             const char *action, GError **error);
/* The name of @role's group role on the server ("line3_engineer"); NULL on SQLite. */
GEMBA_API char *gemba_store_dup_role_name (GembaStore *self, GembaRole role);

/* Creates the project's three group roles when missing, makes the connection's user an
 * owner, and grants every table what each role may do (again: it repairs changed grants).
 * Needs a user with CREATEROLE (or a superuser) that owns the tables or is an owner; for
 * team projects made before Gemba had roles: `gemba team PROJECT roles --create`. */
GEMBA_API gboolean gemba_store_team_create_roles (GembaStore *self, GError **error);
/* TRUE in *@has when the project's roles exist on its server. */
GEMBA_API gboolean gemba_store_team_has_roles (GembaStore *self, gboolean *has,
                                               GError **error);
/* The login roles that are members of the project's roles (GembaTeamMember), by name. */
GEMBA_API GPtrArray *gemba_store_team_list (GembaStore *self, GError **error);
/* Gives the server user @user (which the DBA created) @role, instead of any other role it
 * had in this project. Only an owner (or a superuser) may; the server checks it too. */
GEMBA_API gboolean gemba_store_team_add (GembaStore *self, const char *user, GembaRole role,
                                         GError **error);
/* Takes every role of this project from @user; refuses to remove the last owner. */
GEMBA_API gboolean gemba_store_team_remove (GembaStore *self, const char *user, GError **error);

G_END_DECLS
