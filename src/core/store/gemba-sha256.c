#define G_LOG_DOMAIN "gemba-store"
/* gemba-sha256.c: SHA-256 with the x86 SHA extensions, GChecksum elsewhere
 *
 * Every stored frame is named by the SHA-256 of its bytes. GChecksum hashes about 250 MB/s;
 * SHA-NI (Intel since Goldmont and Ice Lake, AMD since Zen) several times that, which matters
 * when a video's every frame is imported: 30 fps of 720p JPEG is 3–4 MB/s of hashing per
 * stream, on the thread that writes them. The rounds below follow Intel's white paper "Intel
 * SHA Extensions" (2013) and its public-domain sample code.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "config.h"

#include <string.h>

#include "gemba-sha256-private.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#ifdef HAVE_SHA_NI

static const guint32 k256[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

/* Hashes @n 64-byte blocks into @state (a, b, …, h). */
__attribute__ ((target ("sha,sse4.1")))
static void
sha256_blocks (guint32 state[8], const guint8 *data, gsize n)
{
  const __m128i swap = _mm_set_epi64x (0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
  __m128i abef, cdgh, tmp;

  /* The instructions keep the state as ABEF and CDGH. */
  tmp = _mm_shuffle_epi32 (_mm_loadu_si128 ((const __m128i *) &state[0]), 0xb1);  /* CDAB */
  cdgh = _mm_shuffle_epi32 (_mm_loadu_si128 ((const __m128i *) &state[4]), 0x1b); /* EFGH */
  abef = _mm_alignr_epi8 (tmp, cdgh, 8);
  cdgh = _mm_blend_epi16 (cdgh, tmp, 0xf0);

  for (; n > 0; n--, data += 64)
    {
      __m128i abef_saved = abef, cdgh_saved = cdgh;
      __m128i w[4];

      /* 16 groups of 4 rounds; w holds the last 16 words of the message schedule. */
#pragma GCC unroll 16
      for (guint g = 0; g < 16; g++)
        {
          __m128i m;

          if (g < 4)
            w[g] = _mm_shuffle_epi8 (_mm_loadu_si128 ((const __m128i *) (data + 16 * g)), swap);
          else
            {
              /* W[t] = σ1(W[t−2]) + W[t−7] + σ0(W[t−15]) + W[t−16], four at a time. */
              m = _mm_sha256msg1_epu32 (w[g & 3], w[(g + 1) & 3]);
              m = _mm_add_epi32 (m, _mm_alignr_epi8 (w[(g + 3) & 3], w[(g + 2) & 3], 4));
              w[g & 3] = _mm_sha256msg2_epu32 (m, w[(g + 3) & 3]);
            }
          m = _mm_add_epi32 (w[g & 3], _mm_loadu_si128 ((const __m128i *) &k256[4 * g]));
          cdgh = _mm_sha256rnds2_epu32 (cdgh, abef, m);
          abef = _mm_sha256rnds2_epu32 (abef, cdgh, _mm_shuffle_epi32 (m, 0x0e));
        }
      abef = _mm_add_epi32 (abef, abef_saved);
      cdgh = _mm_add_epi32 (cdgh, cdgh_saved);
    }

  tmp = _mm_shuffle_epi32 (abef, 0x1b);     /* FEBA */
  cdgh = _mm_shuffle_epi32 (cdgh, 0xb1);    /* DCHG */
  abef = _mm_blend_epi16 (tmp, cdgh, 0xf0); /* DCBA */
  cdgh = _mm_alignr_epi8 (cdgh, tmp, 8);    /* HGFE */
  _mm_storeu_si128 ((__m128i *) &state[0], abef);
  _mm_storeu_si128 ((__m128i *) &state[4], cdgh);
}

static gboolean
cpu_has_sha (void)
{
  static gsize checked = 0;
  static gboolean has = FALSE;

  if (g_once_init_enter (&checked))
    {
      unsigned int a, b, c, d;
      gboolean sse41 = __get_cpuid (1, &a, &b, &c, &d) && (c & bit_SSE4_1) && (c & bit_SSSE3);

      has = sse41 && __get_cpuid_count (7, 0, &a, &b, &c, &d) && (b & bit_SHA);
      g_once_init_leave (&checked, 1);
    }
  return has;
}

static char *
sha256_ni_hex (const guint8 *data, gsize len)
{
  guint32 state[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  };
  guint8 tail[128] = { 0 };
  gsize full = len / 64, rest = len % 64, n_tail;
  guint64 bits = (guint64) len * 8;
  char *hex = g_malloc (65);

  sha256_blocks (state, data, full);
  /* The last bytes, 0x80, zeros and the length in bits (big-endian): one block or two. */
  if (rest > 0)
    memcpy (tail, data + full * 64, rest);
  tail[rest] = 0x80;
  n_tail = rest + 9 <= 64 ? 1 : 2;
  for (guint i = 0; i < 8; i++)
    tail[n_tail * 64 - 1 - i] = (guint8) (bits >> (8 * i));
  sha256_blocks (state, tail, n_tail);

  for (guint i = 0; i < 8; i++)
    g_snprintf (hex + 8 * i, 9, "%08x", state[i]);
  return hex;
}

#endif

char *
_gemba_sha256_hex (const guint8 *data, gsize len)
{
#ifdef HAVE_SHA_NI
  if (cpu_has_sha ())
    return sha256_ni_hex (data, len);
#endif
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
}
