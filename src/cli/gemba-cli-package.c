/* gemba-cli-package.c: keygen, verify, show
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba-cli"

#include "config.h"

#include <inttypes.h>
#include <glib/gi18n.h>
#include <stdio.h>

#include "gemba-cli.h"
#include "gemba-export.h"

/* Loads every --trust path; a line with no trusted key cannot accept any package. */
static GembaTrust *
load_trust (char **paths, GError **error)
{
  g_autoptr(GembaTrust) trust = gemba_trust_new ();

  for (guint i = 0; paths && paths[i]; i++)
    if (!gemba_trust_add_path (trust, paths[i], error))
      return NULL;
  return g_steal_pointer (&trust);
}

/* --- keygen ---------------------------------------------------------------------------- */

int
gemba_cli_keygen (int argc, char **argv)
{
  g_autofree char *out = NULL;
  g_autofree char *id = NULL;
  g_autofree char *secret = NULL;
  g_autofree char *public = NULL;
  g_autoptr(GError) error = NULL;
  gboolean json = FALSE;
  const GOptionEntry entries[] = {
    { "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
      N_("The folder for the key pair (default: ~/.config/gemba/keys)"), N_("DIR") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print the result as JSON"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "",
                        N_("Create an ed25519 key pair for signing packages.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 1)
    return gemba_cli_usage (argv[0], _("keygen takes no arguments; use --out DIR"));
  if (out == NULL)
    out = g_build_filename (g_get_user_config_dir (), "gemba", "keys", NULL);

  if (!(id = gemba_keys_generate (out, &error)))
    return gemba_cli_fail (error);
  secret = g_build_filename (out, "secret", NULL);
  public = g_build_filename (out, "public", NULL);
  if (json)
    {
      g_autoptr(JsonBuilder) builder = json_builder_new ();
      g_autoptr(JsonNode) root = NULL;
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "key_id");
      json_builder_add_string_value (builder, id);
      json_builder_set_member_name (builder, "secret");
      json_builder_add_string_value (builder, secret);
      json_builder_set_member_name (builder, "public");
      json_builder_add_string_value (builder, public);
      json_builder_end_object (builder);
      root = json_builder_get_root (builder);
      gemba_cli_print_json (root);
    }
  else
    g_print (_("Created key pair %s:\n"
               "  %s  secret: signs packages (gemba export --key); keep it private\n"
               "  %s  public: give it to the production lines (gemba verify --trust)\n"),
             id, secret, public);
  return GEMBA_EXIT_OK;
}

/* --- verify ---------------------------------------------------------------------------- */

static const char *
model_field (GembaPackage *pkg, const char *key)
{
  JsonObject *model = json_object_get_object_member (gemba_package_get_manifest (pkg), "model");
  JsonNode *node = json_object_get_member (model, key);

  return node && JSON_NODE_HOLDS_VALUE (node) ? json_node_get_string (node) : NULL;
}

int
gemba_cli_verify (int argc, char **argv)
{
  g_auto(GStrv) trust_paths = NULL;
  g_autoptr(GembaTrust) trust = NULL;
  g_autoptr(GError) error = NULL;
  gboolean json = FALSE;
  int status = GEMBA_EXIT_OK;
  const GOptionEntry entries[] = {
    { "trust", 't', 0, G_OPTION_ARG_FILENAME_ARRAY, &trust_paths,
      N_("A trusted public key file, or a folder of them (repeatable; required)"),
      N_("PATH") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("One JSON object per package"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PACKAGE…",
                        N_("Check packages: structure, the signature against the trusted keys, "
                           "and every member’s hash.")))
    return GEMBA_EXIT_USAGE;
  if (argc < 2)
    return gemba_cli_usage (argv[0], _("give the package files to verify"));
  if (trust_paths == NULL)
    return gemba_cli_usage (argv[0], _("give the trusted public keys with --trust PATH "
                                       "(a package is only ever verified against keys you "
                                       "trust)"));
  if (!(trust = load_trust (trust_paths, &error)))
    return gemba_cli_fail (error);

  for (int i = 1; i < argc; i++)
    {
      g_autoptr(GembaPackage) pkg = NULL;
      g_autoptr(GError) local_error = NULL;

      pkg = gemba_package_load (argv[i], trust, &local_error);
      if (json)
        {
          g_autoptr(JsonBuilder) builder = json_builder_new ();
          g_autoptr(JsonNode) root = NULL;
          json_builder_begin_object (builder);
          json_builder_set_member_name (builder, "package");
          json_builder_add_string_value (builder, argv[i]);
          json_builder_set_member_name (builder, "ok");
          json_builder_add_boolean_value (builder, pkg != NULL);
          if (pkg)
            {
              json_builder_set_member_name (builder, "key_id");
              json_builder_add_string_value (builder, gemba_package_get_key_id (pkg));
              json_builder_set_member_name (builder, "model");
              json_builder_add_string_value (builder, model_field (pkg, "name"));
              json_builder_set_member_name (builder, "version");
              json_builder_add_string_value (builder, model_field (pkg, "version"));
            }
          else
            {
              json_builder_set_member_name (builder, "error");
              json_builder_add_string_value (builder, local_error->message);
            }
          json_builder_end_object (builder);
          root = json_builder_get_root (builder);
          gemba_cli_print_json (root);
        }
      else if (pkg)
        g_print (_("%s: OK: %s %s, signed by trusted key %s; every member matches the "
                   "manifest\n"), argv[i], model_field (pkg, "name"),
                 model_field (pkg, "version"), gemba_package_get_key_id (pkg));
      if (pkg == NULL)
        {
          if (!json)
            gemba_cli_error ("%s", local_error->message);
          status = GEMBA_EXIT_FAILED;
        }
    }
  return status;
}

/* --- show ------------------------------------------------------------------------------ */

static void
print_value (GString *out, JsonNode *node)
{
  switch (JSON_NODE_TYPE (node))
    {
    case JSON_NODE_NULL:
      g_string_append (out, "—");
      break;
    case JSON_NODE_VALUE:
      if (json_node_get_value_type (node) == G_TYPE_DOUBLE)
        g_string_append_printf (out, "%.6g", json_node_get_double (node));
      else if (json_node_get_value_type (node) == G_TYPE_INT64)
        g_string_append_printf (out, "%" PRId64, json_node_get_int (node));
      else if (json_node_get_value_type (node) == G_TYPE_BOOLEAN)
        g_string_append (out, json_node_get_boolean (node) ? _("yes") : _("no"));
      else
        g_string_append (out, json_node_get_string (node));
      break;
    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        for (guint i = 0; i < json_array_get_length (array); i++)
          {
            JsonNode *element = json_array_get_element (array, i);
            if (i)
              g_string_append (out, ", ");
            if (JSON_NODE_HOLDS_VALUE (element) || JSON_NODE_HOLDS_NULL (element))
              print_value (out, element);
            else
              {
                g_autofree char *text = json_to_string (element, FALSE);
                g_string_append (out, text);
              }
          }
      }
      break;
    case JSON_NODE_OBJECT:
      {
        g_autofree char *text = json_to_string (node, FALSE);
        g_string_append (out, text);
      }
      break;
    }
}

/* Objects as indented "key: value" lines, the way a person reads them. */
static void
print_object (GString *out, JsonObject *object, int indent)
{
  /* json_object_get_members() keeps the manifest's order; iterators do not. */
  g_autoptr(GList) keys = json_object_get_members (object);

  for (GList *l = keys; l; l = l->next)
    {
      const char *key = l->data;
      JsonNode *node = json_object_get_member (object, key);

      g_string_append_printf (out, "%*s%s:", indent, "", key);
      if (JSON_NODE_HOLDS_OBJECT (node))
        {
          g_string_append_c (out, '\n');
          print_object (out, json_node_get_object (node), indent + 2);
        }
      else if (JSON_NODE_HOLDS_ARRAY (node) && json_array_get_length (json_node_get_array (node))
               && !JSON_NODE_HOLDS_VALUE (json_array_get_element (json_node_get_array (node), 0)))
        {
          /* Rows (per-class metrics, a confusion matrix, gate failures): one per line. */
          JsonArray *rows = json_node_get_array (node);
          g_string_append_c (out, '\n');
          for (guint i = 0; i < json_array_get_length (rows); i++)
            {
              JsonNode *row = json_array_get_element (rows, i);
              g_string_append_printf (out, "%*s- ", indent + 2, "");
              if (JSON_NODE_HOLDS_OBJECT (row))
                {
                  g_autoptr(GList) names = json_object_get_members (json_node_get_object (row));
                  for (GList *m = names; m; m = m->next)
                    {
                      g_string_append_printf (out, "%s%s: ", m == names ? "" : ", ",
                                              (char *) m->data);
                      print_value (out, json_object_get_member (json_node_get_object (row),
                                                                m->data));
                    }
                }
              else
                print_value (out, row);
              g_string_append_c (out, '\n');
            }
        }
      else
        {
          g_string_append_c (out, ' ');
          print_value (out, node);
          g_string_append_c (out, '\n');
        }
    }
}

int
gemba_cli_show (int argc, char **argv)
{
  g_auto(GStrv) trust_paths = NULL;
  g_autoptr(GembaTrust) trust = NULL;
  g_autoptr(GembaPackage) pkg = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) out = g_string_new (NULL);
  g_autofree char *classes = NULL;
  gboolean json = FALSE;
  gboolean no_card = FALSE;
  JsonObject *manifest;
  JsonObject *model;
  const char *sections[] = { "input", "architecture", "dataset", "metrics", "training", "gate",
                             "members" };
  const GOptionEntry entries[] = {
    { "trust", 't', 0, G_OPTION_ARG_FILENAME_ARRAY, &trust_paths,
      N_("Also verify the signature against this public key file or folder (repeatable)"),
      N_("PATH") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("Print the manifest as JSON"), NULL },
    { "no-card", 0, 0, G_OPTION_ARG_NONE, &no_card, N_("Leave out the model card"), NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PACKAGE",
                        N_("Show a package’s manifest and model card.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 2)
    return gemba_cli_usage (argv[0], _("give one package file"));
  if (trust_paths && !(trust = load_trust (trust_paths, &error)))
    return gemba_cli_fail (error);

  /* Structure, manifest and hashes are always checked; the signature only against a trust. */
  if (!(pkg = gemba_package_open (argv[1], trust, NULL, &error)))
    return gemba_cli_fail (error);
  manifest = gemba_package_get_manifest (pkg);

  if (json)
    {
      g_autoptr(JsonNode) root = json_node_init_object (json_node_alloc (), manifest);
      gemba_cli_print_json (root);
      return GEMBA_EXIT_OK;
    }

  model = json_object_get_object_member (manifest, "model");
  g_string_append_printf (out, _("Package:   %s\n"), argv[1]);
  g_string_append_printf (out, _("Model:     %s %s"), model_field (pkg, "name"),
                          model_field (pkg, "version"));
  {
    const char *parent = model_field (pkg, "parent");
    if (parent && *parent)
      g_string_append_printf (out, _(" (fine-tuned from %s)"), parent);
  }
  g_string_append_c (out, '\n');
  classes = g_strjoinv (", ", (char **) gemba_package_get_classes (pkg));
  g_string_append_printf (out, _("Classes:   %s\n"), classes);
  g_string_append_printf (out, _("Trained:   by %s, %s\n"),
                          json_object_get_string_member (model, "trained_by"),
                          json_object_get_string_member (model, "created"));
  g_string_append_printf (out, _("Exported:  by %s, %s, with Gemba %s (package format %"
                                 PRId64 ")\n"),
                          json_object_get_string_member (model, "exported_by"),
                          json_object_get_string_member (model, "exported"),
                          json_object_get_string_member (manifest, "gemba_version"),
                          json_object_get_int_member (manifest, "format_version"));
  if (gemba_package_is_verified (pkg))
    g_string_append_printf (out, _("Signature: verified, trusted key %s\n"),
                            gemba_package_get_key_id (pkg));
  else
    g_string_append_printf (out, _("Signature: key %s, NOT verified (give --trust, or run "
                                   "gemba verify)\n"), gemba_package_get_key_id (pkg));
  {
    JsonNode *thresholds = json_object_get_member (manifest, "thresholds");
    g_string_append (out, _("Thresholds: "));
    print_value (out, thresholds);
    g_string_append_c (out, '\n');
  }
  for (guint i = 0; i < G_N_ELEMENTS (sections); i++)
    {
      JsonNode *node = json_object_get_member (manifest, sections[i]);
      if (node == NULL)
        continue;
      g_string_append_printf (out, "\n%s:\n", sections[i]);
      if (JSON_NODE_HOLDS_OBJECT (node))
        print_object (out, json_node_get_object (node), 2);
      else
        {
          g_string_append (out, "  ");
          print_value (out, node);
          g_string_append_c (out, '\n');
        }
    }
  if (!no_card)
    g_string_append_printf (out, "\n──── MODEL_CARD.md ────\n%s", gemba_package_get_model_card (pkg));
  fputs (out->str, stdout);
  if (out->len && out->str[out->len - 1] != '\n')
    fputc ('\n', stdout);
  return GEMBA_EXIT_OK;
}

/* --- export ---------------------------------------------------------------------------- */

/* `gemba export --check`: the gate alone. Exit 0 when it passes, 1 when it refuses. */
static int
check_gate (const char *project, const char *model_spec, int threads)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaModelRecord) record = NULL;
  g_autoptr(GembaGateResult) gate = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) failures = NULL;

  if (!(store = gemba_cli_open_project (project, &error)) ||
      !(record = gemba_store_find_model (store, model_spec, &error)) ||
      !gemba_package_check_gate (store, record->id, threads, &failures, &gate, &error))
    return gemba_cli_fail (error);
  if (!gate)
    {
      g_print (_("%s: nothing to compare with (no other model is production).\n"),
               record->name);
      return GEMBA_EXIT_OK;
    }
  {
    g_autofree char *text = gemba_gate_result_describe (gate);
    g_print (_("%s against production, frame by frame on the locked test split:\n%s"),
             record->name, text);
  }
  if (failures[0] == NULL)
    {
      g_print (_("The gate passes.\n"));
      return GEMBA_EXIT_OK;
    }
  g_print (_("The gate refuses:\n"));
  for (guint i = 0; failures[i]; i++)
    g_print ("  - %s\n", failures[i]);
  return GEMBA_EXIT_FAILED;
}

int
gemba_cli_export (int argc, char **argv)
{
  g_autofree char *out = NULL;
  g_autofree char *key_path = NULL;
  g_autofree char *name = NULL;
  g_autofree char *version = NULL;
  g_autofree char *reason = NULL;
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GembaModelRecord) record = NULL;
  g_autoptr(GembaSecretKey) key = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GembaGateResult) gate = NULL;
  gboolean force = FALSE, check = FALSE;
  int threads = 0;
  GembaExportOptions options = { 0 };
  const GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, N_("The package file to write"),
      N_("FILE") },
    { "key", 'k', 0, G_OPTION_ARG_FILENAME, &key_path,
      N_("The secret key that signs the package (default: the one gemba keygen made, "
         "~/.config/gemba/keys/secret)"), N_("FILE") },
    { "check", 0, 0, G_OPTION_ARG_NONE, &check,
      N_("Only run the regression gate and print what it finds; write nothing"), NULL },
    { "name", 0, 0, G_OPTION_ARG_STRING, &name,
      N_("The model’s name in the package (default: the project’s)"), N_("NAME") },
    { "version", 0, 0, G_OPTION_ARG_STRING, &version,
      N_("The model’s version in the package (default: its number)"), N_("VERSION") },
    { "force", 0, 0, G_OPTION_ARG_NONE, &force,
      N_("Export even if the regression gate refuses (needs --reason)"), NULL },
    { "reason", 0, 0, G_OPTION_ARG_STRING, &reason,
      N_("Why the export is forced (audit trail, manifest, model card)"), N_("TEXT") },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, N_("Threads (default: all cores)"),
      N_("N") },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PROJECT MODEL",
                        N_("Export a model version as a signed package (.gemba), if it is no "
                           "worse than production on the locked test split.")))
    return GEMBA_EXIT_USAGE;
  if (argc != 3)
    return gemba_cli_usage (argv[0], _("give the project and the model (a number, "
                                       "“production” or “latest”)"));
  if (check)
    return check_gate (argv[1], argv[2], threads);
  if (out == NULL)
    return gemba_cli_usage (argv[0], _("give the package file with -o FILE"));
  if (reason && !force)
    return gemba_cli_usage (argv[0], _("--reason goes with --force"));
  if (key_path == NULL)
    {
      key_path = g_build_filename (g_get_user_config_dir (), "gemba", "keys", "secret", NULL);
      if (!g_file_test (key_path, G_FILE_TEST_EXISTS))
        {
          gemba_cli_error (_("%s: no signing key; create one with “gemba keygen” or give "
                             "--key FILE"), key_path);
          return GEMBA_EXIT_FAILED;
        }
    }
  if (!(key = gemba_secret_key_load (key_path, &error)) ||
      !(store = gemba_cli_open_project (argv[1], &error)) ||
      !(record = gemba_store_find_model (store, argv[2], &error)))
    return gemba_cli_fail (error);

  options.name = name;
  options.version = version;
  options.key = key;
  options.force = force;
  options.reason = reason;
  options.n_threads = threads;
  options.gate_result = &gate;
  if (!gemba_package_export (store, record->id, out, &options, &error))
    return gemba_cli_fail (error);
  g_print (_("Wrote %s: model %" PRId64 ", signed with key %s%s.\n"), out, record->id,
           gemba_secret_key_get_id (key), force ? _(", forced past the regression gate") : "");
  if (gate)
    {
      g_autofree char *text = gemba_gate_result_describe (gate);
      g_print (_("\nAgainst production, frame by frame on the locked test split:\n%s"), text);
    }
  return GEMBA_EXIT_OK;
}

/* --- infer ----------------------------------------------------------------------------- */

/* --trust, else $GEMBA_TRUST (paths separated by ':'), else ~/.config/gemba/trusted-keys. */
static GembaTrust *
default_trust (char **paths, GError **error)
{
  g_auto(GStrv) from_env = NULL;
  g_autofree char *dir = NULL;

  if (paths)
    return load_trust (paths, error);
  if (g_getenv ("GEMBA_TRUST"))
    {
      from_env = g_strsplit (g_getenv ("GEMBA_TRUST"), ":", -1);
      return load_trust (from_env, error);
    }
  dir = g_build_filename (g_get_user_config_dir (), "gemba", "trusted-keys", NULL);
  if (g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      char *one[] = { dir, NULL };
      return load_trust (one, error);
    }
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY,
               _("no trusted keys: give --trust PATH, set GEMBA_TRUST, or put the public keys "
                 "in %s"), dir);
  return NULL;
}

int
gemba_cli_infer (int argc, char **argv)
{
  g_auto(GStrv) trust_paths = NULL;
  g_autoptr(GembaTrust) trust = NULL;
  g_autoptr(GembaPackage) package = NULL;
  g_autoptr(GembaModel) model = NULL;
  g_autoptr(GembaClassifier) classifier = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree int *verdicts = NULL;
  g_autofree float *probs = NULL;
  g_autofree GError **errors = NULL;
  gboolean json = FALSE;
  int threads = 0;
  int status = GEMBA_EXIT_OK;
  int n_classes;
  guint n;
  const GOptionEntry entries[] = {
    { "trust", 't', 0, G_OPTION_ARG_FILENAME_ARRAY, &trust_paths,
      N_("A trusted public key file or folder (repeatable; default: $GEMBA_TRUST, else "
         "~/.config/gemba/trusted-keys)"), N_("PATH") },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("One JSON object per frame"), NULL },
    { "threads", 0, 0, G_OPTION_ARG_INT, &threads, N_("Threads (default: all cores)"),
      N_("N") },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries, "PACKAGE FRAME…",
                        N_("Classify image files with a verified package: verdict and "
                           "probabilities per frame.")))
    return GEMBA_EXIT_USAGE;
  if (argc < 3)
    return gemba_cli_usage (argv[0], _("give the package and the image files"));
  if (!(trust = default_trust (trust_paths, &error)) ||
      !(package = gemba_package_load (argv[1], trust, &error)) ||
      !(model = gemba_package_get_model (package, &error)) ||
      !(classifier = gemba_classifier_new_from_model (model, threads, &error)))
    return gemba_cli_fail (error);

  n = argc - 2;
  n_classes = gemba_classifier_get_n_classes (classifier);
  verdicts = g_new0 (int, n);
  probs = g_new0 (float, (gsize) n * n_classes);
  errors = g_new0 (GError *, n);
  gemba_classifier_classify_files (classifier, (const char * const *) argv + 2, n, verdicts,
                                   probs, errors);
  for (guint i = 0; i < n; i++)
    {
      const char *path = argv[2 + i];
      const float *p = probs + (gsize) i * n_classes;

      if (json)
        {
          g_autoptr(JsonBuilder) b = json_builder_new ();
          g_autoptr(JsonNode) root = NULL;
          json_builder_begin_object (b);
          json_builder_set_member_name (b, "file");
          json_builder_add_string_value (b, path);
          if (errors[i])
            {
              json_builder_set_member_name (b, "error");
              json_builder_add_string_value (b, errors[i]->message);
            }
          else
            {
              json_builder_set_member_name (b, "verdict");
              json_builder_add_string_value (b, gemba_classifier_get_class_name (classifier,
                                                                                 verdicts[i]));
              json_builder_set_member_name (b, "confidence");
              json_builder_add_double_value (b, p[verdicts[i]]);
              json_builder_set_member_name (b, "probabilities");
              json_builder_begin_object (b);
              for (int k = 0; k < n_classes; k++)
                {
                  json_builder_set_member_name (b, gemba_classifier_get_class_name (classifier,
                                                                                    k));
                  json_builder_add_double_value (b, p[k]);
                }
              json_builder_end_object (b);
            }
          json_builder_end_object (b);
          root = json_builder_get_root (b);
          gemba_cli_print_json (root);
        }
      else if (errors[i])
        gemba_cli_error ("%s", errors[i]->message);
      else
        {
          g_autoptr(GString) line = g_string_new (NULL);
          g_string_append_printf (line, "%s\t%s\t%.1f %%\t", path,
                                  gemba_classifier_get_class_name (classifier, verdicts[i]),
                                  100 * p[verdicts[i]]);
          for (int k = 0; k < n_classes; k++)
            g_string_append_printf (line, "%s%s %.4f", k ? ", " : "",
                                    gemba_classifier_get_class_name (classifier, k), p[k]);
          g_print ("%s\n", line->str);
        }
      if (errors[i])
        status = GEMBA_EXIT_FAILED;
      g_clear_error (&errors[i]);
    }
  return status;
}
