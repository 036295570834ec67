/* gemba-types.h: forward declarations shared by the core library
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _GembaStore GembaStore;
typedef struct _GembaFrame GembaFrame;
typedef struct _GembaClass GembaClass;
typedef struct _GembaLabel GembaLabel;
typedef struct _GembaSource GembaSource;
typedef struct _GembaImage GembaImage;

/* Public functions of libgemba; hidden otherwise. */
#define GEMBA_API __attribute__ ((visibility ("default")))

G_END_DECLS
