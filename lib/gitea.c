/*
 * gitea.c: the Gitea client on libcurl.  Every call is bounded: connect
 * and total timeouts, a cap on the answer's size, http(s) only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "synstack.h"

#define GITEA_MAX_ANSWER	(8 * 1024 * 1024)

struct gitea_buf {
	char	*data;
	size_t	 len;
	bool	 too_large;
};

void
gitea_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t
gitea_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct gitea_buf	*b = arg;
	size_t			 n = size * nmemb;
	char			*p;

	if (b->len + n > GITEA_MAX_ANSWER) {
		b->too_large = true;
		return 0;
	}
	if ((p = realloc(b->data, b->len + n + 1)) == NULL)
		return 0;
	b->data = p;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

int
gitea_probe(const struct conf *conf, char *version, size_t size,
    struct err *e)
{
	CURL			*curl;
	CURLcode		 rc;
	struct gitea_buf	 b = { NULL, 0, false };
	char			 url[2048];
	long			 status = 0;
	json_object		*obj, *v;
	int			 ret = -1;

	snprintf(url, sizeof(url), "%s/api/v1/version", conf->gitea_url);
	if ((curl = curl_easy_init()) == NULL)
		return err_set(e, ERR_INTERNAL, "curl_easy_init failed");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, conf->gitea_timeout);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, conf->gitea_timeout);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, gitea_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	if (rc != CURLE_OK) {
		err_set(e, ERR_GITEA_UNAVAILABLE, "%s",
		    b.too_large ? "answer too large" : curl_easy_strerror(rc));
		goto out;
	}
	if (status != 200) {
		err_set(e, ERR_GITEA_UNAVAILABLE, "Gitea answered HTTP %ld",
		    status);
		goto out;
	}
	if ((obj = json_parse_strict(b.data, b.len, 8, e)) == NULL) {
		err_set(e, ERR_GITEA_UNAVAILABLE, "Gitea's answer is not JSON");
		goto out;
	}
	if (json_object_object_get_ex(obj, "version", &v) &&
	    json_object_is_type(v, json_type_string)) {
		strlcpy_ss(version, json_object_get_string(v), size);
		ret = 0;
	} else
		err_set(e, ERR_GITEA_UNAVAILABLE,
		    "Gitea's answer has no version");
	json_object_put(obj);
out:
	free(b.data);
	return ret;
}
