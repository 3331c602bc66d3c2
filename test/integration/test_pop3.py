"""The node's POP3 server with Python's poplib: RFC 1939 with CAPA, UIDL, TOP,
STLS, AUTH PLAIN and response codes, against a real postern-node, slapd and
store. Messages reach alice's INBOX through `posternctl deliver`."""

import base64
import imaplib
import os
import poplib
import socket
import ssl
import struct
import threading
import time
import unittest

from lib.node import Node
from lib.slapd import Slapd

ALICE = "alice@example.com"
ALICE_PW = Slapd.user_password("alice")


def message(subject, body_lines=("hello",), extra_headers=()):
    head = [f"From: sender@example.net", f"To: {ALICE}", f"Subject: {subject}", *extra_headers]
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(body_lines) + "\r\n").encode()


def plain(user, password, authzid=""):
    return base64.b64encode(f"{authzid}\0{user}\0{password}".encode()).decode()


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Pop3Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        cls.node = Node(cls.ldap, listeners=("pop3", "pop3s", "imap"))
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        cls.ldap.cleanup()

    def setUp(self):
        # Every test starts with an empty INBOX.
        p = self.login()
        for n in range(1, p.stat()[0] + 1):
            p.dele(n)
        p.quit()

    # -- helpers ---------------------------------------------------------------

    def connect(self):
        p = poplib.POP3("127.0.0.1", self.node.port("pop3"), timeout=30)
        self.addCleanup(self._close, p)
        return p

    @staticmethod
    def _close(p):
        """Drops the connection without QUIT (poplib's file keeps the socket
        open, so both go)."""
        for f in (p.file, p.sock):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass

    def login(self, user=ALICE, password=ALICE_PW):
        """A session in TRANSACTION state. A session the test dropped a moment
        ago may still hold the maildrop until the server sees the close."""
        deadline = time.monotonic() + 5
        while True:
            p = self.connect()
            p.user(user)
            try:
                p.pass_(password)
                return p
            except poplib.error_proto as e:
                if b"[IN-USE]" not in e.args[0] or time.monotonic() > deadline:
                    raise
                self._close(p)
                time.sleep(0.05)

    def deliver(self, *messages):
        for m in messages:
            r = self.node.deliver(ALICE, m)
            self.assertEqual(r.returncode, 0, r.stderr.decode())

    def assert_err(self, code, fn, *args):
        with self.assertRaises(poplib.error_proto) as cm:
            fn(*args)
        reply = cm.exception.args[0]
        self.assertTrue(reply.startswith(b"-ERR " + code), reply)
        return reply

    def capa(self, p):
        return set(p.capa())

    # -- greeting, CAPA, STLS, implicit TLS ------------------------------------

    def test_greeting(self):
        self.assertEqual(self.connect().getwelcome(), b"+OK Postern ready.")

    def test_capa_before_and_after_stls_and_login(self):
        p = self.connect()
        caps = self.capa(p)
        for c in ("TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "USER", "STLS"):
            self.assertIn(c, caps)
        self.assertEqual(p.capa()["SASL"], ["PLAIN"])
        p.stls(context=self.node.ssl_context())
        caps = self.capa(p)
        self.assertNotIn("STLS", caps)
        self.assertIn("USER", caps)
        p.user(ALICE)
        p.pass_(ALICE_PW)
        caps = self.capa(p)
        self.assertIn("UIDL", caps)
        for c in ("USER", "STLS", "SASL"):
            self.assertNotIn(c, caps)

    def test_stls_then_login(self):
        self.deliver(message("over stls"))
        p = self.connect()
        p.stls(context=self.node.ssl_context())
        self.assertIn("TLS", p.sock.version())
        p.user(ALICE)
        p.pass_(ALICE_PW)
        self.assertEqual(p.stat()[0], 1)
        # A second STLS is refused.
        self.assert_err(b"", p._shortcmd, "STLS")
        p.quit()

    def test_stls_forgets_user(self):
        p = self.connect()
        p.user(ALICE)
        p.stls(context=self.node.ssl_context())
        # RFC 2595: USER given before the handshake is forgotten.
        self.assert_err(b"", p.pass_, ALICE_PW)

    def test_pop3s_implicit_tls(self):
        self.deliver(message("over pop3s"))
        p = poplib.POP3_SSL("127.0.0.1", self.node.port("pop3s"),
                            context=self.node.ssl_context(), timeout=30)
        self.addCleanup(self._close, p)
        self.assertEqual(p.getwelcome(), b"+OK Postern ready.")
        self.assertNotIn("STLS", self.capa(p))
        p.user(ALICE)
        p.pass_(ALICE_PW)
        resp, lines, _ = p.retr(1)
        self.assertIn(b"Subject: over pop3s", lines)
        p.quit()

    # -- logins ----------------------------------------------------------------

    def test_user_pass(self):
        p = self.connect()
        self.assertTrue(p.user(ALICE).startswith(b"+OK"))
        self.assertTrue(p.pass_(ALICE_PW).startswith(b"+OK"))
        self.node.wait_log(r"event=pop3_login .*user=alice@example.com.*ok=1")

    def test_bad_password_is_delayed_auth_error(self):
        p = self.connect()
        p.user(ALICE)
        start = time.monotonic()
        self.assert_err(b"[AUTH] ", p.pass_, "wrong")
        self.assertGreaterEqual(time.monotonic() - start, 0.9)
        self.node.wait_log(r"event=pop3_login .*ok=0 outcome=denied")
        # The session goes on: a right password still works.
        p.user(ALICE)
        self.assertTrue(p.pass_(ALICE_PW).startswith(b"+OK"))

    def test_too_many_failed_logins_disconnect(self):
        p = self.connect()
        for _ in range(3):
            p.user(ALICE)
            self.assert_err(b"[AUTH] ", p.pass_, "wrong")
        # errors.max_failed_logins (3 by default): the server hangs up.
        self.assertEqual(p.file.readline(), b"")
        self.node.wait_log(r"event=pop3_logout .*reason=too_many_failed_logins")

    def test_pass_without_user(self):
        self.assert_err(b"", self.connect().pass_, ALICE_PW)

    def test_auth_plain_initial_response(self):
        self.deliver(message("plain"))
        p = self.connect()
        resp = p._shortcmd("AUTH PLAIN " + plain(ALICE, ALICE_PW))
        self.assertTrue(resp.startswith(b"+OK"), resp)
        self.assertEqual(p.stat()[0], 1)

    def test_auth_plain_continuation_and_cancel(self):
        p = self.connect()
        p._putcmd("AUTH PLAIN")
        line, _ = p._getline()
        self.assertEqual(line, b"+ ")
        p._putcmd("*")
        self.assert_err(b"", p._getresp)
        p._putcmd("AUTH PLAIN")
        self.assertEqual(p._getline()[0], b"+ ")
        p._putcmd(plain(ALICE, ALICE_PW))
        self.assertTrue(p._getresp().startswith(b"+OK"))

    def test_auth_plain_bad_password_and_impersonation(self):
        p = self.connect()
        self.assert_err(b"[AUTH] ", p._shortcmd, "AUTH PLAIN " + plain(ALICE, "wrong"))
        self.assert_err(b"[AUTH] ", p._shortcmd,
                        "AUTH PLAIN " + plain(ALICE, ALICE_PW, authzid="bob@example.com"))

    def test_auth_mechanisms(self):
        p = self.connect()
        self.assertEqual(p._longcmd("AUTH")[1], [b"PLAIN"])
        self.assert_err(b"", p._shortcmd, "AUTH CRAM-MD5")

    # Plaintext refusal needs a peer that is not loopback (loopback is always
    # allowed): test/unit/backend/pop3/pop3_session_test.cpp covers it.

    def test_wrong_node_user(self):
        p = self.connect()
        p.user("bob@example.com")
        self.assert_err(b"[SYS/TEMP] ", p.pass_, Slapd.user_password("bob"))

    def test_in_use(self):
        first = self.login()
        second = self.connect()
        second.user(ALICE)
        self.assert_err(b"[IN-USE] ", second.pass_, ALICE_PW)
        first.quit()
        # Released at the end of the first session.
        second.user(ALICE)
        self.assertTrue(second.pass_(ALICE_PW).startswith(b"+OK"))

    def test_in_use_released_when_connection_drops(self):
        first = self.login()
        self._close(first)
        self.login()  # retries while [IN-USE], fails after 5 s

    # -- TRANSACTION -----------------------------------------------------------

    def test_stat_list_uidl(self):
        msgs = [message("one"), message("two", ["a", "b"]), message("three", ["x"] * 5)]
        self.deliver(*msgs)
        p = self.login()
        self.assertEqual(p.stat(), (3, sum(len(m) for m in msgs)))
        resp, lines, _ = p.list()
        self.assertEqual(lines, [f"{i + 1} {len(m)}".encode() for i, m in enumerate(msgs)])
        self.assertEqual(p.list(2), f"+OK 2 {len(msgs[1])}".encode())
        resp, uidls, _ = p.uidl()
        self.assertEqual(len(uidls), 3)
        ids = [u.split()[1] for u in uidls]
        self.assertEqual(len(set(ids)), 3)
        for uid in ids:
            self.assertTrue(all(0x21 <= c <= 0x7E for c in uid) and len(uid) <= 70)
        self.assertEqual(p.uidl(3), b"+OK 3 " + ids[2])

    def test_retr_is_byte_exact_with_dot_stuffing(self):
        body = [".hidden line", "..two dots", ".", "normal", "."]
        m = message("dots", body)
        self.deliver(m)
        p = self.login()
        # On the wire: stuffed, and ended by ".\r\n" on its own line.
        p._putcmd("RETR 1")
        wire = b""
        while not wire.endswith(b"\r\n.\r\n"):
            chunk = p.file.read1(65536)
            self.assertTrue(chunk, "connection closed during RETR")
            wire += chunk
        first, rest = wire.split(b"\r\n", 1)
        self.assertEqual(first, f"+OK {len(m)} octets".encode())
        self.assertIn(b"\r\n..hidden line\r\n...two dots\r\n..\r\nnormal\r\n..\r\n.\r\n", rest)
        # poplib undoes the stuffing: the message comes back byte for byte.
        resp, lines, octets = p.retr(1)
        self.assertEqual(b"\r\n".join(lines) + b"\r\n", m)

    def test_top(self):
        m = message("top", ["line 1", ".line 2", "line 3", "line 4"])
        self.deliver(m)
        p = self.login()
        head = m.split(b"\r\n\r\n")[0].split(b"\r\n")
        self.assertEqual(p.top(1, 0)[1], head + [b""])
        self.assertEqual(p.top(1, 3)[1], head + [b"", b"line 1", b".line 2", b"line 3"])
        self.assertEqual(p.top(1, 100)[1], p.retr(1)[1])

    def test_dele_then_quit_removes(self):
        self.deliver(message("keep"), message("remove"))
        p = self.login()
        self.assertTrue(p.dele(2).startswith(b"+OK"))
        self.assertEqual(p.stat()[0], 1)
        self.assertTrue(p.quit().startswith(b"+OK"))
        p = self.login()
        self.assertEqual(p.stat()[0], 1)
        self.assertIn(b"Subject: keep", p.retr(1)[1])

    def test_dele_then_drop_keeps(self):
        self.deliver(message("one"), message("two"))
        p = self.login()
        p.dele(1)
        p.dele(2)
        self._close(p)
        self.node.wait_log(r"event=pop3_logout .*reason=peer_closed")
        p = self.login()
        self.assertEqual(p.stat()[0], 2)

    def test_rset(self):
        self.deliver(message("one"), message("two"))
        p = self.login()
        p.dele(1)
        self.assert_err(b"", p.retr, 1)
        self.assertTrue(p.rset().startswith(b"+OK"))
        self.assertEqual(p.stat()[0], 2)
        p.quit()
        self.assertEqual(self.login().stat()[0], 2)

    def imap_flags(self):
        """{sequence number: flags} of alice's INBOX, seen through IMAP."""
        with imaplib.IMAP4("127.0.0.1", self.node.port("imap"), timeout=30) as imap:
            imap.login(ALICE, ALICE_PW)
            imap.select("INBOX", readonly=True)
            typ, data = imap.fetch("1:*", "(FLAGS)")
            self.assertEqual(typ, "OK", data)
            out = {}
            for item in data:
                num, rest = item.decode().split(" ", 1)
                out[int(num)] = rest
            imap.logout()
            return out

    def test_retr_sets_seen_at_quit_only(self):
        self.deliver(message("one"), message("two"), message("three"))
        p = self.login()
        p.retr(1)
        p.top(2, 0)
        self._close(p)  # no QUIT: nothing changes
        self.assertNotIn("\\Seen", str(self.imap_flags()))
        p = self.login()
        p.retr(1)
        p.top(2, 0)
        p.quit()
        flags = self.imap_flags()
        self.assertIn("\\Seen", flags[1])
        self.assertNotIn("\\Seen", flags[2])  # TOP is not reading
        self.assertNotIn("\\Seen", flags[3])

    def test_noop(self):
        self.assertEqual(self.login().noop(), b"+OK")

    def test_errors(self):
        self.deliver(message("one"))
        p = self.connect()
        self.assert_err(b"", p.stat)  # wrong state
        self.assertEqual(self.assert_err(b"", p._shortcmd, "XYZZY"), b"-ERR Unknown command")
        p.user(ALICE)
        p.pass_(ALICE_PW)
        self.assert_err(b"", p.retr, 99)
        self.assert_err(b"", p.list, 2)
        self.assert_err(b"", p._shortcmd, "RETR abc")
        self.assert_err(b"", p._shortcmd, "TOP 1")
        self.assert_err(b"", p._shortcmd, "USER bob")  # wrong state
        p.dele(1)
        self.assert_err(b"", p.dele, 1)  # already deleted
        self.assert_err(b"", p.uidl, 1)
        # An over-long line gets -ERR and the session goes on.
        self.assert_err(b"", p._shortcmd, "NOOP " + "x" * 5000)
        self.assertEqual(p.noop(), b"+OK")
        p.rset()
        self.assertEqual(p.stat()[0], 1)

    def test_pipelining(self):
        self.deliver(message("one"), message("two"))
        s = socket.create_connection(("127.0.0.1", self.node.port("pop3")), timeout=30)
        self.addCleanup(s.close)
        f = s.makefile("rb")
        f.readline()
        s.sendall(f"USER {ALICE}\r\nPASS {ALICE_PW}\r\nSTAT\r\nLIST 2\r\nQUIT\r\n".encode())
        replies = [f.readline() for _ in range(5)]
        self.assertTrue(all(r.startswith(b"+OK") for r in replies), replies)
        self.assertTrue(replies[2].startswith(b"+OK 2 "))

    def test_uidl_stable_across_sessions_and_restart(self):
        self.deliver(message("one"), message("two"))
        p = self.login()
        before = p.uidl()[1]
        p.quit()
        p = self.login()
        self.assertEqual(p.uidl()[1], before)
        p.quit()
        self.node.restart()
        self.assertEqual(self.login().uidl()[1], before)

    def test_large_message_streams_without_buffering(self):
        line = b"x" * 998 + b"\r\n"
        size = 20 * 1024 * 1024
        m = b"Subject: big\r\n\r\n" + line * (size // len(line))
        self.deliver(m)
        for tls in (False, True):
            with self.subTest(tls=tls):
                if tls:
                    p = poplib.POP3_SSL("127.0.0.1", self.node.port("pop3s"),
                                        context=self.node.ssl_context(), timeout=30)
                    self.addCleanup(self._close, p)
                    p.user(ALICE)
                    p.pass_(ALICE_PW)
                else:
                    p = self.login()
                self.check_streamed_retr(p, m)
                p.quit()

    def check_streamed_retr(self, p, m):
        pid = self.node.proc.pid
        before = vm_rss_kib(pid)
        p._putcmd("RETR 1")
        self.assertEqual(p.file.readline(), f"+OK {len(m)} octets\r\n".encode())
        got = 0
        peak = before
        tail = b""
        while True:
            # A slow reader: the server must wait, not buffer the message.
            chunk = p.file.read1(256 * 1024)
            self.assertTrue(chunk)
            got += len(chunk)
            tail = (tail + chunk)[-5:]
            if got % (2 * 1024 * 1024) < len(chunk):
                peak = max(peak, vm_rss_kib(pid))
                time.sleep(0.05)
            if tail == b"\r\n.\r\n":
                break
        peak = max(peak, vm_rss_kib(pid))
        self.assertEqual(got, len(m) + 3)
        growth_mib = (peak - before) / 1024
        self.assertLess(growth_mib, 8, f"RSS grew by {growth_mib:.1f} MiB during a 20 MiB RETR")
        self.assertEqual(p.noop(), b"+OK")

    # -- XCLIENT from a trusted proxy -------------------------------------------

    def test_xclient_and_auth_pipelined_are_answered_in_one_write(self):
        # As the proxy hands a login over: one write, and the node answers
        # both in one (the proxy wakes up once); on loopback one write by the
        # node arrives whole in one recv(), two a moment apart do not.
        with socket.create_connection(("127.0.0.1", self.node.port("pop3")), timeout=30) as s:
            f = s.makefile("rb")
            self.assertTrue(f.readline().startswith(b"+OK"))
            plain = base64.b64encode(b"\0" + ALICE.encode() + b"\0" + ALICE_PW.encode())
            s.sendall(b"XCLIENT ADDR=192.0.2.56 PORT=4243\r\nAUTH PLAIN " + plain + b"\r\n")
            got = s.recv(1 << 20)
            lines = got.split(b"\r\n")
            self.assertEqual(len(lines), 3, got)
            self.assertEqual(lines[0], b"+OK", got)
            self.assertTrue(lines[1].startswith(b"+OK"), got)
            # Waiting for the client: nothing is held.
            s.sendall(b"NOOP\r\nCAPA\r\n")
            got = b""
            while not got.endswith(b"\r\n.\r\n"):
                chunk = s.recv(1 << 20)
                self.assertTrue(chunk, got)
                got += chunk
            self.assertTrue(got.startswith(b"+OK\r\n+OK"), got)
            s.sendall(b"QUIT\r\n")
            self.assertTrue(s.recv(1 << 20).startswith(b"+OK"))

    def test_xclient_from_trusted_proxy_sets_the_logged_client(self):
        p = self.connect()
        self.assertIn("XCLIENT", self.capa(p))
        # Unknown attributes (Dovecot's TTL, SESSION) are tolerated.
        self.assertEqual(p._shortcmd("XCLIENT ADDR=192.0.2.55 PORT=4242 TTL=4 SESSION=s1"), b"+OK")
        self.node.wait_log(r"event=pop3_xclient .*proxy=127\.0\.0\.1:\d+ client=192\.0\.2\.55:4242")
        p.user(ALICE)
        p.pass_(ALICE_PW)
        self.assertNotIn("XCLIENT", self.capa(p))
        p.quit()
        self.node.wait_log(r"event=pop3_login .*client=192\.0\.2\.55:4242 user=alice@example\.com"
                           r".* ok=1")
        self.node.wait_log(r"event=pop3_logout .*client=192\.0\.2\.55:4242 user=alice@example\.com")

    def test_xclient_failed_login_names_the_forwarded_client(self):
        p = self.connect()
        self.assertEqual(p._shortcmd("XCLIENT ADDR=IPV6:2001:db8::77 PORT=1234"), b"+OK")
        p.user(ALICE)
        self.assert_err(b"[AUTH]", p.pass_, "wrong")
        self.node.wait_log(r"event=pop3_login .*client=\[2001:db8::77\]:1234 user=alice@example\.com"
                           r".* ok=0 outcome=denied")

    def test_xclient_errors(self):
        p = self.connect()
        self.assert_err(b"Invalid arguments", p._shortcmd, "XCLIENT ADDR=not-an-address")
        self.assert_err(b"Invalid arguments", p._shortcmd, "XCLIENT PORT=70000")
        self.assert_err(b"Invalid arguments", p._shortcmd, "XCLIENT")
        p.user(ALICE)
        p.pass_(ALICE_PW)
        # Only before login: a session cannot change its client afterwards.
        self.assert_err(b"Command not valid", p._shortcmd, "XCLIENT ADDR=192.0.2.1")
        p.quit()

    # -- operations ------------------------------------------------------------

    def test_logs_and_metrics(self):
        m = message("logged")
        self.deliver(m)
        p = self.login()
        p.retr(1)
        p.quit()
        self.node.wait_log(r"event=pop3_logout .*user=alice@example.com.*reason=quit retr=1 "
                           rf"retr_bytes={len(m)} top=0 deleted=0")
        self.node.wait_log(r"event=pop3_connect .*client=127\.0\.0\.1:\d+ listener=pop3")
        metrics = self.node.metrics()
        self.assertRegex(metrics, r'postern_connections_total\{service="pop3"\} [1-9]')
        self.assertIn('postern_logins_total{service="pop3",result="ok"}', metrics)
        self.assertIn('postern_pop3_commands_total{command="RETR"}', metrics)


class Pop3IdleTest(unittest.TestCase):
    def test_idle_session_is_closed(self):
        with Slapd() as ldap, Node(ldap, listeners=("pop3",),
                                   listener_overrides={"pop3": {"idle_timeout": 1}}) as node:
            p = poplib.POP3("127.0.0.1", node.port("pop3"), timeout=30)
            p.user(ALICE)
            p.pass_(ALICE_PW)
            start = time.monotonic()
            self.assertEqual(p.file.readline(), b"")  # closed by the server
            self.assertGreater(time.monotonic() - start, 0.5)
            node.wait_log(r"event=pop3_logout .*reason=timeout")
            p.sock.close()


class Pop3DrainTest(unittest.TestCase):
    def test_sigterm_ends_sessions_with_sys_temp(self):
        with Slapd() as ldap, Node(ldap, listeners=("pop3",)) as node:
            r = node.deliver(ALICE, message("drained"))
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            p = poplib.POP3("127.0.0.1", node.port("pop3"), timeout=30)
            p.user(ALICE)
            p.pass_(ALICE_PW)
            p.dele(1)
            node.proc.send_signal(15)
            line = p.file.readline()
            self.assertTrue(line.startswith(b"-ERR [SYS/TEMP] "), line)
            self.assertEqual(node.proc.wait(timeout=15), 0)
            p.file.close()
            p.sock.close()
            # No UPDATE state: the message is still there.
            node.start()
            p = poplib.POP3("127.0.0.1", node.port("pop3"), timeout=30)
            p.user(ALICE)
            p.pass_(ALICE_PW)
            self.assertEqual(p.stat()[0], 1)
            p.quit()


class Pop3UntrustedXclientTest(unittest.TestCase):
    """A node whose trusted_proxies do not include the loopback clients of
    the tests: XCLIENT is neither offered nor obeyed."""

    def test_untrusted_peer_gets_auth_error_and_keeps_its_address(self):
        with Slapd() as ldap, Node(ldap, listeners=("pop3",),
                                   node={"trusted_proxies": ["10.0.0.0/8"]}) as node:
            p = poplib.POP3("127.0.0.1", node.port("pop3"), timeout=30)
            self.assertNotIn("XCLIENT", p.capa())
            with self.assertRaises(poplib.error_proto) as cm:
                p._shortcmd("XCLIENT ADDR=192.0.2.55 PORT=4242")
            self.assertTrue(cm.exception.args[0].startswith(b"-ERR [AUTH] "), cm.exception.args)
            p.user(ALICE)
            p.pass_(ALICE_PW)
            p.quit()
            line = node.wait_log(r"event=pop3_login .*user=alice@example\.com.* ok=1")
            self.assertRegex(line, r"client=127\.0\.0\.1:\d+ ")
            self.assertNotIn("192.0.2.55", node.log())


class ProxiedPOP3(poplib.POP3):
    """poplib behind a load balancer: `header` goes out before anything else."""

    def __init__(self, host, port, header):
        self._header = header
        super().__init__(host, port, timeout=30)

    def _create_socket(self, timeout):
        sock = super()._create_socket(timeout)
        sock.sendall(self._header)
        return sock


def proxy_v2(src, sport, dst, dport):
    block = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack(">H", len(block)) + block


class Pop3ProxyProtocolTest(unittest.TestCase):
    """The node's listeners with the PROXY protocol (core::Listener): "pop3"
    trusts loopback balancers, "imap" only 10.0.0.0/8."""

    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        cls.node = Node(cls.ldap, listeners=("pop3", "imap"), listener_overrides={
            "pop3": {"proxy_protocol": True, "proxy_protocol_from": ["127.0.0.0/8"],
                     "proxy_protocol_timeout": 1},
            "imap": {"proxy_protocol": True, "proxy_protocol_from": ["10.0.0.0/8"]},
        })
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        cls.ldap.cleanup()

    @staticmethod
    def first_line(s):
        """The server's first line, b"" when it closed instead (a reset
        counts: the server closes with the client's bytes unread)."""
        try:
            return s.makefile("rb").readline()
        except ConnectionResetError:
            return b""

    def raw(self, listener="pop3"):
        s = socket.create_connection(("127.0.0.1", self.node.port(listener)), timeout=10)
        self.addCleanup(s.close)
        return s

    def test_v1_header_gives_the_client_address(self):
        p = ProxiedPOP3("127.0.0.1", self.node.port("pop3"),
                        b"PROXY TCP4 203.0.113.9 127.0.0.1 51000 110\r\n")
        self.assertEqual(p.getwelcome(), b"+OK Postern ready.")
        # The client is not on loopback any more: no password before TLS.
        self.assertNotIn("USER", p.capa())
        p.stls(context=self.node.ssl_context())
        p.user(ALICE)
        p.pass_(ALICE_PW)
        p.quit()
        self.node.wait_log(r"event=pop3_connect .*client=203\.0\.113\.9:51000 listener=pop3 "
                           r"tls=none via=127\.0\.0\.1:\d+")
        self.node.wait_log(r"event=pop3_login .*client=203\.0\.113\.9:51000 user=alice@example\.com"
                           r".* ok=1")

    def test_v2_header_gives_the_client_address(self):
        p = ProxiedPOP3("127.0.0.1", self.node.port("pop3"),
                        proxy_v2("198.51.100.4", 52000, "127.0.0.1", 110))
        self.assertEqual(p.getwelcome(), b"+OK Postern ready.")
        with self.assertRaises(poplib.error_proto) as cm:
            p.user(ALICE)
        self.assertIn(b"[AUTH] Plaintext", cm.exception.args[0])
        p.stls(context=self.node.ssl_context())
        p.user(ALICE)
        self.assertRaises(poplib.error_proto, p.pass_, "wrong")
        p.quit()
        self.node.wait_log(r"event=pop3_login .*client=198\.51\.100\.4:52000 user=alice@example\.com"
                           r".* ok=0")

    def test_v2_local_keeps_the_balancer_address(self):
        s = self.raw()
        s.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00")
        self.assertEqual(self.first_line(s), b"+OK Postern ready.\r\n")
        port = s.getsockname()[1]
        self.node.wait_log(rf"event=pop3_connect .*client=127\.0\.0\.1:{port} listener=pop3")

    def test_garbage_is_closed_without_a_greeting(self):
        s = self.raw()
        s.sendall(b"USER alice@example.com\r\n")
        self.assertEqual(self.first_line(s), b"")
        port = s.getsockname()[1]
        self.node.wait_log(rf"event=proxy_protocol_failed listener=pop3 client=127\.0\.0\.1:{port} "
                           r"reason=\"not a PROXY protocol header\"")

    def test_no_header_times_out(self):
        s = self.raw()
        start = time.monotonic()
        self.assertEqual(self.first_line(s), b"")  # no greeting: the header comes first
        self.assertGreater(time.monotonic() - start, 0.8)
        port = s.getsockname()[1]
        self.node.wait_log(rf"event=proxy_protocol_failed listener=pop3 client=127\.0\.0\.1:{port} "
                           r"reason=timeout")

    def test_balancer_outside_proxy_protocol_from_is_closed(self):
        s = self.raw("imap")
        s.sendall(b"PROXY TCP4 203.0.113.9 127.0.0.1 51000 143\r\n")
        self.assertEqual(self.first_line(s), b"")
        port = s.getsockname()[1]
        self.node.wait_log(rf"event=proxy_protocol_refused listener=imap client=127\.0\.0\.1:{port} "
                           r"reason=untrusted")


if __name__ == "__main__":
    unittest.main()
