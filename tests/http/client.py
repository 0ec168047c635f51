"""A tiny cookie-keeping HTTP client that behaves like a browser for the
tests: it stores Set-Cookie values, sends them back, sends Origin on
POSTs, and pulls the CSRF token out of pages."""

import re
import urllib.parse

from servers import http


class Client:
    def __init__(self, base):
        self.base = base
        self.cookies = {}
        self.last = None

    def _cookie_header(self):
        return "; ".join("%s=%s" % kv for kv in self.cookies.items())

    def request(self, method, path, form=None, headers=None, body=None,
                origin=True):
        h = dict(headers or {})
        if self.cookies:
            h.setdefault("Cookie", self._cookie_header())
        if form is not None:
            body = urllib.parse.urlencode(form)
            h.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if method not in ("GET", "HEAD") and origin:
            h.setdefault("Origin", self.base)
        status, hdrs, data = http(method, self.base + path, h, body)
        for sc in hdrs.get_all("Set-Cookie") or []:
            name, _, rest = sc.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in sc:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        self.last = (status, hdrs, data)
        return status, hdrs, data

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, form=None, **kw):
        return self.request("POST", path, form=form, **kw)

    def shown(self, resp=None):
        """Follows a 303 to the one-time view of a new secret (?shown=ID,
        what a form that makes or rotates a token answers); any other
        answer (default: the last) is returned as it is."""
        s, h, b = resp or self.last
        loc = h.get("Location") or ""
        if s == 303 and "?shown=" in loc:
            return self.get(loc)
        return s, h, b

    def csrf(self, page=None):
        """The csrf value of the first form on the page (default: last)."""
        data = page if page is not None else self.last[2]
        m = re.search(rb'name="csrf" value="([^"]+)"', data)
        return m.group(1).decode() if m else None

    def login(self, email, password, next_path=None):
        self.get("/login" + ("?next=" + urllib.parse.quote(next_path)
                             if next_path else ""))
        form = {"email": email, "password": password, "csrf": self.csrf()}
        if next_path:
            form["next"] = next_path
        return self.post("/login", form)
