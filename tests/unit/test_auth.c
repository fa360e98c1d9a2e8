/* Unit tests for src/auth: key file, token issue/verify, scopes, JWKS, token
 * files. Each test gets its own SKIFF_HOME under /tmp (removed afterwards).
 * Tokens that skiff would never issue (alg "none", wrong issuer, ...) are
 * forged here with the secret key read from the key file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth_int.h"
#include "skiff/auth.h"
#include "skiff/buf.h"
#include "skiff/err.h"

struct fixture {
    char home[64];
    char key_path[PATH_MAX];
    struct skiff_auth *auth;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct skiff_err err = SKIFF_ERR_INIT;
    if (!f)
        return -1;
    if (!test_tmpdir(f->home, sizeof f->home, "auth"))
        return -1;
    snprintf(f->key_path, sizeof f->key_path, "%s/signing.key", f->home);
    if (skiff_auth_open(f->home, &f->auth, &err) != 0) {
        fprintf(stderr, "skiff_auth_open: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    skiff_auth_free(f->auth);
    test_rmtree(f->home);
    free(f);
    return 0;
}

/* ---- helpers ---- */

static void read_key(const struct fixture *f, unsigned char sk[crypto_sign_SECRETKEYBYTES])
{
    int fd = open(f->key_path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, sk, crypto_sign_SECRETKEYBYTES), crypto_sign_SECRETKEYBYTES);
    close(fd);
}

/* A token with the given header and payload JSON, signed with the fixture's
 * key (so only the checks after the signature can refuse it). Caller frees. */
static char *forge(const struct fixture *f, const char *header, const char *payload)
{
    unsigned char sk[crypto_sign_SECRETKEYBYTES], sig[crypto_sign_BYTES];
    struct skiff_buf b = SKIFF_BUF_INIT;

    read_key(f, sk);
    assert_int_equal(auth__b64url_encode(&b, header, strlen(header)), 0);
    assert_int_equal(skiff_buf_putc(&b, '.'), 0);
    assert_int_equal(auth__b64url_encode(&b, payload, strlen(payload)), 0);
    crypto_sign_detached(sig, NULL, (const unsigned char *)b.ptr, b.len, sk);
    assert_int_equal(skiff_buf_putc(&b, '.'), 0);
    assert_int_equal(auth__b64url_encode(&b, sig, sizeof sig), 0);
    return skiff_buf_detach(&b);
}

/* Decodes part `idx` (0..2) of a token into a malloc'd NUL-terminated string. */
static char *token_part(const char *token, int idx)
{
    const char *p = token, *end;
    unsigned char *out;
    size_t n;
    for (int i = 0; i < idx; i++)
        p = strchr(p, '.') + 1;
    end = strchr(p, '.');
    n = end ? (size_t)(end - p) : strlen(p);
    out = malloc(AUTH__B64URL_DECODED_MAX(n) + 1);
    assert_non_null(out);
    assert_int_equal(auth__b64url_decode(p, n, out, AUTH__B64URL_DECODED_MAX(n), &n), 0);
    out[n] = '\0';
    return (char *)out;
}

static void expect_unauth(const struct fixture *f, const char *token, int64_t now,
                          const char *reason)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_auth_claims c;
    assert_int_equal(skiff_auth_verify(f->auth, token, now, &c, &err), SKIFF_EUNAUTH);
    if (!strstr(err.msg, reason))
        fail_msg("want '%s' in '%s'", reason, err.msg);
    assert_string_equal(c.sub, "");  /* nothing half-filled on failure */
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

/* ---- tests ---- */

static void test_b64url(void **state)
{
    /* RFC 4648 section 10 vectors, without padding */
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    unsigned char out[16];
    size_t n;

    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++) {
        struct skiff_buf b = SKIFF_BUF_INIT;
        assert_int_equal(auth__b64url_encode(&b, plain[i], strlen(plain[i])), 0);
        assert_string_equal(b.ptr, enc[i]);
        assert_int_equal(auth__b64url_decode(enc[i], strlen(enc[i]), out, sizeof out, &n), 0);
        assert_int_equal(n, strlen(plain[i]));
        assert_memory_equal(out, plain[i], n);
        skiff_buf_release(&b);
    }
    /* the URL alphabet: 0xfb 0xff -> "-_8" (standard base64 would be "+/8") */
    {
        struct skiff_buf b = SKIFF_BUF_INIT;
        assert_int_equal(auth__b64url_encode(&b, "\xfb\xff", 2), 0);
        assert_string_equal(b.ptr, "-_8");
        skiff_buf_release(&b);
    }
    static const char *bad[] = {"Zg==", "Zh", "Z", "Zm9v+A", "Zm9v/A", "Zm 9v", "Zm9\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(auth__b64url_decode(bad[i], strlen(bad[i]), out, sizeof out, &n), -1);
    /* output buffer too small */
    assert_int_equal(auth__b64url_decode("Zm9vYmFy", 8, out, 5, &n), -1);
}

static void test_issue_verify_round_trip(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_auth_claims c;
    char *token = NULL, *hdr, *payload, want_hdr[128];
    struct skiff_buf jwks = SKIFF_BUF_INIT;
    json_t *j;
    int64_t now = time(NULL);

    assert_int_equal(skiff_auth_issue(f->auth, "system:serviceaccount:trainer",
                                      "tracking:write features:read", 3600, &token, &err), 0);
    assert_int_equal(skiff_auth_verify(f->auth, token, now, &c, &err), 0);
    assert_string_equal(c.sub, "system:serviceaccount:trainer");
    assert_string_equal(c.scope, "tracking:write features:read");
    assert_true(c.iat >= now - 1 && c.iat <= now + 1);
    assert_int_equal(c.exp, c.iat + 3600);
    assert_int_equal(strlen(c.jti), 32);
    assert_int_equal(strspn(c.jti, "0123456789abcdef"), 32);

    /* the header is exactly the documented one, kid matching the JWKS */
    assert_int_equal(skiff_auth_jwks(f->auth, &jwks), 0);
    j = json_loads(jwks.ptr, 0, NULL);
    assert_non_null(j);
    snprintf(want_hdr, sizeof want_hdr, "{\"alg\":\"EdDSA\",\"typ\":\"JWT\",\"kid\":\"%s\"}",
             json_string_value(json_object_get(json_array_get(json_object_get(j, "keys"), 0),
                                               "kid")));
    hdr = token_part(token, 0);
    assert_string_equal(hdr, want_hdr);
    payload = token_part(token, 1);
    assert_non_null(strstr(payload, "\"iss\":\"skiff\""));

    /* a second token differs (jti) and verifies too */
    {
        char *t2 = NULL;
        struct skiff_auth_claims c2;
        assert_int_equal(skiff_auth_issue(f->auth, "a", "", 60, &t2, &err), 0);
        assert_int_equal(skiff_auth_verify(f->auth, t2, now, &c2, &err), 0);
        assert_string_not_equal(c.jti, c2.jti);
        assert_string_equal(c2.scope, "");
        free(t2);
    }
    json_decref(j);
    skiff_buf_release(&jwks);
    free(hdr);
    free(payload);
    free(token);
}

static void test_issue_rejects_bad_input(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    char *token = NULL, big[2000];

    assert_int_equal(skiff_auth_issue(f->auth, "", "admin", 60, &token, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_auth_issue(f->auth, "x", "admin", 0, &token, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_auth_issue(f->auth, "x", "admin", INT64_MAX, &token, &err),
                     SKIFF_EINVAL);
    assert_int_equal(skiff_auth_issue(f->auth, "bad\xff", "admin", 60, &token, &err),
                     SKIFF_EINVAL);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(skiff_auth_issue(f->auth, "x", big, 60, &token, &err), SKIFF_EINVAL);
    assert_null(token);
}

static void test_expired(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_auth_claims c;
    char *token = NULL;

    assert_int_equal(skiff_auth_issue(f->auth, "sa", "admin", 60, &token, &err), 0);
    assert_int_equal(skiff_auth_verify(f->auth, token, time(NULL), &c, &err), 0);
    assert_int_equal(skiff_auth_verify(f->auth, token, c.exp - 1, &c, &err), 0);
    expect_unauth(f, token, c.exp, "token expired");
    expect_unauth(f, token, (int64_t)time(NULL) + 61, "token expired");
    free(token);
}

static void test_tampered(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf b = SKIFF_BUF_INIT;
    char *token = NULL, *payload, *sig, *p;
    int64_t now = time(NULL);

    assert_int_equal(skiff_auth_issue(f->auth, "sa", "features:read", 60, &token, &err), 0);
    /* raise the scope in the payload, keep header and signature */
    payload = token_part(token, 1);
    p = strstr(payload, "features:read");
    assert_non_null(p);
    memcpy(p, "admin        ", 13);
    assert_int_equal(skiff_buf_append(&b, token, (size_t)(strchr(token, '.') - token)), 0);
    assert_int_equal(skiff_buf_putc(&b, '.'), 0);
    assert_int_equal(auth__b64url_encode(&b, payload, strlen(payload)), 0);
    assert_int_equal(skiff_buf_puts(&b, strrchr(token, '.')), 0);
    expect_unauth(f, b.ptr, now, "bad signature");

    /* flip a bit of the signature (first character: no unused bits there) */
    sig = strrchr(token, '.') + 1;
    sig[0] = sig[0] == 'A' ? 'B' : 'A';
    expect_unauth(f, token, now, "bad signature");
    /* a signature of the wrong length */
    strcpy(sig, "AAAA");
    expect_unauth(f, token, now, "bad signature");

    skiff_buf_release(&b);
    free(payload);
    free(token);
}

static void test_other_key(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_auth *other = NULL;
    char home[] = "/tmp/skiff-test-auth2-XXXXXX", *token = NULL;

    assert_non_null(mkdtemp(home));
    assert_int_equal(skiff_auth_open(home, &other, &err), 0);
    assert_int_equal(skiff_auth_issue(other, "sa", "admin", 60, &token, &err), 0);
    expect_unauth(f, token, time(NULL), "bad signature");
    free(token);
    skiff_auth_free(other);
    test_rmtree(home);
}

static void test_forged_headers(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_auth_claims c;
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    struct skiff_buf b = SKIFF_BUF_INIT;
    char payload[256], *t;
    int64_t now = time(NULL);

    snprintf(payload, sizeof payload,
             "{\"iss\":\"skiff\",\"sub\":\"evil\",\"scope\":\"admin\",\"exp\":%lld}",
             (long long)now + 600);
    /* sanity: the forger makes tokens that verify */
    t = forge(f, "{\"alg\":\"EdDSA\"}", payload);
    assert_int_equal(skiff_auth_verify(f->auth, t, now, &c, &err), 0);
    assert_string_equal(c.sub, "evil");
    assert_int_equal(c.iat, 0);
    free(t);

    /* alg none: even with a valid-looking signature part */
    t = forge(f, "{\"alg\":\"none\",\"typ\":\"JWT\"}", payload);
    expect_unauth(f, t, now, "unsupported algorithm 'none'");
    *(strrchr(t, '.') + 1) = '\0';  /* the usual "none" form: empty signature */
    expect_unauth(f, t, now, "malformed token");
    free(t);

    /* HS256 keyed with the public key: the classic algorithm confusion */
    read_key(f, sk);
    memcpy(pk, sk + 32, sizeof pk);
    assert_int_equal(auth__b64url_encode(&b, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", 27), 0);
    assert_int_equal(skiff_buf_putc(&b, '.'), 0);
    assert_int_equal(auth__b64url_encode(&b, payload, strlen(payload)), 0);
    {
        crypto_auth_hmacsha256_state st;
        crypto_auth_hmacsha256_init(&st, pk, sizeof pk);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)b.ptr, b.len);
        crypto_auth_hmacsha256_final(&st, mac);
    }
    assert_int_equal(skiff_buf_putc(&b, '.'), 0);
    assert_int_equal(auth__b64url_encode(&b, mac, sizeof mac), 0);
    expect_unauth(f, b.ptr, now, "unsupported algorithm 'HS256'");
    skiff_buf_release(&b);

    /* other header trouble */
    t = forge(f, "{\"typ\":\"JWT\"}", payload);
    expect_unauth(f, t, now, "malformed token");
    free(t);
    t = forge(f, "{\"alg\":\"eddsa\"}", payload);
    expect_unauth(f, t, now, "unsupported algorithm 'eddsa'");
    free(t);
    t = forge(f, "{\"alg\":\"x\\n\\u001b[31m\"}", payload);  /* quoted safely */
    expect_unauth(f, t, now, "unsupported algorithm 'x??[31m'");
    free(t);
    t = forge(f, "{\"alg\":\"EdDSA\",\"crit\":[\"b64\"]}", payload);
    expect_unauth(f, t, now, "malformed token");
    free(t);
    t = forge(f, "{\"alg\":\"EdDSA\",\"alg\":\"none\"}", payload);
    expect_unauth(f, t, now, "malformed token");
    free(t);
    t = forge(f, "[\"EdDSA\"]", payload);
    expect_unauth(f, t, now, "malformed token");
    free(t);
}

static void test_forged_claims(void **state)
{
    struct fixture *f = *state;
    char payload[2048], *t, longsub[400];
    int64_t now = time(NULL);
    /* 4102444800 is 2100-01-01: only the named defect can refuse these */
    static const char *bad_claims[] = {
        "{\"iss\":\"skiff\",\"exp\":4102444800}",                  /* no sub */
        "{\"iss\":\"skiff\",\"sub\":\"a\"}",                       /* no exp */
        "{\"iss\":\"skiff\",\"sub\":\"a\",\"exp\":\"4102444800\"}", /* exp a string */
        "{\"iss\":\"skiff\",\"sub\":\"a\",\"exp\":4.1e9}",         /* exp a real */
        "{\"iss\":\"skiff\",\"sub\":7,\"exp\":4102444800}",         /* sub a number */
        "{\"iss\":\"skiff\",\"sub\":\"a\",\"scope\":[],\"exp\":4102444800}",
        "[1,2]",
        "not json",
    };

    snprintf(payload, sizeof payload, "{\"iss\":\"other\",\"sub\":\"a\",\"exp\":%lld}",
             (long long)now + 60);
    t = forge(f, "{\"alg\":\"EdDSA\"}", payload);
    expect_unauth(f, t, now, "wrong issuer");
    free(t);
    snprintf(payload, sizeof payload, "{\"sub\":\"a\",\"exp\":%lld}", (long long)now + 60);
    t = forge(f, "{\"alg\":\"EdDSA\"}", payload);
    expect_unauth(f, t, now, "wrong issuer");
    free(t);

    for (size_t i = 0; i < sizeof bad_claims / sizeof *bad_claims; i++) {
        t = forge(f, "{\"alg\":\"EdDSA\"}", bad_claims[i]);
        expect_unauth(f, t, now, "malformed token");
        free(t);
    }
    /* a subject longer than struct skiff_auth_claims can hold */
    memset(longsub, 'a', sizeof longsub - 1);
    longsub[sizeof longsub - 1] = '\0';
    snprintf(payload, sizeof payload, "{\"iss\":\"skiff\",\"sub\":\"%s\",\"exp\":%lld}", longsub,
             (long long)now + 60);
    t = forge(f, "{\"alg\":\"EdDSA\"}", payload);
    expect_unauth(f, t, now, "malformed token");
    free(t);
}

static void test_malformed(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_auth_claims c;
    char *token = NULL, *huge, buf[4096];
    int64_t now = time(NULL);
    static const char *bad[] = {
        "", ".", "..", "a.b", "a.b.c.d", "abc", "!!!.eyJ9.AAAA", "eyJ=.eyJ9.AAAA",
        "eyJhbGciOiJFZERTQSJ9..AAAA", ".eyJ9.AAAA", "eyJ9.eyJ9.",
        "e30.e30.AAAA",  /* {} . {} : no alg */
    };

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_unauth(f, bad[i], now, "malformed token");
    assert_int_equal(skiff_auth_verify(f->auth, NULL, now, &c, &err), SKIFF_EUNAUTH);

    /* a real token with a bad character in the signature part */
    assert_int_equal(skiff_auth_issue(f->auth, "sa", "admin", 60, &token, &err), 0);
    snprintf(buf, sizeof buf, "%s", token);
    buf[strlen(buf) - 1] = '=';
    expect_unauth(f, buf, now, "bad signature");
    /* trailing whitespace is not ours to forgive */
    snprintf(buf, sizeof buf, "%s ", token);
    expect_unauth(f, buf, now, "bad signature");

    /* huge: past the cap, refused before any decoding */
    huge = malloc(1 << 20);
    assert_non_null(huge);
    memset(huge, 'A', (1 << 20) - 1);
    huge[(1 << 20) - 1] = '\0';
    memcpy(huge, token, strlen(token));
    expect_unauth(f, huge, now, "longer than 8192 bytes");
    free(huge);
    free(token);
}

static void test_allows(void **state)
{
    struct skiff_auth_claims c = {0};
    strcpy(c.scope, "features:read  tracking:*  serving:predict");
    assert_true(skiff_auth_allows(&c, "features:read"));
    assert_false(skiff_auth_allows(&c, "features:write"));
    assert_false(skiff_auth_allows(&c, "features"));
    assert_true(skiff_auth_allows(&c, "tracking:write"));
    assert_true(skiff_auth_allows(&c, "tracking:runs:write"));
    assert_false(skiff_auth_allows(&c, "tracking:"));
    assert_false(skiff_auth_allows(&c, "tracking"));
    assert_false(skiff_auth_allows(&c, "trackingx:write"));
    assert_true(skiff_auth_allows(&c, "serving:predict"));
    assert_false(skiff_auth_allows(&c, "serving:predic"));
    assert_false(skiff_auth_allows(&c, "admin"));
    assert_false(skiff_auth_allows(&c, ""));
    assert_false(skiff_auth_allows(&c, NULL));
    assert_false(skiff_auth_allows(NULL, "features:read"));

    strcpy(c.scope, "admin");
    assert_true(skiff_auth_allows(&c, "anything:at-all"));
    assert_true(skiff_auth_allows(&c, "admin"));
    strcpy(c.scope, "administrator *");
    assert_false(skiff_auth_allows(&c, "features:read"));
    strcpy(c.scope, "");
    assert_false(skiff_auth_allows(&c, "features:read"));
    strcpy(c.scope, "a:read admin");
    assert_true(skiff_auth_allows(&c, "b:write"));
}

static void test_key_file_and_jwks(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf a = SKIFF_BUF_INIT, b = SKIFF_BUF_INIT;
    struct skiff_auth *again = NULL;
    unsigned char sk[crypto_sign_SECRETKEYBYTES], x[40];
    size_t xn;
    struct stat st;
    json_t *j, *keys, *k;

    assert_int_equal(stat(f->key_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, crypto_sign_SECRETKEYBYTES);

    assert_int_equal(skiff_auth_jwks(f->auth, &a), 0);
    assert_int_equal(skiff_auth_open(f->home, &again, &err), 0);
    assert_int_equal(skiff_auth_jwks(again, &b), 0);
    assert_string_equal(a.ptr, b.ptr);

    /* tokens of one handle verify with the other */
    {
        char *t = NULL;
        struct skiff_auth_claims c;
        assert_int_equal(skiff_auth_issue(again, "sa", "admin", 60, &t, &err), 0);
        assert_int_equal(skiff_auth_verify(f->auth, t, time(NULL), &c, &err), 0);
        free(t);
    }

    j = json_loads(a.ptr, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(j);
    keys = json_object_get(j, "keys");
    assert_true(json_is_array(keys));
    assert_int_equal(json_array_size(keys), 1);
    k = json_array_get(keys, 0);
    assert_int_equal(json_object_size(k), 6);
    assert_string_equal(json_string_value(json_object_get(k, "kty")), "OKP");
    assert_string_equal(json_string_value(json_object_get(k, "crv")), "Ed25519");
    assert_string_equal(json_string_value(json_object_get(k, "alg")), "EdDSA");
    assert_string_equal(json_string_value(json_object_get(k, "use")), "sig");
    assert_int_equal(strlen(json_string_value(json_object_get(k, "kid"))), 11);
    /* x is the public half of the key file */
    read_key(f, sk);
    assert_int_equal(auth__b64url_decode(json_string_value(json_object_get(k, "x")),
                                         json_string_length(json_object_get(k, "x")), x,
                                         sizeof x, &xn), 0);
    assert_int_equal(xn, 32);
    assert_memory_equal(x, sk + 32, 32);
    /* kid = b64url(sha256(x)[0..8]) */
    {
        unsigned char h[crypto_hash_sha256_BYTES];
        struct skiff_buf kid = SKIFF_BUF_INIT;
        crypto_hash_sha256(h, x, 32);
        assert_int_equal(auth__b64url_encode(&kid, h, 8), 0);
        assert_string_equal(json_string_value(json_object_get(k, "kid")), kid.ptr);
        skiff_buf_release(&kid);
    }
    json_decref(j);
    skiff_buf_release(&a);
    skiff_buf_release(&b);
    skiff_auth_free(again);
    skiff_auth_free(NULL);
}

static void test_key_file_refused(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_auth *a = NULL;
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    char link_home[] = "/tmp/skiff-test-auth3-XXXXXX", link_path[PATH_MAX];

    /* group/other readable */
    assert_int_equal(chmod(f->key_path, 0644), 0);
    assert_int_equal(skiff_auth_open(f->home, &a, &err), SKIFF_EINVAL);
    assert_null(a);
    assert_non_null(strstr(err.msg, "chmod 600"));
    assert_non_null(strstr(err.msg, f->key_path));
    assert_int_equal(chmod(f->key_path, 0640), 0);
    assert_int_equal(skiff_auth_open(f->home, &a, &err), SKIFF_EINVAL);
    assert_int_equal(chmod(f->key_path, 0600), 0);
    assert_int_equal(skiff_auth_open(f->home, &a, &err), 0);
    skiff_auth_free(a);
    a = NULL;

    /* a damaged key: right size, public half not matching */
    read_key(f, sk);
    sk[40] ^= 1;
    {
        int fd = open(f->key_path, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, sk, sizeof sk), (ssize_t)sizeof sk);
        close(fd);
    }
    assert_int_equal(skiff_auth_open(f->home, &a, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "damaged"));

    /* wrong size */
    write_file(f->key_path, "short", 0600);
    assert_int_equal(skiff_auth_open(f->home, &a, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "has 5 bytes"));
    assert_null(a);

    /* a symlink is not followed */
    assert_non_null(mkdtemp(link_home));
    snprintf(link_path, sizeof link_path, "%s/signing.key", link_home);
    assert_int_equal(symlink(f->key_path, link_path), 0);
    assert_int_equal(skiff_auth_open(link_home, &a, &err), SKIFF_EINVAL);
    test_rmtree(link_home);

    /* a home that does not exist */
    assert_int_equal(skiff_auth_open("/nonexistent/skiff-home", &a, &err), SKIFF_EIO);
    assert_int_equal(skiff_auth_open("", &a, &err), SKIFF_EINVAL);
}

static void test_token_files(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    char path[PATH_MAX], *tok = NULL, *big;
    struct stat st;

    snprintf(path, sizeof path, "%s/job.token", f->home);
    umask(022);
    assert_int_equal(skiff_auth_write_token_file(path, "abc.def.ghi", &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 11);
    assert_int_equal(skiff_auth_read_token_file(path, &tok, &err), 0);
    assert_string_equal(tok, "abc.def.ghi");
    free(tok);
    /* replaced atomically: same path, new content, still 0600 */
    assert_int_equal(skiff_auth_write_token_file(path, "second", &err), 0);
    assert_int_equal(skiff_auth_read_token_file(path, &tok, &err), 0);
    assert_string_equal(tok, "second");
    free(tok);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* written by hand with whitespace around it */
    write_file(path, "  \tabc.def\r\n\n", 0600);
    assert_int_equal(skiff_auth_read_token_file(path, &tok, &err), 0);
    assert_string_equal(tok, "abc.def");
    free(tok);

    write_file(path, " \n", 0600);
    assert_int_equal(skiff_auth_read_token_file(path, &tok, &err), SKIFF_EINVAL);
    assert_null(tok);
    big = malloc(20000);
    assert_non_null(big);
    memset(big, 'x', 19999);
    big[19999] = '\0';
    write_file(path, big, 0600);
    assert_int_equal(skiff_auth_read_token_file(path, &tok, &err), SKIFF_ETOOBIG);
    assert_int_equal(skiff_auth_write_token_file(path, big, &err), SKIFF_ETOOBIG);
    free(big);
    unlink(path);
    assert_int_equal(skiff_auth_read_token_file(path, &tok, &err), SKIFF_ENOTFOUND);
    assert_int_equal(skiff_auth_write_token_file(path, "a b", &err), SKIFF_EINVAL);
    assert_int_equal(skiff_auth_write_token_file(path, "", &err), SKIFF_EINVAL);
    assert_int_equal(skiff_auth_write_token_file("/nonexistent/dir/t", "abc", &err), SKIFF_EIO);
    /* no temp files left behind */
    assert_int_equal(access(path, F_OK), -1);
    /* err may be NULL (the CLI probes token files that way) */
    assert_int_equal(skiff_auth_read_token_file(path, &tok, NULL), SKIFF_ENOTFOUND);
}

/* PyJWT (Debian python3-jwt with python3-cryptography), an independent
 * implementation, verifies our token with nothing but the published JWKS.
 * Where that python is not installed, libsodium does the same check from the
 * JWKS alone. */
static void test_third_party_verifies(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf jwks = SKIFF_BUF_INIT;
    char jwks_path[PATH_MAX], tok_path[PATH_MAX], cmd[3 * PATH_MAX], *token = NULL;
    json_t *j;
    unsigned char x[40], sig[80];
    size_t xn, sn;
    const char *dot;

    assert_int_equal(skiff_auth_issue(f->auth, "system:serviceaccount:ci", "tracking:*", 600,
                                      &token, &err), 0);
    assert_int_equal(skiff_auth_jwks(f->auth, &jwks), 0);

    j = json_loads(jwks.ptr, 0, NULL);
    const char *xs = json_string_value(json_object_get(json_array_get(json_object_get(j, "keys"),
                                                                      0), "x"));
    assert_int_equal(auth__b64url_decode(xs, strlen(xs), x, sizeof x, &xn), 0);
    dot = strrchr(token, '.');
    assert_int_equal(auth__b64url_decode(dot + 1, strlen(dot + 1), sig, sizeof sig, &sn), 0);
    assert_int_equal(sn, crypto_sign_BYTES);
    assert_int_equal(crypto_sign_verify_detached(sig, (const unsigned char *)token,
                                                 (size_t)(dot - token), x), 0);
    json_decref(j);

    if (system("/usr/bin/python3 -c 'import jwt, cryptography' >/dev/null 2>&1") == 0) {
        snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", f->home);
        snprintf(tok_path, sizeof tok_path, "%s/t.token", f->home);
        write_file(jwks_path, jwks.ptr, 0600);
        assert_int_equal(skiff_auth_write_token_file(tok_path, token, &err), 0);
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 -c '"
                 "import json, sys, jwt\n"
                 "from jwt.algorithms import OKPAlgorithm\n"
                 "k = json.load(open(sys.argv[1]))[\"keys\"][0]\n"
                 "c = jwt.decode(open(sys.argv[2]).read(), OKPAlgorithm.from_jwk(json.dumps(k)),"
                 " algorithms=[\"EdDSA\"], issuer=\"skiff\")\n"
                 "assert c[\"sub\"] == \"system:serviceaccount:ci\", c\n"
                 "assert c[\"scope\"] == \"tracking:*\", c\n"
                 "assert jwt.get_unverified_header(open(sys.argv[2]).read())[\"kid\"] == k[\"kid\"]\n"
                 "' '%s' '%s'",
                 jwks_path, tok_path);
        int st = system(cmd);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
    skiff_buf_release(&jwks);
    free(token);
}

static void test_workload_claim(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_auth_claims c;
    char *token = NULL, big[300];

    assert_int_equal(skiff_auth_issue_workload(f->auth, "system:serviceaccount:default",
                                               "tracking:*", "wf-uid-1/train", 60, &token, &err),
                     0);
    assert_int_equal(skiff_auth_verify(f->auth, token, time(NULL), &c, &err), 0);
    assert_string_equal(c.workload, "wf-uid-1/train");
    free(token);
    /* none given: the claim is absent and reads as "" */
    assert_int_equal(skiff_auth_issue(f->auth, "a", "x", 60, &token, &err), 0);
    assert_int_equal(skiff_auth_verify(f->auth, token, time(NULL), &c, &err), 0);
    assert_string_equal(c.workload, "");
    free(token);
    memset(big, 'w', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(skiff_auth_issue_workload(f->auth, "a", "x", big, 60, &token, &err),
                     SKIFF_EINVAL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64url),
        T(test_issue_verify_round_trip),
        T(test_issue_rejects_bad_input),
        T(test_expired),
        T(test_tampered),
        T(test_other_key),
        T(test_forged_headers),
        T(test_forged_claims),
        T(test_malformed),
        cmocka_unit_test(test_allows),
        T(test_workload_claim),
        T(test_key_file_and_jwks),
        T(test_key_file_refused),
        T(test_token_files),
        T(test_third_party_verifies),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
