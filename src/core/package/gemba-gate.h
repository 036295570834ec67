/* gemba-gate.h: the regression gate's verdict from paired verdicts
 *
 * The gate compares the candidate and production frame by frame on the locked test split. A
 * frame is *fixed* when production gets it wrong and the candidate right, *broken* when
 * production gets it right and the candidate wrong; a frame both get wrong (or right) is
 * neither. Overall and for each class, the candidate is refused when it is significantly
 * worse: a one-sided exact McNemar test on the fixed and broken frames gives p < alpha
 * (project setting "gate.alpha", default 0.05) and broken minus fixed is at least the minimum
 * effect (setting "gate.min_effect", a fraction of that group's frames, default 0.02). It is
 * also refused when a correction that production gets right is wrong now.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <json-glib/json-glib.h>
#include "gemba-types.h"

G_BEGIN_DECLS

#define GEMBA_GATE_DEFAULT_ALPHA 0.05
#define GEMBA_GATE_DEFAULT_MIN_EFFECT 0.02

/* One group of test frames (all of them, or one class). */
typedef struct {
  char *name;                /* the class, NULL for all frames */
  guint n_frames;
  guint fixed;
  guint broken;
  double p_value;            /* P(at least @broken broken of @fixed + @broken | no difference) */
  gboolean worse;            /* significantly worse: refused */
  GPtrArray *fixed_frames;   /* frame ids (12 hex digits) */
  GPtrArray *broken_frames;
} GembaGateGroup;

typedef struct {
  double alpha;
  double min_effect;
  GembaGateGroup overall;
  GArray *classes;           /* GembaGateGroup, in the candidate's class order */
  guint n_corrections;       /* corrections checked */
  GPtrArray *broken_corrections;  /* "id (label, read as class)" */
} GembaGateResult;

/* One-sided exact McNemar test: the probability of at least @broken of @broken + @fixed
 * discordant frames going against the candidate if both models were equally good. */
GEMBA_API double gemba_gate_mcnemar (guint broken, guint fixed);

/* A gate over @class_names (the candidate's classes, NULL-terminated). */
GEMBA_API GembaGateResult *gemba_gate_result_new (const char * const *class_names, double alpha,
                                                  double min_effect);
GEMBA_API void gemba_gate_result_free (GembaGateResult *result);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaGateResult, gemba_gate_result_free)

/* Adds one test frame of class @klass (index into the class names, -1 for a class the
 * candidate does not know) with whether each model's verdict matches its label. */
GEMBA_API void gemba_gate_add_test_frame (GembaGateResult *result, const char *frame_id,
                                          int klass, gboolean production_right,
                                          gboolean candidate_right);
/* Adds one correction (outside the test split) with both models' correctness; @label and
 * @candidate_said name the classes for the report. */
GEMBA_API void gemba_gate_add_correction (GembaGateResult *result, const char *frame_id,
                                          const char *label, const char *candidate_said,
                                          gboolean production_right, gboolean candidate_right);
/* Computes the tests; call after the last frame. */
GEMBA_API void gemba_gate_result_finish (GembaGateResult *result);
/* TRUE when nothing refuses the candidate. */
GEMBA_API gboolean gemba_gate_result_passed (const GembaGateResult *result);
/* One line per reason to refuse (empty when it passes). NULL-terminated. */
GEMBA_API char **gemba_gate_result_dup_failures (const GembaGateResult *result);
/* Frames fixed and broken overall and per class, one line each, for a person to read. */
GEMBA_API char *gemba_gate_result_describe (const GembaGateResult *result);
/* Adds the result's members to the object @b is building (manifest "gate"). */
GEMBA_API void gemba_gate_result_add_json (const GembaGateResult *result, JsonBuilder *b);

G_END_DECLS
