/* Identity: one token issuer per platform, the local form of IRSA.
 *
 * The issuer's Ed25519 key lives in SKIFF_HOME/signing.key (mode 0600),
 * created on first start. Tokens are JWTs signed with EdDSA:
 *   header  {"alg":"EdDSA","typ":"JWT","kid":"<key id>"}
 *   claims  {"iss":"skiff","sub":"system:serviceaccount:admin","scope":"admin",
 *            "iat":1795770842,"exp":1798362842,"jti":"<random>"}
 * `scope` is space-separated (OAuth 2.0). A route's scope is granted by the
 * same scope string, by "<area>:*" for "<area>:<verb>", or by "admin".
 * The public key is published as a JWK Set at /.well-known/jwks.json.
 *
 * Thread-safety: a struct skiff_auth is immutable after skiff_auth_open;
 * issuing and verifying may run on any thread.
 */
#ifndef SKIFF_AUTH_H
#define SKIFF_AUTH_H

#include <stdbool.h>
#include <stdint.h>

struct skiff_buf;
struct skiff_err;
struct skiff_auth;

struct skiff_auth_claims {
    char sub[256];
    char scope[1024];
    char workload[256];    /* "<workflow uid>/<step>" for a step's token, else "" */
    char jti[64];
    int64_t iat, exp;      /* epoch seconds */
};

/* Loads SKIFF_HOME/signing.key, creating it (0600) when missing. A key file
 * with wrong size or looser permissions is an error (SKIFF_EINVAL) rather than
 * something to use. Caller frees with skiff_auth_free. */
int skiff_auth_open(const char *home, struct skiff_auth **out, struct skiff_err *err);
void skiff_auth_free(struct skiff_auth *a);

/* Issues a token for `sub` with `scope`, valid for ttl_s seconds. `*token`
 * is malloc'd: the caller frees it. */
int skiff_auth_issue(const struct skiff_auth *a, const char *sub, const char *scope,
                     int64_t ttl_s, char **token, struct skiff_err *err);

/* As skiff_auth_issue, for a process skiff started: `workload` (may be
 * NULL) names it, "<workflow uid>/<step>", in the claim "workload". Services
 * record it as lineage (a tracking run knows the step that created it), and
 * since the token is signed a step cannot claim another's work. */
int skiff_auth_issue_workload(const struct skiff_auth *a, const char *sub, const char *scope,
                              const char *workload, int64_t ttl_s, char **token,
                              struct skiff_err *err);

/* Verifies signature, algorithm, issuer and expiry (at time now_s, normally
 * time(NULL)); fills `out`. SKIFF_EUNAUTH with a reason ("token expired",
 * "bad signature", "malformed token") otherwise. */
int skiff_auth_verify(const struct skiff_auth *a, const char *token, int64_t now_s,
                      struct skiff_auth_claims *out, struct skiff_err *err);

/* Does the token's scope grant `required`? */
bool skiff_auth_allows(const struct skiff_auth_claims *c, const char *required);

/* Appends the JWK Set (one OKP/Ed25519 key) to out. */
int skiff_auth_jwks(const struct skiff_auth *a, struct skiff_buf *out);

/* Writes `token` to `path` with mode 0600 (atomically: temp file + rename). */
int skiff_auth_write_token_file(const char *path, const char *token, struct skiff_err *err);
/* Reads a token file (trailing whitespace stripped). Caller frees *token. */
int skiff_auth_read_token_file(const char *path, char **token, struct skiff_err *err);

#endif
