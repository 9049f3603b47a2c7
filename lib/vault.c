/*
 * vault.c: secrets at rest.  Each value is sealed with libsodium's
 * XChaCha20-Poly1305 under the master key, with associated data naming
 * what it is ("agent:<id>:gitea_token"), so a sealed value copied into
 * another row or column does not open.  The sealed form is hex text:
 * a version byte, the 24-byte nonce, then the ciphertext and its tag.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "synstack.h"

#define VAULT_VERSION	1
#define VAULT_NONCE	crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define VAULT_TAG	crypto_aead_xchacha20poly1305_ietf_ABYTES
#define VAULT_MAX_PLAIN	4096

int
vault_load(struct vault *v, const char *path, struct err *e)
{
	char	buf[VAULT_KEY_LEN * 2 + 8];
	FILE	*f;
	size_t	n, len;

	memset(v, 0, sizeof(*v));
	if (path == NULL || *path == '\0')
		return 0;			/* no vault: v->loaded stays false */
	if (secret_file_check(path, e) == -1)
		return -1;
	if ((f = fopen(path, "r")) == NULL)
		return err_set(e, ERR_CONFIG, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, " \t\r\n")] = '\0';
	if (strlen(buf) != VAULT_KEY_LEN * 2 ||
	    sodium_hex2bin(v->key, sizeof(v->key), buf, strlen(buf), NULL,
	    &len, NULL) != 0 || len != VAULT_KEY_LEN) {
		sodium_memzero(buf, sizeof(buf));
		return err_set(e, ERR_CONFIG, "%s: the master key must be %d"
		    " hexadecimal digits", path, VAULT_KEY_LEN * 2);
	}
	sodium_memzero(buf, sizeof(buf));
	sodium_mlock(v->key, sizeof(v->key));
	v->loaded = true;
	return 0;
}

void
vault_wipe(struct vault *v)
{
	sodium_munlock(v->key, sizeof(v->key));
	v->loaded = false;
}

int
vault_require(const struct vault *v, struct err *e)
{
	if (v != NULL && v->loaded)
		return 0;
	err_set(e, ERR_NOT_CONFIGURED, "no master key: secrets.master_key_file"
	    " is not set");
	err_hint(e, "set secrets.master_key_file in synstack.yaml and restart"
	    " synstackd");
	return -1;
}

char *
vault_seal(const struct vault *v, const char *ad, const char *plain,
    struct err *e)
{
	unsigned char	*raw;
	char		*hex;
	size_t		 plen = strlen(plain), rlen;

	if (vault_require(v, e) == -1)
		return NULL;
	if (plen > VAULT_MAX_PLAIN) {
		err_set(e, ERR_INTERNAL, "secret too long to seal");
		return NULL;
	}
	rlen = 1 + VAULT_NONCE + plen + VAULT_TAG;
	if ((raw = malloc(rlen)) == NULL || (hex = malloc(rlen * 2 + 1)) ==
	    NULL) {
		free(raw);
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	raw[0] = VAULT_VERSION;
	randombytes_buf(raw + 1, VAULT_NONCE);
	crypto_aead_xchacha20poly1305_ietf_encrypt(raw + 1 + VAULT_NONCE, NULL,
	    (const unsigned char *)plain, plen, (const unsigned char *)ad,
	    strlen(ad), NULL, raw + 1, v->key);
	sodium_bin2hex(hex, rlen * 2 + 1, raw, rlen);
	free(raw);
	return hex;
}

char *
vault_open(const struct vault *v, const char *ad, const char *sealed,
    struct err *e)
{
	unsigned char	*raw = NULL;
	char		*plain = NULL;
	size_t		 slen, rlen;

	if (vault_require(v, e) == -1)
		return NULL;
	slen = sealed != NULL ? strlen(sealed) : 0;
	if (slen % 2 != 0 || slen / 2 < 1 + VAULT_NONCE + VAULT_TAG ||
	    (raw = malloc(slen / 2)) == NULL ||
	    sodium_hex2bin(raw, slen / 2, sealed, slen, NULL, &rlen, NULL) !=
	    0 || raw[0] != VAULT_VERSION)
		goto bad;
	if ((plain = malloc(rlen - 1 - VAULT_NONCE - VAULT_TAG + 1)) == NULL)
		goto bad;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)plain,
	    NULL, NULL, raw + 1 + VAULT_NONCE, rlen - 1 - VAULT_NONCE,
	    (const unsigned char *)ad, strlen(ad), raw + 1, v->key) != 0)
		goto bad;
	plain[rlen - 1 - VAULT_NONCE - VAULT_TAG] = '\0';
	free(raw);
	return plain;
bad:
	free(raw);
	free(plain);
	/* Never say more: which part failed is nobody's business. */
	err_set(e, ERR_INTERNAL, "a sealed secret does not open (%s): wrong"
	    " master key or damaged data", ad);
	return NULL;
}

void
vault_free(char *secret)
{
	if (secret != NULL) {
		sodium_memzero(secret, strlen(secret));
		free(secret);
	}
}
