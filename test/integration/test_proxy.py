"""The proxy tier end to end (issue 5): real slapd, two real postern-node
processes, a real postern-proxy in front of them, and real clients (imaplib,
poplib, smtplib, swaks, curl). Every hop from the proxy to a node uses
STARTTLS verified against the nodes' certificate, as the cluster's does."""

import imaplib
import poplib
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import time
import unittest
import urllib.request

from lib.node import Node
from lib.postern import EX_CONFIG, posternctl
from lib.proxy import POSTERN_PROXY, Proxy
from lib.slapd import Slapd

USERS = {"alice": "alice@example.com", "bob": "bob@example.com",
         "carol": "carol@example.org", "dave": "dave@example.com"}
HOME = {"alice": "node1", "bob": "node2", "carol": "node1"}
ALL_LISTENERS = ("imap", "imaps", "pop3", "pop3s", "smtp", "submission", "submissions")


def node_settings():
    return {"smtp": {"hostname": "node.test", "local_domains": ["example.com", "example.org"],
                     "relay_networks": [], "spf": "ignore"},
            "dns": {"nameservers": [{"address": "127.0.0.1:9", "priority": 1}],
                    "timeout": 0.5, "retries": 0},
            "queue": {"retry_schedule": [1]}}


def start_nodes(ldap, names=("node1", "node2"), directory=None):
    nodes = [Node(ldap, name=n, listeners=ALL_LISTENERS, extra=node_settings(),
                  directory=directory) for n in names]
    cluster = {n.name: {"smtp": f"127.0.0.1:{n.port('smtp')}"} for n in nodes}
    for n in nodes:
        n.update_extra({"cluster": cluster})
        n.start()
    return nodes


def proxy_for(ldap, nodes, **kw):
    kw.setdefault("listeners", ALL_LISTENERS)
    kw.setdefault("smtp", {"local_domains": ["example.com", "example.org"]})
    return Proxy(ldap, nodes, **kw)


def imap_login(port, user, password=None):
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(USERS.get(user, user), password or Slapd.user_password(user))
    return imap


def wait_for(predicate, timeout=15, step=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def client_tls():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def fetch_all(imap):
    typ, data = imap.select("INBOX", readonly=True)
    assert typ == "OK", data
    count = int(data[0])
    if count == 0:
        return []
    typ, data = imap.fetch(f"1:{count}", "(BODY.PEEK[])")
    return [part[1] for part in data if isinstance(part, tuple)]


class ProxyClusterTest(unittest.TestCase):
    """slapd + node1 + node2 + one proxy, shared by the tests of this class."""

    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        cls.nodes = start_nodes(cls.ldap)
        cls.node = {n.name: n for n in cls.nodes}
        cls.proxy = proxy_for(cls.ldap, cls.nodes)
        cls.proxy.start()

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.proxy.cleanup()
        for n in cls.nodes:
            n.stop()
            n.cleanup()
        cls.ldap.cleanup()

    def port(self, listener):
        return self.proxy.port(listener)

    # -- routing ---------------------------------------------------------------

    def test_every_user_lands_on_their_node(self):
        for user, home in HOME.items():
            imap = imap_login(self.port("imap"), user)
            typ, _ = imap.select("INBOX")
            self.assertEqual(typ, "OK")
            imap.logout()
            pattern = rf"imap_login result=ok user={re.escape(USERS[user])}"
            self.assertTrue(self.node[home].wait_log(pattern), f"{user} not seen on {home}")
            other = "node2" if home == "node1" else "node1"
            self.assertNotRegex(self.node[other].log(), pattern)

    def test_the_node_sees_the_client_address_and_the_session_log_names_user_and_node(self):
        imap = imap_login(self.port("imap"), "bob")
        imap.noop()
        imap.logout()
        self.assertTrue(self.node["node2"].wait_log(
            r"imap_login result=ok user=bob@example\.com client=127\.0\.0\.1:\d+"))
        line = self.proxy.wait_log(r"session_end .*proto=imap user=bob@example\.com node=node2")
        self.assertTrue(line)
        self.assertRegex(self.proxy.log(), r"session_end .*user=bob@example\.com node=node2 "
                                           r"client=127\.0\.0\.1:\d+ via=\S* bytes_in=[1-9]\d* "
                                           r"bytes_out=[1-9]\d* duration_ms=\d+ pump=\w+ node_conn=\w+ reason=\w+")

    def test_dave_is_refused_everywhere(self):
        with self.assertRaises(imaplib.IMAP4.error) as e:
            imap_login(self.port("imap"), "dave")
        self.assertIn("AUTHENTICATIONFAILED", str(e.exception))
        pop = poplib.POP3("127.0.0.1", self.port("pop3"))
        pop.user(USERS["dave"])
        with self.assertRaises(poplib.error_proto) as e:
            pop.pass_(Slapd.user_password("dave"))
        self.assertIn("[AUTH]", str(e.exception))
        # Refused at the edge: neither node heard of dave.
        for n in self.nodes:
            self.assertNotIn("user=dave@", n.log())

    def test_wrong_password_is_refused_at_the_edge(self):
        with self.assertRaises(imaplib.IMAP4.error) as e:
            imap_login(self.port("imap"), "alice", "not-her-password")
        self.assertIn("AUTHENTICATIONFAILED", str(e.exception))
        self.assertTrue(self.proxy.wait_log(r"proxy_login .*user=alice@example\.com .*"
                                            r"result=denied"))

    # -- mail through the proxy -------------------------------------------------

    def test_message_to_alice_and_bob_arrives_on_both_nodes(self):
        subject = f"through the proxy {time.time()}"
        msg = (f"From: someone@example.net\r\nTo: alice@example.com, bob@example.com\r\n"
               f"Subject: {subject}\r\n\r\nHello from outside.\r\n")
        with smtplib.SMTP("127.0.0.1", self.port("smtp"), timeout=20) as s:
            code, _ = s.ehlo("client.example.net")
            self.assertEqual(code, 250)
            refused = s.sendmail("someone@example.net", ["alice@example.com", "bob@example.com"],
                                 msg.encode())
            self.assertEqual(refused, {})
        needle = f"Subject: {subject}".encode()
        for user in ("alice", "bob"):
            def arrived():
                imap = imap_login(self.port("imap"), user)
                try:
                    return [m for m in fetch_all(imap) if needle in m]
                finally:
                    imap.logout()
            got = wait_for(arrived)
            self.assertEqual(len(got), 1, f"{user} did not get the message")
            self.assertIn(b"Hello from outside.", got[0])
        # ... and POP3 through the proxy reads the same message.
        pop = poplib.POP3("127.0.0.1", self.port("pop3"))
        pop.user(USERS["bob"])
        pop.pass_(Slapd.user_password("bob"))
        count, _ = pop.stat()
        bodies = [b"\r\n".join(pop.retr(i)[1]) for i in range(1, count + 1)]
        pop.quit()
        self.assertTrue(any(needle in b for b in bodies))
        self.assertTrue(self.node["node2"].wait_log(r"pop3_login .*user=bob@example\.com"))

    def test_relay_to_another_domain_is_refused_at_the_proxy(self):
        with smtplib.SMTP("127.0.0.1", self.port("smtp"), timeout=20) as s:
            s.ehlo("client.example.net")
            s.mail("someone@example.net")
            code, text = s.rcpt("victim@elsewhere.test")
            self.assertEqual(code, 554)
            self.assertIn(b"5.7.1", text)
            code, text = s.rcpt("nobody@example.com")
            self.assertEqual(code, 550)
            self.assertIn(b"5.1.1", text)

    def test_submission_routes_by_the_authenticated_user(self):
        subject = f"submitted by bob {time.time()}"
        with smtplib.SMTP("127.0.0.1", self.port("submission"), timeout=20) as s:
            s.starttls(context=client_tls())
            s.login(USERS["bob"], Slapd.user_password("bob"))
            s.sendmail(USERS["bob"], [USERS["alice"]],
                       f"From: bob@example.com\r\nSubject: {subject}\r\n\r\nhi\r\n".encode())
        self.assertTrue(self.node["node2"].wait_log(r"smtp.* (user|login)=bob@example\.com"))
        needle = f"Subject: {subject}".encode()

        def arrived():
            imap = imap_login(self.port("imap"), "alice")
            try:
                return [m for m in fetch_all(imap) if needle in m]
            finally:
                imap.logout()
        self.assertTrue(wait_for(arrived))

    # -- TLS on every protocol ---------------------------------------------------

    def test_starttls_and_implicit_tls_on_every_protocol(self):
        imap = imaplib.IMAP4("127.0.0.1", self.port("imap"))
        self.assertIn("STARTTLS", imap.capabilities)
        imap.starttls(ssl_context=client_tls())
        imap.login(USERS["alice"], Slapd.user_password("alice"))
        self.assertEqual(imap.select("INBOX")[0], "OK")
        imap.logout()

        imap = imaplib.IMAP4_SSL("127.0.0.1", self.port("imaps"), ssl_context=client_tls())
        imap.login(USERS["bob"], Slapd.user_password("bob"))
        self.assertEqual(imap.select("INBOX")[0], "OK")
        imap.logout()

        pop = poplib.POP3("127.0.0.1", self.port("pop3"))
        pop.stls(context=client_tls())
        pop.user(USERS["alice"])
        pop.pass_(Slapd.user_password("alice"))
        pop.stat()
        pop.quit()

        pop = poplib.POP3_SSL("127.0.0.1", self.port("pop3s"), context=client_tls())
        pop.user(USERS["bob"])
        pop.pass_(Slapd.user_password("bob"))
        pop.stat()
        pop.quit()

        with smtplib.SMTP("127.0.0.1", self.port("smtp"), timeout=20) as s:
            s.starttls(context=client_tls())
            s.ehlo("client.example.net")
            s.mail("someone@example.net")
            self.assertEqual(s.rcpt("alice@example.com")[0], 250)
            s.rset()

        with smtplib.SMTP_SSL("127.0.0.1", self.port("submissions"), timeout=20,
                              context=client_tls()) as s:
            s.login(USERS["alice"], Slapd.user_password("alice"))
            s.mail(USERS["alice"])
            self.assertEqual(s.rcpt("bob@example.com")[0], 250)
            s.rset()

    def test_capabilities_before_login_are_the_nodes(self):
        proxy = imaplib.IMAP4("127.0.0.1", self.port("imap"))
        node = imaplib.IMAP4("127.0.0.1", self.node["node1"].port("imap"))
        extra = set(proxy.capabilities) - set(node.capabilities)
        # The proxy takes AUTHENTICATE LOGIN itself and logs in with PLAIN.
        self.assertLessEqual(extra, {"AUTH=LOGIN"})
        self.assertIn("STARTTLS", proxy.capabilities)
        typ, data = proxy.login(USERS["alice"], Slapd.user_password("alice"))
        self.assertEqual(typ, "OK")
        # After login the client sees the node's own capabilities, except
        # UNAUTHENTICATE: the node keeps it for the proxy (the reuse token).
        node.login(USERS["alice"], Slapd.user_password("alice"))
        direct = node.capability()[1][0].split()
        self.assertIn(b"UNAUTHENTICATE", direct)
        self.assertEqual(proxy.capability()[1][0].split(),
                         [c for c in direct if c != b"UNAUTHENTICATE"])
        proxy.logout()
        node.logout()

    def test_pipelined_login_with_literals_survives_the_hand_off(self):
        user = USERS["carol"].encode()
        password = Slapd.user_password("carol").encode()
        with socket.create_connection(("127.0.0.1", self.port("imap")), timeout=10) as s:
            f = s.makefile("rb")
            self.assertTrue(f.readline().startswith(b"* OK"))
            s.sendall(b"a LOGIN {%d+}\r\n%s {%d+}\r\n%s\r\nb SELECT INBOX\r\nc NOOP\r\n"
                      b"d LOGOUT\r\n" % (len(user), user, len(password), password))
            seen = []
            while True:
                line = f.readline()
                self.assertTrue(line, f"connection closed after {seen}")
                seen.append(line)
                if line.startswith(b"d "):
                    break
            tagged = {ln.split(b" ")[0]: ln for ln in seen if not ln.startswith(b"*")}
            self.assertTrue(tagged[b"a"].startswith(b"a OK"), seen)
            self.assertTrue(tagged[b"b"].startswith(b"b OK"), seen)
            self.assertTrue(tagged[b"c"].startswith(b"c OK"), seen)
            self.assertTrue(tagged[b"d"].startswith(b"d OK"), seen)
        # A synchronising literal: the proxy asks for it with "+".
        with socket.create_connection(("127.0.0.1", self.port("imap")), timeout=10) as s:
            f = s.makefile("rb")
            f.readline()
            s.sendall(b"a LOGIN {%d}\r\n" % len(user))
            self.assertTrue(f.readline().startswith(b"+"))
            s.sendall(user + b" {%d}\r\n" % len(password))
            self.assertTrue(f.readline().startswith(b"+"))
            s.sendall(password + b"\r\nb LOGOUT\r\n")
            lines = [f.readline() for _ in range(3)]
            self.assertTrue(any(ln.startswith(b"a OK") for ln in lines), lines)

    def test_authenticate_plain_and_login_mechanisms(self):
        imap = imaplib.IMAP4("127.0.0.1", self.port("imap"))
        creds = f"\0{USERS['alice']}\0{Slapd.user_password('alice')}".encode()
        typ, _ = imap.authenticate("PLAIN", lambda _: creds)
        self.assertEqual(typ, "OK")
        imap.logout()
        imap = imaplib.IMAP4("127.0.0.1", self.port("imap"))
        answers = iter([USERS["bob"].encode(), Slapd.user_password("bob").encode()])
        typ, _ = imap.authenticate("LOGIN", lambda _: next(answers))
        self.assertEqual(typ, "OK")
        self.assertEqual(imap.select("INBOX")[0], "OK")
        imap.logout()

    def test_a_large_message_crosses_the_pump_intact_both_ways(self):
        # Plaintext on both sides of the proxy: the kernel splices the bytes.
        body = b"".join(b"line %07d of a big message ....................\r\n" % i
                        for i in range(60000))
        subject = f"big {time.time()}"
        message = f"From: a@example.net\r\nSubject: {subject}\r\n\r\n".encode() + body
        plain = Proxy(self.ldap, self.nodes, listeners=("imap",), node_tls="none")
        with plain:
            imap = imap_login(plain.port("imap"), "carol")
            # Up: APPEND through the proxy; down: FETCH it back.
            typ, _ = imap.append("INBOX", None, None, message)
            self.assertEqual(typ, "OK")
            imap.select("INBOX")
            typ, data = imap.search(None, "SUBJECT", f'"{subject}"')
            uid = data[0].split()[-1]
            typ, data = imap.fetch(uid, "(BODY.PEEK[])")
            self.assertEqual(data[0][1], message)
            imap.logout()
            self.assertTrue(plain.wait_log(rf"session_end .*user=carol@example\.org "
                                           rf".*bytes_in=\d{{7,}} bytes_out=\d{{7,}} .*pump=splice"))

    # -- real clients ----------------------------------------------------------

    @unittest.skipUnless(shutil.which("curl"), "curl is not installed")
    def test_curl_imap_and_pop3(self):
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "20", "-u",
             f"{USERS['alice']}:{Slapd.user_password('alice')}",
             f"imap://127.0.0.1:{self.port('imap')}/INBOX", "-X", "EXAMINE INBOX"],
            capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"\d+ EXISTS")
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "20", "-u",
             f"{USERS['bob']}:{Slapd.user_password('bob')}",
             f"pop3://127.0.0.1:{self.port('pop3')}/"],
            capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)

    @unittest.skipUnless(shutil.which("swaks"), "swaks is not installed")
    def test_swaks_submission_with_auth(self):
        out = subprocess.run(
            ["swaks", "--server", f"127.0.0.1:{self.port('submission')}", "--tls",
             "--auth", "LOGIN", "--auth-user", USERS["carol"],
             "--auth-password", Slapd.user_password("carol"),
             "--from", USERS["carol"], "--to", USERS["alice"], "--timeout", "20"],
            capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertRegex(out.stdout, r"<~  250 2\.0\.0 Ok: queued as")

    # -- operations --------------------------------------------------------------

    def test_metrics_count_sessions_logins_and_bytes(self):
        imap = imap_login(self.port("imap"), "alice")
        imap.logout()
        self.assertTrue(self.proxy.wait_log(r"session_end .*user=alice@example\.com"))
        with urllib.request.urlopen(f"http://127.0.0.1:{self.proxy.admin_port}/metrics",
                                    timeout=5) as r:
            text = r.read().decode()
        self.assertRegex(text, r'postern_proxy_sessions_total\{proto="imap"\} [1-9]')
        self.assertRegex(text, r'postern_proxy_logins_total\{proto="imap",result="ok"\} [1-9]')
        self.assertRegex(text, r'postern_proxy_bytes_total\{proto="imap",direction="out"\} [1-9]')
        self.assertRegex(text, r'postern_proxy_node_up\{node="node1"\} 1')

    def test_posternctl_reads_the_proxys_file(self):
        r = posternctl(self.proxy.config_path, "check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = posternctl(self.proxy.config_path, "lookup", "bob@example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("node2", r.stdout)

    def test_sighup_reloads_without_dropping_sessions(self):
        imap = imap_login(self.port("imap"), "alice")
        self.proxy.sighup()
        self.assertTrue(self.proxy.wait_log(r"reload .*ok=1"))
        self.assertEqual(imap.noop()[0], "OK")
        self.assertEqual(imap.select("INBOX")[0], "OK")
        imap.logout()
        fresh = imap_login(self.port("imap"), "bob")
        fresh.logout()

    def test_a_second_proxy_on_a_running_proxys_port_is_refused(self):
        port = self.port("imap")
        other = Proxy(self.ldap, self.nodes, name="proxy2", listeners=("imap",),
                      listener_overrides={"imap": {"address": f"127.0.0.1:{port}"}})
        try:
            p = subprocess.run([str(POSTERN_PROXY), "-c", other.config_path],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
            self.assertIn(f"listeners[0].address: cannot listen on 127.0.0.1:{port}: "
                          "Address already in use", p.stderr)
        finally:
            other.cleanup()
        # Every connection still reaches this proxy.
        for _ in range(10):
            imap_login(port, "alice").logout()


if __name__ == "__main__":
    unittest.main()
