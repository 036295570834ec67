/* gemba-tensor.h: NHWC float tensors, a reproducible random generator and the worker pool
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include "gemba-types.h"

G_BEGIN_DECLS

/**
 * GembaTensor:
 * @n: images
 * @h: rows
 * @w: columns
 * @c: channels (innermost: data[((i * h + y) * w + x) * c + ch])
 * @data: 64-byte aligned floats
 *
 * A batch of feature maps in NHWC order. A vector is a tensor with h = w = 1.
 */
typedef struct {
  int n, h, w, c;
  float *data;
} GembaTensor;

/* A zero-filled tensor. */
GEMBA_API GembaTensor *gemba_tensor_new (int n, int h, int w, int c);
GEMBA_API void gemba_tensor_free (GembaTensor *t);
/* Number of floats (n * h * w * c). */
GEMBA_API gsize gemba_tensor_size (const GembaTensor *t);
GEMBA_API GembaTensor *gemba_tensor_copy (const GembaTensor *t);

/* 64-byte aligned, zeroed float buffers (free with gemba_floats_free). */
GEMBA_API float *gemba_floats_new (gsize n);
GEMBA_API void gemba_floats_free (float *p);

/**
 * GembaRng:
 *
 * A small, fast generator (xoshiro128+-style, splitmix-seeded) whose sequence depends only on
 * the seed, so that a training run is reproducible on every machine.
 */
typedef struct {
  guint64 s[2];
} GembaRng;

GEMBA_API void gemba_rng_init (GembaRng *rng, guint64 seed);
GEMBA_API guint64 gemba_rng_next (GembaRng *rng);
/* Uniform in [0, 1). */
GEMBA_API float gemba_rng_uniform (GembaRng *rng);
/* Standard normal (Box-Muller). */
GEMBA_API float gemba_rng_normal (GembaRng *rng);
/* @n draws of gemba_rng_normal(), the same floats but for a rare last bit, faster. */
GEMBA_API void gemba_rng_normals (GembaRng *rng, float *out, gsize n);
/* Uniform integer in [0, n). */
GEMBA_API guint32 gemba_rng_below (GembaRng *rng, guint32 n);
/* Mixes two values into a seed (for per-step, per-image streams). */
GEMBA_API guint64 gemba_rng_mix (guint64 a, guint64 b);

/**
 * GembaPool:
 *
 * A fixed set of worker threads (the caller is worker 0). Each worker has its own scratch
 * buffer. OpenBLAS is used single-threaded inside the workers.
 */
typedef struct _GembaPool GembaPool;

/* Runs fn (ctx, task, thread) for every task in [0, n_tasks), spread over the workers, and
 * returns when all are done. */
typedef void (*GembaPoolFunc) (gpointer ctx, int task, int thread);

GEMBA_API GembaPool *gemba_pool_new (int n_threads);
GEMBA_API void gemba_pool_free (GembaPool *pool);
GEMBA_API int gemba_pool_get_n_threads (GembaPool *pool);
/* Tasks go to threads in a fixed pattern (task % n_threads), for functions that accumulate
 * per-thread partial results (reduced in thread order: reproducible). */
GEMBA_API void gemba_pool_run (GembaPool *pool, int n_tasks, GembaPoolFunc fn, gpointer ctx);
/* Tasks go to whichever thread is free first: for functions whose results do not depend on
 * the thread that computes them (faster when the system delays a worker). */
GEMBA_API void gemba_pool_run_dynamic (GembaPool *pool, int n_tasks, GembaPoolFunc fn,
                                       gpointer ctx);
/* Makes sure every worker's scratch holds at least n floats. */
GEMBA_API void gemba_pool_reserve (GembaPool *pool, gsize n_floats);
GEMBA_API float *gemba_pool_scratch (GembaPool *pool, int thread);
/* Sets OpenBLAS to one thread (the pool provides the parallelism). */
GEMBA_API void gemba_blas_single_thread (void);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaTensor, gemba_tensor_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaPool, gemba_pool_free)

G_END_DECLS
