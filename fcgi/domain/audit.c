/*
 * audit.c -- the audit log's one writer in C (the gate's refused
 * addresses; the command line's rows through audit_add_cli, with no user
 * and ip "cli"). Scripts write it through lua/hooks.lua with the same
 * named query, audit_add.
 */

#include "domain.h"
#include "lib/lib.h"
#include "store/store.h"

int
audit_write(struct db *db, long long account_id, long long user_id,
    const char *action, const char *object, const char *ip,
    const char *detail, const char *via_key)
{
	struct dbq	*st;

	if ((st = db_query(db, "audit_add")) == NULL ||
	    db_bind_int64(st, ":now", clock_now()) ||
	    db_bind_int64(st, ":account_id", account_id) ||
	    db_bind_int64(st, ":user_id", user_id) ||
	    db_bind_text(st, ":action", action) ||
	    db_bind_text(st, ":object", object ? object : "") ||
	    db_bind_text(st, ":ip", ip ? ip : "") ||
	    db_bind_text(st, ":detail", detail ? detail : "") ||
	    db_bind_text(st, ":via_token", via_key ? via_key : ""))
		return -1;
	return db_run(db, st) == 0 ? 0 : -1;
}

int
audit_write_cli(struct db *db, long long account_id, const char *action,
    const char *object, const char *detail)
{
	struct dbq	*st;

	if ((st = db_query(db, "audit_add_cli")) == NULL ||
	    db_bind_int64(st, ":now", clock_now()) ||
	    db_bind_int64(st, ":account_id", account_id) ||
	    db_bind_text(st, ":action", action) ||
	    db_bind_text(st, ":object", object ? object : "") ||
	    db_bind_text(st, ":detail", detail ? detail : ""))
		return -1;
	return db_run(db, st) == 0 ? 0 : -1;
}
