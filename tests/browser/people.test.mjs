// people.test.mjs -- Settings -> People through lighttpd and chromium: an
// admin (ana) adds a person and copies the set-password link shown once;
// the person opens it in a fresh browser, sets a password and logs in;
// the link then says it was used; ana switches the person off (their
// browser session ends) and on; the last admin cannot be demoted; a
// member sees only their profile; the page works without JavaScript.
// axe-core clean (no serious or critical) at 1280 and 390 px; screenshots
// people-1280.png, people-390.png, set-password-390.png.
import path from "node:path";
import { addUser, axe, browser, done, eq, ok, scratch, serve, session, shot, tessera } from "./lib.mjs";

const PW = "correct horse battery";
const ANA = "ana@example.com", BOB = "bob@example.com";
const NEW = "dana.new-colleague@example.com";
const NEWPW = "dana's own passphrase";
const dir = scratch("browser-people");
const data = path.join(dir, "data");
tessera(["init", "--data", data]);
addUser(data, ANA, PW, "admin");
addUser(data, BOB, PW, "member");
for (let i = 0; i < 6; i++) addUser(data, `person${i}.with-a-longer-name@example.com`, PW, "member");
tessera(["token", "add", "--data", data, "--email", BOB, "--description", "bob's app"]);

const rowsOf = (page) => page.$$eval("table.people tbody tr",
  (trs) => trs.map((tr) => tr.innerText.replace(/\s+/g, " ").trim()));

const srv = await serve(data);
const b = await browser();
try {
  const base = srv.base;
  const ana = await session(b, base, ANA, PW, true);
  const p = ana.page;

  // The way in: the header menu and the Settings card.
  await p.goto(base + "/settings");
  ok(await p.locator('a.button[href="/settings/users"]').count() === 1,
    "Settings links to People from the profile card");
  ok(await p.locator('.usermenu a[href="/settings/users"]').count() === 1,
    "the header menu links to People");
  await p.click('a.button[href="/settings/users"]');
  await p.waitForURL(/\/settings\/users$/);
  eq(await p.locator("h1").innerText(), "People", "the People page");
  let rows = await rowsOf(p);
  ok(rows.length === 8 && rows.some((r) => r.startsWith(BOB) && /member/.test(r) &&
    /active/.test(r) && /1 \(1 on\)/.test(r)), "bob listed: member, active, 1 token", rows);

  // Add a person: the link shown once, with a Copy button.
  await p.getByLabel("Email").fill(NEW);
  await p.locator('form.add-person select[name="role"]').selectOption("member");
  await p.click('form.add-person button[type="submit"]');
  await p.waitForSelector("#set-password-link");
  const link = (await p.locator("#set-password-link").innerText()).trim();
  ok(/\/set-password\?token=[A-Za-z0-9_-]{43}$/.test(link), "the link is shown", link);
  const copy = p.locator('button.copy[data-copy="set-password-link"]');
  ok(await copy.isVisible(), "... with a visible Copy button (JavaScript on)");
  let v = await axe(p);
  ok(v.length === 0, "axe-core at 1280 px with the link shown: no serious or critical violations", JSON.stringify(v));
  await ana.ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  await copy.click();
  const clip = await p.evaluate(() => navigator.clipboard.readText()).catch(() => null);
  ok(clip === link, "Copy puts the link on the clipboard", clip);
  rows = await rowsOf(p);
  ok(rows.some((r) => r.startsWith(NEW) && /invited/.test(r) && /never/.test(r)),
    "the new person: invited, never logged in", rows);
  await shot(p, "people-1280");
  await p.reload();
  ok(await p.locator("#set-password-link").count() === 0 ||
    (await p.locator("#set-password-link").innerText()) !== link,
    "the link is not shown again on a later visit");
  await p.goto(base + "/settings/users");
  ok(!(await p.content()).includes(link.split("token=")[1]), "... nor anywhere on the page");

  // The person, in a fresh browser on a phone: set a password, log in.
  const ctx = await b.newContext({ viewport: { width: 390, height: 844 } });
  const np = await ctx.newPage();
  await np.goto(link);
  eq(await np.locator("h1").innerText(), "Set your password", "the link opens the form");
  await np.getByLabel("New password", { exact: false }).first().fill(NEWPW);
  await np.getByLabel("New password again").fill(NEWPW);
  v = await axe(np);
  ok(v.length === 0, "axe-core on the set-password page at 390 px", JSON.stringify(v));
  await shot(np, "set-password-390");
  await np.click('button[type="submit"]');
  await np.waitForURL(/\/login\?set=1$/);
  ok((await np.locator(".notice").innerText()).includes("password is set"),
    "the login page says the password is set");
  await np.fill('input[name="email"]', NEW);
  await np.fill('input[name="password"]', NEWPW);
  await np.click('button[type="submit"]');
  await np.waitForURL(/\/settings\/tokens$/);
  ok(true, "the new person logs in with their password");
  const again = await b.newContext();
  const ap = await again.newPage();
  const r = await ap.goto(link);
  ok(r.status() === 410 && (await ap.locator("h1").innerText()).includes("does not work"),
    "the link a second time: 410, a page that says so", r.status());
  await again.close();

  // Their profile as a member (on the phone), then switched off by ana.
  await np.goto(base + "/settings/users");
  eq(await np.locator("h1").innerText(), "Your profile", "a member sees their profile");
  ok(await np.locator("table.people").count() === 0, "... and nobody else");
  v = await axe(np);
  ok(v.length === 0, "axe-core on a member's profile at 390 px", JSON.stringify(v));

  await p.goto(base + "/settings/users");
  await p.getByRole("button", { name: `Disable ${NEW}` }).click();
  await p.waitForURL(/done=disabled/);
  ok((await p.locator(".notice").innerText()).includes(NEW), "ana is told who was switched off");
  rows = await rowsOf(p);
  ok(rows.some((r) => r.startsWith(NEW) && /disabled/.test(r)), "listed as disabled", rows);
  await np.goto(base + "/settings/users");
  ok(/\/login/.test(np.url()), "the person's browser session ended at once", np.url());
  await p.getByRole("button", { name: `Enable ${NEW}` }).click();
  await p.waitForURL(/done=enabled/);

  // Role: make bob admin with the row's labelled select; the last admin.
  await p.getByLabel(`Role of ${BOB}`, { exact: true }).selectOption("admin");
  await p.getByRole("button", { name: `Change the role of ${BOB}` }).click();
  await p.waitForURL(/done=role/);
  ok((await rowsOf(p)).some((r) => r.startsWith(BOB) && /admin/.test(r)), "bob is admin");
  await p.getByLabel(`Role of ${BOB}`, { exact: true }).selectOption("member");
  await p.getByRole("button", { name: `Change the role of ${BOB}` }).click();
  await p.waitForURL(/done=role/);
  await p.getByLabel(`Role of ${ANA}`, { exact: true }).selectOption("member");
  const resp = await Promise.all([p.waitForNavigation(),
    p.getByRole("button", { name: `Change the role of ${ANA}` }).click()]);
  ok(resp[0].status() === 409 && (await p.locator(".alert").innerText()).includes("last admin"),
    "the last admin cannot be made a member: 409 with a message", resp[0].status());

  // The phone: 390 px.
  const phone = await session(b, base, ANA, PW, true, { width: 390, height: 844 });
  await phone.page.goto(base + "/settings/users");
  v = await axe(phone.page);
  ok(v.length === 0, "axe-core at 390 px: no serious or critical violations", JSON.stringify(v));
  const wide = await phone.page.evaluate(() => document.documentElement.scrollWidth);
  ok(wide <= 390, "nothing wider than the phone", wide);
  await shot(phone.page, "people-390");

  // Without JavaScript: the forms still work.
  const nojs = await session(b, base, ANA, PW, false);
  await nojs.page.goto(base + "/settings/users");
  await nojs.page.getByRole("button", { name: `Disable ${BOB}` }).click();
  await nojs.page.waitForURL(/done=disabled/);
  ok((await rowsOf(nojs.page)).some((r) => r.startsWith(BOB) && /disabled/.test(r)),
    "without JavaScript: bob switched off");
  await nojs.page.getByRole("button", { name: `Enable ${BOB}` }).click();
  await nojs.page.waitForURL(/done=enabled/);
  ok((await rowsOf(nojs.page)).some((r) => r.startsWith(BOB) && /active/.test(r)),
    "... and on again");
  const errors = [...ana.errors, ...phone.errors, ...nojs.errors];
  ok(errors.length === 0, "no page errors", JSON.stringify(errors));
  await ctx.close();
} finally {
  await b.close();
  await srv.stop();
}
done();
