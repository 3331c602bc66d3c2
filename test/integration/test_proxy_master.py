"""The proxy's master login (issue 5): the proxy checks the user's password at
the edge, then logs in on the user's node as a master user acting for the
account (SASL PLAIN authzid), so the node never sees the user's password.
Real slapd, node1 and node2, a real postern-proxy, imaplib and poplib; and the
node's side alone: a master login from a peer outside trusted_proxies, with a
wrong master password, or for an account outside the required group is
refused."""

import base64
import imaplib
import os
import poplib
import re
import tempfile
import unittest

from lib.imap_client import RawImap
from lib.node import Node
from lib.postern import posternctl
from lib.proxy import Proxy
from lib.slapd import Slapd

MASTER = "proxy-master"
MASTER_PW = "m4ster pass"
ALICE = "alice@example.com"
BOB = "bob@example.com"
DAVE = "dave@example.com"


def plain(authzid, authcid, password):
    return base64.b64encode(f"{authzid}\0{authcid}\0{password}".encode()).decode()


def sha512(password):
    out = posternctl(None, "hash-password", "sha512", stdin=password)
    assert out.returncode == 0 and out.stdout.startswith("$6$"), out
    return out.stdout.strip()


def pop3_plain(port, blob):
    """AUTH PLAIN with an initial response straight to a POP3 port; the answer."""
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    try:
        return p._shortcmd("AUTH PLAIN " + blob)
    except poplib.error_proto as e:
        return e.args[0]
    finally:
        p.close()


class ProxyMasterLoginTest(unittest.TestCase):
    """slapd + node1 (master password hashed) + node2 (master password in
    clear, the development form) + a proxy with the master login, and a
    node1 twin whose trusted_proxies leave loopback out."""

    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        hashed = [{"user": MASTER, "password_hash": sha512(MASTER_PW)}]
        clear = [{"user": MASTER, "password": MASTER_PW}]
        cls.node1 = Node(cls.ldap, "node1", node={"master_users": hashed})
        cls.node2 = Node(cls.ldap, "node2", node={"master_users": clear})
        cls.untrusting = Node(cls.ldap, "node1", listeners=("imap", "pop3"),
                              node={"master_users": hashed,
                                    "trusted_proxies": ["192.0.2.0/24"]})
        cls.started = []
        for n in (cls.node1, cls.node2, cls.untrusting):
            n.start()
            cls.started.append(n)
        # The proxy reads the master password from a file, as a deployment would.
        cls.secret_dir = tempfile.mkdtemp(prefix="postern-master-")
        cls.secret = os.path.join(cls.secret_dir, "master.secret")
        with open(cls.secret, "w") as f:
            f.write(MASTER_PW + "\n")
        cls.proxy = Proxy(cls.ldap, [cls.node1, cls.node2],
                          proxy={"master_login": {"user": MASTER, "password_file": cls.secret}})
        cls.proxy.start()

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.proxy.cleanup()
        for n in cls.started:
            n.stop()
            n.cleanup()
        cls.ldap.cleanup()
        os.remove(cls.secret)
        os.rmdir(cls.secret_dir)

    # -- through the proxy -----------------------------------------------------

    def test_imap_logins_through_the_proxy_use_the_master_login(self):
        for user, node in ((ALICE, self.node1), (BOB, self.node2)):
            imap = imaplib.IMAP4("127.0.0.1", self.proxy.port("imap"))
            typ, _ = imap.login(user, Slapd.user_password(user.split("@")[0]))
            self.assertEqual(typ, "OK")
            typ, _ = imap.select("INBOX")
            self.assertEqual(typ, "OK")
            imap.logout()
            self.assertTrue(node.wait_log(
                rf"imap_login result=ok user={re.escape(user)} master={MASTER} "),
                f"{user}: no master login in {node.name}'s log")
        # A mechanism of the client's choosing ends the same way on the node.
        imap = imaplib.IMAP4("127.0.0.1", self.proxy.port("imap"))
        answers = iter([ALICE.encode(), Slapd.user_password("alice").encode()])
        typ, _ = imap.authenticate("LOGIN", lambda _: next(answers))
        self.assertEqual(typ, "OK")
        imap.logout()

    def test_a_wrong_user_password_stops_at_the_proxy(self):
        imap = imaplib.IMAP4("127.0.0.1", self.proxy.port("imap"))
        with self.assertRaises(imaplib.IMAP4.error) as e:
            imap.login(BOB, "not bob's password")
        self.assertIn("AUTHENTICATIONFAILED", str(e.exception))
        imap.logout()
        self.assertTrue(self.proxy.wait_log(rf"proxy_login .*{re.escape(BOB)}"))
        self.assertNotRegex(self.node2.log(), r"imap_login result=failed user=bob@")

    def test_pop3_logins_through_the_proxy_use_the_master_login(self):
        for user, node in ((ALICE, self.node1), (BOB, self.node2)):
            pop = poplib.POP3("127.0.0.1", self.proxy.port("pop3"), timeout=20)
            pop.user(user)
            self.assertTrue(pop.pass_(Slapd.user_password(user.split("@")[0])).startswith(b"+OK"))
            pop.stat()
            pop.quit()
            self.assertTrue(node.wait_log(
                rf"pop3_login .*user={re.escape(user)} account={re.escape(user)} "
                rf"master={MASTER} ok=1"),
                f"{user}: no master login in {node.name}'s log")

    # -- the node, spoken to directly -----------------------------------------

    def test_the_master_login_from_a_trusted_peer(self):
        # The control: from loopback (trusted), the right master password logs in.
        with RawImap(self.node1.port("imap")) as r:
            _, tagged = r.command(f"AUTHENTICATE PLAIN {plain(ALICE, MASTER, MASTER_PW)}")
            self.assertRegex(tagged, r"^T\d+ OK ")
            _, tagged = r.command("SELECT INBOX")
            self.assertRegex(tagged, r"^T\d+ OK ")
        self.assertTrue(pop3_plain(self.node1.port("pop3"),
                                   plain(ALICE, MASTER, MASTER_PW)).startswith(b"+OK"))

    def test_a_wrong_master_password_is_refused(self):
        with RawImap(self.node1.port("imap")) as r:
            _, tagged = r.command(f"AUTHENTICATE PLAIN {plain(ALICE, MASTER, 'guess')}")
            self.assertRegex(tagged, r"^T\d+ NO \[AUTHENTICATIONFAILED\]")
        self.assertTrue(self.node1.wait_log(
            rf"imap_login result=failed user={re.escape(ALICE)} master={MASTER} .*"
            rf"reason=\"wrong_password: wrong password for master user {MASTER}\""))
        self.assertNotIn("guess", self.node1.log())
        self.assertTrue(pop3_plain(self.node2.port("pop3"),
                                   plain(BOB, MASTER, "guess")).startswith(b"-ERR [AUTH]"))
        self.assertTrue(self.node2.wait_log(rf"pop3_login .*user={re.escape(BOB)} .*"
                                            rf"master={MASTER} ok=0 outcome=denied"))

    def test_a_user_cannot_act_for_another_account(self):
        # Alice's own password is no master password.
        with RawImap(self.node1.port("imap")) as r:
            _, tagged = r.command(
                f"AUTHENTICATE PLAIN {plain(BOB, ALICE, Slapd.user_password('alice'))}")
            self.assertRegex(tagged, r"^T\d+ NO ")
        self.assertTrue(self.node1.wait_log(
            rf"imap_login result=failed user={re.escape(BOB)} master={re.escape(ALICE)} .*"
            r"reason=\"impersonation: "))

    def test_dave_is_refused_even_through_the_master_login(self):
        # dave lives on node2, has IMAP and POP3, and is not in cn=mailusers.
        with RawImap(self.node2.port("imap")) as r:
            _, tagged = r.command(f"AUTHENTICATE PLAIN {plain(DAVE, MASTER, MASTER_PW)}")
            self.assertRegex(tagged, r"^T\d+ NO \[AUTHENTICATIONFAILED\]")
        self.assertTrue(self.node2.wait_log(
            rf"imap_login result=failed user={re.escape(DAVE)} master={MASTER} .*"
            r"reason=\"not_in_group: "))
        self.assertTrue(pop3_plain(self.node2.port("pop3"),
                                   plain(DAVE, MASTER, MASTER_PW)).startswith(b"-ERR [AUTH]"))
        # And through the proxy, with his own password, as before.
        imap = imaplib.IMAP4("127.0.0.1", self.proxy.port("imap"))
        with self.assertRaises(imaplib.IMAP4.error):
            imap.login(DAVE, Slapd.user_password("dave"))
        imap.logout()

    def test_a_peer_outside_trusted_proxies_gets_no_master_login(self):
        n = self.untrusting
        with RawImap(n.port("imap")) as r:
            _, tagged = r.command(f"AUTHENTICATE PLAIN {plain(ALICE, MASTER, MASTER_PW)}")
            self.assertRegex(tagged, r"^T\d+ NO \[AUTHENTICATIONFAILED\]")
            # The same connection still takes alice's own login.
            _, tagged = r.command(
                f"AUTHENTICATE PLAIN {plain('', ALICE, Slapd.user_password('alice'))}")
            self.assertRegex(tagged, r"^T\d+ OK ")
        self.assertTrue(n.wait_log(
            rf"imap_login result=failed user={re.escape(ALICE)} master={MASTER} .*"
            r"reason=\"impersonation: master login from 127.0.0.1, not a trusted proxy\""))
        self.assertTrue(pop3_plain(n.port("pop3"),
                                   plain(ALICE, MASTER, MASTER_PW)).startswith(b"-ERR [AUTH]"))
        self.assertTrue(n.wait_log(r"pop3_login .*master=proxy-master ok=0 outcome=denied "
                                   r"detail=\"impersonation: master login from 127.0.0.1"))


if __name__ == "__main__":
    unittest.main()
