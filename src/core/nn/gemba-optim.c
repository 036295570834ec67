#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize ("O3")
#endif

#include <math.h>
#include <string.h>

#include "gemba-optim.h"

typedef struct {
  float *data;
  const float *grad;
  gsize n;
  gboolean decay;
  float *m;
  float *v;
} Slot;

struct _GembaOptimizer {
  GembaOptimizerKind kind;
  float momentum;
  float beta1, beta2, eps;
  float weight_decay;
  int t;
  GArray *slots;
};

const char *
gemba_optimizer_kind_to_string (GembaOptimizerKind kind)
{
  return kind == GEMBA_OPTIMIZER_ADAMW ? "adamw" : "sgd";
}

gboolean
gemba_optimizer_kind_from_string (const char *name, GembaOptimizerKind *kind)
{
  if (g_strcmp0 (name, "sgd") == 0)
    *kind = GEMBA_OPTIMIZER_SGD;
  else if (g_strcmp0 (name, "adamw") == 0)
    *kind = GEMBA_OPTIMIZER_ADAMW;
  else
    return FALSE;
  return TRUE;
}

GembaOptimizer *
gemba_optimizer_new (GembaOptimizerKind kind, GembaNet *net, float momentum, float weight_decay)
{
  GembaOptimizer *opt = g_new0 (GembaOptimizer, 1);
  GembaParam *params;
  guint n;

  opt->kind = kind;
  opt->momentum = momentum;
  opt->beta1 = 0.9f;
  opt->beta2 = 0.999f;
  opt->eps = 1e-8f;
  opt->weight_decay = weight_decay;
  opt->slots = g_array_new (FALSE, TRUE, sizeof (Slot));

  params = gemba_net_get_params (net, &n);
  for (guint i = 0; i < n; i++)
    {
      Slot s = { 0 };

      if (params[i].grad == NULL)
        continue;
      s.data = params[i].data;
      s.grad = params[i].grad;
      s.n = params[i].n;
      s.decay = params[i].decay;
      s.m = gemba_floats_new (s.n);
      if (kind == GEMBA_OPTIMIZER_ADAMW)
        s.v = gemba_floats_new (s.n);
      g_array_append_val (opt->slots, s);
    }
  return opt;
}

void
gemba_optimizer_free (GembaOptimizer *opt)
{
  if (opt == NULL)
    return;
  for (guint i = 0; i < opt->slots->len; i++)
    {
      Slot *s = &g_array_index (opt->slots, Slot, i);

      gemba_floats_free (s->m);
      gemba_floats_free (s->v);
    }
  g_array_unref (opt->slots);
  g_free (opt);
}

static void
sgd_update (Slot *s, float lr, float mu, float wd)
{
  float *restrict w = s->data;
  const float *restrict g = s->grad;
  float *restrict v = s->m;

  for (gsize i = 0; i < s->n; i++)
    {
      float d = g[i] + wd * w[i];

      v[i] = mu * v[i] + d;
      w[i] -= lr * v[i];
    }
}

static void
adamw_update (Slot *s, float lr, float wd, float b1, float b2, float eps, float c1, float c2)
{
  float *restrict w = s->data;
  const float *restrict g = s->grad;
  float *restrict m = s->m;
  float *restrict v = s->v;
  float step = lr / c1;
  float rc2 = 1.0f / sqrtf (c2);

  for (gsize i = 0; i < s->n; i++)
    {
      w[i] *= 1.0f - lr * wd;
      m[i] = b1 * m[i] + (1.0f - b1) * g[i];
      v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
      w[i] -= step * m[i] / (sqrtf (v[i]) * rc2 + eps);
    }
}

void
gemba_optimizer_step (GembaOptimizer *opt, float lr)
{
  float c1, c2;

  opt->t++;
  c1 = 1.0f - powf (opt->beta1, (float) opt->t);
  c2 = 1.0f - powf (opt->beta2, (float) opt->t);
  for (guint i = 0; i < opt->slots->len; i++)
    {
      Slot *s = &g_array_index (opt->slots, Slot, i);
      float wd = s->decay ? opt->weight_decay : 0.0f;

      if (opt->kind == GEMBA_OPTIMIZER_SGD)
        sgd_update (s, lr, opt->momentum, wd);
      else
        adamw_update (s, lr, wd, opt->beta1, opt->beta2, opt->eps, c1, c2);
    }
}

float
gemba_lr_schedule (float base_lr, int step, int total, int warmup)
{
  double progress;

  if (step < warmup)
    return base_lr * (float) (step + 1) / (float) warmup;
  if (total <= warmup)
    return base_lr;
  progress = (double) (step - warmup) / (double) (total - warmup);
  return (float) (base_lr * 0.5 * (1.0 + cos (G_PI * MIN (progress, 1.0))));
}
