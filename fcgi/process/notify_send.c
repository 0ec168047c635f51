/*
 * notify_send.c -- one HTTP POST of a notification with libcurl: the
 * runner's only network client (notify.c decides what to send, when, and
 * what the answer means). http and https only, no redirects followed,
 * bounded by a connect timeout and a total timeout so that a dead or slow
 * receiver cannot stall the runner. The answer's body is discarded.
 */
#include <string.h>

#include <curl/curl.h>

#include "process.h"

/* Discards the receiver's answer body. */
static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p, (void)arg;
	return size * n;
}

/* Appends "name: value" to *h. 0 or -1. */
static int
header(struct curl_slist **h, const char *name, const char *value)
{
	char		 line[512];
	struct curl_slist *n;

	if ((size_t)snprintf(line, sizeof(line), "%s: %s", name, value) >=
	    sizeof(line))
		return -1;
	if ((n = curl_slist_append(*h, line)) == NULL)
		return -1;
	*h = n;
	return 0;
}

int
notify_send(const struct notify_msg *m, long *status, char *err,
    size_t errlen)
{
	static int	 ready;
	CURL		*c = NULL;
	struct curl_slist *h = NULL;
	char		 ebuf[CURL_ERROR_SIZE] = "", id[32];
	CURLcode	 rc;
	int		 ret = -1;

	*status = 0;
	if (!ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			snprintf(err, errlen, "libcurl would not start");
			return -1;
		}
		ready = 1;
	}
	snprintf(id, sizeof(id), "%lld", m->id);
	if ((c = curl_easy_init()) == NULL ||
	    header(&h, "Content-Type", "application/json") ||
	    header(&h, "User-Agent", "tessera/" TESSERA_VERSION) ||
	    header(&h, "Expect", "") ||
	    header(&h, "X-Tessera-Delivery", id) ||
	    header(&h, "X-Tessera-Event", m->event) ||
	    header(&h, "X-Tessera-Timestamp", m->timestamp) ||
	    header(&h, "X-Tessera-Signature", m->signature)) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, m->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, m->connect_timeout);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, m->timeout);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, m->body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)m->len);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	if ((rc = curl_easy_perform(c)) != CURLE_OK) {
		snprintf(err, errlen, "%s", ebuf[0] ? ebuf :
		    curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	ret = 0;
out:
	curl_slist_free_all(h);
	if (c)
		curl_easy_cleanup(c);
	return ret;
}
