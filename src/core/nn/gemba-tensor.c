#define G_LOG_DOMAIN "gemba-nn"

#include "config.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>

#include "gemba-tensor.h"

struct _GembaPool {
  int n_threads;
  pthread_t *threads;
  pthread_mutex_t lock;
  pthread_cond_t start_cond;
  pthread_cond_t done_cond;
  guint generation;
  gboolean quit;
  /* the current job */
  GembaPoolFunc fn;
  gpointer ctx;
  int n_tasks;
  gboolean dynamic;
  /* dynamic runs: generation << 32 | next task to take; tasks finished. The caller waits for
   * the tasks, not for the workers: a worker the system has not scheduled yet holds no one. */
  guint64 claim;
  int done;
  int running;     /* static runs: workers still working */
  float **scratch;
  gsize scratch_floats;
};

typedef struct {
  GembaPool *pool;
  int index;
} Worker;

float *
gemba_floats_new (gsize n)
{
  void *p = NULL;
  gsize bytes = MAX (n, 1) * sizeof (float);

  bytes = (bytes + 63) & ~(gsize) 63;
  if (posix_memalign (&p, 64, bytes) != 0)
    g_error ("out of memory allocating %" G_GSIZE_FORMAT " bytes", bytes);
  memset (p, 0, bytes);
  return p;
}

void
gemba_floats_free (float *p)
{
  free (p);
}

GembaTensor *
gemba_tensor_new (int n, int h, int w, int c)
{
  GembaTensor *t;

  g_return_val_if_fail (n > 0 && h > 0 && w > 0 && c > 0, NULL);

  t = g_new0 (GembaTensor, 1);
  t->n = n;
  t->h = h;
  t->w = w;
  t->c = c;
  t->data = gemba_floats_new ((gsize) n * h * w * c);
  return t;
}

void
gemba_tensor_free (GembaTensor *t)
{
  if (t == NULL)
    return;
  gemba_floats_free (t->data);
  g_free (t);
}

gsize
gemba_tensor_size (const GembaTensor *t)
{
  return (gsize) t->n * t->h * t->w * t->c;
}

GembaTensor *
gemba_tensor_copy (const GembaTensor *t)
{
  GembaTensor *copy = g_new0 (GembaTensor, 1);

  *copy = *t;
  copy->data = gemba_floats_new (gemba_tensor_size (t));
  memcpy (copy->data, t->data, gemba_tensor_size (t) * sizeof (float));
  return copy;
}

static guint64
splitmix64 (guint64 *x)
{
  guint64 z = (*x += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void
gemba_rng_init (GembaRng *rng, guint64 seed)
{
  guint64 x = seed;

  rng->s[0] = splitmix64 (&x);
  rng->s[1] = splitmix64 (&x);
  if (rng->s[0] == 0 && rng->s[1] == 0)
    rng->s[1] = 1;
}

static inline guint64
rotl (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

guint64
gemba_rng_next (GembaRng *rng)
{
  /* xoroshiro128** */
  guint64 s0 = rng->s[0];
  guint64 s1 = rng->s[1];
  guint64 result = rotl (s0 * 5, 7) * 9;

  s1 ^= s0;
  rng->s[0] = rotl (s0, 24) ^ s1 ^ (s1 << 16);
  rng->s[1] = rotl (s1, 37);
  return result;
}

float
gemba_rng_uniform (GembaRng *rng)
{
  return (float) (gemba_rng_next (rng) >> 40) * (1.0f / 16777216.0f);
}

float
gemba_rng_normal (GembaRng *rng)
{
  double u1 = ((gemba_rng_next (rng) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
  double u2 = (gemba_rng_next (rng) >> 11) * (1.0 / 9007199254740992.0);

  return (float) (sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2));
}

/* Box–Muller on a run of draws, as gemba_rng_normal() computes it, with log() and cos() as
 * polynomials the compiler vectorises (libm's are one value at a time, and the noise of the
 * augmentation draws one normal per input value). Both keep double precision, so the float
 * that comes out is gemba_rng_normal()'s but for a double rounding that falls on the other
 * side of a float's (test-train checks a million of them).
 *
 * log(u), u in (0, 1): u = 2^e m with m in [√½, √2), log m = 2 atanh s with s = (m - 1)/(m + 1),
 * |s| < 0.172: the series to s^21 leaves less than 1e-17. cos(2π u2), u2 in [0, 1): reduced
 * exactly to a quarter turn b in [0, 1/8], where the Taylor series of sin or cos to the 17th
 * power leaves less than 1e-17. In place: -2 log u1 into @u1, cos(2π u2) into @u2. */
#define NORMALS_RUN 64

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize ("O3")
#endif
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
__attribute__ ((target_clones ("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void
box_muller (double *u1, double *u2, int n)
{
  const double ln2_hi = 6.93147180369123816490e-01;   /* fdlibm's split: e * ln2_hi is exact */
  const double ln2_lo = 1.90821492927058770002e-10;
  const double two_pi = 2.0 * G_PI;

  for (int i = 0; i < n; i++)
    {
      guint64 bits, ebits;
      double m, e, s, z, p, logu, t, x, x2, c, sn;

      /* log(u1); the exponent turned into a double through 2^52's mantissa, which vectorises
       * where an integer conversion would not */
      memcpy (&bits, &u1[i], sizeof bits);
      ebits = (bits >> 52) | 0x4330000000000000ULL;
      memcpy (&e, &ebits, sizeof e);
      e -= 4503599627370496.0 + 1023.0;
      bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
      memcpy (&m, &bits, sizeof m);
      e += m > G_SQRT2 ? 1.0 : 0.0;
      m = m > G_SQRT2 ? 0.5 * m : m;
      s = (m - 1.0) / (m + 1.0);
      z = s * s;
      p = 1.0 / 21;
      p = p * z + 1.0 / 19;
      p = p * z + 1.0 / 17;
      p = p * z + 1.0 / 15;
      p = p * z + 1.0 / 13;
      p = p * z + 1.0 / 11;
      p = p * z + 1.0 / 9;
      p = p * z + 1.0 / 7;
      p = p * z + 1.0 / 5;
      p = p * z + 1.0 / 3;
      logu = e * ln2_hi + (e * ln2_lo + (2.0 * s + 2.0 * s * z * p));

      /* cos(2π u2) = -cos(2π t), t = |u2 - ½| in [0, ½]; then ±cos(2π t') with t' in [0, ¼]
       * and cos(2π t') = sin(2π (¼ - t')) beyond ⅛. Every subtraction is exact. */
      t = fabs (u2[i] - 0.5);
      sn = t > 0.25 ? 1.0 : -1.0;
      t = t > 0.25 ? 0.5 - t : t;
      x = two_pi * (t > 0.125 ? 0.25 - t : t);
      x2 = x * x;
      c = 1.0 / 20922789888000.0;                       /* 1/16! */
      c = c * x2 - 1.0 / 87178291200.0;
      c = c * x2 + 1.0 / 479001600.0;
      c = c * x2 - 1.0 / 3628800.0;
      c = c * x2 + 1.0 / 40320.0;
      c = c * x2 - 1.0 / 720.0;
      c = c * x2 + 1.0 / 24.0;
      c = c * x2 - 0.5;
      c = c * x2 + 1.0;
      p = 1.0 / 355687428096000.0;                      /* 1/17! */
      p = p * x2 - 1.0 / 1307674368000.0;
      p = p * x2 + 1.0 / 6227020800.0;
      p = p * x2 - 1.0 / 39916800.0;
      p = p * x2 + 1.0 / 362880.0;
      p = p * x2 - 1.0 / 5040.0;
      p = p * x2 + 1.0 / 120.0;
      p = p * x2 - 1.0 / 6.0;
      p = x + x * x2 * p;
      u1[i] = -2.0 * logu;
      u2[i] = sn * (t > 0.125 ? p : c);
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

void
gemba_rng_normals (GembaRng *rng, float *out, gsize n)
{
  double u1[NORMALS_RUN], u2[NORMALS_RUN];

  while (n > 0)
    {
      int m = (int) MIN (n, NORMALS_RUN);

      /* drawn in gemba_rng_normal()'s order */
      for (int i = 0; i < m; i++)
        {
          u1[i] = ((gemba_rng_next (rng) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
          u2[i] = (gemba_rng_next (rng) >> 11) * (1.0 / 9007199254740992.0);
        }
      box_muller (u1, u2, m);
      /* sqrt() on its own: with errno to set, it would keep the loop above from vectorising */
      for (int i = 0; i < m; i++)
        out[i] = (float) (sqrt (u1[i]) * u2[i]);
      out += m;
      n -= m;
    }
}

guint32
gemba_rng_below (GembaRng *rng, guint32 n)
{
  return (guint32) (((gemba_rng_next (rng) >> 32) * (guint64) n) >> 32);
}

guint64
gemba_rng_mix (guint64 a, guint64 b)
{
  guint64 x = a ^ (b * 0x9e3779b97f4a7c15ULL);

  return splitmix64 (&x);
}

void
gemba_blas_single_thread (void)
{
  openblas_set_num_threads (1);
}

typedef struct {
  GembaPoolFunc fn;
  gpointer ctx;
  int n_tasks;
  gboolean dynamic;
  guint generation;
} Job;

/* Takes @job's tasks while it is still the current job: tagged with the generation, a claim
 * made late, once the caller has moved on, fails. */
static void
run_dynamic (GembaPool *pool, const Job *job, int thread)
{
  guint64 v = __atomic_load_n (&pool->claim, __ATOMIC_ACQUIRE);

  for (;;)
    {
      int task = (int) (guint32) v;

      if ((guint32) (v >> 32) != job->generation || task >= job->n_tasks)
        return;
      if (!__atomic_compare_exchange_n (&pool->claim, &v, v + 1, TRUE, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
        continue;
      job->fn (job->ctx, task, thread);
      if (__atomic_add_fetch (&pool->done, 1, __ATOMIC_ACQ_REL) == job->n_tasks && thread > 0)
        {
          pthread_mutex_lock (&pool->lock);
          pthread_cond_signal (&pool->done_cond);
          pthread_mutex_unlock (&pool->lock);
        }
      v = __atomic_load_n (&pool->claim, __ATOMIC_ACQUIRE);
    }
}

static void
run_tasks (GembaPool *pool, const Job *job, int thread)
{
  if (job->dynamic)
    {
      /* first come, first served: a worker that the system delays does not hold the others */
      run_dynamic (pool, job, thread);
      return;
    }
  /* static assignment (task % n_threads): per-thread partial sums are then reduced in the
   * same order on every run, which keeps training reproducible */
  for (int task = thread; task < job->n_tasks; task += pool->n_threads)
    job->fn (job->ctx, task, thread);
}

/* Layers follow each other within microseconds: a worker spins this long before sleeping, so
 * that the next job does not wait for the scheduler to wake it. */
#define POOL_SPIN 2000

static inline void
cpu_relax (void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause ();
#endif
}

static void *
worker_main (void *data)
{
  Worker *worker = data;
  GembaPool *pool = worker->pool;
  guint seen = 0;
  Job job;

  for (;;)
    {
      for (int spin = 0; spin < POOL_SPIN; spin++)
        {
          if (__atomic_load_n (&pool->generation, __ATOMIC_ACQUIRE) != seen
              || __atomic_load_n (&pool->quit, __ATOMIC_ACQUIRE))
            break;
          cpu_relax ();
        }

      pthread_mutex_lock (&pool->lock);
      while (!__atomic_load_n (&pool->quit, __ATOMIC_ACQUIRE)
             && __atomic_load_n (&pool->generation, __ATOMIC_ACQUIRE) == seen)
        pthread_cond_wait (&pool->start_cond, &pool->lock);
      if (__atomic_load_n (&pool->quit, __ATOMIC_ACQUIRE))
        {
          pthread_mutex_unlock (&pool->lock);
          break;
        }
      seen = __atomic_load_n (&pool->generation, __ATOMIC_ACQUIRE);
      /* the job as published with this generation (the caller writes it under the lock) */
      job.fn = pool->fn;
      job.ctx = pool->ctx;
      job.n_tasks = pool->n_tasks;
      job.dynamic = pool->dynamic;
      job.generation = seen;
      pthread_mutex_unlock (&pool->lock);

      run_tasks (pool, &job, worker->index);
      if (job.dynamic)
        continue;

      pthread_mutex_lock (&pool->lock);
      if (__atomic_sub_fetch (&pool->running, 1, __ATOMIC_ACQ_REL) == 0)
        pthread_cond_signal (&pool->done_cond);
      pthread_mutex_unlock (&pool->lock);
    }

  g_free (worker);
  return NULL;
}

GembaPool *
gemba_pool_new (int n_threads)
{
  GembaPool *pool = g_new0 (GembaPool, 1);

  if (n_threads <= 0)
    n_threads = (int) g_get_num_processors ();
  pool->n_threads = CLAMP (n_threads, 1, 256);
  pthread_mutex_init (&pool->lock, NULL);
  pthread_cond_init (&pool->start_cond, NULL);
  pthread_cond_init (&pool->done_cond, NULL);
  pool->threads = g_new0 (pthread_t, pool->n_threads);
  pool->scratch = g_new0 (float *, pool->n_threads);
  gemba_blas_single_thread ();

  for (int i = 1; i < pool->n_threads; i++)
    {
      Worker *worker = g_new0 (Worker, 1);

      worker->pool = pool;
      worker->index = i;
      if (pthread_create (&pool->threads[i], NULL, worker_main, worker) != 0)
        g_error ("cannot start a worker thread");
    }
  return pool;
}

void
gemba_pool_free (GembaPool *pool)
{
  if (pool == NULL)
    return;

  pthread_mutex_lock (&pool->lock);
  __atomic_store_n (&pool->quit, TRUE, __ATOMIC_RELEASE);
  pthread_cond_broadcast (&pool->start_cond);
  pthread_mutex_unlock (&pool->lock);
  for (int i = 1; i < pool->n_threads; i++)
    pthread_join (pool->threads[i], NULL);

  for (int i = 0; i < pool->n_threads; i++)
    gemba_floats_free (pool->scratch[i]);
  g_free (pool->scratch);
  g_free (pool->threads);
  pthread_mutex_destroy (&pool->lock);
  pthread_cond_destroy (&pool->start_cond);
  pthread_cond_destroy (&pool->done_cond);
  g_free (pool);
}

int
gemba_pool_get_n_threads (GembaPool *pool)
{
  return pool->n_threads;
}

static void
pool_run (GembaPool *pool, int n_tasks, GembaPoolFunc fn, gpointer ctx, gboolean dynamic)
{
  Job job;

  if (n_tasks <= 0)
    return;

  if (pool->n_threads == 1 || n_tasks == 1)
    {
      for (int i = 0; i < n_tasks; i++)
        fn (ctx, i, 0);
      return;
    }

  pthread_mutex_lock (&pool->lock);
  pool->fn = fn;
  pool->ctx = ctx;
  pool->n_tasks = n_tasks;
  pool->dynamic = dynamic;
  job.fn = fn;
  job.ctx = ctx;
  job.n_tasks = n_tasks;
  job.dynamic = dynamic;
  job.generation = pool->generation + 1;
  __atomic_store_n (&pool->done, 0, __ATOMIC_RELAXED);
  __atomic_store_n (&pool->claim, (guint64) job.generation << 32, __ATOMIC_RELEASE);
  __atomic_store_n (&pool->running, dynamic ? 0 : pool->n_threads - 1, __ATOMIC_RELEASE);
  /* publishes the job to spinning workers (release) and sleeping ones (broadcast) */
  __atomic_store_n (&pool->generation, job.generation, __ATOMIC_RELEASE);
  pthread_cond_broadcast (&pool->start_cond);
  pthread_mutex_unlock (&pool->lock);

  run_tasks (pool, &job, 0);

  if (dynamic)
    {
      for (int spin = 0; spin < POOL_SPIN; spin++)
        {
          if (__atomic_load_n (&pool->done, __ATOMIC_ACQUIRE) == n_tasks)
            return;
          cpu_relax ();
        }
      pthread_mutex_lock (&pool->lock);
      while (__atomic_load_n (&pool->done, __ATOMIC_ACQUIRE) < n_tasks)
        pthread_cond_wait (&pool->done_cond, &pool->lock);
      pthread_mutex_unlock (&pool->lock);
      return;
    }
  for (int spin = 0; spin < POOL_SPIN; spin++)
    {
      if (__atomic_load_n (&pool->running, __ATOMIC_ACQUIRE) == 0)
        break;
      cpu_relax ();
    }
  pthread_mutex_lock (&pool->lock);
  while (__atomic_load_n (&pool->running, __ATOMIC_ACQUIRE) > 0)
    pthread_cond_wait (&pool->done_cond, &pool->lock);
  pthread_mutex_unlock (&pool->lock);
}

void
gemba_pool_run (GembaPool *pool, int n_tasks, GembaPoolFunc fn, gpointer ctx)
{
  pool_run (pool, n_tasks, fn, ctx, FALSE);
}

void
gemba_pool_run_dynamic (GembaPool *pool, int n_tasks, GembaPoolFunc fn, gpointer ctx)
{
  pool_run (pool, n_tasks, fn, ctx, TRUE);
}

void
gemba_pool_reserve (GembaPool *pool, gsize n_floats)
{
  if (n_floats <= pool->scratch_floats)
    return;
  for (int i = 0; i < pool->n_threads; i++)
    {
      gemba_floats_free (pool->scratch[i]);
      pool->scratch[i] = gemba_floats_new (n_floats);
    }
  pool->scratch_floats = n_floats;
}

float *
gemba_pool_scratch (GembaPool *pool, int thread)
{
  return pool->scratch[thread];
}
