// tokens_page.test.mjs -- the tokens page with real data (issue 18): 1,125
// tokens with 200-character descriptions, an admin and a member, in
// Chromium at 1280 and 390 px, with JavaScript and without. Each problem
// of the issue is driven here: even rows and keys on one line (1), focus
// after a switch (2), Page N of M, jump and past the end (5), the Via
// note and no "Created by" for a member (6), the secret dialog (7), the
// settings cards (8), Undo, the inline failure and the empty state (9),
// the 404 page (10); sort, filter by scope, bulk deactivation; axe-core.
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import path from "node:path";
import { addUser, axe, browser, done, eq, ok, scratch, serve, session, shot, tessera } from "./lib.mjs";

const PW = "correct horse battery";
const N = 1125;
const data = path.join(scratch("browser-tokens-page"), "data");
tessera(["init", "--data", data]);
addUser(data, "ana@example.com", PW, "admin");
addUser(data, "bob@example.com", PW, "member");
addUser(data, "cat@example.com", PW, "member");   // no tokens: the empty state
tessera(["token", "add-via", "--data", data, "--account", "Acme",
  "--destination", "Warehouse (BigQuery)"]);
tessera(["token", "add-via", "--data", data, "--account", "Acme",
  "--destination", "Lake"]);

// 1,125 tokens of bob's, written straight into the database (as
// tests/http/test_tokens.py does): 200-character descriptions, every 7th
// with tokens:write, some used, some expiring.
function sqlite(sql) {
  const r = spawnSync("sqlite3", [path.join(data, "tessera.db")], { input: sql, encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.trim();
}
const [bobId, acct] = sqlite("SELECT id, account_id FROM users WHERE email_norm = 'bob@example.com';").split("|");
const now = Math.floor(Date.now() / 1000);
const words = "export nightly warehouse sync report billing ledger customer orders archive".split(" ");
const values = [];
for (let i = 0; i < N; i++) {
  let d = `Token ${String(i).padStart(4, "0")} `;
  while (d.length < 200) d += words[(i + d.length) % words.length] + " ";
  d = d.slice(0, 200);
  const used = i % 3 === 0 ? now - 60 * i : "NULL";
  const exp = i % 5 === 0 ? now + 86400 * (i % 400 + 1) : "NULL";
  const scopes = i % 7 === 0 ? 127 : 63;
  values.push(`('${crypto.randomUUID()}', X'${crypto.randomBytes(32).toString("hex")}', 'user', '${d}', ${acct}, ${bobId}, ${now - 100000 + i}, ${now - 100000 + i}, ${used}, ${exp}, ${scopes})`);
}
sqlite("BEGIN;\n" + "INSERT INTO tokens (key, secret_hash, kind, description, account_id, user_id, created_at, updated_at, last_used_at, expires_at, scopes) VALUES\n" +
  values.join(",\n") + ";\nCOMMIT;");
eq(Number(sqlite("SELECT count(*) FROM tokens WHERE kind = 'user';")), N, `${N} tokens in the database`);

const app = await serve(data);
const b = await browser();
const W = { desk: { width: 1280, height: 900 }, phone: { width: 390, height: 844 } };
const dialogs = [];

async function open(email, js = true, viewport = W.desk) {
  const s = await session(b, app.base, email, PW, js, viewport);
  s.page.on("dialog", (d) => { dialogs.push(d.type() + ": " + d.message()); d.dismiss(); });
  return s;
}

// The JSON form of the page's create (as its script does): a real token.
async function makeToken(page, description) {
  const csrf = await page.getAttribute('#switches input[name="csrf"]', "value");
  const post = () => page.request.post(app.base + "/settings/tokens", {
    headers: { Accept: "application/json", "X-CSRF-Token": csrf, Origin: app.base },
    form: { description, csrf },
  });
  // A kept-alive connection the server closed as idle just then hangs
  // up; the request made nothing (no answer was written): try once more.
  const r = await post().catch((e) => {
    if (!/socket hang up|ECONNRESET/.test(e.message)) throw e;
    return post();
  });
  return (await r.json()).data;
}
async function me(key, secret) {
  const r = await fetch(app.base + "/api/me", { headers: {
    Authorization: "Basic " + Buffer.from(key + ":" + secret).toString("base64") } });
  return r.status;
}
const rowKeys = (page) => page.$$eval("#user-tokens tbody tr", (rs) => rs.map((r) => r.dataset.key));

async function axeClean(page, name) {
  const v = await axe(page);
  ok(v.length === 0, `${name}: axe-core finds no serious or critical violation`,
    JSON.stringify(v, null, 1));
  return v;
}

try {
  // --- Problem 1: calm table at 1280 (bob: 1,125 tokens) -----------------
  const bob = await open("bob@example.com");
  const p = bob.page;
  const geo = await p.evaluate(() => {
    const rows = [...document.querySelectorAll("#user-tokens tbody tr")];
    const keys = [...document.querySelectorAll("#user-tokens code.key")];
    const line = parseFloat(getComputedStyle(keys[0]).lineHeight) || 20;
    const cols = [...document.querySelectorAll("#user-tokens thead th")].map((t) =>
      Math.round(t.getBoundingClientRect().width));
    return { heights: rows.map((r) => Math.round(r.getBoundingClientRect().height)),
      keyHeights: keys.map((k) => k.getBoundingClientRect().height), line, cols,
      scrollW: document.documentElement.scrollWidth };
  });
  eq(geo.heights.length, 20, "20 rows on the first page");
  ok(new Set(geo.heights).size === 1, "1280: every row has the same height", geo.heights.join(","));
  ok(geo.heights[0] <= 100, "1280: rows are at most 100 px high", geo.heights[0]);
  ok(geo.keyHeights.every((h) => h < geo.line * 1.6), "1280: every key on one line",
    geo.keyHeights.join(","));
  ok(geo.scrollW <= 1280, "1280: no horizontal scrolling", geo.scrollW);
  const desc = await p.$eval("#user-tokens tbody tr .clamp", (d) => ({
    h: d.getBoundingClientRect().height, lh: parseFloat(getComputedStyle(d).lineHeight),
    title: d.title }));
  ok(desc.h <= desc.lh * 2 + 1, "a 200-character description is clamped to two lines", JSON.stringify(desc));
  eq(desc.title.length, 200, "... with the full text in its title");
  eq(await p.locator("#user-tokens tbody tr:first-child button.copy").isVisible(), true,
    "each key has a copy button");
  eq(await p.locator("#user-tokens th", { hasText: "Created by" }).count(), 0,
    "member: no Created by column");
  eq(await p.locator("#user-tokens .by").count(), 0, "member: no 'by' line in the rows");
  // Column widths do not move from page to page.
  await p.goto(app.base + "/settings/tokens?page=2");
  const cols2 = await p.$$eval("#user-tokens thead th", (ts) => ts.map((t) => Math.round(t.getBoundingClientRect().width)));
  eq(cols2.join(","), geo.cols.join(","), "column widths are the same on page 2");

  // --- Problem 5: Page N of M, jump, past the end --------------------------
  const pages = Math.ceil(N / 20);
  ok(await p.locator(".pager .page-of", { hasText: `Page 2 of ${pages}` }).isVisible(),
    `"Page 2 of ${pages}"`);
  await p.fill('.pager input[name="page"]', "40");
  await p.click(".pager .jump button");
  await p.waitForURL(/page=40/);
  ok(await p.locator(".pager .page-of", { hasText: `Page 40 of ${pages}` }).isVisible(),
    "jump to page 40");
  await p.goto(app.base + "/settings/tokens?page=99");
  const past = await p.textContent("#user-tokens");
  ok(/past the end/.test(past) && !/No tokens yet/.test(past),
    "a page past the end says so, not 'No tokens yet'", past);
  await p.click("#user-tokens-last");
  await p.waitForURL(new RegExp(`page=${pages}`));
  eq((await rowKeys(p)).length, N % 20 || 20, "... and links to the last page");
  eq((await p.request.get(app.base + "/settings/tokens?page=abc")).status(), 400, "page=abc -> 400");
  eq((await p.request.get(app.base + "/settings/tokens?sort=id")).status(), 400, "sort=id -> 400");
  eq((await p.request.get(app.base + "/settings/tokens?dir=up")).status(), 400, "dir=up -> 400");
  eq((await p.request.get(app.base + "/settings/tokens?scope=root")).status(), 400, "scope=root -> 400");

  // --- Sort ----------------------------------------------------------------
  await p.goto(app.base + "/settings/tokens");
  eq(await p.getAttribute("#user-tokens th.c-created", "aria-sort"), "descending",
    "newest first, said by aria-sort");
  await p.click("#user-tokens th.c-desc a");
  await p.waitForURL(/sort=description/);
  eq(await p.getAttribute("#user-tokens th.c-desc", "aria-sort"), "ascending", "sorted by description");
  let descs = await p.$$eval("#user-tokens .desc", (ds) => ds.map((d) => d.textContent));
  ok(descs[0].startsWith("Token 0000") && descs[19].startsWith("Token 0019"),
    "description A→Z", descs.slice(0, 3).join(" | "));
  await p.click("#user-tokens th.c-desc a");
  await p.waitForURL((u) => /sort=description/.test(u.toString()) && !/dir=asc/.test(u.toString()));
  descs = await p.$$eval("#user-tokens .desc", (ds) => ds.map((d) => d.textContent));
  ok(descs[0].startsWith(`Token ${N - 1}`), "description Z→A", descs[0].slice(0, 12));
  await p.click("#user-tokens th.c-used a");
  await p.waitForURL(/sort=last_used/);
  const used = await p.$$eval("#user-tokens .c-used time", (ts) => ts.map((t) => t.getAttribute("datetime")));
  ok(used.length === 20 && used.every((x, i) => i === 0 || used[i - 1] >= x), "last used, latest first", used.slice(0, 3).join(","));
  await p.click("#user-tokens th.c-expires a");
  await p.waitForURL(/sort=expires/);
  const exps = await p.$$eval("#user-tokens .c-expires time", (ts) => ts.map((t) => t.getAttribute("datetime")));
  ok(exps.length === 20 && exps.every((x, i) => i === 0 || exps[i - 1] <= x), "expiry, soonest first", exps.slice(0, 3).join(","));
  ok(await p.locator(".pager .page-of", { hasText: `Page 1 of ${pages}` }).isVisible(), "sorting keeps paging");

  // --- Filter by scope and by key prefix --------------------------------
  await p.goto(app.base + "/settings/tokens");
  await p.selectOption('.filter select[name="scope"]', "tokens:write");
  await p.click(".filter button[type=submit]");
  await p.waitForURL(/scope=tokens%3Awrite|scope=tokens:write/);
  const scopeTexts = await p.$$eval("#user-tokens .scopes", (s) => s.map((x) => x.textContent));
  ok(scopeTexts.length > 0 && scopeTexts.every((t) => t.includes("tokens:write")),
    "filter by scope: only tokens with tokens:write", scopeTexts[0]);
  ok(await p.locator(".pager .range", { hasText: `of ${Math.ceil(N / 7)}` }).isVisible(),
    `... ${Math.ceil(N / 7)} of them`);
  const someKey = (await rowKeys(p))[3];
  await p.goto(app.base + "/settings/tokens?q=" + someKey.slice(0, 13));
  eq((await rowKeys(p))[0], someKey, "filter by the start of a key");

  // --- Problem 2 and 9 (JS): focus stays, Undo, inline failure -------------
  await p.goto(app.base + "/settings/tokens");
  const k0 = (await rowKeys(p))[0];
  const sw0 = `#switch-${k0}`;
  await p.focus(sw0);
  await p.keyboard.press("Space");
  await p.waitForFunction((s) => document.querySelector(s).getAttribute("aria-checked") === "false", sw0);
  eq(await p.evaluate(() => document.activeElement.id), `switch-${k0}`, "js: focus stays on the switch after toggling");
  ok(await p.locator("#notice #undo").isVisible(), "js: a notice with Undo after deactivating");
  await p.click("#undo");
  await p.waitForFunction((s) => document.querySelector(s).getAttribute("aria-checked") === "true", sw0);
  ok(true, "js: Undo switches it on again");
  eq(await p.evaluate(() => document.activeElement.id), `switch-${k0}`, "js: ... and focus is back on the switch");
  await p.route("**/deactivate", (r) => r.fulfill({ status: 500, contentType: "application/json",
    body: '{"success": false, "error": "INTERNAL_ERROR", "message": "the server failed"}' }));
  await p.focus(sw0);
  await p.keyboard.press("Enter");
  await p.locator("#switch-error").waitFor({ state: "visible" });
  ok((await p.textContent("#switch-error")).includes("the server failed"), "js: a failed switch says so inline");
  eq(dialogs.length, 0, "js: no window.alert", dialogs.join("; "));
  eq(await p.evaluate(() => document.activeElement.id), `switch-${k0}`, "js: focus stays after a failed switch");
  eq(await p.getAttribute(sw0, "aria-checked"), "true", "js: the failed switch is unchanged");
  await p.unroute("**/deactivate");

  // --- Bulk deactivate (JS): 3 real tokens, then 401 on /api/me ------------
  const made = [];
  for (let i = 0; i < 3; i++) made.push(await makeToken(p, `Bulk ${i} ` + "x".repeat(150)));
  for (const t of made) eq(await me(t.key, t.token), 200, `token ${t.key.slice(0, 8)} works before`);
  await p.goto(app.base + "/settings/tokens");
  for (const t of made) await p.check(`input.pick[value="${t.key}"]`);
  ok((await p.textContent("#bulk-count")).includes("3 selected"), "js: 3 selected");
  await p.click("#bulk-open");
  await p.locator("#bulk-confirm").waitFor({ state: "visible" });
  ok((await p.textContent("#bulk-confirm h2")).includes("Deactivate 3 tokens"), "js: one confirmation naming the count");
  await shot(p, "bulk-confirm-1280");
  await p.click("#bulk-ok");
  await p.waitForURL(/off=/);
  for (const t of made) eq(await me(t.key, t.token), 401, `after bulk deactivation ${t.key.slice(0, 8)} answers 401`);
  ok((await p.textContent("#notice")).includes("3 tokens deactivated"), "a notice names what went off");
  await p.click("#notice #undo");
  await p.waitForURL((u) => !/off=/.test(u.toString()));
  for (const t of made) eq(await me(t.key, t.token), 200, `Undo: ${t.key.slice(0, 8)} works again`);
  eq(dialogs.length, 0, "no native dialogs on the page", dialogs.join("; "));

  await p.goto(app.base + "/settings/tokens");
  await shot(p, "tokens-1280");
  await axeClean(p, "tokens page (member) at 1280");

  // --- Problem 6: the member's Via note; phone layout --------------------
  const via = await p.textContent("#via");
  ok(/2 Via tokens in this account are managed by admins/.test(via) && !/No Via tokens yet/.test(via),
    "member: the Via note counts the account's Via tokens", via.trim().slice(0, 200));
  const phone = await open("bob@example.com", true, W.phone);
  const pp = phone.page;
  const pg = await pp.evaluate(() => ({
    scrollW: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
    rows: [...document.querySelectorAll("#user-tokens tbody tr")].map((r) => Math.round(r.getBoundingClientRect().height)),
    cells: [0, 19].map((i) => [...document.querySelectorAll("#user-tokens tbody tr")[i].children].map((c) => c.className + ":" + Math.round(c.getBoundingClientRect().height) + "/" + Math.round(c.getBoundingClientRect().width)).join(" ")),
    keys: [...document.querySelectorAll("#user-tokens code.key")].map((k) => k.getBoundingClientRect().height),
    line: parseFloat(getComputedStyle(document.querySelector("#user-tokens code.key")).lineHeight) || 20 }));
  ok(pg.scrollW <= 390, "390: no horizontal scrolling", pg.scrollW);
  ok(pg.height < 4000, "390: the page is under 4,000 px high (was about 6,000)", pg.height);
  ok(new Set(pg.rows).size === 1, "390: every row has the same height", pg.rows.join(",") + "\n" + pg.cells.join("\n"));
  ok(pg.keys.every((h) => h < pg.line * 1.6), "390: keys on one line", pg.keys.join(","));
  await shot(pp, "tokens-390");
  await axeClean(pp, "tokens page (member) at 390");

  // --- Problem 7: the secret dialog at 390 -------------------------------
  await pp.click("#create-open");
  await pp.fill('dialog#create input[name="description"]', "Phone report " + "y".repeat(120));
  await pp.click('dialog#create button[type="submit"]');
  await pp.locator("#token-secret").waitFor({ state: "visible" });
  const sd = await pp.evaluate(() => {
    const one = (id) => { const e = document.getElementById(id);
      return { h: e.getBoundingClientRect().height, sh: e.scrollHeight, lh: parseFloat(getComputedStyle(e).lineHeight) || 20,
        pad: parseFloat(getComputedStyle(e).paddingTop) + parseFloat(getComputedStyle(e).paddingBottom) }; };
    return { secret: one("token-secret"), key: one("token-key"), example: document.getElementById("token-example").textContent,
      name: document.getElementById("token-name").textContent,
      copies: [...document.querySelectorAll("#created button.copy")].filter((b) => b.offsetParent).length };
  });
  ok(sd.secret.h - sd.secret.pad < sd.secret.lh * 1.6 + 16, "390: the secret is one line (scrolls, never wraps)", JSON.stringify(sd.secret));
  ok(sd.key.h - sd.key.pad < sd.key.lh * 1.6 + 16, "390: the key is one line", JSON.stringify(sd.key));
  ok(sd.name.startsWith("Phone report"), "the dialog names the token", sd.name);
  const skey = (await pp.textContent("#token-key")).trim(), ssec = (await pp.textContent("#token-secret")).trim();
  eq(sd.example, `curl -u ${skey}:${ssec} ${app.base}/api/me`, "a ready-made curl example");
  eq(sd.copies, 3, "copy buttons for key, token and the example");
  await shot(pp, "secret-dialog-390");
  await axeClean(pp, "secret dialog at 390");
  await pp.click("#created-ok");
  await pp.waitForURL(/\/settings\/tokens$/);
  ok(!(await pp.content()).includes(ssec), "the secret is gone after OK");

  // --- Settings (problem 8) ------------------------------------------------
  const ana = await open("ana@example.com");
  for (const [w, vp] of [["1280", W.desk], ["390", W.phone]]) {
    await ana.page.setViewportSize(vp);
    await ana.page.goto(app.base + "/settings");
    const cards = await ana.page.$$eval("main .grid > .card:not(.wide)", (cs) => cs.map((c) => {
      const r = c.getBoundingClientRect(); return { top: r.top, left: r.left, w: r.width, h: r.height, right: r.right }; }));
    const main = await ana.page.$eval("main .grid", (g) => g.getBoundingClientRect().right);
    if (w === "1280") {
      ok(cards.length === 2 && cards[0].top === cards[1].top && cards[0].h === cards[1].h,
        "1280: settings cards aligned (same top, same height)", JSON.stringify(cards));
      ok(Math.abs(cards[1].right - main) < 2, "1280: no empty column", `${cards[1].right} vs ${main}`);
    } else {
      ok(cards.every((c) => Math.abs(c.w - cards[0].w) < 1 && c.right <= 390), "390: one column", JSON.stringify(cards));
    }
    await shot(ana.page, `settings-${w}`);
    await axeClean(ana.page, `settings page at ${w}`);
  }

  // --- Admin at 1280 and 390: Created with its creator; axe ---------------
  await ana.page.setViewportSize(W.desk);
  await ana.page.goto(app.base + "/settings/tokens");
  ok((await ana.page.textContent("#user-tokens tbody tr:first-child .c-created")).includes("by bob@example.com"),
    "admin: the Created cell names the creator");
  const ah = await ana.page.$$eval("#user-tokens tbody tr", (rs) => rs.map((r) => Math.round(r.getBoundingClientRect().height)));
  ok(new Set(ah).size === 1, "admin 1280: every row has the same height", ah.join(","));
  await axeClean(ana.page, "tokens page (admin) at 1280");
  await ana.page.setViewportSize(W.phone);
  await ana.page.reload();
  await axeClean(ana.page, "tokens page (admin) at 390");

  // --- Problem 10: 404 and 403 with the header -----------------------------
  await ana.page.setViewportSize(W.desk);
  const r404 = await ana.page.goto(app.base + "/no/such/page");
  eq(r404.status(), 404, "an unknown page -> 404");
  ok(await ana.page.locator("header.topbar .usermenu").isVisible(), "404: the header with the user's menu");
  ok(await ana.page.locator("main a#home").isVisible(), "404: a way home");
  await shot(ana.page, "notfound-1280");
  await axeClean(ana.page, "404 page");
  const r403 = await ana.page.request.post(app.base + "/settings/tokens/deactivate", { form: { keys: "x" } });
  eq(r403.status(), 403, "a POST without CSRF -> 403");
  ok((await r403.text()).includes('class="topbar"'), "403: the page has the header");
  const anon = await b.newPage();
  const n404 = await anon.goto(app.base + "/nope");
  eq(n404.status(), 404, "logged out: 404");
  ok(await anon.locator("header.topbar").isVisible() && await anon.locator("main a#home", { hasText: "Log in" }).isVisible(),
    "logged out: the header and a way to log in");
  await anon.close();

  // A member may not bulk-deactivate another's token: 404, nothing changes.
  await ana.page.goto(app.base + "/settings/tokens");
  const anaTok = await makeToken(ana.page, "Ana's own");
  const csrf = await p.getAttribute('#switches input[name="csrf"]', "value");
  const rb = await p.request.post(app.base + "/settings/tokens/deactivate", {
    headers: { Origin: app.base }, form: { csrf, keys: anaTok.key, confirm: "1" } });
  eq(rb.status(), 404, "member: bulk deactivation of the admin's token -> 404");
  eq(await me(anaTok.key, anaTok.token), 200, "... and it still works");

  // --- Empty state (problem 9): no filter box ------------------------------
  const cat = await open("cat@example.com");
  ok((await cat.page.textContent("#user-tokens")).includes("No tokens yet"), "empty state");
  eq(await cat.page.locator("form.filter").count(), 0, "the empty state has no filter box");

  // --- Without JavaScript: create, switch (focus), bulk deactivate ---------
  const nj = await open("bob@example.com", false);
  const q = nj.page;
  await q.click("#create-open");
  await q.fill('dialog#create input[name="description"]', "No-JS token");
  await q.click('dialog#create button[type="submit"]');
  await q.locator("#token-secret").waitFor();
  ok((await q.textContent("#token-name")).includes("No-JS token"), "nojs: the secret dialog names the token");
  eq(await q.locator("#created button.copy:visible").count(), 0, "nojs: no dead Copy buttons");
  const nkey = (await q.textContent("#token-key")).trim();
  const nsec = (await q.textContent("#token-secret")).trim();
  eq((await q.textContent("#token-example")).trim(), `curl -u ${nkey}:${nsec} ${app.base}/api/me`,
    "nojs: the curl example, for this host");
  await q.goto(app.base + "/settings/tokens?page=2&sort=description");
  const nk = (await rowKeys(q))[1];
  await q.click(`#switch-${nk}`);
  await q.waitForURL(/focus=/);
  ok(/page=2/.test(q.url()) && /sort=description/.test(q.url()), "nojs: the switch comes back to the same page and sort", q.url());
  eq(await q.getAttribute(`#switch-${nk}`, "aria-checked"), "false", "nojs: switched off");
  eq(await q.evaluate(() => document.activeElement && document.activeElement.id), `switch-${nk}`,
    "nojs: after the POST/redirect the row's switch has the focus");
  ok(await q.locator("#notice #undo").isVisible(), "nojs: a notice with Undo");
  await q.click("#notice #undo");
  await q.waitForURL(/focus=/);
  eq(await q.getAttribute(`#switch-${nk}`, "aria-checked"), "true", "nojs: Undo switched it on");
  // Bulk: 3 real tokens, the confirmation page, then 401.
  const made2 = [];
  for (let i = 0; i < 3; i++) made2.push(await makeToken(p, `NoJS bulk ${i}`));
  await q.goto(app.base + "/settings/tokens");
  for (const t of made2) await q.check(`input.pick[value="${t.key}"]`);
  await q.click("#bulk-open");
  await q.locator("#bulk-confirm[open]").waitFor();
  ok((await q.textContent("#bulk-confirm h2")).includes("Deactivate 3 tokens"), "nojs: the confirmation names the count");
  for (const t of made2) eq(await me(t.key, t.token), 200, "nojs: not yet deactivated before confirming");
  await q.click("#bulk-ok");
  await q.waitForURL(/off=/);
  for (const t of made2) eq(await me(t.key, t.token), 401, `nojs: after bulk deactivation ${t.key.slice(0, 8)} answers 401`);
  ok(nkey.length === 36, "nojs: created a token");

  for (const s of [bob, phone, ana, cat, nj]) {
    ok(s.errors.length === 0, "no page errors", s.errors.join("\n"));
    await s.ctx.close();
  }
} catch (e) {
  ok(false, "the tokens page journeys finished", e.stack);
} finally {
  await b.close();
  await app.stop();
}
process.exitCode = done();
