/*
 * crypto.c: agent keys and admin tokens, all through libsodium.
 * Keys are 32 random bytes, so a plain SHA-256 is a sufficient stored hash
 * (no password stretching is needed for full-entropy secrets).
 */
#include <sys/stat.h>

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "synstack.h"

int
token_generate(const char *prefix, char *out, size_t size)
{
	unsigned char	raw[32];
	size_t		plen = strlen(prefix);

	if (size < plen + 43 + 1 || sodium_init() < 0)
		return -1;
	randombytes_buf(raw, sizeof(raw));
	memcpy(out, prefix, plen);
	sodium_bin2base64(out + plen, size - plen, raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	return 0;
}

bool
token_well_formed(const char *prefix, const char *tok)
{
	size_t	i, plen = strlen(prefix);

	if (tok == NULL || strlen(tok) != plen + 43 ||
	    strncmp(tok, prefix, plen) != 0)
		return false;
	for (i = plen; tok[i] != '\0'; i++) {
		char c = tok[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

int
key_generate(char *out, size_t size)
{
	return token_generate(KEY_PREFIX, out, size);
}

bool
key_well_formed(const char *key)
{
	return token_well_formed(KEY_PREFIX, key);
}

void
key_hash_raw(const char *key, unsigned char out[32])
{
	crypto_hash_sha256(out, (const unsigned char *)key, strlen(key));
}

void
key_hash_hex(const char *key, char out[HASH_HEX_LEN + 1])
{
	unsigned char	raw[32];

	key_hash_raw(key, raw);
	sodium_bin2hex(out, HASH_HEX_LEN + 1, raw, sizeof(raw));
}

int
token_hash_parse(const char *spec, unsigned char out[32])
{
	const char	*hex;
	size_t		 len;

	if (spec == NULL || strncmp(spec, "sha256:", 7) != 0)
		return -1;
	hex = spec + 7;
	if (strlen(hex) != HASH_HEX_LEN)
		return -1;
	if (sodium_hex2bin(out, 32, hex, HASH_HEX_LEN, NULL, &len, NULL) != 0 ||
	    len != 32)
		return -1;
	return 0;
}

bool
token_hash_match(const char *token, unsigned char (*hashes)[32], size_t n)
{
	unsigned char	raw[32];
	size_t		i;
	int		hit = 0;

	key_hash_raw(token, raw);
	/* Compare with every candidate, so timing does not say which. */
	for (i = 0; i < n; i++)
		hit |= sodium_memcmp(raw, hashes[i], sizeof(raw)) == 0;
	sodium_memzero(raw, sizeof(raw));
	return hit != 0;
}

int
secret_file_check(const char *path, struct err *e)
{
	struct stat	st;

	if (stat(path, &st) == -1)
		return err_set(e, ERR_CONFIG, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(e, ERR_CONFIG, "%s: not a regular file", path);
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		return err_set(e, ERR_CONFIG,
		    "%s: accessible by group or others (mode %03o);"
		    " run chmod 600 %s",
		    path, (unsigned)(st.st_mode & 0777), path);
	return 0;
}
