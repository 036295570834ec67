/* gemba-package.h: signed model packages (.gemba), written and read with libarchive
 *
 * A package is one ZIP file with exactly these members, all regular files at the top level:
 *
 *   manifest.json   what production needs (classes, preprocessing, architecture) and what an
 *                   auditor needs (data set, metrics, training, who and when), plus the size and
 *                   SHA-256 of each of the three members below
 *   manifest.sig    the ed25519 signature of the exact bytes of manifest.json, with the key id
 *                   ({"format": "gemba-signature", "version": 1, "algorithm": "ed25519",
 *                     "key_id": "…", "signature": "<base64>"})
 *   weights.bin     Gemba's own tensor file
 *   model.onnx      the same network in ONNX
 *   MODEL_CARD.md   what a person reads
 *
 * Signing the manifest signs the whole package, because the manifest holds every other
 * member's hash.
 *
 * Reading a package is a security boundary. The reader:
 * - reads ZIP only (no other archive format, no outer compression filter);
 * - refuses any member that is not one of the five names above, so absolute paths, `..`,
 *   folders and unknown extra files are refused (with a message that says which); folder
 *   entries are refused too: the format has no folders, and a writer that adds one is not ours;
 * - refuses symbolic links, hard links and every other non-regular entry, encrypted entries
 *   and names that appear twice;
 * - checks each member's size against the limits (GembaPackageLimits) twice: the size the
 *   archive declares, before reading, and the bytes actually decompressed, while reading (it
 *   stops as soon as the limit is passed, so a zip bomb costs at most the limit); a member whose
 *   decompressed size differs from its declared size is refused;
 * - parses and validates the manifest (json-glib; nesting depth, required fields, types, format
 *   version) and checks every member's size and SHA-256 against it;
 * - with a GembaTrust, verifies the signature against the trusted keys *before* parsing the
 *   manifest. An unsigned package, a signature that does not verify and a key that is not
 *   trusted are errors (GEMBA_ERROR_SECURITY), never warnings.
 *
 * Nothing is ever extracted to disk: members are read into memory. Reading a package therefore
 * writes no file at all, inside or outside a temporary folder.
 *
 * Every error message starts with the package's name and says what is wrong, e.g.
 * "washer-1.4.0.gemba: member ../../etc/passwd has a path outside the package; refused".
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include "gemba-types.h"
#include "gemba-keys.h"

G_BEGIN_DECLS

#define GEMBA_PACKAGE_FORMAT "gemba-package"
#define GEMBA_PACKAGE_FORMAT_VERSION 1

#define GEMBA_PACKAGE_MANIFEST "manifest.json"
#define GEMBA_PACKAGE_SIGNATURE "manifest.sig"
#define GEMBA_PACKAGE_WEIGHTS "weights.bin"
#define GEMBA_PACKAGE_ONNX "model.onnx"
#define GEMBA_PACKAGE_MODEL_CARD "MODEL_CARD.md"
/* The five members above: a package never has more. */
#define GEMBA_PACKAGE_N_MEMBERS 5

/**
 * GembaPackageLimits:
 * @max_binary_size: weights.bin and model.onnx, each (default 256 MiB)
 * @max_text_size: manifest.json and MODEL_CARD.md, each (default 1 MiB)
 * @max_total_size: all members together, decompressed (default 544 MiB)
 * @max_archive_size: the package file itself (default 544 MiB)
 *
 * manifest.sig is always limited to 4 KiB.
 */
typedef struct {
  guint64 max_binary_size;
  guint64 max_text_size;
  guint64 max_total_size;
  guint64 max_archive_size;
} GembaPackageLimits;

GEMBA_API void gemba_package_limits_init (GembaPackageLimits *limits);

/**
 * gemba_package_build:
 * @manifest: the manifest without "members": this function adds the size and SHA-256 of
 *   @weights, @onnx and @model_card; the result must pass the same validation the reader
 *   applies, so a package Gemba writes is always one it reads
 * @key: signs the manifest
 *
 * Returns: the bytes of the package (a ZIP file), or NULL with INVALID for a manifest that
 * does not validate.
 */
GEMBA_API GBytes *gemba_package_build (JsonObject *manifest, GBytes *weights, GBytes *onnx,
                                       const char *model_card, GembaSecretKey *key,
                                       GError **error);
/* gemba_package_build() then writes @path atomically (a temporary file in the same folder,
 * synced, then renamed), mode 0644. */
GEMBA_API gboolean gemba_package_write (const char *path, JsonObject *manifest, GBytes *weights,
                                        GBytes *onnx, const char *model_card,
                                        GembaSecretKey *key, GError **error);

typedef struct _GembaPackage GembaPackage;

/**
 * gemba_package_load:
 * @path: the package file
 * @trust: the keys this line accepts (required)
 *
 * Reads the package, verifies its signature against @trust, then its manifest and every
 * member. This is what production uses.
 */
GEMBA_API GembaPackage *gemba_package_load (const char *path, GembaTrust *trust,
                                            GError **error);
/**
 * gemba_package_open:
 * @limits: (nullable): NULL for the defaults
 * @trust: (nullable): when set, as gemba_package_load(); when NULL, everything is checked but
 *   the signature (gemba_package_is_verified() is FALSE): for showing a package to a person.
 */
GEMBA_API GembaPackage *gemba_package_open (const char *path, GembaTrust *trust,
                                            const GembaPackageLimits *limits, GError **error);
/* The same from bytes in memory; @name is what error messages call the package. */
GEMBA_API GembaPackage *gemba_package_open_bytes (GBytes *bytes, const char *name,
                                                  GembaTrust *trust,
                                                  const GembaPackageLimits *limits,
                                                  GError **error);
/* Verifies an opened package's signature against @trust (SECURITY error when it fails). */
GEMBA_API gboolean gemba_package_verify (GembaPackage *self, GembaTrust *trust, GError **error);

GEMBA_API GembaPackage *gemba_package_ref (GembaPackage *self);
GEMBA_API void gemba_package_unref (GembaPackage *self);

GEMBA_API const char *gemba_package_get_name (GembaPackage *self);
/* TRUE once the signature verified against a trusted key. */
GEMBA_API gboolean gemba_package_is_verified (GembaPackage *self);
/* The key id manifest.sig names (trusted only when gemba_package_is_verified()). */
GEMBA_API const char *gemba_package_get_key_id (GembaPackage *self);
/* (transfer none): the validated manifest. */
GEMBA_API JsonObject *gemba_package_get_manifest (GembaPackage *self);
/* (transfer none): the exact bytes of manifest.json. */
GEMBA_API GBytes *gemba_package_get_manifest_bytes (GembaPackage *self);
/* (transfer none) (nullable): the bytes of @member (one of the five names). */
GEMBA_API GBytes *gemba_package_get_member (GembaPackage *self, const char *member);
GEMBA_API const char *gemba_package_get_model_card (GembaPackage *self);
/* The classes, in the order of the model's outputs (NULL-terminated). */
GEMBA_API const char * const *gemba_package_get_classes (GembaPackage *self);

/**
 * gemba_package_parse_manifest:
 * @name: what error messages call the manifest's package
 *
 * Parses and validates manifest bytes (format, version, required fields and their types).
 * The "members" object is required unless @allow_no_members.
 *
 * Returns: (transfer full): the manifest, or NULL with CORRUPT (not JSON, missing or mistyped
 * field) or TOO_NEW (a newer format version).
 */
GEMBA_API JsonObject *gemba_package_parse_manifest (const char *name, const void *data,
                                                    gsize len, gboolean allow_no_members,
                                                    GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaPackage, gemba_package_unref)

G_END_DECLS
