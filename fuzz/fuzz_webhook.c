/*
 * fuzz_webhook.c: Gitea's deliveries, verified and applied.  The input's
 * first byte says whether the harness signs the body with the hook's
 * secret (so it gets past the signature) or sends the signature the input
 * carries; then the event type, a newline, and the body.  With a
 * database, the appliers run against the fuzz world (Gitea, asked to
 * confirm, does not answer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuzz_env	*env = fuzz_setup(false);
	static unsigned long	 count;
	unsigned char		 mac[crypto_auth_hmacsha256_BYTES];
	char			 type[65], sig[2 * sizeof(mac) + 1], id[64],
				 row[37], *body;
	struct webhook		 w;
	enum webhook_outcome	 outcome;
	struct err		 e;
	const uint8_t		*nl;
	PGresult		*res;
	size_t			 tlen;

	if (size < 2 || (nl = memchr(data + 1, '\n', size - 1)) == NULL ||
	    (tlen = (size_t)(nl - data - 1)) >= sizeof(type))
		return 0;
	memcpy(type, data + 1, tlen);
	type[tlen] = '\0';
	memset(&w, 0, sizeof(w));
	w.len = size - (size_t)(nl + 1 - data);
	/* The body ends with a NUL, as the HTTP server's does. */
	if ((body = malloc(w.len + 1)) == NULL)
		return 0;
	memcpy(body, nl + 1, w.len);
	body[w.len] = '\0';
	w.body = body;
	snprintf(id, sizeof(id), "fuzz-%ld-%lu", (long)getpid(), ++count);
	w.delivery = id;
	w.event = type;
	w.event_type = type;
	if (data[0] & 1) {
		crypto_auth_hmacsha256_state	st;

		crypto_auth_hmacsha256_init(&st,
		    (const unsigned char *)FUZZ_HOOK_SECRET,
		    strlen(FUZZ_HOOK_SECRET));
		crypto_auth_hmacsha256_update(&st,
		    (const unsigned char *)w.body, w.len);
		crypto_auth_hmacsha256_final(&st, mac);
		sodium_bin2hex(sig, sizeof(sig), mac, sizeof(mac));
		w.signature = sig;
	} else
		w.signature = type;
	err_clear(&e);
	if (webhook_receive(env->core.pool, env->conf, &w, &outcome, row, &e) ==
	    -1 && e.code == ERR_INTERNAL) {
		fprintf(stderr, "fuzz: internal error: %s %s\n", e.message,
		    e.detail);
		abort();
	}
	free(body);
	/* What was queued is applied, as the worker would. */
	while (outcome == WEBHOOK_QUEUED) {
		err_clear(&e);
		if (webhook_apply_next(env->core.pool, env->conf, &e) != 1)
			break;
	}
	/* One put off (Gitea does not answer here) would hold up every
	 * later input of its repository. */
	if (outcome == WEBHOOK_QUEUED && (res = db_exec(env->core.pool, &e,
	    "UPDATE webhook_deliveries SET processed_at = now()"
	    " WHERE processed_at IS NULL", 0, NULL)) != NULL)
		PQclear(res);
	return 0;
}
