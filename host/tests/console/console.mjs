// Drives the admin console in Debian's Chromium (headless) through playwright-core,
// for host/tests/integration/console.rs, which runs the proxy and reads this script's
// stdout: one line per step ("ready", "unavailable MS", "history", "token", "done"),
// and answers on stdin ("kill ADDRESS", "swapped POLICY"). Anything wrong: a line
// "fail REASON" and exit code 1.
//
// Environment: CONSOLE_URL (the admin listener), TOKEN_URL and TOKEN (a second proxy
// whose admin API needs a token), SHOTS (where screenshots go), PLAYWRIGHT (the
// directory holding node_modules/playwright-core).
import { createRequire } from "node:module";
import readline from "node:readline";

const require = createRequire(process.env.PLAYWRIGHT + "/");
const { chromium } = require("playwright-core");
const shots = process.env.SHOTS;
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (line) => console.log(line);
const fail = (reason) => {
  say("fail " + reason.replace(/\n/g, " "));
  process.exit(1);
};
const next = async () => {
  const { value, done } = await lines.next();
  if (done) fail("the test closed stdin");
  return value;
};

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run"],
});
const errors = [];
async function open(url, viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") errors.push(m.type() + ": " + m.text()); });
  page.on("pageerror", (e) => errors.push("page error: " + e.message));
  page.on("requestfailed", (r) => errors.push("request failed: " + r.url() + " " + (r.failure() || {}).errorText));
  await page.goto(url);
  return page;
}
const cell = (page, address, field) =>
  page.locator(`tr[data-endpoint="${address}"] td[data-field="${field}"]`).textContent();

try {
  const page = await open(process.env.CONSOLE_URL, { width: 1280, height: 800 });
  // Clusters and endpoints of the running proxy.
  await page.waitForSelector('article[data-cluster="api"] tr[data-endpoint]', { timeout: 10000 });
  const endpoints = await page.locator('article[data-cluster="api"] tr[data-endpoint]').evaluateAll(
    (rows) => rows.map((r) => r.dataset.endpoint));
  if (endpoints.length !== 3) fail("expected 3 endpoints, saw " + JSON.stringify(endpoints));
  say("endpoints " + endpoints.join(" "));
  // Numbers change while traffic runs: every endpoint gets a rate, and the rates move.
  await page.waitForFunction(() => [...document.querySelectorAll('td[data-field="rate"]')]
    .every((td) => td.textContent !== "–" && Number(td.textContent) > 0), null, { timeout: 10000 });
  const before = await Promise.all(endpoints.map((a) => cell(page, a, "rate")));
  await page.waitForTimeout(2500);
  const after = await Promise.all(endpoints.map((a) => cell(page, a, "rate")));
  if (before.join() === after.join()) fail("rates did not change in 2.5 s: " + before.join());
  say("rates " + before.join(",") + " -> " + after.join(","));
  await page.waitForTimeout(3000); // a few points on the charts
  await page.screenshot({ path: shots + "/console-1280x800.png" });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(1500);
  await page.screenshot({ path: shots + "/console-390x844.png" });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) fail("at 390 px the page is " + overflow + " px wider than the window");
  await page.setViewportSize({ width: 1280, height: 800 });
  say("ready");

  // An endpoint killed by the test turns unavailable within 5 s.
  const killed = (await next()).replace(/^kill /, "");
  const started = Date.now();
  await page.waitForFunction((a) => {
    const td = document.querySelector(`tr[data-endpoint="${a}"] td[data-field="health"]`);
    return td && td.textContent === "unavailable";
  }, killed, { timeout: 5000 }).catch(() => fail("endpoint " + killed + " not shown unavailable within 5 s"));
  say("unavailable " + (Date.now() - started));

  // A policy swap appears in the history.
  const policy = (await next()).replace(/^swapped /, "");
  await page.waitForFunction((p) => [...document.querySelectorAll("#history li")]
    .some((li) => li.dataset.result === "loaded" && li.textContent.includes(p)), policy, { timeout: 10000 })
    .catch(() => fail("no load of " + policy + " in the history"));
  await page.waitForTimeout(2000);
  await page.screenshot({ path: shots + "/console-after-swap.png", fullPage: true });
  say("history");

  // With a token: asked once, kept for the session, sent with every poll.
  const guarded = await open(process.env.TOKEN_URL, { width: 1280, height: 800 });
  await guarded.waitForSelector("#login:not([hidden])", { timeout: 5000 });
  await guarded.fill("#token", process.env.TOKEN);
  await guarded.click("#login button");
  await guarded.waitForSelector('article[data-cluster="api"] tr[data-endpoint]', { timeout: 10000 });
  await guarded.reload();
  await guarded.waitForSelector('article[data-cluster="api"] tr[data-endpoint]', { timeout: 10000 });
  if (await guarded.locator("#login").isVisible()) fail("the token was asked for twice");
  // Strings from the configuration are text, never markup.
  const route = await guarded.locator("#listeners").textContent();
  if (!route.includes("<i>route</i>")) fail("the route's name is not shown as text: " + route);
  if ((await guarded.locator("#listeners i").count()) !== 0) fail("a route's name became markup");
  say("token");

  if (errors.length) fail("console errors: " + errors.join(" | "));
  say("done");
} catch (e) {
  fail(String(e && e.stack || e));
} finally {
  await browser.close();
}
