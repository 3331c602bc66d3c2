"""The proxy keeps logged-out IMAP node connections for the next login
(issue 5; RFC 8437 UNAUTHENTICATE with the proxy's reuse token): real slapd,
a real node (alice and carol live on node1), a real proxy with one worker
thread (the pool is per thread), imaplib and raw sockets."""

import imaplib
import re
import socket
import time
import unittest

from lib.node import Node
from lib.proxy import Proxy
from lib.slapd import Slapd

# imaplib knows only the commands of its own time.
imaplib.Commands.setdefault("UNAUTHENTICATE", ("AUTH", "SELECTED"))

USERS = {"alice": "alice@example.com", "carol": "carol@example.org"}
LISTENERS = ("imap", "imaps", "pop3", "pop3s", "smtp", "submission")


def login(port, user):
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(USERS[user], Slapd.user_password(user))
    return imap


def metric(text, name):
    m = re.search(rf"^{name} (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def read_until_tag(f, tag, seen):
    while True:
        line = f.readline()
        if not line:
            raise AssertionError(f"connection closed before {tag!r}: {seen}")
        seen.append(line)
        if line.startswith(tag + b" "):
            return line


class KeptNodeConnectionsTest(unittest.TestCase):
    node_tls = "starttls"

    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        cls.node = Node(cls.ldap, name="node1", listeners=LISTENERS,
                        extra={"smtp": {"hostname": "node.test",
                                        "local_domains": ["example.com", "example.org"]}})
        cls.node.start()
        cls.proxy = Proxy(cls.ldap, [cls.node], node_tls=cls.node_tls,
                          proxy={"threads": 1, "node_pool": {"max_idle": 4, "idle_timeout": 30}})
        cls.proxy.start()
        cls.port = cls.proxy.port("imap")

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.proxy.cleanup()
        cls.node.stop()
        cls.node.cleanup()
        cls.ldap.cleanup()

    def setUp(self):
        self.plog = len(self.proxy.log())
        self.nlog = len(self.node.log())

    def proxy_line(self, pattern):
        return self.proxy.wait_log(pattern, since=self.plog)

    def node_line(self, pattern):
        return self.node.wait_log(pattern, since=self.nlog)

    def reused(self):
        return metric(self.proxy.metrics(), "postern_proxy_node_connections_reused_total")

    def kept_now(self):
        return metric(self.proxy.metrics(), "postern_proxy_node_connections_idle")

    def test_the_next_login_reuses_the_logged_out_connection(self):
        a = login(self.port, "alice")
        before = self.reused()
        self.assertEqual(a.select("INBOX")[0], "OK")
        self.assertEqual(a.logout()[0], "BYE")
        self.assertTrue(self.proxy_line(r"session_end .*user=alice@example\.com .*reason=logout"))
        self.assertGreaterEqual(self.kept_now(), 1)
        c = login(self.port, "carol")
        typ, data = c.select("INBOX")
        self.assertEqual(typ, "OK")
        c.logout()
        self.assertEqual(self.reused(), before + 1)
        self.assertTrue(self.proxy_line(
            r"session_end .*user=carol@example\.org node=node1 .*node_conn=reused"))
        # The node saw carol log in as herself, from the client's address
        # (the ID the proxy sent again on the kept connection).
        self.assertTrue(self.node_line(
            r"imap_login result=ok user=carol@example\.org client=127\.0\.0\.1:\d+"))
        # ...and logged alice's session as ended.
        self.assertTrue(self.node_line(r"user=alice@example\.com.*unauthenticate"))

    def test_a_logout_with_nothing_owed_leaves_the_unauthenticate_to_the_next_login(self):
        # alice's commands are all answered when she logs out: the proxy
        # says goodbye itself, and her UNAUTHENTICATE waits in the pool.
        a = login(self.port, "alice")
        self.assertEqual(a.select("INBOX")[0], "OK")
        self.assertEqual(a.noop()[0], "OK")
        self.assertEqual(a.logout()[0], "BYE")
        self.assertTrue(self.proxy_line(r"session_end .*user=alice@example\.com .*reason=logout"))
        time.sleep(0.5)
        self.assertNotRegex(self.node.log()[self.nlog:],
                            r"user=alice@example\.com.*reason=unauthenticate")
        # carol's login carries it, in the same write as her ID and login;
        # the node ends alice's session first.
        c = login(self.port, "carol")
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()
        log = self.node.log()[self.nlog:]
        ended = re.search(r"user=alice@example\.com.*reason=unauthenticate", log)
        began = re.search(r"imap_login result=ok user=carol@example\.org", log)
        self.assertTrue(ended and began, log[-3000:])
        self.assertLess(ended.start(), began.start())
        self.assertTrue(self.proxy_line(
            r"session_end .*user=carol@example\.org .*node_conn=reused"))

    def test_nothing_of_the_previous_user_reaches_the_next(self):
        # alice has her INBOX selected when a message arrives for her: the
        # node owes her an EXISTS when she logs out.
        a = login(self.port, "alice")
        typ, data = a.select("INBOX")
        self.assertEqual(typ, "OK")
        self.node.deliver(USERS["alice"], b"Subject: late\r\n\r\nfor alice only\r\n")
        a.logout()
        self.assertTrue(self.proxy_line(r"session_end .*user=alice@example\.com .*reason=logout"))
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            f = s.makefile("rb")
            self.assertTrue(f.readline().startswith(b"* OK"))
            user, password = USERS["carol"].encode(), Slapd.user_password("carol").encode()
            s.sendall(b"a LOGIN %s %s\r\nb NOOP\r\n" % (user, password))
            seen = []
            self.assertTrue(read_until_tag(f, b"a", seen).startswith(b"a OK"), seen)
            self.assertTrue(read_until_tag(f, b"b", seen).startswith(b"b OK"), seen)
            s.sendall(b"c LOGOUT\r\n")
            read_until_tag(f, b"c", seen)
        untagged = [ln for ln in seen if ln.startswith(b"* ")]
        self.assertEqual([ln for ln in untagged if not ln.startswith(b"* BYE")], [], seen)
        self.assertNotIn(b"EXISTS", b"".join(seen))
        self.assertTrue(self.proxy_line(
            r"session_end .*user=carol@example\.org .*node_conn=reused"))

    def test_commands_pipelined_before_logout_are_all_answered(self):
        user, password = USERS["alice"].encode(), Slapd.user_password("alice").encode()
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            f = s.makefile("rb")
            f.readline()
            # An APPEND whose message holds a LOGOUT line: data, not a command.
            message = b"Subject: x\r\n\r\nz LOGOUT\r\n"
            s.sendall(b"a LOGIN %s %s\r\nb SELECT INBOX\r\nc APPEND INBOX {%d+}\r\n%s\r\n"
                      b"d FETCH 1:* (FLAGS)\r\ne LOGOUT\r\n" % (user, password, len(message),
                                                             message))
            seen = []
            last = read_until_tag(f, b"e", seen)
            self.assertEqual(last, b"e OK Logout completed.\r\n")
            self.assertIn(b"* BYE Logging out.\r\n", seen)
            tagged = {ln.split(b" ")[0]: ln for ln in seen if not ln.startswith(b"*")}
            for tag in (b"a", b"b", b"c", b"d"):
                self.assertTrue(tagged[tag].startswith(tag + b" OK"), seen)
            # The proxy closes the client's connection after the goodbye.
            self.assertEqual(f.read(), b"")
        self.assertTrue(self.proxy_line(r"session_end .*user=alice@example\.com .*reason=logout"))

    def test_a_node_left_reading_data_never_gets_the_next_login(self):
        # alice announces a literal at the end of a line the node refuses
        # (an unclosed quote): the node does not take the literal, and reads
        # the "literal" as an APPEND of its own, whose message it then asks
        # for. Were her connection kept with the UNAUTHENTICATE pending, the
        # next login to node1 would become that message in her INBOX.
        if self.node_tls != "starttls":
            self.skipTest("once is enough (the wait for the release takes 10 s)")
        kept_before = metric(self.proxy.metrics(), "postern_proxy_node_connections_kept_total")
        user, password = USERS["alice"].encode(), Slapd.user_password("alice").encode()
        append = b"h APPEND INBOX {300}"
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as s:
            f = s.makefile("rb")
            f.readline()
            s.sendall(b"a LOGIN %s %s\r\n" % (user, password))
            read_until_tag(f, b"a", [])
            s.sendall(b'b SELECT "x {%d+}\r\n%s\r\n' % (len(append), append))
            seen = []
            self.assertTrue(read_until_tag(f, b"b", seen).startswith(b"b BAD"), seen)
            self.assertTrue(f.readline().startswith(b"+"))  # the node wants the message
            s.sendall(b"z LOGOUT\r\n")
            # carol logs in meanwhile: never on alice's connection.
            c = login(self.port, "carol")
            self.assertEqual(c.select("INBOX")[0], "OK")
            c.logout()
            # alice's goodbye comes when the node does not confirm the
            # release (10 s); her node connection is closed, not kept.
            rest = f.read()
            self.assertIn(b"z OK Logout completed.", rest)
        self.assertTrue(self.proxy_line(
            r"session_end .*user=alice@example\.com .*reason=node_timeout"))
        self.assertEqual(metric(self.proxy.metrics(), "postern_proxy_node_connections_kept_total"),
                         kept_before + 1)  # carol's, not alice's
        a = login(self.port, "alice")
        a.select("INBOX")
        typ, data = a.search(None, "TEXT", "AUTHENTICATE")
        self.assertEqual((typ, data), ("OK", [b""]))
        a.logout()

    def test_a_client_cannot_unauthenticate_through_the_proxy(self):
        a = login(self.port, "alice")
        typ, data = a.capability()
        self.assertEqual(typ, "OK")
        self.assertNotIn(b"UNAUTHENTICATE", data[0])
        with self.assertRaises(imaplib.IMAP4.error):
            a._simple_command("UNAUTHENTICATE")
        # Still alice, still logged in.
        self.assertEqual(a.select("INBOX")[0], "OK")
        a.logout()

    def test_idle_kept_connections_are_closed_after_their_timeout(self):
        self.proxy.update_proxy({"node_pool": {"max_idle": 4, "idle_timeout": 0.5}})
        self.proxy.sighup()
        self.assertTrue(self.proxy_line(r"reload .*ok=1"))
        try:
            a = login(self.port, "alice")
            a.logout()
            self.assertTrue(self.proxy_line(
                r"session_end .*user=alice@example\.com .*reason=logout"))
            deadline = time.monotonic() + 10
            while self.kept_now() > 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertEqual(self.kept_now(), 0)
        finally:
            start = len(self.proxy.log())
            self.proxy.update_proxy({"node_pool": {"max_idle": 4, "idle_timeout": 30}})
            self.proxy.sighup()
            self.proxy.wait_log(r"reload .*ok=1", since=start)

    def test_a_kept_connection_survives_a_node_restart_unnoticed(self):
        a = login(self.port, "alice")
        a.logout()
        self.assertTrue(self.proxy_line(r"session_end .*user=alice@example\.com .*reason=logout"))
        self.node.restart()
        c = login(self.port, "carol")
        self.assertEqual(c.select("INBOX")[0], "OK")
        c.logout()


class KeptPlainNodeConnectionsTest(KeptNodeConnectionsTest):
    """The same with a plaintext hop (the pump may splice)."""
    node_tls = "none"

    def test_a_spliced_session_closes_its_node_connection(self):
        # More than the pump's splice threshold moves before the LOGOUT: the
        # kernel moved those bytes, nobody watched them, so the connection is
        # not kept.
        a = login(self.port, "alice")
        body = b"Subject: big\r\n\r\n" + b"x" * 78 + b"\r\n"
        big = body + (b"y" * 78 + b"\r\n") * 5000
        self.assertEqual(a.append("INBOX", None, None, big)[0], "OK")
        a.logout()
        line = self.proxy_line(r"session_end .*user=alice@example\.com .*pump=splice")
        self.assertTrue(line)
        self.assertNotRegex(line, r"reason=logout")


class PoolOffTest(unittest.TestCase):
    def test_with_no_pool_each_login_has_its_own_connection_and_no_unauthenticate(self):
        with Slapd() as ldap:
            node = Node(ldap, name="node1", listeners=LISTENERS)
            node.start()
            try:
                proxy = Proxy(ldap, [node], proxy={"threads": 1, "node_pool": {"max_idle": 0}})
                proxy.start()
                try:
                    for user in ("alice", "carol"):
                        i = login(proxy.port("imap"), user)
                        self.assertNotIn(b"UNAUTHENTICATE", i.capability()[1][0])
                        i.logout()
                    self.assertTrue(proxy.wait_log(r"session_end .*user=carol@example\.org"))
                    self.assertNotRegex(proxy.log(), r"node_conn=reused")
                    self.assertEqual(metric(proxy.metrics(),
                                            "postern_proxy_node_connections_reused_total"), 0)
                finally:
                    proxy.stop()
                    proxy.cleanup()
            finally:
                node.stop()
                node.cleanup()


if __name__ == "__main__":
    unittest.main()
