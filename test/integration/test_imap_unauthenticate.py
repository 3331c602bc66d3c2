"""UNAUTHENTICATE (RFC 8437) on the node's IMAP server, and the proxy's reuse
token (ID "x-postern-reuse"), against a real slapd and a real postern-node.

The session under test is a raw socket client (imaplib knows neither
UNAUTHENTICATE nor a reuse token); imaplib only prepares mailboxes. alice and
carol are both served by node1 in the sample directory."""

import imaplib
import re
import socket
import unittest
import uuid

from lib.imap_client import RawImap
from lib.node import Node
from lib.slapd import Slapd

ALICE = "alice@example.com"
CAROL = "carol@example.org"
TOKEN = "Reuse0123456789abcdefABCDEF"  # 27 characters of [0-9A-Za-z]
ACCEPTED = '"x-postern-reuse" "accepted"'


def message(subject, to=ALICE):
    return (f"From: dave@example.com\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Date: Tue, 3 Nov 2026 09:00:00 +0000\r\n\r\nBody of {subject}.\r\n").encode()


def password(user):
    return Slapd.user_password(user.split("@")[0])


def ok(result):
    typ, data = result
    assert typ == "OK", (typ, data)
    return data


class UnauthenticateBase(unittest.TestCase):
    trusted = None  # the node's trusted_proxies; None: the default (loopback)

    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        node = {} if cls.trusted is None else {"trusted_proxies": cls.trusted}
        cls.node = Node(cls.ldap, listeners=("imap",), node=node)
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.node.cleanup()
        cls.ldap.cleanup()

    def raw(self, user=None):
        r = RawImap(self.node.port("imap"))
        self.addCleanup(r.close)
        if user:
            r.login(user, password(user))
        return r

    def imaplib_client(self, user):
        m = imaplib.IMAP4("127.0.0.1", self.node.port("imap"))
        self.addCleanup(self._logout, m)
        ok(m.login(user, password(user)))
        return m

    @staticmethod
    def _logout(m):
        try:
            m.logout()
        except Exception:
            pass

    def append(self, user, subject, box="INBOX"):
        m = self.imaplib_client(user)
        ok(m.append(box, None, None, message(subject, user)))
        m.logout()

    @staticmethod
    def capabilities(r):
        untagged, tagged = r.command("CAPABILITY")
        assert " OK " in tagged, tagged
        # Nothing else: no news about a mailbox flushed at this command.
        assert len(untagged) == 1 and untagged[0].startswith("* CAPABILITY "), untagged
        return untagged[0].split()[2:]

    def assert_tagged(self, tagged, status):
        self.assertRegex(tagged, rf"^\S+ {status} ")

    def assert_silent(self, r, seconds):
        """Nothing arrives from the node for `seconds`."""
        self.assertEqual(r.buf, b"", "unsolicited bytes already buffered")
        r.sock.settimeout(seconds)
        try:
            data = r.sock.recv(65536)
        except socket.timeout:
            data = None
        finally:
            r.sock.settimeout(20)
        self.assertIsNone(data, f"unsolicited after the tagged OK: {data!r}")

    @staticmethod
    def search(r, criteria):
        untagged, tagged = r.command(f"SEARCH {criteria}")
        assert " OK " in tagged, tagged
        for u in untagged:
            if u.startswith("* SEARCH"):
                return [int(n) for n in u.split()[2:]]
        raise AssertionError(untagged)

    @staticmethod
    def exists(untagged):
        return int(re.search(r"\* (\d+) EXISTS", "\n".join(untagged)).group(1))


class UnauthenticateTest(UnauthenticateBase):
    def test_capability_only_after_login(self):
        r = self.raw()
        self.assertNotIn("UNAUTHENTICATE", r.greeting.decode())
        self.assertNotIn("UNAUTHENTICATE", self.capabilities(r))
        _, tagged = r.command("UNAUTHENTICATE")
        self.assert_tagged(tagged, "BAD")
        tagged = r.login(ALICE, password(ALICE))
        self.assertRegex(tagged, r"OK \[CAPABILITY [^\]]*\bUNAUTHENTICATE\b")
        self.assertIn("UNAUTHENTICATE", self.capabilities(r))
        r.command("SELECT INBOX")
        self.assertIn("UNAUTHENTICATE", self.capabilities(r))

    def test_next_user_on_the_same_connection(self):
        tag = uuid.uuid4().hex[:10]
        self.append(ALICE, f"alice-only {tag}")
        self.append(CAROL, f"carol-only {tag}")
        m = self.imaplib_client(CAROL)
        carol_count = int(re.search(rb"MESSAGES (\d+)", ok(m.status("INBOX", "(MESSAGES)"))[0])
                          .group(1))
        m.logout()

        r = self.raw()
        before_login = self.capabilities(r)
        r.login(ALICE, password(ALICE))
        untagged, _ = r.command("ENABLE CONDSTORE")
        self.assertIn("* ENABLED CONDSTORE", untagged)
        r.command("SELECT INBOX")
        [seq] = self.search(r, f'SUBJECT "alice-only {tag}"')
        _, tagged = r.command(f"STORE {seq} +FLAGS.SILENT (\\Deleted)")
        self.assert_tagged(tagged, "OK")

        untagged, tagged = r.command("UNAUTHENTICATE")
        self.assert_tagged(tagged, "OK")
        self.assertEqual(untagged, [])
        self.assertEqual(self.capabilities(r), before_login)
        _, tagged = r.command("SELECT INBOX")
        self.assertRegex(tagged, r"^\S+ BAD .*login")
        _, tagged = r.command("UNAUTHENTICATE")
        self.assert_tagged(tagged, "BAD")

        r.login(CAROL, password(CAROL))
        untagged, tagged = r.command("SELECT INBOX")
        self.assert_tagged(tagged, "OK")
        self.assertEqual(self.exists(untagged), carol_count)
        self.assertEqual(len(self.search(r, f'SUBJECT "carol-only {tag}"')), 1)
        self.assertEqual(self.search(r, f'SUBJECT "alice-only {tag}"'), [])
        # ENABLE was alice's: carol's session starts without CONDSTORE.
        untagged, _ = r.command("ENABLE CONDSTORE")
        self.assertIn("* ENABLED CONDSTORE", untagged)

        _, tagged = r.command("UNAUTHENTICATE")
        self.assert_tagged(tagged, "OK")
        r.login(ALICE, password(ALICE))
        r.command("SELECT INBOX")
        [seq] = self.search(r, f'SUBJECT "alice-only {tag}"')  # not expunged
        untagged, _ = r.command(f"FETCH {seq} FLAGS")
        self.assertRegex(untagged[0], r"FLAGS \(.*\\Deleted")

    def test_nothing_about_the_old_user_after_the_ok(self):
        r = self.raw(ALICE)
        r.command("SELECT INBOX")
        other = self.imaplib_client(ALICE)
        ok(other.append("INBOX", None, None, message("just before")))
        _, tagged = r.command("UNAUTHENTICATE")
        self.assert_tagged(tagged, "OK")
        ok(other.append("INBOX", None, None, message("just after")))
        self.assert_silent(r, 1.0)
        self.assertNotIn("NAMESPACE", self.capabilities(r))

        # From IDLE, with its sync and poll timer running when the session ends.
        r.login(ALICE, password(ALICE))
        r.command("SELECT INBOX")
        r.send(b"I1 IDLE\r\n")
        self.assertTrue(r.read_line().startswith(b"+ "))
        ok(other.append("INBOX", None, None, message("during idle")))
        r.send(b"DONE\r\nU1 UNAUTHENTICATE\r\n")
        r.wait("I1")
        _, tagged = r.wait("U1")
        self.assertEqual(tagged, "U1 OK Unauthenticate completed.")
        ok(other.append("INBOX", None, None, message("after idle")))
        self.assert_silent(r, 3.0)  # longer than the IDLE poll (2 s)
        untagged, tagged = r.command("NOOP")
        self.assertEqual(untagged, [])
        self.assert_tagged(tagged, "OK")

    def test_logout_line_and_fresh_session_state(self):
        r = self.raw()
        r.command('ID ("x-originating-ip" "203.0.113.41")')
        r.login(ALICE, password(ALICE))
        r.command("NOOP")
        _, tagged = r.command("UNAUTHENTICATE")
        self.assert_tagged(tagged, "OK")
        self.node.wait_log(r"event=imap_logout user=alice@example\.com client=203\.0\.113\.41 "
                           r"reason=unauthenticate commands=4 ")
        # A new forwarded address for the next client, counters from zero.
        r.command('ID ("x-originating-ip" "203.0.113.42")')
        r.login(CAROL, password(CAROL))
        self.node.wait_log(r"event=imap_login result=ok user=carol@example\.org "
                           r"client=203\.0\.113\.42")
        _, tagged = r.command("UNAUTHENTICATE")
        self.assert_tagged(tagged, "OK")
        self.node.wait_log(r"event=imap_logout user=carol@example\.org client=203\.0\.113\.42 "
                           r"reason=unauthenticate commands=3 ")
        # Without an ID the address is the socket's again.
        r.login(ALICE, password(ALICE))
        r.send(b"L1 LOGOUT\r\n")
        r.wait("L1")
        port = r.sock.getsockname()[1]
        self.node.wait_log(rf"event=imap_logout user=alice@example\.com client=127\.0\.0\.1:{port} "
                           r"reason=logout commands=2 ")
        metrics = self.node.metrics()
        self.assertRegex(metrics, r'postern_imap_commands_total\{command="UNAUTHENTICATE"\} [1-9]')

    def test_failed_logins_count_across_reuse(self):
        r = self.raw()
        _, tagged = r.command('LOGIN alice@example.com "wrong"')
        self.assert_tagged(tagged, "NO")
        r.login(ALICE, password(ALICE))
        _, tagged = r.command("UNAUTHENTICATE")
        self.assert_tagged(tagged, "OK")
        _, tagged = r.command('LOGIN alice@example.com "wrong"')
        self.assert_tagged(tagged, "NO")
        r.send(b'T9 LOGIN alice@example.com "wrong"\r\n')  # the third of max_failed_logins 3
        rest = b""
        try:
            while True:
                rest += r.read_line()
        except (ConnectionError, OSError):
            pass
        self.assertIn(b"* BYE", rest)


class ReuseTokenTest(UnauthenticateBase):
    def test_token_session(self):
        r = self.raw()
        untagged, tagged = r.command(f'ID ("name" "postern-proxy" "x-postern-reuse" "{TOKEN}")')
        self.assert_tagged(tagged, "OK")
        self.assertIn(ACCEPTED, untagged[0])
        tagged = r.login(ALICE, password(ALICE))
        self.assertNotIn("UNAUTHENTICATE", tagged)
        self.assertNotIn("UNAUTHENTICATE", self.capabilities(r))
        r.command("SELECT INBOX")
        for bad in ["UNAUTHENTICATE", "UNAUTHENTICATE Wrong0123456789abcdefABCDEF",
                    f"UNAUTHENTICATE {TOKEN}x", f"UNAUTHENTICATE {TOKEN[:-1]}",
                    f"UNAUTHENTICATE {TOKEN} {TOKEN}", f"UNAUTHENTICATE ({TOKEN})"]:
            untagged, tagged = r.command(bad)
            self.assert_tagged(tagged, "BAD")
            self.assertEqual(untagged, [], bad)
        # Still alice's session, mailbox still selected.
        untagged, tagged = r.command("SELECT INBOX")
        self.assert_tagged(tagged, "OK")
        _, tagged = r.command("CHECK")  # only valid with a mailbox selected
        self.assert_tagged(tagged, "OK")

        _, tagged = r.command(f"UNAUTHENTICATE {TOKEN}")
        self.assert_tagged(tagged, "OK")
        self.assertNotIn("NAMESPACE", self.capabilities(r))
        _, tagged = r.command("SELECT INBOX")
        self.assert_tagged(tagged, "BAD")

        # The token is gone with the session: the next ID sets a new one.
        second = "Second" + "9" * 20
        untagged, _ = r.command(f'ID ("x-postern-reuse" "{second}")')
        self.assertIn(ACCEPTED, untagged[0])
        r.login(CAROL, password(CAROL))
        self.assertNotIn("UNAUTHENTICATE", self.capabilities(r))
        _, tagged = r.command(f"UNAUTHENTICATE {TOKEN}")
        self.assert_tagged(tagged, "BAD")
        # As a literal this time.
        r.send(f"U1 UNAUTHENTICATE {{{len(second)}+}}\r\n{second}\r\n".encode())
        _, tagged = r.wait("U1")
        self.assert_tagged(tagged, "OK")

        # A session without a token again: plain UNAUTHENTICATE, no argument.
        r.login(ALICE, password(ALICE))
        self.assertIn("UNAUTHENTICATE", self.capabilities(r))
        _, tagged = r.command(f"UNAUTHENTICATE {second}")
        self.assert_tagged(tagged, "BAD")
        _, tagged = r.command("UNAUTHENTICATE")
        self.assert_tagged(tagged, "OK")

    def test_invalid_tokens_are_ignored(self):
        r = self.raw()
        for value in ["Short0123456789", "x" * 65, "with-dash-0123456789", "with_underscore_0123",
                      "space in the token 0123"]:
            untagged, tagged = r.command(f'ID ("x-postern-reuse" "{value}")')
            self.assert_tagged(tagged, "OK")
            self.assertNotIn("x-postern-reuse", untagged[0], value)
        untagged, _ = r.command('ID ("x-postern-reuse" NIL)')
        self.assertNotIn("x-postern-reuse", untagged[0])
        r.login(ALICE, password(ALICE))
        self.assertIn("UNAUTHENTICATE", self.capabilities(r))
        # After login an ID from the trusted address no longer sets a token.
        untagged, _ = r.command(f'ID ("x-postern-reuse" "{TOKEN}")')
        self.assertNotIn("x-postern-reuse", untagged[0])
        _, tagged = r.command("UNAUTHENTICATE")
        self.assert_tagged(tagged, "OK")
        # The limits themselves are accepted.
        for value in ["A" * 16, "z" * 64]:
            untagged, _ = r.command(f'ID ("x-postern-reuse" "{value}")')
            self.assertIn(ACCEPTED, untagged[0], value)


class UntrustedReuseTokenTest(UnauthenticateBase):
    trusted = ["192.0.2.0/24"]  # not the test's loopback address

    def test_token_from_untrusted_peer_is_ignored(self):
        r = self.raw()
        untagged, _ = r.command(f'ID ("x-postern-reuse" "{TOKEN}")')
        self.assertNotIn("x-postern-reuse", untagged[0])
        r.login(ALICE, password(ALICE))
        self.assertIn("UNAUTHENTICATE", self.capabilities(r))
        _, tagged = r.command(f"UNAUTHENTICATE {TOKEN}")
        self.assert_tagged(tagged, "BAD")
        _, tagged = r.command("UNAUTHENTICATE")
        self.assert_tagged(tagged, "OK")


if __name__ == "__main__":
    unittest.main()
