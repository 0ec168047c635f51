/*
 * lhost_tokens.h -- shared by the three files of host.tokens, and no
 * other: lhost_tokens_args.c (who acts, reading a call's arguments, the
 * refusals), lhost_tokens_read.c (get, list, the scope names) and
 * lhost_tokens.c (the writes: create, set_active, update, rotate).
 */
#ifndef LHOST_TOKENS_H
#define LHOST_TOKENS_H

#include <stdint.h>

#include <lua.h>

#include "domain/authority.h"
#include "bridge.h"
#include "lib/cidr.h"

struct actor {
	long long		 id;
	long long		 account_id;
	int			 admin;
	const struct principal	*token;	/* the acting token, or NULL */
};

void	tok_get_actor(lua_State *L, int t, struct actor *a);
const char *	tok_opt_field(lua_State *L, int t, const char *name, const char *def);
lua_Integer	tok_opt_int(lua_State *L, int t, const char *name, lua_Integer def);
int	tok_fail_db(lua_State *L);
int	tok_refusal(lua_State *L, const struct authority_err *e);
int	tok_refuse(lua_State *L, int status, const char *code, const char *msg);
int	tok_get_scopes(lua_State *L, int t, uint32_t *mask, int *given, struct authority_err *e);
int	tok_check_kind_scopes(const char *kind, uint32_t mask, struct authority_err *e);
int	tok_get_ips(lua_State *L, int t, struct cidr_list *l, int *given, struct authority_err *e);
int	tok_get_expiry(lua_State *L, int t, long long now, struct expiry_ask *ask, struct authority_err *e);
int	tok_push_visible(lua_State *L, const char *key, const struct actor *a);
long long	tok_int_field(lua_State *L, const char *name);
long long	tok_target(lua_State *L, const char *key, const struct actor *a);
int	tok_l_get(lua_State *L);
int	tok_l_list(lua_State *L);
int	tok_l_scope_names(lua_State *L);
void	tok_push_scope_table(lua_State *L);

#endif /* LHOST_TOKENS_H */
