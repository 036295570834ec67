#define G_LOG_DOMAIN "gemba-demo"

#include "config.h"
#include <glib/gi18n-lib.h>

/* gemba-demo.c: renders the demo data set and stores it as a project
 *
 * The renderer works on signed distance functions: every shape (washer, L-bracket, hole,
 * scratch, dent) is a distance to its edge, which gives anti-aliased edges, bevel lighting,
 * the visible side wall and soft shadows without any blur pass. All randomness comes from one
 * xoshiro256** stream per frame, seeded with splitmix64, so a seed always gives the same frame.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "gemba-demo.h"
#include "gemba-util-private.h"
#include "gemba-error.h"
#include "gemba-image.h"
#include "gemba-store.h"

#define W GEMBA_DEMO_WIDTH
#define H GEMBA_DEMO_HEIGHT

/* Every demo project is made from this seed. */
#define DEMO_SEED G_GUINT64_CONSTANT (0x67656d6261646d6f)
/* Monday 2 March 2026, 06:00 UTC: the start of the morning shift, in µs. */
#define SHIFT_START G_GINT64_CONSTANT (1772431200000000)
#define JPEG_QUALITY 90

/* --- Random numbers ---------------------------------------------------------------------- */

typedef struct {
  guint64 s[4];
} Rng;

static guint64
splitmix64 (guint64 *state)
{
  guint64 z = (*state += G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));

  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static void
rng_init (Rng *rng, guint64 seed)
{
  for (guint i = 0; i < 4; i++)
    rng->s[i] = splitmix64 (&seed);
}

static inline guint64
rotl (guint64 x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static inline guint64
rng_next (Rng *rng)
{
  guint64 *s = rng->s;
  guint64 result = rotl (s[1] * 5, 7) * 9;
  guint64 t = s[1] << 17;

  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl (s[3], 45);
  return result;
}

static double
rng_uniform (Rng *rng)
{
  return (rng_next (rng) >> 11) * 0x1.0p-53;
}

static float
rng_range (Rng *rng, double lo, double hi)
{
  return (float) (lo + (hi - lo) * rng_uniform (rng));
}

static guint
rng_int (Rng *rng, guint n)
{
  return (guint) (rng_uniform (rng) * n);
}

static gboolean
rng_chance (Rng *rng, double p)
{
  return rng_uniform (rng) < p;
}

/* Sensor noise needs ~230,000 samples a frame: the sum of the four 16-bit quarters of one
 * random word is close enough to a Gaussian (Irwin–Hall, n = 4) and far cheaper than
 * Box–Muller. Mean 0, standard deviation 1. */
static inline float
rng_gauss_fast (Rng *rng)
{
  guint64 v = rng_next (rng);
  guint sum = (v & 0xffff) + ((v >> 16) & 0xffff) + ((v >> 32) & 0xffff) + (v >> 48);

  return ((float) sum - 131070.0f) * (1.0f / 37837.2f);
}

/* --- Noise and geometry helpers ---------------------------------------------------------- */

static inline float
hash2 (int x, int y, guint32 seed)
{
  guint32 h = (guint32) x * 0x8da6b343u ^ (guint32) y * 0xd8163841u ^ seed * 0xcb1ab31fu;

  h ^= h >> 13;
  h *= 0x5bd1e995u;
  h ^= h >> 15;
  return (h & 0xffffff) * (1.0f / 16777215.0f);
}

/* Smooth value noise in [0, 1] with features about one unit apart. */
static float
value_noise (float x, float y, guint32 seed)
{
  float fx = floorf (x), fy = floorf (y);
  int ix = (int) fx, iy = (int) fy;
  float tx = x - fx, ty = y - fy;
  float a, b, c, d;

  tx = tx * tx * (3 - 2 * tx);
  ty = ty * ty * (3 - 2 * ty);
  a = hash2 (ix, iy, seed);
  b = hash2 (ix + 1, iy, seed);
  c = hash2 (ix, iy + 1, seed);
  d = hash2 (ix + 1, iy + 1, seed);
  return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty;
}

static inline float
clampf (float v, float lo, float hi)
{
  return v < lo ? lo : (v > hi ? hi : v);
}

static inline float
smoothstepf (float e0, float e1, float x)
{
  float t = clampf ((x - e0) / (e1 - e0), 0, 1);

  return t * t * (3 - 2 * t);
}

static inline float
sq (float v)
{
  return v * v;
}

typedef struct {
  float x, y;
} Vec2;

static inline Vec2
vec2 (float x, float y)
{
  Vec2 v = { x, y };

  return v;
}

static inline float
vec2_len (Vec2 v)
{
  return sqrtf (v.x * v.x + v.y * v.y);
}

/* Distance to a box centred at @c with half sizes @half and corners rounded by @r. */
static inline float
sd_round_box (Vec2 p, Vec2 c, Vec2 half, float r)
{
  float qx = fabsf (p.x - c.x) - half.x + r;
  float qy = fabsf (p.y - c.y) - half.y + r;
  float ox = MAX (qx, 0), oy = MAX (qy, 0);

  return sqrtf (ox * ox + oy * oy) + MIN (MAX (qx, qy), 0) - r;
}

/* Distance to segment a–b, and the position along it (0 at a, 1 at b). */
static inline float
sd_segment (Vec2 p, Vec2 a, Vec2 b, float *t)
{
  float bax = b.x - a.x, bay = b.y - a.y;
  float pax = p.x - a.x, pay = p.y - a.y;
  float h = clampf ((pax * bax + pay * bay) / (bax * bax + bay * bay + 1e-6f), 0, 1);

  *t = h;
  return sqrtf (sq (pax - bax * h) + sq (pay - bay * h));
}

/* --- The scene --------------------------------------------------------------------------- */

typedef enum {
  PART_WASHER,
  PART_BRACKET,
} PartKind;

#define SCRATCH_SEGMENTS 6

typedef struct {
  Vec2 points[SCRATCH_SEGMENTS + 1];   /* a gently curved polyline, in part coordinates */
  float width;                         /* Gaussian width of the streak, pixels */
  float strength;                      /* > 0 a bright streak, < 0 a dark groove */
} Scratch;

typedef struct {
  PartKind kind;
  /* Pose: image position, rotation, and vertical foreshortening of an oblique camera. */
  float cx, cy, cos_a, sin_a, fore;
  float thickness;           /* pixels of side wall visible below the top face */
  float bound;               /* radius of a circle holding the part, part units */

  /* Washer */
  float r_out, r_in;
  gboolean has_center_hole;

  /* Bracket: a vertical arm and a horizontal arm meeting at the lower left */
  Vec2 arm_c[2], arm_half[2];
  float corner;
  Vec2 holes[2];
  float hole_r;
  gboolean has_hole[2];

  float albedo[3];
  guint32 grain_seed;
  float sheen_angle, sheen_offset, sheen_width, sheen_strength;

  guint n_scratches;
  Scratch scratches[3];
  gboolean dented;
  Vec2 dent_c;
  float dent_rx, dent_ry, dent_cos, dent_sin, dent_depth;

  /* Harmless: a faint oily smudge, on any class. */
  gboolean smudged;
  Vec2 smudge_c;
  float smudge_r, smudge_k;
} Part;

typedef struct {
  guint source;
  Part part;

  /* Light: the direction it comes from (image plane), exposure, tint, hot spot, vignette. */
  Vec2 light;
  float exposure;
  float tint[3];
  Vec2 hot_c;
  float hot_r, hot_k;
  float vignette;
  float falloff;             /* side light: brighter on the left */

  Vec2 shadow_offset;
  float shadow_soft, shadow_k;

  /* Belt */
  float belt_phase;
  guint32 belt_seed;
  float belt_base[3];
  guint n_specks;
  Vec2 specks[40];
  float speck_r[40], speck_k[40];

  float noise_sigma, chroma_sigma;
} Scene;

static const char * const class_names[GEMBA_DEMO_N_CLASSES] = {
  "ok", "scratch", "dent", "missing-hole",
};

/* Part coordinates of an image point. */
static inline Vec2
to_part (const Part *part, float x, float y)
{
  float dx = x - part->cx, dy = (y - part->cy) / part->fore;

  return vec2 (part->cos_a * dx + part->sin_a * dy, -part->sin_a * dx + part->cos_a * dy);
}

/* A direction from the image plane into part coordinates. */
static inline Vec2
dir_to_part (const Part *part, Vec2 d)
{
  return vec2 (part->cos_a * d.x + part->sin_a * d.y, -part->sin_a * d.x + part->cos_a * d.y);
}

/* Signed distance to the part's outline (negative inside), holes included. */
static float
part_sdf (const Part *part, Vec2 p)
{
  float d;

  if (part->kind == PART_WASHER)
    {
      float r = vec2_len (p);

      d = r - part->r_out;
      if (part->has_center_hole)
        d = MAX (d, part->r_in - r);
      return d;
    }

  d = MIN (sd_round_box (p, part->arm_c[0], part->arm_half[0], part->corner),
           sd_round_box (p, part->arm_c[1], part->arm_half[1], part->corner));
  for (guint i = 0; i < 2; i++)
    if (part->has_hole[i])
      d = MAX (d, part->hole_r - vec2_len (vec2 (p.x - part->holes[i].x,
                                                   p.y - part->holes[i].y)));
  return d;
}

static inline float
part_sdf_at (const Part *part, float x, float y)
{
  return part_sdf (part, to_part (part, x, y));
}

/* --- Building a scene -------------------------------------------------------------------- */

/* A point on the part's surface, away from edges and holes, for a defect. */
static Vec2
random_surface_point (Rng *rng, const Part *part, float margin)
{
  for (guint attempt = 0; attempt < 64; attempt++)
    {
      Vec2 p;

      if (part->kind == PART_WASHER)
        {
          float inner = part->has_center_hole ? part->r_in : 0;
          float r = rng_range (rng, inner + margin, part->r_out - margin);
          float a = rng_range (rng, 0, 2 * G_PI);

          p = vec2 (r * cosf (a), r * sinf (a));
        }
      else
        {
          guint arm = rng_int (rng, 2);

          p = vec2 (part->arm_c[arm].x + rng_range (rng, -1, 1) * part->arm_half[arm].x,
                    part->arm_c[arm].y + rng_range (rng, -1, 1) * part->arm_half[arm].y);
        }
      if (part_sdf (part, p) < -margin)
        return p;
    }
  return part->kind == PART_WASHER
         ? vec2 ((part->r_in + part->r_out) / 2, 0)
         : part->arm_c[0];
}

/* The pose comes from @rng and the defect from @defect_rng, so that one seed gives the same
 * part in the same place and light whatever its class: only the defect differs. */
static void
build_part (Rng *rng, Rng *defect_rng, Part *part, guint source, GembaDemoClass klass)
{
  /* Line 1 mostly makes washers and line 2 mostly brackets, but both make both; line 3
   * (the new lighting) makes as many of each. */
  double washer_share = source == 0 ? 0.65 : source == 1 ? 0.35 : 0.5;
  float angle;

  memset (part, 0, sizeof *part);
  part->kind = rng_chance (rng, washer_share) ? PART_WASHER : PART_BRACKET;
  part->grain_seed = (guint32) rng_next (rng);

  if (source != 1)
    {
      part->fore = rng_range (rng, 0.96, 1.0);
      part->thickness = rng_range (rng, 0.0, 1.5);
      part->cx = W / 2.0f + rng_range (rng, -32, 32);
      part->cy = H / 2.0f + rng_range (rng, -10, 10);
    }
  else
    {
      part->fore = rng_range (rng, 0.70, 0.78);
      part->thickness = rng_range (rng, 4.0, 6.5);
      part->cx = W / 2.0f + rng_range (rng, -38, 38);
      part->cy = H / 2.0f + 14 + rng_range (rng, -14, 14);
    }

  if (part->kind == PART_WASHER)
    {
      part->r_out = rng_range (rng, 50, 62);
      part->r_in = part->r_out * rng_range (rng, 0.30, 0.40);
      part->has_center_hole = TRUE;
      part->bound = part->r_out;
      angle = rng_range (rng, 0, 2 * G_PI);
    }
  else
    {
      float a = rng_range (rng, 128, 146);    /* horizontal arm length */
      float b = rng_range (rng, 96, 114);     /* vertical arm length */
      float w = rng_range (rng, 40, 47);      /* arm width */
      float left = -a / 2, top = -b / 2;

      part->arm_c[0] = vec2 (left + w / 2, 0);
      part->arm_half[0] = vec2 (w / 2, b / 2);
      part->arm_c[1] = vec2 (0, top + b - w / 2);
      part->arm_half[1] = vec2 (a / 2, w / 2);
      part->corner = rng_range (rng, 4, 8);
      part->hole_r = rng_range (rng, 8.5, 11);
      part->holes[0] = vec2 (left + w / 2, top + w / 2 + rng_range (rng, 0, 4));
      part->holes[1] = vec2 (left + a - w / 2 - rng_range (rng, 0, 6), top + b - w / 2);
      part->has_hole[0] = part->has_hole[1] = TRUE;
      part->bound = sqrtf (a * a + b * b) / 2 + 2;
      /* Either way round on the belt, never quite square to it. */
      angle = rng_range (rng, -0.26, 0.26) + (rng_chance (rng, 0.5) ? (float) G_PI : 0);
    }
  part->cos_a = cosf (angle);
  part->sin_a = sinf (angle);

  /* Bright zinc, plain steel, or yellow-passivated zinc. */
  switch (rng_int (rng, 4))
    {
    case 0:
    case 1:
      part->albedo[0] = 0.74f, part->albedo[1] = 0.75f, part->albedo[2] = 0.77f;
      break;
    case 2:
      part->albedo[0] = 0.62f, part->albedo[1] = 0.63f, part->albedo[2] = 0.64f;
      break;
    default:
      part->albedo[0] = 0.80f, part->albedo[1] = 0.72f, part->albedo[2] = 0.50f;
      break;
    }
  for (guint c = 0; c < 3; c++)
    part->albedo[c] *= rng_range (rng, 0.93, 1.05);

  part->sheen_angle = rng_range (rng, 0, G_PI);
  part->sheen_offset = rng_range (rng, -40, 40);
  part->sheen_width = rng_range (rng, 14, 30);
  part->sheen_strength = rng_range (rng, 0.10, 0.28);

  part->smudged = rng_chance (rng, 0.3);
  if (part->smudged)
    {
      part->smudge_c = random_surface_point (rng, part, 2);
      part->smudge_r = rng_range (rng, 8, 20);
      part->smudge_k = rng_range (rng, -0.07, 0.05);
    }

  switch (klass)
    {
    case GEMBA_DEMO_SCRATCH:
      part->n_scratches = rng_chance (defect_rng, 0.4) ? 1 : 2 + rng_int (defect_rng, 2);
      for (guint i = 0; i < part->n_scratches; i++)
        {
          Scratch *s = &part->scratches[i];
          Vec2 mid = random_surface_point (defect_rng, part, 4);
          float dir = rng_range (defect_rng, 0, 2 * G_PI);
          float longest = part->kind == PART_WASHER ? 2 * part->r_out - 10 : 110;
          float len = rng_range (defect_rng, 50, longest);
          float bend = rng_range (defect_rng, -7, 7);
          float dx = cosf (dir), dy = sinf (dir);

          for (guint k = 0; k <= SCRATCH_SEGMENTS; k++)
            {
              float t = (float) k / SCRATCH_SEGMENTS - 0.5f;
              float off = bend * (1 - 4 * t * t);

              s->points[k] = vec2 (mid.x + dx * t * len - dy * off,
                                   mid.y + dy * t * len + dx * off);
            }
          s->width = rng_range (defect_rng, 1.4, 2.4);
          s->strength = rng_chance (defect_rng, 0.65) ? rng_range (defect_rng, 0.7, 1.1)
                                                       : -rng_range (defect_rng, 0.55, 0.75);
        }
      break;

    case GEMBA_DEMO_DENT:
      {
        float dent_angle = rng_range (defect_rng, 0, G_PI);
        float max_r = part->kind == PART_WASHER ? (part->r_out - part->r_in) / 2 - 1 : 18;

        part->dented = TRUE;
        part->dent_rx = rng_range (defect_rng, 11, MAX (12, max_r));
        part->dent_ry = part->dent_rx * rng_range (defect_rng, 0.6, 0.9);
        part->dent_c = random_surface_point (defect_rng, part, part->dent_rx);
        part->dent_cos = cosf (dent_angle);
        part->dent_sin = sinf (dent_angle);
        part->dent_depth = rng_range (defect_rng, 0.8, 1.2);
      }
      break;

    case GEMBA_DEMO_MISSING_HOLE:
      if (part->kind == PART_WASHER)
        part->has_center_hole = FALSE;
      else if (rng_chance (defect_rng, 0.2))
        part->has_hole[0] = part->has_hole[1] = FALSE;
      else
        part->has_hole[rng_int (defect_rng, 2)] = FALSE;
      break;

    case GEMBA_DEMO_OK:
    case GEMBA_DEMO_N_CLASSES:
    default:
      break;
    }
}

static void
build_scene (Scene *sc, guint source, GembaDemoClass klass, guint64 seed)
{
  Rng rng, defect_rng;
  float light_angle;

  memset (sc, 0, sizeof *sc);
  rng_init (&rng, seed ^ ((guint64) source << 56));
  rng_init (&defect_rng, ~seed ^ ((guint64) (klass + 1) << 48) ^ ((guint64) source << 56));
  sc->source = source;
  build_part (&rng, &defect_rng, &sc->part, source, klass);

  if (source == 0)
    {
      /* Line 1: LED ring light straight above, cool and even; dark ribbed rubber belt. */
      light_angle = rng_range (&rng, -2.5, -1.5);
      sc->exposure = rng_range (&rng, 0.92, 1.12);
      sc->tint[0] = rng_range (&rng, 0.90, 0.96);
      sc->tint[1] = rng_range (&rng, 0.97, 1.01);
      sc->tint[2] = rng_range (&rng, 1.04, 1.10);
      sc->hot_c = vec2 (W / 2.0f + rng_range (&rng, -50, 50), H / 2.0f + rng_range (&rng, -40, 30));
      sc->hot_r = rng_range (&rng, 60, 110);
      sc->hot_k = rng_range (&rng, 0.12, 0.35);
      sc->vignette = rng_range (&rng, 0.20, 0.35);
      sc->falloff = 0;
      sc->shadow_soft = rng_range (&rng, 3, 5);
      sc->shadow_k = rng_range (&rng, 0.35, 0.5);
      sc->belt_base[0] = 0.16f, sc->belt_base[1] = 0.165f, sc->belt_base[2] = 0.17f;
      sc->noise_sigma = rng_range (&rng, 0.010, 0.016);
      sc->chroma_sigma = 0.004f;
    }
  else if (source == GEMBA_DEMO_SOURCE_NEW_LIGHTING)
    {
      /* Line 3, a camera from above like line 1's, in a dim corner: one warm sodium-vapour
       * lamp, strong vignetting, more sensor noise; a light grey fabric belt. */
      light_angle = rng_range (&rng, -2.2, -0.9);
      sc->exposure = rng_range (&rng, 0.50, 0.66);
      sc->tint[0] = rng_range (&rng, 1.16, 1.26);
      sc->tint[1] = rng_range (&rng, 0.94, 1.00);
      sc->tint[2] = rng_range (&rng, 0.62, 0.72);
      sc->hot_c = vec2 (W / 2.0f + rng_range (&rng, -30, 30), H / 2.0f + rng_range (&rng, -20, 20));
      sc->hot_r = rng_range (&rng, 50, 80);
      sc->hot_k = rng_range (&rng, 0.25, 0.45);
      sc->vignette = rng_range (&rng, 0.55, 0.70);
      sc->falloff = 0;
      sc->shadow_soft = rng_range (&rng, 4, 6);
      sc->shadow_k = rng_range (&rng, 0.40, 0.55);
      sc->belt_base[0] = 0.30f, sc->belt_base[1] = 0.30f, sc->belt_base[2] = 0.31f;
      sc->noise_sigma = rng_range (&rng, 0.020, 0.030);
      sc->chroma_sigma = 0.008f;
    }
  else
    {
      /* Line 2: a halogen lamp low on the left, warm and uneven; green PVC belt. */
      light_angle = (float) G_PI + rng_range (&rng, -0.35, 0.25);
      sc->exposure = rng_range (&rng, 0.82, 1.02);
      sc->tint[0] = rng_range (&rng, 1.06, 1.12);
      sc->tint[1] = rng_range (&rng, 0.98, 1.02);
      sc->tint[2] = rng_range (&rng, 0.80, 0.88);
      sc->hot_c = vec2 (rng_range (&rng, 20, 120), rng_range (&rng, 60, 160));
      sc->hot_r = rng_range (&rng, 70, 120);
      sc->hot_k = rng_range (&rng, 0.20, 0.45);
      sc->vignette = rng_range (&rng, 0.30, 0.45);
      sc->falloff = rng_range (&rng, 0.35, 0.5);
      sc->shadow_soft = rng_range (&rng, 5, 8);
      sc->shadow_k = rng_range (&rng, 0.45, 0.6);
      sc->belt_base[0] = 0.13f, sc->belt_base[1] = 0.24f, sc->belt_base[2] = 0.17f;
      sc->noise_sigma = rng_range (&rng, 0.016, 0.024);
      sc->chroma_sigma = 0.007f;
    }
  sc->light = vec2 (cosf (light_angle), sinf (light_angle));
  /* The shadow falls away from the light. */
  {
    float dist = source != 1 ? rng_range (&rng, 2, 4) : rng_range (&rng, 9, 14);

    sc->shadow_offset = vec2 (-sc->light.x * dist, -sc->light.y * dist * 0.6f + 1);
  }

  sc->belt_phase = rng_range (&rng, 0, 1000);
  sc->belt_seed = (guint32) rng_next (&rng) ^ (source * 7919u);
  sc->n_specks = 10 + rng_int (&rng, 30);
  for (guint i = 0; i < sc->n_specks; i++)
    {
      sc->specks[i] = vec2 (rng_range (&rng, 0, W), rng_range (&rng, 0, H));
      sc->speck_r[i] = rng_range (&rng, 0.5, 1.6);
      sc->speck_k[i] = rng_chance (&rng, 0.7) ? rng_range (&rng, 0.05, 0.18)
                                              : -rng_range (&rng, 0.03, 0.08);
    }
}

/* --- Shading ----------------------------------------------------------------------------- */

static void
belt_color (const Scene *sc, float x, float y, float specks, float out[3])
{
  float v;

  if (sc->source == GEMBA_DEMO_SOURCE_NEW_LIGHTING)
    {
      /* Grey woven fabric edge to edge: a fine twill and slow stains, no rails. */
      float twill = sinf ((x + sc->belt_phase + y) * 0.9f);
      float grain = value_noise ((x + sc->belt_phase) * 0.6f, y * 0.6f, sc->belt_seed) - 0.5f;
      float stain = value_noise ((x + sc->belt_phase) * 0.03f, y * 0.03f, 77) - 0.5f;

      v = 1 + 0.08f * twill + 0.25f * grain + 0.40f * stain;
    }
  else if (sc->source == 0)
    {
      /* Aluminium side rails above and below the belt, with a dark gap and a groove. */
      if (y < 20 || y > H - 20)
        {
          float ry = y < 20 ? y : H - y;
          float brushed = value_noise (x * 0.03f, y * 1.7f, 977) - 0.5f;

          v = 0.50f + 0.08f * brushed + 0.05f * (ry / 20);
          if (ry < 3)
            v *= 0.25f + 0.25f * ry;              /* the gap next to the belt */
          if (fabsf (ry - 11) < 1.2f)
            v *= 0.55f;                            /* the profile's groove */
          for (float bx = 40; bx < W; bx += 80)   /* bolt heads */
            {
              float d = sqrtf (sq (x - bx) + sq (ry - 6));

              if (d < 3.2f)
                v = 0.32f + 0.25f * clampf ((6 - (y < 20 ? ry : 12 - ry)) / 6, 0, 1);
            }
          out[0] = v * 0.97f;
          out[1] = v;
          out[2] = v * 1.03f;
          return;
        }

      /* Rubber: ribs across the belt, grain, and wear streaks along the travel. */
      {
        float rib = sinf ((x + sc->belt_phase) * (2 * (float) G_PI / 7.5f));
        float grain = value_noise (x * 0.45f, y * 0.45f, sc->belt_seed) - 0.5f;
        float fine = value_noise (x * 1.3f, y * 1.3f, sc->belt_seed + 1) - 0.5f;
        float wear = value_noise ((x + sc->belt_phase) * 0.012f, y * 0.22f, 31) - 0.5f;

        v = 1 + 0.28f * sq (MAX (rib, 0)) - 0.12f * sq (MIN (rib, 0)) + 0.35f * grain
            + 0.25f * fine + 0.45f * wear;
      }
    }
  else
    {
      /* The far guide rail, seen from the side, then a woven green belt. */
      float rail_y = 34 + x * 0.035f;

      if (y < rail_y)
        {
          float t = y / rail_y;

          v = 0.30f + 0.10f * (value_noise (x * 0.05f, y * 0.9f, 1201) - 0.5f);
          if (rail_y - y < 2.5f)
            v = 0.55f;                             /* the lit lower lip of the rail */
          else if (t > 0.75f)
            v *= 0.45f;                            /* its shadowed face */
          out[0] = v * 0.92f;
          out[1] = v * 0.96f;
          out[2] = v * 1.05f;
          return;
        }
      {
        float weave = sinf ((x + sc->belt_phase) * 1.1f) * sinf (y * 1.7f);
        float grain = value_noise ((x + sc->belt_phase) * 0.3f, y * 0.5f, sc->belt_seed) - 0.5f;
        float patch = value_noise ((x + sc->belt_phase) * 0.02f, y * 0.05f, 57) - 0.5f;
        float edge = clampf ((y - rail_y) / 6, 0, 1);

        v = (1 + 0.10f * weave + 0.30f * grain + 0.35f * patch) * (0.55f + 0.45f * edge);
      }
    }

  v += specks;
  out[0] = sc->belt_base[0] * v;
  out[1] = sc->belt_base[1] * v;
  out[2] = sc->belt_base[2] * v;
}

/* Distance to a scratch's polyline and the position along it (0–1). */
static float
scratch_distance (const Scratch *s, Vec2 p, float *along)
{
  float best = G_MAXFLOAT;

  for (guint k = 0; k < SCRATCH_SEGMENTS; k++)
    {
      float t;
      float d = sd_segment (p, s->points[k], s->points[k + 1], &t);

      if (d < best)
        {
          best = d;
          *along = (k + t) / SCRATCH_SEGMENTS;
        }
    }
  return best;
}

/* The colour of the part's top face at part point @p, before the scene's lighting. */
static void
face_color (const Scene *sc, Vec2 p, float sd, float out[3])
{
  const Part *part = &sc->part;
  Vec2 l = dir_to_part (part, sc->light);
  float shade, spec = 0;
  const float bevel = 3.0f;

  if (part->kind == PART_WASHER)
    {
      float r = vec2_len (p) + 1e-4f;
      Vec2 n = vec2 (p.x / r, p.y / r);
      float theta = atan2f (p.y, p.x);
      float d1 = remainderf (theta - part->sheen_angle, (float) G_PI);

      /* Turned surface: concentric tool marks and two highlight lobes across the centre. */
      shade = 0.80f + 0.14f * (n.x * l.x + n.y * l.y) * (r / part->r_out);
      shade += 0.07f * (value_noise (r * 0.8f, 0.5f, part->grain_seed) - 0.5f);
      shade += 0.05f * (value_noise (r * 3.3f, 7.5f, part->grain_seed) - 0.5f);
      spec += part->sheen_strength * 1.6f * expf (-d1 * d1 / 0.07f);

      if (part->r_out - r < bevel)
        shade += 0.5f * (1 - (part->r_out - r) / bevel) * (n.x * l.x + n.y * l.y);
      if (part->has_center_hole && r - part->r_in < bevel)
        {
          float t = 1 - (r - part->r_in) / bevel;

          shade += 0.5f * t * -(n.x * l.x + n.y * l.y) - 0.12f * t;
        }
    }
  else
    {
      /* Rolled sheet: streaks along the rolling direction, a broad sheen band, and a
       * bevel catching the light along every edge, hole edges included. */
      float u = p.x * cosf (part->sheen_angle) + p.y * sinf (part->sheen_angle);

      shade = 0.80f + 0.12f * (p.x * l.x + p.y * l.y) / 70;
      shade += 0.09f * (value_noise (p.x * 0.04f, p.y * 1.2f, part->grain_seed) - 0.5f);
      shade += 0.05f * (value_noise (p.x * 0.25f, p.y * 3.1f, part->grain_seed + 3) - 0.5f);
      spec += part->sheen_strength * expf (-sq ((u - part->sheen_offset) / part->sheen_width));

      if (sd > -bevel)
        {
          /* The outward normal: the gradient of the distance field. */
          float gx = part_sdf (part, vec2 (p.x + 0.5f, p.y))
                     - part_sdf (part, vec2 (p.x - 0.5f, p.y));
          float gy = part_sdf (part, vec2 (p.x, p.y + 0.5f))
                     - part_sdf (part, vec2 (p.x, p.y - 0.5f));
          float gl = sqrtf (gx * gx + gy * gy) + 1e-6f;

          shade += 0.5f * (1 + sd / bevel) * (gx * l.x + gy * l.y) / gl;
        }
    }

  if (part->smudged)
    shade *= 1 + part->smudge_k * expf (-(sq (p.x - part->smudge_c.x) + sq (p.y - part->smudge_c.y))
                                        / sq (part->smudge_r));

  if (part->dented)
    {
      float qx = p.x - part->dent_c.x, qy = p.y - part->dent_c.y;
      float u = (part->dent_cos * qx + part->dent_sin * qy) / part->dent_rx;
      float v = (-part->dent_sin * qx + part->dent_cos * qy) / part->dent_ry;
      float rr = u * u + v * v;

      if (rr < 2.5f)
        {
          float r = sqrtf (rr) + 1e-5f;
          /* The light in the dent's own frame. */
          float lu = part->dent_cos * l.x + part->dent_sin * l.y;
          float lv = -part->dent_sin * l.x + part->dent_cos * l.y;
          float facing = (u * lu + v * lv) / r;
          float k = part->dent_depth;

          if (rr < 1)
            {
              /* A concave bowl: the wall nearest the light faces away from it. */
              shade *= 1 - 0.5f * k * (1 - rr);
              shade -= 0.60f * k * facing * r * (1 - rr) * 2.6f * 0.5f;
              spec *= rr;
            }
          /* The raised lip around it, bright where it faces the light. */
          spec += 0.35f * k * expf (-sq ((r - 1) / 0.16f)) * (0.45f + 0.55f * MAX (facing, 0));
          shade -= 0.12f * k * expf (-sq ((r - 1.12f) / 0.12f)) * MAX (-facing, 0);
        }
    }

  for (guint c = 0; c < 3; c++)
    out[c] = part->albedo[c] * shade + spec * (0.9f + 0.1f * part->albedo[c]);

  /* Scratches go over everything, the sheen included: a groove with raised lips. A bright
   * scratch catches the light in its groove and has dark burrs; a dark one is the reverse. So
   * one of the two shows on bright and on dark metal alike. */
  for (guint i = 0; i < part->n_scratches; i++)
    {
      const Scratch *s = &part->scratches[i];
      float along = 0;
      float d = scratch_distance (s, p, &along);

      if (d < 4 * s->width + 2)
        {
          float taper = sqrtf (MAX (sinf ((float) G_PI * along), 0));
          float core = expf (-sq (d / s->width)) * taper;
          float lips = expf (-sq ((d - 1.6f * s->width) / (0.7f * s->width))) * taper;

          for (guint c = 0; c < 3; c++)
            {
              if (s->strength > 0)
                out[c] = out[c] * (1 - 0.45f * lips) + s->strength * core;
              else
                out[c] = out[c] * (1 + s->strength * core) + 0.3f * -s->strength * lips;
            }
        }
    }
}

static void
render_scene (const Scene *sc, GembaImage *image, Rng *noise_rng)
{
  const Part *part = &sc->part;
  float aa = (1 + part->fore) / 2;
  int steps = (int) ceilf (part->thickness);
  g_autofree float *specks = g_new0 (float, W * H);
  guint8 gamma[1025];

  /* A gentle display gamma keeps the dark belt's texture visible. */
  for (guint i = 0; i <= 1024; i++)
    gamma[i] = (guint8) (powf (i / 1024.0f, 0.85f) * 255 + 0.5f);

  /* Dust on the belt: each speck only touches a few pixels around it. */
  for (guint i = 0; i < sc->n_specks; i++)
    for (int y = (int) sc->specks[i].y - 3; y <= (int) sc->specks[i].y + 3; y++)
      for (int x = (int) sc->specks[i].x - 3; x <= (int) sc->specks[i].x + 3; x++)
        if (x >= 0 && x < W && y >= 0 && y < H)
          {
            float d2 = sq (x + 0.5f - sc->specks[i].x) + sq (y + 0.5f - sc->specks[i].y);

            specks[y * W + x] += sc->speck_k[i] * 6 * expf (-d2 / sq (sc->speck_r[i]));
          }

  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++)
      {
        float px = x + 0.5f, py = y + 0.5f;
        float col[3];
        float dx = px - part->cx, dy = py - part->cy;
        float dist = sqrtf (dx * dx + dy * dy);
        guint8 *dst = image->pixels + ((gsize) y * W + x) * 3;

        float sd_face = G_MAXFLOAT, face_cover = 0;

        if (dist < part->bound + 3)
          {
            sd_face = part_sdf_at (part, px, py);
            face_cover = clampf (0.5f - sd_face * aa, 0, 1);
          }

        /* Belt, shadow and side wall only where the top face does not hide them. */
        if (face_cover < 1)
          {
            belt_color (sc, px, py, specks[y * W + x], col);

            /* Soft shadow: the part's outline, shifted away from the light, faded over a
             * band of its distance field. */
            if (dist < part->bound + 20)
              {
                float sd = part_sdf_at (part, px - sc->shadow_offset.x,
                                        py - sc->shadow_offset.y - part->thickness);
                float s = smoothstepf (sc->shadow_soft, -sc->shadow_soft, sd * aa);

                for (guint c = 0; c < 3; c++)
                  col[c] *= 1 - sc->shadow_k * s;
              }

            /* Side wall: the outline moved down by up to the thickness. */
            if (steps > 0 && dist < part->bound + part->thickness + 3)
              {
                float sd_wall = G_MAXFLOAT;
                float depth = 0, cover;

                for (int k = 1; k <= steps; k++)
                  {
                    float t = MIN ((float) k, part->thickness);
                    float sd = part_sdf_at (part, px, py - t);

                    if (sd < sd_wall)
                      {
                        sd_wall = sd;
                        depth = t / MAX (part->thickness, 1.0f);
                      }
                  }
                cover = clampf (0.5f - sd_wall * aa, 0, 1);
                if (cover > 0)
                  for (guint c = 0; c < 3; c++)
                    {
                      float wall = part->albedo[c] * (0.42f - 0.18f * depth);

                      col[c] += (wall - col[c]) * cover;
                    }
              }
          }
        else
          col[0] = col[1] = col[2] = 0;

        if (face_cover > 0)
          {
            float face[3];

            face_color (sc, to_part (part, px, py), sd_face, face);
            for (guint c = 0; c < 3; c++)
              col[c] += (face[c] - col[c]) * face_cover;
          }

        /* Light: exposure, tint, hot spot, side fall-off and vignetting. */
        {
          float hot = sc->hot_k * expf (-(sq (px - sc->hot_c.x) + sq (py - sc->hot_c.y))
                                        / (2 * sq (sc->hot_r)));
          float vig = 1 - sc->vignette * (sq (px - W / 2.0f) + sq (py - H / 2.0f))
                          / (sq (W / 2.0f) + sq (H / 2.0f));
          float side = 1 + sc->falloff * (0.5f - px / W) * 2;
          float light = sc->exposure * (1 + hot) * vig * side;
          float n = sc->noise_sigma * rng_gauss_fast (noise_rng);

          for (guint c = 0; c < 3; c++)
            {
              float v = col[c] * light * sc->tint[c] + n
                        + sc->chroma_sigma * rng_gauss_fast (noise_rng);

              dst[c] = gamma[(int) (clampf (v, 0, 1) * 1024 + 0.5f)];
            }
        }
      }
}

/* --- Public API -------------------------------------------------------------------------- */

const char *
gemba_demo_class_name (GembaDemoClass klass)
{
  g_return_val_if_fail (klass < GEMBA_DEMO_N_CLASSES, NULL);

  return class_names[klass];
}

const char *
gemba_demo_source_name (guint source)
{
  g_return_val_if_fail (source < GEMBA_DEMO_N_RENDER_SOURCES, NULL);

  if (source == GEMBA_DEMO_SOURCE_NEW_LIGHTING)
    return "Line 3 top camera";
  return source == 0 ? "Line 1 top camera" : "Line 2 side camera";
}

/**
 * gemba_demo_render:
 * @source: 0, 1 or GEMBA_DEMO_SOURCE_NEW_LIGHTING
 * @klass: what the part shows
 * @seed: any number
 *
 * Returns: (transfer full): a GEMBA_DEMO_WIDTH × GEMBA_DEMO_HEIGHT frame
 */
GembaImage *
gemba_demo_render (guint source, GembaDemoClass klass, guint64 seed)
{
  GembaImage *image;
  Scene sc;
  Rng noise_rng;

  g_return_val_if_fail (source < GEMBA_DEMO_N_RENDER_SOURCES, NULL);
  g_return_val_if_fail (klass < GEMBA_DEMO_N_CLASSES, NULL);

  build_scene (&sc, source, klass, seed);
  rng_init (&noise_rng, seed * 0x2545f4914f6cdd1dull + source);
  image = gemba_image_new (W, H);
  render_scene (&sc, image, &noise_rng);
  return image;
}

/* One planned frame of the demo project. */
typedef struct {
  guint source;
  GembaDemoClass klass;
  guint64 seed;
  gint64 captured_at;
  guint number;                  /* per source, for the file name */
  const char *author;            /* NULL: left unlabeled */
  GembaDemoClass first_guess;    /* a label a second inspector later corrected */
  gboolean corrected;
} PlannedFrame;

static int
compare_planned (gconstpointer a, gconstpointer b)
{
  const PlannedFrame *fa = a, *fb = b;

  return (fa->captured_at > fb->captured_at) - (fa->captured_at < fb->captured_at);
}

/* Both stations run through the morning shift in bursts: the inspection PC keeps a frame
 * every few seconds while a batch runs, then the line changes over. Older frames are mostly
 * reviewed; the last hours mostly not yet. */
static GArray *
plan_frames (Rng *rng)
{
  static const char * const authors[2] = { "mei.chen", "r.okafor" };
  static const double class_share[GEMBA_DEMO_N_CLASSES] = { 0.46, 0.18, 0.18, 0.18 };
  GArray *plan = g_array_sized_new (FALSE, TRUE, sizeof (PlannedFrame), GEMBA_DEMO_N_FRAMES);
  const guint per_source[2] = { 168, GEMBA_DEMO_N_FRAMES - 168 };
  const gint64 shift_len = G_GINT64_CONSTANT (8) * 3600 * G_USEC_PER_SEC;

  for (guint source = 0; source < 2; source++)
    {
      guint n = per_source[source];
      guint n_bursts = 8;
      guint made = 0;

      for (guint burst = 0; burst < n_bursts; burst++)
        {
          guint in_burst = (n - made) / (n_bursts - burst);
          gint64 t = SHIFT_START + burst * (shift_len / n_bursts)
                     + (gint64) (rng_range (rng, 2, 20) * 60 * G_USEC_PER_SEC);

          for (guint i = 0; i < in_burst; i++, made++)
            {
              PlannedFrame f = { 0 };
              double u = rng_uniform (rng), acc = 0;
              double when;

              t += (gint64) (rng_range (rng, 2.5, 9.0) * G_USEC_PER_SEC);
              f.source = source;
              f.captured_at = t;
              f.number = made + 1;
              f.seed = rng_next (rng);
              f.klass = GEMBA_DEMO_N_CLASSES - 1;
              for (guint c = 0; c < GEMBA_DEMO_N_CLASSES; c++)
                {
                  acc += class_share[c];
                  if (u < acc)
                    {
                      f.klass = c;
                      break;
                    }
                }

              when = (double) (t - SHIFT_START) / shift_len;
              if (rng_chance (rng, when < 0.7 ? 0.92 : 0.22))
                {
                  /* Each inspector mostly reviews one line. */
                  f.author = authors[rng_chance (rng, 0.8) ? source : 1 - source];
                  if (f.klass != GEMBA_DEMO_OK && rng_chance (rng, 0.06))
                    {
                      f.corrected = TRUE;
                      f.first_guess = GEMBA_DEMO_OK;
                    }
                }
              g_array_append_val (plan, f);
            }
        }
    }
  g_array_sort (plan, compare_planned);
  return plan;
}

/* Undoes a half-made project: the folder goes, or only its contents when it existed
 * (empty) before. */
static void
remove_half_made (const char *path, gboolean existed)
{
  if (!existed)
    {
      _gemba_remove_tree (path);
      return;
    }

  {
    GDir *dir = g_dir_open (path, 0, NULL);
    const char *name;

    if (dir == NULL)
      return;
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        _gemba_remove_tree (child);
      }
    g_dir_close (dir);
  }
}

static gboolean
check_cancelled (GCancellable *cancellable, GError **error)
{
  if (!g_cancellable_is_cancelled (cancellable))
    return FALSE;
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CANCELLED,
               _("Creating the demo project was cancelled"));
  return TRUE;
}

/* Frames are rendered and encoded by a few worker threads, ahead of the thread that stores
 * them in order: each frame has its own seed, so the result does not depend on which thread
 * made it. */
typedef struct {
  GMutex lock;
  GCond done;
  const PlannedFrame *plan;
  GBytes **jpegs;            /* per frame; NULL until encoded */
  GError *error;             /* the first encoding failure */
} Renderer;

static void
render_job_cb (gpointer data, gpointer user_data)
{
  Renderer *r = user_data;
  guint index = GPOINTER_TO_UINT (data) - 1;
  const PlannedFrame *f = &r->plan[index];
  g_autoptr(GembaImage) image = gemba_demo_render (f->source, f->klass, f->seed);
  g_autoptr(GError) local_error = NULL;
  GBytes *bytes = gemba_image_encode_jpeg (image, JPEG_QUALITY, &local_error);

  g_mutex_lock (&r->lock);
  r->jpegs[index] = bytes;
  if (bytes == NULL && r->error == NULL)
    r->error = g_steal_pointer (&local_error);
  g_cond_broadcast (&r->done);
  g_mutex_unlock (&r->lock);
}

/* Waits for frame @index; NULL with @error set when its encoding failed. */
static GBytes *
renderer_take (Renderer *r, guint index, GError **error)
{
  GBytes *bytes;

  g_mutex_lock (&r->lock);
  while (r->jpegs[index] == NULL && r->error == NULL)
    g_cond_wait (&r->done, &r->lock);
  bytes = g_steal_pointer (&r->jpegs[index]);
  if (bytes == NULL)
    g_propagate_error (error, g_error_copy (r->error));
  g_mutex_unlock (&r->lock);
  return bytes;
}

/* Stores the rendered frames in capture order, labeling the reviewed ones. */
static gboolean
store_frames (GembaStore *store, GArray *plan, Renderer *renderer, const gint64 *class_ids,
              GembaDemoProgress progress, gpointer user_data, GCancellable *cancellable,
              GError **error)
{
  guint total = plan->len + 1;

  for (guint i = 0; i < plan->len; i++)
    {
      const PlannedFrame *f = &g_array_index (plan, PlannedFrame, i);
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(GembaFrame) frame = NULL;
      g_autoptr(GDateTime) when = NULL;
      g_autofree char *stamp = NULL;
      g_autofree char *original = NULL;
      GembaFrameInfo info;
      gboolean duplicate = FALSE;

      if (check_cancelled (cancellable, error))
        return FALSE;
      bytes = renderer_take (renderer, i, error);
      if (bytes == NULL)
        return FALSE;

      when = g_date_time_new_from_unix_utc (f->captured_at / G_USEC_PER_SEC);
      stamp = g_date_time_format (when, "%Y%m%d-%H%M%S");
      original = g_strdup_printf ("%s_%s_%04u.jpg", f->source == 0 ? "L1-top" : "L2-side",
                                  stamp, f->number);

      gemba_frame_info_init (&info);
      info.source_name = gemba_demo_source_name (f->source);
      info.source_kind = "camera";
      info.captured_at = f->captured_at;
      info.original_name = original;

      frame = gemba_store_add_frame (store, bytes, "jpg", W, H, &info, &duplicate, error);
      if (frame == NULL)
        return FALSE;

      if (f->author != NULL)
        {
          g_autoptr(GembaLabel) label = NULL;

          if (f->corrected)
            {
              /* The other inspector first passed it; the owner of the line caught it. */
              gemba_store_set_author (store, g_str_equal (f->author, "mei.chen")
                                             ? "r.okafor" : "mei.chen");
              label = gemba_store_set_label (store, frame->id, class_ids[f->first_guess],
                                             GEMBA_LABEL_SET, error);
              if (label == NULL)
                return FALSE;
              g_clear_pointer (&label, gemba_label_free);
            }
          gemba_store_set_author (store, f->author);
          label = gemba_store_set_label (store, frame->id, class_ids[f->klass], GEMBA_LABEL_SET,
                                         error);
          if (label == NULL)
            return FALSE;
        }

      if (progress != NULL)
        progress (i + 1, total, user_data);
    }

  return !check_cancelled (cancellable, error);
}

static gboolean
fill_project (GembaStore *store, GArray *plan, GembaDemoProgress progress, gpointer user_data,
              GCancellable *cancellable, GError **error)
{
  gint64 class_ids[GEMBA_DEMO_N_CLASSES];
  guint total = plan->len + 1;
  Renderer renderer = { 0 };
  GThreadPool *pool;
  gboolean ok = FALSE;

  for (guint c = 0; c < GEMBA_DEMO_N_CLASSES; c++)
    {
      g_autoptr(GembaClass) klass = gemba_store_find_class (store, class_names[c], error);

      if (klass == NULL)
        return FALSE;
      class_ids[c] = klass->id;
    }

  if (!gemba_store_begin_batch (store, error))
    return FALSE;

  g_mutex_init (&renderer.lock);
  g_cond_init (&renderer.done);
  renderer.plan = (const PlannedFrame *) plan->data;
  renderer.jpegs = g_new0 (GBytes *, plan->len);
  pool = g_thread_pool_new (render_job_cb, &renderer, CLAMP (g_get_num_processors (), 1, 4),
                            FALSE, NULL);
  for (guint i = 0; i < plan->len; i++)
    g_thread_pool_push (pool, GUINT_TO_POINTER (i + 1), NULL);

  ok = store_frames (store, plan, &renderer, class_ids, progress, user_data, cancellable,
                     error);

  /* Drops the frames not rendered yet and waits for those being rendered. */
  g_thread_pool_free (pool, TRUE, TRUE);
  for (guint i = 0; i < plan->len; i++)
    g_clear_pointer (&renderer.jpegs[i], g_bytes_unref);
  g_free (renderer.jpegs);
  g_clear_error (&renderer.error);
  g_cond_clear (&renderer.done);
  g_mutex_clear (&renderer.lock);

  if (!ok)
    {
      gemba_store_rollback_batch (store);
      return FALSE;
    }
  if (!gemba_store_commit_batch (store, error))
    return FALSE;

  {
    gint64 assigned[4];
    g_autofree char *detail = g_strdup_printf ("{\"frames\": %u, \"seed\": %" G_GUINT64_FORMAT "}",
                                               plan->len, DEMO_SEED);

    /* The audit trail says where these frames came from: no camera, a renderer. */
    gemba_store_set_author (store, "gemba-demo");
    if (!gemba_store_audit (store, "demo", "rendered frames of washers and brackets", detail,
                            error))
      return FALSE;
    if (!gemba_store_assign_splits (store, 0.2, 0.1, DEMO_SEED, assigned, error))
      return FALSE;
  }
  if (progress != NULL)
    progress (total, total, user_data);
  return TRUE;
}
/**
 * gemba_demo_create:
 * @path: a folder that does not exist yet, or is empty
 * @progress: (nullable): called after each frame
 * @user_data: for @progress
 * @cancellable: (nullable): stops the work; the half-made project is removed
 * @error: return location for a #GError
 *
 * Returns: %TRUE when the project is complete
 */
gboolean
gemba_demo_create (const char *path, GembaDemoProgress progress, gpointer user_data,
                   GCancellable *cancellable, GError **error)
{
  const char *classes[GEMBA_DEMO_N_CLASSES + 1];
  g_autoptr(GembaStore) store = NULL;
  g_autoptr(GArray) plan = NULL;
  gboolean existed;
  gboolean ok;
  Rng rng;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (check_cancelled (cancellable, error))
    return FALSE;

  for (guint c = 0; c < GEMBA_DEMO_N_CLASSES; c++)
    classes[c] = class_names[c];
  classes[GEMBA_DEMO_N_CLASSES] = NULL;

  existed = g_file_test (path, G_FILE_TEST_EXISTS);
  /* A refusal (the folder is not empty, or another process just made a project there)
   * leaves everything as it was: only what this call made is ever removed below. */
  store = gemba_store_create (path, classes, error);
  if (store == NULL)
    return FALSE;

  rng_init (&rng, DEMO_SEED);
  plan = plan_frames (&rng);
  ok = fill_project (store, plan, progress, user_data, cancellable, error);
  /* Close the database before touching the folder. */
  g_clear_object (&store);
  if (!ok)
    remove_half_made (path, existed);
  return ok;
}
