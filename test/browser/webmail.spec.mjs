// WebMail in a real browser: Debian's headless Chromium driven by
// playwright-core. Run by test/integration/test_webmail_browser.py against
// `scripts/cluster up` (which also seeds the mail this script expects);
// by hand:
//
//   node test/browser/webmail.spec.mjs CONFIG.json
//
// CONFIG: {"base": "http://127.0.0.1:8080", "artifacts": "DIR",
//   "alice": {"user", "password"}, "bob": {"user", "password"} (each may
//   have its own "base", such as a node's own listener),
//   "welcome": {"subject", "text"}, "hostile": {"subject", "marker",
//   "link_text", "link2_text" (javascript: links), "safe_link": {"text", "url"}},
//   "route_cookie": "postern_route", "steps": ["login", ...] (optional)}
//
// Prints "ok - <step>" per step, "not ok - <step>: <why>" at the first
// failure (exit 1), and where the screenshots went.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const base = config.base.replace(/\/$/, "");
const artifacts = config.artifacts;
mkdirSync(artifacts, { recursive: true });
const wanted = new Set(config.steps || []);
const runs = (step) => wanted.size === 0 || wanted.has(step);
const TIMEOUT = 15000;

// Flags from the machine's notes: root needs --no-sandbox (Chromium's own
// process sandbox, not the iframe sandbox under test), and the closed network
// wants no background connections.
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

class StepFailure extends Error {}
function check(condition, message) {
  if (!condition) throw new StepFailure(message);
}

// A context per user, with everything a page could do that it should not
// recorded: dialogs (alert), calls of an exposed binding, uncaught errors and
// console errors.
async function newUser(name, viewport = { width: 1280, height: 860 }) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const seen = { dialogs: [], pwned: [], pageErrors: [], consoleErrors: [] };
  await context.exposeBinding("posternPwned", (_source, what) => { seen.pwned.push(String(what)); });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on("dialog", (d) => { seen.dialogs.push(`${d.type()}: ${d.message()}`); d.dismiss().catch(() => {}); });
  page.on("pageerror", (e) => seen.pageErrors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") seen.consoleErrors.push(m.text()); });
  return { name, context, page, seen };
}

async function shot(page, name) {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
}

async function login(u, who) {
  const { page } = u;
  await page.goto((who.base || base) + "/");
  await page.locator("#login-form").waitFor({ state: "visible" });
  await page.getByLabel("Email address", { exact: true }).fill(who.user);
  await page.getByLabel("Password", { exact: true }).fill(who.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#app-view").waitFor({ state: "visible" });
  await page.locator('#folder-list button[data-folder="INBOX"][aria-current="true"]').waitFor({ state: "attached" });
  check((await page.locator("#current-user").textContent()) === who.user,
    `signed in as ${await page.locator("#current-user").textContent()}, not ${who.user}`);
}

// The row of the message with this subject in the open folder, waiting for
// it to arrive (delivery through the queues is asynchronous).
async function findRow(page, subject, seconds = 40) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const row = page.locator("#message-list button.msg", { has: page.locator(".subject", { hasText: subject }) });
    if (await row.count() > 0) return row.first();
    check(Date.now() < deadline, `no message "${subject}" in the list after ${seconds}s`);
    await page.waitForTimeout(1000);
    await page.locator('#folder-list button[aria-current="true"]').click();
    await page.waitForLoadState("networkidle").catch(() => {});
  }
}

async function openBySubject(page, subject) {
  const row = await findRow(page, subject);
  await row.click();
  await page.locator("#message-subject", { hasText: subject }).waitFor();
}

// Whatever a mail's payload tries must leave these as they were.
async function topState(u) {
  return {
    title: await u.page.title(),
    user: await u.page.locator("#current-user").textContent(),
    url: u.page.url(),
    windowName: await u.page.evaluate(() => window.name),
  };
}

function unexpectedConsoleErrors(u) {
  // Chromium logs a failed fetch (the 401 of /api/session before login) and
  // a script blocked by the sandbox as console errors: those are expected.
  // A Content-Security-Policy violation is not: the interface itself must
  // live within its policy, and the sanitised body within its own.
  return u.seen.consoleErrors.filter((t) =>
    !/Failed to load resource|Blocked script execution in .* sandboxed/.test(t));
}

const results = [];
let failed = false;
async function step(name, fn) {
  if (failed || !runs(name)) return;
  const started = Date.now();
  try {
    await fn();
    results.push(name);
    console.log(`ok - ${name} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  } catch (e) {
    failed = true;
    console.log(`not ok - ${name}: ${e instanceof StepFailure ? e.message : e.stack || e}`);
  }
}

const alice = await newUser("alice");
const bob = await newUser("bob");
const sentSubject = `Quarterly figures ${Date.now()}`;
const sentText = "Hello Bob,\nthe figures are attached.\nAlice";
// Every byte value, then random bytes: an attachment that survives only if
// nothing on the way treats it as text.
const attachment = Buffer.concat([Buffer.from([...Array(256).keys()]), randomBytes(200 * 1024)]);

try {
  await step("login page", async () => {
    await alice.page.goto(base + "/");
    await alice.page.locator("#login-form").waitFor({ state: "visible" });
    check(await alice.page.getByLabel("Email address", { exact: true }).isVisible(), "no labelled address field");
    await alice.page.getByLabel("Email address", { exact: true }).fill(config.alice.user);
    await alice.page.getByLabel("Password", { exact: true }).fill("not-her-password");
    await alice.page.getByRole("button", { name: "Sign in" }).click();
    await alice.page.locator("#login-error", { hasText: /wrong/i }).waitFor();
    await shot(alice.page, "01-login-refused");
  });

  await step("alice logs in and sees her INBOX", async () => {
    await login(alice, config.alice);
    check(await alice.page.locator("#message-list button.msg").count() > 0, "the INBOX list is empty");
    await findRow(alice.page, config.welcome.subject);
    await shot(alice.page, "02-alice-inbox");
  });

  await step("alice opens a message", async () => {
    await openBySubject(alice.page, config.welcome.subject);
    const body = alice.page.locator("#message-body");
    await body.getByText(config.welcome.text).waitFor();
    check(await alice.page.locator("#message-headers").getByText(config.welcome.from).count() > 0,
      "the sender is not shown");
    await shot(alice.page, "03-alice-reads");
    // Search narrows the list to what matches, and clearing brings it back.
    const page = alice.page;
    const all = await page.locator("#message-list button.msg").count();
    await page.getByLabel("Search in", { exact: true }).selectOption("subject");
    await page.getByLabel("Search text", { exact: true }).fill(config.welcome.subject);
    await page.getByRole("button", { name: "Search", exact: true }).click();
    await page.locator("#list-title", { hasText: "Search in" }).waitFor();
    const rows = page.locator("#message-list button.msg");
    await rows.first().waitFor();
    const subjects = await rows.locator(".subject").allTextContents();
    check(subjects.length > 0 && subjects.every((t) => t.includes(config.welcome.subject)),
      `the search for "${config.welcome.subject}" listed: ${subjects}`);
    await page.getByRole("button", { name: "Clear", exact: true }).click();
    await page.locator("#list-title", { hasText: "Search in" }).waitFor({ state: "detached" })
      .catch(() => {});
    await page.waitForFunction((n) => document.querySelectorAll("#message-list button.msg").length === n, all);
  });

  await step("alice sends a message with an attachment to bob", async () => {
    const page = alice.page;
    await page.getByRole("button", { name: "Compose" }).click();
    await page.getByLabel("To", { exact: true }).fill(config.bob.user);
    await page.getByLabel("Subject", { exact: true }).fill(sentSubject);
    await page.getByLabel("Message", { exact: true }).fill(sentText);
    await page.getByLabel("Attach files", { exact: true }).setInputFiles({
      name: "figures.bin", mimeType: "application/octet-stream", buffer: attachment,
    });
    await shot(page, "04-alice-compose");
    await page.getByRole("button", { name: "Send", exact: true }).click();
    await page.locator("#status", { hasText: "Message sent." }).waitFor();
    check(await page.locator("#compose-view").isHidden(), "the compose panel is still open");
    // The copy in Sent.
    await page.locator('#folder-list button[data-special="sent"]').click();
    await findRow(page, sentSubject, 15);
    await shot(page, "05-alice-sent");
    await page.locator('#folder-list button[data-folder="INBOX"]').click();
  });

  await step("bob logs in, reads it and downloads the attachment intact", async () => {
    await login(bob, config.bob);
    await openBySubject(bob.page, sentSubject);
    const page = bob.page;
    await page.locator("#message-body").getByText("the figures are attached.").waitFor();
    check((await page.locator("#message-headers").textContent()).includes(config.alice.user),
      "alice is not shown as the sender");
    const link = page.locator("#attachment-list a", { hasText: "figures.bin" });
    await link.waitFor();
    await shot(page, "06-bob-reads");
    const [download] = await Promise.all([page.waitForEvent("download"), link.click()]);
    check(download.suggestedFilename() === "figures.bin", `saved as ${download.suggestedFilename()}`);
    const got = readFileSync(await download.path());
    check(got.length === attachment.length, `${got.length} bytes downloaded, ${attachment.length} sent`);
    check(got.equals(attachment), "the downloaded bytes differ from those sent");
  });

  await step("a hostile message runs nothing", async () => {
    const u = alice;
    const page = u.page;
    const before = await topState(u);
    await openBySubject(page, config.hostile.subject);
    const frameEl = page.locator("#message-body iframe");
    await frameEl.waitFor();
    const sandbox = await frameEl.getAttribute("sandbox");
    check(sandbox !== null, "the HTML body is not in a sandboxed iframe");
    check(!/allow-scripts/.test(sandbox), `the iframe allows scripts: sandbox="${sandbox}"`);
    check(!/allow-top-navigation|allow-forms|allow-modals/.test(sandbox), `sandbox="${sandbox}"`);
    // Links open in a new window: without allow-popups a click on one does nothing.
    const tokens = sandbox.split(/\s+/);
    check(tokens.includes("allow-popups") && tokens.includes("allow-popups-to-escape-sandbox"),
      `links in a message cannot open: sandbox="${sandbox}"`);
    const frame = page.frameLocator("#message-body iframe");
    await frame.getByText(config.hostile.marker).waitFor();
    if (config.expect_sanitised !== false) {
      // Read from the page (same origin), not by running code in the frame.
      const leftovers = await page.evaluate(() => {
        const document = window.document.querySelector("#message-body iframe").contentDocument;
        return {
        scripts: document.querySelectorAll("script").length,
        handlers: [...document.querySelectorAll("*")]
          .flatMap((e) => [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => a.name)),
        jsLinks: [...document.querySelectorAll("[href],[src],[action],[formaction]")]
          .filter((e) => /^\s*javascript:/i.test(e.getAttribute("href") || e.getAttribute("src")
            || e.getAttribute("action") || e.getAttribute("formaction") || "")).length,
        forms: document.querySelectorAll("form").length,
        };
      });
      check(leftovers.scripts === 0, `${leftovers.scripts} script elements left in the body`);
      check(leftovers.handlers.length === 0, `event handlers left: ${leftovers.handlers}`);
      check(leftovers.jsLinks === 0, `${leftovers.jsLinks} javascript: URLs left`);
      check(leftovers.forms === 0, `${leftovers.forms} forms left`);
    }
    // A normal https link opens in a new window, cut off from ours
    // (noopener). The machine has no network: the link's site is a stub.
    const safe = config.hostile.safe_link;
    if (safe) {
      await u.context.route((url) => url.href === safe.url, (r) => r.fulfill({
        status: 200, contentType: "text/html", body: "<title>linked</title><p>the linked page</p>",
      }));
      const [popup] = await Promise.all([
        u.context.waitForEvent("page", { timeout: 10000 }),
        frame.getByText(safe.text).click(),
      ]);
      await popup.waitForLoadState("domcontentloaded");
      check(popup.url() === safe.url, `the link opened ${popup.url()}, not ${safe.url}`);
      check(await popup.evaluate(() => window.opener === null), "the linked page has an opener");
      await popup.close();
    }
    // Clicking a javascript: link (if the sanitiser kept the element) does
    // nothing: no script, no new window, no navigation.
    const popups = [];
    const onPage = (p) => popups.push(p.url());
    u.context.on("page", onPage);
    for (const text of [config.hostile.link_text, config.hostile.link2_text].filter(Boolean)) {
      const link = frame.getByText(text);
      if (await link.count() > 0) await link.first().click({ timeout: 3000 }).catch(() => {});
    }
    await page.waitForTimeout(1500);
    u.context.off("page", onPage);
    check(popups.length === 0, `a javascript: link opened a window: ${popups}`);
    await shot(page, "07-hostile-message");
    const after = await topState(u);
    check(u.seen.dialogs.length === 0, `dialogs opened: ${u.seen.dialogs}`);
    check(u.seen.pwned.length === 0, `the page's binding was called by: ${u.seen.pwned}`);
    check(after.title === before.title, `the title changed to "${after.title}"`);
    check(after.user === before.user, `the page's DOM changed: "${after.user}"`);
    check(after.url === before.url, `the page navigated to ${after.url}`);
    check(after.windowName === before.windowName, `window.name changed to "${after.windowName}"`);
    check(u.seen.pageErrors.length === 0, `uncaught errors: ${u.seen.pageErrors}`);
    const errors = unexpectedConsoleErrors(u);
    check(errors.length === 0, `console errors: ${errors}`);
    // The remote image stays blocked until asked for.
    if (await page.locator("#images-button").isVisible()) {
      await shot(page, "08-remote-images-blocked");
    }
  });

  await step("the phone layout shows one pane at a time", async () => {
    const phone = await newUser("phone", { width: 390, height: 844 });
    try {
      const page = phone.page;
      await login(phone, config.alice);
      check(await page.locator("#message-list").isVisible(), "the message list is not shown");
      check(await page.locator("#read-pane").isHidden(), "the reading pane is shown beside the list");
      check(await page.locator("#folder-pane").isHidden(), "the folders take space beside the list");
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      check(width <= 390, `the page is ${width}px wide at 390px`);
      await shot(page, "09-phone-list");
      await page.getByRole("button", { name: "Folders" }).click();
      await page.locator('#folder-list button[data-folder="INBOX"]').waitFor({ state: "visible" });
      await shot(page, "10-phone-folders");
      await page.locator('#folder-list button[data-folder="INBOX"]').click();
      check(await page.locator("#folder-pane").isHidden(), "the folder drawer stays open");
      await openBySubject(page, config.welcome.subject);
      check(await page.locator("#message-list").isHidden(), "the list is shown beside the message");
      await page.locator("#message-body").getByText(config.welcome.text).waitFor();
      await shot(page, "11-phone-message");
      await page.getByRole("button", { name: "Back" }).click();
      await page.locator("#message-list").waitFor({ state: "visible" });
      check(await page.locator("#read-pane").isHidden(), "the message stays after Back");
      // The browser's own Back does the same, and stays in the application.
      await openBySubject(page, config.welcome.subject);
      await page.goBack();
      await page.locator("#message-list").waitFor({ state: "visible" });
      check(await page.locator("#app-view").isVisible(), "the browser's Back left the application");
      const w2 = await page.evaluate(() => document.documentElement.scrollWidth);
      check(w2 <= 390, `the page is ${w2}px wide at 390px after reading`);
    } finally {
      await phone.context.close();
    }
  });

  await step("a forged routing cookie is refused", async () => {
    const { context, page } = bob;
    if ((await context.cookies(base)).length === 0) await login(bob, config.bob);
    const cookies = await context.cookies(base);
    const route = cookies.find((c) => c.name === (config.route_cookie || "postern_route"));
    check(route, `no ${config.route_cookie} cookie after login; cookies: ${cookies.map((c) => c.name)}`);
    // Change one character in the middle: the node, the user or the expiry
    // now differ from what was signed, or the signature does not match.
    const i = Math.floor(route.value.length / 2);
    const flipped = route.value[i] === "A" ? "B" : "A";
    const forged = route.value.slice(0, i) + flipped + route.value.slice(i + 1);
    await context.addCookies([{ ...route, value: forged }]);
    const res = await page.request.get(base + "/api/folders", { maxRedirects: 0 });
    const type = res.headers()["content-type"] || "";
    check(!(res.ok() && type.includes("json")), `the API answered ${res.status()} ${type} with a forged cookie`);
    check([401, 302, 303, 307].includes(res.status()), `the API answered ${res.status()} with a forged cookie`);
    await page.reload();
    await page.locator("#login-form").waitFor({ state: "visible" });
    check(await page.locator("#app-view").isHidden(), "the mail view is still shown");
    await shot(page, "12-forged-cookie-login");
  });

  await step("alice signs out", async () => {
    const page = alice.page;
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.locator("#login-form").waitFor({ state: "visible" });
    const res = await page.request.get(base + "/api/session", { maxRedirects: 0 });
    check(res.status() === 401, `/api/session answered ${res.status()} after signing out`);
  });
} finally {
  await browser.close();
}

console.log(`screenshots: ${artifacts}`);
console.log(failed ? "browser test: FAILED" : `browser test: ${results.length} steps passed`);
process.exit(failed ? 1 : 0);
