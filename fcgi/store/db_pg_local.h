/*
 * db_pg_local.h -- what the PostgreSQL engine's two files share: the
 * connection (db_pg.c) and its prepared queries (db_pg_query.c), and the
 * connection's calls the queries use. It includes libpq-fe.h: only the
 * engine's files include it.
 */
#ifndef TESSERA_DB_PG_LOCAL_H
#define TESSERA_DB_PG_LOCAL_H

#include <libpq-fe.h>
#include <stddef.h>

struct pgdb {
	PGconn		*conn;
	char		*uri;
	long long	 lock_ms;
	long long	 changes;
	long long	 last_id;
	char		 errmsg[512];
	struct pgq	**qs;		/* every prepared query, to re-prepare */
	size_t		 nqs;
	unsigned long	 named;		/* statements named so far: "q<n>" */
	unsigned	 epoch;		/* bumped at each reconnection */
	unsigned	 seen_epoch;	/* the one pg_changes last reported */
	int		 writing;	/* in a write transaction (DB_BEGIN) */
	int		 batch_sent;	/* statements sent in this batch */
	int		 batch_failed;	/* one could not be sent */
};

struct pgq {
	struct pgdb	*pg;
	char		 stname[16];	/* "q12" */
	char		*sql;		/* rewritten, as prepared */
	char		**names;	/* ":name" per $n */
	int		 n;
	char		**values;	/* NULL: SQL NULL */
	int		*lengths;
	int		*formats;
	int		 readonly;
	int		 hidden_id;	/* "RETURNING id" added by us */
	unsigned	 epoch;		/* prepared on this connection */
	PGresult	*res;
	int		 row;		/* current row, -1 before the first */
	int		 nrows;
	unsigned char	*blob;		/* the decoded bytea last asked for */
	size_t		 bloblen;
	int		 blobrow, blobcol;
};

/* The store's code for a failed result r (NULL: the connection's last
 * error), its message kept for pg_errmsg. */
int	 pg_code_of(struct pgdb *, PGresult *r);
/* Prepares q on the current connection; 0, or -1 with the error kept. */
int	 pg_prepare_on(struct pgdb *, struct pgq *q);
/* Reads what the server sent, so that a connection it ended shows as
 * lost. */
void	 pg_notice_loss(struct pgdb *);
/* Re-opens a lost connection and prepares every query again; only
 * outside a transaction. DB_OK or DB_CANTOPEN. */
int	 pg_reconnect(struct pgdb *);

#endif
