/* base64url without padding (RFC 4648 section 5), as JWTs use it.
 *
 * Worked example: the bytes "Ma" (0x4d 0x61) are the 16 bits
 * 010011 010110 0001, padded with two zero bits to 010011 010110 000100,
 * i.e. indexes 19 22 4 -> "TWE". A decoder that accepted "TWF" (last index 5,
 * unused bits 01) would give two spellings of one value; we refuse it.
 */
#include "auth/auth_int.h"
#include "skiff/buf.h"

#include <stdint.h>

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int auth__b64url_encode(struct skiff_buf *out, const void *data, size_t n)
{
    const unsigned char *p = data;
    size_t full = n / 3 * 3, rest = n - full;
    char *w;
    int rc;

    if ((rc = skiff_buf_grow(out, n / 3 * 4 + (rest ? rest + 1 : 0))))
        return rc;
    w = out->ptr + out->len;
    for (size_t i = 0; i < full; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *w++ = alphabet[v >> 18 & 63];
        *w++ = alphabet[v >> 12 & 63];
        *w++ = alphabet[v >> 6 & 63];
        *w++ = alphabet[v & 63];
    }
    if (rest) {
        uint32_t v = (uint32_t)p[full] << 16 | (rest == 2 ? (uint32_t)p[full + 1] << 8 : 0);
        *w++ = alphabet[v >> 18 & 63];
        *w++ = alphabet[v >> 12 & 63];
        if (rest == 2)
            *w++ = alphabet[v >> 6 & 63];
    }
    out->len = (size_t)(w - out->ptr);
    out->ptr[out->len] = '\0';
    return 0;
}

/* Value of one base64url character, or -1. */
static int value_of(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int auth__b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap,
                        size_t *outlen)
{
    size_t rest = n % 4, o = 0;
    uint32_t acc = 0;
    int bits = 0;

    if (rest == 1 || n / 4 * 3 + (rest ? rest - 1 : 0) > cap)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = value_of((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* 2 or 4 bits are left over after a partial group; they must be zero */
    if (acc != 0)
        return -1;
    *outlen = o;
    return 0;
}
