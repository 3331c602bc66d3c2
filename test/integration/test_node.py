"""postern-node as a process: -t on good and bad files, start and SIGTERM, the
admin server's /health and /metrics."""

import json
import os
import signal
import socket
import subprocess
import time
import unittest
import urllib.error
import urllib.request

from lib.node import POSTERN_NODE, Node
from lib.postern import EX_CONFIG, EX_OK, REPO_ROOT, ConfigDir, posternctl
from lib.slapd import Slapd


def check(path):
    return subprocess.run([str(POSTERN_NODE), "-c", str(path), "-t"], capture_output=True,
                          text=True, timeout=30)


class NodeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()

    @classmethod
    def tearDownClass(cls):
        cls.ldap.cleanup()

    def setUp(self):
        self.node = Node(self.ldap)
        self.conf = ConfigDir()

    def tearDown(self):
        self.node.cleanup()
        self.conf.cleanup()

    def test_check_good_config(self):
        r = check(self.node.config_path)
        self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)
        self.assertIn("ok", r.stdout)

    def test_check_bad_config_names_file_and_key(self):
        cfg = self.node.config()
        cfg["node"]["worker_threads"] = "many"
        path = self.conf.write("bad.json", cfg)
        r = check(path)
        self.assertEqual(r.returncode, EX_CONFIG, r.stdout + r.stderr)
        self.assertIn(path, r.stderr)
        self.assertIn("node.worker_threads", r.stderr)

    def test_check_unknown_protocol(self):
        cfg = self.node.config()
        cfg["listeners"][0]["protocol"] = "gopher"
        path = self.conf.write("bad.json", cfg)
        r = check(path)
        self.assertEqual(r.returncode, EX_CONFIG, r.stdout + r.stderr)
        self.assertIn(f"{path}: listeners[0].protocol", r.stderr)
        self.assertIn("gopher", r.stderr)

    def test_check_missing_file(self):
        path = os.path.join(str(self.conf.path), "absent.json")
        r = check(path)
        self.assertEqual(r.returncode, EX_CONFIG, r.stdout + r.stderr)
        self.assertIn(path, r.stderr)

    def test_start_and_sigterm(self):
        self.node.start()
        self.node.wait_log(r"event=started|started")
        began = time.monotonic()
        self.assertEqual(self.node.stop(signal.SIGTERM, timeout=10), 0, self.node.log())
        self.assertLess(time.monotonic() - began, 5, self.node.log())

    def test_restart_keeps_ports(self):
        self.node.start()
        port = self.node.port("imap")
        self.node.restart()
        self.assertEqual(self.node.port("imap"), port)
        self.assertTrue(self.node.running())

    def test_reload_applies_log_settings(self):
        self.node.start()
        self.node.reload()
        self.node.wait_log(r"reload.*ok=1")
        self.assertTrue(self.node.running())

    def run_second_node(self, address):
        """postern-node in the foreground with one IMAP listener on
        `address`: the CompletedProcess (it is expected to exit)."""
        other = Node(self.ldap, name="node2", listeners=("imap",))
        try:
            cfg = other.config()
            cfg["listeners"][0]["address"] = address
            with open(other.config_path, "w") as f:
                json.dump(cfg, f)
            return subprocess.run([str(POSTERN_NODE), "-c", other.config_path],
                                  capture_output=True, text=True, timeout=30)
        finally:
            other.cleanup()

    def test_port_in_use_is_a_config_error(self):
        self.node.start()
        p = self.run_second_node(f"127.0.0.1:{self.node.admin_port}")
        self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
        self.assertIn("cannot listen", p.stderr)

    def test_second_node_on_a_running_nodes_port_is_refused(self):
        # Each loop binds with SO_REUSEPORT; without the check, a second node
        # of the same user started on the same port would join the first
        # one's sockets and take half its connections.
        self.node.start()
        port = self.node.port("imap")
        p = self.run_second_node(f"127.0.0.1:{port}")
        self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
        self.assertIn(f"listeners[0].address: cannot listen on 127.0.0.1:{port}: "
                      "Address already in use", p.stderr)
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                self.assertTrue(s.recv(100).startswith(b"* OK"))

    def test_second_node_on_the_same_file_leaves_the_spool_alone(self):
        # The queue cleans its spool at start (a message half received
        # before a crash); a node already running on the file uses it.
        self.node.start()
        incoming = os.path.join(os.path.dirname(self.node.store_path), "queue", "incoming")
        in_progress = os.path.join(incoming, "being-received")
        with open(in_progress, "w") as f:
            f.write("a DATA in progress\n")
        p = subprocess.run([str(POSTERN_NODE), "-c", self.node.config_path],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
        self.assertIn("Address already in use", p.stderr)
        self.assertTrue(os.path.exists(in_progress))
        self.assertTrue(self.node.running())

    def test_two_listeners_on_one_address_is_a_config_error(self):
        cfg = self.node.config()
        imap = next(l for l in cfg["listeners"] if l["name"] == "imap")
        pop3 = next(l for l in cfg["listeners"] if l["name"] == "pop3")
        pop3["address"] = imap["address"]
        path = self.conf.write("bad.json", cfg)
        r = check(path)
        self.assertEqual(r.returncode, EX_CONFIG, r.stdout + r.stderr)
        self.assertIn(".address: expected an address no other listener uses", r.stderr)

    def test_tls_listeners_present_the_fixture_certificate(self):
        self.node.start()
        for listener, greeting in (("imaps", b"* OK"), ("pop3s", b"+OK")):
            with socket.create_connection(("127.0.0.1", self.node.port(listener)), timeout=5) as raw:
                with self.node.ssl_context().wrap_socket(raw, server_hostname="localhost") as tls:
                    self.assertTrue(tls.recv(512).startswith(greeting), listener)

    def test_health_and_metrics(self):
        self.node.start()
        base = f"http://127.0.0.1:{self.node.admin_port}"
        with urllib.request.urlopen(base + "/health", timeout=5) as r:
            self.assertEqual(r.status, 200)
            self.assertEqual(r.read(), b"ok\n")
        text = self.node.metrics()
        self.assertIn('postern_node_info{node="node1"} 1', text)
        self.assertIn("# TYPE postern_node_info gauge", text)
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(base + "/nothing", timeout=5)
        self.assertEqual(e.exception.code, 404)


class ShippedConfigTest(unittest.TestCase):
    """conf/node1.json and conf/node2.json, with the certificate scripts/dev-cert
    makes, placed as in the repository (conf/ next to var/) in a temp folder."""

    def setUp(self):
        self.root = ConfigDir()
        os.makedirs(self.root.path / "conf")
        subprocess.run([str(REPO_ROOT / "scripts" / "dev-cert")], check=True, capture_output=True,
                       env=dict(os.environ, POSTERN_TLS_DIR=str(self.root.path / "var" / "tls")),
                       timeout=60)

    def tearDown(self):
        self.root.cleanup()

    def test_node_examples_pass_check(self):
        for name in ("node1.json", "node2.json"):
            path = self.root.path / "conf" / name
            path.write_text((REPO_ROOT / "conf" / name).read_text())
            r = check(path)
            self.assertEqual(r.returncode, EX_OK, f"{name}: {r.stdout}{r.stderr}")
            r = posternctl(path, "check-config")
            self.assertEqual(r.returncode, EX_OK, f"{name}: {r.stdout}{r.stderr}")

    def test_dev_cert_is_kept(self):
        crt = self.root.path / "var" / "tls" / "dev.crt"
        before = crt.read_bytes()
        subprocess.run([str(REPO_ROOT / "scripts" / "dev-cert")], check=True, capture_output=True,
                       env=dict(os.environ, POSTERN_TLS_DIR=str(crt.parent)), timeout=60)
        self.assertEqual(crt.read_bytes(), before)


if __name__ == "__main__":
    unittest.main()
