// lib.mjs -- what every browser journey needs: TAP output, a data dir
// with users, lighttpd serving tessera (conf/lighttpd.conf, as `make run`
// does) on a free loopback port, and Debian's chromium via playwright-core.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const BIN = path.join(REPO, "tessera");
export const OUT = path.join(REPO, "tests", "out", "browser");

// --- TAP ----------------------------------------------------------------
let count = 0, failed = 0;
export function ok(cond, name, diag) {
  count++;
  console.log(`${cond ? "ok" : "not ok"} ${count} - ${name}`);
  if (!cond) {
    failed++;
    if (diag !== undefined) console.log(`# ${String(diag).replace(/\n/g, "\n# ")}`);
  }
  return cond;
}
export const eq = (got, want, name) =>
  ok(got === want, name, `got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
export function done() {
  console.log(`1..${count}`);
  return failed ? 1 : 0;
}

// --- the service --------------------------------------------------------
export function scratch(prefix) {
  const base = process.env.TESSERA_TEST_TMP || os.tmpdir();
  return fs.mkdtempSync(path.join(base, prefix + "-"));
}

export function tessera(args, input = "") {
  const r = spawnSync(BIN, args, { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`tessera ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

export function addUser(data, email, password, role = "member", account = "Acme") {
  tessera(["user", "add", "--data", data, "--email", email, "--role", role,
    "--account", account], password + "\n");
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

async function waitPort(port, child, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`lighttpd exited ${child.exitCode}`);
    const up = await new Promise((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => { s.destroy(); resolve(true); });
      s.on("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("lighttpd did not start");
}

// Starts lighttpd spawning tessera for data; returns { base, stop }.
export async function serve(data, extraEnv = {}) {
  const work = scratch("lighttpd");
  const port = await freePort();
  const log = fs.openSync(path.join(work, "lighttpd.out"), "a");
  const child = spawn("lighttpd", ["-D", "-f", path.join(REPO, "conf", "lighttpd.conf")], {
    cwd: work, detached: true, stdio: ["ignore", log, log],
    env: {
      ...process.env, SHELL: "/bin/sh", TESSERA_ROOT: REPO, TESSERA_BIN: BIN,
      TESSERA_DATA: data, TESSERA_RUNDIR: work, TESSERA_PORT: String(port),
      TESSERA_PROCS: "2", ...extraEnv,
    },
  });
  await waitPort(port, child);
  const stop = async () => {
    if (child.exitCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    process.kill(-child.pid, "SIGTERM");   // its own process group, by pid
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    try { process.kill(-child.pid, "SIGKILL"); } catch { /* all gone */ }
  };
  return { base: `http://127.0.0.1:${port}`, stop, logFile: path.join(work, "lighttpd.out") };
}

// --- the browser --------------------------------------------------------
export async function browser() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update",
      "--disable-sync"],
  });
}

// A fresh browser context (JavaScript on or off), logged in; page errors
// are collected in errors.
export async function session(b, base, email, password, js = true,
  viewport = { width: 1280, height: 900 }) {
  const ctx = await b.newContext({ javaScriptEnabled: js, viewport });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await login(page, base, email, password);
  return { ctx, page, errors };
}

// Logs in through the form and waits for the tokens page.
export async function login(page, base, email, password) {
  await page.goto(base + "/login");
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', password);
  await page.click('button[type="submit"]');
  await page.waitForURL(/\/settings\/tokens$/);
}

// axe-core (npm) run in the page as it is: the violations of serious or
// critical impact, as [{id, impact, help, nodes: [selector, ...]}]. The
// script goes in through the DevTools protocol (page.evaluate), which the
// page's Content-Security-Policy does not govern; the page needs
// JavaScript on.
const AXE = path.join(REPO, "tests", "browser", "node_modules", "axe-core",
  "axe.min.js");
export async function axe(page) {
  await page.evaluate(fs.readFileSync(AXE, "utf8"));
  return page.evaluate(async () => {
    const r = await globalThis.axe.run(document, {
      resultTypes: ["violations"] });
    return r.violations
      .filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 10) }));
  });
}

export async function shot(page, name) {
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, name + ".png");
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
