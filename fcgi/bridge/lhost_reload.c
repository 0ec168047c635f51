/*
 * lhost_reload.c -- a process's Lua state, kept current without ever
 * being worse than the last good one. With reload on, a changed script
 * makes a new state, built beside the old one; only a state that loads
 * replaces it. One that fails (a syntax error, a route module that
 * raises) is logged once, and the last good state goes on serving; the
 * failed try is not repeated until one of the files or folders it read
 * changes, so a fixed file loads on the next request. With no good state
 * at all (the scripts never loaded), every call tries again and logs, and
 * the caller answers 500.
 */
#include <stdlib.h>

#include <lua.h>

#include "bridge.h"

struct lhost *
lhost_refresh(struct lhost_slot *s, const struct config *cfg, struct db *db,
    const unsigned char *pepper, struct rl_map *rl, const char *who)
{
	struct watchset	*tried;
	struct lhost	*nl;
	char		 err[2048];

	if (s->lh != NULL && !lhost_stale(s->lh))
		return s->lh;
	/* The change that failed to load is still all there is. */
	if (s->lh != NULL && s->failed != NULL && !watch_changed(s->failed))
		return s->lh;
	if ((tried = calloc(1, sizeof(*tried))) == NULL)
		return s->lh;
	if (s->lh != NULL)
		log_info("%sscripts changed; reloading", who);
	if ((nl = lhost_build(cfg, db, pepper, err, sizeof(err),
	    tried)) == NULL) {
		if (s->lh != NULL)
			log_err("%sthe changed scripts do not load; still "
			    "serving the last good version: %s", who, err);
		else
			log_err("%s%s", who, err);
		lhost_slot_forget(s);
		s->failed = tried;
		return s->lh;
	}
	free(tried);
	lhost_set_limits(nl, rl);
	lhost_free(s->lh);
	lhost_slot_forget(s);
	s->lh = nl;
	return nl;
}

void
lhost_slot_forget(struct lhost_slot *s)
{
	if (s->failed) {
		watch_clear(s->failed);
		free(s->failed);
		s->failed = NULL;
	}
}

void
lhost_slot_free(struct lhost_slot *s)
{
	lhost_free(s->lh);
	s->lh = NULL;
	lhost_slot_forget(s);
}
