// tokens.test.mjs -- the journey of step 3, with JavaScript and without:
// log in -> Settings -> Tokens -> CREATE + -> description -> OK -> read
// the key and secret -> OK -> the row is listed -> switch off -> inactive
// after reload -> switch on. Screenshots in tests/out/browser/.
import fs from "node:fs";
import path from "node:path";
import { addUser, browser, done, eq, ok, scratch, serve, shot, tessera, login as signIn, session } from "./lib.mjs";

const PW = "correct horse battery";
const data = path.join(scratch("browser-tokens"), "data");
tessera(["init", "--data", data]);
addUser(data, "ana@example.com", PW, "admin");
tessera(["token", "add-via", "--data", data, "--account", "Acme",
  "--destination", "Warehouse (BigQuery)"]);

const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const SECRET = /^tsr_[0-9A-Za-z]{49}$/;

const login = (page, base) => signIn(page, base, "ana@example.com", PW);

const rowSel = (key) => `tr[data-key="${key}"]`;

async function journey(b, base, js) {
  const tag = js ? "js" : "nojs";
  const { ctx, page, errors } = await session(b, base, "ana@example.com", PW, js);
  // From Settings to Tokens, as a person would go.
  await page.click("header details.usermenu summary");
  await page.click(".usermenu .menu >> text=Settings");
  await page.waitForURL(/\/settings$/);
  await page.click("#tokens a");
  await page.waitForURL(/\/settings\/tokens$/);
  ok(await page.locator("#via h2", { hasText: "Via Kondado Tokens" }).isVisible(),
    `${tag}: the Via Kondado Tokens list`);
  ok(await page.locator("#via td", { hasText: "Warehouse (BigQuery)" }).isVisible(),
    `${tag}: the Via token with its destination`);
  await shot(page, `10-tokens-${tag}`);

  await page.click("#create-open");
  const dialog = page.locator("dialog#create");
  ok(await dialog.isVisible(), `${tag}: CREATE + opens the dialog`);
  if (js) ok(await page.evaluate(() => document.querySelector("#create").matches(":modal")),
    "js: it is a modal <dialog>");
  const desc = `Report bot ${tag} <é>`;
  await page.fill('dialog#create input[name="description"]', desc);
  await shot(page, `11-create-${tag}`);
  await page.click('dialog#create button[type="submit"]');
  await page.locator("#token-secret").waitFor({ state: "visible" });
  const key = (await page.textContent("#token-key")).trim();
  const secret = (await page.textContent("#token-secret")).trim();
  ok(UUID4.test(key), `${tag}: the dialog shows the Token Key`, key);
  ok(SECRET.test(secret), `${tag}: the dialog shows the Token`, secret);
  ok(await page.locator("dialog#created", { hasText: "will not be shown again" }).isVisible(),
    `${tag}: it says the token will not be shown again`);
  // Issue 18 (7): a third copy button, for the ready-made curl example.
  eq(await page.locator("dialog#created button.copy").count(), 3, `${tag}: three copy buttons`);
  await shot(page, `12-created-${tag}`);
  if (js) await page.click("#created-ok");
  else {
    // Post/redirect/get: the secret is on a one-time view; reloading it,
    // or coming back to it, makes no second token and shows no secret.
    ok(/\/settings\/tokens\?shown=\d+$/.test(page.url()),
      "nojs: the form's answer redirected to a one-time view", page.url());
    await page.reload();
    ok(await page.locator("#notice", { hasText: "cannot be shown again" }).isVisible(),
      "nojs: reloading the view says the secret was shown once");
    ok(!(await page.content()).includes(secret), "nojs: ... and shows no secret");
    eq(await page.locator("#user tr", { hasText: desc }).count(), 1,
      "nojs: ... and there is one new token, not two");
    await page.goto(`${base}/settings`);
    await page.goBack();
    ok(/\?shown=/.test(page.url()) && !(await page.content()).includes(secret),
      "nojs: Back to the view shows no secret", page.url());
    await page.goto(`${base}/settings/tokens`);
  }
  await page.waitForURL(/\/settings\/tokens$/);
  await page.locator(rowSel(key)).waitFor();
  ok(!(await page.locator("dialog#created[open]").count()), `${tag}: OK closes the dialog`);
  ok((await page.textContent(rowSel(key))).includes(desc), `${tag}: the new row is listed`);
  ok(!(await page.content()).includes(secret), `${tag}: the secret is gone from the page`);

  // Switch off; after a reload it is still off; switch on.
  const sw = `${rowSel(key)} button.switch`;
  eq(await page.getAttribute(sw, "aria-checked"), "true", `${tag}: starts active`);
  if (js) await page.evaluate(() => { window.samePage = true; });
  await page.click(sw);
  if (js) await page.waitForFunction((s) =>
    document.querySelector(s).getAttribute("aria-checked") === "false", sw);
  // Issue 18 (2): back to the list with the switch focused (?focus=KEY).
  else await page.locator(`${sw}[aria-checked="false"]`).waitFor();
  eq(await page.getAttribute(sw, "aria-checked"), "false", `${tag}: switched off`);
  if (js) {
    ok(await page.evaluate(() => window.samePage === true),
      `${tag}: the switch flipped in place (no page load)`);
    ok((await page.getAttribute(sw, "formaction")).endsWith(`/settings/tokens/${key}/activate`),
      `${tag}: the switch now activates`);
  }
  await shot(page, `13-switched-off-${tag}`);
  await page.reload();
  eq(await page.getAttribute(sw, "aria-checked"), "false", `${tag}: inactive after reload`);
  await page.click(sw);
  if (js) await page.waitForFunction((s) =>
    document.querySelector(s).getAttribute("aria-checked") === "true", sw);
  else await page.locator(`${sw}[aria-checked="true"]`).waitFor();
  await page.reload();
  eq(await page.getAttribute(sw, "aria-checked"), "true", `${tag}: switched on again`);
  ok(errors.length === 0, `${tag}: no page errors`, errors.join("\n"));
  await ctx.close();
  return { key, secret };
}

const app = await serve(data);
const b = await browser();
try {
  const a = await journey(b, app.base, true);
  const c = await journey(b, app.base, false);
  // The secrets exist nowhere at rest.
  const files = fs.readdirSync(data).map((f) => fs.readFileSync(path.join(data, f)));
  const all = Buffer.concat(files);
  ok(!all.includes(a.secret) && !all.includes(c.secret), "no secret in the data directory");
  ok(!fs.readFileSync(app.logFile).includes(a.secret), "no secret in the server log");

  // Phone width: the list stays usable.
  const phone = await b.newPage({ viewport: { width: 375, height: 800 }, isMobile: true });
  await login(phone, app.base);
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  ok(width <= 375, "tokens page: no horizontal scrolling at phone width", width);
  await shot(phone, "14-tokens-phone");
} catch (e) {
  ok(false, "journeys finished", e.stack);
} finally {
  await b.close();
  await app.stop();
}
process.exitCode = done();
