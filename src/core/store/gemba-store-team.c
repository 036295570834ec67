/* gemba-store-team.c: a team project's roles, grants and members on its server
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-store"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "gemba-error.h"
#include "gemba-db-private.h"
#include "gemba-store-private.h"
#include "gemba-store-team.h"

/* The one list of what each role may do, table by table, on top of the role it contains: an
 * engineer is an annotator, an owner is an engineer and owns every table (so it may do
 * anything, schema migrations too). Privileges are written as GRANT takes them; a column list
 * limits a table whose columns mix rights. A table of the schema that is not listed here makes
 * granting fail: a new table (schema step) must say who may write it.
 *
 * What grants cannot say is below them: settings rows by key (a row policy), and which split
 * changes an engineer may make (a trigger). Importing frames, with the production verdicts a
 * line spools with them, is the annotator's, so that a line's account needs no more. */
typedef struct {
  const char *table;
  const char *annotator;
  const char *engineer;
} TableRights;

static const TableRights table_rights[] = {
  { "gemba_schema", "SELECT", NULL },
  /* Every label bumps the dataset revision; the policies below keep each role to its keys. */
  { "settings", "SELECT, UPDATE (value)", "INSERT, UPDATE, DELETE" },
  { "sources", "SELECT, INSERT", NULL },
  { "classes", "SELECT", NULL },
  { "packages", "SELECT, INSERT", NULL },
  /* Never the split on import: the splits are the engineer's and the owner's. */
  { "frames", "SELECT, INSERT (sha256, ext, width, height, size, source_id, captured_at, "
              "imported_at, stream_time, frame_number, original_name, package_id), "
              "UPDATE (label_id, package_id)",
    "UPDATE (split)" },
  /* A label records what the production model said of the frame (model_id …). */
  { "labels", "SELECT, INSERT, UPDATE (model_id, model_class_id, correction)", NULL },
  { "models", "SELECT", "INSERT, UPDATE (name, metrics, test_accuracy)" },
  { "predictions", "SELECT, INSERT, UPDATE", "DELETE" },
  { "runs", "SELECT", "INSERT, UPDATE" },
  /* Promotions, exports and splits write it: an annotator's export is refused here. Its
   * author is the server's current_user whatever a non-owner writes (audit_author below). */
  { "audit", "SELECT", "INSERT" },
  /* Review-queue leases: claiming, renewing and releasing are the annotator's, and so is
   * ending another member's lease by labeling its frame. */
  { "leases", "SELECT, INSERT, UPDATE, DELETE", NULL },
};

/* Settings rows: the dataset revision is everyone's, the production model the engineer's,
 * the rest the owner's (who owns the table, and so is not held to these). */
static const char settings_policies[] =
  "ALTER TABLE settings ENABLE ROW LEVEL SECURITY;"
  "DROP POLICY IF EXISTS gemba_read ON settings;"
  "DROP POLICY IF EXISTS gemba_revision ON settings;"
  "DROP POLICY IF EXISTS gemba_production ON settings;"
  "CREATE POLICY gemba_read ON settings FOR SELECT TO %1$s USING (true);"
  "CREATE POLICY gemba_revision ON settings FOR UPDATE TO %1$s"
  "  USING (key = 'revision') WITH CHECK (key = 'revision');"
  "CREATE POLICY gemba_production ON settings FOR ALL TO %2$s"
  "  USING (key IN ('revision', 'production-model'))"
  "  WITH CHECK (key IN ('revision', 'production-model'));";

/* Splits: an engineer's training assigns a split to newly labeled frames that have none (the
 * draw of gemba_store_assign_splits); moving a frame that has one, and reserving unlabeled
 * frames for the test split, are the owner's (the table's owner). Leaving the test split is
 * refused to everyone by test_split_locked. */
static const char split_rights[] =
  "CREATE OR REPLACE FUNCTION gemba_split_rights() RETURNS trigger LANGUAGE plpgsql AS $$"
  "BEGIN"
  "  IF pg_has_role((SELECT relowner FROM pg_catalog.pg_class WHERE oid = TG_RELID), 'USAGE')"
  "     OR (OLD.split = 0 AND EXISTS (SELECT 1 FROM labels l WHERE l.id = NEW.label_id"
  "                                   AND l.class_id IS NOT NULL)) THEN"
  "    RETURN NEW;"
  "  END IF;"
  "  RAISE EXCEPTION 'permission denied: changing the split of frame %, once it has one or "
  "while it is unlabeled, is the owner''s', NEW.id USING ERRCODE = '42501';"
  "END $$;"
  "DROP TRIGGER IF EXISTS split_rights ON frames;"
  "CREATE TRIGGER split_rights BEFORE UPDATE OF split ON frames FOR EACH ROW"
  "  WHEN (OLD.split IS DISTINCT FROM NEW.split) EXECUTE FUNCTION gemba_split_rights();"
  /* Only an owner writes another author (gemba migrate copies the trail). */
  "CREATE OR REPLACE FUNCTION gemba_audit_author() RETURNS trigger LANGUAGE plpgsql AS $$"
  "BEGIN"
  "  IF NOT pg_has_role((SELECT relowner FROM pg_catalog.pg_class WHERE oid = TG_RELID),"
  "                     'USAGE') THEN"
  "    NEW.author := current_user;"
  "  END IF;"
  "  RETURN NEW;"
  "END $$;"
  "DROP TRIGGER IF EXISTS audit_author ON audit;"
  "CREATE TRIGGER audit_author BEFORE INSERT ON audit FOR EACH ROW"
  "  EXECUTE FUNCTION gemba_audit_author();";

static const char *const role_suffixes[] = { NULL, "annotator", "engineer", "owner" };

/* The longest name PostgreSQL keeps (NAMEDATALEN - 1). */
#define MAX_NAME 63

void
gemba_team_member_free (GembaTeamMember *member)
{
  if (!member)
    return;
  g_free (member->user);
  g_free (member);
}

const char *
gemba_role_to_string (GembaRole role)
{
  return role > GEMBA_ROLE_NONE && role <= GEMBA_ROLE_OWNER ? role_suffixes[role] : "none";
}

gboolean
gemba_role_from_string (const char *text, GembaRole *role)
{
  for (GembaRole r = GEMBA_ROLE_ANNOTATOR; r <= GEMBA_ROLE_OWNER; r++)
    if (text && g_str_equal (text, role_suffixes[r]))
      {
        *role = r;
        return TRUE;
      }
  return FALSE;
}

/* "an annotator": the role as the end of a sentence about a user. */
static const char *
role_phrase (GembaRole role)
{
  switch (role)
    {
    case GEMBA_ROLE_ANNOTATOR:
      return _("an annotator");
    case GEMBA_ROLE_ENGINEER:
      return _("an engineer");
    case GEMBA_ROLE_OWNER:
      return _("an owner");
    case GEMBA_ROLE_NONE:
    default:
      return _("not a member of its team");
    }
}

/* "name" with its double quotes doubled, in double quotes. */
static char *
quote_ident (const char *name)
{
  g_autoptr(GString) quoted = g_string_new ("\"");

  for (const char *p = name; *p; p++)
    {
      if (*p == '"')
        g_string_append_c (quoted, '"');
      g_string_append_c (quoted, *p);
    }
  g_string_append_c (quoted, '"');
  return g_string_free (g_steal_pointer (&quoted), FALSE);
}

/* --- Role names ----------------------------------------------------------------------- */

typedef struct {
  char *names[4];   /* indexed by GembaRole; [0] unused */
  char *quoted[4];
  char *database;
  char *schema;
} RoleNames;

static void
role_names_clear (RoleNames *names)
{
  for (guint i = 0; i < 4; i++)
    {
      g_free (names->names[i]);
      g_free (names->quoted[i]);
    }
  g_free (names->database);
  g_free (names->schema);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (RoleNames, role_names_clear)

static gboolean
role_names_get (GembaDb *db, RoleNames *names, GError **error)
{
  g_autoptr(GembaDbStmt) stmt = gemba_db_prepare (db, "SELECT current_database()::text,"
                                                      " current_schema()::text", error);
  g_autofree char *prefix = NULL;

  if (!stmt || gemba_db_step (stmt, error) != GEMBA_DB_STEP_ROW)
    return FALSE;
  names->database = g_strdup (gemba_db_column_text (stmt, 0));
  names->schema = g_strdup (gemba_db_column_text (stmt, 1));
  prefix = g_str_equal (names->schema, "public")
           ? g_strdup (names->database)
           : g_strdup_printf ("%s_%s", names->database, names->schema);
  if (strlen (prefix) + strlen ("_annotator") > MAX_NAME)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
                   _("%s: the team roles are named after the database, and “%s” is too long "
                     "for PostgreSQL's role names (at most %d bytes); use a shorter database "
                     "name"), gemba_db_get_name (db), prefix,
                   (int) (MAX_NAME - strlen ("_annotator")));
      return FALSE;
    }
  for (GembaRole r = GEMBA_ROLE_ANNOTATOR; r <= GEMBA_ROLE_OWNER; r++)
    {
      names->names[r] = g_strdup_printf ("%s_%s", prefix, role_suffixes[r]);
      names->quoted[r] = quote_ident (names->names[r]);
    }
  return TRUE;
}

/* Whether each role exists (as a role that cannot log in: a group). */
static gboolean
roles_exist (GembaDb *db, const RoleNames *names, gboolean exists[4], GError **error)
{
  g_autoptr(GembaDbStmt) stmt = gemba_db_prepare (db, "SELECT rolcanlogin FROM pg_catalog.pg_roles"
                                                      " WHERE rolname = ?", error);
  if (!stmt)
    return FALSE;
  for (GembaRole r = GEMBA_ROLE_ANNOTATOR; r <= GEMBA_ROLE_OWNER; r++)
    {
      GembaDbStep step;

      gemba_db_reset (stmt);
      gemba_db_bind_text (stmt, 1, names->names[r]);
      step = gemba_db_step (stmt, error);
      if (step == GEMBA_DB_STEP_ERROR)
        return FALSE;
      exists[r] = step == GEMBA_DB_STEP_ROW;
      if (exists[r] && gemba_db_column_int (stmt, 0))
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS,
                       _("%s: the server already has a role “%s” that can log in; Gemba's team "
                         "roles are groups of that name, and nothing was changed"),
                       gemba_db_get_name (db), names->names[r]);
          return FALSE;
        }
    }
  return TRUE;
}

/* --- Granting ------------------------------------------------------------------------- */

static const TableRights *
find_rights (const char *table)
{
  for (guint i = 0; i < G_N_ELEMENTS (table_rights); i++)
    if (g_str_equal (table_rights[i].table, table))
      return &table_rights[i];
  return NULL;
}

/* Every table of the project's schema has its rights listed. */
static gboolean
check_rights_listed (GembaDb *db, GError **error)
{
  g_autoptr(GembaDbStmt) stmt = gemba_db_prepare (db, "SELECT tablename::text FROM"
                                                      " pg_catalog.pg_tables WHERE"
                                                      " schemaname = current_schema()", error);
  GembaDbStep step;

  if (!stmt)
    return FALSE;
  while ((step = gemba_db_step (stmt, error)) == GEMBA_DB_STEP_ROW)
    if (!find_rights (gemba_db_column_text (stmt, 0)))
      {
        g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_FAILED,
                     _("%s: table %s has no rights for the team roles (gemba-store-team.c); "
                       "nothing was changed"), gemba_db_get_name (db),
                     gemba_db_column_text (stmt, 0));
        return FALSE;
      }
  return step == GEMBA_DB_STEP_DONE;
}

static gboolean
has_insert (const char *privileges)
{
  return privileges && strstr (privileges, "INSERT") != NULL;
}

/* Grants the identity sequence of each table a role inserts into to that role, for
 * lastval(). */
static gboolean
append_sequence_grants (GembaDb *db, const RoleNames *names, GString *sql, GError **error)
{
  g_autoptr(GembaDbStmt) stmt = gemba_db_prepare (db,
    "SELECT pg_get_serial_sequence(?1, 'id') FROM pg_catalog.pg_attribute"
    " WHERE attrelid = ?1::regclass AND attname = 'id' AND NOT attisdropped", error);
  GembaDbStep step;

  if (!stmt)
    return FALSE;
  for (guint i = 0; i < G_N_ELEMENTS (table_rights); i++)
    {
      const TableRights *t = &table_rights[i];
      const char *role = has_insert (t->annotator) ? names->quoted[GEMBA_ROLE_ANNOTATOR]
                         : has_insert (t->engineer) ? names->quoted[GEMBA_ROLE_ENGINEER]
                                                    : NULL;
      if (!role)
        continue;
      gemba_db_reset (stmt);
      gemba_db_bind_text (stmt, 1, t->table);
      if ((step = gemba_db_step (stmt, error)) == GEMBA_DB_STEP_ERROR)
        return FALSE;
      /* Quoted and qualified by the server; none for a table without an id column. */
      if (step == GEMBA_DB_STEP_ROW && gemba_db_column_type (stmt, 0) != GEMBA_DB_NULL)
        g_string_append_printf (sql, "GRANT USAGE, SELECT ON SEQUENCE %s TO %s;",
                                gemba_db_column_text (stmt, 0), role);
    }
  return TRUE;
}

/* Grants what each role may do, in the caller's transaction; with @create, first creates the
 * roles and makes the current user an owner. Without the roles (and not @create), nothing. */
static gboolean
grant (GembaDb *db, gboolean create, GError **error)
{
  g_auto(RoleNames) names = { 0 };
  g_autoptr(GString) sql = g_string_new (NULL);
  gboolean exists[4] = { FALSE };
  int own_db;

  if (!role_names_get (db, &names, error) || !roles_exist (db, &names, exists, error) ||
      !check_rights_listed (db, error))
    return FALSE;
  if (!create && !(exists[1] && exists[2] && exists[3]))
    return TRUE;

  for (GembaRole r = GEMBA_ROLE_ANNOTATOR; r <= GEMBA_ROLE_OWNER; r++)
    if (!exists[r])
      g_string_append_printf (sql, "CREATE ROLE %s NOLOGIN;", names.quoted[r]);
  if (create)
    g_string_append_printf (sql,
                            "GRANT %1$s TO %2$s; GRANT %2$s TO %3$s;"
                            /* Owners give the roles: the owner group administers the other
                             * two, each owner the owner role itself. */
                            "GRANT %1$s, %2$s TO %3$s WITH ADMIN OPTION;"
                            "GRANT %3$s TO CURRENT_USER WITH ADMIN OPTION;",
                            names.quoted[1], names.quoted[2], names.quoted[3]);
  if (sql->len && !gemba_db_exec (db, sql->str, error))
    return FALSE;
  g_string_truncate (sql, 0);

  /* Only members reach the database, when it is this project's (or the caller may say). */
  {
    g_autoptr(GembaDbStmt) stmt = gemba_db_prepare (db,
      "SELECT pg_has_role(d.datdba, 'USAGE') FROM pg_catalog.pg_database d"
      " WHERE d.datname = current_database()", error);
    if (!stmt || gemba_db_step (stmt, error) != GEMBA_DB_STEP_ROW)
      return FALSE;
    own_db = gemba_db_column_int (stmt, 0);
  }
  {
    g_autofree char *database = quote_ident (names.database);
    g_autofree char *schema = quote_ident (names.schema);
    if (own_db)
      g_string_append_printf (sql, "REVOKE CONNECT, TEMPORARY ON DATABASE %s FROM PUBLIC;"
                                   "GRANT CONNECT ON DATABASE %s TO %s;",
                              database, database, names.quoted[1]);
    /* The owner role owns the tables, so it must be able to create in their schema. */
    g_string_append_printf (sql, "GRANT USAGE ON SCHEMA %s TO %s;"
                                 "GRANT CREATE ON SCHEMA %s TO %s;",
                            schema, names.quoted[1], schema, names.quoted[3]);
  }
  for (guint i = 0; i < G_N_ELEMENTS (table_rights); i++)
    {
      const TableRights *t = &table_rights[i];
      g_string_append_printf (sql, "ALTER TABLE %1$s OWNER TO %2$s;"
                                   "REVOKE ALL ON %1$s FROM PUBLIC, %3$s, %4$s;",
                              t->table, names.quoted[3], names.quoted[1], names.quoted[2]);
      if (t->annotator)
        g_string_append_printf (sql, "GRANT %s ON %s TO %s;", t->annotator, t->table,
                                names.quoted[1]);
      if (t->engineer)
        g_string_append_printf (sql, "GRANT %s ON %s TO %s;", t->engineer, t->table,
                                names.quoted[2]);
    }
  g_string_append (sql, "ALTER FUNCTION gemba_test_split_locked() OWNER TO ");
  g_string_append (sql, names.quoted[3]);
  g_string_append_c (sql, ';');
  g_string_append_printf (sql, settings_policies, names.quoted[1], names.quoted[2]);
  g_string_append (sql, split_rights);
  g_string_append_printf (sql, "ALTER FUNCTION gemba_split_rights() OWNER TO %1$s;"
                               "ALTER FUNCTION gemba_audit_author() OWNER TO %1$s;",
                          names.quoted[3]);
  if (!append_sequence_grants (db, &names, sql, error))
    return FALSE;
  return gemba_db_exec (db, sql->str, error);
}

gboolean
_gemba_store_server_grant (GembaDb *db, gboolean create, GError **error)
{
  g_autoptr(GError) local = NULL;

  if (grant (db, create, &local))
    return TRUE;
  if (local->domain == GEMBA_ERROR && local->code == GEMBA_ERROR_REFUSED)
    {
      g_autoptr(GembaDbStmt) stmt = gemba_db_prepare (db, "SELECT current_user::text", NULL);
      const char *user = stmt && gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW
                         ? gemba_db_column_text (stmt, 0) : "?";
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_REFUSED,
                   _("setting up the team roles needs a server user that may create roles "
                     "(CREATEROLE, or a superuser) and owns the project's database, or is "
                     "already an owner of the project; “%s” may not (%s). Nothing was "
                     "changed."), user, local->message);
      return FALSE;
    }
  g_propagate_error (error, g_steal_pointer (&local));
  return FALSE;
}

/* --- The user's role ------------------------------------------------------------------ */

static GembaRole
query_role (GembaStore *self)
{
  g_autoptr(GembaStmt) stmt = NULL;
  GembaRole role = GEMBA_ROLE_NONE;

  /* What the server grants, whatever the group roles: the tables' owner (or a superuser) is
   * an owner; who may add models an engineer; who may add labels an annotator. */
  stmt = gemba_db_prepare (self->conn,
    "SELECT current_user::text, CASE"
    " WHEN pg_has_role(c.relowner, 'USAGE') THEN 3"
    " WHEN has_table_privilege('models', 'INSERT') THEN 2"
    " WHEN has_table_privilege('labels', 'INSERT') THEN 1 ELSE 0 END"
    " FROM pg_catalog.pg_class c WHERE c.oid = 'classes'::regclass", NULL);
  if (stmt && gemba_db_step (stmt, NULL) == GEMBA_DB_STEP_ROW)
    {
      if (!self->server_user)
        self->server_user = g_strdup (gemba_db_column_text (stmt, 0));
      role = (GembaRole) gemba_db_column_int (stmt, 1);
    }
  return role;
}

GembaRole
gemba_store_get_role (GembaStore *self)
{
  GembaRole role;

  g_return_val_if_fail (GEMBA_IS_STORE (self), GEMBA_ROLE_NONE);

  if (!_gemba_store_is_server (self))
    return GEMBA_ROLE_OWNER;
  _gemba_store_lock (self);
  if (self->role < 0)
    self->role = query_role (self);
  role = self->role;
  _gemba_store_unlock (self);
  return role;
}

const char *
gemba_store_get_server_user (GembaStore *self)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  if (!_gemba_store_is_server (self))
    return NULL;
  gemba_store_get_role (self);
  return self->server_user;
}

static void
set_role_error (GembaStore *self, GembaRole needed, GembaRole role, const char *action,
                const char *server_said, GError **error)
{
  g_autoptr(GString) message = g_string_new (NULL);

  /* TRANSLATORS: "PROJECT: promote needs the engineer role in this team project; the server
   * user “alice” is an annotator." The role names are the CLI's words. */
  g_string_printf (message, _("%s: %s needs the %s role in this team project; the server user "
                              "“%s” is %s."), self->path, action, gemba_role_to_string (needed),
                   self->server_user ? self->server_user : "?", role_phrase (role));
  g_string_append (message, " ");
  g_string_append_printf (message, _("An owner can grant it: gemba team add %s %s --role %s"),
                          self->path, self->server_user ? self->server_user : "USER",
                          gemba_role_to_string (needed));
  if (server_said)
    {
      g_string_append (message, " ");
      g_string_append_printf (message, _("(The server refused: %s.) Nothing was changed."),
                              server_said);
    }
  g_set_error_literal (error, GEMBA_ERROR, GEMBA_ERROR_REFUSED, message->str);
}

gboolean
gemba_store_require_role (GembaStore *self, GembaRole role, const char *action,
                          GError **error)
{
  GembaRole have;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  if (!_gemba_store_is_server (self))
    return TRUE;
  _gemba_store_lock (self);
  /* A role granted since the last answer counts at once. */
  if (self->role >= 0 && (GembaRole) self->role < role)
    self->role = -1;
  have = gemba_store_get_role (self);
  if (have < role)
    set_role_error (self, role, have, action, NULL, error);
  _gemba_store_unlock (self);
  return have >= role;
}

void
_gemba_store_explain_refusal (GembaStore *self, GembaRole needed, const char *action,
                              GError **error)
{
  g_autofree char *said = NULL;

  if (!error || !*error || !_gemba_store_is_server (self) ||
      !g_error_matches (*error, GEMBA_ERROR, GEMBA_ERROR_REFUSED) ||
      gemba_db_errcode (self->conn) != GEMBA_ERROR_REFUSED ||
      !strstr ((*error)->message, gemba_db_errmsg (self->conn)))
    return;
  said = g_strdup (gemba_db_errmsg (self->conn));
  /* libpq's "ERROR:  permission denied for table classes" */
  if (g_str_has_prefix (said, "ERROR:"))
    {
      char *text = g_strdup (g_strchug (said + strlen ("ERROR:")));
      g_free (said);
      said = text;
    }
  _gemba_store_lock (self);
  self->role = query_role (self);
  _gemba_store_unlock (self);
  g_clear_error (error);
  set_role_error (self, needed, self->role, action, said, error);
}

char *
gemba_store_dup_role_name (GembaStore *self, GembaRole role)
{
  g_auto(RoleNames) names = { 0 };
  char *name = NULL;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);
  g_return_val_if_fail (role > GEMBA_ROLE_NONE && role <= GEMBA_ROLE_OWNER, NULL);

  if (!_gemba_store_is_server (self))
    return NULL;
  _gemba_store_lock (self);
  if (role_names_get (self->conn, &names, NULL))
    name = g_strdup (names.names[role]);
  _gemba_store_unlock (self);
  return name;
}

/* --- Managing the team ---------------------------------------------------------------- */

static gboolean
require_server (GembaStore *self, GError **error)
{
  if (_gemba_store_is_server (self))
    return TRUE;
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_UNSUPPORTED,
               _("%s: this project is a SQLite file, whose roles are its folder's permissions; "
                 "team roles are for team projects on a server (gemba migrate --to "
                 "postgresql://…)"), self->path);
  return FALSE;
}

gboolean
gemba_store_team_create_roles (GembaStore *self, GError **error)
{
  gboolean ok = FALSE;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  if (!require_server (self, error))
    return FALSE;
  _gemba_store_lock (self);
  if (_gemba_store_begin (self, error))
    {
      if (_gemba_store_server_grant (self->conn, TRUE, error) &&
          gemba_store_audit (self, "team-roles", NULL, NULL, error) &&
          _gemba_store_commit (self, error))
        ok = TRUE;
      else
        _gemba_store_rollback (self);
    }
  self->role = -1;
  _gemba_store_unlock (self);
  return ok;
}

gboolean
gemba_store_team_has_roles (GembaStore *self, gboolean *has, GError **error)
{
  g_auto(RoleNames) names = { 0 };
  gboolean exists[4] = { FALSE };
  gboolean ok;

  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  *has = FALSE;
  if (!_gemba_store_is_server (self))
    return TRUE;
  _gemba_store_lock (self);
  ok = role_names_get (self->conn, &names, error) &&
       roles_exist (self->conn, &names, exists, error);
  _gemba_store_unlock (self);
  *has = ok && exists[1] && exists[2] && exists[3];
  return ok;
}

/* The roles' names, with an error when the project has none yet. */
static gboolean
team_names (GembaStore *self, RoleNames *names, GError **error)
{
  gboolean exists[4] = { FALSE };

  if (!require_server (self, error) || !role_names_get (self->conn, names, error) ||
      !roles_exist (self->conn, names, exists, error))
    return FALSE;
  if (!(exists[1] && exists[2] && exists[3]))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                   _("%s: this team project has no roles on its server yet (it was made "
                     "before Gemba had them); its creator or a superuser can add them with "
                     "“gemba team %s roles --create”"), self->path, self->path);
      return FALSE;
    }
  return TRUE;
}

static int
compare_members (gconstpointer a, gconstpointer b)
{
  const GembaTeamMember *x = *(GembaTeamMember * const *) a, *y = *(GembaTeamMember * const *) b;

  return strcmp (x->user, y->user);
}

/* Each login role's highest role of this project, direct or through another role. */
static GPtrArray *
list_members (GembaStore *self, const RoleNames *names, GError **error)
{
  g_autoptr(GPtrArray) members =
    g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_team_member_free);
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GembaStmt) stmt = NULL;
  GembaDbStep step;

  stmt = _gemba_store_prepare (self,
    "SELECT m.rolname::text, r.rolname::text FROM pg_catalog.pg_auth_members a"
    " JOIN pg_catalog.pg_roles r ON r.oid = a.roleid"
    " JOIN pg_catalog.pg_roles m ON m.oid = a.member"
    " WHERE r.rolname IN (?1, ?2, ?3) AND m.rolname NOT IN (?1, ?2, ?3)", error);
  if (!stmt)
    return NULL;
  for (GembaRole r = GEMBA_ROLE_ANNOTATOR; r <= GEMBA_ROLE_OWNER; r++)
    gemba_db_bind_text (stmt, r, names->names[r]);
  while ((step = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    {
      const char *user = gemba_db_column_text (stmt, 0);
      const char *group = gemba_db_column_text (stmt, 1);
      GembaTeamMember *member = g_hash_table_lookup (seen, user);
      GembaRole role = GEMBA_ROLE_NONE;

      for (GembaRole r = GEMBA_ROLE_ANNOTATOR; r <= GEMBA_ROLE_OWNER; r++)
        if (g_str_equal (group, names->names[r]))
          role = r;
      if (!member)
        {
          member = g_new0 (GembaTeamMember, 1);
          member->user = g_strdup (user);
          g_ptr_array_add (members, member);
          g_hash_table_insert (seen, member->user, member);
        }
      member->role = MAX (member->role, role);
    }
  if (step == GEMBA_DB_STEP_ERROR)
    {
      _gemba_store_fail (self, error, _("could not read the team"));
      return NULL;
    }
  g_ptr_array_sort (members, compare_members);
  return g_steal_pointer (&members);
}

GPtrArray *
gemba_store_team_list (GembaStore *self, GError **error)
{
  g_auto(RoleNames) names = { 0 };
  GPtrArray *members = NULL;

  g_return_val_if_fail (GEMBA_IS_STORE (self), NULL);

  _gemba_store_lock (self);
  if (team_names (self, &names, error))
    members = list_members (self, &names, error);
  _gemba_store_unlock (self);
  return members;
}

/* Runs a GRANT or REVOKE of @role and @user (both quoted in @sql). */
static gboolean
run_membership (GembaStore *self, const char *sql, GError **error)
{
  if (gemba_db_exec (self->conn, sql, NULL))
    return TRUE;
  return _gemba_store_fail (self, error, _("could not change the team"));
}

static gboolean
user_exists (GembaStore *self, const char *user, GError **error)
{
  g_autoptr(GembaStmt) stmt = _gemba_store_prepare (self, "SELECT 1 FROM pg_catalog.pg_roles"
                                                          " WHERE rolname = ?", error);
  GembaDbStep step;

  if (!stmt)
    return FALSE;
  gemba_db_bind_text (stmt, 1, user);
  if ((step = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ERROR)
    return _gemba_store_fail (self, error, _("could not read the team"));
  if (step == GEMBA_DB_STEP_DONE)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                   _("%s: the server has no user “%s”; its administrator creates it (CREATE "
                     "ROLE %s LOGIN PASSWORD …), then an owner gives it a role here"),
                   gemba_db_get_name (self->conn), user, user);
      return FALSE;
    }
  return TRUE;
}

/* Whether @user is a direct member of each role. */
static gboolean
direct_roles (GembaStore *self, const RoleNames *names, const char *user, gboolean member[4],
              GError **error)
{
  g_autoptr(GembaStmt) stmt = _gemba_store_prepare (self,
    "SELECT r.rolname::text FROM pg_catalog.pg_auth_members a"
    " JOIN pg_catalog.pg_roles r ON r.oid = a.roleid"
    " JOIN pg_catalog.pg_roles m ON m.oid = a.member WHERE m.rolname = ?", error);
  GembaDbStep step;

  if (!stmt)
    return FALSE;
  gemba_db_bind_text (stmt, 1, user);
  while ((step = gemba_db_step (stmt, NULL)) == GEMBA_DB_STEP_ROW)
    for (GembaRole r = GEMBA_ROLE_ANNOTATOR; r <= GEMBA_ROLE_OWNER; r++)
      if (g_str_equal (gemba_db_column_text (stmt, 0), names->names[r]))
        member[r] = TRUE;
  if (step == GEMBA_DB_STEP_ERROR)
    return _gemba_store_fail (self, error, _("could not read the team"));
  return TRUE;
}

/* Gives @user @role (GEMBA_ROLE_NONE: takes every role), in one transaction. */
static gboolean
set_membership (GembaStore *self, const char *user, GembaRole role, const char *action,
                GError **error)
{
  g_auto(RoleNames) names = { 0 };
  g_autofree char *quoted = NULL;
  gboolean member[4] = { FALSE };
  gboolean ok = FALSE;

  if (!require_server (self, error) ||
      !gemba_store_require_role (self, GEMBA_ROLE_OWNER, action, error))
    return FALSE;
  if (!user || !*user)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID, _("give the server user's name"));
      return FALSE;
    }
  quoted = quote_ident (user);
  _gemba_store_lock (self);
  if (!team_names (self, &names, error) || !user_exists (self, user, error) ||
      !direct_roles (self, &names, user, member, error))
    goto out;
  if (role == GEMBA_ROLE_NONE && !(member[1] || member[2] || member[3]))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                   _("%s: “%s” has no role in this team project"), self->path, user);
      goto out;
    }
  if (member[GEMBA_ROLE_OWNER] && role != GEMBA_ROLE_OWNER)
    {
      /* A project nobody may manage again but a superuser is a mistake worth stopping. */
      g_autoptr(GPtrArray) members = list_members (self, &names, error);
      guint n_owners = 0;
      if (!members)
        goto out;
      for (guint i = 0; i < members->len; i++)
        n_owners += ((GembaTeamMember *) members->pdata[i])->role == GEMBA_ROLE_OWNER;
      if (n_owners <= 1)
        {
          g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_REFUSED,
                       _("%s: “%s” is the last owner of this team project; make someone else "
                         "an owner first"), self->path, user);
          goto out;
        }
    }
  if (!_gemba_store_begin (self, error))
    goto out;
  for (GembaRole r = GEMBA_ROLE_ANNOTATOR; r <= GEMBA_ROLE_OWNER; r++)
    if (member[r] && r != role)
      {
        g_autofree char *sql = g_strdup_printf ("REVOKE %s FROM %s", names.quoted[r], quoted);
        if (!run_membership (self, sql, error))
          goto fail;
      }
  if (role != GEMBA_ROLE_NONE && !member[role])
    {
      g_autofree char *sql = g_strdup_printf ("GRANT %s TO %s%s", names.quoted[role], quoted,
                                              role == GEMBA_ROLE_OWNER ? " WITH ADMIN OPTION"
                                                                       : "");
      if (!run_membership (self, sql, error))
        goto fail;
    }
  if (!gemba_store_audit (self, role == GEMBA_ROLE_NONE ? "team-remove" : "team-add", user,
                          gemba_role_to_string (role), error) ||
      !_gemba_store_commit (self, error))
    goto fail;
  ok = TRUE;
  goto out;

fail:
  _gemba_store_rollback (self);
  _gemba_store_explain_refusal (self, GEMBA_ROLE_OWNER, action, error);
out:
  /* The user's own role may have changed. */
  self->role = -1;
  _gemba_store_unlock (self);
  return ok;
}

gboolean
gemba_store_team_add (GembaStore *self, const char *user, GembaRole role, GError **error)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);
  g_return_val_if_fail (role > GEMBA_ROLE_NONE && role <= GEMBA_ROLE_OWNER, FALSE);

  return set_membership (self, user, role, _("adding a member"), error);
}

gboolean
gemba_store_team_remove (GembaStore *self, const char *user, GError **error)
{
  g_return_val_if_fail (GEMBA_IS_STORE (self), FALSE);

  return set_membership (self, user, GEMBA_ROLE_NONE, _("removing a member"), error);
}
