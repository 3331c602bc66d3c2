"""Pipelined commands on the node's IMAP server: the answers of one batch of
input leave in one write when a later command of the batch runs
asynchronously (the proxy's ID + LOGIN costs it one wake-up, not two), and
nothing is held while the client has to answer (a continuation request).

Each check reads with ONE recv(): on loopback, one write by the node arrives
whole, two writes a moment apart arrive as two reads."""

import base64
import unittest

from lib.imap_client import RawImap
from lib.node import Node
from lib.slapd import Slapd

ALICE = "alice@example.com"
PASSWORD = Slapd.user_password("alice")
TOKEN = "Pipe0123456789abcdefABCDEF"  # a reuse token: 26 characters of [0-9A-Za-z]


class PipeliningTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        # The default trusted_proxies (loopback): this client may send what
        # the proxy sends.
        cls.node = Node(cls.ldap, listeners=("imap",))
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.node.cleanup()
        cls.ldap.cleanup()

    def raw(self):
        r = RawImap(self.node.port("imap"))
        self.addCleanup(r.close)
        return r

    def one_read(self, r, data: bytes) -> str:
        """Sends `data` in one write and returns what ONE recv() brings."""
        self.assertEqual(r.buf, b"", "bytes left over before the batch")
        r.send(data)
        r.sock.settimeout(20)
        chunk = r.sock.recv(1 << 20)
        self.assertTrue(chunk, "the node closed the connection")
        return chunk.decode("utf-8", "replace")

    def assert_tagged(self, text, tag, status="OK"):
        self.assertRegex(text, rf"(^|\r\n){tag} {status} [^\r\n]*\r\n", text)

    def test_id_and_login_answered_in_one_write(self):
        r = self.raw()
        got = self.one_read(r, f'a ID NIL\r\nb LOGIN "{ALICE}" "{PASSWORD}"\r\n'.encode())
        self.assert_tagged(got, "a")
        self.assert_tagged(got, "b")
        self.assertIn("* ID (", got)
        _, tagged = r.command("NOOP")  # the session goes on normally
        self.assertIn(" OK ", tagged)

    def test_proxy_id_and_sasl_ir_answered_in_one_write(self):
        # What the proxy sends a node: its ID (client address, reuse token)
        # and the user's AUTHENTICATE PLAIN with an initial response.
        r = self.raw()
        ir = base64.b64encode(f"\0{ALICE}\0{PASSWORD}".encode()).decode()
        got = self.one_read(
            r, (f'p1 ID ("x-originating-ip" "192.0.2.7" "x-originating-port" "40000" '
                f'"x-postern-reuse" "{TOKEN}")\r\np2 AUTHENTICATE PLAIN {ir}\r\n').encode())
        self.assertIn('"x-postern-reuse" "accepted"', got)
        self.assert_tagged(got, "p1")
        self.assert_tagged(got, "p2")

    def test_noop_and_login_answered_in_one_write(self):
        r = self.raw()
        got = self.one_read(r, f'a NOOP\r\nb LOGIN "{ALICE}" "{PASSWORD}"\r\n'.encode())
        self.assert_tagged(got, "a")
        self.assert_tagged(got, "b")

    def test_failed_login_after_noop_answered_in_one_write(self):
        # The failed-login pause holds the NOOP's answer a second, no more.
        r = self.raw()
        got = self.one_read(r, f'a NOOP\r\nb LOGIN "{ALICE}" "wrong"\r\n'.encode())
        self.assert_tagged(got, "a")
        self.assert_tagged(got, "b", "NO")

    def test_commands_after_login_in_the_same_batch(self):
        r = self.raw()
        r.send(f'a ID NIL\r\nb LOGIN "{ALICE}" "{PASSWORD}"\r\nc SELECT INBOX\r\n'
               "d NOOP\r\ne LOGOUT\r\n".encode())
        for tag in ["a", "b", "c", "d", "e"]:
            _, tagged = r.wait(tag)
            self.assertIn(" OK ", tagged)
        r.sock.settimeout(20)
        self.assertEqual(r.sock.recv(100), b"")  # closed after the LOGOUT

    def test_continuation_is_not_held(self):
        # AUTHENTICATE without an initial response: the client must answer
        # the "+ ", so the ID's answer and the "+ " come without more input.
        r = self.raw()
        got = self.one_read(r, b"a ID NIL\r\nb AUTHENTICATE PLAIN\r\n")
        self.assert_tagged(got, "a")
        self.assertRegex(got, r"(^|\r\n)\+ [^\r\n]*\r\n$")
        ir = base64.b64encode(f"\0{ALICE}\0{PASSWORD}".encode()).decode()
        r.send(f"{ir}\r\n".encode())
        _, tagged = r.wait("b")
        self.assertIn(" OK ", tagged)

    def test_idle_after_login_is_not_held(self):
        r = self.raw()
        r.send(f'a NOOP\r\nb LOGIN "{ALICE}" "{PASSWORD}"\r\nc SELECT INBOX\r\n'
               "d IDLE\r\n".encode())
        for tag in ["a", "b", "c"]:
            _, tagged = r.wait(tag)
            self.assertIn(" OK ", tagged)
        line = r.read_line()
        while line.startswith(b"* "):  # news found by the IDLE's first look
            line = r.read_line()
        self.assertTrue(line.startswith(b"+ "), line)
        r.send(b"DONE\r\n")
        _, tagged = r.wait("d")
        self.assertIn(" OK ", tagged)

    def test_literal_continuation_after_login_is_not_held(self):
        # A synchronising literal after an asynchronous LOGIN: everything
        # held goes out with the "+" the client waits for.
        r = self.raw()
        msg = b"Subject: pipelined\r\n\r\nbody\r\n"
        got = self.one_read(r, (f'a NOOP\r\nb LOGIN "{ALICE}" "{PASSWORD}"\r\n'
                                f"c APPEND INBOX {{{len(msg)}}}\r\n").encode())
        self.assert_tagged(got, "a")
        self.assert_tagged(got, "b")
        self.assertRegex(got, r"\r\n\+ [^\r\n]*\r\n$")
        r.send(msg + b"\r\n")
        _, tagged = r.wait("c")
        self.assertIn(" OK ", tagged)


if __name__ == "__main__":
    unittest.main()


class FullWorkerQueueTest(unittest.TestCase):
    """One worker and a queue of one: many sessions in a selected mailbox
    find the queue full now and then. A command is then answered without
    the mailbox's news (the next one looks again), and the node stays up."""

    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        cls.node = Node(cls.ldap, listeners=("imap",),
                        node={"threads": 1, "worker_threads": 1, "worker_queue": 1})
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.node.cleanup()
        cls.ldap.cleanup()

    def test_commands_are_answered_when_the_queue_is_full(self):
        import imaplib
        import threading

        failures = []
        noops = []

        def client():
            try:
                imap = imaplib.IMAP4("127.0.0.1", self.node.port("imap"))
                # A login or SELECT that finds the queue full is refused in
                # IMAP's words; the client tries again.
                for step in (lambda: imap.login(ALICE, PASSWORD), lambda: imap.select("INBOX")):
                    for _ in range(50):
                        try:
                            step()
                            break
                        except imaplib.IMAP4.error as e:
                            if b"[UNAVAILABLE]" not in str(e).encode():
                                raise
                for _ in range(40):
                    typ, _ = imap.noop()
                    if typ != "OK":
                        failures.append(typ)
                    noops.append(1)
                imap.logout()
            except Exception as e:  # a node that died shows here
                failures.append(repr(e))

        threads = [threading.Thread(target=client) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(failures, [])
        self.assertEqual(len(noops), 12 * 40)
        self.assertIsNone(self.node.proc.poll(), "the node exited")
