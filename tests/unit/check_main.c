/* check_main.c: runs every unit suite; CK_XML_LOG_FILE_NAME gives an XML log. */
#include <stdlib.h>

#include "check_synstack.h"
#include "synstack.h"

const char *
test_srcdir(void)
{
	const char *d = getenv("SYNSTACK_SRCDIR");

	return d != NULL && *d != '\0' ? d : ".";
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	log_init("check_synstack");
	log_set_level(LOG_ERROR);
	sr = srunner_create(conf_suite());
	srunner_add_suite(sr, crypto_suite());
	srunner_add_suite(sr, error_suite());
	srunner_add_suite(sr, json_suite());
	srunner_add_suite(sr, vault_suite());
	srunner_add_suite(sr, platform_suite());
	srunner_add_suite(sr, mask_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
