/* check_synstack.h: one Suite constructor per tests/unit/check_*.c file. */
#ifndef CHECK_SYNSTACK_H
#define CHECK_SYNSTACK_H

#include <check.h>

Suite	*conf_suite(void);
Suite	*crypto_suite(void);
Suite	*error_suite(void);
Suite	*json_suite(void);
Suite	*mask_suite(void);
Suite	*platform_suite(void);
Suite	*vault_suite(void);

/* $SYNSTACK_SRCDIR (set by make check), or "." */
const char *test_srcdir(void);

#endif
