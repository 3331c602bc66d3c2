"""posternctl deliver: the local delivery agent, against a real slapd and a
node's configuration file (and, in one test, a running postern-node on the
same store)."""

import imaplib
import os
import sqlite3
import time
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

    def imap_login(self, node):
        imap = imaplib.IMAP4("127.0.0.1", node.port("imap"))
        imap.login("alice@example.com", Slapd.user_password("alice"))
        return imap

    @staticmethod
    def deliver_verbose(node):
        """posternctl -v deliver: its store log lines on stderr (text)."""
        return posternctl(node.config_path, "-v", "deliver", "alice@example.com",
                          stdin=MESSAGE.decode())

    def opens_of_alice(self, node):
        return [line for line in node.log().splitlines()
                if "event=store_account_open" in line and "account=alice@example.com" in line]

    def test_deliver_while_the_node_keeps_the_account_open(self):
        # After a logout the node keeps alice's account open (node.store_linger,
        # 30 s by default): a delivery by another process must neither wait
        # for it nor go unseen by the node's open account.
        self.node.start()
        imap = self.imap_login(self.node)
        self.assertEqual(imap.select("INBOX"), ("OK", [b"0"]))
        imap.logout()
        for _ in range(2):
            r = self.deliver_verbose(self.node)
            self.assertEqual(r.returncode, EX_OK, r.stderr)
            self.assertIn("shared=1", r.stderr)  # the node has it open: no reconcile
        imap = self.imap_login(self.node)
        try:
            typ, data = imap.select("INBOX")
            self.assertEqual((typ, data), ("OK", [b"2"]))
            typ, data = imap.uid("FETCH", "2", "(BODY.PEEK[])")
            self.assertEqual(typ, "OK", data)
            self.assertEqual(data[0][1], crlf(MESSAGE))
        finally:
            imap.logout()
        self.assertEqual(len(self.opens_of_alice(self.node)), 1, self.node.log())
        self.assertEqual(self.node.stop(), 0, self.node.log())

    def test_the_node_closes_the_account_after_store_linger(self):
        node = Node(self.ldap, name="node1", node={"store_linger": 0.3})
        try:
            node.start()
            self.imap_login(node).logout()
            imap = self.imap_login(node)  # within the linger: not reopened
            imap.logout()
            self.assertEqual(len(self.opens_of_alice(node)), 1, node.log())
            time.sleep(1.5)  # past the linger and the sweep that follows it
            # Closed in the node: this delivery has the account to itself and
            # reconciles it.
            r = self.deliver_verbose(node)
            self.assertEqual(r.returncode, EX_OK, r.stderr)
            self.assertNotIn("shared=1", r.stderr)
            self.assertIn("orphans_removed=0", r.stderr)
            imap = self.imap_login(node)
            self.assertEqual(imap.select("INBOX"), ("OK", [b"1"]))
            imap.logout()
            self.assertEqual(len(self.opens_of_alice(node)), 2, node.log())
            self.assertEqual(node.stop(), 0, node.log())
        finally:
            node.cleanup()


if __name__ == "__main__":
    unittest.main()
