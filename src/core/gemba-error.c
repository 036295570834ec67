#define G_LOG_DOMAIN "gemba-error"

#include "config.h"

#include "gemba-error.h"

G_DEFINE_QUARK (gemba-error-quark, gemba_error)
