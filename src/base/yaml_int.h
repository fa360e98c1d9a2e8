/* Private to the YAML reader and writer: the YAML 1.2 core schema, which
 * both need (the reader to type plain scalars, the writer to quote strings
 * that would otherwise read back as another type). */
#ifndef SKIFF_BASE_YAML_INT_H
#define SKIFF_BASE_YAML_INT_H

#include <stdbool.h>
#include <stddef.h>

enum yaml__core_type {
    YAML__CORE_STR, YAML__CORE_NULL, YAML__CORE_BOOL, YAML__CORE_INT, YAML__CORE_FLOAT,
    YAML__CORE_NONFINITE
};

/* The type a plain scalar s[n] resolves to (YAML 1.2.2, 10.3.2). */
enum yaml__core_type yaml__core_resolve(const char *s, size_t n);
/* Every byte of s[n] is in `set`. */
bool yaml__all_in(const char *s, size_t n, const char *set);
/* s[n] equals one of the NULL-terminated `words`. */
bool yaml__is_word(const char *s, size_t n, const char *const *words);

#endif
