/*
 * migrate.c: numbered SQL patches (schema/NNNN-name.sql) applied in order,
 * each in its own transaction and recorded with its checksum.  An advisory
 * lock serialises daemons that start at the same moment on one database.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

/* "SynStak" + 1: the key of the migration lock. */
#define MIGRATE_LOCK_KEY	"6010416289005593345"
#define MIGRATE_MAX_FILE	(4 * 1024 * 1024)

static int
migrate_name_ok(const char *n)
{
	size_t	len = strlen(n), i;

	if (len < 10 || strcmp(n + len - 4, ".sql") != 0 || n[4] != '-')
		return 0;
	for (i = 0; i < 4; i++)
		if (n[i] < '0' || n[i] > '9')
			return 0;
	return 1;
}

static int
migrate_filter(const struct dirent *d)
{
	return migrate_name_ok(d->d_name);
}

static char *
migrate_read(const char *path, struct err *e)
{
	FILE		*f;
	struct stat	 st;
	char		*buf;

	if ((f = fopen(path, "r")) == NULL) {
		err_set(e, ERR_CONFIG, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == -1 || st.st_size > MIGRATE_MAX_FILE) {
		err_set(e, ERR_CONFIG, "%s: unreadable or too large", path);
		fclose(f);
		return NULL;
	}
	if ((buf = malloc(st.st_size + 1)) == NULL ||
	    fread(buf, 1, st.st_size, f) != (size_t)st.st_size) {
		err_set(e, ERR_CONFIG, "%s: read failed", path);
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[st.st_size] = '\0';
	fclose(f);
	return buf;
}

static int
migrate_one(PGconn *c, const char *dir, const char *file, int version,
    PGresult *applied, struct err *e)
{
	char		 path[4096], sum[HASH_HEX_LEN + 1], vbuf[16];
	const char	*params[3] = { vbuf, file, sum };
	char		*sql;
	PGresult	*res;
	int		 row;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((sql = migrate_read(path, e)) == NULL)
		return -1;
	key_hash_hex(sql, sum);
	snprintf(vbuf, sizeof(vbuf), "%d", version);
	for (row = 0; row < PQntuples(applied); row++) {
		if (atoi(PQgetvalue(applied, row, 0)) != version)
			continue;
		free(sql);
		if (strcmp(PQgetvalue(applied, row, 1), sum) != 0)
			return err_set(e, ERR_CONFIG,
			    "%s was changed after it was applied; migrations"
			    " are never edited, add a new one", path);
		return 0;
	}
	if (db_begin(c, e) == -1) {
		free(sql);
		return -1;
	}
	res = PQexec(c, sql);
	free(sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		err_set(e, ERR_CONFIG, "%s: %s", path,
		    PQresultErrorMessage(res));
		PQclear(res);
		db_rollback(c);
		return -1;
	}
	PQclear(res);
	if ((res = db_query(c, e, "INSERT INTO schema_migrations"
	    " (version, name, checksum) VALUES ($1, $2, $3)", 3, params)) ==
	    NULL) {
		db_rollback(c);
		return -1;
	}
	PQclear(res);
	if (db_commit(c, e) == -1)
		return -1;
	log_info("applied migration %s", file);
	return 1;
}

int
migrate_apply(PGconn *c, const char *dir, struct err *e)
{
	const char	*lock[1] = { MIGRATE_LOCK_KEY };
	struct dirent	**files = NULL;
	PGresult	*res, *applied = NULL;
	int		 n, i, rc, count = 0, prev = 0, version;

	if ((n = scandir(dir, &files, migrate_filter, alphasort)) == -1)
		return err_set(e, ERR_CONFIG, "schema directory %s: %s", dir,
		    strerror(errno));
	if (n == 0) {
		free(files);
		return err_set(e, ERR_CONFIG,
		    "schema directory %s holds no NNNN-name.sql file", dir);
	}
	if ((res = db_query(c, e, "SELECT pg_advisory_lock($1)", 1, lock)) ==
	    NULL)
		goto out;
	PQclear(res);
	if ((res = db_query(c, e, "CREATE TABLE IF NOT EXISTS schema_migrations"
	    " (version integer PRIMARY KEY, name text NOT NULL,"
	    " checksum text NOT NULL,"
	    " applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL)) ==
	    NULL)
		goto unlock;
	PQclear(res);
	if ((applied = db_query(c, e, "SELECT version, checksum"
	    " FROM schema_migrations ORDER BY version", 0, NULL)) == NULL)
		goto unlock;
	for (i = 0; i < n; i++) {
		version = atoi(files[i]->d_name);
		if (version == prev) {
			err_set(e, ERR_CONFIG, "%s/%s: migration %04d exists"
			    " twice", dir, files[i]->d_name, version);
			goto unlock;
		}
		prev = version;
		if ((rc = migrate_one(c, dir, files[i]->d_name, version,
		    applied, e)) == -1)
			goto unlock;
		count += rc;
	}
	if (PQntuples(applied) > 0 && atoi(PQgetvalue(applied,
	    PQntuples(applied) - 1, 0)) > prev)
		log_warn("the database has migrations newer than %s: is this"
		    " synstackd older than the one that set it up?", dir);
	PQclear(applied);
	applied = NULL;
	res = db_query(c, e, "SELECT pg_advisory_unlock($1)", 1, lock);
	PQclear(res);
	for (i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return count;
unlock:
	PQclear(applied);
	res = PQexecParams(c, "SELECT pg_advisory_unlock($1)", 1, NULL, lock,
	    NULL, NULL, 0);
	PQclear(res);
out:
	for (i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return -1;
}
