/* log.c: one logfmt line per event on stderr (ts, level, msg, key=value). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "synstack.h"

static enum log_level	 log_min = LOG_INFO;
static const char	*log_prog = "synstack";
static pthread_mutex_t	 log_mtx = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
log_init(const char *prog)
{
	log_prog = prog;
}

void
log_set_level(enum log_level level)
{
	log_min = level;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	size_t	i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

/* Quote a value when logfmt needs it; escape quotes, backslashes and
 * control characters so one event stays one line. */
static void
log_value(FILE *f, const char *v)
{
	const unsigned char	*p;
	bool			 plain = *v != '\0';
	bool			 utf8 = utf8_valid(v, strlen(v));

	for (p = (const unsigned char *)v; *p != '\0'; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' ||
		    *p == 0x7f || (!utf8 && *p >= 0x80))
			plain = false;
	if (plain) {
		fputs(v, f);
		return;
	}
	fputc('"', f);
	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < ' ' || *p == 0x7f || (!utf8 && *p >= 0x80))
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void
log_head(FILE *f, enum log_level level)
{
	struct timeval	tv;
	struct tm	tm;
	char		ts[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(f, "ts=%s.%03ldZ level=%s prog=%s", ts,
	    (long)(tv.tv_usec / 1000), level_names[level], log_prog);
}

static void	log_vmsg(enum log_level, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

static void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char	msg[1024];

	if (level < log_min)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	pthread_mutex_lock(&log_mtx);
	log_head(stderr, level);
	fputs(" msg=", stderr);
	log_value(stderr, msg);
	fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_mtx);
}

void
log_kv(enum log_level level, const char *msg, ...)
{
	va_list		 ap;
	const char	*k, *v;

	if (level < log_min)
		return;
	pthread_mutex_lock(&log_mtx);
	log_head(stderr, level);
	fputs(" msg=", stderr);
	log_value(stderr, msg);
	va_start(ap, msg);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		fprintf(stderr, " %s=", k);
		log_value(stderr, v != NULL ? v : "");
	}
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	pthread_mutex_unlock(&log_mtx);
}

#define LOG_FN(name, level)					\
void								\
name(const char *fmt, ...)					\
{								\
	va_list	ap;						\
	va_start(ap, fmt);					\
	log_vmsg(level, fmt, ap);				\
	va_end(ap);						\
}

LOG_FN(log_debug, LOG_DEBUG)
LOG_FN(log_info, LOG_INFO)
LOG_FN(log_warn, LOG_WARN)
LOG_FN(log_error, LOG_ERROR)

void
fatal(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
