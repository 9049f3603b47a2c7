/*
 * main.c: synstackd start-up, signals and shutdown.
 *
 * SIGHUP reloads synstack.yaml (keeping the old config when the new one is
 * bad); SIGTERM and SIGINT stop accepting, drain in-flight requests and
 * exit.  Signals are taken synchronously by the main thread (sigwait), so
 * no handler runs inside a worker.
 *
 * Under systemd (Type=notify, NOTIFY_SOCKET set) the daemon says READY=1
 * once migrations, the platform seed and the listeners are done,
 * RELOADING=1 and READY=1 around a SIGHUP reload, and STOPPING=1 before
 * draining.  Without NOTIFY_SOCKET sd_notify() does nothing.
 */
#include <sys/resource.h>

#include <signal.h>
#include <time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"

#define DEFAULT_CONFIG	SYNSTACK_SYSCONFDIR "/synstack.yaml"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: synstackd [-dnV] [-c file]"
	    " [install-hook | rotate-master-key new-key-file]\n");
	exit(2);
}

/*
 * synstackd install-hook: register (or update) Gitea's system webhook to
 * <http.public_url>/hooks/gitea, then say what Gitea needs to deliver.
 */
static int
install_hook(const struct conf *conf)
{
	struct err	 e;
	char		 url[2048];
	long		 id = 0;
	bool		 created = false;
	size_t		 n = strlen(conf->http_public_url);

	err_clear(&e);
	snprintf(url, sizeof(url), "%.*s/hooks/gitea",
	    (int)(n > 0 && conf->http_public_url[n - 1] == '/' ? n - 1 : n),
	    conf->http_public_url);
	if (hook_install(conf, url, &id, &created, &e) == -1) {
		fprintf(stderr, "synstackd: install-hook: %s\n", e.message);
		if (e.hint[0] != '\0')
			fprintf(stderr, "synstackd: %s\n", e.hint);
		return 1;
	}
	printf("%s Gitea system webhook #%ld -> %s\n",
	    created ? "created" : "updated", id, url);
	printf("Gitea delivers only to hosts its [webhook] ALLOWED_HOST_LIST"
	    " allows; for a\nsynstackd on this machine or a private network,"
	    " app.ini needs e.g.\n  [webhook]\n  ALLOWED_HOST_LIST ="
	    " loopback,private\n");
	return 0;
}

/*
 * Each connection holds a socket, and PostgreSQL's and Gitea's take more:
 * the soft limit of open files is raised to the hard one, and a limit
 * still below what http.max_connections needs is said at start.
 */
static void
raise_open_files(const struct conf *conf)
{
	struct rlimit	rl;
	rlim_t		want = (rlim_t)conf->http_max_connections +
			    (rlim_t)conf->db_pool_size + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
		log_warn("open files are limited to %lu, below the %lu that"
		    " http.max_connections %ld needs: raise LimitNOFILE (systemd)"
		    " or ulimit -n, or lower http.max_connections",
		    (unsigned long)rl.rlim_cur, (unsigned long)want,
		    conf->http_max_connections);
}

static int	migrate(const struct conf *);

/* deploy.platforms_file, or the one beside synstack.yaml when present;
 * NULL when there is none to read. */
static const char *
platforms_path(const struct conf *conf)
{
	static const char	def[] = SYNSTACK_SYSCONFDIR "/platforms.yaml";

	if (conf->deploy_platforms_file[0] != '\0')
		return conf->deploy_platforms_file;
	return access(def, R_OK) == 0 ? def : NULL;
}

/* The platforms file's platforms the database lacks, added. */
static int
seed_platforms(const struct conf *conf)
{
	const char	*path = platforms_path(conf);
	struct err	 e;
	int		 added;

	if (path == NULL) {
		log_info("no platforms file: the catalog is the database's");
		return 0;
	}
	err_clear(&e);
	if (platform_seed(daemon_state.pool, path, &added, &e) == -1) {
		log_error("platforms: %s", e.message);
		return -1;
	}
	log_info("platform catalog: %d platforms added from %s", added, path);
	return 0;
}

/*
 * synstackd rotate-master-key NEW_KEY_FILE: every sealed value re-sealed
 * under the new key in one transaction.  The running daemons keep the old
 * key until the config names the new one and they restart.
 */
static int
rotate_master_key(const struct conf *conf, const char *new_path)
{
	struct vault		 next;
	struct rotate_report	 rep;
	struct err		 e;
	PGconn			*c;
	int			 rc = 1;

	err_clear(&e);
	if (vault_require(&daemon_state.vault, &e) == -1) {
		fprintf(stderr, "synstackd: %s\n", e.message);
		return 1;
	}
	if (vault_load(&next, new_path, &e) == -1 || !next.loaded) {
		fprintf(stderr, "synstackd: %s\n", next.loaded || e.message[0]
		    ? e.message : "no new key file given");
		return 1;
	}
	if (strcmp(next.id_hex, daemon_state.vault.id_hex) == 0) {
		fprintf(stderr, "synstackd: %s is the master key in force\n",
		    new_path);
		goto out;
	}
	if ((daemon_state.pool = db_pool_new(conf, &e)) == NULL) {
		fprintf(stderr, "synstackd: %s\n", e.message);
		goto out;
	}
	if (migrate(conf) == -1)
		goto out;
	if ((c = db_acquire(daemon_state.pool, &e)) == NULL) {
		fprintf(stderr, "synstackd: %s\n", e.message);
		goto out;
	}
	if (secret_rotate(c, &daemon_state.vault, &next, &rep, &e) == -1) {
		db_release(daemon_state.pool, c);
		fprintf(stderr, "synstackd: rotation failed, nothing changed:"
		    " %s\n", e.message);
		goto out;
	}
	db_release(daemon_state.pool, c);
	printf("re-sealed %ld values under master key %s (%ld already were)."
	    "\nNow put the new key in the file secrets.master_key_file names"
	    " (for\ncredential:master-key, " SYNSTACK_SYSCONFDIR
	    "/master-key, which the unit loads) and\nrestart every synstackd;"
	    " keep the old key until all of them run with the new one\n"
	    "(docs/admin-guide.md, section 12).\n",
	    rep.resealed, next.id_hex, rep.already);
	rc = 0;
out:
	if (daemon_state.pool != NULL)
		db_pool_free(daemon_state.pool);
	vault_wipe(&next);
	return rc;
}

/* Tell systemd, when it is listening; errors are not the daemon's. */
static void
notify(const char *state)
{
	(void)sd_notify(0, state);
}

static void
reload(const char *path)
{
	struct conf	*next;
	struct err	 e;
	struct timespec	 ts;
	char		 msg[128];

	/* MONOTONIC_USEC for Type=notify-reload (systemd 253 and later). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu\n"
	    "STATUS=reloading %s", (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL, path);
	notify(msg);
	err_clear(&e);
	if ((next = conf_load(path, &e)) == NULL) {
		log_error("reload failed, keeping the running configuration: %s",
		    e.message);
		notify("READY=1\nSTATUS=reload failed, running the previous "
		    "configuration");
		return;
	}
	conf_keep_unreloadable(next, server_conf());
	log_set_level(next->log_level);
	server_set_conf(next);
	log_info("configuration reloaded from %s", path);
	notify("READY=1\nSTATUS=serving");
}

static int
migrate(const struct conf *conf)
{
	const char	*dir = conf->db_schema_dir[0] != '\0' ?
	    conf->db_schema_dir : SYNSTACK_SCHEMA_DIR;
	struct err	 e;
	PGconn		*c;
	int		 n;

	err_clear(&e);
	if ((c = db_acquire(daemon_state.pool, &e)) == NULL) {
		log_error("cannot reach the database: %s", e.message);
		return -1;
	}
	n = migrate_apply(c, dir, &e);
	db_release(daemon_state.pool, c);
	if (n == -1) {
		log_error("migration failed: %s", e.message);
		return -1;
	}
	log_info("database schema is current (%d migrations applied now)", n);
	return 0;
}

int
main(int argc, char *argv[])
{
	const char	*path = DEFAULT_CONFIG;
	struct conf	*conf;
	struct err	 e;
	sigset_t	 set;
	bool		 check_only = false, debug = false;
	int		 ch, sig;

	log_init("synstackd");
	while ((ch = getopt(argc, argv, "c:dnV")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'n':
			check_only = true;
			break;
		case 'V':
			printf("synstackd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind < argc && !(strcmp(argv[optind], "install-hook") == 0 &&
	    optind + 1 == argc) && !(strcmp(argv[optind],
	    "rotate-master-key") == 0 && optind + 2 == argc))
		usage();

	err_clear(&e);
	if ((conf = conf_load(path, &e)) == NULL) {
		fprintf(stderr, "synstackd: %s\n", e.message);
		return 1;
	}
	if (sodium_init() < 0)
		fatal("libsodium cannot be initialised");
	if (vault_load(&daemon_state.vault, conf->secrets_master_key_file,
	    &e) == -1) {
		fprintf(stderr, "synstackd: %s\n", e.message);
		return 1;
	}
	if (check_only) {
		json_object	*pl;

		if (platforms_path(conf) != NULL) {
			if ((pl = platform_file_load(platforms_path(conf),
			    &e)) == NULL) {
				fprintf(stderr, "synstackd: %s\n", e.message);
				return 1;
			}
			json_object_put(pl);
		}
		fprintf(stderr, "configuration OK\n");
		vault_wipe(&daemon_state.vault);
		conf_free(conf);
		return 0;
	}
	if (optind < argc && strcmp(argv[optind], "rotate-master-key") == 0) {
		ch = rotate_master_key(conf, argv[optind + 1]);
		vault_wipe(&daemon_state.vault);
		conf_free(conf);
		return ch;
	}
	if (optind < argc) {
		gitea_global_init();
		ch = install_hook(conf);
		vault_wipe(&daemon_state.vault);
		conf_free(conf);
		return ch;
	}
	log_set_level(debug ? LOG_DEBUG : conf->log_level);
	gitea_global_init();
	raise_open_files(conf);

	/* Block the signals in every thread; main takes them with sigwait. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	server_set_conf(conf);
	if ((daemon_state.pool = db_pool_new(conf, &e)) == NULL)
		fatal("%s", e.message);
	if (migrate(conf) == -1 || seed_platforms(conf) == -1)
		return 1;
	listen_start(daemon_state.pool);
	health_start();
	hooks_start();
	if (server_start(conf) == -1)
		return 1;
	jobs_start();
	log_info("synstackd %s ready", PACKAGE_VERSION);
	notify("READY=1\nSTATUS=serving");

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(path);
			continue;
		}
		log_info("received %s, draining", strsignal(sig));
		notify("STOPPING=1\nSTATUS=draining");
		break;
	}
	server_drain(server_conf()->http_drain_timeout);
	jobs_stop();
	hooks_stop();
	server_stop();
	health_stop();
	listen_stop();
	db_pool_free(daemon_state.pool);
	vault_wipe(&daemon_state.vault);
	conf_free(daemon_state.conf);
	log_info("stopped");
	return 0;
}
