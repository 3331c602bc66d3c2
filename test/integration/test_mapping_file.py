"""The file source of the mapping layer, driven through posternctl: routes,
password hashes, reload on change, a bad file kept out."""

import subprocess
import os
import time
import unittest

from lib.postern import (EX_NOPERM, EX_NOUSER, EX_OK, REPO_ROOT, ConfigDir, LookupSession,
                         posternctl)


def sha512(password):
    return subprocess.run(["openssl", "passwd", "-6", password], capture_output=True, text=True,
                          check=True).stdout.strip()


class FileMappingTest(unittest.TestCase):
    def setUp(self):
        self.conf = ConfigDir()
        self.map = self.conf.path / "users.map"
        self.map.write_text(
            "# test map\n"
            f"alice@example.com node1 {sha512('alice-secret')}\n"
            "bob@example.com   node2\n"
            "@example.org      node3\n")
        self.config = self.conf.write("m.json", {"directory": {
            "source": "file", "primary_domain": "example.com",
            "file": {"path": "users.map", "reload_interval": 0.1},
            "cache": {"enabled": False}}})

    def tearDown(self):
        self.conf.cleanup()

    def test_exact_and_domain_routes(self):
        r = posternctl(self.config, "lookup", "alice")
        self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)
        self.assertIn("node: node1", r.stdout)
        r = posternctl(self.config, "lookup", "anyone@example.org")
        self.assertEqual(r.returncode, EX_OK)
        self.assertIn("node: node3", r.stdout)
        self.assertEqual(posternctl(self.config, "lookup", "zed@example.com").returncode, EX_NOUSER)

    def test_star_route_catches_everything_else(self):
        with open(self.map, "a") as f:
            f.write("* node9\n")
        r = posternctl(self.config, "lookup", "zed@elsewhere.net")
        self.assertEqual(r.returncode, EX_OK)
        self.assertIn("node: node9", r.stdout)

    def test_password_hashes(self):
        r = posternctl(self.config, "auth", "alice@example.com", stdin="alice-secret\n")
        self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)
        r = posternctl(self.config, "auth", "alice@example.com", stdin="wrong\n")
        self.assertEqual(r.returncode, EX_NOPERM)
        self.assertIn("wrong_password", r.stdout)
        # A route without a hash is not an account that can log in.
        r = posternctl(self.config, "auth", "bob@example.com", stdin="bob-secret\n")
        self.assertEqual(r.returncode, EX_NOPERM)
        self.assertIn("unknown_user", r.stdout)

    def test_hash_password_output_is_accepted_by_the_map(self):
        for scheme in ("sha512", "yescrypt"):
            h = posternctl(None, "hash-password", scheme, stdin="s3cret\n").stdout.strip()
            self.assertTrue(h.startswith("$6$" if scheme == "sha512" else "$y$"), h)
            self.map.write_text(f"carol@example.com node1 {h}\n")
            r = posternctl(self.config, "auth", "carol", stdin="s3cret\n")
            self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)

    def test_reload_on_change_and_bad_file_kept_out(self):
        s = LookupSession(self.config)
        try:
            self.assertEqual(s.lookup("bob")[1]["node"], "node2")
            # Replaced the way an operator's script should (write, then rename):
            # a file rewritten in place can be read half-written.
            replace_file(self.map, "bob@example.com node5\n")
            deadline = time.monotonic() + 10
            while s.lookup("bob")[1].get("node") != "node5" and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(s.lookup("bob")[1]["node"], "node5")
            # A file with an error on line 2 is refused whole.
            replace_file(self.map, "bob@example.com node6\nthis line is wrong\n")
            deadline = time.monotonic() + 10
            while "file_map_rejected" not in s.stderr() and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(s.lookup("bob")[1].get("node"), "node5")
        finally:
            s.close()
        err = s.stderr()
        self.assertIn("file_map_rejected", err)
        self.assertRegex(err, r"line=2\b")

    def test_unreadable_map_at_start_is_a_configuration_error(self):
        self.map.write_text("alice@example.com\n")  # no node
        r = posternctl(self.config, "lookup", "alice")
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertIn("users.map", r.stderr)
        self.assertIn(":1", r.stderr)


def replace_file(path, text):
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, path)


class ShippedFileMapTest(unittest.TestCase):
    """conf/mapping-file.json with conf/users.map routes the sample users."""

    CONFIG = REPO_ROOT / "conf" / "mapping-file.json"

    def test_sample_users(self):
        for user, node in [("alice@example.com", "node1"), ("bob@example.com", "node2"),
                           ("carol@example.org", "node1"), ("dave@example.com", "node2")]:
            r = posternctl(self.CONFIG, "lookup", user)
            self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)
            self.assertIn(f"node: {node}", r.stdout)
            uid = user.split("@")[0]
            r = posternctl(self.CONFIG, "auth", user, stdin=f"{uid}-secret\n")
            self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
