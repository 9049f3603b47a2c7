/*
 * fuzz_command.c: the command form ("work-on 3") and references: the
 * input is a line the fuzz agent types.  It is split and run as
 * POST /api/v1/act would (with a database, against the fuzz world), and
 * resolved as a reference alone.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuzz_env	*env = fuzz_setup(false);
	struct command_ctx	 ctx;
	struct err		 e;
	struct ref		 r;
	json_object		*answer;
	char			*line;
	PGconn			*c;

	if (size > COMMAND_MAX_LINE + 16 || (line = malloc(size + 1)) == NULL)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	ctx.core = &env->core;
	ctx.agent = &env->agent;
	err_clear(&e);
	answer = command_run(&ctx, line, &e);
	/* An answer, or an error of the table: never an internal one. */
	if (answer == NULL && (e.code == ERR_NONE || e.code == ERR_INTERNAL))
		abort();
	json_object_put(answer);
	err_clear(&e);
	if (env->db && (c = db_acquire(env->core.pool, &e)) != NULL) {
		if (ref_resolve(c, env->agent.id, line, &r, &e) == -1 &&
		    e.code == ERR_INTERNAL)
			abort();
		db_release(env->core.pool, c);
	}
	free(line);
	return 0;
}
