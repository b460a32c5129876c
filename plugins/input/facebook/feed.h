/*
 * feed.h - turns the body of a Facebook page webhook delivery into vigil
 * posts (doc/inputs/facebook.md has the mapping). Pure functions, shared
 * with the fuzz harness.
 */
#ifndef VIGIL_INPUT_FACEBOOK_FEED_H
#define VIGIL_INPUT_FACEBOOK_FEED_H

#include <stddef.h>

struct feed_post {
	char  *json; /* the post as vigil reads it (doc/posts.md) */
	size_t len;
	size_t index; /* the change's number in the delivery, from 0 */
};

struct feed {
	struct feed_post *posts;
	size_t            n_posts;
	size_t            changes;        /* changes in the delivery */
	size_t            removed;        /* verb "remove": nothing to score */
	size_t            skipped;        /* not the feed, or no message */
	size_t            bad;            /* feed changes that make no post */
	char              first_bad[160]; /* why the first of those */
};

/* 0 and the posts, or -1 with a reason in err when the body is not a
 * page delivery at all. f is freed with feed_free either way. */
int feed_parse(
    const char *buf, size_t len, struct feed *f, char *err, size_t errlen);
void feed_free(struct feed *f);

#endif
