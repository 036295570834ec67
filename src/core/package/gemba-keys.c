#define G_LOG_DOMAIN "gemba-package"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gemba-error.h"
#include "gemba-keys.h"
#include "gemba-package-private.h"

struct _GembaPublicKey
{
  gatomicrefcount ref_count;
  guint8 pk[crypto_sign_PUBLICKEYBYTES];
  char id[GEMBA_KEY_ID_LEN + 1];
};

struct _GembaSecretKey
{
  guint8 *sk;   /* sodium_malloc'ed, crypto_sign_SECRETKEYBYTES */
  GembaPublicKey *public;
};

struct _GembaTrust
{
  gatomicrefcount ref_count;
  GPtrArray *keys;
};

#define PUBLIC_MAGIC "gemba-public-key 1"
#define SECRET_MAGIC "gemba-secret-key 1"
/* A key file is three short lines and a comment; anything longer is not one. */
#define MAX_KEY_FILE 4096

G_STATIC_ASSERT (GEMBA_PUBLIC_KEY_BYTES == crypto_sign_PUBLICKEYBYTES);
G_STATIC_ASSERT (GEMBA_SIGNATURE_BYTES == crypto_sign_BYTES);

void
_gemba_sodium_init (void)
{
  static gsize initialized = 0;

  if (g_once_init_enter (&initialized))
    {
      if (sodium_init () < 0)
        g_error ("libsodium could not be initialised");
      g_once_init_leave (&initialized, 1);
    }
}

static void
compute_key_id (const guint8 *pk, char *id)
{
  guint8 hash[crypto_generichash_BYTES];

  crypto_generichash (hash, sizeof hash, pk, crypto_sign_PUBLICKEYBYTES, NULL, 0);
  sodium_bin2hex (id, GEMBA_KEY_ID_LEN + 1, hash, GEMBA_KEY_ID_LEN / 2);
}

static gboolean
write_new_file (const char *path, const char *contents, mode_t mode, GError **error)
{
  gsize len = strlen (contents);
  int fd;

  fd = g_open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, GEMBA_ERROR, saved == EEXIST ? GEMBA_ERROR_EXISTS : GEMBA_ERROR_IO,
                   saved == EEXIST ? _("%s: a key file already exists there; refusing to "
                                       "overwrite it")
                                   : _("%s: cannot create the key file: %s"),
                   path, g_strerror (saved));
      return FALSE;
    }
  if (fchmod (fd, mode) < 0 || write (fd, contents, len) != (gssize) len || fsync (fd) < 0)
    {
      int saved = errno;
      close (fd);
      g_unlink (path);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot write the key file: %s"),
                   path, g_strerror (saved));
      return FALSE;
    }
  if (close (fd) < 0)
    {
      int saved = errno;
      g_unlink (path);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot write the key file: %s"),
                   path, g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

char *
gemba_keys_generate (const char *dir, GError **error)
{
  guint8 pk[crypto_sign_PUBLICKEYBYTES];
  guint8 *sk;
  char id[GEMBA_KEY_ID_LEN + 1];
  char sk_b64[sodium_base64_ENCODED_LEN (crypto_sign_SECRETKEYBYTES,
                                          sodium_base64_VARIANT_ORIGINAL)];
  char pk_b64[sodium_base64_ENCODED_LEN (crypto_sign_PUBLICKEYBYTES,
                                          sodium_base64_VARIANT_ORIGINAL)];
  g_autofree char *secret_path = NULL;
  g_autofree char *public_path = NULL;
  g_autofree char *public_text = NULL;
  char *secret_text;
  gboolean ok;

  g_return_val_if_fail (dir != NULL, NULL);
  _gemba_sodium_init ();

  if (g_mkdir_with_parents (dir, 0700) < 0)
    {
      int saved = errno;
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_IO, _("%s: cannot create the folder: %s"),
                   dir, g_strerror (saved));
      return NULL;
    }
  secret_path = g_build_filename (dir, "secret", NULL);
  public_path = g_build_filename (dir, "public", NULL);
  if (g_file_test (secret_path, G_FILE_TEST_EXISTS) || g_file_test (public_path,
                                                                    G_FILE_TEST_EXISTS))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_EXISTS,
                   _("%s: a key pair already exists there; refusing to overwrite it"), dir);
      return NULL;
    }

  sk = sodium_malloc (crypto_sign_SECRETKEYBYTES);
  if (sk == NULL)
    g_error ("sodium_malloc failed");
  crypto_sign_keypair (pk, sk);
  compute_key_id (pk, id);
  sodium_bin2base64 (sk_b64, sizeof sk_b64, sk, crypto_sign_SECRETKEYBYTES,
                     sodium_base64_VARIANT_ORIGINAL);
  sodium_bin2base64 (pk_b64, sizeof pk_b64, pk, crypto_sign_PUBLICKEYBYTES,
                     sodium_base64_VARIANT_ORIGINAL);
  sodium_free (sk);

  secret_text = g_strdup_printf ("# Gemba package signing key: SECRET, keep it private\n"
                                 SECRET_MAGIC "\nkey-id %s\ned25519 %s\n", id, sk_b64);
  sodium_memzero (sk_b64, sizeof sk_b64);
  public_text = g_strdup_printf ("# Gemba package signing key: PUBLIC, give it to the "
                                 "production lines\n" PUBLIC_MAGIC "\nkey-id %s\ned25519 %s\n",
                                 id, pk_b64);

  ok = write_new_file (secret_path, secret_text, 0600, error) &&
       write_new_file (public_path, public_text, 0644, error);
  sodium_memzero (secret_text, strlen (secret_text));
  g_free (secret_text);
  if (!ok)
    {
      /* Never leave half a pair behind: the public file alone would be trusted for nothing. */
      if (g_file_test (public_path, G_FILE_TEST_EXISTS) == FALSE)
        g_unlink (secret_path);
      return NULL;
    }
  return g_strdup (id);
}

/* Reads "MAGIC / key-id ID / ed25519 BASE64" from @path into @out (@out_len bytes). */
static gboolean
read_key_file (const char *path, const char *magic, guint8 *out, gsize out_len, char *id,
               GError **error)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(GError) file_error = NULL;
  gboolean secret = g_str_equal (magic, SECRET_MAGIC);
  gboolean seen_magic = FALSE;
  const char *id_text = NULL;
  const char *b64 = NULL;
  gsize len = 0;
  size_t bin_len = 0;

  if (!g_file_get_contents (path, &contents, &len, &file_error))
    {
      g_set_error (error, GEMBA_ERROR,
                   g_error_matches (file_error, G_FILE_ERROR, G_FILE_ERROR_NOENT)
                     ? GEMBA_ERROR_NOT_FOUND : GEMBA_ERROR_IO,
                   secret ? _("cannot read the secret key: %s")
                          : _("cannot read the public key: %s"), file_error->message);
      return FALSE;
    }
  if (len > MAX_KEY_FILE || memchr (contents, '\0', len) != NULL)
    goto not_a_key;

  lines = g_strsplit (contents, "\n", -1);
  sodium_memzero (contents, len);
  for (guint i = 0; lines[i]; i++)
    {
      char *line = g_strstrip (lines[i]);

      if (line[0] == '\0' || line[0] == '#')
        continue;
      if (!seen_magic)
        {
          if (!g_str_equal (line, magic))
            goto not_a_key;
          seen_magic = TRUE;
        }
      else if (g_str_has_prefix (line, "key-id ") && id_text == NULL)
        id_text = g_strstrip (line + strlen ("key-id "));
      else if (g_str_has_prefix (line, "ed25519 ") && b64 == NULL)
        b64 = g_strstrip (line + strlen ("ed25519 "));
      else
        goto not_a_key;
    }
  if (!seen_magic || id_text == NULL || b64 == NULL)
    goto not_a_key;
  if (sodium_base642bin (out, out_len, b64, strlen (b64), NULL, &bin_len, NULL,
                         sodium_base64_VARIANT_ORIGINAL) != 0 || bin_len != out_len)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   secret ? _("%s: the secret key is damaged (not %u bytes of base64)")
                          : _("%s: the public key is damaged (not %u bytes of base64)"),
                   path, (guint) out_len);
      goto wipe;
    }
  if (strlen (id_text) != GEMBA_KEY_ID_LEN)
    goto not_a_key;
  memcpy (id, id_text, GEMBA_KEY_ID_LEN + 1);
  for (guint i = 0; lines[i]; i++)
    sodium_memzero (lines[i], strlen (lines[i]));
  return TRUE;

not_a_key:
  g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_INVALID,
               secret ? _("%s: not a Gemba secret key file (expected a “%s” line, a key id "
                          "and an ed25519 key)")
                      : _("%s: not a Gemba public key file (expected a “%s” line, a key id "
                          "and an ed25519 key)"), path, magic);
wipe:
  for (guint i = 0; lines && lines[i]; i++)
    sodium_memzero (lines[i], strlen (lines[i]));
  return FALSE;
}

GembaPublicKey *
gemba_public_key_new_from_bytes (const guint8 *bytes)
{
  GembaPublicKey *key;

  g_return_val_if_fail (bytes != NULL, NULL);
  _gemba_sodium_init ();

  key = g_new0 (GembaPublicKey, 1);
  g_atomic_ref_count_init (&key->ref_count);
  memcpy (key->pk, bytes, sizeof key->pk);
  compute_key_id (key->pk, key->id);
  return key;
}

GembaPublicKey *
gemba_public_key_load (const char *path, GError **error)
{
  guint8 pk[crypto_sign_PUBLICKEYBYTES];
  char id[GEMBA_KEY_ID_LEN + 1];
  GembaPublicKey *key;

  g_return_val_if_fail (path != NULL, NULL);
  _gemba_sodium_init ();

  if (!read_key_file (path, PUBLIC_MAGIC, pk, sizeof pk, id, error))
    return NULL;
  key = gemba_public_key_new_from_bytes (pk);
  if (!g_str_equal (key->id, id))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: the file says key id %s but its key has id %s; the file was altered"),
                   path, id, key->id);
      gemba_public_key_unref (key);
      return NULL;
    }
  return key;
}

GembaPublicKey *
gemba_public_key_ref (GembaPublicKey *key)
{
  g_return_val_if_fail (key != NULL, NULL);
  g_atomic_ref_count_inc (&key->ref_count);
  return key;
}

void
gemba_public_key_unref (GembaPublicKey *key)
{
  g_return_if_fail (key != NULL);
  if (g_atomic_ref_count_dec (&key->ref_count))
    g_free (key);
}

const char *
gemba_public_key_get_id (GembaPublicKey *key)
{
  g_return_val_if_fail (key != NULL, NULL);
  return key->id;
}

gboolean
gemba_public_key_verify (GembaPublicKey *key, const guint8 *signature, const void *data,
                         gsize len)
{
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (signature != NULL, FALSE);
  return crypto_sign_verify_detached (signature, data, len, key->pk) == 0;
}

GembaSecretKey *
gemba_secret_key_load (const char *path, GError **error)
{
  guint8 *sk;
  guint8 seed_pk[crypto_sign_PUBLICKEYBYTES];
  guint8 *seed_sk;
  char id[GEMBA_KEY_ID_LEN + 1];
  GStatBuf st;
  GembaSecretKey *key;

  g_return_val_if_fail (path != NULL, NULL);
  _gemba_sodium_init ();

  if (g_stat (path, &st) == 0 && (st.st_mode & 077) != 0)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_SECURITY,
                   _("%s: the secret key may be read by other users (mode %04o); run “chmod 600 "
                     "%s” and check who copied it"), path, (guint) (st.st_mode & 07777), path);
      return NULL;
    }

  sk = sodium_malloc (crypto_sign_SECRETKEYBYTES);
  seed_sk = sodium_malloc (crypto_sign_SECRETKEYBYTES);
  if (sk == NULL || seed_sk == NULL)
    g_error ("sodium_malloc failed");
  if (!read_key_file (path, SECRET_MAGIC, sk, crypto_sign_SECRETKEYBYTES, id, error))
    {
      sodium_free (sk);
      sodium_free (seed_sk);
      return NULL;
    }
  /* The public half stored in the key must be the one the seed derives. */
  crypto_sign_seed_keypair (seed_pk, seed_sk, sk);
  if (sodium_memcmp (seed_sk, sk, crypto_sign_SECRETKEYBYTES) != 0)
    {
      sodium_free (sk);
      sodium_free (seed_sk);
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: the secret key is damaged (its two halves do not match)"), path);
      return NULL;
    }
  sodium_free (seed_sk);

  key = g_new0 (GembaSecretKey, 1);
  key->sk = sk;
  key->public = gemba_public_key_new_from_bytes (seed_pk);
  if (!g_str_equal (key->public->id, id))
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_CORRUPT,
                   _("%s: the file says key id %s but its key has id %s; the file was altered"),
                   path, id, key->public->id);
      gemba_secret_key_free (key);
      return NULL;
    }
  return key;
}

void
gemba_secret_key_free (GembaSecretKey *key)
{
  if (key == NULL)
    return;
  sodium_free (key->sk);
  g_clear_pointer (&key->public, gemba_public_key_unref);
  g_free (key);
}

const char *
gemba_secret_key_get_id (GembaSecretKey *key)
{
  g_return_val_if_fail (key != NULL, NULL);
  return key->public->id;
}

GembaPublicKey *
gemba_secret_key_get_public (GembaSecretKey *key)
{
  g_return_val_if_fail (key != NULL, NULL);
  return key->public;
}

void
gemba_secret_key_sign (GembaSecretKey *key, const void *data, gsize len, guint8 *signature)
{
  g_return_if_fail (key != NULL);
  g_return_if_fail (signature != NULL);
  crypto_sign_detached (signature, NULL, data, len, key->sk);
}

GembaTrust *
gemba_trust_new (void)
{
  GembaTrust *trust = g_new0 (GembaTrust, 1);

  g_atomic_ref_count_init (&trust->ref_count);
  trust->keys = g_ptr_array_new_with_free_func ((GDestroyNotify) gemba_public_key_unref);
  return trust;
}

GembaTrust *
gemba_trust_ref (GembaTrust *trust)
{
  g_return_val_if_fail (trust != NULL, NULL);
  g_atomic_ref_count_inc (&trust->ref_count);
  return trust;
}

void
gemba_trust_unref (GembaTrust *trust)
{
  g_return_if_fail (trust != NULL);
  if (g_atomic_ref_count_dec (&trust->ref_count))
    {
      g_ptr_array_unref (trust->keys);
      g_free (trust);
    }
}

void
gemba_trust_add (GembaTrust *trust, GembaPublicKey *key)
{
  g_return_if_fail (trust != NULL);
  g_return_if_fail (key != NULL);
  if (gemba_trust_lookup (trust, key->id) == NULL)
    g_ptr_array_add (trust->keys, gemba_public_key_ref (key));
}

gboolean
gemba_trust_add_path (GembaTrust *trust, const char *path, GError **error)
{
  g_autoptr(GDir) dir = NULL;
  const char *name;
  guint added = 0;

  g_return_val_if_fail (trust != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  if (!g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_autoptr(GembaPublicKey) key = gemba_public_key_load (path, error);
      if (key == NULL)
        return FALSE;
      gemba_trust_add (trust, key);
      return TRUE;
    }

  if (!(dir = g_dir_open (path, 0, error)))
    {
      (*error)->domain = GEMBA_ERROR;
      (*error)->code = GEMBA_ERROR_IO;
      return FALSE;
    }
  while ((name = g_dir_read_name (dir)))
    {
      g_autofree char *file = g_build_filename (path, name, NULL);
      g_autoptr(GError) local_error = NULL;
      g_autoptr(GembaPublicKey) key = NULL;

      if (!g_file_test (file, G_FILE_TEST_IS_REGULAR))
        continue;
      if (!(key = gemba_public_key_load (file, &local_error)))
        {
          /* A damaged public key is worth an error; a file of another kind is not ours. */
          if (g_error_matches (local_error, GEMBA_ERROR, GEMBA_ERROR_INVALID))
            continue;
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      gemba_trust_add (trust, key);
      added++;
    }
  if (added == 0)
    {
      g_set_error (error, GEMBA_ERROR, GEMBA_ERROR_NOT_FOUND,
                   _("%s: the folder holds no Gemba public key file"), path);
      return FALSE;
    }
  return TRUE;
}

guint
gemba_trust_get_n_keys (GembaTrust *trust)
{
  g_return_val_if_fail (trust != NULL, 0);
  return trust->keys->len;
}

GembaPublicKey *
gemba_trust_lookup (GembaTrust *trust, const char *key_id)
{
  g_return_val_if_fail (trust != NULL, NULL);
  g_return_val_if_fail (key_id != NULL, NULL);
  for (guint i = 0; i < trust->keys->len; i++)
    {
      GembaPublicKey *key = g_ptr_array_index (trust->keys, i);
      if (g_str_equal (key->id, key_id))
        return key;
    }
  return NULL;
}
