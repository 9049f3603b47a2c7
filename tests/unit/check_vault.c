/* check_vault.c: sealing secrets under the master key. */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

Suite *
vault_suite(void)
{
	Suite	*s = suite_create("vault");
	TCase	*tc = tcase_create("seal");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_bound_and_tamper_evident);
	tcase_add_test(tc, test_key_files);
	suite_add_tcase(s, tc);
	return s;
}
