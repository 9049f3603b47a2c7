/* check_crypto.c: agent keys, token hashes, secret files. */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_synstack.h"
#include "synstack.h"

/* sha256("abc"), FIPS 180-2 test vector */
#define ABC_SHA256 \
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

START_TEST(test_key_format)
{
	char	a[KEY_LEN + 1], b[KEY_LEN + 1];

	ck_assert_int_eq(key_generate(a, sizeof(a)), 0);
	ck_assert_int_eq(key_generate(b, sizeof(b)), 0);
	ck_assert_uint_eq(strlen(a), KEY_LEN);
	ck_assert(strncmp(a, "ssk_", 4) == 0);
	ck_assert(key_well_formed(a));
	ck_assert_str_ne(a, b);
	ck_assert_int_eq(key_generate(a, KEY_LEN), -1);
}
END_TEST

START_TEST(test_key_malformed)
{
	char	k[KEY_LEN + 1];

	ck_assert(!key_well_formed(NULL));
	ck_assert(!key_well_formed(""));
	ck_assert(!key_well_formed("ssk_short"));
	key_generate(k, sizeof(k));
	k[0] = 'x';
	ck_assert(!key_well_formed(k));
	key_generate(k, sizeof(k));
	k[10] = '+';
	ck_assert(!key_well_formed(k));
	k[10] = '\'';
	ck_assert(!key_well_formed(k));
}
END_TEST

START_TEST(test_hash_vector)
{
	char	hex[HASH_HEX_LEN + 1];

	key_hash_hex("abc", hex);
	ck_assert_str_eq(hex, ABC_SHA256);
}
END_TEST

START_TEST(test_token_hash_parse)
{
	unsigned char	raw[32];

	ck_assert_int_eq(token_hash_parse("sha256:" ABC_SHA256, raw), 0);
	ck_assert_uint_eq(raw[0], 0xba);
	ck_assert_uint_eq(raw[31], 0xad);
	ck_assert_int_eq(token_hash_parse(ABC_SHA256, raw), -1);
	ck_assert_int_eq(token_hash_parse("sha256:abc", raw), -1);
	ck_assert_int_eq(token_hash_parse("sha256:" ABC_SHA256 "00", raw), -1);
	ck_assert_int_eq(token_hash_parse("sha256:zz7816bf8f01cfea414140de5dae"
	    "2223b00361a396177a9cb410ff61f20015ad", raw), -1);
	ck_assert_int_eq(token_hash_parse(NULL, raw), -1);
}
END_TEST

START_TEST(test_token_match)
{
	unsigned char	hashes[3][32];

	token_hash_parse("sha256:" ABC_SHA256, hashes[1]);
	key_hash_raw("other", hashes[0]);
	key_hash_raw("third", hashes[2]);
	ck_assert(token_hash_match("abc", hashes, 3));
	ck_assert(token_hash_match("third", hashes, 3));
	ck_assert(!token_hash_match("abd", hashes, 3));
	ck_assert(!token_hash_match("", hashes, 3));
	ck_assert(!token_hash_match("abc", hashes, 0));
}
END_TEST

START_TEST(test_secret_file_modes)
{
	char		path[] = "/tmp/check-secret-XXXXXX";
	struct err	e;
	int		fd;

	err_clear(&e);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	chmod(path, 0600);
	ck_assert_int_eq(secret_file_check(path, &e), 0);
	chmod(path, 0640);
	ck_assert_int_eq(secret_file_check(path, &e), -1);
	ck_assert_int_eq(e.code, ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(e.message, "chmod 600"));
	chmod(path, 0604);
	ck_assert_int_eq(secret_file_check(path, &e), -1);
	unlink(path);
	ck_assert_int_eq(secret_file_check(path, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.message, path));
}
END_TEST

START_TEST(test_uuid_valid)
{
	ck_assert(uuid_valid("c79e1fce-cfb9-4b87-8a8e-9692369163f2"));
	ck_assert(!uuid_valid("c79e1fce-cfb9-4b87-8a8e-9692369163f"));
	ck_assert(!uuid_valid("c79e1fce_cfb9-4b87-8a8e-9692369163f2"));
	ck_assert(!uuid_valid("g79e1fce-cfb9-4b87-8a8e-9692369163f2"));
	ck_assert(!uuid_valid("bob"));
	ck_assert(!uuid_valid(NULL));
}
END_TEST

START_TEST(test_agent_names)
{
	struct err	e;

	err_clear(&e);
	ck_assert(agent_name_valid("bob"));
	ck_assert(agent_name_valid("a1"));
	ck_assert(agent_name_valid("build-bot_2"));
	ck_assert(!agent_name_valid("b"));
	ck_assert(!agent_name_valid("-bob"));
	ck_assert(!agent_name_valid("Bob"));
	ck_assert(!agent_name_valid("bob smith"));
	ck_assert(!agent_name_valid("0123456789012345678901234567890123456789"));
	ck_assert(agent_name_valid("012345678901234567890123456789012345678"));
	ck_assert_int_eq(agent_name_check("b!", &e), -1);
	/* Names and ids share one namespace in admin paths. */
	ck_assert_int_eq(agent_name_check(
	    "b4c741a9-aea8-47b6-874f-b878a447c1ea", &e), -1);
	ck_assert_int_eq(agent_name_check("b4c741a9", &e), 0);
	ck_assert_int_eq(e.code, ERR_INVALID_FIELD);
	ck_assert_str_eq(err_name(e.code), "invalid_field");
}
END_TEST

Suite *
crypto_suite(void)
{
	Suite	*s = suite_create("crypto");
	TCase	*tc = tcase_create("keys");

	tcase_add_test(tc, test_key_format);
	tcase_add_test(tc, test_key_malformed);
	tcase_add_test(tc, test_hash_vector);
	tcase_add_test(tc, test_token_hash_parse);
	tcase_add_test(tc, test_token_match);
	tcase_add_test(tc, test_secret_file_modes);
	tcase_add_test(tc, test_uuid_valid);
	tcase_add_test(tc, test_agent_names);
	suite_add_tcase(s, tc);
	return s;
}
