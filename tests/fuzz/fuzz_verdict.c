/*
 * fuzz_verdict.c - libFuzzer harness for alert_set_decode and
 * alert_set_from_verdict: what workers send is outside input to whoever
 * reads it. Any input must be refused with a reason or give alerts whose
 * every string is readable and whose document is JSON of the documented
 * version.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
opt_len(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

static void
check_alert(const vigil_alert *a)
{
	json_t *doc;
	size_t  n;

	/* Reading every string finds any that points to freed memory. */
	n = strlen(a->id) + strlen(a->rule) + strlen(a->title) +
	    strlen(a->post_id) + opt_len(a->jurisdiction) +
	    opt_len(a->platform) + opt_len(a->channel) + opt_len(a->url) +
	    opt_len(a->author_id) + opt_len(a->author_handle) +
	    opt_len(a->author_name) + opt_len(a->law) + opt_len(a->article) +
	    opt_len(a->penalty) + opt_len(a->window) + opt_len(a->excerpt);
	if (strlen(a->id) != 32 || a->json_len != strlen(a->json) || n == 0)
		abort();
	doc = json_loadb(a->json, a->json_len, JSON_REJECT_DUPLICATES, NULL);
	if (doc == NULL ||
	    json_integer_value(json_object_get(doc, "version")) != 1)
		abort();
	json_decref(doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char       err[256];
	alert_set *s;

	/* The encoded alerts that vigild decodes come from workers too. */
	s = alert_set_decode((const char *)data, size, err, sizeof(err));
	if (s != NULL) {
		for (size_t i = 0; i < alert_set_count(s); i++)
			if (alert_set_get(s, i)->json_len !=
			    strlen(alert_set_get(s, i)->json))
				abort();
		alert_set_free(s);
	}
	err[0] = '\0';
	s      = alert_set_from_verdict(
	         (const char *)data, size, 0, err, sizeof(err));
	if (s == NULL) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	for (size_t i = 0; i < alert_set_count(s); i++)
		check_alert(alert_set_get(s, i));
	if (alert_set_get(s, alert_set_count(s)) != NULL)
		abort();
	alert_set_free(s);
	return 0;
}
