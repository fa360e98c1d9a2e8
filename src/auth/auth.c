/* Token issuer and verifier: see include/skiff/auth.h.
 *
 * Invariants: a struct skiff_auth holds one Ed25519 key pair whose public
 * half matches its secret half (checked on load) and the key id derived from
 * it; nothing in it changes after skiff_auth_open, so issue and verify need
 * no lock. A token is accepted only when all of these hold, checked in this
 * order (cheap and unauthenticated checks first, the payload parsed only
 * after its signature is good):
 *   size <= AUTH__TOKEN_MAX, three non-empty base64url parts,
 *   header is a JSON object with alg "EdDSA" and no "crit",
 *   signature over "header.payload" verifies with our public key,
 *   payload is a JSON object with iss "skiff", string sub, exp > now.
 */
#include "auth/auth_int.h"
#include "skiff/auth.h"
#include "skiff/buf.h"
#include "skiff/err.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEY_FILE "signing.key"
#define ISSUER "skiff"
#define ALG "EdDSA"
/* base64url of 8 bytes: 11 characters */
#define KID_MAX 16

struct skiff_auth {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    char kid[KID_MAX];
};

/* ---- library setup ---- */

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_rc = -1;

static void sodium_setup(void)
{
    sodium_rc = sodium_init() < 0 ? -1 : 0;
}

static int crypto_ready(struct skiff_err *err)
{
    pthread_once(&sodium_once, sodium_setup);
    if (sodium_rc != 0)
        return skiff_err_set(err, SKIFF_EINTERNAL, "cannot initialise libsodium");
    return 0;
}

/* ---- key file ---- */

/* kid = base64url(first 8 bytes of SHA-256(public key)): short, stable for
 * the key, and different for a rotated one. */
static int make_kid(struct skiff_auth *a)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    struct skiff_buf b = SKIFF_BUF_INIT;
    int rc;

    crypto_hash_sha256(h, a->pk, sizeof a->pk);
    if ((rc = auth__b64url_encode(&b, h, 8)) == 0)
        skiff_strlcpy(a->kid, b.ptr, sizeof a->kid);
    skiff_buf_release(&b);
    return rc;
}

/* Reads and checks an existing key file. ENOENT comes back as
 * SKIFF_ENOTFOUND so the caller can create the key. */
static int load_key(struct skiff_auth *a, const char *path, struct skiff_err *err)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    struct stat st;
    size_t got = 0;
    int fd, rc = 0;

    /* O_NOFOLLOW: a symlink planted in SKIFF_HOME must not choose our key */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return skiff_err_set(err, SKIFF_ENOTFOUND, "no key file '%s'", path);
        return skiff_err_sys(err, errno == ELOOP ? SKIFF_EINVAL : SKIFF_EIO,
                             "cannot open key file '%s'", path);
    }
    if (fstat(fd, &st) != 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot stat key file '%s'", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "key file '%s' is not a regular file", path);
        goto out;
    }
    if (st.st_mode & 077) {
        rc = skiff_err_set(err, SKIFF_EINVAL,
                           "key file '%s' has mode %04o: group and others must have no access "
                           "(fix with: chmod 600 '%s')",
                           path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    if (st.st_size != (off_t)sizeof sk) {
        rc = skiff_err_set(err, SKIFF_EINVAL,
                           "key file '%s' has %lld bytes, want %zu (an Ed25519 secret key); "
                           "move it away to have a new key created",
                           path, (long long)st.st_size, sizeof sk);
        goto out;
    }
    while (got < sizeof sk) {
        ssize_t r = read(fd, sk + got, sizeof sk - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = r < 0 ? skiff_err_sys(err, SKIFF_EIO, "cannot read key file '%s'", path)
                       : skiff_err_set(err, SKIFF_EIO, "key file '%s' is truncated", path);
            goto out;
        }
        got += (size_t)r;
    }
    /* libsodium's secret key is seed || public key: recompute the pair from
     * the seed, so a damaged file is refused instead of signing garbage */
    if (crypto_sign_seed_keypair(pk, a->sk, sk) != 0 ||
        sodium_memcmp(a->sk, sk, sizeof sk) != 0) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "key file '%s' is damaged (public half does not "
                           "match the secret half)", path);
        goto out;
    }
    memcpy(a->pk, pk, sizeof pk);
out:
    sodium_memzero(sk, sizeof sk);
    close(fd);
    return rc;
}

static int create_key(const char *path, struct skiff_err *err)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    int rc;

    crypto_sign_keypair(pk, sk);
    rc = auth__write_file_atomic(path, sk, sizeof sk, false, err);
    sodium_memzero(sk, sizeof sk);
    /* another process created it first: use theirs */
    if (rc == SKIFF_EEXIST)
        rc = 0;
    return rc;
}

int skiff_auth_open(const char *home, struct skiff_auth **out, struct skiff_err *err)
{
    struct skiff_auth *a = NULL;
    char path[PATH_MAX];
    int rc;

    *out = NULL;
    if ((rc = crypto_ready(err)))
        return rc;
    if (!home || !*home)
        return skiff_err_set(err, SKIFF_EINVAL, "empty SKIFF_HOME");
    if ((size_t)snprintf(path, sizeof path, "%s/" KEY_FILE, home) >= sizeof path)
        return skiff_err_set(err, SKIFF_EINVAL, "path '%s' is too long", home);
    if (!(a = calloc(1, sizeof *a)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    rc = load_key(a, path, err);
    if (rc == SKIFF_ENOTFOUND) {
        if ((rc = create_key(path, err)) == 0)
            rc = load_key(a, path, err);
    }
    if (rc)
        goto out;
    if (make_kid(a) != 0) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    *out = a;
    a = NULL;
out:
    skiff_auth_free(a);
    return rc;
}

void skiff_auth_free(struct skiff_auth *a)
{
    if (!a)
        return;
    sodium_memzero(a, sizeof *a);
    free(a);
}

/* ---- issue ---- */

int skiff_auth_issue(const struct skiff_auth *a, const char *sub, const char *scope,
                     int64_t ttl_s, char **token, struct skiff_err *err)
{
    return skiff_auth_issue_workload(a, sub, scope, NULL, ttl_s, token, err);
}

int skiff_auth_issue_workload(const struct skiff_auth *a, const char *sub, const char *scope,
                              const char *workload, int64_t ttl_s, char **token,
                              struct skiff_err *err)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    struct skiff_auth_claims lim;
    unsigned char jti_raw[16], sig[crypto_sign_BYTES];
    char jti[2 * sizeof jti_raw + 1], hdr[128];
    char *claims = NULL;
    json_t *obj = NULL;
    int64_t now = (int64_t)time(NULL);
    int rc = 0;

    *token = NULL;
    /* what verify cannot hold in struct skiff_auth_claims must not be issued */
    if (!sub || !*sub || strlen(sub) >= sizeof lim.sub)
        return skiff_err_set(err, SKIFF_EINVAL, "token subject must be 1 to %zu bytes",
                             sizeof lim.sub - 1);
    if (!scope || strlen(scope) >= sizeof lim.scope)
        return skiff_err_set(err, SKIFF_EINVAL, "token scope for '%s' is longer than %zu bytes",
                             sub, sizeof lim.scope - 1);
    if (workload && strlen(workload) >= sizeof lim.workload)
        return skiff_err_set(err, SKIFF_EINVAL, "token workload for '%s' is longer than %zu bytes",
                             sub, sizeof lim.workload - 1);
    if (ttl_s <= 0 || ttl_s > INT64_MAX - now)
        return skiff_err_set(err, SKIFF_EINVAL, "token lifetime %lld s is out of range",
                             (long long)ttl_s);
    randombytes_buf(jti_raw, sizeof jti_raw);
    sodium_bin2hex(jti, sizeof jti, jti_raw, sizeof jti_raw);
    /* jansson refuses strings that are not UTF-8, so a bad sub cannot make
     * a token that no JSON parser reads */
    obj = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", ISSUER, "sub", sub, "scope", scope,
                    "iat", (json_int_t)now, "exp", (json_int_t)(now + ttl_s), "jti", jti);
    if (obj && workload && *workload &&
        json_object_set_new(obj, "workload", json_string(workload)) != 0) {
        json_decref(obj);
        obj = NULL;
    }
    if (!obj) {
        rc = skiff_err_set(err, SKIFF_EINVAL,
                           "token subject '%s', scope or workload is not valid UTF-8", sub);
        goto out;
    }
    if (!(claims = json_dumps(obj, JSON_COMPACT))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    /* header: fixed text, so one spelling for every token of this key */
    snprintf(hdr, sizeof hdr, "{\"alg\":\"" ALG "\",\"typ\":\"JWT\",\"kid\":\"%s\"}", a->kid);
    if ((rc = auth__b64url_encode(&b, hdr, strlen(hdr))) || (rc = skiff_buf_putc(&b, '.')) ||
        (rc = auth__b64url_encode(&b, claims, strlen(claims)))) {
        rc = skiff_err_set(err, rc, "out of memory");
        goto out;
    }
    crypto_sign_detached(sig, NULL, (const unsigned char *)b.ptr, b.len, a->sk);
    if ((rc = skiff_buf_putc(&b, '.')) || (rc = auth__b64url_encode(&b, sig, sizeof sig))) {
        rc = skiff_err_set(err, rc, "out of memory");
        goto out;
    }
    if (!(*token = skiff_buf_detach(&b)))
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
out:
    skiff_buf_release(&b);
    free(claims);
    json_decref(obj);
    return rc;
}

/* ---- verify ---- */

/* Copies at most n-1 printable ASCII characters of untrusted text into dst,
 * so a message quoting a token's field cannot inject control characters
 * into logs or responses. */
static const char *printable(const char *s, char *dst, size_t n)
{
    size_t o = 0;
    for (; *s && o + 1 < n; s++)
        dst[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    dst[o] = '\0';
    return dst;
}

/* Decodes one base64url part as a JSON object. NULL when it is not one. */
static json_t *decode_json_part(const char *p, size_t n)
{
    unsigned char raw[AUTH__B64URL_DECODED_MAX(AUTH__TOKEN_MAX)];
    size_t len;
    json_t *j;

    if (auth__b64url_decode(p, n, raw, sizeof raw, &len) != 0)
        return NULL;
    /* duplicate keys would let two parsers read two different tokens */
    j = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Copies a string claim into dst[n]; false if absent, not a string or too
 * long. */
static bool claim_str(json_t *claims, const char *key, char *dst, size_t n, bool required)
{
    json_t *v = json_object_get(claims, key);
    if (!v) {
        dst[0] = '\0';
        return !required;
    }
    return json_is_string(v) && json_string_length(v) < n &&
           strlen(json_string_value(v)) == json_string_length(v) &&
           skiff_strlcpy(dst, json_string_value(v), n);
}

static bool claim_int(json_t *claims, const char *key, int64_t *dst, bool required)
{
    json_t *v = json_object_get(claims, key);
    if (!v) {
        *dst = 0;
        return !required;
    }
    if (!json_is_integer(v))
        return false;
    *dst = (int64_t)json_integer_value(v);
    return true;
}

int skiff_auth_verify(const struct skiff_auth *a, const char *token, int64_t now_s,
                      struct skiff_auth_claims *out, struct skiff_err *err)
{
    unsigned char sig[crypto_sign_BYTES + 1];
    const char *dot1, *dot2, *alg;
    char shown[40];
    json_t *hdr = NULL, *claims = NULL;
    size_t len, siglen;
    int rc = 0;

    memset(out, 0, sizeof *out);
    if (!token)
        return skiff_err_set(err, SKIFF_EUNAUTH, "malformed token");
    len = strnlen(token, AUTH__TOKEN_MAX + 1);
    if (len > AUTH__TOKEN_MAX)
        return skiff_err_set(err, SKIFF_EUNAUTH, "malformed token (longer than %d bytes)",
                             AUTH__TOKEN_MAX);
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (!dot1 || !dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) ||
        dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == token + len)
        return skiff_err_set(err, SKIFF_EUNAUTH, "malformed token (want header.payload.signature)");

    if (!(hdr = decode_json_part(token, (size_t)(dot1 - token)))) {
        rc = skiff_err_set(err, SKIFF_EUNAUTH, "malformed token (bad header)");
        goto out;
    }
    /* the algorithm is ours to choose, never the token's: "none", HMAC with
     * the public key as secret and the rest are refused here */
    alg = json_string_value(json_object_get(hdr, "alg"));
    if (!alg) {
        rc = skiff_err_set(err, SKIFF_EUNAUTH, "malformed token (no alg in header)");
        goto out;
    }
    if (strcmp(alg, ALG) != 0) {
        rc = skiff_err_set(err, SKIFF_EUNAUTH, "unsupported algorithm '%s'",
                           printable(alg, shown, sizeof shown));
        goto out;
    }
    /* RFC 7515 4.1.11: extensions we do not know must not be ignored */
    if (json_object_get(hdr, "crit")) {
        rc = skiff_err_set(err, SKIFF_EUNAUTH, "malformed token (unsupported 'crit' header)");
        goto out;
    }
    if (auth__b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), sig, sizeof sig,
                            &siglen) != 0 || siglen != crypto_sign_BYTES) {
        rc = skiff_err_set(err, SKIFF_EUNAUTH, "bad signature");
        goto out;
    }
    if (crypto_sign_verify_detached(sig, (const unsigned char *)token, (size_t)(dot2 - token),
                                    a->pk) != 0) {
        rc = skiff_err_set(err, SKIFF_EUNAUTH, "bad signature");
        goto out;
    }

    if (!(claims = decode_json_part(dot1 + 1, (size_t)(dot2 - dot1 - 1)))) {
        rc = skiff_err_set(err, SKIFF_EUNAUTH, "malformed token (bad payload)");
        goto out;
    }
    {
        char iss[64];
        if (!claim_str(claims, "iss", iss, sizeof iss, true) || strcmp(iss, ISSUER) != 0) {
            rc = skiff_err_set(err, SKIFF_EUNAUTH, "wrong issuer");
            goto out;
        }
    }
    if (!claim_str(claims, "sub", out->sub, sizeof out->sub, true) ||
        !claim_str(claims, "scope", out->scope, sizeof out->scope, false) ||
        !claim_str(claims, "jti", out->jti, sizeof out->jti, false) ||
        !claim_str(claims, "workload", out->workload, sizeof out->workload, false) ||
        !claim_int(claims, "iat", &out->iat, false) || !claim_int(claims, "exp", &out->exp, true)) {
        rc = skiff_err_set(err, SKIFF_EUNAUTH, "malformed token (bad claims)");
        goto out;
    }
    if (out->exp <= now_s) {
        rc = skiff_err_set(err, SKIFF_EUNAUTH, "token expired");
        goto out;
    }
out:
    if (rc)
        memset(out, 0, sizeof *out);
    json_decref(hdr);
    json_decref(claims);
    return rc;
}

/* ---- scopes ---- */

/* Does one granted scope `g` (g[0..n)) cover `required`? */
static bool grant_covers(const char *g, size_t n, const char *required)
{
    size_t rl = strlen(required);

    if (n == 5 && memcmp(g, "admin", 5) == 0)
        return true;
    if (n == rl && memcmp(g, required, n) == 0)
        return true;
    /* "features:*" covers "features:read": same "features:" prefix, and
     * something after it */
    return n >= 2 && g[n - 2] == ':' && g[n - 1] == '*' && rl > n - 1 &&
           memcmp(g, required, n - 1) == 0;
}

bool skiff_auth_allows(const struct skiff_auth_claims *c, const char *required)
{
    const char *p;

    if (!c || !required || !*required)
        return false;
    for (p = c->scope; *p;) {
        size_t n = strcspn(p, " ");
        if (n && grant_covers(p, n, required))
            return true;
        p += n;
        while (*p == ' ')
            p++;
    }
    return false;
}

/* ---- JWK Set ---- */

int skiff_auth_jwks(const struct skiff_auth *a, struct skiff_buf *out)
{
    int rc;

    if ((rc = skiff_buf_puts(out, "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"")) ||
        (rc = auth__b64url_encode(out, a->pk, sizeof a->pk)))
        return rc;
    return skiff_buf_appendf(out, "\",\"kid\":\"%s\",\"alg\":\"" ALG "\",\"use\":\"sig\"}]}",
                             a->kid);
}
