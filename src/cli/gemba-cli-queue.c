/* gemba-cli-queue.c: gemba queue — frames of the review queue held by each annotator
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#define G_LOG_DOMAIN "gemba"

#include "config.h"

#include <glib/gi18n.h>

#include "gemba-cli.h"

/* What claim and release hold the leases as: --holder, else the author on this host, the
 * same in every run, so that a release finds what a claim took. */
static char *
holder_name (GembaStore *store, const char *holder)
{
  if (holder)
    return g_strdup (holder);
  return g_strdup_printf ("%s@%s", gemba_store_get_author (store), g_get_host_name ());
}

static char *
seconds_left (gint64 expires_at)
{
  gint64 left = expires_at - g_get_real_time ();

  return g_strdup_printf ("%" G_GINT64_FORMAT, MAX (0, (left + G_USEC_PER_SEC / 2) /
                                                       G_USEC_PER_SEC));
}

static JsonNode *
lease_to_json (GembaStore *store, const GembaFrame *frame, const GembaLease *lease)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autofree char *path = gemba_store_dup_frame_path (store, frame);
  g_autofree char *claimed = gemba_cli_format_iso8601 (lease->claimed_at);
  g_autofree char *expires = gemba_cli_format_iso8601 (lease->expires_at);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "id");
  json_builder_add_string_value (builder, frame->sha256);
  json_builder_set_member_name (builder, "path");
  json_builder_add_string_value (builder, path);
  json_builder_set_member_name (builder, "holder");
  json_builder_add_string_value (builder, lease->holder);
  json_builder_set_member_name (builder, "claimed");
  json_builder_add_string_value (builder, claimed);
  json_builder_set_member_name (builder, "expires");
  json_builder_add_string_value (builder, expires);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/* The live lease on @frame_id in @leases, or NULL. */
static GembaLease *
find_lease (GPtrArray *leases, gint64 frame_id)
{
  for (guint i = 0; i < leases->len; i++)
    if (((GembaLease *) leases->pdata[i])->frame_id == frame_id)
      return leases->pdata[i];
  return NULL;
}

static int
queue_claim (GembaStore *store, int n, gboolean json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) queue = NULL;
  g_autoptr(GArray) claimed = NULL;
  g_autoptr(GPtrArray) leases = NULL;

  if (!(queue = gemba_store_list_review_queue (store, &error)) ||
      !(claimed = gemba_store_claim_frames (store, queue, (guint) n, &error)) ||
      !(leases = gemba_store_list_leases (store, &error)))
    return gemba_cli_fail (error);
  if (claimed->len == 0)
    {
      if (!json)
        g_print (_("No frame of the review queue is free (%u in it, %u held).\n"), queue->len,
                 leases->len);
      return GEMBA_EXIT_OK;
    }
  for (guint i = 0; i < claimed->len; i++)
    {
      gint64 id = g_array_index (claimed, gint64, i);
      g_autoptr(GembaFrame) frame = gemba_store_get_frame (store, id, &error);
      GembaLease *lease = find_lease (leases, id);

      if (!frame)
        return gemba_cli_fail (error);
      if (json && lease)
        {
          g_autoptr(JsonNode) node = lease_to_json (store, frame, lease);
          gemba_cli_print_json (node);
        }
      else if (!json)
        {
          g_autofree char *path = gemba_store_dup_frame_path (store, frame);
          g_print ("%.12s  %s\n", frame->sha256, path);
        }
    }
  if (!json)
    {
      g_autofree char *until = gemba_cli_format_time (g_get_real_time () +
                                                      gemba_store_get_lease_timeout (store));
      g_print (g_dngettext (GETTEXT_PACKAGE, "%u frame held by %s until %s: label it with "
                            "“gemba label”, or give it back with “gemba queue … release”.\n",
                            "%u frames held by %s until %s: label them with “gemba label”, "
                            "or give them back with “gemba queue … release”.\n", claimed->len),
               claimed->len, gemba_store_get_lease_holder (store), until);
    }
  return GEMBA_EXIT_OK;
}

static int
queue_release (GembaStore *store, char **frames, gboolean all)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) leases = NULL;
  const char *holder = gemba_store_get_lease_holder (store);
  int status = GEMBA_EXIT_OK;
  guint n = 0;

  if (!(leases = gemba_store_list_leases (store, &error)))
    return gemba_cli_fail (error);
  if (all)
    {
      for (guint i = 0; i < leases->len; i++)
        n += g_str_equal (((GembaLease *) leases->pdata[i])->holder, holder);
      if (!gemba_store_release_leases (store, &error))
        return gemba_cli_fail (error);
      g_print (g_dngettext (GETTEXT_PACKAGE, "%u frame given back by %s.\n",
                            "%u frames given back by %s.\n", n), n, holder);
      return GEMBA_EXIT_OK;
    }
  for (guint i = 0; frames[i]; i++)
    {
      g_autoptr(GembaFrame) frame = gemba_store_find_frame (store, frames[i], &error);
      GembaLease *lease;

      if (!frame)
        {
          gemba_cli_error ("%s", error->message);
          g_clear_error (&error);
          status = GEMBA_EXIT_FAILED;
          continue;
        }
      lease = find_lease (leases, frame->id);
      if (!lease || !g_str_equal (lease->holder, holder))
        {
          if (lease)
            gemba_cli_error (_("frame %.12s is held by %s, not by %s: only its holder gives it "
                               "back (or labels it)"), frame->sha256, lease->holder, holder);
          else
            gemba_cli_error (_("frame %.12s is not held by anyone"), frame->sha256);
          status = GEMBA_EXIT_FAILED;
          continue;
        }
      if (!gemba_store_release_frame (store, frame->id, &error))
        return gemba_cli_fail (error);
      g_print (_("%.12s: given back\n"), frame->sha256);
    }
  return status;
}

static int
queue_ls (GembaStore *store, gboolean json)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) leases = gemba_store_list_leases (store, &error);
  int width = 6;

  if (!leases)
    return gemba_cli_fail (error);
  for (guint i = 0; i < leases->len; i++)
    width = MAX (width, gemba_cli_display_width (((GembaLease *) leases->pdata[i])->holder));
  if (!json)
    {
      g_autoptr(GString) row = g_string_new (NULL);
      gemba_cli_cell (row, -13, _("Frame"));
      gemba_cli_cell (row, -(width + 1), _("Holder"));
      g_print ("%s%s\n", row->str, _("Seconds left"));
    }
  for (guint i = 0; i < leases->len; i++)
    {
      GembaLease *lease = leases->pdata[i];
      g_autoptr(GembaFrame) frame = gemba_store_get_frame (store, lease->frame_id, &error);

      if (!frame)
        return gemba_cli_fail (error);
      if (json)
        {
          g_autoptr(JsonNode) node = lease_to_json (store, frame, lease);
          gemba_cli_print_json (node);
        }
      else
        {
          g_autoptr(GString) row = g_string_new (NULL);
          g_autofree char *id = g_strndup (frame->sha256, 12);
          g_autofree char *left = seconds_left (lease->expires_at);
          gemba_cli_cell (row, -13, id);
          gemba_cli_cell (row, -(width + 1), lease->holder);
          g_print ("%s%s\n", row->str, left);
        }
    }
  if (!json && leases->len == 0)
    g_print (_("(no frame is held)\n"));
  return GEMBA_EXIT_OK;
}

int
gemba_cli_queue (int argc, char **argv)
{
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *holder = NULL;
  g_autofree char *name = NULL;
  gboolean json = FALSE, all = FALSE;
  double lease_seconds = 0;
  int n = 10;
  const char *action;
  const GOptionEntry entries[] = {
    { "number", 'n', 0, G_OPTION_ARG_INT, &n, N_("For “claim”: at most N frames (default 10)"),
      N_("N") },
    { "holder", 0, 0, G_OPTION_ARG_STRING, &holder,
      N_("Who holds the frames (default: the author on this computer, AUTHOR@HOST)"),
      N_("NAME") },
    { "lease-seconds", 0, 0, G_OPTION_ARG_DOUBLE, &lease_seconds,
      N_("For “claim”: hold them S seconds (default 120)"), N_("S") },
    { "all", 0, 0, G_OPTION_ARG_NONE, &all, N_("For “release”: every frame the holder holds"),
      NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &json, N_("For “claim” and “ls”: one JSON object per frame"),
      NULL },
    { NULL }
  };

  if (!gemba_cli_parse (&argc, &argv, entries,
                        "PROJECT [ls | claim [-n N] | release FRAME…|--all]",
                        N_("Share the review queue between annotators. “claim” takes the next "
                           "frames of the review queue that are unlabeled and that nobody else "
                           "holds, and holds them for a while (a lease, renewed by claiming "
                           "again); labeling a frame or “release” gives it back, and so does "
                           "the end of its lease. “ls” lists who holds which frame and for how "
                           "many more seconds.")))
    return GEMBA_EXIT_USAGE;
  if (argc < 2)
    return gemba_cli_usage (argv[0], _("give the project folder"));
  action = argc >= 3 ? argv[2] : "ls";
  if (!g_str_equal (action, "ls") && !g_str_equal (action, "claim") &&
      !g_str_equal (action, "release"))
    return gemba_cli_usage (argv[0], _("unknown action “%s”: use ls, claim or release"), action);
  if (g_str_equal (action, "release"))
    {
      if (all && argc > 3)
        return gemba_cli_usage (argv[0], _("give frames or --all, not both"));
      if (!all && argc < 4)
        return gemba_cli_usage (argv[0], _("“release” takes frames (unique id prefixes) or --all"));
    }
  else if (argc > 3)
    return gemba_cli_usage (argv[0], _("“%s” takes no more arguments"), action);
  if (n < 1)
    return gemba_cli_usage (argv[0], _("-n must be at least 1"));
  if (lease_seconds < 0 || lease_seconds > 7 * 24 * 3600)
    return gemba_cli_usage (argv[0], _("--lease-seconds must be between 0 and a week"));

  if (!(store = gemba_cli_open_project (argv[1], &error)))
    return gemba_cli_fail (error);
  name = holder_name (store, holder);
  gemba_store_set_lease_holder (store, name);
  if (lease_seconds > 0)
    gemba_store_set_lease_timeout (store, MAX (1, (gint64) (lease_seconds * G_USEC_PER_SEC)));

  if (g_str_equal (action, "claim"))
    return queue_claim (store, n, json);
  if (g_str_equal (action, "release"))
    return queue_release (store, argv + 3, all);
  return queue_ls (store, json);
}
