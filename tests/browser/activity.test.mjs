// activity.test.mjs -- Settings -> Activity through lighttpd and chromium:
// an admin (ana) and a member (bob) of one account make events through
// the real pages, the API (a token acting), a webhook pipeline and
// `tessera token add`; the page tells each in words (who, via which
// token, whose token, the command line), filters them with a GET form
// (with and without JavaScript), pages through 60+ of them, exports the
// filtered rows as CSV; the member sees only theirs. Both widths: axe-core
// clean, screenshots activity-1280.png and activity-390.png.
import fs from "node:fs";
import path from "node:path";
import { addUser, axe, browser, done, eq, ok, scratch, serve, session, shot, tessera } from "./lib.mjs";

const PW = "correct horse battery";
const ANA = "ana@example.com", BOB = "bob@example.com";
const dir = scratch("browser-activity");
const data = path.join(dir, "data");
tessera(["init", "--data", data]);
addUser(data, ANA, PW, "admin");
addUser(data, BOB, PW, "member");
// A long address with hyphens, where a browser would break a line.
const CAROL = "carol.de-souza-vasconcelos@example.com";
addUser(data, CAROL, PW, "member");

// A token made on the command line (bob's, may make tokens).
function cliToken(description, scopes) {
  const out = tessera(["token", "add", "--data", data, "--email", BOB,
    "--description", description, "--scopes", scopes]);
  return { key: /Token Key: (\S+)/.exec(out)[1], secret: /Token: +(\S+)/.exec(out)[1] };
}
const basic = (t) => "Basic " + Buffer.from(`${t.key}:${t.secret}`).toString("base64");

async function api(base, t, method, p, body) {
  const r = await fetch(base + p, { method, headers: { Authorization: basic(t),
    "Content-Type": "application/json" }, body: body && JSON.stringify(body) });
  return { status: r.status, doc: await r.json().catch(() => null) };
}

// The events on the page, each as its text.
const events = (page) => page.$$eval("table.events tbody tr",
  (trs) => trs.map((tr) => tr.innerText.replace(/\s+/g, " ").trim()));

// RFC 4180 records of a CSV text.
function parseCsv(text) {
  const recs = [];
  let rec = [], field = "", i = 0, quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; continue; }
      if (c === '"') { quoted = false; i++; continue; }
      field += c; i++; continue;
    }
    if (c === '"') { quoted = true; i++; continue; }
    if (c === ",") { rec.push(field); field = ""; i++; continue; }
    if (c === "\r" && text[i + 1] === "\n") {
      rec.push(field); recs.push(rec); rec = []; field = ""; i += 2; continue;
    }
    field += c; i++;
  }
  if (field !== "" || rec.length) { rec.push(field); recs.push(rec); }
  return recs;
}

// Rate limits off: the test makes 60+ events through the API at once.
const app = await serve(data, { TESSERA_RATE_LIMIT_API_KEY: "0",
  TESSERA_RATE_LIMIT_API_IP: "0" });
const base = app.base;
const b = await browser();
try {
  // bob makes a token on the page (with JavaScript).
  const bob = await session(b, base, BOB, PW, true);
  await bob.page.click("#create-open");
  await bob.page.fill('dialog#create input[name="description"]', "Bob's laptop");
  await bob.page.click('dialog#create button[type="submit"]');
  await bob.page.locator("#token-key").waitFor({ state: "visible" });
  const kPage = (await bob.page.textContent("#token-key")).trim();
  await bob.page.click("#created-ok");

  const carol = await session(b, base, CAROL, PW, true);
  await carol.ctx.close();

  // ana switches bob's token off on the tokens page.
  const ana = await session(b, base, ANA, PW, true);
  await ana.page.goto(`${base}/settings/tokens?q=${kPage.slice(0, 8)}`);
  const sw = `tr[data-key="${kPage}"] button.switch`;
  await ana.page.click(sw);
  await ana.page.waitForFunction((s) =>
    document.querySelector(s).getAttribute("aria-checked") === "false", sw);

  // The command line, and a token acting through the API.
  const cli = cliToken("bob's automation", "tokens:read,tokens:write,objects:read,objects:write");
  const made = await api(base, cli, "POST", "/api/tokens", { description: "made by a token" });
  eq(made.status, 201, "set-up: a token made a token through the API");
  // A webhook pipeline and a delivery by its own token.
  const src = await api(base, cli, "POST", "/api/sources", { name: "hook", type: "webhook" });
  const dst = await api(base, cli, "POST", "/api/destinations", { name: "lake", type: "s3" });
  const pl = await api(base, cli, "POST", "/api/pipelines", { name: "orders", type: "webhook",
    source_id: src.doc.data.id, destination_id: dst.doc.data.id });
  const hookTok = cliToken("webhook sender", "webhook:write");
  const wh = await fetch(`${base}/webhook?pipeline_id=${pl.doc.data.id}`, { method: "POST",
    headers: { Authorization: basic(hookTok), "Content-Type": "application/json" },
    body: JSON.stringify({ order: 1 }) });
  eq(wh.status, 200, "set-up: a webhook delivered");

  // The admin's page at 1280 px.
  const p = ana.page;
  await p.goto(`${base}/settings/activity`);
  let ev = await events(p);
  const has = (re, list = ev) => list.some((e) => re.test(e));
  ok(has(new RegExp(`bob@example\\.com via token ${hookTok.key.slice(0, 8)}… first use of token`)),
    "the webhook's token: bob via token KEY, first use", ev.slice(0, 3));
  ok(has(new RegExp(`bob@example\\.com via token ${cli.key.slice(0, 8)}… created pipeline`)),
    "the webhook pipeline made through the API: bob via token KEY", ev.slice(0, 6));
  ok(has(new RegExp(`bob@example\\.com via token ${cli.key.slice(0, 8)}… created token ` +
    `${made.doc.data.key.slice(0, 8)}`)), "a token made by a token: bob via token KEY");
  // Today's command line names bob as its user; track D's names no one
  // (the page then says whose token it is).
  ok(has(/the command line(, as bob@example\.com)? created token( of bob@example\.com)? .*bob's automation/),
    "a token made on the command line: by the command line, for bob");
  ok(has(new RegExp(`ana@example\\.com switched off token of bob@example\\.com ${kPage.slice(0, 8)}`)),
    "the admin switching off bob's token: ana acted, bob's token");
  ok(has(new RegExp(`bob@example\\.com created token ${kPage.slice(0, 8)}… Bob's laptop`)),
    "the token bob made on the page");
  eq(await p.getAttribute(`table.events code[title="${cli.key}"]`, "title"), cli.key,
    "the whole key in the short key's title");
  ok(await p.locator("table.events caption").count() === 1 &&
    await p.locator("table.events thead th[scope=col]").count() === 4,
    "the table has a caption and header cells");

  // Long words stay whole at 1280: the user agent is cut, its whole text a title.
  const ua = await p.$eval("table.events tr:has(.action[title=login]) .detail", (e) => ({
    cut: e.scrollWidth > e.clientWidth, title: e.title,
    share: e.closest("td").getBoundingClientRect().width /
      e.closest("table").getBoundingClientRect().width }));
  ok(ua.cut && /Mozilla|Chrome/.test(ua.title) && ua.share < 0.6,
    "1280: the user agent is cut with an ellipsis, whole in its title, in a column under 60 %", ua);
  let v = await axe(p);
  eq(v.length, 0, "axe-core at 1280: no serious or critical violations");
  if (v.length) console.log("# " + JSON.stringify(v));
  await shot(p, "activity-1280");

  // 60+ events: paging.
  let bulk = 0;
  for (let i = 0; i < 62; i++) {
    if ((await api(base, cli, "POST", "/api/tokens", { description: `bulk ${i}` })).status === 201) bulk++;
  }
  eq(bulk, 62, "set-up: 62 more tokens made through the API");
  await p.goto(`${base}/settings/activity`);
  const pager = await p.textContent("nav.pager");
  const m = /Page 1 of (\d+) · 1–25 of (\d+) events/.exec(pager.replace(/\s+/g, " "));
  ok(m && Number(m[2]) >= 70 && Number(m[1]) === Math.ceil(Number(m[2]) / 25),
    "Page 1 of N with 70+ events", pager);
  const total = m ? Number(m[2]) : 0, pages = m ? Number(m[1]) : 1;
  eq((await events(p)).length, 25, "25 events a page");
  await p.click("nav.pager a[rel=next]");
  ok(/Page 2 of/.test(await p.textContent("nav.pager")), "Older: page 2");
  await p.click("nav.pager a[rel=prev]");
  ok(/Page 1 of/.test(await p.textContent("nav.pager")), "Newer: page 1 again");
  await p.goto(`${base}/settings/activity?page=999`);
  const past = await p.textContent("main");
  ok(/past the end/.test(past) && !/No events/.test(past), "a page past the end says so", past);
  await p.click(`a[href="/settings/activity?page=${pages}"]`);
  ok(new RegExp(`Page ${pages} of ${pages}`).test(await p.textContent("nav.pager")),
    "... and links to the last page");

  // Filters through the form (JavaScript on).
  await p.goto(`${base}/settings/activity`);
  await p.selectOption('select[name="action"]', "token.deactivated");
  await p.click('form.activity-filter button[type="submit"]');
  await p.waitForURL(/action=token\.deactivated/);
  ev = await events(p);
  ok(ev.length === 1 && /switched off token of bob/.test(ev[0]), "action filter", ev);
  await p.goto(`${base}/settings/activity`);
  await p.fill('input[name="key"]', kPage.slice(0, 8));
  await p.click('form.activity-filter button[type="submit"]');
  await p.waitForURL(/key=/);
  ev = await events(p);
  ok(ev.length === 2 && /switched off/.test(ev[0]) && /created token/.test(ev[1]),
    "token filter by the key's start: its creation and its switch-off", ev);
  const today = new Date().toISOString().slice(0, 10);
  await p.goto(`${base}/settings/activity`);
  await p.fill('input[name="from"]', today);
  await p.fill('input[name="to"]', today);
  await p.click('form.activity-filter button[type="submit"]');
  await p.waitForURL(/from=/);
  ok(/of \d+ events/.test(await p.textContent("nav.pager")), "date filter: today's events");
  await p.goto(`${base}/settings/activity?to=2000-01-01`);
  ok(/No event matches this filter/.test(await p.textContent("main")),
    "date filter before everything: none, said so");

  // CSV of the filtered rows.
  await p.goto(`${base}/settings/activity?key=${cli.key}`);
  const filtered = Number(/of (\d+) events/.exec(await p.textContent("nav.pager"))[1]);
  const [dl] = await Promise.all([p.waitForEvent("download"), p.click("text=Download CSV")]);
  const file = path.join(dir, "activity.csv");
  await dl.saveAs(file);
  ok(/^activity-\d{4}-\d\d-\d\d\.csv$/.test(dl.suggestedFilename()), "the CSV's file name",
    dl.suggestedFilename());
  const recs = parseCsv(fs.readFileSync(file, "utf8"));
  eq(recs[0].join(","), "time,who,user,via_token,action,what,object,owner,detail,ip",
    "the CSV's header row");
  eq(recs.length - 1, filtered, "the CSV holds the filtered events, all pages");
  ok(recs.slice(1).every((r) => r[3] === cli.key || r[6] === cli.key),
    "... each by or about the token");
  ok(recs.some((r) => /^the command line(, as bob@example\.com)?$/.test(r[1]) &&
    /^(command line: )?bob's automation$/.test(r[8])), "... in words, as the page");

  // The phone: 390 px, each event a card, no address broken.
  const phone = await session(b, base, ANA, PW, true, { width: 390, height: 844 });
  await phone.page.goto(`${base}/settings/activity`);
  const wide = await phone.page.evaluate(() => document.documentElement.scrollWidth);
  ok(wide <= 390, "390: no sideways scrolling of the page", wide);
  v = await axe(phone.page);
  eq(v.length, 0, "axe-core at 390: no serious or critical violations");
  if (v.length) console.log("# " + JSON.stringify(v));
  await shot(phone.page, "activity-390");
  // The logins: carol's long address among them.
  await phone.page.goto(`${base}/settings/activity?action=login`);
  const addrs = await phone.page.$$eval("table.events .addr, table.events code",
    (els) => els.map((e) => ({ text: e.textContent, title: e.title,
      lines: Math.round(e.getBoundingClientRect().height /
        parseFloat(getComputedStyle(e).lineHeight)) })));
  ok(addrs.some((a) => a.title === CAROL), "390: carol's long address is on the page");
  eq(addrs.filter((a) => a.lines > 1).map((a) => a.text).join(" "), "",
    "390: no address or key broken over two lines");
  v = await axe(phone.page);
  eq(v.length, 0, "axe-core at 390, the logins filtered: none either");
  if (v.length) console.log("# " + JSON.stringify(v));
  await phone.ctx.close();

  // The member sees only theirs: their own and what was done to their tokens.
  await bob.page.goto(`${base}/settings/activity?page=1`);
  const bobAll = [];
  for (let n = 1; ; n++) {
    bobAll.push(...await events(bob.page));
    if (!await bob.page.locator("nav.pager a[rel=next]").count()) break;
    await bob.page.click("nav.pager a[rel=next]");
  }
  ok(bobAll.length > 60 && bobAll.every((e) => /bob@example\.com/.test(e)),
    "the member's pages hold only their events", bobAll.filter((e) => !/bob@/.test(e)));
  ok(has(/ana@example\.com switched off token of bob@example\.com/, bobAll),
    "... with the admin's switch-off of their token");
  ok(!has(/ana@example\.com logged in/, bobAll), "... and not ana's login");
  eq(await bob.page.locator('select[name="who"]').count(), 0, "the member has no who filter");
  const r = await bob.page.goto(`${base}/settings/activity?who=1`);
  eq(r.status(), 400, "the member asking for someone else's events: 400");
  ok(bob.errors.length === 0 && ana.errors.length === 0, "no page errors",
    [...bob.errors, ...ana.errors].join("\n"));
  await bob.ctx.close();

  // Without JavaScript: the form and the pager work.
  const nojs = await session(b, base, ANA, PW, false);
  const q = nojs.page;
  await q.goto(`${base}/settings/activity`);
  await q.selectOption('select[name="who"]', { label: BOB });
  await q.selectOption('select[name="action"]', "token.created");
  await q.click('form.activity-filter button[type="submit"]');
  await q.waitForURL(/who=\d+&key=&action=token\.created/);
  ev = await events(q);
  ok(ev.length === 25 && ev.every((e) => /bob@example\.com.* created token/.test(e)),
    "no JavaScript: who and action filter", ev.slice(0, 2));
  await q.click("nav.pager a[rel=next]");
  ok(/who=\d+&action=token\.created&page=2/.test(q.url()) &&
    /Page 2 of/.test(await q.textContent("nav.pager")), "no JavaScript: Older keeps the filter",
    q.url());
  await q.goto(`${base}/settings`);
  eq(await q.locator("#activity table.events tbody tr").count(), 5,
    "Settings: the last 5 events");
  await q.click('#activity a[href="/settings/activity"]');
  await q.waitForURL(/\/settings\/activity$/);
  ok(true, "... and a link to all of them");
  await nojs.ctx.close();
  await ana.ctx.close();
} catch (e) {
  ok(false, "the journey finished", e.stack);
} finally {
  await b.close();
  await app.stop();
}
process.exitCode = done();
