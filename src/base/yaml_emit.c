/* Emitting YAML: see include/skiff/yaml.h. */
#include "skiff/yaml.h"
#include "base/yaml_int.h"
#include "skiff/buf.h"
#include "skiff/err.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* ---- emitting (kubectl's -o yaml look) ----
 *
 *   metadata:               a mapping under a key is indented by two
 *     name: fraud-detector
 *   args:                   a sequence under a key is not ("- " at the key's column)
 *   - --features=x
 *   env:
 *   - name: A               a mapping in a sequence starts after "- "
 *     value: "1"            strings that would read as another type are quoted
 *   script: |-              multi-line strings are literal blocks
 *     print(1)
 */

/* YAML 1.1 readers (go-yaml v2 in kubectl) take these plain words as
 * booleans; quoting them keeps the file meaning one thing everywhere. */
static bool yaml11_bool(const char *s, size_t n)
{
    static const char *const words[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
                                        "on", "On", "ON", "off", "Off", "OFF", NULL};
    return yaml__is_word(s, n, words);
}

/* U+0085, U+2028, U+2029 (line breaks to some readers) and U+FEFF (a BOM). */
static bool special_unicode(const unsigned char *s, size_t n, size_t i)
{
    return (s[i] == 0xC2 && i + 1 < n && s[i + 1] == 0x85) ||
           (s[i] == 0xE2 && i + 2 < n && s[i + 1] == 0x80 &&
            (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)) ||
           (s[i] == 0xEF && i + 2 < n && s[i + 1] == 0xBB && s[i + 2] == 0xBF);
}

/* Printable on one line: no control characters, no special Unicode. */
static bool printable(const char *s, size_t n, bool allow_newline)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        if (u[i] == '\n' && allow_newline)
            continue;
        if (u[i] < 0x20 || u[i] == 0x7F || special_unicode(u, n, i))
            return false;
    }
    return true;
}

/* Can s be written without quotes and read back as the same string? The
 * test is deliberately stricter than YAML requires. */
static bool plain_ok(const char *s, size_t n)
{
    if (n == 0 || yaml__core_resolve(s, n) != YAML__CORE_STR || yaml11_bool(s, n) || !printable(s, n, false))
        return false;
    if (strchr("-?:,[]{}#&*!|>'\"%@` \t", s[0]) || s[n - 1] == ' ' || s[n - 1] == ':')
        return false;
    if ((n == 2 && s[0] == '<' && s[1] == '<') ||
        (n >= 3 && s[0] == '.' && s[1] == '.' && s[2] == '.'))
        return false;
    /* numbers in other notations (1_000, 1:20, 0b1, 2024-01-01, 1e3x): a
     * reader of another YAML version may take them for numbers or dates */
    if (((s[0] >= '0' && s[0] <= '9') ||
         (n > 1 && (s[0] == '+' || s[0] == '.') && s[1] >= '0' && s[1] <= '9')) &&
        yaml__all_in(s, n, "0123456789abcdefABCDEFxXoO_:.+-eE "))
        return false;
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] == ':' && s[i + 1] == ' ')
            return false;
        if (s[i] == ' ' && s[i + 1] == '#')
            return false;
    }
    return true;
}

static int emit_single_quoted(struct skiff_buf *out, const char *s, size_t n)
{
    int rc = skiff_buf_putc(out, '\'');
    for (size_t i = 0; !rc && i < n; i++)
        rc = s[i] == '\'' ? skiff_buf_puts(out, "''") : skiff_buf_putc(out, s[i]);
    return rc ? rc : skiff_buf_putc(out, '\'');
}

static int emit_double_quoted(struct skiff_buf *out, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    int rc = skiff_buf_putc(out, '"');
    for (size_t i = 0; !rc && i < n; i++) {
        switch (u[i]) {
        case '"': rc = skiff_buf_puts(out, "\\\""); break;
        case '\\': rc = skiff_buf_puts(out, "\\\\"); break;
        case '\n': rc = skiff_buf_puts(out, "\\n"); break;
        case '\t': rc = skiff_buf_puts(out, "\\t"); break;
        case '\r': rc = skiff_buf_puts(out, "\\r"); break;
        case '\0': rc = skiff_buf_puts(out, "\\0"); break;
        default:
            if (u[i] < 0x20 || u[i] == 0x7F) {
                rc = skiff_buf_appendf(out, "\\x%02x", u[i]);
            } else if (special_unicode(u, n, i)) {
                rc = skiff_buf_puts(out, u[i] == 0xC2 ? "\\N" : u[i] == 0xEF ? "\\uFEFF"
                                         : u[i + 2] == 0xA8 ? "\\L" : "\\P");
                i += u[i] == 0xC2 ? 1 : 2;
            } else {
                rc = skiff_buf_putc(out, (char)u[i]);
            }
        }
    }
    return rc ? rc : skiff_buf_putc(out, '"');
}

static int emit_string(struct skiff_buf *out, const char *s, size_t n)
{
    if (plain_ok(s, n))
        return skiff_buf_append(out, s, n);
    /* libfyaml 0.7.12 misreads two escaped quotes in a row ('a''''b' reads
     * as "a'''"), so a string with a quote in it goes in double quotes */
    if (printable(s, n, false) && !memchr(s, '\'', n))
        return emit_single_quoted(out, s, n);
    return emit_double_quoted(out, s, n);
}

/* A multi-line string as a literal block keeps its lines readable. Only
 * strings that surely read back the same: printable, not starting with a
 * blank or an empty line, no blank-only lines, at most one final newline. */
static bool literal_ok(const char *s, size_t n)
{
    if (n < 2 || !memchr(s, '\n', n) || !printable(s, n, true) || s[0] == ' ' || s[0] == '\n')
        return false;
    if (n >= 2 && s[n - 1] == '\n' && s[n - 2] == '\n')
        return false;
    for (size_t i = 0; i < n;) {           /* each line */
        size_t j = i;
        bool blank = true;
        for (; j < n && s[j] != '\n'; j++)
            if (s[j] != ' ')
                blank = false;
        if (blank && j > i)
            return false;
        i = j + 1;
    }
    return true;
}

static int pad(struct skiff_buf *out, int indent)
{
    int rc = 0;
    for (int i = 0; !rc && i < indent; i++)
        rc = skiff_buf_putc(out, ' ');
    return rc;
}

static int emit_literal(struct skiff_buf *out, const char *s, size_t n, int indent)
{
    int rc = skiff_buf_puts(out, s[n - 1] == '\n' ? "|\n" : "|-\n");
    for (size_t i = 0; !rc && i < n;) {
        size_t j = i;
        while (j < n && s[j] != '\n')
            j++;
        if (j > i && !(rc = pad(out, indent)))
            rc = skiff_buf_append(out, s + i, j - i);
        if (!rc)
            rc = skiff_buf_putc(out, '\n');
        i = j + 1;
    }
    return rc;
}

/* The shortest of %.15g..%.17g that reads back as the same double, with a
 * ".0" when it would otherwise read as an integer. */
static int emit_real(struct skiff_buf *out, double d)
{
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp - 2, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    if (!strpbrk(tmp, ".eE"))
        strcat(tmp, ".0");
    return skiff_buf_puts(out, tmp);
}

/* A scalar, an empty collection ({} / []), or a literal block whose lines
 * go at `indent`; followed by a newline. */
static int emit_scalar(struct skiff_buf *out, const json_t *v, int indent, bool block_ok)
{
    int rc;
    switch (json_typeof(v)) {
    case JSON_OBJECT: rc = skiff_buf_puts(out, "{}"); break;
    case JSON_ARRAY: rc = skiff_buf_puts(out, "[]"); break;
    case JSON_NULL: rc = skiff_buf_puts(out, "null"); break;
    case JSON_TRUE: rc = skiff_buf_puts(out, "true"); break;
    case JSON_FALSE: rc = skiff_buf_puts(out, "false"); break;
    case JSON_INTEGER:
        rc = skiff_buf_appendf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL: rc = emit_real(out, json_real_value(v)); break;
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (block_ok && literal_ok(s, n))
            return emit_literal(out, s, n, indent);
        rc = emit_string(out, s, n);
        break;
    }
    default: rc = SKIFF_EINVAL;
    }
    return rc ? rc : skiff_buf_putc(out, '\n');
}

static bool is_block(const json_t *v)
{
    return (json_is_object(v) && json_object_size(v) > 0) ||
           (json_is_array(v) && json_array_size(v) > 0);
}

static int emit_map(struct skiff_buf *out, const json_t *obj, int indent, bool first_inline);
static int emit_seq(struct skiff_buf *out, const json_t *arr, int indent, bool first_inline);

/* The value after "key:" of a key at `indent`. */
static int emit_after_key(struct skiff_buf *out, const json_t *v, int indent)
{
    int rc;
    if (json_is_object(v) && json_object_size(v) > 0)
        return (rc = skiff_buf_putc(out, '\n')) ? rc : emit_map(out, v, indent + 2, false);
    if (json_is_array(v) && json_array_size(v) > 0)
        return (rc = skiff_buf_putc(out, '\n')) ? rc : emit_seq(out, v, indent, false);
    return (rc = skiff_buf_putc(out, ' ')) ? rc : emit_scalar(out, v, indent + 2, true);
}

static int emit_map(struct skiff_buf *out, const json_t *obj, int indent, bool first_inline)
{
    const char *key;
    size_t keylen;
    json_t *v;
    bool first = true;
    int rc = 0;

    json_object_keylen_foreach((json_t *)obj, key, keylen, v) {
        if (!(first && first_inline))
            rc = pad(out, indent);
        first = false;
        /* YAML limits implicit keys to 1024 characters; longer ones take
         * the explicit "? key" form */
        if (!rc && keylen > 1000) {
            if (!(rc = skiff_buf_puts(out, "? ")) && !(rc = emit_double_quoted(out, key, keylen)) &&
                !(rc = skiff_buf_putc(out, '\n')))
                rc = pad(out, indent);
        } else if (!rc) {
            rc = emit_string(out, key, keylen);
        }
        if (!rc)
            rc = skiff_buf_putc(out, ':');
        if (!rc)
            rc = emit_after_key(out, v, indent);
        if (rc)
            return rc;
    }
    return 0;
}

static int emit_seq(struct skiff_buf *out, const json_t *arr, int indent, bool first_inline)
{
    size_t i;
    json_t *v;
    int rc = 0;

    json_array_foreach((json_t *)arr, i, v) {
        if (!(i == 0 && first_inline))
            rc = pad(out, indent);
        if (!rc)
            rc = skiff_buf_puts(out, "- ");
        if (!rc && json_is_object(v) && is_block(v))
            rc = emit_map(out, v, indent + 2, true);
        else if (!rc && is_block(v))
            rc = emit_seq(out, v, indent + 2, true);
        else if (!rc)
            rc = emit_scalar(out, v, indent + 2, true);
        if (rc)
            return rc;
    }
    return 0;
}

int skiff_yaml_emit(const json_t *v, struct skiff_buf *out)
{
    if (!v)
        return SKIFF_EINVAL;
    if (json_is_object(v) && is_block(v))
        return emit_map(out, v, 0, false);
    if (json_is_array(v) && is_block(v))
        return emit_seq(out, v, 0, false);
    /* a multi-line string at the top level stays quoted: a literal block
     * there could hold a line reading "---" */
    return emit_scalar(out, v, 0, false);
}
