/* Private to src/monitor: helpers shared by the statistics and the report. */
#ifndef SKIFF_MONITOR_INT_H
#define SKIFF_MONITOR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skiff/monitor.h"

struct skiff_err;

/* Sorted copy of x[n] (ascending). Caller frees *out. */
int monitor__sorted(const double *x, size_t n, double **out, struct skiff_err *err);
/* Sorts x[n] in place (ascending; no NaN), with one n-sized scratch array. */
int monitor__sort(double *x, size_t n, struct skiff_err *err);
/* Number of distinct values of a sorted array. */
size_t monitor__distinct(const double *s, size_t n);
/* Distinct values of sorted r and c together (union). */
size_t monitor__distinct_union(const double *rs, size_t nr, const double *cs, size_t nc);
/* The same, counting no further than `limit` (the default test only asks
 * whether there are more than 5). */
size_t monitor__distinct_union_upto(const double *rs, size_t nr, const double *cs, size_t nc,
                                    size_t limit);

/* Runs test t on samples already cleaned and sorted ascending (the report
 * sorts each column once for every use). */
int monitor__test_sorted(enum skiff_mon_test t, enum skiff_mon_kind kind, const double *rs,
                         size_t nr, const double *cs, size_t nc, double *score,
                         struct skiff_err *err);

/* ---- datasets (data.c, payload.c) ---- */

struct data_col {
    char *name;
    double *num;          /* nrows values: numbers (NaN when missing); for a
                             text column the codes of its labels instead */
    bool text;            /* some non-missing cell is not a number */
    size_t bad_line;      /* the first such cell's line ... */
    size_t bad_member;    /* ... in this file of a folder (files[]) ... */
    char bad[64];         /* ... and its value, cut */
    char **str;           /* payload logs while reading: a string value per row */
    char **labels;        /* text columns (and numeric ones made categorical):
                             labels[code], owned */
    size_t nlabels;
    double *codes;        /* a numeric column made categorical: its codes, owned */
    bool ranked;          /* codes renumbered by skiff_mon_columns (once) */
};

struct skiff_mon_data {
    char *name;           /* the file or folder, for errors */
    size_t nrows, ncols, cap;
    struct data_col *cols;
    char **files;         /* a folder's files in the order read, owned; else NULL */
    size_t nfiles;
    const char *cur;      /* while reading: the file being read (errors name it) */
    size_t member;        /* ... and its index in files */
};

/* ---- input of the CSV reader (input.c) ----
 * Text in memory, a file, or a folder of *.csv / *.csv.gz files in name
 * order ("members"); each file plain or gzip by its content. Reads stop at
 * the end of each member: the reader then reads the next one's header. */
struct gzFile_s;
struct monitor__input {
    const char *path;          /* as given: the file, the folder, or the text's name */
    const char *name;          /* the member being read (errors name it) */
    char **files;              /* a folder's members, sorted, owned; NULL otherwise */
    size_t nfiles, member;
    int fd;                    /* -1 when none */
    struct gzFile_s *gz;       /* when the member is gzip */
    const char *text;          /* text in memory (no fd) */
    size_t text_len, text_pos;
    size_t total, max;         /* bytes handed out (decompressed), the cap */
};
void monitor__input_text(struct monitor__input *in, const char *text, size_t len,
                         const char *name);
/* Opens a file or a folder (its first member). SKIFF_ENOTFOUND, SKIFF_EIO,
 * SKIFF_EINVAL (not a file; a folder without CSV files), SKIFF_ETOOBIG.
 * Close with monitor__input_close, also after an error. */
int monitor__input_open(struct monitor__input *in, const char *path, size_t max,
                        struct skiff_err *err);
/* Up to n bytes of the current member; *got 0 at its end. A corrupt or
 * truncated gzip member is SKIFF_EPARSE naming it; more than max bytes in
 * all SKIFF_ETOOBIG. */
int monitor__input_read(struct monitor__input *in, char *dst, size_t n, size_t *got,
                        struct skiff_err *err);
/* Opens the next member; *more false (and nothing done) after the last. */
int monitor__input_next(struct monitor__input *in, bool *more, struct skiff_err *err);
/* Back to the start of the first member. */
int monitor__input_rewind(struct monitor__input *in, struct skiff_err *err);
void monitor__input_close(struct monitor__input *in);

/* Distinct strings by hashing (open addressing, FNV-1a), ids in order of
 * first appearance: sorting every cell's string with strcmp was the
 * largest cost at a million rows. New keys are copied (owned by the set). */
struct monitor__labelset {
    const char **keys;   /* slots: NULL when empty */
    size_t *ids;
    size_t cap, n;
    const char **labels; /* labels[id] */
};
/* The id of s, added when new; -1 when out of memory. */
long monitor__labelset_put(struct monitor__labelset *t, const char *s);
void monitor__labelset_release(struct monitor__labelset *t);
/* Moves the labels into col->labels / nlabels (the set keeps none).
 * SKIFF_ENOMEM. */
int monitor__labelset_keep(struct monitor__labelset *t, struct data_col *col);

/* pandas' missing markers and the empty cell. */
bool monitor__is_missing(const char *s, size_t n);
/* A whole cell as a number (NaN when missing); false when it is text. */
bool monitor__parse_cell(const char *s, size_t n, double *v);
/* Column index by name, -1 when absent. */
long monitor__data_col(const struct skiff_mon_data *d, const char *name);
const char *monitor__data_name(const struct skiff_mon_data *d);   /* borrowed */
const double *monitor__data_num(const struct skiff_mon_data *d, size_t c);   /* borrowed */
bool monitor__data_is_text(const struct skiff_mon_data *d, size_t c);
/* SKIFF_EPARSE naming the first text cell of column c: file:line, value. */
int monitor__data_text_error(const struct skiff_mon_data *d, size_t c, struct skiff_err *err);
/* v as pandas' str() shows it in an integer column (int_col: "3") or a
 * float one ("3.0", "0.25": the shortest digits that read back). */
void monitor__num_label(double v, bool int_col, char *out, size_t n);
/* Column c as categorical codes over its labels (text columns: as read;
 * numeric ones: each distinct number written as pandas' str() would, "1"
 * for an integer column, "1.0" / "0.25" for a float one). Borrowed from d.
 * *codes may be renumbered in place by the caller (then mark it ranked). */
int monitor__data_codes(struct skiff_mon_data *d, size_t c, double **codes, char ***labels,
                        size_t *nlabels, bool **ranked, struct skiff_err *err);

/* ---- the controller (controller.c, routes.c) ---- */

struct skiff_kind;
struct skiff_store *monitor__store(const struct skiff_mon_controller *c);
struct skiff_blob *monitor__blob(const struct skiff_mon_controller *c);
const struct skiff_kind *monitor__kind(const struct skiff_mon_controller *c);
/* A run as the API shows it; drift < 0 for a failed run. Takes `columns`
 * over (may be NULL). New reference, NULL when out of memory. */
json_t *monitor__run_json(const char *monitor, int64_t id, const char *trigger, int64_t started,
                          int64_t ended, const char *phase, int drift, double share,
                          int64_t ncols, int64_t ndrift, int64_t nref, int64_t ncur,
                          const char *message, json_t *columns);

#endif
