"""The SMTP sink fixture itself (lib/smtp_sink.py): what the MX and relay
tests rely on, checked with smtplib."""

import smtplib
import ssl
import unittest

from lib.node import test_certificate
from lib.smtp_sink import SmtpSink


class SmtpSinkTest(unittest.TestCase):
    def test_records_rejects_and_restarts(self):
        with SmtpSink() as sink:
            sink.rcpt_replies["nobody@example.org"] = "550 5.1.1 no such user"
            sink.rcpt_replies["later@example.org"] = "451 4.3.0 try later"
            with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as c:
                refused = c.sendmail("a@example.com",
                                     ["bob@example.org", "nobody@example.org",
                                      "later@example.org"],
                                     b"Subject: x\r\n\r\n.dot\r\nbody\r\n")
            self.assertEqual(refused["nobody@example.org"][0], 550)
            self.assertEqual(refused["later@example.org"][0], 451)
            msg = sink.wait_messages(1)[0]
            self.assertEqual(msg.mail_from, "a@example.com")
            self.assertEqual(msg.rcpt_tos, ["bob@example.org"])
            self.assertIn(b"\r\n.dot\r\nbody\r\n", msg.data)
            self.assertFalse(msg.tls)

            port = sink.port
            sink.stop()
            with self.assertRaises(OSError):
                smtplib.SMTP("127.0.0.1", port, timeout=5)
            sink.start()
            self.assertEqual(sink.port, port)
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
                c.sendmail("a@example.com", ["bob@example.org"], b"Subject: y\r\n\r\nz\r\n")
            self.assertEqual(len(sink.wait_messages(2)), 2)

    def test_starttls(self):
        with SmtpSink(tls=test_certificate()) as sink:
            with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as c:
                c.ehlo()
                self.assertTrue(c.has_extn("starttls"))
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                c.starttls(context=ctx)
                c.sendmail("a@example.com", ["bob@example.org"], b"Subject: t\r\n\r\nz\r\n")
            self.assertTrue(sink.wait_messages(1)[0].tls)


if __name__ == "__main__":
    unittest.main()
