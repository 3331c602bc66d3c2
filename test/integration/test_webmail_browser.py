"""WebMail in a real browser against `scripts/cluster up`: headless Chromium
(Debian's /usr/bin/chromium) driven by playwright-core (test/browser/, which
scripts/setup installs) through the proxy's HTTP listener on 8080.

The scenario (test/browser/webmail.spec.mjs): alice logs in and reads her
INBOX, sends bob a message with an attachment; bob (on node2) reads it and
downloads the attachment byte for byte; a message full of scripts, event
handlers and javascript: links runs nothing (while its normal link opens a
new window); the phone layout shows one pane at a time; a forged routing
cookie sends the browser back to the login page.
Screenshots go to test-artifacts/webmail/ (POSTERN_ARTIFACTS overrides).

Like test_cluster_script.py, it runs a copy of scripts/, conf/ and
ldap-schema/ in a temp folder on the cluster's fixed ports (skipping, naming
them, when any is taken) and stops the cluster at the end.
"""

import json
import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
import unittest
from email.message import EmailMessage
from pathlib import Path

from lib.postern import BUILD, REPO_ROOT
from lib.slapd import Slapd
from test_cluster_script import busy_ports, missing_programs

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
BROWSER_DIR = REPO_ROOT / "test" / "browser"
WEBMAIL_PORTS = {"proxy": 8080, "node1": 11080, "node2": 12080}
PROXY_URL = "http://127.0.0.1:8080"
PROXY_SMTP = 2525
ARTIFACTS = Path(os.environ.get("POSTERN_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "webmail"

WELCOME = {
    "subject": "Welcome to Postern WebMail",
    "text": "This is the first message in your new mailbox.",
    "from": "carol@example.org",
}
# Every payload reports to the page's exposed binding, or changes something
# the test looks at (title, window.name, a node of the page), or opens a
# dialog, if it ever runs.
HOSTILE_HTML = """<html><head><title>t</title>
<script>window.top.posternPwned('head-script')</script>
<meta http-equiv="refresh" content="0;url=javascript:window.top.posternPwned('refresh')">
<base href="javascript:window.top.posternPwned('base')//">
</head>
<body onload="window.top.posternPwned('body-onload');alert('onload')">
<p>HOSTILE-MARKER: this text is shown and nothing else happens.</p>
<script>window.top.document.title='PWNED';window.top.name='PWNED';
window.top.document.getElementById('current-user').textContent='PWNED';
window.top.posternPwned('script');alert('script')</script>
<img src="data:image/png;base64,AAAA" onerror="window.top.posternPwned('onerror');alert('onerror')" alt="x">
<svg onload="window.top.posternPwned('svg')"><script>window.top.posternPwned('svg-script')</script></svg>
<p><a href="javascript:window.top.posternPwned('jslink');alert('jslink')">click me</a></p>
<p><a href=" JaVaScRiPt:window.top.posternPwned('jslink2')">and me</a></p>
<p><a href="https://link.example.org/postern-page?from=mail">a normal link</a></p>
<iframe srcdoc="&lt;script&gt;window.top.posternPwned('srcdoc')&lt;/script&gt;"></iframe>
<form action="javascript:window.top.posternPwned('form')"><input name="q"><button>go</button></form>
<div onmouseover="window.top.posternPwned('hover')"
     style="background:url(javascript:window.top.posternPwned('css'))">hover here</div>
<img src="http://127.0.0.1:9/tracker.png" alt="tracker">
</body></html>
"""
HOSTILE = {
    "subject": "Hostile <script>alert('subject')</script> mail",
    "marker": "HOSTILE-MARKER",
    "link_text": "click me",
    "link2_text": "and me",
    # Opens in a new window (the test routes the URL to a stub page).
    "safe_link": {"text": "a normal link", "url": "https://link.example.org/postern-page?from=mail"},
}


def bindable(port):
    """Whether a server could listen on the port (only a listener is in the way)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


class WebMailBrowserTest(unittest.TestCase):
    def setUp(self):
        if not os.access(CHROMIUM, os.X_OK):
            self.skipTest(f"{CHROMIUM} is missing (Debian's chromium; scripts/setup installs it)")
        if shutil.which("node") is None:
            self.skipTest("node is missing (Debian's nodejs; scripts/setup installs it)")
        if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
            self.skipTest(f"playwright-core is not installed in {BROWSER_DIR} (scripts/setup does it)")
        missing = missing_programs()
        if missing:
            self.skipTest(f"not built: {', '.join(missing)}")
        busy = busy_ports() + [p for p in WEBMAIL_PORTS.values() if not bindable(p)]
        if busy:
            self.skipTest(f"the cluster's fixed ports are in use: {sorted(set(busy))}")
        self.root = Path(tempfile.mkdtemp(prefix="postern-webmail-"))
        for folder in ("scripts", "conf", "ldap-schema"):
            shutil.copytree(REPO_ROOT / folder, self.root / folder,
                            ignore=shutil.ignore_patterns("__pycache__"))
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        r = self.cluster("down", timeout=120)
        if r.returncode != 0:
            print(r.stdout + r.stderr)
        if os.environ.get("POSTERN_KEEP_CLUSTER"):
            print(f"cluster folder kept: {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def cluster(self, *args, timeout=180):
        env = dict(os.environ, POSTERN_BUILD=str(BUILD))
        return subprocess.run([str(self.root / "scripts" / "cluster"), *args],
                              capture_output=True, text=True, timeout=timeout, env=env)

    def deliver(self, to, subject, text=None, html=None):
        """Through the proxy's SMTP listener, as mail from outside arrives."""
        msg = EmailMessage()
        msg["From"] = f"Carol <{WELCOME['from']}>"
        msg["To"] = to
        msg["Subject"] = subject
        if html is not None:
            msg.set_content(html, subtype="html")
        else:
            msg.set_content(text)
        with smtplib.SMTP("127.0.0.1", PROXY_SMTP, timeout=30) as smtp:
            smtp.ehlo("sender.example.org")
            smtp.send_message(msg, from_addr=WELCOME["from"], to_addrs=[to])

    def test_webmail_in_chromium(self):
        r = self.cluster("up", "--no-setup")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The port table: the proxy's and the nodes' HTTP listeners answer.
        self.assertRegex(r.stdout, r"(?m)^\s+\w+\s+8080\s+11080\s+12080\s*$",
                         "no HTTP listeners on 8080, 11080 and 12080 in conf/:\n" + r.stdout)

        alice = {"user": "alice@example.com", "password": Slapd.user_password("alice")}
        bob = {"user": "bob@example.com", "password": Slapd.user_password("bob")}
        self.deliver(alice["user"], WELCOME["subject"], text=WELCOME["text"] + "\n")
        self.deliver(alice["user"], HOSTILE["subject"], html=HOSTILE_HTML)

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        config = {
            "base": PROXY_URL,
            "artifacts": str(ARTIFACTS),
            "alice": alice,
            "bob": bob,
            "welcome": WELCOME,
            "hostile": HOSTILE,
            "route_cookie": "postern_route",
            "expect_sanitised": True,
        }
        config_path = self.root / "browser.json"
        config_path.write_text(json.dumps(config))
        env = dict(os.environ, CHROMIUM=str(CHROMIUM))
        try:
            run = subprocess.run(["node", str(BROWSER_DIR / "webmail.spec.mjs"), str(config_path)],
                                 capture_output=True, text=True, timeout=420, env=env,
                                 cwd=str(BROWSER_DIR))
        except subprocess.TimeoutExpired as e:
            self.fail(f"the browser test did not finish in {e.timeout}s:\n{e.stdout or ''}")
        print(f"\n{run.stdout}{run.stderr}", end="")
        print(f"webmail screenshots: {ARTIFACTS}")
        logs = self.root / "var" / "cluster"
        if run.returncode != 0:
            for name in ("proxy.log", "node1.log", "node2.log"):
                log = logs / name
                if log.exists():
                    tail = log.read_text(errors="replace").splitlines()[-15:]
                    print(f"---- last lines of {name} ----\n" + "\n".join(tail))
        self.assertEqual(run.returncode, 0, "the browser test failed (its output is above)")
        self.assertIn("browser test: 9 steps passed", run.stdout)
        # Bob's session was served by his node, and the forged cookie stopped
        # at the proxy.
        self.assertRegex((logs / "node2.log").read_text(errors="replace"),
                         r"event=webmail_login .*user=bob@example\.com .*ok=1")
        self.assertRegex((logs / "proxy.log").read_text(errors="replace"),
                         r"event=route_cookie_rejected .*reason=forged")
        for shot in ("02-alice-inbox", "06-bob-reads", "07-hostile-message", "11-phone-message",
                     "12-forged-cookie-login"):
            self.assertTrue((ARTIFACTS / f"{shot}.png").is_file(), f"no screenshot {shot}.png")


if __name__ == "__main__":
    unittest.main()
