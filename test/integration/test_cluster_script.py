"""scripts/cluster as an operator uses it: up, status, a login through the
proxy, up again, down.

The cluster listens on fixed ports (slapd 3389, proxy 2143..., nodes 11xxx and
12xxx), so these tests skip, naming the ports, when any of them is taken (a
cluster already running here, for one). They run a copy of scripts/, conf/
and ldap-schema/ in a temp folder, so the cluster's var/ (certificates,
stores, logs) is the copy's and the repository's var/ is left alone; the
programs come from the build (POSTERN_BUILD or build/).
"""

import http.client
import imaplib
import json
import os
import poplib
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import unittest
from pathlib import Path

from lib.postern import BUILD, REPO_ROOT
from lib.slapd import Slapd

PORTS = {
    "slapd": [3389],
    "proxy": [2143, 2993, 2110, 2995, 2525, 2587, 2465, 8080, 8443, 9100],
    "node1": [11143, 11993, 11110, 11995, 11025, 11587, 11465, 11080, 11090],
    "node2": [12143, 12993, 12110, 12995, 12025, 12587, 12465, 12080, 12090],
}
COMPONENTS = ["slapd", "node1", "node2", "proxy"]


def busy_ports():
    busy = []
    for ports in PORTS.values():
        for port in ports:
            with socket.socket() as s:
                # As a server binds: only a listener (not TIME_WAIT) is in the way.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    busy.append(port)
    return busy


def accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def alive(pid):
    """The process exists and has not exited (a zombie waiting for init has)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def missing_programs():
    return [str(p) for p in (BUILD / "backend" / "postern-node", BUILD / "proxy" / "postern-proxy")
            if not os.access(p, os.X_OK)]


class ClusterScriptTest(unittest.TestCase):
    def setUp(self):
        missing = missing_programs()
        if missing:
            self.skipTest(f"not built: {', '.join(missing)}")
        busy = busy_ports()
        if busy:
            self.skipTest(f"the cluster's fixed ports are in use: {busy}")
        self.root = Path(tempfile.mkdtemp(prefix="postern-cluster-"))
        for folder in ("scripts", "conf", "ldap-schema"):
            shutil.copytree(REPO_ROOT / folder, self.root / folder,
                            ignore=shutil.ignore_patterns("__pycache__"))
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        # A safety net: whatever a failed test left running is stopped by the
        # script itself (by its pid files); the folder goes unless kept.
        self.cluster("down", timeout=120)
        if os.environ.get("POSTERN_KEEP_CLUSTER"):
            print(f"cluster folder kept: {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def cluster(self, *args, timeout=180, build=True):
        env = dict(os.environ)
        env.pop("POSTERN_BUILD", None)
        if build:
            env["POSTERN_BUILD"] = str(BUILD)
        return subprocess.run([str(self.root / "scripts" / "cluster"), *args],
                              capture_output=True, text=True, timeout=timeout, env=env)

    def status_pids(self, out):
        """component -> (pid or None, state) from `cluster status`."""
        rows = {}
        for line in out.splitlines():
            m = re.match(r"\s*(slapd|node1|node2|proxy)\s+(\d+|-)\s+(.*)$", line)
            if m:
                rows[m[1]] = (None if m[2] == "-" else int(m[2]), m[3])
        return rows

    def test_up_status_login_down(self):
        r = self.cluster("up", "--no-setup")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for c in COMPONENTS:
            self.assertRegex(r.stdout, rf"started {c} \(pid \d+\)")
        # The port table and the demo logins.
        self.assertRegex(r.stdout, r"imap\s+2143\s+11143\s+12143")
        self.assertRegex(r.stdout, r"ldap\s+3389")
        self.assertIn("alice@example.com / alice-secret", r.stdout)
        self.assertRegex(r.stdout, r"dave@example.com .*refused")
        for ports in PORTS.values():
            for port in ports:
                self.assertTrue(accepts(port), f"nothing answers on {port}")

        # Without the POSTERN_BUILD that up had, and with another build/
        # folder in the tree, status and down still know what up started.
        for sub in ("backend", "proxy"):
            (self.root / "build" / sub).mkdir(parents=True, exist_ok=True)
        r = self.cluster("status", build=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        rows = self.status_pids(r.stdout)
        self.assertEqual(sorted(rows), sorted(COMPONENTS), r.stdout)
        for c, (pid, state) in rows.items():
            self.assertIsNotNone(pid, r.stdout)
            self.assertTrue(alive(pid), f"{c}: pid {pid} from status is not running")
            self.assertEqual(state, "running, answering", r.stdout)

        # Through the proxy, over STARTTLS verified with the cluster's CA.
        ctx = ssl.create_default_context(cafile=str(self.root / "var" / "tls" / "ca.crt"))
        imap = imaplib.IMAP4("127.0.0.1", 2143, timeout=15)
        imap.starttls(ssl_context=ctx)
        typ, _ = imap.login("alice@example.com", Slapd.user_password("alice"))
        self.assertEqual(typ, "OK")
        typ, data = imap.select("INBOX")
        self.assertEqual(typ, "OK", data)
        imap.logout()
        pop = poplib.POP3("127.0.0.1", 2110, timeout=15)
        pop.stls(context=ctx)
        pop.user("bob@example.com")
        self.assertTrue(pop.pass_(Slapd.user_password("bob")).startswith(b"+OK"))
        pop.quit()
        imap = imaplib.IMAP4("127.0.0.1", 2143, timeout=30)
        with self.assertRaises(imaplib.IMAP4.error):
            imap.login("dave@example.com", Slapd.user_password("dave"))
        imap.logout()
        # WebMail through the proxy's 8080: bob's login is routed to node2 and
        # the proxy's routing cookie comes back with it.
        web = http.client.HTTPConnection("127.0.0.1", 8080, timeout=30)
        web.request("POST", "/api/login",
                    body=json.dumps({"user": "bob@example.com",
                                     "password": Slapd.user_password("bob")}),
                    headers={"Content-Type": "application/json"})
        answer = web.getresponse()
        body = answer.read()
        self.assertEqual(answer.status, 200, body)
        cookies = " ".join(answer.headers.get_all("Set-Cookie") or [])
        self.assertIn("postern_route=", cookies)
        self.assertIn("postern_session=", cookies)
        web.close()
        # Each landed on its node (the node logs the login).
        logs = self.root / "var" / "cluster"
        self.assertRegex((logs / "node1.log").read_text(), r"alice@example\.com")
        self.assertRegex((logs / "node2.log").read_text(), r"bob@example\.com")

        r = self.cluster("up", "--no-setup")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("already up", r.stdout)
        self.assertNotIn("started", r.stdout)

        r = self.cluster("down", timeout=120, build=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for c in COMPONENTS:
            pid = rows[c][0]
            self.assertIn(f"stopped {c} (pid {pid}", r.stdout)
            self.assertFalse(alive(pid), f"{c} (pid {pid}) still runs after down")
        for ports in PORTS.values():
            for port in ports:
                self.assertFalse(accepts(port), f"{port} still answers after down")

        r = self.cluster("status")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        for c in COMPONENTS:
            self.assertRegex(r.stdout, rf"{c}\s+-\s+not running")

    def test_up_fails_clearly_and_leaves_nothing_when_a_port_is_taken(self):
        with socket.socket() as holder:
            holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            holder.bind(("127.0.0.1", 2143))
            holder.listen()
            r = self.cluster("up", "--no-setup")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("proxy cannot start", r.stderr)
        self.assertIn("2143 (imap)", r.stderr)
        started = {m[0]: int(m[1]) for m in re.findall(r"started (\w+) \(pid (\d+)\)", r.stdout)}
        self.assertEqual(sorted(started), ["node1", "node2", "slapd"], r.stdout)
        for c, pid in started.items():
            self.assertIn(f"stopped {c} (pid {pid}", r.stderr)
            self.assertFalse(alive(pid), f"{c} (pid {pid}) still runs after the failed up")
        self.assertFalse(accepts(3389))


class ShippedProxyConfigTest(unittest.TestCase):
    """conf/proxy.json, with the certificates scripts/dev-cert makes, placed as
    in the repository (conf/ next to var/) in a temp folder."""

    def test_proxy_example_passes_check(self):
        proxy = BUILD / "proxy" / "postern-proxy"
        if not os.access(proxy, os.X_OK):
            self.skipTest(f"not built: {proxy}")
        root = Path(tempfile.mkdtemp(prefix="postern-conf-"))
        self.addCleanup(shutil.rmtree, root, True)
        os.makedirs(root / "conf")
        subprocess.run([str(REPO_ROOT / "scripts" / "dev-cert")], check=True, capture_output=True,
                       env=dict(os.environ, POSTERN_TLS_DIR=str(root / "var" / "tls")), timeout=60)
        for name in ("ca.crt", "ca.key", "dev.crt", "dev.key"):
            self.assertTrue((root / "var" / "tls" / name).is_file(), name)
        shutil.copy(REPO_ROOT / "conf" / "proxy.json", root / "conf" / "proxy.json")
        r = subprocess.run([str(proxy), "-c", str(root / "conf" / "proxy.json"), "-t"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
