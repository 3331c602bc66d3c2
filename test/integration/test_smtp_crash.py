"""A node killed with SIGKILL while Postfix's smtp-source sends to it loses no
message it acknowledged: every queue id a 250 reported is, after the restart,
in a message of the mailbox (the node's Received header carries the id).
Duplicates are allowed (a message delivered but not yet removed from the queue
is delivered again); a loss is not."""

import imaplib
import re
import shutil
import subprocess
import time
import unittest

from lib.node import Node
from lib.slapd import Slapd
from test_smtp import dead_dns, smtp_settings

QUEUED = re.compile(r"250 2\.0\.0 Ok: queued as ([0-9A-F]+)")
RECEIVED_ID = re.compile(rb"\(Postern\) with \w+.*?\sid ([0-9A-F]+)", re.DOTALL)


def smtp_source(port, messages, sessions, out_path):
    return subprocess.Popen(
        ["smtp-source", "-v", "-s", str(sessions), "-m", str(messages), "-l", "4000",
         "-f", "sender@remote.test", "-t", "alice@example.com", f"127.0.0.1:{port}"],
        stdout=open(out_path, "w"), stderr=subprocess.STDOUT)


def acknowledged(path):
    with open(path, errors="replace") as f:
        return set(QUEUED.findall(f.read()))


def stored_ids(node):
    imap = imaplib.IMAP4("127.0.0.1", node.port("imap"))
    try:
        imap.login("alice@example.com", Slapd.user_password("alice"))
        typ, data = imap.select("INBOX", readonly=True)
        count = int(data[0])
        ids = []
        if count:
            typ, data = imap.fetch(f"1:{count}", "(BODY.PEEK[HEADER.FIELDS (RECEIVED)])")
            for part in data:
                if isinstance(part, tuple):
                    m = RECEIVED_ID.search(part[1])
                    if m:
                        ids.append(m.group(1).decode())
        return ids
    finally:
        imap.logout()


@unittest.skipIf(shutil.which("smtp-source") is None,
                 "smtp-source (package postfix) is not installed; scripts/setup installs it")
class SmtpCrashTest(unittest.TestCase):
    def test_sigkill_during_smtp_source_loses_no_acknowledged_message(self):
        with Slapd() as ldap:
            node = Node(ldap, listeners=("imap", "smtp"),
                        extra={"smtp": smtp_settings(), "dns": dead_dns(),
                               "queue": {"retry_schedule": [1]}})
            node.start()
            try:
                first = str(node.dir / "source1.log")
                src = smtp_source(node.port("smtp"), 3000, 10, first)
                # Kill once messages are flowing: queued, and some delivered.
                node.wait_log(r"event=queue_delivery .*result=delivered", timeout=30)
                time.sleep(0.3)
                node.kill()
                try:
                    src.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    src.kill()
                    src.wait()
                acked = acknowledged(first)
                self.assertGreater(len(acked), 0, "smtp-source got no 250 before the kill")
                node.start()
                # The restarted node takes mail again.
                second = str(node.dir / "source2.log")
                src = smtp_source(node.port("smtp"), 100, 5, second)
                self.assertEqual(src.wait(timeout=120), 0)
                after = acknowledged(second)
                self.assertEqual(len(after), 100)
                acked |= after
                # Every acknowledged id is delivered (recovered queue included).
                deadline = time.monotonic() + 60
                while True:
                    stored = set(stored_ids(node))
                    missing = acked - stored
                    if not missing or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
                self.assertEqual(missing, set(),
                                 f"{len(missing)} of {len(acked)} acknowledged messages lost")
            finally:
                node.cleanup()


if __name__ == "__main__":
    unittest.main()
