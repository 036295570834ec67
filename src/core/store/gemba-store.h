/* gemba-store.h: a Gemba project — its folder and its SQLite database
 *
 * All SQL of Gemba lives behind this interface. Functions are named after what the user does.
 * Every function that changes what the user sees runs in one transaction. A GembaStore may be
 * used from several threads: calls are serialised on one connection.
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */
#pragma once

#include <gio/gio.h>
#include "gemba-types.h"

G_BEGIN_DECLS

/* The schema version this Gemba writes (PRAGMA user_version). */
#define GEMBA_STORE_SCHEMA_VERSION 4
/* The database file inside a project folder. */
#define GEMBA_STORE_DB_NAME "project.gemba"
/* A team project's folder has this settings file instead: it names the PostgreSQL server
 * that holds the project's database ([server] uri=postgresql://…). */
#define GEMBA_STORE_SERVER_NAME "gemba-server.ini"

typedef enum {
  GEMBA_SPLIT_NONE,   /* not assigned yet */
  GEMBA_SPLIT_TRAIN,
  GEMBA_SPLIT_VAL,
  GEMBA_SPLIT_TEST,   /* locked: a frame never leaves it */
} GembaSplit;

typedef enum {
  GEMBA_LABEL_SET,      /* a person chose the class */
  GEMBA_LABEL_CONFIRM,  /* a person confirmed the production model's prediction */
  GEMBA_LABEL_IMPORT,   /* came with the frame (ImageFolder layout) */
  GEMBA_LABEL_UNDO,     /* restores what the frame had before an earlier label */
  GEMBA_LABEL_REDO,     /* re-applies a label that was undone */
  GEMBA_LABEL_CLEAR,    /* a person removed the label */
} GembaLabelKind;

/**
 * GembaClass:
 * One verdict a frame can get. @key is the number key 1–9 (0 for the tenth), or -1 for none.
 */
struct _GembaClass {
  gint64 id;
  char *name;
  char *color;        /* "#rrggbb" */
  int key;
  int position;       /* order in lists, 0 first */
  gboolean retired;   /* hidden from labeling, history kept */
};

struct _GembaSource {
  gint64 id;
  char *name;         /* "Line 3 top camera" */
  char *kind;         /* "folder", "file", "video", "camera", "stream", "pipeline" */
  char *uri;          /* where it was read from, may be NULL */
  gint64 n_frames;
};

/* A signed package whose verdicts came into the project with frames a line spooled. */
typedef struct {
  gint64 id;
  char *sha256;       /* the package file's SHA-256 */
  char *name;         /* as in its manifest */
  char *version;
  gint64 n_frames;    /* frames it classified */
} GembaFramePackage;

/**
 * GembaFrame:
 * One stored image. @sha256 (64 hex digits) is its id; users may name it by a unique prefix.
 */
struct _GembaFrame {
  gint64 id;                 /* row id, internal */
  char sha256[65];
  char *ext;                 /* "jpg", "png", ... */
  guint width;
  guint height;
  gint64 source_id;          /* 0 when none */
  char *source_name;         /* may be NULL */
  gint64 captured_at;        /* µs since the epoch, UTC */
  gint64 imported_at;        /* µs since the epoch, UTC */
  gint64 stream_time;        /* ns from the start of a video, or -1 */
  gint64 frame_number;       /* frame index in a video or stream, or -1 */
  char *original_name;       /* file name it was imported from, may be NULL */
  GembaSplit split;
  gint64 label_class_id;     /* current label's class, 0 when unlabeled */
  char *label_author;        /* NULL when unlabeled */
  gint64 label_at;           /* µs, 0 when unlabeled */
  gint64 pred_class_id;      /* production model's verdict, 0 when none */
  double pred_confidence;    /* probability of that verdict, -1 when none */
};

/**
 * GembaLabel:
 * One entry of a frame's label history. Labels are never overwritten; the newest is current.
 */
struct _GembaLabel {
  gint64 id;
  gint64 frame_id;
  gint64 class_id;           /* 0: unlabeled after this entry */
  char *class_name;          /* NULL when unlabeled */
  gint64 previous_class_id;  /* what the frame had before, 0 when unlabeled */
  char *previous_class_name;
  GembaLabelKind kind;
  char *author;
  gint64 created_at;         /* µs since the epoch, UTC */
  gint64 refers_to;          /* for UNDO/REDO: the label undone / the undo redone; else 0 */
  gint64 model_id;           /* the production model whose verdict the person saw, or 0 */
  gint64 model_class_id;     /* that model's stored verdict on the frame, 0 when none */
  char *model_class_name;
  gboolean correction;       /* a person's label that production's stored verdict disagreed
                              * with at that moment (never an imported label) */
};

/* Where a new frame comes from and when it was taken. Zero-initialise, then fill. */
typedef struct {
  const char *source_name;   /* NULL: no source */
  const char *source_kind;   /* "folder" when NULL */
  const char *source_uri;
  gint64 captured_at;        /* µs; 0: the file's modification time or now */
  gint64 stream_time;        /* ns, -1 when not from a video (0-init means 0 ns: set -1!) */
  gint64 frame_number;       /* -1 when not from a video */
  const char *original_name;
  const char *label_class;   /* class name to label it with (created when missing), or NULL */
  const char *package_sha256;  /* the package that classified it on a line, or NULL; */
  const char *package_name;    /* then its manifest's name and version too */
  const char *package_version;
} GembaFrameInfo;

/* Initialises @info to "no source, no video position". */
GEMBA_API void gemba_frame_info_init (GembaFrameInfo *info);

typedef enum {
  GEMBA_FILTER_ALL,
  GEMBA_FILTER_UNLABELED,
  GEMBA_FILTER_LABELED,
  GEMBA_FILTER_CLASS,           /* current label is @class_id */
  GEMBA_FILTER_SOURCE,          /* from @source_id */
  GEMBA_FILTER_FALSE_READINGS,  /* label disagrees with the production model */
  GEMBA_FILTER_REVIEW,          /* the review queue: see gemba_store_list_review_queue() */
  GEMBA_FILTER_SPLIT,           /* in @split */
  GEMBA_FILTER_PREDICTED_CLASS, /* production model's verdict is @class_id */
  GEMBA_FILTER_SUSPECT,         /* labels production confidently disagrees with, surest first */
  GEMBA_FILTER_CORRECTIONS,     /* the current label is a correction */
  GEMBA_FILTER_TEST_BATCH,      /* reserved for the test split, not labeled yet (@source_id
                                 * when not 0) */
  GEMBA_FILTER_PACKAGE,         /* classified on a line by package @package_id */
} GembaFrameFilter;

/* A labeled frame is a suspect label when production's verdict differs with at least this
 * confidence. */
#define GEMBA_SUSPECT_CONFIDENCE 0.9
/* Frames of one source captured at most this far apart (µs), with the same predicted class
 * and a similar margin, are near-duplicates: the review queue shows one of them. */
#define GEMBA_REVIEW_DUPLICATE_USEC (3 * G_USEC_PER_SEC)
#define GEMBA_REVIEW_DUPLICATE_MARGIN 0.1
/* In every batch of GEMBA_REVIEW_BATCH places of the review queue, one predicted class takes
 * at most GEMBA_REVIEW_MAX_CLASS_SHARE of them while frames of other classes wait. */
#define GEMBA_REVIEW_BATCH 50
#define GEMBA_REVIEW_MAX_CLASS_SHARE 0.4
/* A source with fewer labeled test frames than this cannot be judged by the gate. */
#define GEMBA_MIN_TEST_FRAMES 30

typedef enum {
  GEMBA_SORT_CAPTURED,          /* capture time, oldest first */
  GEMBA_SORT_CAPTURED_DESC,
  GEMBA_SORT_CONFIDENCE,        /* production model's confidence, least sure first */
  GEMBA_SORT_CONFIDENCE_DESC,
} GembaFrameSort;

typedef struct {
  GembaFrameFilter filter;
  gint64 class_id;
  gint64 source_id;
  GembaSplit split;
  gint64 package_id;
  GembaFrameSort sort;          /* ignored for REVIEW, which has its own order */
} GembaFrameQuery;

typedef struct {
  gint64 n_frames;
  gint64 n_labeled;
  gint64 n_unlabeled;
  gint64 n_split[4];            /* indexed by GembaSplit */
  gint64 n_false_readings;      /* 0 without a production model */
  gint64 revision;              /* dataset revision: grows with every label or split change */
} GembaStats;

#define GEMBA_TYPE_STORE (gemba_store_get_type ())
GEMBA_API G_DECLARE_FINAL_TYPE (GembaStore, gemba_store, GEMBA, STORE, GObject)

/* --- Opening --------------------------------------------------------------------------- */

/* Creates a new project folder at @path (which must not exist or be empty) with @classes
 * (NULL-terminated, may be NULL) in that order, keys 1, 2, 3 … */
GEMBA_API GembaStore *gemba_store_create (const char *path, const char * const *classes,
                                          GError **error);
/* Opens an existing project, migrating an older schema. Refuses a folder that is not a
 * project and a database written by a newer Gemba (GEMBA_ERROR_TOO_NEW) without writing. */
GEMBA_API GembaStore *gemba_store_open (const char *path, GError **error);
/* Creates a team project: the folder @path (which must not exist or be empty) for its frames
 * and models, naming the empty PostgreSQL database @server (a postgresql:// URI without a
 * password: credentials come from ~/.pgpass, PGPASSWORD or a service file), which gets the
 * schema and @classes. */
GEMBA_API GembaStore *gemba_store_create_team (const char *path, const char *server,
                                               const char * const *classes, GError **error);
/* The server URI of a team project (as its folder names it), or NULL for a SQLite one. */
GEMBA_API const char *gemba_store_get_server (GembaStore *self);
/* A team project: FALSE once the server connection is known to be lost (a change failed
 * with GEMBA_ERROR_DISCONNECTED), TRUE again once it is made again. TRUE for SQLite. The next
 * call outside a batch connects again by itself. */
GEMBA_API gboolean gemba_store_is_connected (GembaStore *self);
/* A team project: connects again if the connection was lost, and checks that the server
 * answers; FALSE with GEMBA_ERROR_DISCONNECTED while it cannot be reached. TRUE on SQLite. */
GEMBA_API gboolean gemba_store_check_connection (GembaStore *self, GError **error);
/* TRUE when @path holds a project database, or names a team project's server. */
GEMBA_API gboolean gemba_store_is_project (const char *path);

GEMBA_API const char *gemba_store_get_path (GembaStore *self);
/* TRUE when the project was opened read-only because its folder or database is not writable
 * (an archive, a read-only share): it can be read and exported; changes fail. */
GEMBA_API gboolean gemba_store_is_read_only (GembaStore *self);
/* Fails with GEMBA_ERROR_READ_ONLY, “the project is read-only (FOLDER)”, when it is. */
GEMBA_API gboolean gemba_store_check_writable (GembaStore *self, GError **error);
/* The project's name: the folder's base name unless renamed. */
GEMBA_API char *gemba_store_dup_name (GembaStore *self);
/* The absolute path of a frame's original bytes. */
GEMBA_API char *gemba_store_dup_frame_path (GembaStore *self, const GembaFrame *frame);
/* The cache path of a frame's thumbnail of @size pixels (need not exist yet). */
GEMBA_API char *gemba_store_dup_thumbnail_path (GembaStore *self, const GembaFrame *frame,
                                                guint size);
/* models/<id>/ under the project. */
GEMBA_API char *gemba_store_dup_model_dir (GembaStore *self, gint64 model_id);

/* Who labels: the OS user unless set (CLI --author, GUI preference). */
GEMBA_API const char *gemba_store_get_author (GembaStore *self);
GEMBA_API void gemba_store_set_author (GembaStore *self, const char *author);

/* Project settings (key/value text), e.g. "gate.alpha". */
GEMBA_API char *gemba_store_dup_setting (GembaStore *self, const char *key);
GEMBA_API gboolean gemba_store_set_setting (GembaStore *self, const char *key,
                                            const char *value, GError **error);

/* --- Classes ---------------------------------------------------------------------------- */

/* All classes in order; retired ones only when @include_retired. Array of GembaClass. */
GEMBA_API GPtrArray *gemba_store_list_classes (GembaStore *self, gboolean include_retired,
                                               GError **error);
/* By exact name (case-sensitive), retired included. */
GEMBA_API GembaClass *gemba_store_find_class (GembaStore *self, const char *name,
                                              GError **error);
GEMBA_API GembaClass *gemba_store_get_class (GembaStore *self, gint64 class_id, GError **error);
/* @color NULL picks the next palette colour; @key -1 picks the next free key (or none). */
GEMBA_API GembaClass *gemba_store_add_class (GembaStore *self, const char *name,
                                             const char *color, int key, GError **error);
GEMBA_API gboolean gemba_store_rename_class (GembaStore *self, gint64 class_id,
                                             const char *new_name, GError **error);
GEMBA_API gboolean gemba_store_set_class_color (GembaStore *self, gint64 class_id,
                                                const char *color, GError **error);
/* Gives the class number key @key (0–9, or -1 for none); a class that had it loses it. */
GEMBA_API gboolean gemba_store_set_class_key (GembaStore *self, gint64 class_id, int key,
                                              GError **error);
/* Moves the class to @position, shifting the others. */
GEMBA_API gboolean gemba_store_move_class (GembaStore *self, gint64 class_id, int position,
                                           GError **error);
/* Retired classes keep their labels and history but are offered for no new label. */
GEMBA_API gboolean gemba_store_set_class_retired (GembaStore *self, gint64 class_id,
                                                  gboolean retired, GError **error);

/* --- Sources ---------------------------------------------------------------------------- */

GEMBA_API GPtrArray *gemba_store_list_sources (GembaStore *self, GError **error);
/* Finds the source named @name or creates it. */
GEMBA_API gint64 gemba_store_ensure_source (GembaStore *self, const char *name,
                                            const char *kind, const char *uri, GError **error);
/* The packages that classified frames on a line (see GembaFrameInfo), by name and version,
 * with their frame counts. Array of GembaFramePackage. */
GEMBA_API GPtrArray *gemba_store_list_frame_packages (GembaStore *self, GError **error);

/* --- Frames ----------------------------------------------------------------------------- */

/* Stores @data (already validated as an image of @width × @height) under frames/ and records
 * it. When a frame with the same content exists, nothing is stored, *@duplicate is set and
 * the existing frame is returned. The file is on disk (fsync'd) before the row commits. */
GEMBA_API GembaFrame *gemba_store_add_frame (GembaStore *self, GBytes *data, const char *ext,
                                             guint width, guint height,
                                             const GembaFrameInfo *info, gboolean *duplicate,
                                             GError **error);
/* Reads, validates (decodes) and stores one image file. */
GEMBA_API GembaFrame *gemba_store_import_file (GembaStore *self, const char *path,
                                               const GembaFrameInfo *info, gboolean *duplicate,
                                               GError **error);

/* Begin/commit a batch: many add_frame calls in one transaction (much faster). Nesting is
 * counted; only the outermost commit writes. When the work inside the batch fails, call
 * _rollback_batch instead of _commit_batch; a commit that fails has already rolled back. */
GEMBA_API gboolean gemba_store_begin_batch (GembaStore *self, GError **error);
GEMBA_API gboolean gemba_store_commit_batch (GembaStore *self, GError **error);
GEMBA_API void gemba_store_rollback_batch (GembaStore *self);

/* A frame by a unique prefix (≥ 4 hex digits) of its SHA-256. */
GEMBA_API GembaFrame *gemba_store_find_frame (GembaStore *self, const char *id_prefix,
                                              GError **error);
GEMBA_API GembaFrame *gemba_store_get_frame (GembaStore *self, gint64 frame_id, GError **error);
/* Frames matching @query, @offset/@limit paging (limit -1: all). Array of GembaFrame. */
GEMBA_API GPtrArray *gemba_store_list_frames (GembaStore *self, const GembaFrameQuery *query,
                                              gint64 offset, gint64 limit, GError **error);
GEMBA_API gint64 gemba_store_count_frames (GembaStore *self, const GembaFrameQuery *query,
                                           GError **error);
/* Row ids of every frame matching @query in order: cheap enough for 100,000 frames. */
GEMBA_API GArray *gemba_store_list_frame_ids (GembaStore *self, const GembaFrameQuery *query,
                                              GError **error);

/* The review queue: unlabeled frames outside the test split, ranked so that the first teach
 * the model most. Frames are ranked by the entropy of the production model's probabilities
 * (frames it has not classified first); near-duplicates (same source, captured within
 * GEMBA_REVIEW_DUPLICATE_USEC, same verdict, margins within GEMBA_REVIEW_DUPLICATE_MARGIN) are
 * shown once, by their least sure frame; the rest are interleaved in rounds, one frame per
 * doubt (the pair of likeliest classes) per round, least sure first, within a doubt one per
 * source, newest source first; no predicted class takes more than
 * GEMBA_REVIEW_MAX_CLASS_SHARE of a batch of GEMBA_REVIEW_BATCH while others wait. Row ids in
 * queue order. */
GEMBA_API GArray *gemba_store_list_review_queue (GembaStore *self, GError **error);

/* --- Labels ----------------------------------------------------------------------------- */

/* Labels @frame_id as @class_id (0 clears) by the current author; returns the new history
 * entry. Retired classes are refused. */
GEMBA_API GembaLabel *gemba_store_set_label (GembaStore *self, gint64 frame_id,
                                             gint64 class_id, GembaLabelKind kind,
                                             GError **error);
/* Undoes the current author's newest label that is not undone yet. Refused when somebody
 * else has labeled that frame since. NULL with no error when there is nothing to undo. */
GEMBA_API GembaLabel *gemba_store_undo_label (GembaStore *self, GError **error);
/* Redoes the current author's newest undo, unless the author labeled anything since. */
GEMBA_API GembaLabel *gemba_store_redo_label (GembaStore *self, GError **error);

/* The same three for a caller that sends a label again when the server connection was lost
 * (GEMBA_ERROR_DISCONNECTED): a label whose commit was sent may or may not have been saved.
 * @created_at (µs since the epoch: when the person gave it, distinct for each label, undo and
 * redo of the author; the label's time in the history) names the action: when the author
 * already has one of that kind at that time (on @frame_id), it is returned as it was saved
 * and nothing is added, so sending it twice saves it once. */
GEMBA_API GembaLabel *gemba_store_set_label_at (GembaStore *self, gint64 frame_id,
                                                gint64 class_id, GembaLabelKind kind,
                                                gint64 created_at, GError **error);
GEMBA_API GembaLabel *gemba_store_undo_label_at (GembaStore *self, gint64 created_at,
                                                 GError **error);
GEMBA_API GembaLabel *gemba_store_redo_label_at (GembaStore *self, gint64 created_at,
                                                 GError **error);
/* How many undo/redo steps the current author has. */
GEMBA_API void gemba_store_get_undo_state (GembaStore *self, guint *n_undo, guint *n_redo);
/* Every label the frame had, oldest first. Array of GembaLabel. */
GEMBA_API GPtrArray *gemba_store_list_label_history (GembaStore *self, gint64 frame_id,
                                                     GError **error);

/* --- Review-queue leases ---------------------------------------------------------------- */

/* Several annotators share one review queue by leases: a claimed frame is handed to nobody
 * else until its holder labels it, releases it, or lets it expire. Leases are rows of the
 * project (a server's, for a team project), keyed by the holder's name; they are transient:
 * `gemba migrate` does not copy them. */

/* How long a claimed frame stays with its holder unless renewed (default: 2 minutes). */
#define GEMBA_LEASE_TIMEOUT_USEC (120 * G_USEC_PER_SEC)

/* A frame held by @holder from @claimed_at until @expires_at (µs since the epoch, in this
 * machine's clock: a server's times are shifted by the difference between the clocks). */
typedef struct {
  gint64 frame_id;
  char *holder;
  gint64 claimed_at;
  gint64 expires_at;
} GembaLease;

/* Who holds what this store claims. Default: unique to the store ("author@host:pid:N"),
 * and its leases are released when the store is finalized. A holder named here outlives the
 * store: another store (another process) of that name gets its live leases back, and they
 * stay until released or expired. */
GEMBA_API void gemba_store_set_lease_holder (GembaStore *self, const char *holder);
GEMBA_API const char *gemba_store_get_lease_holder (GembaStore *self);
/* How long the next claims and renewals hold a frame, in µs (GEMBA_LEASE_TIMEOUT_USEC by
 * default). On a server, expiry follows the server's clock. */
GEMBA_API void gemba_store_set_lease_timeout (GembaStore *self, gint64 usec);
GEMBA_API gint64 gemba_store_get_lease_timeout (GembaStore *self);
/* Claims up to @n frames of @queue (row ids in queue order, e.g. from
 * gemba_store_list_review_queue()) that are still unlabeled and that no other holder has a
 * live lease on. The holder's own live leases on frames of @queue come first (renewed), then
 * free frames, first in the queue first. Returns the claimed row ids in queue order (empty
 * when none is free). On a server, claims never wait for other members' labels or claims:
 * concurrent claimers get disjoint frames. Claiming does not release the holder's other
 * leases. */
GEMBA_API GArray *gemba_store_claim_frames (GembaStore *self, GArray *queue, guint n,
                                            GError **error);
/* Extends every live lease of the holder by the lease timeout from now. */
GEMBA_API gboolean gemba_store_renew_leases (GembaStore *self, GError **error);
/* Gives back the holder's lease on @frame_id (skipping it); nothing when it holds none. */
GEMBA_API gboolean gemba_store_release_frame (GembaStore *self, gint64 frame_id,
                                              GError **error);
/* Gives back every lease of the holder (leaving the queue). */
GEMBA_API gboolean gemba_store_release_leases (GembaStore *self, GError **error);
/* The live leases of all holders, by holder, oldest claim first. Array of GembaLease.
 * Labeling a frame ends whichever lease it had. */
GEMBA_API GPtrArray *gemba_store_list_leases (GembaStore *self, GError **error);

/* --- Splits ----------------------------------------------------------------------------- */

/* Gives every labeled frame without a split its split; unlabeled frames get none. A frame a
 * person labeled after seeing production's verdict on it (from the review queue, every
 * correction) goes to train, so that the test split stays unbiased. The others (imported
 * labels, labels given before any production model) are split at random per source and
 * class: @test_fraction to test, @val_fraction to val, the rest to train, deterministic for
 * @seed. Frames already in test stay there. */
GEMBA_API gboolean gemba_store_assign_splits (GembaStore *self, double test_fraction,
                                              double val_fraction, guint64 seed,
                                              gint64 assigned[4], GError **error);
GEMBA_API gboolean gemba_store_set_split (GembaStore *self, gint64 frame_id, GembaSplit split,
                                          GError **error);
/* Reserves up to @n random unlabeled frames of @source_id that have no split yet for the
 * locked test split (deterministic for @seed), so that once labeled they test the models on
 * that source without bias; returns how many were reserved, -1 on error. */
GEMBA_API gint64 gemba_store_reserve_test_batch (GembaStore *self, gint64 source_id, guint n,
                                                 guint64 seed, GError **error);

/* Tops the test split of @source_id up to GEMBA_MIN_TEST_FRAMES (labeled or reserved) with a
 * random batch of its unlabeled frames (seeded by the source): what `gemba ls --test-batch`
 * and the Frames page's "Label a Test Batch" do. Returns how many were reserved now (0 when
 * the source had enough, or when the user is not the team project's owner: others label what
 * an owner reserved), -1 on error. */
GEMBA_API gint64 gemba_store_top_up_test_batch (GembaStore *self, gint64 source_id,
                                                GError **error);

typedef struct {
  gint64 source_id;            /* 0: frames without a source */
  char *source_name;           /* NULL for none */
  gint64 n_labeled;            /* labeled frames of the source */
  gint64 n_test;               /* of which in the test split */
  gint64 n_reserved;           /* test frames reserved but not labeled yet */
} GembaSourceTestCount;

/* Labeled test frames per source, newest source first. Array of GembaSourceTestCount. */
GEMBA_API GArray *gemba_store_count_test_frames_per_source (GembaStore *self, GError **error);
/* Frees an array from gemba_store_count_test_frames_per_source(). */
GEMBA_API void gemba_source_test_counts_free (GArray *counts);

/* --- Statistics and audit --------------------------------------------------------------- */

GEMBA_API gboolean gemba_store_get_stats (GembaStore *self, GembaStats *stats, GError **error);
typedef struct {
  gint64 class_id;
  gint64 count;
} GembaClassCount;

/* Labeled frames per class, in class order, retired classes included, in @split (a
 * GembaSplit) or, with -1, in every split. Array of GembaClassCount. */
GEMBA_API GArray *gemba_store_count_labels_per_class (GembaStore *self, int split,
                                                      GError **error);
/* Appends an audit entry: @action ("promote", "export", …), @subject, @detail (JSON or NULL). */
GEMBA_API gboolean gemba_store_audit (GembaStore *self, const char *action, const char *subject,
                                      const char *detail, GError **error);

/* --- Value types ------------------------------------------------------------------------ */

GEMBA_API void gemba_class_free (GembaClass *klass);
GEMBA_API GembaClass *gemba_class_copy (const GembaClass *klass);
GEMBA_API void gemba_source_free (GembaSource *source);
GEMBA_API void gemba_frame_package_free (GembaFramePackage *package);
GEMBA_API void gemba_frame_free (GembaFrame *frame);
GEMBA_API GembaFrame *gemba_frame_copy (const GembaFrame *frame);
GEMBA_API void gemba_label_free (GembaLabel *label);
GEMBA_API void gemba_lease_free (GembaLease *lease);
GEMBA_API const char *gemba_split_to_string (GembaSplit split);   /* "train", …, "none" */
GEMBA_API const char *gemba_label_kind_to_string (GembaLabelKind kind);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaClass, gemba_class_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaSource, gemba_source_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaFramePackage, gemba_frame_package_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaFrame, gemba_frame_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaLabel, gemba_label_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (GembaLease, gemba_lease_free)

G_END_DECLS
