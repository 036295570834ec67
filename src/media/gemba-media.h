/* gemba-media.h: the public API of libgemba-media (GStreamer capture and video import)
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#define GEMBA_MEDIA_INSIDE
#include "gemba-devices.h"
#include "gemba-frame-source.h"
#include "gemba-sampler.h"
#include "gemba-media-import.h"
#undef GEMBA_MEDIA_INSIDE
