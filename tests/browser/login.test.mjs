// login.test.mjs -- the journey of step 2: log in, open the email menu,
// go to Settings, see the Tokens section, log out. Keyboard only too, and
// at phone width. Screenshots in tests/out/browser/.
import path from "node:path";
import { addUser, browser, done, eq, ok, scratch, serve, shot, tessera } from "./lib.mjs";

const PW = "correct horse battery";
const data = path.join(scratch("browser-login"), "data");
tessera(["init", "--data", data]);
addUser(data, "ana@example.com", PW, "admin");

const app = await serve(data);
const b = await browser();
try {
  const page = await b.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // The wrong-password answer is a 401 on purpose; anything else counts.
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 401/.test(m.text())) errors.push(m.text());
  });

  await page.goto(app.base + "/");
  eq(new URL(page.url()).pathname, "/login", "/ sends a visitor to /login");
  await shot(page, "01-login");
  await page.fill('input[name="email"]', "ana@example.com");
  await page.fill('input[name="password"]', "wrong password");
  await page.click('button[type="submit"]');
  ok((await page.textContent("[role=alert]")).includes("Invalid email or password"),
    "a wrong password shows the generic message");
  await shot(page, "02-login-failed");
  await page.fill('input[name="password"]', PW);
  await page.click('button[type="submit"]');
  await page.waitForURL(/\/settings\/tokens$/);
  ok(true, "logging in lands on Settings -> Tokens");

  const summary = page.locator("header details.usermenu summary");
  eq((await summary.textContent()).includes("ana@example.com"), true,
    "the email is in the top-right menu");
  const box = await summary.boundingBox();
  ok(box && box.x > 1280 / 2, "the menu sits at the right", JSON.stringify(box));
  await summary.click();
  ok(await page.locator(".usermenu .menu").isVisible(), "clicking the email opens the menu");
  await shot(page, "03-menu-open");
  await page.click(".usermenu .menu >> text=Settings");
  await page.waitForURL(/\/settings$/);
  ok(await page.locator("#tokens h2", { hasText: "Tokens" }).isVisible(),
    "Settings shows the Tokens section");
  eq(await page.getAttribute("#tokens a", "href"), "/settings/tokens",
    "the section links to the tokens page");
  await shot(page, "04-settings");

  // Keyboard only: Tab to the menu, Enter opens, Escape closes.
  await page.keyboard.press("Tab");
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement?.tagName);
  eq(focused, "SUMMARY", "Tab reaches the account menu");
  await page.keyboard.press("Enter");
  ok(await page.locator(".usermenu .menu").isVisible(), "Enter opens the menu");
  await page.keyboard.press("Escape");
  ok(!(await page.locator(".usermenu .menu").isVisible()), "Escape closes it");

  // Log out from the menu.
  await summary.click();
  await page.click(".usermenu .menu >> text=Log out");
  await page.waitForURL(/\/login$/);
  ok(true, "Log out returns to the login page");
  await page.goto(app.base + "/settings");
  ok(new URL(page.url()).pathname === "/login", "after logout Settings needs a login");
  ok(errors.length === 0, "no script or CSP errors in the console", errors.join("\n"));

  // Phone width.
  const phone = await b.newPage({ viewport: { width: 375, height: 740 }, isMobile: true });
  await phone.goto(app.base + "/login");
  await phone.fill('input[name="email"]', "ana@example.com");
  await phone.fill('input[name="password"]', PW);
  await phone.click('button[type="submit"]');
  await phone.waitForURL(/\/settings\/tokens$/);
  await phone.goto(app.base + "/settings");
  const width = await phone.evaluate(() => document.documentElement.scrollWidth);
  ok(width <= 375, "no horizontal scrolling at phone width", width);
  await shot(phone, "05-settings-phone");
} catch (e) {
  ok(false, "journey finished", e.stack);
} finally {
  await b.close();
  await app.stop();
}
process.exitCode = done();
