"""posternctl deliver: the local delivery agent, against a real slapd and a
node's configuration file (and, in one test, a running postern-node on the
same store)."""

import imaplib
import os
import sqlite3
import unittest

from lib.node import Node
from lib.ports import free_port
from lib.postern import (EX_CONFIG, EX_NOUSER, EX_OK, EX_TEMPFAIL, EX_USAGE, ConfigDir,
                         ldap_directory, posternctl)
from lib.slapd import Slapd

MESSAGE = (b"From: Carol <carol@example.org>\n"
           b"To: Alice <alice@example.com>\n"
           b"Subject: delivered\n"
           b"\n"
           b"Hello Alice.\n")


def crlf(data: bytes) -> bytes:
    return data.replace(b"\n", b"\r\n")


class Account:
    """What a delivery left in an account's directory."""

    def __init__(self, store, domain, local):
        self.dir = os.path.join(store, domain, local)

    def messages(self, mailbox="INBOX"):
        """[(uid, bytes of the message file)] in `mailbox`, ascending uid."""
        db = sqlite3.connect(os.path.join(self.dir, "index.sqlite"))
        try:
            rows = db.execute(
                "SELECT m.uid, m.file, m.size FROM message m JOIN mailbox b ON b.id = m.mailbox_id"
                " WHERE b.name = ? ORDER BY m.uid", (mailbox,)).fetchall()
        finally:
            db.close()
        out = []
        for uid, name, size in rows:
            with open(os.path.join(self.dir, "msg", name[:2], name), "rb") as f:
                data = f.read()
            assert len(data) == size, (len(data), size)
            out.append((uid, data))
        return out


class DeliverTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()

    @classmethod
    def tearDownClass(cls):
        cls.ldap.cleanup()

    def setUp(self):
        self.node = Node(self.ldap, name="node1")
        self.alice = Account(self.node.store_path, "example.com", "alice")

    def tearDown(self):
        self.node.cleanup()

    def test_delivers_to_inbox(self):
        r = self.node.deliver("alice@example.com", MESSAGE)
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertEqual(r.stdout, b"")
        self.assertEqual(self.alice.messages(), [(1, crlf(MESSAGE))])
        r = self.node.deliver("alice@example.com", MESSAGE)
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertEqual([uid for uid, _ in self.alice.messages()], [1, 2])

    def test_alias_reaches_the_account(self):
        r = self.node.deliver("alice.liddell@example.com", MESSAGE)
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertEqual(len(self.alice.messages()), 1)
        self.assertFalse(os.path.exists(os.path.join(self.node.store_path, "example.com",
                                                     "alice.liddell")))

    def test_folder_and_fallback_to_inbox(self):
        r = self.node.deliver("alice@example.com", MESSAGE, folder="Archive")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertEqual(len(self.alice.messages("Archive")), 1)
        r = self.node.deliver("alice@example.com", MESSAGE, folder="No/Such/Folder")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertEqual(len(self.alice.messages("INBOX")), 1)
        self.assertEqual(len(self.alice.messages("Archive")), 1)

    def test_unknown_user(self):
        r = self.node.deliver("nobody@example.com", MESSAGE)
        self.assertEqual(r.returncode, EX_NOUSER, r.stderr)
        self.assertIn(b"nobody@example.com", r.stderr)
        self.assertIn(b"no such account", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.node.store_path, "example.com",
                                                     "nobody")))

    def test_user_of_another_node(self):
        r = self.node.deliver("bob@example.com", MESSAGE)
        self.assertEqual(r.returncode, EX_NOUSER, r.stderr)
        self.assertIn(b"node2", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.node.store_path, "example.com", "bob")))

    def test_directory_down_is_temporary(self):
        dead = Node(self.ldap, name="node1",
                    directory=ldap_directory([f"ldap://127.0.0.1:{free_port()}"]))
        try:
            r = dead.deliver("alice@example.com", MESSAGE)
            self.assertEqual(r.returncode, EX_TEMPFAIL, r.stderr)
            self.assertIn(b"temporary failure", r.stderr)
        finally:
            dead.cleanup()

    def test_usage_and_config_errors(self):
        r = posternctl(self.node.config_path, "deliver")
        self.assertEqual(r.returncode, EX_USAGE, r.stderr)
        r = posternctl(self.node.config_path, "deliver", "a@example.com", "INBOX", "extra")
        self.assertEqual(r.returncode, EX_USAGE, r.stderr)
        conf = ConfigDir()
        try:
            path = conf.write("mapping.json", {"directory": ldap_directory([self.ldap.uri])})
            r = posternctl(path, "deliver", "alice@example.com", stdin="x\n")
            self.assertEqual(r.returncode, EX_CONFIG, r.stderr)
            self.assertIn("node: missing", r.stderr)
        finally:
            conf.cleanup()

    def test_lookup_and_check_config_take_a_node_file(self):
        r = posternctl(self.node.config_path, "lookup", "alice.liddell@example.com")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertIn("address: alice@example.com", r.stdout)
        r = posternctl(self.node.config_path, "check-config")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        conf = ConfigDir()
        try:
            cfg = self.node.config()
            cfg["listeners"][0]["protocol"] = "gopher"
            path = conf.write("bad.json", cfg)
            r = posternctl(path, "check-config")
            self.assertEqual(r.returncode, EX_CONFIG)
            self.assertIn(f"{path}: listeners[0].protocol", r.stderr)
        finally:
            conf.cleanup()

    def test_deliver_while_the_node_runs(self):
        self.node.start()
        # An IMAP session holds the account open in the node meanwhile.
        imap = imaplib.IMAP4("127.0.0.1", self.node.port("imap"))
        try:
            imap.login("alice@example.com", Slapd.user_password("alice"))
            typ, data = imap.select("INBOX")
            self.assertEqual(typ, "OK", data)
            self.assertEqual(data, [b"0"])
            for _ in range(3):
                r = self.node.deliver("alice@example.com", MESSAGE)
                self.assertEqual(r.returncode, EX_OK, r.stderr)
            typ, data = imap.noop()
            self.assertEqual(typ, "OK")
            typ, data = imap.uid("FETCH", "1:*", "(RFC822.SIZE)")
            self.assertEqual(typ, "OK", data)
            self.assertEqual(len([d for d in data if d]), 3, data)
            typ, data = imap.uid("FETCH", "3", "(BODY.PEEK[])")
            self.assertEqual(typ, "OK", data)
            self.assertEqual(data[0][1], crlf(MESSAGE))
            imap.logout()
        finally:
            try:
                imap.shutdown()
            except OSError:
                pass
        self.assertEqual(len(self.alice.messages()), 3)
        self.assertEqual(self.node.stop(), 0, self.node.log())


if __name__ == "__main__":
    unittest.main()
