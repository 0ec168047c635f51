"""Checks answers against docs/openapi.json, the API description.

    import openapi_check
    openapi_check.enable(t)      # t: the suite's Tap

From then on every answer that servers.http() gets for a path of the
description (the API under /api, /webhook, /healthz) is checked: its status
is declared for that path and method, its Content-Type is one the
response declares, a JSON body matches the response's schema, and the
response's required headers (Retry-After on a 429, WWW-Authenticate on a
401) are there. When the suite ends (t.done()), each violation is one
failed test naming the method, the path, the status and jsonschema's
message, and one more test says how many answers were checked (none
checked is a failure too). Paths the description does not have (an
unknown path's 404, a 405 for another method) are not checked here.

OpenAPI 3.0 schema objects are not JSON Schema: the description's schemas
are made into Draft 4 schemas (the draft OpenAPI 3.0 builds on) by
inlining every $ref from the document itself and by turning
`nullable: true` into a type list with "null" (or an enum with None, or an
anyOf with {"type": "null"} where there is no type). The description keeps
the OpenAPI 3.0 form; only this checker sees the converted one.
"""

import copy
import json
import os
import re
import threading
import urllib.parse

import jsonschema

import servers

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = os.path.join(os.path.dirname(os.path.dirname(HERE)), "docs", "openapi.json")
META = "/usr/share/openapi-specification/schemas/v3.0/schema.json"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def load(path=DOC):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def resolve(doc, ref):
    """The object a local $ref ("#/components/...") names in doc."""
    if not ref.startswith("#/"):
        raise ValueError("only local references are used: " + ref)
    node = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def inline(doc, node, depth=0):
    """node with every $ref replaced by (a copy of) what it names."""
    if depth > 50:
        raise ValueError("$ref chain too deep (a cycle?)")
    if isinstance(node, dict):
        if "$ref" in node:
            return inline(doc, resolve(doc, node["$ref"]), depth + 1)
        return {k: inline(doc, v, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [inline(doc, v, depth) for v in node]
    return node


def to_json_schema(s):
    """An OpenAPI 3.0 schema object (refs inlined) as a Draft 4 schema."""
    if isinstance(s, list):
        return [to_json_schema(v) for v in s]
    if not isinstance(s, dict):
        return s
    out = {k: to_json_schema(v) for k, v in s.items() if k != "nullable"}
    if s.get("nullable") is True:
        if "type" in out:
            t = out["type"]
            out["type"] = (t if isinstance(t, list) else [t]) + ["null"]
            if "enum" in out:
                out["enum"] = out["enum"] + [None]
        else:
            out = {"anyOf": [{"type": "null"}, out]}
    return out


def validate_document(doc, meta_path=META):
    """jsonschema's messages for doc against the official OpenAPI 3.0
    schema (Debian's openapi-specification), [] when it is valid."""
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    v = jsonschema.Draft4Validator(meta)
    return ["%s: %s" % ("/".join(str(p) for p in e.absolute_path) or "(top)",
                        e.message[:300]) for e in v.iter_errors(doc)]


class Checker:
    def __init__(self, doc=None, mount="/api"):
        self.doc = doc if doc is not None else load()
        self.mount = mount
        self.routes = []    # (literal?, regex, template, path item)
        for tpl, item in self.doc["paths"].items():
            p = tpl
            if p.startswith("/api/"):
                p = mount + p[4:]
            rx = "^" + re.sub(r"\\\{[A-Za-z_][A-Za-z0-9_]*\\\}", "[^/]+",
                              re.escape(p)) + "$"
            self.routes.append(("{" not in tpl, re.compile(rx), tpl, item))
        # Literal paths first, as the router matches them.
        self.routes.sort(key=lambda r: not r[0])
        self.lock = threading.Lock()
        self.checked = 0
        self.covered = set()    # "METHOD template" of the answers checked
        self.violations = []
        self._schemas = {}

    def operation(self, method, path):
        """(template, operation) for method and path, or None."""
        m = "get" if method.upper() == "HEAD" else method.lower()
        for _, rx, tpl, item in self.routes:
            if rx.match(path):
                return (tpl, item[m]) if m in item else None
        return None

    def _schema(self, key, schema):
        if key not in self._schemas:
            self._schemas[key] = jsonschema.Draft4Validator(
                to_json_schema(inline(self.doc, schema)))
        return self._schemas[key]

    def problems(self, method, path, status, headers, body):
        """What is wrong with one answer, as a list of words ([]: fine),
        or None when the description has no such operation."""
        found = self.operation(method, path)
        if found is None:
            return None
        tpl, op = found
        resp = op["responses"].get(str(status)) or op["responses"].get("default")
        if resp is None:
            return ["status %d is not declared for %s %s" % (status, method, tpl)]
        resp = inline(self.doc, resp)
        out = []
        for name, h in (resp.get("headers") or {}).items():
            val = headers.get(name)
            if val is None:
                if h.get("required"):
                    out.append("header %s is missing" % name)
                continue
            hs = h.get("schema") or {}
            if hs.get("type") == "integer":
                if not re.fullmatch(r"[0-9]+", val) or int(val) < hs.get("minimum", 0):
                    out.append("header %s: %r is not a whole number >= %d" % (
                        name, val, hs.get("minimum", 0)))
            elif hs.get("pattern") and not re.search(hs["pattern"], val):
                out.append("header %s: %r does not match %s" % (name, val, hs["pattern"]))
        content = resp.get("content")
        if method.upper() == "HEAD":
            return out
        if not content:
            if body:
                out.append("a body where none is declared (%d bytes)" % len(body))
            return out
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype not in content:
            out.append("Content-Type %r is not one of %s" % (ctype, sorted(content)))
            return out
        schema = content[ctype].get("schema")
        if ctype != "application/json" or schema is None:
            return out
        try:
            value = json.loads(body)
        except ValueError as e:
            return out + ["the body is not JSON: %s" % e]
        v = self._schema((tpl, method.lower(), status, ctype), schema)
        for e in sorted(v.iter_errors(value), key=lambda e: list(e.absolute_path))[:3]:
            where = "/".join(str(p) for p in e.absolute_path) or "(body)"
            out.append("%s: %s" % (where, e.message[:300]))
        return out

    def hook(self, method, url, status, headers, body):
        path = urllib.parse.urlsplit(url).path
        probs = self.problems(method, path, status, headers, body)
        if probs is None:
            return
        found = self.operation(method, path)
        with self.lock:
            self.checked += 1
            self.covered.add("%s %s" % ("GET" if method.upper() == "HEAD" else method.upper(),
                                        found[0]))
            for p in probs:
                self.violations.append("%s %s -> %d: %s" % (method, path, status, p))

    def report(self, t):
        """One failed test per distinct violation, then the count."""
        seen = {}
        for v in self.violations:
            seen[v] = seen.get(v, 0) + 1
        for v, n in seen.items():
            t.ok(False, "OpenAPI: " + v + (" (%d times)" % n if n > 1 else ""))
        total = sum(1 for item in self.doc["paths"].values() for m in METHODS if m in item)
        print("# OpenAPI: answers of %d of the %d operations checked" % (
            len(self.covered), total), flush=True)
        t.ok(self.checked > 0 and not self.violations,
             "%d API answers checked against docs/openapi.json, %d violations" % (
                 self.checked, len(self.violations)))


def enable(t, mount="/api"):
    """Checks every answer from here on; reports when t.done() runs."""
    c = Checker(mount=mount)
    servers.RESPONSE_HOOKS.append(c.hook)
    done = t.done

    def done_with_report():
        servers.RESPONSE_HOOKS.remove(c.hook)
        c.report(t)
        return done()

    t.done = done_with_report
    return c
