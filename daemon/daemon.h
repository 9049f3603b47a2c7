/* daemon.h: synstackd's HTTP front end; a section per file. */
#ifndef DAEMON_H
#define DAEMON_H

#include "config.h"

#include <microhttpd.h>

#include "synstack.h"

#define ROUTE_MAX_PARAMS	4

enum route_auth {
	AUTH_NONE,		/* public */
	AUTH_AGENT,		/* an active agent's bearer key */
	AUTH_ADMIN		/* an admin token */
};

struct request {
	struct MHD_Connection	*conn;
	const char		*method;
	const char		*path;
	const struct route	*route;
	int			 route_index;
	const char		*params[ROUTE_MAX_PARAMS];
	int			 nparams;
	const char		*body;
	size_t			 body_len;
	const struct conf	*conf;
	struct db_pool		*pool;
	struct core		 core;		/* pool, conf, vault */
	char			 remote[64];
	struct agent		 agent;		/* AUTH_AGENT */
	struct actor		 actor;		/* who, for the audit log */
};

struct response {
	int		 status;
	json_object	*json;		/* or text */
	char		*text;
	const char	*content_type;
	char		 retry_after[16];
	const char	*allow;
	bool		 www_authenticate;
};

typedef void (*route_fn)(struct request *, struct response *);

struct route {
	const char	*method;
	const char	*pattern;	/* "/api/v1/admin/agents/{ref}/approve" */
	enum route_auth	 auth;
	route_fn	 handler;
	const char	*summary;
	long		 max_body;	/* 0: http.max_body */
};

/* routes.c */
extern const struct route routes[];
extern const size_t routes_n;

/* server.c */
struct daemon_state {
	struct conf	*conf;		/* current; swapped by SIGHUP */
	struct db_pool	*pool;
	struct vault	 vault;		/* the master key */
};
extern struct daemon_state daemon_state;

int		 server_start(const struct conf *);
void		 server_drain(long);
void		 server_stop(void);
const struct conf *server_conf(void);
void		 server_set_conf(struct conf *);
void		 reply_json(struct response *, int, json_object *);
void		 reply_error(struct response *, const struct err *);
/* Content type, strict parse and an object at the top; 0 or an error
 * already answered. */
int		 request_json(struct request *, struct response *,
		     json_object **);
const char	*request_query(struct request *, const char *);

/* metrics.c */
void		 metrics_count(int, const char *, int, long);
char		*metrics_render(struct db_pool *);

/* jobs.c */
void		 jobs_start(void);
void		 jobs_stop(void);

/* api-health.c */
void		 health_start(void);
void		 health_stop(void);
void		 api_healthz(struct request *, struct response *);
void		 api_metrics(struct request *, struct response *);
bool		 health_gitea_up(void);

/* api-agents.c */
void		 api_agent_register(struct request *, struct response *);
void		 api_agent_me(struct request *, struct response *);

/* api-act.c */
void		 api_act(struct request *, struct response *);

/* api-hooks.c */
void		 api_gitea_hook(struct request *, struct response *);

/* api-admin.c */
void		 api_admin_agents(struct request *, struct response *);
void		 api_admin_agent_approve(struct request *, struct response *);
void		 api_admin_agent_suspend(struct request *, struct response *);
void		 api_admin_audit(struct request *, struct response *);
void		 api_admin_sync(struct request *, struct response *);

#endif /* DAEMON_H */
