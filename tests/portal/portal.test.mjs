// Browser test of the portal, in headless Chromium (Debian's) driven by playwright-core.
// Started by tests/it/portal.rs, which runs the pipeline and a receiver and passes:
//   PORTAL_URL    http://127.0.0.1:PORT/portal of the API process
//   API_URL       the public API, to compare its messages with the pages'
//   INGEST_URL    the capture's ingest, ADMIN_TOKEN its bearer token
//   RECEIVER_URL  a receiver that answers 200
//   KEY_PRO, KEY_FREE  a key whose plan has webhooks and one whose plan has none
//   SCREENSHOTS   directory for the screenshots of the main pages
//   CHROMIUM      the browser (default /usr/bin/chromium)
// Every step says what it checks; the first failure ends the run with exit code 1.

import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
};
const PORTAL = env("PORTAL_URL");
const API = env("API_URL");
const INGEST = env("INGEST_URL");
const ADMIN_TOKEN = env("ADMIN_TOKEN");
const RECEIVER = env("RECEIVER_URL");
const KEY_PRO = env("KEY_PRO");
const KEY_FREE = env("KEY_FREE");
const SHOTS = env("SCREENSHOTS");
const ORIGIN = new URL(PORTAL).origin;
const WAIT_MS = 60_000;

mkdirSync(SHOTS, { recursive: true });

function step(text) {
  console.log(`portal test: ${text}`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Reloads `page` until `check` returns something truthy, for at most WAIT_MS. */
async function reloadUntil(page, what, check) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const found = await check();
    if (found) {
      return found;
    }
    if (Date.now() > deadline) {
      throw new Error(`not within ${WAIT_MS} ms: ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    await page.reload();
  }
}

/** The API's field messages for a registration sent straight to it. */
async function apiMessages(form) {
  const response = await fetch(`${API}/webhooks`, {
    method: "POST",
    headers: { "user-key": KEY_PRO, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form).toString(),
  });
  assert.equal(response.status, 400, "the API refuses the registration");
  const body = await response.json();
  return Object.fromEntries(body.errors.map((e) => [e.field, e.message]));
}

async function signIn(page, key) {
  await page.goto(`${PORTAL}`);
  await page.getByLabel("user-key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  // Chromium's own background traffic is refused by the closed network; keep it off.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

let failed = false;
let page = null;
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  page = await context.newPage();
  const requests = [];
  const problems = [];
  page.on("request", (request) => requests.push(request.url()));
  // The pages that answer a refusal carry its status (400, 401, 403), which the console
  // reports; anything else there (a CSP violation, a missing asset) is a problem.
  const refusal = /^Failed to load resource: the server responded with a status of 40[013] /;
  page.on("console", (message) => {
    if (message.type() === "error" && !refusal.test(message.text())) {
      problems.push(message.text());
    }
  });
  page.on("pageerror", (error) => problems.push(String(error)));

  step("a wrong key gets the API's message");
  await signIn(page, "not-a-key");
  await page.getByRole("alert").filter({ hasText: "unknown user-key" }).waitFor();
  await shot(page, "sign-in-wrong-key");

  step("a key whose plan has no webhooks gets the API's message");
  await signIn(page, KEY_FREE);
  await page
    .getByRole("alert")
    .filter({ hasText: "webhooks are available on the Pro, Ultra and Enterprise plans" })
    .waitFor();
  assert.equal((await context.cookies()).length, 0, "no session for a refused key");

  step("the pages are served with a strict Content-Security-Policy");
  const signInPage = await page.goto(`${PORTAL}`);
  const csp = signInPage.headers()["content-security-policy"];
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /form-action 'self'/);
  assert.equal(signInPage.headers()["cache-control"], "no-store");

  step("signing in keeps the key in a session cookie only");
  await signIn(page, KEY_PRO);
  await page.getByRole("heading", { name: "Your webhooks" }).waitFor();
  await shot(page, "webhooks-empty");
  const cookies = await context.cookies();
  assert.equal(cookies.length, 1, JSON.stringify(cookies));
  const [cookie] = cookies;
  assert.equal(cookie.httpOnly, true, "scripts cannot read it");
  assert.equal(cookie.sameSite, "Strict", "other sites cannot send it");
  assert.equal(cookie.expires, -1, "it ends with the browser session");
  assert.equal(await page.evaluate(() => document.cookie), "");
  assert.equal(await page.evaluate(() => sessionStorage.length + localStorage.length), 0);

  step("a refused registration shows the API's own messages");
  const bad = { url: "ftp://example.com/x", category: "99", secret: "" };
  const expected = await apiMessages(bad);
  await page.getByLabel("URL").fill(bad.url);
  await page.getByLabel("Secret").fill(bad.secret);
  // No option has the value 99: the form is sent as the API would get it from a client.
  await page.evaluate(() => {
    const select = document.getElementById("category");
    select.add(new Option("Unknown", "99"));
    select.value = "99";
  });
  await page.getByRole("button", { name: "Register" }).click();
  for (const field of ["url", "category", "secret"]) {
    assert.ok(expected[field], `the API names ${field}: ${JSON.stringify(expected)}`);
    const shown = await page.locator(`#${field}-error`).textContent();
    assert.equal(shown, expected[field], `the message about ${field}`);
    assert.equal(await page.locator(`#${field}`).getAttribute("aria-invalid"), "true");
  }
  await shot(page, "register-errors");

  step("registering a webhook leads to its page");
  await page.getByLabel("URL").fill(RECEIVER);
  await page.getByLabel("Category").selectOption({ label: "Game" });
  await page.getByLabel("Secret").fill("portal-secret-1");
  await page.getByRole("button", { name: "Register" }).click();
  await page.getByRole("status").filter({ hasText: "is registered" }).waitFor();
  const webhookUrl = page.url();
  const id = Number(new URL(webhookUrl).pathname.split("/").pop());
  assert.ok(id > 0, `a webhook page: ${webhookUrl}`);
  assert.equal(await page.locator("#secret-value").count(), 0, "the secret is hidden");
  assert.ok(!(await page.content()).includes("portal-secret-1"), "not even in the HTML");

  step("the secret is shown on request");
  await page.getByRole("button", { name: "Show secret" }).click();
  assert.equal(await page.locator("#secret-value").textContent(), "portal-secret-1");

  step("a change ingested appears in the delivery log");
  const ingest = await fetch(`${INGEST}/v1/changes`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    body: JSON.stringify({ category: 1, id: 4242, op: "update", data: { id: 4242, name: "Portal" } }),
  });
  assert.equal(ingest.status, 200, "the ingest accepts the change");
  await page.goto(webhookUrl);
  const row = await reloadUntil(page, "a delivery of entity 4242 in the log", async () => {
    const rows = page.locator("table tbody tr").filter({ hasText: "change of 4242" });
    return (await rows.count()) > 0 ? rows.first() : null;
  });
  const cells = await row.locator("td").allTextContents();
  assert.equal(cells[3], "200", `status: ${cells}`);
  assert.match(cells[6], /^msg_/, `webhook-id: ${cells}`);
  assert.match(await page.locator("figure.chart svg title").first().textContent(), /1 delivered/);
  await shot(page, "webhook");

  step("send test reports the receiver's answer");
  await page.getByRole("button", { name: "Send test" }).click();
  await page
    .getByRole("status")
    .filter({ hasText: "Test delivered: the receiver answered 200" })
    .waitFor();

  step("a replay shows its progress until it is done");
  // Minutes only: Chromium drops ":00" seconds from the field's value, and Playwright takes
  // the changed value for a malformed one (a test failing once a minute's start).
  const hourAgo = new Date(Date.now() - 3600_000).toISOString().slice(0, 16);
  await page.getByLabel("Since (UTC)").fill(hourAgo);
  await page.getByRole("button", { name: "Replay" }).click();
  await page.getByRole("status").filter({ hasText: "The replay started." }).waitFor();
  // The script refreshes the progress in place until the replay is done.
  await page.locator('.replay-status[data-state="done"]').waitFor({ timeout: WAIT_MS });
  assert.match(await page.locator(".replay-text").textContent(), /done: \d+ records? read/);
  await shot(page, "webhook-replayed");

  step("a replay without a start gets the API's message");
  await page.getByLabel("Since (UTC)").fill("");
  await page.getByRole("button", { name: "Replay" }).click();
  assert.match(await page.locator("#since-error").textContent(), /is required/);

  step("the list shows the webhook with its category, status and success rate");
  await page.goto(`${PORTAL}/webhooks`);
  const listed = page.locator("table tbody tr").filter({ hasText: RECEIVER });
  const listedCells = await listed.locator("td").allTextContents();
  assert.equal(listedCells[2], "Game");
  assert.equal(listedCells[3], "Delivering");
  assert.match(listedCells[5], /%$/);
  await shot(page, "webhooks");

  step("on a narrow screen nothing overflows the page");
  await page.setViewportSize({ width: 360, height: 740 });
  await page.goto(`${PORTAL}/webhooks`);
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await shot(page, "webhooks-narrow");
  await page.setViewportSize({ width: 1100, height: 800 });

  step("the keyboard reaches the sign-out button and the register form");
  await page.goto(`${PORTAL}/webhooks`);
  const focused = [];
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press("Tab");
    focused.push(await page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent?.trim()));
  }
  for (const target of ["Sign out", "url", "category", "secret", "Register"]) {
    assert.ok(focused.includes(target), `${target} is reachable by Tab: ${focused}`);
  }

  step("the list and the log read without JavaScript");
  const plain = await browser.newContext({ javaScriptEnabled: false });
  await plain.addCookies([{ ...cookie }]);
  const plainPage = await plain.newPage();
  await plainPage.goto(`${PORTAL}/webhooks`);
  assert.ok((await plainPage.locator("table tbody tr").filter({ hasText: RECEIVER }).count()) === 1);
  await plainPage.goto(webhookUrl);
  assert.ok((await plainPage.locator("table tbody tr").filter({ hasText: "change of 4242" }).count()) >= 1);
  await plain.close();

  step("a form from another site is refused");
  const forged = await page.request.post(`${PORTAL}/webhooks/${id}/delete`, {
    headers: { origin: "https://evil.example" },
    form: { csrf: "guess" },
  });
  assert.equal(forged.status(), 403);

  step("deleting asks first, then removes the webhook");
  await page.goto(webhookUrl);
  await page.getByRole("link", { name: "Delete…" }).click();
  await page.getByRole("heading", { name: `Delete webhook ${id}?` }).waitFor();
  await shot(page, "delete-confirm");
  await page.getByRole("button", { name: `Delete webhook ${id}` }).click();
  await page.getByRole("status").filter({ hasText: `Webhook ${id} was deleted.` }).waitFor();
  assert.equal(await page.locator("table tbody tr").filter({ hasText: RECEIVER }).count(), 0);

  step("signing out forgets the key");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  assert.equal((await context.cookies()).length, 0);

  step("the pages asked no host but their own, and kept keys and secrets out of URLs");
  const foreign = requests.filter((url) => new URL(url).origin !== ORIGIN);
  assert.deepEqual(foreign, [], "requests to other hosts");
  const leaks = requests.filter((url) => url.includes(KEY_PRO) || url.includes("portal-secret-1"));
  assert.deepEqual(leaks, [], "keys or secrets in URLs");
  assert.deepEqual(problems, [], "errors in the browser console (a CSP violation, a script error)");
  console.log(`portal test: passed (${requests.length} requests, screenshots in ${SHOTS})`);
} catch (error) {
  failed = true;
  console.error("portal test: FAILED:", error);
  if (page) {
    console.error(`portal test: the page at ${page.url()} read:\n${await page.locator("body").innerText().catch(() => "")}`);
    await shot(page, "failure").catch(() => {});
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
