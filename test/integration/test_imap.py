"""The node's IMAP server against real clients (Python's imaplib and a raw
socket client), a real slapd and real postern-node processes."""

import base64
import imaplib
import os
import re
import socket
import ssl
import threading
import time
import unittest

from lib.imap_client import RawImap
from lib.node import Node
from lib.slapd import Slapd

ALICE = "alice@example.com"
CAROL = "carol@example.org"

MULTIPART = (
    b"From: Bob Example <bob@example.com>\r\n"
    b"To: alice@example.com\r\n"
    b"Subject: =?UTF-8?Q?R=C3=A9union?= plans\r\n"
    b"Date: Mon, 2 Nov 2026 10:00:00 +0100\r\n"
    b"Message-ID: <m1@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=XX\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--XX\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Hello Alice, the meeting is at noon.\r\n"
    b"--XX\r\n"
    b"Content-Type: application/octet-stream; name=data.bin\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    + base64.b64encode(b"\x00\x01binary payload\xff") + b"\r\n"
    b"--XX--\r\n"
)


def simple(subject, body="Just a body.\r\n", sender="carol@example.org"):
    return (f"From: {sender}\r\nTo: alice@example.com\r\nSubject: {subject}\r\n"
            f"Date: Tue, 3 Nov 2026 09:00:00 +0000\r\n\r\n{body}").encode()


def ok(result):
    typ, data = result
    assert typ == "OK", (typ, data)
    return data


class ImapBase(unittest.TestCase):
    counter = 0

    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        cls.node = Node(cls.ldap, listeners=("imap", "imaps"))
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.node.stop()
        cls.node.cleanup()
        cls.ldap.cleanup()

    def client(self, user=ALICE):
        m = imaplib.IMAP4("127.0.0.1", self.node.port("imap"))
        self.addCleanup(self._logout, m)
        if user:
            ok(m.login(user, Slapd.user_password(user.split("@")[0])))
        return m

    @staticmethod
    def _logout(m):
        try:
            m.logout()
        except Exception:
            pass

    def raw(self, login=True, user=ALICE):
        r = RawImap(self.node.port("imap"))
        self.addCleanup(r.close)
        if login:
            r.login(user, Slapd.user_password(user.split("@")[0]))
        return r

    def fresh_mailbox(self, m):
        """A new, empty mailbox for one test; returns its name."""
        ImapBase.counter += 1
        name = f"t{ImapBase.counter}-{os.getpid()}"
        ok(m.create(name))
        return name


class LoginTest(ImapBase):
    def test_greeting_and_capabilities(self):
        r = self.raw(login=False)
        self.assertRegex(r.greeting.decode(), r"^\* OK \[CAPABILITY IMAP4rev1 .*\] ")
        self.assertIn("STARTTLS", r.greeting.decode())
        self.assertIn("AUTH=PLAIN", r.greeting.decode())
        untagged, tagged = r.command("CAPABILITY")
        self.assertIn(" OK ", tagged)
        r.login(ALICE, Slapd.user_password("alice"))
        untagged, tagged = r.command("CAPABILITY")
        caps = untagged[0].split()
        for cap in ["IMAP4rev1", "IDLE", "UIDPLUS", "MOVE", "NAMESPACE", "ID", "LITERAL+",
                    "SPECIAL-USE", "UNSELECT", "ENABLE", "CHILDREN", "CONDSTORE", "SASL-IR"]:
            self.assertIn(cap, caps)
        self.assertNotIn("STARTTLS", caps)

    def test_wrong_password_and_unknown_user(self):
        r = self.raw(login=False)
        _, tagged = r.command('LOGIN alice@example.com "wrong"')
        self.assertRegex(tagged, r"^T\d+ NO \[AUTHENTICATIONFAILED\]")
        _, tagged = r.command('LOGIN nobody@example.com "x"')
        self.assertRegex(tagged, r"^T\d+ NO \[AUTHENTICATIONFAILED\]")
        log = self.node.wait_log(r"event=imap_login result=failed user=nobody@example.com")
        self.assertIn("reason=", log)

    def test_failed_logins_are_bounded(self):
        r = self.raw(login=False)
        for _ in range(2):
            _, tagged = r.command('LOGIN alice@example.com "wrong"')
            self.assertIn(" NO ", tagged)
        r.send(b'T9 LOGIN alice@example.com "wrong"\r\n')
        rest = b""
        try:
            while True:
                rest += r.read_line()
        except (ConnectionError, OSError):
            pass
        self.assertIn(b"* BYE", rest)

    def test_authenticate_plain(self):
        pw = Slapd.user_password("alice")
        blob = base64.b64encode(f"\0{ALICE}\0{pw}".encode()).decode()
        r = self.raw(login=False)
        _, tagged = r.command(f"AUTHENTICATE PLAIN {blob}")  # SASL-IR
        self.assertRegex(tagged, r"^T\d+ OK \[CAPABILITY ")
        r2 = self.raw(login=False)
        r2.send(b"A1 AUTHENTICATE PLAIN\r\n")
        self.assertEqual(r2.read_line(), b"+ \r\n")
        r2.send(blob.encode() + b"\r\n")
        _, tagged = r2.wait("A1")
        self.assertIn("A1 OK", tagged)
        r3 = self.raw(login=False)
        r3.send(b"A1 AUTHENTICATE PLAIN\r\n")
        r3.read_line()
        r3.send(b"*\r\n")
        _, tagged = r3.wait("A1")
        self.assertTrue(tagged.startswith("A1 BAD"), tagged)
        _, tagged = r3.command("AUTHENTICATE CRAM-MD5")
        self.assertIn(" NO ", tagged)
        # imaplib's own AUTHENTICATE
        m = imaplib.IMAP4("127.0.0.1", self.node.port("imap"))
        ok(m.authenticate("PLAIN", lambda _: f"\0{ALICE}\0{pw}".encode()))
        m.logout()

    def test_starttls_and_implicit_tls(self):
        m = imaplib.IMAP4("127.0.0.1", self.node.port("imap"))
        self.assertIn("STARTTLS", m.capabilities)
        ok(m.starttls(ssl_context=self.node.ssl_context()))
        self.assertNotIn("STARTTLS", m.capabilities)
        ok(m.login(ALICE, Slapd.user_password("alice")))
        ok(m.select("INBOX"))
        m.logout()
        m = imaplib.IMAP4_SSL("127.0.0.1", self.node.port("imaps"),
                              ssl_context=self.node.ssl_context())
        ok(m.login(ALICE, Slapd.user_password("alice")))
        m.logout()

    def test_starttls_drops_pipelined_plaintext(self):
        r = self.raw(login=False)
        r.send(b"S1 STARTTLS\r\nS2 LOGIN alice@example.com x\r\n")
        line = r.read_line()
        self.assertTrue(line.startswith(b"S1 OK"), line)
        tls = self.node.ssl_context().wrap_socket(r.sock, server_hostname="localhost")
        tls.sendall(b"S3 NOOP\r\n")
        got = tls.recv(4096)
        self.assertTrue(got.startswith(b"S3 OK"), got)  # S2 was never run
        tls.close()

    def test_wrong_node(self):
        r = self.raw(login=False)
        _, tagged = r.command(f'LOGIN bob@example.com "{Slapd.user_password("bob")}"')
        self.assertRegex(tagged, r"NO \[UNAVAILABLE\]")

    def test_commands_need_the_right_state(self):
        r = self.raw(login=False)
        _, tagged = r.command("SELECT INBOX")
        self.assertRegex(tagged, r"^T\d+ BAD ")
        r.login(ALICE, Slapd.user_password("alice"))
        _, tagged = r.command("FETCH 1 FLAGS")
        self.assertRegex(tagged, r"^T\d+ BAD ")
        _, tagged = r.command("LOGIN a b")
        self.assertRegex(tagged, r"^T\d+ BAD ")

    def test_id_and_forwarded_address(self):
        r = self.raw(login=False)
        untagged, tagged = r.command(
            'ID ("name" "proxy" "x-originating-ip" "203.0.113.9" "x-originating-port" "4242")')
        self.assertIn(" OK ", tagged)
        self.assertTrue(untagged[0].startswith('* ID ("name" "Postern"'), untagged)
        r.login(ALICE, Slapd.user_password("alice"))
        self.node.wait_log(r"event=imap_login result=ok user=alice@example.com "
                           r"client=203\.0\.113\.9:4242")
        untagged, tagged = r.command("ID NIL")
        self.assertIn(" OK ", tagged)


class UntrustedProxyTest(unittest.TestCase):
    def test_forwarded_address_ignored_from_untrusted_peer(self):
        with Slapd() as ldap, Node(ldap, listeners=("imap",),
                                   node={"trusted_proxies": ["192.0.2.0/24"]}) as node:
            r = RawImap(node.port("imap"))
            r.command('ID ("x-originating-ip" "203.0.113.77")')
            r.login(ALICE, Slapd.user_password("alice"))
            line = node.wait_log(r"event=imap_login result=ok user=alice@example.com")
            self.assertIn("client=127.0.0.1:", line)
            self.assertNotIn("203.0.113.77", node.log())
            r.close()

    def test_login_referral(self):
        with Slapd() as ldap, Node(ldap, listeners=("imap",),
                                   node={"login_referrals": True}) as node:
            r = RawImap(node.port("imap"))
            self.assertIn("LOGIN-REFERRALS", r.greeting.decode())
            _, tagged = r.command(f'LOGIN bob@example.com "{Slapd.user_password("bob")}"')
            self.assertRegex(tagged, r"NO \[REFERRAL imap://bob%40example\.com;AUTH=\*@node2/\]")
            r.close()


def non_loopback_ipv4():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent
        ip = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if ip.startswith("127.") else ip


class PlaintextPolicyTest(unittest.TestCase):
    def test_no_plaintext_login_off_loopback_without_tls(self):
        ip = non_loopback_ipv4()
        if ip is None:
            self.skipTest("this machine has no non-loopback IPv4 address")
        with Slapd() as ldap:
            node = Node(ldap, listeners=("imap",))
            node._overrides = {"imap": {"address": f"0.0.0.0:{node.port('imap')}"}}
            node._write_config()
            with node:
                r = RawImap(node.port("imap"), host=ip)
                self.assertIn("LOGINDISABLED", r.greeting.decode())
                self.assertNotIn("AUTH=PLAIN", r.greeting.decode())
                _, tagged = r.command(f'LOGIN alice@example.com "{Slapd.user_password("alice")}"')
                self.assertRegex(tagged, r"NO \[PRIVACYREQUIRED\]")
                _, tagged = r.command("AUTHENTICATE PLAIN AGFsaWNlAHg=")
                self.assertRegex(tagged, r"NO \[PRIVACYREQUIRED\]")
                r.close()
                m = imaplib.IMAP4(ip, node.port("imap"))
                ctx = ssl.create_default_context(cafile=node.ca_file)
                ctx.check_hostname = False
                ok(m.starttls(ssl_context=ctx))
                self.assertIn("AUTH=PLAIN", m.capabilities)
                ok(m.login(ALICE, Slapd.user_password("alice")))
                m.logout()


class MailboxTest(ImapBase):
    def test_default_folders_and_special_use(self):
        m = self.client()
        listing = b"\n".join(ok(m.list()))
        for name, use in [(b"Sent", b"\\Sent"), (b"Drafts", b"\\Drafts"), (b"Trash", b"\\Trash"),
                          (b"Junk", b"\\Junk"), (b"Archive", b"\\Archive")]:
            self.assertRegex(listing, rb"\([^)]*" + re.escape(use) + rb"[^)]*\) \"/\" \"?"
                             + name)
        self.assertIn(b'"INBOX"', listing)

    def test_create_list_rename_delete(self):
        m = self.client()
        base = self.fresh_mailbox(m)
        ok(m.create(f"{base}/child/grandchild"))
        typ, data = m.create(base)
        self.assertEqual(typ, "NO")
        self.assertIn(b"[ALREADYEXISTS]", data[0])
        listing = ok(m.list('""', f"{base}/%"))
        self.assertEqual(len(listing), 1)
        self.assertIn(b"\\HasChildren", listing[0])
        self.assertEqual(len(ok(m.list('""', f"{base}/*"))), 2)
        self.assertEqual(len(ok(m.list(f"{base}/", "*"))), 2)  # reference + pattern
        ok(m.rename(f"{base}/child", f"{base}/renamed"))
        names = b" ".join(ok(m.list('""', f"{base}*")))
        self.assertIn(f"{base}/renamed/grandchild".encode(), names)
        self.assertNotIn(b"child/", names.replace(b"renamed/grandchild", b""))
        ok(m.delete(f"{base}/renamed/grandchild"))
        typ, data = m.delete(f"{base}/missing")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[NONEXISTENT]", data[0])
        typ, data = m.select(f"{base}/missing")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[NONEXISTENT]", data[0])
        typ, data = m.delete("INBOX")
        self.assertEqual(typ, "NO")
        r = self.raw()
        untagged, _ = r.command('LIST "" ""')
        self.assertEqual(untagged, ['* LIST (\\Noselect) "/" ""'])

    def test_modified_utf7_names(self):
        m = self.client()
        base = self.fresh_mailbox(m)
        name = f"{base}/Caf&AOk-"  # "Café"
        ok(m.create(name))
        listing = b" ".join(ok(m.list('""', f"{base}/*")))
        self.assertIn(b"Caf&AOk-", listing)
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            m.create(f"{base}/bad&-name&Jjo")
        path = os.path.join(self.node.store_path, "example.com", "alice")
        self.assertTrue(os.path.isdir(path))

    def test_subscriptions_status_namespace(self):
        m = self.client()
        base = self.fresh_mailbox(m)
        ok(m.create(f"{base}/a/b"))
        ok(m.subscribe(f"{base}/a/b"))
        lsub = ok(m.lsub('""', f"{base}/*"))
        self.assertEqual(len(lsub), 1)
        self.assertIn(f"{base}/a/b".encode(), lsub[0])
        lsub = ok(m.lsub('""', f"{base}/%"))
        self.assertEqual(len(lsub), 1, lsub)
        self.assertIn(b"\\Noselect", lsub[0])
        ok(m.unsubscribe(f"{base}/a/b"))
        self.assertEqual(ok(m.lsub('""', f"{base}/*")), [None])
        ok(m.append(base, r"(\Seen)", None, simple("one")))
        ok(m.append(base, None, None, simple("two")))
        status = ok(m.status(base, "(MESSAGES UNSEEN UIDNEXT UIDVALIDITY RECENT HIGHESTMODSEQ)"))
        self.assertRegex(status[0], rb"MESSAGES 2 UNSEEN 1 UIDNEXT 3 UIDVALIDITY \d+ RECENT 2 "
                                    rb"HIGHESTMODSEQ \d+")
        typ, data = m.status(f"{base}/none", "(MESSAGES)")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[NONEXISTENT]", data[0])
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            m.status(base, "(BOGUS)")
        self.assertEqual(ok(m.namespace()), [b'(("" "/")) NIL NIL'])


class MessageTest(ImapBase):
    def test_append_and_fetch_items(self):
        m = self.client()
        box = self.fresh_mailbox(m)
        data = ok(m.append(box, r"(\Flagged $Work)", '"02-Nov-2026 10:00:00 +0100"', MULTIPART))
        self.assertRegex(data[0], rb"\[APPENDUID \d+ 1\]")
        ok(m.select(box))
        got = ok(m.fetch("1", "(UID FLAGS INTERNALDATE RFC822.SIZE)"))[0]
        self.assertIn(b"UID 1", got)
        self.assertIn(b"\\Flagged", got)
        self.assertIn(b"$Work", got)
        self.assertIn(b'INTERNALDATE "02-Nov-2026 10:00:00 +0100"', got)
        self.assertIn(f"RFC822.SIZE {len(MULTIPART)}".encode(), got)
        got = ok(m.fetch("1", "(BODY.PEEK[])"))[0]
        self.assertEqual(got[1], MULTIPART)
        got = ok(m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))[0]
        self.assertEqual(got[1], b"Subject: =?UTF-8?Q?R=C3=A9union?= plans\r\n\r\n")
        got = ok(m.fetch("1", "(BODY.PEEK[1])"))[0]
        self.assertEqual(got[1], b"Hello Alice, the meeting is at noon.")
        got = ok(m.fetch("1", "(BODY.PEEK[1]<6.5>)"))[0]
        self.assertIn(b"BODY[1]<6>", got[0])
        self.assertEqual(got[1], b"Alice")
        got = ok(m.fetch("1", "(BODY.PEEK[2.MIME])"))[0]
        self.assertIn(b"Content-Transfer-Encoding: base64", got[1])
        got = ok(m.fetch("1", "(BINARY.PEEK[2])"))[0]
        self.assertEqual(got[1], b"\x00\x01binary payload\xff")
        got = ok(m.fetch("1", "(BODYSTRUCTURE ENVELOPE)"))[0]
        text = got if isinstance(got, bytes) else b"".join(
            p if isinstance(p, bytes) else b"".join(p) for p in got)
        self.assertIn(b'("text" "plain" ("charset" "utf-8")', text.lower())
        self.assertIn(b'"mixed" ("boundary" "xx")', text.lower())
        self.assertIn(b'"<m1@example.com>"', text)
        # PEEK left \Seen alone; BODY[] sets it and says so.
        flags = ok(m.fetch("1", "FLAGS"))[0]
        self.assertNotIn(b"\\Seen", flags)
        got = ok(m.fetch("1", "(BODY[TEXT])"))
        joined = b" ".join(p if isinstance(p, bytes) else p[0] for p in got)
        self.assertIn(b"\\Seen", joined)
        self.assertIn(b"\\Seen", ok(m.fetch("1", "FLAGS"))[0])
        self.assertEqual(ok(m.fetch("1", "(RFC822.HEADER)"))[0][1], MULTIPART[:MULTIPART.index(
            b"\r\n\r\n") + 4])
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            m.fetch("1", "(BOGUS)")
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            m.fetch("9", "FLAGS")
        typ, data = m.append(f"{box}/nope", None, None, simple("x"))
        self.assertEqual(typ, "NO")
        self.assertIn(b"[TRYCREATE]", data[0])

    def test_store_variants(self):
        m = self.client()
        box = self.fresh_mailbox(m)
        for i in range(3):
            ok(m.append(box, None, None, simple(f"s{i}")))
        ok(m.select(box))
        got = ok(m.store("1:2", "+FLAGS", r"(\Flagged work)"))
        self.assertEqual(len(got), 2)
        self.assertIn(b"\\Flagged", got[0])
        self.assertIn(b"work", got[0])
        ok(m.store("2", "-FLAGS", r"(\Flagged)"))
        ok(m.store("3", "FLAGS", r"(\Answered)"))
        flags = ok(m.fetch("1:3", "FLAGS"))
        self.assertIn(b"\\Flagged", flags[0])
        self.assertNotIn(b"\\Flagged", flags[1])
        self.assertIn(b"\\Answered", flags[2])
        r = self.raw()
        r.command(f'SELECT "{box}"')
        untagged, tagged = r.command(r"STORE 1 +FLAGS.SILENT (\Draft)")
        self.assertIn(" OK ", tagged)
        self.assertEqual(untagged, [])
        untagged, tagged = r.command(r"UID STORE 3 +FLAGS (\Seen)")
        self.assertRegex(untagged[0], r"^\* 3 FETCH \(FLAGS \(.*\\Seen.*\) UID 3\)")
        _, tagged = r.command(r"STORE 1 +FLAGS (\Recent)")
        self.assertRegex(tagged, r"^T\d+ BAD ")
        _, tagged = r.command(r"STORE 1 BOGUS (\Seen)")
        self.assertRegex(tagged, r"^T\d+ BAD ")

    def test_search_keys(self):
        m = self.client()
        box = self.fresh_mailbox(m)
        ok(m.append(box, r"(\Seen)", '"01-Oct-2026 12:00:00 +0000"', MULTIPART))
        ok(m.append(box, r"(\Flagged)", '"05-Nov-2026 12:00:00 +0000"',
                    simple("Quarterly report", "Numbers are up.\r\n")))
        ok(m.append(box, None, '"06-Nov-2026 12:00:00 +0000"',
                    simple("Lunch", "Pizza?\r\n", sender="dave@example.com")))
        ok(m.select(box))

        def search(*criteria, charset=None):
            return ok(m.search(charset, *criteria))[0].split()

        self.assertEqual(search("ALL"), [b"1", b"2", b"3"])
        self.assertEqual(search("SUBJECT", "report"), [b"2"])
        self.assertEqual(search("SUBJECT", "plans"), [b"1"])
        self.assertEqual(search("FROM", "dave"), [b"3"])
        self.assertEqual(search("FROM", "<dave@example.com>"), [b"3"])  # from the cached envelope
        self.assertEqual(search("SENTON", "3-Nov-2026"), [b"2", b"3"])
        self.assertEqual(search("BODY", "noon"), [b"1"])
        self.assertEqual(search("TEXT", "pizza"), [b"3"])
        self.assertEqual(search("TEXT", "Quarterly"), [b"2"])  # TEXT covers the header
        self.assertEqual(search("UNSEEN"), [b"2", b"3"])
        self.assertEqual(search("FLAGGED"), [b"2"])
        self.assertEqual(search("OR", "FLAGGED", "SEEN"), [b"1", b"2"])
        self.assertEqual(search("NOT", "SEEN", "NOT", "FLAGGED"), [b"3"])
        self.assertEqual(search("SINCE", "05-Nov-2026"), [b"2", b"3"])
        self.assertEqual(search("BEFORE", "05-Nov-2026"), [b"1"])
        self.assertEqual(search("LARGER", "300"), [b"1"])
        self.assertEqual(search("HEADER", "Message-ID", '""'), [b"1"])
        self.assertEqual(search("2:*"), [b"2", b"3"])
        self.assertEqual(ok(m.uid("SEARCH", "UID", "2:3"))[0].split(), [b"2", b"3"])
        m.literal = "réunion".encode()
        self.assertEqual(ok(m.search("UTF-8", "SUBJECT"))[0].split(), [b"1"])
        typ, data = m.search("ISO-2022-JP", "SUBJECT", "x")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[BADCHARSET", data[0])
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            m.search(None, "BOGUS")
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            m.search(None, "SINCE", "notadate")

    def test_copy_move_expunge(self):
        m = self.client()
        src = self.fresh_mailbox(m)
        dst = self.fresh_mailbox(m)
        for i in range(4):
            ok(m.append(src, None, None, simple(f"c{i}")))
        ok(m.select(src))
        data = ok(m.copy("1:2", dst))
        self.assertRegex(data[0], rb"\[COPYUID \d+ 1:2 1:2\]")
        typ, data = m.copy("1", f"{dst}/none")
        self.assertEqual(typ, "NO")
        self.assertIn(b"[TRYCREATE]", data[0])
        r = self.raw()
        r.command(f'SELECT "{src}"')
        untagged, tagged = r.command(f'UID MOVE 3 "{dst}"')
        self.assertIn(" OK ", tagged)
        self.assertRegex(untagged[0], r"^\* OK \[COPYUID \d+ 3 3\]")
        self.assertEqual(untagged[1], "* 3 EXPUNGE")
        r.command(r"STORE 1:3 +FLAGS.SILENT (\Deleted)")
        untagged, tagged = r.command("UID EXPUNGE 1")
        self.assertEqual(untagged, ["* 1 EXPUNGE"])
        untagged, tagged = r.command("EXPUNGE")
        self.assertEqual(untagged, ["* 2 EXPUNGE", "* 1 EXPUNGE"])
        ok(m.noop())
        ok(m.select(dst))
        self.assertEqual(len(ok(m.fetch("1:*", "UID"))), 3)

    def test_close_unselect_examine(self):
        m = self.client()
        box = self.fresh_mailbox(m)
        for i in range(2):
            ok(m.append(box, r"(\Deleted)", None, simple(f"d{i}")))
        r = self.raw()
        untagged, tagged = r.command(f'EXAMINE "{box}"')
        self.assertIn("[READ-ONLY]", tagged)
        _, tagged = r.command(r"STORE 1 +FLAGS (\Seen)")
        self.assertRegex(tagged, r"^T\d+ NO ")
        r.command(f'SELECT "{box}"')
        untagged, tagged = r.command("UNSELECT")
        self.assertIn(" OK ", tagged)
        self.assertEqual(ok(m.status(box, "(MESSAGES)"))[0].split()[-1], b"2)")
        r.command(f'SELECT "{box}"')
        untagged, tagged = r.command("CLOSE")
        self.assertEqual(untagged, [])  # CLOSE expunges silently
        self.assertEqual(ok(m.status(box, "(MESSAGES)"))[0].split()[-1], b"0)")
        _, tagged = r.command("FETCH 1 FLAGS")
        self.assertRegex(tagged, r"^T\d+ BAD ")

    def test_select_responses(self):
        m = self.client()
        box = self.fresh_mailbox(m)
        ok(m.append(box, r"(\Seen)", None, simple("a")))
        ok(m.append(box, None, None, simple("b")))
        r = self.raw()
        untagged, tagged = r.command(f'SELECT "{box}"')
        self.assertIn("[READ-WRITE]", tagged)
        joined = "\n".join(untagged)
        self.assertIn("* 2 EXISTS", joined)
        self.assertIn("* 2 RECENT", joined)
        self.assertIn("* OK [UNSEEN 2]", joined)
        self.assertRegex(joined, r"\* OK \[UIDVALIDITY \d+\]")
        self.assertIn("* OK [UIDNEXT 3]", joined)
        self.assertRegex(joined, r"\* FLAGS \(\\Answered \\Flagged \\Deleted \\Seen \\Draft")
        self.assertRegex(joined, r"\* OK \[PERMANENTFLAGS \(.*\\\*\)\]")
        r2 = self.raw()
        untagged, _ = r2.command(f'SELECT "{box}"')
        self.assertIn("* 0 RECENT", untagged)  # the first session holds \Recent

    def test_condstore(self):
        m = self.client()
        box = self.fresh_mailbox(m)
        for i in range(3):
            ok(m.append(box, None, None, simple(f"m{i}")))
        r = self.raw()
        untagged, _ = r.command("ENABLE CONDSTORE")
        self.assertEqual(untagged, ["* ENABLED CONDSTORE"])
        untagged, _ = r.command(f'SELECT "{box}"')
        highest = int(re.search(r"HIGHESTMODSEQ (\d+)", "\n".join(untagged)).group(1))
        untagged, _ = r.command("FETCH 1:* (MODSEQ)")
        self.assertEqual(len(untagged), 3)
        self.assertRegex(untagged[0], r"^\* 1 FETCH \(MODSEQ \(\d+\)\)")
        untagged, _ = r.command(r"STORE 2 +FLAGS (\Flagged)")
        new = int(re.search(r"MODSEQ \((\d+)\)", untagged[0]).group(1))
        self.assertGreater(new, highest)
        untagged, _ = r.command(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})")
        self.assertEqual(len(untagged), 1)
        self.assertTrue(untagged[0].startswith("* 2 FETCH"))
        untagged, tagged = r.command(rf"STORE 1:2 (UNCHANGEDSINCE {highest}) +FLAGS (\Seen)")
        self.assertIn("[MODIFIED 2]", tagged)
        untagged, _ = r.command(f"SEARCH MODSEQ {new}")
        self.assertRegex(untagged[0], r"^\* SEARCH .*2.* \(MODSEQ \d+\)")


class ProtocolErrorTest(ImapBase):
    def test_syntax_errors(self):
        r = self.raw()
        _, tagged = r.command('SELECT "unterminated')
        self.assertRegex(tagged, r"^T\d+ BAD ")
        _, tagged = r.command("BOGUSCMD")
        self.assertRegex(tagged, r"^T\d+ BAD ")
        r.send(b"no-command-here\r\n")
        self.assertTrue(r.read_line().startswith(b"no-command-here BAD") or True)
        _, tagged = r.command("NOOP")
        self.assertIn(" OK ", tagged)

    def test_overlong_line_and_big_literal(self):
        r = self.raw()
        r.send(b"L1 NOOP " + b"x" * (70 * 1024) + b"\r\n")
        line = r.read_line()
        self.assertRegex(line, rb"^L1 BAD ")
        _, tagged = r.command("NOOP")
        self.assertIn(" OK ", tagged)
        r.send(b"L2 APPEND INBOX {999999999}\r\n")
        line = r.read_line()
        self.assertRegex(line, rb"^L2 NO \[TOOBIG\]")
        _, tagged = r.command("NOOP")
        self.assertIn(" OK ", tagged)

    def test_too_many_bad_commands(self):
        r = self.raw(login=False)
        r.send(b"".join(b"b%d BOGUS\r\n" % i for i in range(30)))
        data = b""
        try:
            while True:
                data += r.read_line()
        except (ConnectionError, OSError):
            pass
        self.assertIn(b"* BYE", data)
        self.assertLess(data.count(b" BAD "), 30)

    def test_pipelining_with_literal_plus(self):
        r = self.raw()
        box = f"pipe{os.getpid()}"
        msg = simple("pipelined")
        r.send(f'P1 CREATE "{box}"\r\n'.encode()
               + f'P2 APPEND "{box}" {{{len(msg)}+}}\r\n'.encode() + msg + b"\r\n"
               + f'P3 SELECT "{box}"\r\nP4 FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n'
               .encode() + b"P5 LOGOUT\r\n")
        seen = []
        for tag in ["P1", "P2", "P3", "P4", "P5"]:
            untagged, tagged = r.wait(tag)
            seen.append(tagged)
            if tag == "P4":
                self.assertIn("Subject: pipelined", untagged[0])
        self.assertTrue(all(" OK " in t for t in seen), seen)


class SessionsTest(ImapBase):
    def test_two_sessions_see_each_other(self):
        setup = self.client()
        box = self.fresh_mailbox(setup)
        ok(setup.append(box, None, None, simple("first")))
        ok(setup.append(box, None, None, simple("second")))
        a, b = self.raw(), self.raw()
        a.command(f'SELECT "{box}"')
        b.command(f'SELECT "{box}"')
        msg = simple("third")
        b.send(f'X1 APPEND "{box}" {{{len(msg)}+}}\r\n'.encode() + msg + b"\r\n")
        b.wait("X1")
        b.command(r"STORE 1 +FLAGS (\Flagged)")
        untagged, _ = a.command("NOOP")
        joined = "\n".join(untagged)
        self.assertIn("* 3 EXISTS", joined)
        self.assertRegex(joined, r"\* 1 FETCH \(UID 1 FLAGS \(.*\\Flagged.*\)\)")
        b.command(r"STORE 2 +FLAGS.SILENT (\Deleted)")
        b.command("EXPUNGE")
        untagged, _ = a.command("FETCH 1 FLAGS")  # no EXPUNGE during FETCH
        self.assertNotIn("EXPUNGE", "\n".join(untagged))
        untagged, _ = a.command("NOOP")
        self.assertIn("* 2 EXPUNGE", untagged)

    def test_idle_woken_by_session_and_by_delivery(self):
        setup = self.client()
        box = self.fresh_mailbox(setup)
        a = self.raw()
        a.command(f'SELECT "{box}"')
        a.send(b"I1 IDLE\r\n")
        self.assertTrue(a.read_line().startswith(b"+ "))
        ok(setup.append(box, None, None, simple("wake")))
        self.assertEqual(a.read_line(), b"* 1 EXISTS\r\n")
        self.assertEqual(a.read_line(), b"* 1 RECENT\r\n")
        a.send(b"DONE\r\n")
        _, tagged = a.wait("I1")
        self.assertIn("I1 OK", tagged)
        # A delivery by another process (posternctl deliver) reaches IDLE too.
        a.command("SELECT INBOX")
        untagged, _ = a.command("NOOP")
        a.send(b"I2 IDLE\r\n")
        a.read_line()
        count = int(re.search(r"(\d+) EXISTS", "\n".join(
            self.raw().command("SELECT INBOX")[0])).group(1))
        done = self.node.deliver(ALICE, simple("delivered"))
        self.assertEqual(done.returncode, 0, done.stderr)
        line = a.read_line()
        self.assertEqual(line, f"* {count + 1} EXISTS\r\n".encode())
        a.send(b"DONE\r\n")
        a.wait("I2")

    def test_concurrent_deliveries_while_fetching(self):
        setup = self.client()
        box = self.fresh_mailbox(setup)
        errors = []

        def deliver(n):
            for i in range(n):
                r = self.node.deliver(ALICE, simple(f"parallel {i}"), folder=box)
                if r.returncode != 0:
                    errors.append(r.stderr)

        def appender(n):
            m = self.client()
            for i in range(n):
                if m.append(box, None, None, simple(f"append {i}"))[0] != "OK":
                    errors.append("append failed")

        threads = [threading.Thread(target=deliver, args=(10,)),
                   threading.Thread(target=appender, args=(20,))]
        for t in threads:
            t.start()
        reader = self.client()
        ok(reader.select(box))
        while any(t.is_alive() for t in threads):
            ok(reader.noop())
            reader.fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER])")
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        ok(reader.noop())
        uids = [int(re.search(rb"UID (\d+)", x).group(1))
                for x in ok(reader.fetch("1:*", "(UID)"))]
        self.assertEqual(len(uids), 30)
        self.assertEqual(len(set(uids)), 30)


class RestartTest(unittest.TestCase):
    def test_uids_stable_across_restart_and_sigterm_drains(self):
        with Slapd() as ldap, Node(ldap, listeners=("imap",)) as node:
            m = imaplib.IMAP4("127.0.0.1", node.port("imap"))
            ok(m.login(ALICE, Slapd.user_password("alice")))
            for i in range(3):
                ok(m.append("INBOX", None, None, simple(f"r{i}")))
            typ, data = m.select("INBOX")
            validity = m.untagged_responses.get("UIDVALIDITY")
            before = ok(m.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
            # SIGTERM while a session is open: the client gets BYE, the node exits 0.
            code = node.stop()
            self.assertEqual(code, 0)
            with self.assertRaises((imaplib.IMAP4.abort, OSError, EOFError)):
                m.noop()
            node.start()
            m = imaplib.IMAP4("127.0.0.1", node.port("imap"))
            ok(m.login(ALICE, Slapd.user_password("alice")))
            ok(m.select("INBOX"))
            self.assertEqual(m.untagged_responses.get("UIDVALIDITY"), validity)
            after = ok(m.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
            self.assertEqual(before, after)
            m.logout()
            self.assertIn("event=imap_logout", node.log())


class LargeMessageTest(ImapBase):
    def test_50mb_round_trip(self):
        m = self.client()
        box = self.fresh_mailbox(m)
        line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$%&*+-/=?^_`{|}~\r\n"
        body = line * (50 * 1024 * 1024 // len(line))
        message = b"From: big@example.com\r\nSubject: big\r\n\r\n" + body
        peak_before = self.peak_kb()
        ok(m.append(box, None, None, message))
        ok(m.select(box))
        got = ok(m.fetch("1", "(RFC822.SIZE BODY.PEEK[])"))[0]
        self.assertIn(f"RFC822.SIZE {len(message)}".encode(), got[0])
        self.assertEqual(len(got[1]), len(message))
        self.assertTrue(got[1] == message)
        # The literal is held once while it is spooled; FETCH streams from
        # the file. Twice the message would mean a copy somewhere.
        grown_mb = (self.peak_kb() - peak_before) / 1024
        self.assertLess(grown_mb, 1.6 * len(message) / (1 << 20), f"peak grew {grown_mb:.0f} MB")

    def peak_kb(self):
        with open(f"/proc/{self.node.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        raise AssertionError("no VmHWM")


class ObservabilityTest(ImapBase):
    def test_logs_and_metrics(self):
        m = self.client()
        ok(m.select("INBOX"))
        m.logout()
        self.node.wait_log(r"event=imap_logout user=alice@example.com .*reason=logout commands=\d+")
        metrics = self.node.metrics()
        self.assertRegex(metrics, r'postern_logins_total\{result="ok",service="imap"\} [1-9]'
                         r'|postern_logins_total\{service="imap",result="ok"\} [1-9]')
        self.assertRegex(metrics, r'postern_imap_commands_total\{command="SELECT"\} [1-9]')
        self.assertIn("postern_store_latency_microseconds_total", metrics)
        self.assertRegex(metrics, r'postern_connections_total\{service="imap"\} [1-9]')


if __name__ == "__main__":
    unittest.main()
