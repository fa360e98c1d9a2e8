/* YAML (and JSON) documents as jansson trees, with positions.
 *
 * Input is parsed with libfyaml (YAML 1.2; JSON is accepted as YAML). Each
 * document becomes a json_t tree: plain scalars resolve by the YAML 1.2 core
 * schema (null ~, true/false, integers, floats; .inf/.nan, which JSON cannot
 * hold, are an error), quoted ones stay strings; anchors, aliases and "<<"
 * merge keys are expanded; a duplicate key is an error. The
 * parsed source is kept so that any node can be located by its JSON pointer
 * ("/spec/templates/3/name"), and so errors read
 *   pipeline.yaml:14:7: unknown template "trainer"
 */
#ifndef SKIFF_YAML_H
#define SKIFF_YAML_H

#include <jansson.h>
#include <stddef.h>

struct skiff_buf;
struct skiff_err;
struct skiff_yaml_docs;

/* Parses every document of `text` (len bytes; need not be NUL-terminated).
 * `name` is the file name used in errors. Empty documents are skipped.
 * Caller frees *out with skiff_yaml_free. A syntax error is SKIFF_EPARSE with
 * err->where/line/col set. */
int skiff_yaml_parse(const char *text, size_t len, const char *name,
                     struct skiff_yaml_docs **out, struct skiff_err *err);
/* As skiff_yaml_parse, reading the file at `path` (capped at 64 MiB). */
int skiff_yaml_load_file(const char *path, struct skiff_yaml_docs **out, struct skiff_err *err);
void skiff_yaml_free(struct skiff_yaml_docs *d);

size_t skiff_yaml_count(const struct skiff_yaml_docs *d);
/* The i-th document. Borrowed: valid until skiff_yaml_free. */
json_t *skiff_yaml_doc(const struct skiff_yaml_docs *d, size_t i);
const char *skiff_yaml_name(const struct skiff_yaml_docs *d);

/* 1-based line and column of the node at JSON pointer `ptr` in document i
 * ("" is the document itself). When the pointer names a key that is absent,
 * the nearest existing ancestor's position is given. Returns 0, or
 * SKIFF_ENOTFOUND when nothing of the path exists. */
int skiff_yaml_pos(const struct skiff_yaml_docs *d, size_t i, const char *ptr, int *line,
                   int *col);

/* Sets err to "name:line:col: <message>" for the node at `ptr` of document i.
 * Returns `code`. */
int skiff_yaml_err(const struct skiff_yaml_docs *d, size_t i, const char *ptr,
                   struct skiff_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Appends `v` as block-style YAML (kubectl's `-o yaml` look). */
int skiff_yaml_emit(const json_t *v, struct skiff_buf *out);

#endif
