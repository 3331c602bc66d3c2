"""SMTP receiving and submission on a node (backend/smtp), with the queue
delivering into this node's store and to another node: real slapd, two real
postern-node processes, Python's smtplib and imaplib, and swaks."""

import base64
import imaplib
import os
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
import unittest

from lib.node import Node
from lib.ports import free_port
from lib.slapd import Slapd

USERS = {"alice": "alice@example.com", "bob": "bob@example.com",
         "carol": "carol@example.org", "dave": "dave@example.com"}


def smtp_settings(**overrides):
    s = {"hostname": "node.test", "local_domains": ["example.com", "example.org"],
         "relay_networks": [], "max_message_size": 200000, "max_received": 30, "spf": "ignore"}
    s.update(overrides)
    return s


def dead_dns():
    """A resolver that asks a loopback port nobody answers: tests never query
    the outside world."""
    return {"nameservers": [{"address": f"127.0.0.1:{free_port()}", "priority": 1}],
            "timeout": 0.5, "retries": 0}


def start_cluster(ldap, smtp=None, queue=None, node_overrides=None):
    """node1 (smtp, submission, submissions, imap) and node2 (smtp, imap),
    each relaying to the other's SMTP listener."""
    nodes = []
    for name, listeners in (("node1", ("imap", "smtp", "submission", "submissions")),
                            ("node2", ("imap", "smtp"))):
        nodes.append(Node(ldap, name=name, listeners=listeners, node=node_overrides,
                          listener_overrides={"smtp": {"errors": {"max_bad_commands": 5}}},
                          extra={"smtp": smtp or smtp_settings(), "dns": dead_dns(),
                                 "queue": queue or {"retry_schedule": [1]}}))
    cluster = {n.name: {"smtp": f"127.0.0.1:{n.port('smtp')}"} for n in nodes}
    for n in nodes:
        n.update_extra({"cluster": cluster})
        n.start()
    return nodes


def inbox(node, user, mailbox="INBOX"):
    """Every message in `user`'s mailbox, over IMAP."""
    imap = imaplib.IMAP4("127.0.0.1", node.port("imap"))
    try:
        imap.login(USERS[user], Slapd.user_password(user))
        typ, data = imap.select(mailbox, readonly=True)
        assert typ == "OK", data
        count = int(data[0])
        if count == 0:
            return []
        typ, data = imap.fetch(f"1:{count}", "(BODY.PEEK[])")
        return [part[1] for part in data if isinstance(part, tuple)]
    finally:
        imap.logout()


def wait_subject(node, user, subject, timeout=15):
    """The messages in `user`'s INBOX with this Subject, once there is one
    (or [] after `timeout` seconds)."""
    needle = b"Subject: " + subject.encode() + b"\r\n"
    deadline = time.monotonic() + timeout
    while True:
        got = [m for m in inbox(node, user) if needle in m]
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def message(subject, sender="someone@remote.test", to="alice@example.com", extra=b""):
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n".encode() + extra +
            b"\r\nHello.\r\n")


class RawSmtp:
    """A line-level SMTP client for what smtplib will not send."""

    def __init__(self, port, tls_context=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls_context is not None:
            self.sock = tls_context.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.greeting = self.reply()

    def send(self, data: bytes):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def reply(self):
        """The reply as (code, [lines])."""
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def closed(self):
        try:
            self.sock.settimeout(5)
            return self.sock.recv(1) == b""
        except OSError:
            return True

    def close(self):
        self.sock.close()


class SmtpReceivingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        cls.node1, cls.node2 = start_cluster(cls.ldap)

    @classmethod
    def tearDownClass(cls):
        for n in (cls.node1, cls.node2):
            n.cleanup()
        cls.ldap.cleanup()

    def smtp(self, node=None, listener="smtp"):
        s = smtplib.SMTP("127.0.0.1", (node or self.node1).port(listener), timeout=15)
        s.ehlo("client.test")
        return s

    def test_ehlo_lists_the_extensions(self):
        s = self.smtp()
        for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes", "starttls", "dsn",
                    "smtputf8"):
            self.assertTrue(s.has_extn(ext), ext)
        self.assertEqual(s.esmtp_features["size"], "200000")
        # Port 25's rules: no AUTH on the receiving listener.
        self.assertFalse(s.has_extn("auth"))
        s.quit()
        sub = self.smtp(listener="submission")
        self.assertIn("PLAIN", sub.esmtp_features.get("auth", ""))
        self.assertIn("LOGIN", sub.esmtp_features.get("auth", ""))
        sub.quit()

    def test_message_for_two_nodes_lands_in_both_mailboxes(self):
        s = self.smtp()
        refused = s.sendmail("someone@remote.test", ["alice@example.com", "bob@example.com"],
                             message("two nodes", to="alice@example.com, bob@example.com"))
        self.assertEqual(refused, {})
        s.quit()
        alice = wait_subject(self.node1, "alice", "two nodes")
        bob = wait_subject(self.node2, "bob", "two nodes")
        self.assertEqual(len(alice), 1)
        self.assertEqual(len(bob), 1)
        # Our trace field, and node2's when the message went through it.
        self.assertRegex(alice[0], rb"^Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n"
                                   rb"\tby node\.test \(Postern\) with ESMTP")
        self.assertEqual(bob[0].count(b"Received: "), 2)
        self.node1.wait_log(r"queue_delivery.*bob@example\.com.*route=node")

    def test_queue_id_in_the_reply_and_log(self):
        s = self.smtp()
        s.mail("someone@remote.test")
        s.rcpt("carol@example.org")
        code, text = s.data(message("queued", to="carol@example.org"))
        self.assertEqual(code, 250)
        m = re.match(rb"2\.0\.0 Ok: queued as ([0-9A-F]+)$", text)
        self.assertIsNotNone(m, text)
        s.quit()
        self.node1.wait_log(r"smtp_queued .*id=" + m.group(1).decode())
        got = wait_subject(self.node1, "carol", "queued")
        self.assertEqual(len(got), 1)

    def test_unqualified_recipient_means_the_primary_domain(self):
        s = self.smtp()
        s.mail("someone@remote.test")
        self.assertEqual(s.rcpt("alice")[0], 250)
        self.assertEqual(s.data(message("unqualified"))[0], 250)
        s.quit()
        got = wait_subject(self.node1, "alice", "unqualified")
        self.assertEqual(len(got), 1)

    def test_unknown_user_is_refused_at_rcpt(self):
        s = self.smtp()
        s.mail("someone@remote.test")
        code, text = s.rcpt("nobody@example.com")
        self.assertEqual(code, 550)
        self.assertTrue(text.startswith(b"5.1.1"), text)
        # The transaction goes on for the good recipient.
        self.assertEqual(s.rcpt("alice@example.com")[0], 250)
        s.rset()
        s.quit()

    def test_relay_is_denied_without_auth_or_trusted_network(self):
        s = self.smtp()
        s.mail("someone@remote.test")
        code, text = s.rcpt("victim@elsewhere.test")
        self.assertEqual(code, 554)
        self.assertTrue(text.startswith(b"5.7.1"), text)
        self.assertIn(b"Relay access denied", text)
        s.quit()

    def test_syntax_and_sequence_errors(self):
        c = RawSmtp(self.node1.port("smtp"))
        self.assertEqual(c.greeting[0], 220)
        self.assertEqual(c.cmd("FOO bar")[0], 500)
        code, lines = c.cmd("MAIL FROM:<a@b.test>")
        self.assertEqual(code, 503)  # before EHLO
        self.assertIn("5.5.1", lines[0])
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.com>")[0], 503)  # before MAIL
        self.assertEqual(c.cmd("DATA")[0], 503)
        c.close()
        # The listener allows 5 errors per session: a new one for the rest.
        c = RawSmtp(self.node1.port("smtp"))
        c.cmd("EHLO client.test")
        self.assertEqual(c.cmd("MAIL FROM:a@b.test")[0], 501)  # no angle brackets
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> FOO=1")[0], 555)
        self.assertEqual(c.cmd("MAIL FROM:<a@b.test> BODY=BINARYMIME")[0], 504)
        self.assertEqual(c.cmd("HELO")[0], 501)
        c.close()

    def test_too_many_errors_end_the_session_with_421(self):
        c = RawSmtp(self.node1.port("smtp"))
        codes = [c.cmd("NONSENSE")[0] for _ in range(4)]
        self.assertEqual(codes, [500] * 4)
        c.send(b"NONSENSE\r\n")
        self.assertEqual(c.reply()[0], 500)
        code, lines = c.reply()
        self.assertEqual(code, 421)
        self.assertIn("4.7.0", lines[0])
        self.assertTrue(c.closed())

    def test_size_limits(self):
        s = self.smtp()
        code, text = s.mail("someone@remote.test", ["SIZE=300000"])
        self.assertEqual(code, 552)
        self.assertTrue(text.startswith(b"5.3.4"), text)
        # A message bigger than announced (or not announced) is read to its
        # end and then refused.
        s.mail("someone@remote.test")
        s.rcpt("alice@example.com")
        code, text = s.data(message("big", extra=b"X-Pad: " + b"x" * 250000 + b"\r\n"))
        self.assertEqual(code, 552)
        self.assertTrue(text.startswith(b"5.3.4"), text)
        # The session is still usable.
        self.assertEqual(s.noop()[0], 250)
        s.quit()

    def test_too_many_received_headers_is_a_loop(self):
        hops = b"".join(b"Received: from hop%d by hop%d; date\r\n" % (i, i + 1) for i in range(31))
        s = self.smtp()
        s.mail("someone@remote.test")
        s.rcpt("alice@example.com")
        code, text = s.data(hops + message("loop"))
        self.assertEqual(code, 554)
        self.assertTrue(text.startswith(b"5.4.6"), text)
        # 30 are still fine.
        hops30 = b"".join(b"Received: from hop%d by x; date\r\n" % i for i in range(30))
        s.mail("someone@remote.test")
        s.rcpt("alice@example.com")
        self.assertEqual(s.data(hops30 + message("thirty hops"))[0], 250)
        s.quit()

    def test_pipelined_transaction(self):
        c = RawSmtp(self.node1.port("smtp"))
        c.cmd("EHLO client.test")
        c.send(b"MAIL FROM:<p@remote.test>\r\nRCPT TO:<nobody@example.com>\r\n"
               b"RCPT TO:<alice@example.com>\r\nDATA\r\n")
        self.assertEqual([c.reply()[0] for _ in range(4)], [250, 550, 250, 354])
        c.send(message("pipelined") + b".\r\nNOOP\r\nQUIT\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 221)
        c.close()
        got = wait_subject(self.node1, "alice", "pipelined")
        self.assertEqual(len(got), 1)

    def test_bare_lf_dot_does_not_end_the_message(self):
        c = RawSmtp(self.node1.port("smtp"))
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<p@remote.test>")
        c.cmd("RCPT TO:<alice@example.com>")
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: smuggle\r\n\r\nfirst\n.\nMAIL FROM:<evil@remote.test>\r\n.\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        got = wait_subject(self.node1, "alice", "smuggle")
        self.assertEqual(len(got), 1)
        self.assertIn(b"MAIL FROM:<evil@remote.test>", got[0])

    def test_vrfy_says_nothing_and_help_noop_rset_work(self):
        c = RawSmtp(self.node1.port("smtp"))
        c.cmd("EHLO client.test")
        self.assertEqual(c.cmd("VRFY alice")[0], 252)
        self.assertEqual(c.cmd("VRFY nobody")[0], 252)
        self.assertEqual(c.cmd("HELP")[0], 214)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_starttls_and_received_shows_tls(self):
        s = self.smtp()
        s.starttls(context=self.node1.ssl_context())
        s.ehlo("client.test")
        self.assertFalse(s.has_extn("starttls"))
        s.sendmail("someone@remote.test", ["alice@example.com"], message("over tls"))
        s.quit()
        got = wait_subject(self.node1, "alice", "over tls")
        self.assertEqual(len(got), 1)
        self.assertRegex(got[0], rb"with ESMTPS \(TLSv1\.[23] ")

    def test_submission_requires_auth_and_own_sender(self):
        sub = self.smtp(listener="submission")
        code, text = sub.mail("alice@example.com")
        self.assertEqual(code, 530)
        self.assertTrue(text.startswith(b"5.7.0"), text)
        with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
            sub.login("alice@example.com", "wrong")
        self.assertEqual(e.exception.smtp_code, 535)
        sub.close()
        sub = self.smtp(listener="submission")
        sub.login("alice@example.com", Slapd.user_password("alice"))
        # Not her address: refused.
        code, text = sub.mail("bob@example.com")
        self.assertEqual(code, 553)
        self.assertTrue(text.startswith(b"5.7.1"), text)
        # Her alias is hers; and with AUTH she may send anywhere (queued by MX).
        self.assertEqual(sub.mail("alice.liddell@example.com")[0], 250)
        self.assertEqual(sub.rcpt("bob@example.com")[0], 250)
        self.assertEqual(sub.rcpt("friend@elsewhere.test")[0], 250)
        self.assertEqual(sub.data(message("from alice", sender="alice.liddell@example.com",
                                          to="bob@example.com"))[0], 250)
        sub.quit()
        got = wait_subject(self.node2, "bob", "from alice")
        self.assertEqual(len(got), 1)
        self.assertIn(b"with ESMTPA", got[0])

    def test_auth_login_and_implicit_tls_submission(self):
        ctx = self.node1.ssl_context()
        s = smtplib.SMTP_SSL("127.0.0.1", self.node1.port("submissions"), context=ctx,
                             timeout=15)
        s.ehlo("client.test")
        s.user, s.password = "carol@example.org", Slapd.user_password("carol")
        code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        self.assertEqual(code, 235)
        s.sendmail("carol@example.org", ["alice@example.com"],
                   message("from carol", sender="carol@example.org"))
        s.quit()
        got = wait_subject(self.node1, "alice", "from carol")
        self.assertEqual(len(got), 1)
        self.assertIn(b"with ESMTPSA (TLSv1.", got[0])

    def test_auth_plain_cancel_and_bad_base64(self):
        c = RawSmtp(self.node1.port("submission"))
        c.cmd("EHLO client.test")
        self.assertEqual(c.cmd("AUTH PLAIN")[0], 334)
        self.assertEqual(c.cmd("*")[0], 501)
        self.assertEqual(c.cmd("AUTH PLAIN !!!notbase64")[0], 501)
        self.assertEqual(c.cmd("AUTH CRAM-MD5")[0], 504)
        token = base64.b64encode(b"\0alice@example.com\0" +
                                 Slapd.user_password("alice").encode()).decode()
        self.assertEqual(c.cmd("AUTH PLAIN " + token)[0], 235)
        self.assertEqual(c.cmd("AUTH PLAIN " + token)[0], 503)  # already
        c.cmd("QUIT")

    def test_auth_is_not_offered_on_the_receiving_listener(self):
        c = RawSmtp(self.node1.port("smtp"))
        c.cmd("EHLO client.test")
        self.assertEqual(c.cmd("AUTH PLAIN AGFsaWNlAHg=")[0], 503)
        c.cmd("QUIT")

    def test_swaks_sends_a_message(self):
        if shutil.which("swaks") is None:
            self.skipTest("swaks is not installed (scripts/setup installs it)")
        out = subprocess.run(
            ["swaks", "--server", "127.0.0.1", "--port", str(self.node1.port("smtp")),
             "--from", "someone@remote.test", "--to", "carol@example.org",
             "--header", "Subject: via swaks", "--body", "Hello from swaks.",
             "--helo", "swaks.test"],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertRegex(out.stdout, r"<-\s+250 2\.0\.0 Ok: queued as [0-9A-F]+")
        got = wait_subject(self.node1, "carol", "via swaks")
        self.assertEqual(len(got), 1)

    def test_metrics_count_messages_and_rejects(self):
        s = self.smtp()
        s.mail("someone@remote.test")
        s.rcpt("nobody@example.com")
        s.quit()
        text = self.node1.metrics()
        self.assertRegex(text, r'postern_smtp_rejects_total\{reason="unknown_user"\} [1-9]')
        self.assertRegex(text, r'postern_sessions\{service="smtp"\} \d')


class SmtpXclientTest(unittest.TestCase):
    """XCLIENT from a trusted proxy sets the client; from anyone else it is refused."""

    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()

    @classmethod
    def tearDownClass(cls):
        cls.ldap.cleanup()

    def test_trusted_proxy_sets_client_address_and_login(self):
        node1, node2 = start_cluster(self.ldap)
        try:
            c = RawSmtp(node1.port("smtp"))
            code, lines = c.cmd("EHLO proxy.test")
            self.assertTrue(any("XCLIENT" in l for l in lines), lines)
            self.assertEqual(c.cmd("XCLIENT ADDR=192.0.2.7 HELO=outside.test")[0], 220)
            c.cmd("EHLO outside.test")
            c.cmd("MAIL FROM:<x@remote.test>")
            # 192.0.2.7 is not a relay network: relaying is still refused.
            self.assertEqual(c.cmd("RCPT TO:<x@elsewhere.test>")[0], 554)
            self.assertEqual(c.cmd("RCPT TO:<alice@example.com>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(message("xclient") + b".\r\n")
            self.assertEqual(c.reply()[0], 250)
            # LOGIN: the proxy authenticated the user, who may relay.
            self.assertEqual(c.cmd("XCLIENT LOGIN=alice@example.com")[0], 220)
            c.cmd("EHLO outside.test")
            self.assertEqual(c.cmd("MAIL FROM:<alice@example.com>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<x@elsewhere.test>")[0], 250)
            c.cmd("QUIT")
            got = wait_subject(node1, "alice", "xclient")
            self.assertEqual(len(got), 1)
            self.assertIn(b"Received: from outside.test ([192.0.2.7])", got[0])
        finally:
            node1.cleanup()
            node2.cleanup()

    def test_untrusted_client_gets_550(self):
        node1, node2 = start_cluster(self.ldap, node_overrides={"trusted_proxies": ["10.0.0.0/8"]})
        try:
            c = RawSmtp(node1.port("smtp"))
            code, lines = c.cmd("EHLO client.test")
            self.assertFalse(any("XCLIENT" in l for l in lines), lines)
            code, lines = c.cmd("XCLIENT ADDR=192.0.2.7")
            self.assertEqual(code, 550)
            self.assertIn("5.7.0", lines[0])
            c.cmd("QUIT")
        finally:
            node1.cleanup()
            node2.cleanup()


class SmtpDirectoryDownTest(unittest.TestCase):
    def test_lookup_failure_is_a_temporary_451(self):
        ldap = Slapd()
        ldap.start()
        node1, node2 = start_cluster(ldap)
        try:
            ldap.stop()
            s = smtplib.SMTP("127.0.0.1", node1.port("smtp"), timeout=30)
            s.ehlo("client.test")
            s.mail("someone@remote.test")
            code, text = s.rcpt("alice@example.com")
            self.assertEqual(code, 451)
            self.assertTrue(text.startswith(b"4.3.0"), text)
            s.quit()
        finally:
            node1.cleanup()
            node2.cleanup()
            ldap.cleanup()


if __name__ == "__main__":
    unittest.main()
