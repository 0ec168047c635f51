// authority.test.mjs -- what a token may do, set on the tokens page, with
// JavaScript and without: CREATE + with an expiry, scopes and allowed IPs
// (checked against what the server stored); a refused form keeps what
// was typed; Edit (description, scopes, IPs); Rotate with a grace period
// (the new secret shown once, both secrets working through the API); the
// expiry warning as the clock moves. Screenshots in tests/out/browser/.
import fs from "node:fs";
import path from "node:path";
import { addUser, browser, done, ok, scratch, serve, shot, tessera, login as signIn, session } from "./lib.mjs";

const PW = "correct horse battery";
const work = scratch("browser-authority");
const data = path.join(work, "data");
const clockFile = path.join(work, "clock");
tessera(["init", "--data", data]);
addUser(data, "ana@example.com", PW, "admin");

const SECRET = /^tsr_[0-9A-Za-z]{49}$/;
// Equal as JSON (arrays and strings alike).
const eq = (got, want, name) => ok(JSON.stringify(got) === JSON.stringify(want), name,
  `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
const DAY = 86400;
let now = Math.floor(Date.now() / 1000);
const setClock = (t) => { now = t; fs.writeFileSync(clockFile, String(t)); };
setClock(now);

// What the server stored, as `tessera token show` prints it.
function show(key) {
  const out = tessera(["token", "show", "--data", data, key]);
  const rec = {};
  for (const line of out.split("\n")) {
    const m = line.match(/^(\S+)\s+(.*)$/);
    if (m) rec[m[1]] = m[2];
  }
  return rec;
}

const login = (page, base) => signIn(page, base, "ana@example.com", PW);

async function me(base, key, secret) {
  const r = await fetch(base + "/api/me", { headers: {
    Authorization: "Basic " + Buffer.from(`${key}:${secret}`).toString("base64") } });
  return r.status;
}

const row = (key) => `tr[data-key="${key}"]`;

async function readSecret(page) {
  await page.locator("#token-secret").waitFor({ state: "visible" });
  return [(await page.textContent("#token-key")).trim(),
    (await page.textContent("#token-secret")).trim()];
}

async function closeSecret(page) {
  await page.click("#created-ok");
  await page.waitForURL(/\/settings\/tokens$/);
}

async function journey(b, base, js) {
  const tag = js ? "js" : "nojs";
  const { ctx, page, errors } = await session(b, base, "ana@example.com", PW, js);

  // A refused form comes back with what was typed and says why.
  await page.click("#create-open");
  const desc = `Exporter ${tag}`;
  await page.fill('#create input[name="description"]', desc);
  for (const box of await page.locator('#create input[name="scopes"]').all()) {
    if (await box.isChecked()) await box.uncheck();
  }
  await page.fill('#create textarea[name="allowed_ips"]', "10.0.0.0/8\n::1");
  await page.click('#create button[type="submit"]');
  await page.locator("#create-error").waitFor({ state: "visible" });
  ok((await page.textContent("#create-error")).includes("at least one scope"),
    `${tag}: unchecking every scope is refused, with the reason`);
  eq(await page.inputValue('#create input[name="description"]'), desc,
    `${tag}: ... the description is kept`);
  eq(await page.inputValue('#create textarea[name="allowed_ips"]'), "10.0.0.0/8\n::1",
    `${tag}: ... the allowed IPs are kept`);
  await shot(page, `20-create-refused-${tag}`);

  // CREATE + with an expiry, scopes and allowed IPs.
  await page.selectOption("#expires-choice", "7");
  for (const s of ["objects:read", "records:read", "tokens:write"]) {
    await page.check(`#create input[name="scopes"][value="${s}"]`);
  }
  await shot(page, `21-create-filled-${tag}`);
  await page.click('#create button[type="submit"]');
  const [key, secret] = await readSecret(page);
  ok(SECRET.test(secret), `${tag}: the new token's secret is shown`, secret);
  await closeSecret(page);
  const stored = show(key);
  eq(stored.scopes, "objects:read records:read tokens:write", `${tag}: the scopes checked are stored`);
  eq(stored.allowed_ips, "10.0.0.0/8,::1", `${tag}: the allowed IPs are stored`);
  const exp = Date.parse(stored.expires_at) / 1000;
  ok(Math.abs(exp - (now + 7 * DAY)) < 120, `${tag}: it expires in 7 days`, stored.expires_at);
  const cells = await page.textContent(row(key));
  ok(cells.includes("objects:read, records:read, tokens:write"),
    `${tag}: the row shows the scopes`, cells);
  ok(cells.includes("from 10.0.0.0/8 +1"), `${tag}: the row shows the allowed IPs`, cells);
  eq((await page.textContent(`${row(key)} td.expires .expiring`)).trim(), "in 7 days",
    `${tag}: the row marks the expiry within the warning window`);
  ok(!(await page.content()).includes(secret), `${tag}: the secret is not on the list`);

  // A token that expires on a date, with the default scopes.
  await page.click("#create-open");
  await page.fill('#create input[name="description"]', `Dated ${tag}`);
  await page.selectOption("#expires-choice", "date");
  const day = new Date((now + 60 * DAY) * 1000).toISOString().slice(0, 10);
  await page.fill("#expires-at", day);
  await page.click('#create button[type="submit"]');
  const [dkey] = await readSecret(page);
  await closeSecret(page);
  const dated = show(dkey);
  eq(dated.expires_at, `${day}T23:59:59Z`, `${tag}: a date expires at its last second`);
  eq(dated.scopes, "objects:read objects:write pipelines:run webhook:write records:read tokens:read",
    `${tag}: the default scopes, as checked`);
  ok((await page.textContent(`${row(dkey)} td.expires`)).includes(`${day} 23:59 UTC`),
    `${tag}: the row shows the date, unmarked`);
  eq(await page.locator(`${row(dkey)} td.expires .expiring`).count(), 0,
    `${tag}: ... outside the warning window`);

  // Edit: description, scopes and IPs.
  await page.click(`${row(key)} a[href$="/edit"]`);
  await page.locator("dialog#edit").waitFor({ state: "visible" });
  eq(await page.isChecked('#edit input[name="scopes"][value="tokens:write"]'), true,
    `${tag}: the edit form starts from what the token may do`);
  eq(await page.inputValue('#edit textarea[name="allowed_ips"]'), "10.0.0.0/8\n::1",
    `${tag}: ... its IPs, one per line`);
  await page.fill('#edit input[name="description"]', `${desc} (edited)`);
  await page.uncheck('#edit input[name="scopes"][value="tokens:write"]');
  await page.fill('#edit textarea[name="allowed_ips"]', "127.0.0.1");
  await shot(page, `22-edit-${tag}`);
  await page.click('#edit button[type="submit"]');
  await page.waitForURL(/\/settings\/tokens$/);
  const edited = show(key);
  eq([edited.description, edited.scopes, edited.allowed_ips],
    [`${desc} (edited)`, "objects:read records:read", "127.0.0.1"],
    `${tag}: Edit saved the description, scopes and IPs`);
  ok((await page.textContent(row(key))).includes(`${desc} (edited)`), `${tag}: the row shows the edit`);

  // Rotate with a grace period: a new secret, shown once; both work.
  await page.click(`${row(dkey)} a[href$="/rotate"]`);
  await page.locator("dialog#rotate").waitFor({ state: "visible" });
  await page.selectOption("#grace", "3600");
  await shot(page, `23-rotate-${tag}`);
  await page.click('#rotate button[type="submit"]');
  const [rkey, rsecret] = await readSecret(page);
  eq(rkey, dkey, `${tag}: rotation keeps the Token Key`);
  ok(SECRET.test(rsecret), `${tag}: rotation shows a new secret`);
  ok((await page.textContent("#previous-until")).includes("keeps working until"),
    `${tag}: the dialog says until when the previous secret works`);
  await shot(page, `24-rotated-${tag}`);
  await closeSecret(page);
  ok(!(await page.content()).includes(rsecret), `${tag}: the new secret is not on the list`);
  eq(await me(base, dkey, rsecret), 200, `${tag}: the new secret works through the API`);

  ok(errors.length === 0, `${tag}: no page errors`, errors.join("\n"));
  await ctx.close();
  return { key, dkey };
}

// Sessions that outlive the clock's jumps of a month.
const app = await serve(data, { TESSERA_TEST_CLOCK_FILE: clockFile,
  TESSERA_SESSION_IDLE: "31536000", TESSERA_SESSION_ABSOLUTE: "31536000" });
const b = await browser();
try {
  // The old secret keeps working during the grace period, then stops.
  const made = tessera(["token", "add", "--data", data, "--email", "ana@example.com",
    "--description", "graceful"]);
  const gkey = made.match(/Token Key: (\S+)/)[1];
  const gold = made.match(/Token: +(\S+)/)[1];
  const a = await journey(b, app.base, true);
  await journey(b, app.base, false);

  const ctx = await b.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await login(page, app.base);
  await page.goto(`${app.base}/settings/tokens/${gkey}/rotate`);
  await page.selectOption("#grace", "3600");
  await page.click('#rotate button[type="submit"]');
  const [, gnew] = await readSecret(page);
  await closeSecret(page);
  eq([await me(app.base, gkey, gold), await me(app.base, gkey, gnew)], [200, 200],
    "during the grace period both secrets work");
  setClock(now + 3601);
  eq([await me(app.base, gkey, gold), await me(app.base, gkey, gnew)], [401, 200],
    "after it only the new one does");

  // The warning appears as the clock reaches the window: a token for 30
  // days is unmarked today and marked 24 days later (7-day window).
  setClock(Math.floor(Date.now() / 1000));
  tessera(["token", "add", "--data", data, "--email", "ana@example.com",
    "--description", "month", "--expires-in-days", "30"]);
  await page.reload();
  const mrow = page.locator("#user-tokens tr", { hasText: "month" });
  eq(await mrow.locator("td.expires .expiring").count(), 0, "30 days ahead: not marked");
  setClock(now + 24 * DAY);
  await page.reload();
  eq((await mrow.locator("td.expires .expiring").textContent()).trim(), "in 6 days",
    "24 days later: marked, in 6 days");
  setClock(now + 31 * DAY);
  await page.reload();
  eq((await mrow.locator("td.expires .expired").textContent()).trim(), "expired",
    "past its expiry: marked expired");
  await shot(page, "25-expiry-marks");
  await ctx.close();
  setClock(Math.floor(Date.now() / 1000));

  // Phone width: the dialogs and the list stay usable.
  const phone = await b.newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  await login(phone, app.base);
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  ok(width <= 390, "tokens page: no horizontal scrolling at 390 px", width);
  await phone.click("#create-open");
  const dw = await phone.evaluate(() => document.querySelector("#create").scrollWidth);
  ok(dw <= 390, "the create dialog fits at 390 px", dw);
  await shot(phone, "26-create-phone");
  await phone.goto(`${app.base}/settings/tokens/${a.key}/edit`);
  await shot(phone, "27-edit-phone");
  // Nothing secret at rest.
  ok(!fs.readFileSync(app.logFile).includes("tsr_"), "no secret in the server log");
} catch (e) {
  ok(false, "journeys finished", e.stack);
} finally {
  await b.close();
  await app.stop();
}
process.exitCode = done();
