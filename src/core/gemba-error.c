#define G_LOG_DOMAIN "gemba-error"

#include "config.h"

#include "gemba-error.h"

#include <glib/gi18n-lib.h>
#include <inttypes.h>

G_DEFINE_QUARK (gemba-error-quark, gemba_error)

void
gemba_set_disk_full_error (GError **error, const char *folder, gint64 n_stored)
{
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NO_SPACE,
               g_dngettext (GETTEXT_PACKAGE,
                            "the disk holding %s is full; stopped after %" PRId64 " frame, "
                            "nothing lost (free some space and import again: frames already "
                            "in the project are skipped)",
                            "the disk holding %s is full; stopped after %" PRId64 " frames, "
                            "nothing lost (free some space and import again: frames already "
                            "in the project are skipped)", n_stored),
               folder, n_stored);
}
