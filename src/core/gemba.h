/* gemba.h: the public API of libgemba, the core of Gemba
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#define GEMBA_INSIDE
#include "gemba-types.h"
#include "gemba-error.h"
#include "gemba-store.h"
#include "gemba-store-models.h"
#include "gemba-store-check.h"
#include "gemba-store-server.h"
#include "gemba-store-watch.h"
#include "gemba-store-team.h"
#include "gemba-image.h"
#include "gemba-demo.h"
#include "gemba-tensor.h"
#include "gemba-layers.h"
#include "gemba-net.h"
#include "gemba-optim.h"
#include "gemba-augment.h"
#include "gemba-metrics.h"
#include "gemba-model.h"
#include "gemba-train.h"
#include "gemba-classifier.h"
#include "gemba-workflow.h"
#include "gemba-keys.h"
#include "gemba-package.h"
#include "gemba-onnx.h"
#include "gemba-drift.h"
#include "gemba-export.h"
#include "gemba-gate.h"
#undef GEMBA_INSIDE
