"""DELETE /api/{sources,destinations,pipelines,models}/{id} (HTTP.md
"Pipelines that run, and the Via destination") through nginx and
`tessera serve --workers 2`: 204 and then 404; 409 IN_USE naming the
referrer, which stays, while a pipeline uses a source or a destination, a
model or a Via token (active or not) uses a destination, a pipeline has a
run queued; another account's id 404 with nothing deleted; a token
without objects:write 403; a member who did not create it 403; a
pipeline's records, deliveries and runs go with it and the account's
usage counters (records, bytes, object_bytes) stay true; the audit log
has a row per delete. Runs on SQLite and, under tests/run's http-pg, on
PostgreSQL."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apiclient import ALL_USER_SCOPES, PW, Api, Db, cli_token, is_failure  # noqa: E402
from servers import Nginx, TesseraServe, free_port  # noqa: E402
from tap import BIN, Tap, add_user, app_env, init_data, scratch  # noqa: E402
import openapi_check  # noqa: E402

NO_LIMITS = {"TESSERA_RATE_LIMIT_API_KEY": 0, "TESSERA_RATE_LIMIT_API_IP": 0,
             "TESSERA_RATE_LIMIT_WEBHOOK_KEY": 0,
             "TESSERA_RATE_LIMIT_WEBHOOK_IP": 0}


def usage(db, acct):
    """(records, bytes, object_bytes) the account's usage rows sum to."""
    return db.one("SELECT CAST(coalesce(sum(records), 0) AS INTEGER), "
                  "CAST(coalesce(sum(bytes), 0) AS INTEGER), "
                  "CAST(coalesce(sum(object_bytes), 0) AS INTEGER) "
                  "FROM account_usage WHERE account_id = ?", acct)


def stored_object_bytes(db, acct):
    """What object_bytes must be: the bytes of the account's objects."""
    if db.engine == "sqlite":
        n = "length(CAST(%s AS BLOB))"
    else:
        n = "octet_length(%s)"
    parts = ["SELECT %s AS n FROM %s WHERE account_id = ?" % (n % "config", k)
             for k in ("sources", "destinations", "pipelines")]
    parts.append("SELECT %s + %s FROM models WHERE account_id = ?" %
                 (n % "config", n % "sql"))
    return db.val("SELECT CAST(coalesce(sum(n), 0) AS INTEGER) FROM (%s) x" %
                  " UNION ALL ".join(parts), acct, acct, acct, acct)


def main():
    t = Tap()
    openapi_check.enable(t)   # every API answer against docs/openapi.json
    work = scratch("objdel")
    data = init_data(os.path.join(work, "data"))
    add_user(data, "ana@example.com", PW, role="admin")
    add_user(data, "bob@example.com", PW)
    add_user(data, "dave@example.com", PW)
    add_user(data, "zed@other.example", PW, role="admin", account="Other")
    db = Db(data)
    acct = db.val("SELECT id FROM accounts WHERE name = 'Acme'")
    every = ("--scopes", ",".join(ALL_USER_SCOPES))
    bob = cli_token(data, "bob@example.com", "bob", *every)
    reader = cli_token(data, "bob@example.com", "reader", "--scopes", "objects:read")
    dave = cli_token(data, "dave@example.com", "dave", *every)
    ana = cli_token(data, "ana@example.com", "ana", *every)
    zed = cli_token(data, "zed@other.example", "zed", *every)

    sock = os.path.join(work, "app", "tessera.sock")
    os.makedirs(os.path.dirname(sock))
    # The runner does no runs here (run_poll_ms 0): the test plays its
    # part by hand, so a run stays queued for as long as it needs.
    app = TesseraServe(os.path.join(work, "app"), BIN, sock, workers=2,
                       env=app_env(data, TESSERA_RUN_POLL_MS=0, **NO_LIMITS))
    web = Nginx(os.path.join(work, "web"), free_port(), sock)
    with app, web:
        api = Api(web.base_url)

        def make(kind, body, who=bob):
            s, _, b, doc = api.post("/api/" + kind, who.basic, body)
            if s != 201:
                raise RuntimeError("create %s: %d %r" % (kind, s, b))
            return doc["data"]

        def delete(kind, oid, who=bob):
            s, h, b, doc = api.call("DELETE", "/api/%s/%s" % (kind, oid), who.basic)
            return s, b, doc

        def exists(kind, oid):
            return db.val("SELECT count(*) FROM %s WHERE id = ?" % kind, oid) == 1

        src = make("sources", {"name": "hook", "type": "webhook",
                               "config": {"note": "ünïcode bytes"}})
        dst = make("destinations", {"name": "lake", "type": "s3",
                                    "config": {"bucket": "b"}})
        pl = make("pipelines", {"name": "p", "type": "webhook", "source_id": src["id"],
                                "destination_id": dst["id"], "config": {"x": 1}})
        mdl = make("models", {"name": "m", "type": "sql", "destination_id": dst["id"],
                              "sql": "SELECT 1 -- é"})
        zsrc = make("sources", {"name": "theirs", "type": "webhook"}, zed)
        t.eq(usage(db, acct)[2], stored_object_bytes(db, acct),
             "object_bytes is the objects' bytes before any delete")

        # Records and a queued run for the pipeline.
        url = "/webhook?pipeline_id=%d" % pl["id"]
        for body in ({"a": 1, "s": "日本"}, [{"n": 1}, {"n": 2, "t": "x" * 100}]):
            s = api.post(url, bob.basic, body)[0]
            t.eq(s, 200, "webhook delivery to the pipeline -> 200")
        before = usage(db, acct)
        t.eq(before[0], 3, "usage counts the 3 records")
        s = api.post("/api/pipelines/%d/run" % pl["id"], bob.basic)[0]
        t.eq(s, 200, "a run is queued")
        s = api.post("/api/models/%d/run" % mdl["id"], bob.basic)[0]
        t.eq(s, 200, "a model's run is queued")

        # In use: 409 and the object stays.
        for kind, oid, word, label in (
                ("sources", src["id"], "pipeline %d" % pl["id"], "a source a pipeline uses"),
                ("destinations", dst["id"], "pipeline %d" % pl["id"],
                 "a destination a pipeline uses"),
                ("pipelines", pl["id"], "run", "a pipeline with a queued run"),
                ("models", mdl["id"], "run", "a model with a queued run")):
            s, b, doc = delete(kind, oid)
            t.ok(s == 409 and is_failure(doc, "IN_USE") and word in doc["message"],
                 "DELETE %s -> 409 IN_USE naming %s" % (label, word), b)
            t.ok(exists(kind, oid), "... and it is still there")

        # Refusals that change nothing.
        s, b, doc = delete("models", mdl["id"], reader)
        t.ok(s == 403 and is_failure(doc, "INSUFFICIENT_SCOPE") and
             doc.get("required") == "objects:write",
             "a token without objects:write -> 403 INSUFFICIENT_SCOPE", b)
        s, b, doc = delete("models", mdl["id"], zed)
        t.ok(s == 404 and is_failure(doc, "NOT_FOUND"), "another account's id -> 404", b)
        s, b, doc = delete("sources", zsrc["id"], bob)
        t.ok(s == 404 and is_failure(doc, "NOT_FOUND"),
             "... the other way round too -> 404", b)
        t.ok(exists("sources", zsrc["id"]), "... and the other account's source stays")
        s, b, doc = delete("models", mdl["id"], dave)
        t.ok(s == 403 and is_failure(doc, "FORBIDDEN"),
             "a member who did not create it -> 403 FORBIDDEN", b)
        for bad in ("abc", "0", "-1", "1e3", "99999999", "9" * 30):
            s, b, doc = delete("models", bad)
            t.ok(s == 404 and is_failure(doc, "NOT_FOUND"),
                 "DELETE /api/models/%s -> 404 NOT_FOUND" % bad[:12], b)
        t.ok(exists("models", mdl["id"]), "the model survived every refusal")
        t.eq(usage(db, acct), before, "... and the usage counters did not move")

        # The model (an admin may delete what another created), once its
        # run is over (the runner's part, here by hand): its runs go too.
        db.run("UPDATE runs SET status = 'success' WHERE model_id = ?", mdl["id"])
        s, b, doc = delete("models", mdl["id"], ana)
        t.eq((s, b), (204, b""), "DELETE a model by an admin -> 204, no body")
        t.eq(delete("models", mdl["id"])[0], 404, "... then 404")
        t.eq(api.get("/api/models/%d" % mdl["id"], bob.basic)[0], 404,
             "... and GET 404")
        t.eq(db.val("SELECT count(*) FROM runs WHERE model_id = ?", mdl["id"]), 0,
             "... its runs are gone")

        # The pipeline, once its run is over (the runner's part, here by hand).
        db.run("UPDATE runs SET status = 'success' WHERE pipeline_id = ?",
               pl["id"])
        s, b, doc = delete("pipelines", pl["id"])
        t.eq((s, b), (204, b""), "DELETE a pipeline whose runs are over -> 204")
        for table in ("records", "deliveries", "runs"):
            t.eq(db.val("SELECT count(*) FROM %s WHERE pipeline_id = ?" % table,
                        pl["id"]), 0, "... its %s are gone" % table)
        after = usage(db, acct)
        t.eq(after[:2], (0, 0), "account usage: records and bytes back to 0")
        t.eq(after[2], stored_object_bytes(db, acct),
             "account usage: object_bytes is the remaining objects' bytes")

        # Source and destination are free now.
        t.eq(delete("destinations", dst["id"])[0], 204, "DELETE the destination -> 204")
        t.eq(delete("sources", src["id"])[0], 204, "DELETE the source -> 204")
        t.eq(delete("sources", src["id"])[0], 404, "... then 404")

        # A Via destination is used by its Via token, active or not.
        via = make("destinations", {"name": "v", "type": "via"})
        s, b, doc = delete("destinations", via["id"])
        t.ok(s == 409 and is_failure(doc, "IN_USE") and via["via_token"]["key"]
             in doc["message"], "DELETE a Via destination -> 409 naming its Via token", b)
        db.run("UPDATE tokens SET active = 0 WHERE destination_id = ?", via["id"])
        s, b, doc = delete("destinations", via["id"])
        t.ok(s == 409 and is_failure(doc, "IN_USE"),
             "... also while the Via token is inactive", b)
        t.ok(exists("destinations", via["id"]), "... and it stays")
        t.eq(usage(db, acct)[2], stored_object_bytes(db, acct),
             "object_bytes true at the end")

        audit = db.all("SELECT action, object FROM audit_log WHERE action LIKE "
                       "'%.deleted' ORDER BY id")
        t.eq(audit, [("models.deleted", str(mdl["id"])),
                     ("pipelines.deleted", str(pl["id"])),
                     ("destinations.deleted", str(dst["id"])),
                     ("sources.deleted", str(src["id"]))],
             "audit log: one row per delete, none for the refused ones")
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
