/* util.c: small helpers every file needs. */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include "synstack.h"

/* 8-4-4-4-12 hex digits: checked before a value reaches a uuid column, so a
 * bad id is a 404 and never a PostgreSQL error. */
bool
uuid_valid(const char *s)
{
	size_t	i;

	if (s == NULL || strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

size_t
strlcpy_ss(char *dst, const char *src, size_t size)
{
	size_t	len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
