/*
 * score.c - runs the rule instances of a configuration over one post.
 *
 * A post goes to the rules of the jurisdictions it names, else to those of
 * its input, else to all; rules configured without jurisdictions see every
 * post. Rules judge the post by its created_at, never by the clock.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alert.h"
#include "host.h"
#include "log.h"
#include "post.h"
#include "score.h"
#include "settings.h"
#include "util.h"
#include "wire.h"

typedef struct rule_inst {
	const instance_conf *conf;
	vigil_ctx            ctx;
	void                *instance;
	int                  started;
} rule_inst;

struct scorer {
	const vigil_config *cfg;
	rule_inst          *rules;
	size_t              n_rules;
	vigil_findings     *findings;
};

void
scorer_free(scorer *s)
{
	if (s == NULL)
		return;
	for (size_t i = s->n_rules; i-- > 0;) {
		rule_inst *r = &s->rules[i];
		if (r->started && r->conf->desc->stop)
			r->conf->desc->stop(r->instance);
		if (r->instance && r->conf->desc->destroy)
			r->conf->desc->destroy(r->instance);
	}
	free(s->rules);
	findings_free(s->findings);
	free(s);
}

scorer *
scorer_new(const vigil_config *cfg, char *err, size_t errlen)
{
	scorer *s = calloc(1, sizeof(*s));

	if (s == NULL)
		goto nomem;
	s->cfg      = cfg;
	s->findings = findings_new();
	s->rules = calloc(cfg->n_rules ? cfg->n_rules : 1, sizeof(rule_inst));
	if (s->findings == NULL || s->rules == NULL)
		goto nomem;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const instance_conf *ic = &cfg->rules[i];
		rule_inst           *r  = &s->rules[s->n_rules++];

		r->conf = ic;
		host_ctx_init(
		    &r->ctx, VIGIL_PLUGIN_RULE, ic->name, ic->desc, NULL, s);
		if (ic->desc->init(host_table(), &r->ctx, ic->cfg,
		        &r->instance) != VIGIL_OK) {
			snprintf(err, errlen, "%s: rule %s/%s failed to start",
			    cfg_where(ic->cfg, NULL), ic->plugin, ic->name);
			goto fail;
		}
		r->ctx.instance = r->instance;
		if (ic->desc->start &&
		    ic->desc->start(r->instance) != VIGIL_OK) {
			snprintf(err, errlen, "%s: rule %s/%s failed to start",
			    cfg_where(ic->cfg, NULL), ic->plugin, ic->name);
			goto fail;
		}
		r->started = 1;
	}
	return s;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	scorer_free(s);
	return NULL;
}

/* Does rule r apply to a post in these jurisdictions? */
static int
rule_applies(const instance_conf *r, const vigil_post *p)
{
	if (r->n_jurisdictions == 0 || p->n_jurisdictions == 0)
		return 1;
	for (size_t i = 0; i < r->n_jurisdictions; i++)
		for (size_t j = 0; j < p->n_jurisdictions; j++)
			if (strcasecmp(r->jurisdictions[i],
			        p->jurisdictions[j].ptr) == 0)
				return 1;
	return 0;
}

void
score_result_clear(score_result *r)
{
	free(r->text);
	free(r->alerts);
	memset(r, 0, sizeof(*r));
}

/* The verdict with findings: its text for replay (unless brief), its
 * alerts for sinks. */
static int
verdict_with_alerts(
    scorer *s, const vigil_post *v, bool brief, score_result *out)
{
	char       err[256];
	alert_set *as;
	int        rc = -1;

	if (!brief &&
	    (out->text = verdict_json(
	         v, s->findings, &s->cfg->thr, NULL, NULL, &out->len)) == NULL)
		return -1;
	as = alert_set_from_findings(v, s->findings, &s->cfg->thr,
	    now_realtime_us(), &out->severity, err, sizeof(err));
	if (as == NULL)
		log_err("building the alerts of post %s: %s", v->id.ptr, err);
	else if (alert_set_encode(as, &out->alerts, &out->alerts_len) == 0)
		rc = 0;
	alert_set_free(as);
	return rc;
}

int
scorer_run(scorer *s, const char *buf, size_t len, const char *const *jur,
    size_t n_jur, bool brief, score_result *out)
{
	char              reason[256];
	post             *p;
	const vigil_post *v;

	memset(out, 0, sizeof(*out));
	if (post_parse(buf, len, &p, reason, sizeof(reason)) != 0) {
		out->status = WIRE_INVALID;
		out->text   = strdup(reason);
		out->len    = out->text ? strlen(out->text) : 0;
		return out->text ? 0 : -1;
	}
	v = post_view(p);
	if (v->n_jurisdictions == 0 && n_jur > 0 &&
	    post_set_default_jurisdictions(p, jur, n_jur) != 0)
		goto fail;
	v = post_view(p);
	findings_clear(s->findings);
	for (size_t i = 0; i < s->n_rules; i++) {
		rule_inst *r = &s->rules[i];
		if (!rule_applies(r->conf, v))
			continue;
		if (r->conf->desc->score(r->instance, v, s->findings) !=
		    VIGIL_OK)
			host_log_limited(&r->ctx, VIGIL_LOG_WARNING,
			    "scoring post %s failed; findings this rule "
			    "added before failing are kept",
			    v->id.ptr);
	}
	out->status = WIRE_SCORED;
	if (findings_count(s->findings) > 0) {
		if (verdict_with_alerts(s, v, brief, out) != 0)
			goto fail;
	} else if (brief)
		out->severity = VIGIL_SEV_NONE;
	else if ((out->text = verdict_json(v, s->findings, &s->cfg->thr,
	              &out->severity, NULL, &out->len)) == NULL)
		goto fail;
	post_free(p);
	return 0;
fail:
	post_free(p);
	score_result_clear(out);
	return -1;
}
