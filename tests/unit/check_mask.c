/* check_mask.c: secrets masked in a deploy's output. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "check_synstack.h"
#include "synstack.h"

static char *
masked(const char *text, const char *const *values, size_t n)
{
	char	*s = strdup(text);

	mask_secrets(s, values, n);
	return s;
}

START_TEST(test_values_and_lines)
{
	const char	*v[] = { "hunter22", "line-one\nline-two\r\n" };
	char		*s;

	s = masked("token=hunter22 and hunter22\nkey:\nline-one\nline-two\n",
	    v, 2);
	ck_assert_ptr_null(strstr(s, "hunter22"));
	ck_assert_ptr_null(strstr(s, "line-one"));
	ck_assert_ptr_null(strstr(s, "line-two"));
	ck_assert_str_eq(s, "token=******** and ********\nkey:\n********\n"
	    "********\n");
	free(s);
}
END_TEST

START_TEST(test_base64_forms)
{
	const char	*v[] = { "s3cr3t-value?>" };
	const int	 variants[] = { sodium_base64_VARIANT_ORIGINAL,
			    sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
			    sodium_base64_VARIANT_URLSAFE,
			    sodium_base64_VARIANT_URLSAFE_NO_PADDING };
	char		 b64[64], text[128], *s;
	size_t		 i;

	for (i = 0; i < 4; i++) {
		sodium_bin2base64(b64, sizeof(b64),
		    (const unsigned char *)v[0], strlen(v[0]), variants[i]);
		snprintf(text, sizeof(text), "echo %s | base64 -d", b64);
		s = masked(text, v, 1);
		ck_assert_msg(strstr(s, b64) == NULL, "variant %zu: %s", i, s);
		ck_assert(strncmp(s, "echo *", 6) == 0);
		free(s);
	}
}
END_TEST

START_TEST(test_short_values_and_untouched_text)
{
	const char	*v[] = { "ab", "" };
	char		*s = masked("ab cd ab", v, 2);

	/* Masking two letters everywhere would hide the log, not a secret. */
	ck_assert_str_eq(s, "ab cd ab");
	free(s);
	s = masked("nothing secret here", NULL, 0);
	ck_assert_str_eq(s, "nothing secret here");
	free(s);
}
END_TEST

Suite *
mask_suite(void)
{
	Suite	*s = suite_create("mask");
	TCase	*tc = tcase_create("deploy output");

	tcase_add_test(tc, test_values_and_lines);
	tcase_add_test(tc, test_base64_forms);
	tcase_add_test(tc, test_short_values_and_untouched_text);
	suite_add_tcase(s, tc);
	return s;
}
