"""Outgoing mail and SPF, end to end: a node delivers by MX to an aiosmtpd
server on loopback, with the MX, A and TXT records served by a local dnsmasq
configured as the node's nameserver; retries, DSNs, posternctl queue; SPF
pass, fail and softfail from dnsmasq TXT records."""

import email
import smtplib
import time
import unittest

from lib.dnsmasq import Dnsmasq, SilentDns
from lib.node import Node
from lib.postern import posternctl
from lib.slapd import Slapd
from lib.smtp_sink import SmtpSink
from test_smtp import message, smtp_settings, wait_subject

RECORDS = {
    "remote.test": {"mx": [(10, "mx.remote.test")], "txt": ["v=spf1 ip4:127.0.0.1 -all"]},
    "mx.remote.test": {"a": ["127.0.0.1"]},
    "soft.test": {"txt": ["v=spf1 ip4:192.0.2.1 ~all"], "a": ["192.0.2.1"]},
    "strict.test": {"txt": ["v=spf1 ip4:192.0.2.1 -all"], "a": ["192.0.2.1"]},
}


def submit(node, sender, recipients, msg, user="alice"):
    s = smtplib.SMTP("127.0.0.1", node.port("submission"), timeout=30)
    s.ehlo("client.test")
    s.login(f"{user}@example.com", Slapd.user_password(user))
    refused = s.sendmail(sender, recipients, msg)
    s.quit()
    return refused


class DeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        cls.dns = Dnsmasq(RECORDS)
        cls.dns.start()
        cls.sink = SmtpSink()
        cls.sink.start()

    @classmethod
    def tearDownClass(cls):
        cls.sink.stop()
        cls.dns.cleanup()
        cls.ldap.cleanup()

    def setUp(self):
        self.sink.messages.clear()
        self.sink.rcpt_replies.clear()
        if not self.sink.running:
            self.sink.start()

    def node(self, queue=None, smtp=None):
        n = Node(self.ldap, listeners=("imap", "smtp", "submission"),
                 extra={"smtp": smtp or smtp_settings(), "dns": self.dns.config(),
                        "queue": queue or {"retry_schedule": [1]},
                        "smtp_client": {"port": self.sink.port, "reuse_idle": 0}})
        n.update_extra({"cluster": {"node1": {"smtp": f"127.0.0.1:{n.port('smtp')}"}}})
        n.start()
        self.addCleanup(n.cleanup)
        return n

    def queue_list(self, node):
        out = posternctl(node.config_path, "queue", "list")
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def test_outside_domain_is_delivered_by_mx(self):
        node = self.node()
        submit(node, "alice@example.com", ["friend@remote.test"],
               message("by mx", sender="alice@example.com", to="friend@remote.test"))
        got = self.sink.wait_messages(1)[0]
        self.assertEqual(got.mail_from, "alice@example.com")
        self.assertEqual(got.rcpt_tos, ["friend@remote.test"])
        self.assertIn(b"Subject: by mx", got.data)
        node.wait_log(r"event=queue_delivery .*to=friend@remote\.test .*result=delivered")
        self.assertIn("empty", self.queue_list(node))

    def test_destination_down_then_up_is_delivered_after_retry(self):
        node = self.node(queue={"retry_schedule": [1]})
        self.sink.stop()
        submit(node, "alice@example.com", ["later@remote.test"],
               message("retried", sender="alice@example.com", to="later@remote.test"))
        node.wait_log(r"event=queue_delivery .*to=later@remote\.test .*result=deferred", timeout=20)
        listing = self.queue_list(node)
        self.assertIn("later@remote.test", listing)
        self.sink.start()
        out = posternctl(node.config_path, "queue", "flush")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        got = self.sink.wait_messages(1, timeout=30)[0]
        self.assertIn(b"Subject: retried", got.data)
        deadline = time.monotonic() + 10
        while "empty" not in self.queue_list(node) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertIn("empty", self.queue_list(node))

    def test_past_the_horizon_the_sender_gets_a_dsn(self):
        node = self.node(queue={"retry_schedule": [1], "max_lifetime": 2})
        self.sink.stop()
        submit(node, "alice@example.com", ["gone@remote.test"],
               message("never arrives", sender="alice@example.com", to="gone@remote.test"))
        dsn = self.wait_dsn(node, "alice")
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        self.assertEqual(dsn.get_param("report-type"), "delivery-status")
        status = [p for p in dsn.walk() if p.get_content_type() == "message/delivery-status"]
        self.assertEqual(len(status), 1)
        text = status[0].as_string()
        self.assertIn("gone@remote.test", text)
        self.assertRegex(text, r"Action: failed")
        # Given up after temporary failures (RFC 3463 X.4.x: network and routing).
        self.assertRegex(text, r"Status: [45]\.4\.\d+")
        self.assertIn("Diagnostic-Code: smtp; 451 4.4.1", text)
        self.assertIn("empty", self.queue_list(node))

    def test_permanent_failure_bounces_at_once_but_never_to_the_null_sender(self):
        node = self.node()
        self.sink.rcpt_replies["nobody@remote.test"] = "550 5.1.1 no such user here"
        submit(node, "alice@example.com", ["nobody@remote.test"],
               message("refused", sender="alice@example.com", to="nobody@remote.test"))
        dsn = self.wait_dsn(node, "alice")
        text = dsn.as_string()
        self.assertIn("Status: 5.1.1", text)
        self.assertIn("550 5.1.1 no such user here", text)
        # The same failure for a message from the null sender: dropped, no DSN.
        submit(node, "", ["nobody@remote.test"], message("null sender", sender="<>"))
        node.wait_log(r"event=queue_bounce_dropped .*reason=\"null sender\"", timeout=20)
        dsns = wait_subject(node, "alice", "Undelivered Mail Returned to Sender", timeout=0.1)
        self.assertEqual(len(dsns), 1)

    def wait_dsn(self, node, user, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            from test_smtp import inbox
            for raw in inbox(node, user):
                msg = email.message_from_bytes(raw)
                if msg.get_content_type() == "multipart/report":
                    return msg
            time.sleep(0.2)
        self.fail(f"no DSN for {user} after {timeout}s:\n{node.log()[-3000:]}")

    def test_queue_delete(self):
        node = self.node(queue={"retry_schedule": [3600]})
        self.sink.stop()
        submit(node, "alice@example.com", ["deleted@remote.test"],
               message("deleted", sender="alice@example.com", to="deleted@remote.test"))
        node.wait_log(r"event=queue_delivery .*to=deleted@remote\.test .*result=deferred", timeout=20)
        listing = self.queue_list(node)
        ids = [line.split()[0] for line in listing.splitlines() if "deleted@remote.test" in line]
        if not ids:  # the id may be on the message's first line
            ids = [w for w in listing.split() if len(w) >= 12 and all(c in "0123456789ABCDEF" for c in w)]
        self.assertTrue(ids, listing)
        out = posternctl(node.config_path, "queue", "delete", ids[0])
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("empty", self.queue_list(node))
        self.assertEqual(posternctl(node.config_path, "queue", "delete", ids[0]).returncode, 67)
        self.assertEqual(posternctl(node.config_path, "queue", "delete", "../etc").returncode, 64)

    def spf_session(self, node, sender):
        s = smtplib.SMTP("127.0.0.1", node.port("smtp"), timeout=30)
        s.ehlo("client.test")
        # Pretend to be an outside client through XCLIENT (loopback is a trusted proxy).
        code, _ = s.docmd("XCLIENT", "ADDR=192.0.2.99 HELO=client.test")
        self.assertEqual(code, 220)
        s.ehlo("client.test")
        return s

    def test_spf_pass_fail_softfail(self):
        node = self.node(smtp=smtp_settings(spf="reject"))
        # remote.test allows 127.0.0.1 only: 192.0.2.99 fails, and "reject" refuses it.
        s = self.spf_session(node, "x@remote.test")
        code, text = s.mail("x@remote.test")
        self.assertEqual(code, 550)
        self.assertTrue(text.startswith(b"5.7.23"), text)
        # soft.test ends in ~all: accepted and tagged softfail.
        self.assertEqual(s.mail("x@soft.test")[0], 250)
        self.assertEqual(s.rcpt("alice@example.com")[0], 250)
        self.assertEqual(s.data(message("softfail", sender="x@soft.test"))[0], 250)
        s.quit()
        got = wait_subject(node, "alice", "softfail")
        self.assertEqual(len(got), 1)
        self.assertIn(b"Received-SPF: softfail", got[0])
        # From 127.0.0.1 itself remote.test passes.
        s = smtplib.SMTP("127.0.0.1", node.port("smtp"), timeout=30)
        s.ehlo("client.test")
        s.sendmail("x@remote.test", ["alice@example.com"], message("spf pass", sender="x@remote.test"))
        s.quit()
        got = wait_subject(node, "alice", "spf pass")
        self.assertEqual(len(got), 1)
        self.assertIn(b"Received-SPF: pass", got[0])

    def test_spf_tag_policy_accepts_a_fail_and_records_it(self):
        node = self.node(smtp=smtp_settings(spf="tag"))
        s = self.spf_session(node, "x@strict.test")
        self.assertEqual(s.mail("x@strict.test")[0], 250)
        s.rcpt("alice@example.com")
        self.assertEqual(s.data(message("tagged fail", sender="x@strict.test"))[0], 250)
        s.quit()
        got = wait_subject(node, "alice", "tagged fail")
        self.assertEqual(len(got), 1)
        self.assertIn(b"Received-SPF: fail", got[0])


class SpfTimeoutTest(unittest.TestCase):
    def test_dns_that_never_answers_gives_temperror_after_spf_timeout(self):
        with Slapd() as ldap, SilentDns() as silent:
            node = Node(ldap, listeners=("imap", "smtp"),
                        extra={"smtp": smtp_settings(spf="reject", spf_timeout=1),
                               "dns": {"nameservers": [{"address": f"127.0.0.1:{silent.port}",
                                                        "priority": 1}],
                                       "timeout": 5, "retries": 2}})
            node.start()
            try:
                s = smtplib.SMTP("127.0.0.1", node.port("smtp"), timeout=30)
                s.ehlo("client.test")
                started = time.monotonic()
                # Not a fail: accepted even with "reject", and tagged temperror.
                self.assertEqual(s.mail("x@slow.test")[0], 250)
                self.assertLess(time.monotonic() - started, 4)
                s.rcpt("alice@example.com")
                self.assertEqual(s.data(message("slow spf", sender="x@slow.test"))[0], 250)
                s.quit()
                got = wait_subject(node, "alice", "slow spf")
                self.assertEqual(len(got), 1)
                self.assertIn(b"Received-SPF: temperror", got[0])
            finally:
                node.cleanup()


if __name__ == "__main__":
    unittest.main()
