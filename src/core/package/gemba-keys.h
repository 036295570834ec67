/* gemba-keys.h: ed25519 keys that sign packages, and the set of keys a line trusts
 *
 * Key files are small text files (libsodium ed25519):
 *
 *   # Gemba package signing key: PUBLIC, give it to the production lines
 *   gemba-public-key 1
 *   key-id 3f9c0a1b2c3d4e5f
 *   ed25519 <base64 of the 32-byte public key>
 *
 *   # Gemba package signing key: SECRET, keep it private (mode 0600)
 *   gemba-secret-key 1
 *   key-id 3f9c0a1b2c3d4e5f
 *   ed25519 <base64 of the 64-byte secret key: 32-byte seed, then the public key>
 *
 * The key id is the first 8 bytes of BLAKE2b-256 of the public key, in hex (16 digits). Loading
 * checks that the id written in the file is the id of the key, and that a secret key's public
 * half is the one its seed derives, so a damaged or hand-edited file is refused. A secret key
 * file that group or others may read is refused, as ssh does.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <glib.h>
#include "gemba-types.h"

G_BEGIN_DECLS

#define GEMBA_KEY_ID_LEN 16          /* hex digits */
#define GEMBA_PUBLIC_KEY_BYTES 32
#define GEMBA_SIGNATURE_BYTES 64

typedef struct _GembaPublicKey GembaPublicKey;
typedef struct _GembaSecretKey GembaSecretKey;
typedef struct _GembaTrust GembaTrust;

/* Creates @dir (0700) if needed and writes a new key pair as @dir/secret (0600) and
 * @dir/public (0644). Refuses (EXISTS) to overwrite either file. Returns the key id. */
GEMBA_API char *gemba_keys_generate (const char *dir, GError **error);

GEMBA_API GembaPublicKey *gemba_public_key_load (const char *path, GError **error);
/* @bytes must hold GEMBA_PUBLIC_KEY_BYTES bytes. */
GEMBA_API GembaPublicKey *gemba_public_key_new_from_bytes (const guint8 *bytes);
GEMBA_API GembaPublicKey *gemba_public_key_ref (GembaPublicKey *key);
GEMBA_API void gemba_public_key_unref (GembaPublicKey *key);
GEMBA_API const char *gemba_public_key_get_id (GembaPublicKey *key);
/* TRUE when @signature (GEMBA_SIGNATURE_BYTES) is @key's ed25519 signature of @data. */
GEMBA_API gboolean gemba_public_key_verify (GembaPublicKey *key, const guint8 *signature,
                                            const void *data, gsize len);

/* The secret key lives in libsodium's guarded memory and is wiped when freed. */
GEMBA_API GembaSecretKey *gemba_secret_key_load (const char *path, GError **error);
GEMBA_API void gemba_secret_key_free (GembaSecretKey *key);
GEMBA_API const char *gemba_secret_key_get_id (GembaSecretKey *key);
GEMBA_API GembaPublicKey *gemba_secret_key_get_public (GembaSecretKey *key);
/* Writes the detached ed25519 signature of @data into @signature (GEMBA_SIGNATURE_BYTES). */
GEMBA_API void gemba_secret_key_sign (GembaSecretKey *key, const void *data, gsize len,
                                      guint8 *signature);

/* The public keys whose packages a line accepts. */
GEMBA_API GembaTrust *gemba_trust_new (void);
GEMBA_API GembaTrust *gemba_trust_ref (GembaTrust *trust);
GEMBA_API void gemba_trust_unref (GembaTrust *trust);
GEMBA_API void gemba_trust_add (GembaTrust *trust, GembaPublicKey *key);
/* Adds the public key in the file @path, or every public key file in the folder @path
 * (files that are not public keys, such as a secret key next to them, are skipped). A folder
 * that holds no public key is an error. */
GEMBA_API gboolean gemba_trust_add_path (GembaTrust *trust, const char *path, GError **error);
GEMBA_API guint gemba_trust_get_n_keys (GembaTrust *trust);
/* (transfer none) (nullable): the trusted key with that id. */
GEMBA_API GembaPublicKey *gemba_trust_lookup (GembaTrust *trust, const char *key_id);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaPublicKey, gemba_public_key_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaSecretKey, gemba_secret_key_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaTrust, gemba_trust_unref)

G_END_DECLS
