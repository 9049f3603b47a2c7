/* check_vault.c: sealing secrets under the master key. */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "check_synstack.h"
#include "synstack.h"

#define KEY_A "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_B "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static char *
key_file(const char *text, mode_t mode)
{
	static char	path[64];
	int		fd;

	strcpy(path, "/tmp/check-vault-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (int)strlen(text));
	close(fd);
	chmod(path, mode);
	return path;
}

static void
load(struct vault *v, const char *hex)
{
	struct err	e;
	char		*p = key_file(hex, 0600);

	err_clear(&e);
	ck_assert_int_eq(vault_load(v, p, &e), 0);
	ck_assert(v->loaded);
	unlink(p);
}

START_TEST(test_round_trip)
{
	struct vault	 v;
	struct err	 e;
	char		*s1, *s2, *plain;

	load(&v, KEY_A "\n");
	err_clear(&e);
	s1 = vault_seal(&v, "agent:1:gitea_token", "s3cret-token", &e);
	s2 = vault_seal(&v, "agent:1:gitea_token", "s3cret-token", &e);
	ck_assert_ptr_nonnull(s1);
	ck_assert_ptr_nonnull(s2);
	ck_assert_str_ne(s1, s2);		/* a fresh nonce each time */
	ck_assert_ptr_null(strstr(s1, "s3cret"));
	plain = vault_open(&v, "agent:1:gitea_token", s1, &e);
	ck_assert_str_eq(plain, "s3cret-token");
	vault_free(plain);
	free(s1);
	free(s2);
	vault_wipe(&v);
}
END_TEST

START_TEST(test_bound_and_tamper_evident)
{
	struct vault	 v, other;
	struct err	 e;
	char		*s;

	load(&v, KEY_A);
	load(&other, KEY_B);
	err_clear(&e);
	s = vault_seal(&v, "agent:1:gitea_token", "tok", &e);
	/* Another row's or column's associated data does not open it. */
	ck_assert_ptr_null(vault_open(&v, "agent:2:gitea_token", s, &e));
	ck_assert_ptr_null(vault_open(&v, "agent:1:gitea_password", s, &e));
	ck_assert_ptr_null(strstr(e.message, "tok\""));
	/* Nor another key. */
	ck_assert_ptr_null(vault_open(&other, "agent:1:gitea_token", s, &e));
	/* Nor a flipped bit, a cut, or garbage. */
	s[strlen(s) - 1] = s[strlen(s) - 1] == '0' ? '1' : '0';
	ck_assert_ptr_null(vault_open(&v, "agent:1:gitea_token", s, &e));
	s[20] = '\0';
	ck_assert_ptr_null(vault_open(&v, "agent:1:gitea_token", s, &e));
	ck_assert_ptr_null(vault_open(&v, "agent:1:gitea_token", "zz", &e));
	ck_assert_ptr_null(vault_open(&v, "agent:1:gitea_token", NULL, &e));
	free(s);
}
END_TEST

START_TEST(test_key_files)
{
	struct vault	 v;
	struct err	 e;
	char		*p;

	err_clear(&e);
	/* No file configured: nothing loaded, and sealing says why. */
	ck_assert_int_eq(vault_load(&v, "", &e), 0);
	ck_assert(!v.loaded);
	ck_assert_ptr_null(vault_seal(&v, "x", "y", &e));
	ck_assert_ptr_nonnull(strstr(e.message, "master_key_file"));
	ck_assert_int_eq(e.code, ERR_NOT_CONFIGURED);
	ck_assert_int_eq(err_status(e.code), 503);
	p = key_file(KEY_A, 0644);
	ck_assert_int_eq(vault_load(&v, p, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.message, "group or others"));
	unlink(p);
	p = key_file("abcd", 0600);
	ck_assert_int_eq(vault_load(&v, p, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.message, "64 hexadecimal"));
	unlink(p);
	p = key_file("zz" KEY_A, 0600);
	ck_assert_int_eq(vault_load(&v, p, &e), -1);
	unlink(p);
	ck_assert_int_eq(vault_load(&v, "/nonexistent/master.key", &e), -1);
}
END_TEST

/* Every sealed value names its key; a value under another key says so,
 * with both ids, and a damaged one says only that it does not open. */
START_TEST(test_key_ids)
{
	struct vault	 a, a2, b;
	struct err	 e;
	char		*s, id[VAULT_ID_LEN * 2 + 1];

	load(&a, KEY_A);
	load(&a2, KEY_A);
	load(&b, KEY_B);
	ck_assert_str_eq(a.id_hex, a2.id_hex);
	ck_assert_str_ne(a.id_hex, b.id_hex);
	ck_assert_uint_eq(strlen(a.id_hex), VAULT_ID_LEN * 2);
	ck_assert_ptr_null(strstr(KEY_A, a.id_hex));	/* not the key itself */
	err_clear(&e);
	s = vault_seal(&a, "project:1:secret:X", "v", &e);
	ck_assert(strncmp(s, "02", 2) == 0);
	vault_sealed_id(s, id);
	ck_assert_str_eq(id, a.id_hex);
	ck_assert_ptr_null(vault_open(&b, "project:1:secret:X", s, &e));
	ck_assert_int_eq(e.code, ERR_SECRET_UNREADABLE);
	ck_assert_ptr_nonnull(strstr(e.message, a.id_hex));
	ck_assert_ptr_nonnull(strstr(e.message, b.id_hex));
	/* A flipped bit of the ciphertext: unreadable, nothing more. */
	s[strlen(s) - 3] = s[strlen(s) - 3] == '0' ? '1' : '0';
	err_clear(&e);
	ck_assert_ptr_null(vault_open(&a, "project:1:secret:X", s, &e));
	ck_assert_int_eq(e.code, ERR_SECRET_UNREADABLE);
	ck_assert_int_eq(err_status(e.code), 409);
	free(s);
	vault_sealed_id("01abcdef", id);
	ck_assert_str_eq(id, "");
}
END_TEST

/* Values sealed before key ids (version 1) still open. */
START_TEST(test_version_one)
{
	struct vault	 v;
	struct err	 e;
	unsigned char	 raw[1 + 24 + 5 + 16];
	char		 hex[sizeof(raw) * 2 + 1], *plain;
	const char	*ad = "agent:7:gitea_token";

	load(&v, KEY_A);
	raw[0] = 1;
	randombytes_buf(raw + 1, 24);
	crypto_aead_xchacha20poly1305_ietf_encrypt(raw + 25, NULL,
	    (const unsigned char *)"hello", 5, (const unsigned char *)ad,
	    strlen(ad), NULL, raw + 1, v.key);
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	err_clear(&e);
	plain = vault_open(&v, ad, hex, &e);
	ck_assert_ptr_nonnull(plain);
	ck_assert_str_eq(plain, "hello");
	vault_free(plain);
}
END_TEST

/* Digests: equal values alike, others not, and keyed by the master key. */
START_TEST(test_digests)
{
	struct vault	a, b;
	char		d1[VAULT_DIGEST_HEX + 1], d2[VAULT_DIGEST_HEX + 1],
			d3[VAULT_DIGEST_HEX + 1], d4[VAULT_DIGEST_HEX + 1],
			plain_hash[65];
	unsigned char	h[32];

	load(&a, KEY_A);
	load(&b, KEY_B);
	vault_digest(&a, "hunter2", d1);
	vault_digest(&a, "hunter2", d2);
	vault_digest(&a, "hunter3", d3);
	vault_digest(&b, "hunter2", d4);
	ck_assert_uint_eq(strlen(d1), VAULT_DIGEST_HEX);
	ck_assert_str_eq(d1, d2);
	ck_assert_str_ne(d1, d3);
	ck_assert_str_ne(d1, d4);
	/* Not an unkeyed hash anyone could compute from a guess. */
	crypto_generichash(h, 16, (const unsigned char *)"hunter2", 7, NULL,
	    0);
	sodium_bin2hex(plain_hash, sizeof(plain_hash), h, 16);
	ck_assert_ptr_null(strstr(plain_hash, d1));
}
END_TEST

Suite *
vault_suite(void)
{
	Suite	*s = suite_create("vault");
	TCase	*tc = tcase_create("seal");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_bound_and_tamper_evident);
	tcase_add_test(tc, test_key_files);
	tcase_add_test(tc, test_key_ids);
	tcase_add_test(tc, test_version_one);
	tcase_add_test(tc, test_digests);
	suite_add_tcase(s, tc);
	return s;
}
