/*
 * vault.c: secrets at rest.  Each value is sealed with libsodium's
 * XChaCha20-Poly1305 under the master key, with associated data naming
 * what it is ("agent:<id>:gitea_token"), so a sealed value copied into
 * another row or column does not open.  The sealed form is hex text:
 * a version byte (2), the master key's 8-byte id, the 24-byte nonce, then
 * the ciphertext and its tag.  The id lets a value under another key be
 * told apart from a damaged one, and lets a rotation resume.  Version 1
 * (no id) is still opened, under the key in force.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "synstack.h"

#define VAULT_VERSION	2
#define VAULT_V1	1
#define VAULT_HEAD	(1 + VAULT_ID_LEN)
#define VAULT_NONCE	crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define VAULT_TAG	crypto_aead_xchacha20poly1305_ietf_ABYTES

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
	vault_derive(v);
	v->loaded = true;
	return 0;
}

/* The key's id and the digest key, both derived from the master key. */
void
vault_derive(struct vault *v)
{
	unsigned char	id[crypto_generichash_BYTES_MIN];
	static const char label[] = "synstack master key id";

	crypto_generichash(id, sizeof(id), (const unsigned char *)label,
	    sizeof(label) - 1, v->key, sizeof(v->key));
	memcpy(v->id, id, VAULT_ID_LEN);
	crypto_kdf_derive_from_key(v->digest_key, sizeof(v->digest_key), 1,
	    "ssdigest", v->key);
	sodium_bin2hex(v->id_hex, sizeof(v->id_hex), v->id, VAULT_ID_LEN);
}

/* A short keyed hash of a value: equal values give equal digests, and
 * without the master key it says nothing of the value. */
void
vault_digest(const struct vault *v, const char *plain,
    char out[VAULT_DIGEST_HEX + 1])
{
	unsigned char	h[crypto_generichash_BYTES_MIN];

	crypto_generichash(h, sizeof(h), (const unsigned char *)plain,
	    strlen(plain), v->digest_key, sizeof(v->digest_key));
	sodium_bin2hex(out, VAULT_DIGEST_HEX + 1, h, VAULT_DIGEST_HEX / 2);
}

/* The id of the key a sealed value names ("" for version 1). */
void
vault_sealed_id(const char *sealed, char out[VAULT_ID_LEN * 2 + 1])
{
	out[0] = '\0';
	if (sealed != NULL && strncmp(sealed, "02", 2) == 0 &&
	    strlen(sealed) >= VAULT_HEAD * 2)
		strlcpy_ss(out, sealed + 2, VAULT_ID_LEN * 2 + 1);
}

void
vault_wipe(struct vault *v)
{
	sodium_munlock(v->key, sizeof(v->key));
	sodium_memzero(v->digest_key, sizeof(v->digest_key));
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
	rlen = VAULT_HEAD + VAULT_NONCE + plen + VAULT_TAG;
	if ((raw = malloc(rlen)) == NULL || (hex = malloc(rlen * 2 + 1)) ==
	    NULL) {
		free(raw);
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	raw[0] = VAULT_VERSION;
	memcpy(raw + 1, v->id, VAULT_ID_LEN);
	randombytes_buf(raw + VAULT_HEAD, VAULT_NONCE);
	crypto_aead_xchacha20poly1305_ietf_encrypt(raw + VAULT_HEAD +
	    VAULT_NONCE, NULL, (const unsigned char *)plain, plen,
	    (const unsigned char *)ad, strlen(ad), NULL, raw + VAULT_HEAD,
	    v->key);
	sodium_bin2hex(hex, rlen * 2 + 1, raw, rlen);
	free(raw);
	return hex;
}

char *
vault_open(const struct vault *v, const char *ad, const char *sealed,
    struct err *e)
{
	unsigned char	*raw = NULL;
	char		*plain = NULL, id[VAULT_ID_LEN * 2 + 1];
	size_t		 slen, rlen, head;

	if (vault_require(v, e) == -1)
		return NULL;
	slen = sealed != NULL ? strlen(sealed) : 0;
	if (slen % 2 != 0 || slen / 2 < 1 + VAULT_NONCE + VAULT_TAG ||
	    (raw = malloc(slen / 2)) == NULL ||
	    sodium_hex2bin(raw, slen / 2, sealed, slen, NULL, &rlen, NULL) !=
	    0)
		goto bad;
	if (raw[0] == VAULT_VERSION && rlen >= VAULT_HEAD + VAULT_NONCE +
	    VAULT_TAG) {
		if (sodium_memcmp(raw + 1, v->id, VAULT_ID_LEN) != 0) {
			vault_sealed_id(sealed, id);
			free(raw);
			err_set(e, ERR_SECRET_UNREADABLE, "it is sealed under"
			    " master key %s; this daemon has master key %s", id,
			    v->id_hex);
			err_hint(e, "point secrets.master_key_file at the key"
			    " it was sealed under (see synstackd(8),"
			    " rotate-master-key)");
			return NULL;
		}
		head = VAULT_HEAD;
	} else if (raw[0] == VAULT_V1)
		head = 1;
	else
		goto bad;
	if ((plain = malloc(rlen - head - VAULT_NONCE - VAULT_TAG + 1)) ==
	    NULL)
		goto bad;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)plain,
	    NULL, NULL, raw + head + VAULT_NONCE, rlen - head - VAULT_NONCE,
	    (const unsigned char *)ad, strlen(ad), raw + head, v->key) != 0)
		goto bad;
	plain[rlen - head - VAULT_NONCE - VAULT_TAG] = '\0';
	free(raw);
	return plain;
bad:
	free(raw);
	free(plain);
	/* Never say more: which part failed is nobody's business. */
	err_set(e, ERR_SECRET_UNREADABLE, "it does not open under master key"
	    " %s: the stored value was damaged or moved", v->id_hex);
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
