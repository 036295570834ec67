/* gemba-cli-team.c: gemba team — who may do what in a team project
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-cli.h"

/* What each role may do, as `gemba team PROJECT roles` and the README say it. */
static const char *
role_rights (GembaRole role)
{
  switch (role)
    {
    case GEMBA_ROLE_ANNOTATOR:
      return _("label, undo and redo; import frames (and a spool's verdicts)");
    case GEMBA_ROLE_ENGINEER:
      return _("also train, assign new frames' splits, promote and export");
    case GEMBA_ROLE_OWNER:
      return _("also change classes and the test split, and manage the team");
    case GEMBA_ROLE_NONE:
    default:
      return "";
    }
}

static JsonNode *
members_json (GembaStore *store, GPtrArray *members)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "you");
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "user");
  json_builder_add_string_value (builder, gemba_store_get_server_user (store));
  json_builder_set_member_name (builder, "role");
  json_builder_add_string_value (builder, gemba_role_to_string (gemba_store_get_role (store)));
  json_builder_end_object (builder);
  json_builder_set_member_name (builder, "members");
  json_builder_begin_array (builder);
  for (guint i = 0; i < members->len; i++)
    {
      GembaTeamMember *member = members->pdata[i];
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "user");
      json_builder_add_string_value (builder, member->user);
      json_builder_set_member_name (builder, "role");
      json_builder_add_string_value (builder, gemba_role_to_string (member->role));
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

static int
team_ls (GembaStore *store, gboolean json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) members = gemba_store_team_list (store, &error);
  int width = 4;

  if (!members)
    return gemba_cli_fail (error);
  if (json)
    {
      g_autoptr(JsonNode) root = members_json (store, members);
      gemba_cli_print_json (root);
      return GEMBA_EXIT_OK;
    }
  for (guint i = 0; i < members->len; i++)
    width = MAX (width, gemba_cli_display_width (((GembaTeamMember *) members->pdata[i])->user));
  {
    g_autoptr(GString) row = g_string_new (NULL);
    gemba_cli_cell (row, -(width + 1), _("USER"));
    g_string_append (row, _("ROLE"));
    g_print ("%s\n", row->str);
  }
  for (guint i = 0; i < members->len; i++)
    {
      GembaTeamMember *member = members->pdata[i];
      g_autoptr(GString) row = g_string_new (NULL);
      gemba_cli_cell (row, -(width + 1), member->user);
      g_string_append (row, gemba_role_to_string (member->role));
      g_print ("%s\n", row->str);
    }
  if (members->len == 0)
    g_print (_("(no members)\n"));
  g_print (_("You are the server user “%s”: %s.\n"), gemba_store_get_server_user (store),
           gemba_role_to_string (gemba_store_get_role (store)));
  return GEMBA_EXIT_OK;
}

static int
team_roles (GembaStore *store, gboolean create)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) members = NULL;

  if (create && !gemba_store_team_create_roles (store, &error))
    return gemba_cli_fail (error);
  /* Fails, saying how to add them, when the project has no roles yet. */
  if (!(members = gemba_store_team_list (store, &error)))
    return gemba_cli_fail (error);
  if (create)
    g_print (_("The roles are in place, and you are an owner.\n"));
  for (GembaRole r = GEMBA_ROLE_ANNOTATOR; r <= GEMBA_ROLE_OWNER; r++)
    {
      g_autofree char *name = gemba_store_dup_role_name (store, r);
      g_autoptr(GString) row = g_string_new (NULL);
      gemba_cli_cell (row, -10, gemba_role_to_string (r));
      gemba_cli_cell (row, -MAX (gemba_cli_display_width (name) + 1, 20), name);
      g_string_append (row, role_rights (r));
      g_print ("%s\n", row->str);
    }
  return GEMBA_EXIT_OK;
}

int
gemba_cli_team (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *role_text = NULL;
  gboolean json = FALSE, create = FALSE;
  const char *action;
  const GOptionEntry entries[] = {
    { "role", 'r', 0, G_OPTION_ARG_STRING, &role_text,
      N_("For “add”: annotator, engineer or owner"), N_("ROLE") },
    { "create", 0, 0, G_OPTION_ARG_NONE, &create,
      N_("For “roles”: create the project’s roles on its server, or repair their grants"),
      NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("For “ls”: print JSON"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries,
                        "PROJECT [ls | add USER --role ROLE | remove USER | roles [--create]]",
                        N_("Who may do what in a team project. An annotator labels and imports; "
                           "an engineer also trains, promotes and exports; an owner also "
                           "changes classes and the test split and manages the team. The "
                           "server enforces the roles. Its administrator creates the login "
                           "(CREATE ROLE … LOGIN PASSWORD …); an owner gives it a role here.")))
    return GEMBA_EXIT_USAGE;
  if (argc < 2)
    return gemba_cli_usage (argv[0], _("give the project folder"));
  action = argc >= 3 ? argv[2] : "ls";
  if (!g_str_equal (action, "ls") && !g_str_equal (action, "add") &&
      !g_str_equal (action, "remove") && !g_str_equal (action, "roles"))
    return gemba_cli_usage (argv[0], _("unknown action “%s”: use ls, add, remove or roles"),
                            action);
  if (g_str_equal (action, "add") || g_str_equal (action, "remove"))
    {
      if (argc != 4)
        return gemba_cli_usage (argv[0], _("“%s” takes one server user"), action);
    }
  else if (argc > 3)
    return gemba_cli_usage (argv[0], _("“%s” takes no more arguments"), action);
  if (g_str_equal (action, "add"))
    {
      GembaRole role;
      if (!role_text)
        return gemba_cli_usage (argv[0], _("“add” needs --role annotator, engineer or owner"));
      if (!gemba_role_from_string (role_text, &role))
        return gemba_cli_usage (argv[0], _("unknown role “%s”: use annotator, engineer or "
                                           "owner"), role_text);
    }
  if (!(store = gemba_cli_open_project (argv[1], &error)))
    return gemba_cli_fail (error);
  if (!gemba_store_get_server (store))
    {
      gemba_cli_error (_("%s: this project is a SQLite file, whose roles are its folder's "
                         "permissions; team roles are for team projects on a server (gemba "
                         "migrate --to postgresql://…)"), argv[1]);
      return GEMBA_EXIT_FAILED;
    }

  if (g_str_equal (action, "ls"))
    return team_ls (store, json);
  if (g_str_equal (action, "roles"))
    return team_roles (store, create);
  if (g_str_equal (action, "add"))
    {
      GembaRole role = GEMBA_ROLE_NONE;
      gemba_role_from_string (role_text, &role);
      if (!gemba_store_team_add (store, argv[3], role, &error))
        return gemba_cli_fail (error);
      if (role == GEMBA_ROLE_ANNOTATOR)
        g_print (_("“%s” is now an annotator of %s.\n"), argv[3], gemba_store_get_path (store));
      else if (role == GEMBA_ROLE_ENGINEER)
        g_print (_("“%s” is now an engineer of %s.\n"), argv[3], gemba_store_get_path (store));
      else
        g_print (_("“%s” is now an owner of %s.\n"), argv[3], gemba_store_get_path (store));
      return GEMBA_EXIT_OK;
    }
  if (!gemba_store_team_remove (store, argv[3], &error))
    return gemba_cli_fail (error);
  g_print (_("“%s” has no role in %s any more.\n"), argv[3], gemba_store_get_path (store));
  return GEMBA_EXIT_OK;
}
