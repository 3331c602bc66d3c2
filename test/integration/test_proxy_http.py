"""The proxy's WebMail routing (issue 6, DESIGN.md section 5) with Python's
http.client against a real slapd, two real postern-nodes (their "http"
listeners, backend/webmail) and a real postern-proxy: the login is routed by
the directory, later requests by the proxy's signed routing cookie; forged,
expired or missing cookies never reach a node; keep-alive, limits, large
bodies streamed both ways with the proxy's memory flat, and a node that is
down."""

import base64
import hashlib
import hmac
import http.client
import json
import re
import socket
import ssl
import threading
import time
import unittest
import urllib.parse
import uuid

from lib.node import Node
from lib.proxy import Proxy
from lib.slapd import Slapd

ALICE = "alice@example.com"
BOB = "bob@example.com"
PASSWORDS = {ALICE: Slapd.user_password("alice"), BOB: Slapd.user_password("bob")}
MAX_BODY = 16 * 1024
BIG = 20 * 1024 * 1024  # the large attachment, both ways


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Browser:
    """One browser's cookies (both the proxy's and the node's) over one
    keep-alive connection to the proxy."""

    def __init__(self, proxy, listener="http"):
        self.proxy = proxy
        self.listener = listener
        self.cookies = {}
        self.csrf = None
        self.conn = self._connect()

    def _connect(self):
        port = self.proxy.port(self.listener)
        if self.listener == "https":
            return http.client.HTTPSConnection("localhost", port, timeout=60,
                                               context=self.proxy.ssl_context())
        return http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method, path, body=None, headers=None, cookies=None):
        h = dict(headers or {})
        jar = self.cookies if cookies is None else cookies
        if jar:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        if self.csrf and method not in ("GET", "HEAD"):
            h.setdefault("X-CSRF-Token", self.csrf)
        self.conn.request(method, path, body=body, headers=h)
        r = self.conn.getresponse()
        r.data = r.read()
        r.set_cookies = r.headers.get_all("Set-Cookie") or []
        if cookies is None:
            for c in r.set_cookies:
                name, _, value = c.split(";", 1)[0].partition("=")
                if "Max-Age=0" in c:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = value
        return r

    def login(self, user):
        body = json.dumps({"user": user, "password": PASSWORDS[user]})
        r = self.request("POST", "/api/login", body=body,
                         headers={"Content-Type": "application/json"})
        if r.status == 200:
            self.csrf = json.loads(r.data)["csrf"]
        return r

    def close(self):
        self.conn.close()


def login_body(user, password):
    return json.dumps({"user": user, "password": password})


def timed(f):
    started = time.monotonic()
    r = f()
    return r, time.monotonic() - started


class FakeNode:
    """A node's HTTP listener that answers the first request of each
    connection (200, kept alive) and closes the connection, unanswered, on
    the second: a kept connection the node drops as a request arrives.
    `seen` lists (method, path) of every request read."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.seen = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf, answered = b"", 0
        with c:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = c.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                method, path = head.split(b"\r\n")[0].decode().split(" ")[:2]
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                need = int(length.group(1)) if length else 0
                while len(buf) < need:
                    buf += c.recv(65536)
                buf = buf[need:]
                self.seen.append((method, path))
                if answered:
                    return  # closed before answering
                answered += 1
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 2\r\n\r\n{}")

    def close(self):
        self._stop = True
        self.sock.close()


def requests_at(node):
    """How many HTTP requests `node` has answered (its own metrics)."""
    total = 0
    for line in node.metrics().splitlines():
        if line.startswith("postern_http_requests_total"):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def http_connections_at(node):
    """How many HTTP connections `node` has accepted."""
    for line in node.metrics().splitlines():
        if line.startswith('postern_connections_total{service="http"}'):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakRss:
    """Samples a process's resident memory while the block runs."""

    def __init__(self, pid):
        self.pid = pid
        self.base = rss_bytes(pid)
        self.peak = self.base
        self._stop = threading.Event()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.01)

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        return False

    @property
    def growth(self):
        return self.peak - self.base


def attachment_message(to, subject, data):
    b64 = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return (f"From: Sender <sender@example.net>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            "Date: Sat, 21 Nov 2026 11:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBig one.\r\n"
            "--b1\r\nContent-Type: application/octet-stream\r\n"
            "Content-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=\"big.bin\"\r\n\r\n"
            f"{b64}--b1--\r\n").encode()


def pattern(n):
    block = hashlib.sha256(b"postern").digest() * 2048  # 64 KiB
    return (block * (n // len(block) + 1))[:n]


class ProxyHttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        # The nodes' default upload limit (25 MiB) takes BIG.
        cls.node1 = Node(cls.ldap, "node1", listeners=("imap", "http"))
        cls.node2 = Node(cls.ldap, "node2", listeners=("imap", "http"))
        cls.node1.start()
        cls.node2.start()
        # A light throttle: the failed logins some tests make on purpose
        # must not slow the other tests' logins down much (BruteForce has
        # its own proxy).
        cls.proxy = Proxy(cls.ldap, [cls.node1, cls.node2], listeners=("http", "https"),
                          proxy={"connect_timeout": 2},
                          throttle={"base_delay": 0.05, "max_delay": 0.2},
                          health={"probe_interval": 0.2, "probe_timeout": 0.5},
                          http={"max_body_size": MAX_BODY, "max_upload_size": 25 * 1024 * 1024})
        cls.proxy.start()

    @classmethod
    def tearDownClass(cls):
        cls.proxy.cleanup()
        cls.node2.cleanup()
        cls.node1.cleanup()
        cls.ldap.cleanup()

    def browser(self, user=None, listener="http"):
        b = Browser(self.proxy, listener)
        self.addCleanup(b.close)
        if user:
            r = b.login(user)
            self.assertEqual(r.status, 200, r.data)
        return b

    def assertAuthRefused(self, r):
        self.assertEqual(r.status, 401, r.data)
        self.assertEqual(json.loads(r.data)["error"], "auth")
        self.assertTrue(any(c.startswith("postern_route=;") and "Max-Age=0" in c
                            for c in r.set_cookies), r.set_cookies)

    def route_cookie(self, node, user, expires, secret=None):
        """A routing cookie as the proxy makes it (proxy/routing_cookie.hpp)."""
        key = (secret or self.proxy.cookie_secret).encode()
        signed = f"v1.{b64url(node.encode())}.{b64url(user.encode())}.{expires}"
        mac = hmac.new(key, b"postern routing cookie\n" + signed.encode(), hashlib.sha256)
        return f"{signed}.{b64url(mac.digest())}"

    # -- routing -------------------------------------------------------------------

    def test_logins_land_on_their_nodes_with_a_strict_cookie(self):
        ok_before = self.http_logins("ok")
        for user, node, other in ((ALICE, self.node1, self.node2), (BOB, self.node2, self.node1)):
            b = self.browser()
            r = b.login(user)
            self.assertEqual(r.status, 200, r.data)
            self.assertEqual(json.loads(r.data)["user"], user)
            route = [c for c in r.set_cookies if c.startswith("postern_route=")]
            self.assertEqual(len(route), 1, r.set_cookies)
            attrs = [a.strip() for a in route[0].split(";")]
            for a in ("HttpOnly", "SameSite=Strict", "Path=/"):
                self.assertIn(a, attrs)
            self.assertNotIn("Secure", attrs)
            # The node's own session cookie passes through.
            self.assertIn("postern_session", b.cookies)
            node.wait_log(rf"event=webmail_login .*user={re.escape(user)} .*ok=1")
            self.assertNotRegex(other.log(), rf"event=webmail_login .*user={re.escape(user)}")
            self.proxy.wait_log(rf"event=http_request .*path=/api/login status=200 "
                                rf"user={re.escape(user)} node={node.name}")
            # Counted as a login once the node said yes.
            ok_before += 1
            self.assertEqual(self.http_logins("ok"), ok_before)
            # Later requests go where the session lives: the session cookie
            # is valid only on the node that made it.
            s = b.request("GET", "/api/session")
            self.assertEqual(s.status, 200, s.data)
            self.assertEqual(json.loads(s.data)["user"], user)
            f = b.request("GET", "/api/folders")
            self.assertEqual(f.status, 200, f.data)
            self.assertIn("INBOX", [x["name"] for x in json.loads(f.data)["folders"]])

    def test_https_listener_sets_a_secure_cookie(self):
        b = self.browser(listener="https")
        r = b.login(ALICE)
        self.assertEqual(r.status, 200, r.data)
        route = [c for c in r.set_cookies if c.startswith("postern_route=")][0]
        self.assertIn("Secure", [a.strip() for a in route.split(";")])
        node_cookie = [c for c in r.set_cookies if c.startswith("postern_session=")][0]
        # X-Forwarded-Proto: https from the proxy makes the node's cookie Secure too.
        self.assertIn("Secure", [a.strip() for a in node_cookie.split(";")])
        self.assertEqual(b.request("GET", "/api/session").status, 200)

    def http_logins(self, result):
        m = re.search(rf'postern_proxy_logins_total\{{proto="http",result="{result}"\}} (\d+)',
                      self.proxy.metrics())
        return int(m.group(1)) if m else 0

    def test_unknown_user_is_refused_like_a_wrong_password(self):
        b = self.browser()
        json_type = {"Content-Type": "application/json"}
        denied_before = self.http_logins("denied")
        unknown, t_unknown = timed(lambda: b.request(
            "POST", "/api/login", body=login_body("nobody@example.com", "x"), headers=json_type))
        wrong, t_wrong = timed(lambda: b.request(
            "POST", "/api/login", body=login_body(ALICE, "wrong"), headers=json_type))
        for r in (unknown, wrong):
            self.assertEqual(r.status, 401, r.data)
            self.assertEqual(json.loads(r.data)["error"], "auth")
            self.assertFalse(any(c.startswith("postern_route=v1") for c in r.set_cookies))
        # The same bytes: status line, every field in order, body.
        self.assertEqual(unknown.reason, wrong.reason)
        self.assertEqual(unknown.getheaders(), wrong.getheaders())
        self.assertEqual(unknown.data, wrong.data)
        # ... and about as late (the node waits a second before a refusal;
        # the throttle adds at most 0.2 s here).
        self.assertGreaterEqual(t_unknown, 0.9)
        self.assertGreaterEqual(t_wrong, 0.9)
        self.assertLess(abs(t_unknown - t_wrong), 0.5, (t_unknown, t_wrong))
        # Both count as failed logins at the proxy, in its log and its metrics.
        self.proxy.wait_log(r"event=proxy_login .*user=nobody@example\.com .*result=denied")
        self.proxy.wait_log(r"event=proxy_node_refused .*user=alice@example\.com")
        self.assertEqual(self.http_logins("denied"), denied_before + 2)
        bad = b.request("POST", "/api/login", body="not json", headers=json_type)
        self.assertEqual(bad.status, 400, bad.data)

    def test_forged_expired_or_missing_cookies_never_reach_a_node(self):
        b = self.browser(ALICE)
        genuine = b.cookies["postern_route"]
        v, node, user, expires, mac = genuine.split(".")
        later = int(time.time()) + 3600
        forged = {
            "node changed": f"{v}.{b64url(b'node2')}.{user}.{expires}.{mac}",
            "user changed": f"{v}.{node}.{b64url(BOB.encode())}.{expires}.{mac}",
            "expiry changed": f"{v}.{node}.{user}.{later + 99999}.{mac}",
            "signature changed": f"{v}.{node}.{user}.{expires}.{mac[:-2]}AA",
            "expired": self.route_cookie("node1", ALICE, int(time.time()) - 5),
            "another secret": self.route_cookie("node2", BOB, later, "x" * 32),
            "unknown node": self.route_cookie("node9", ALICE, later),
            "garbage": "hello",
        }
        before = requests_at(self.node1) + requests_at(self.node2)
        for what, value in forged.items():
            with self.subTest(what):
                jar = dict(b.cookies, postern_route=value)
                self.assertAuthRefused(b.request("GET", "/api/folders", cookies=jar))
                self.assertAuthRefused(b.request("POST", "/api/messages/flags", cookies=jar,
                                                 body=b"{}",
                                                 headers={"Content-Type": "application/json"}))
        no_route = {"postern_session": b.cookies["postern_session"]}
        self.assertAuthRefused(b.request("GET", "/api/folders", cookies=no_route))
        self.assertEqual(requests_at(self.node1) + requests_at(self.node2), before,
                         "a refused request reached a node")
        self.proxy.wait_log(r"event=route_cookie_rejected .*reason=forged")
        self.proxy.wait_log(r"event=route_cookie_rejected .*reason=expired")
        self.proxy.wait_log(r"event=route_cookie_rejected .*reason=unknown_node")
        metrics = self.proxy.metrics()
        self.assertRegex(metrics, r'postern_proxy_route_cookie_rejections_total\{reason="forged"\} '
                                  r'[1-9]')
        # A cookie the proxy itself would make (same secret) still works.
        self.assertEqual(b.request("GET", "/api/folders").status, 200)

    def test_logout_clears_the_route_cookie(self):
        b = self.browser(BOB)
        r = b.request("POST", "/api/logout")
        self.assertEqual(r.status, 204, r.data)
        self.assertTrue(any(c.startswith("postern_route=;") and "Max-Age=0" in c
                            for c in r.set_cookies), r.set_cookies)
        self.assertNotIn("postern_route", b.cookies)
        self.assertAuthRefused(b.request("GET", "/api/folders"))

    def test_pages_without_a_cookie_come_from_any_node(self):
        b = self.browser()
        r = b.request("GET", "/")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
        self.assertIn(b"<html", r.data.lower())
        self.assertEqual(b.request("GET", "/static/app.js").status, 200)
        # A forged cookie on a page: the page (the login page) all the same,
        # from a node we chose, and the cookie is cleared.
        jar = {"postern_route": self.route_cookie("node2", BOB, int(time.time()) + 60, "y" * 32)}
        r = b.request("GET", "/", cookies=jar)
        self.assertEqual(r.status, 200)
        self.assertTrue(any(c.startswith("postern_route=;") for c in r.set_cookies))

    def test_client_forwarded_for_is_not_believed(self):
        b = self.browser()
        offset = len(self.node1.log())
        r = b.request("POST", "/api/login", body=login_body(ALICE, PASSWORDS[ALICE]),
                      headers={"Content-Type": "application/json",
                               "X-Forwarded-For": "203.0.113.66", "X-Real-IP": "203.0.113.66"})
        self.assertEqual(r.status, 200)
        # This login's line, not one an earlier test left in the log.
        line = self.node1.wait_log(r"event=webmail_login .*user=alice@example\.com .*ok=1",
                                   since=offset)
        self.assertIn("client=127.0.0.1 ", line)
        self.assertNotIn("203.0.113.66", line)

    # -- connections and limits ----------------------------------------------------

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        before = http_connections_at(self.node1)
        b = self.browser(ALICE)
        sock = b.conn.sock
        for _ in range(5):
            self.assertEqual(b.request("GET", "/api/folders").status, 200)
            self.assertEqual(b.request("GET", "/").status, 200)
            self.assertIs(b.conn.sock, sock, "the proxy closed the connection")
        # ... and one connection to the node carried them all.
        self.assertEqual(http_connections_at(self.node1) - before, 1)
        # Every request of that connection in one proxy session.
        sids = {m.group(1) for m in (re.search(r"sid=(\S+)", line) for line in
                                     self.proxy.log_lines(r"event=http_request .*user=" +
                                                          re.escape(ALICE)))}
        self.assertTrue(any(len(self.proxy.log_lines(rf"event=http_request sid={s} ")) >= 11
                            for s in sids))

    def raw(self, data: bytes, read_until_close=True):
        s = socket.create_connection(("127.0.0.1", self.proxy.port("http")), timeout=10)
        self.addCleanup(s.close)
        s.sendall(data)
        out = b""
        while read_until_close:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out

    def test_header_and_body_limits(self):
        big_header = (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"x" * (20 * 1024) + b"\r\n\r\n")
        out = self.raw(big_header)
        self.assertTrue(out.startswith(b"HTTP/1.1 431 "), out[:100])
        out = self.raw(b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 414 "), out[:100])
        b = self.browser(ALICE)
        cookie = "; ".join(f"{k}={v}" for k, v in b.cookies.items())
        # Over max_body_size: refused from its Content-Length, body unread.
        before = requests_at(self.node1)
        out = self.raw(f"POST /api/messages/flags HTTP/1.1\r\nHost: a\r\nCookie: {cookie}\r\n"
                       f"Content-Type: application/json\r\nContent-Length: {MAX_BODY + 1}\r\n"
                       "\r\n".encode())
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out[:100])
        self.assertIn(b'"too_large"', out)
        # Chunked: refused when it grows past the limit.
        chunk = b"%x\r\n%s\r\n" % (4096, b"x" * 4096)
        out = self.raw(f"POST /api/messages/flags HTTP/1.1\r\nHost: a\r\nCookie: {cookie}\r\n"
                       "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                       .encode() + chunk * 5)
        self.assertIn(b"HTTP/1.1 413 ", out[:100])
        # Uploads have their own, larger limit.
        out = self.raw(f"POST /api/send HTTP/1.1\r\nHost: a\r\nCookie: {cookie}\r\n"
                       "Content-Type: multipart/form-data; boundary=x\r\n"
                       f"Content-Length: {26 * 1024 * 1024}\r\n\r\n".encode())
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out[:100])
        self.assertLessEqual(requests_at(self.node1), before + 1)  # the chunked one began
        # A path that could mean /api/ to a node without a cookie check here.
        out = self.raw(b"GET /static/%2e%2e/api/folders HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out[:100])
        # Smuggling attempts are refused at the proxy.
        out = self.raw(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 400 "), out[:100])

    def test_login_body_has_its_own_small_limit(self):
        # 9 KiB: under max_body_size (16 KiB), over the login's 8 KiB.
        pad = "x" * (9 * 1024)
        body = json.dumps({"user": ALICE, "password": "x", "pad": pad}).encode()
        out = self.raw(b"POST /api/login HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                       b"Content-Type: application/json\r\n"
                       b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out[:100])
        self.assertIn(b'"too_large"', out)
        # Chunked, so the size shows only as it arrives.
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 1024]), body[i:i + 1024])
                          for i in range(0, len(body), 1024)) + b"0\r\n\r\n"
        out = self.raw(b"POST /api/login HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
                       b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                       chunks)
        self.assertTrue(out.startswith(b"HTTP/1.1 413 "), out[:100])
        # A padded login under the limit still goes through.
        small = json.dumps({"user": ALICE, "password": PASSWORDS[ALICE],
                            "pad": "x" * 6000}).encode()
        r = self.browser().request("POST", "/api/login", body=small,
                                   headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r.data)

    def test_host_always_reaches_the_node(self):
        # "Connection: host" names Host as hop-by-hop; the node needs it all
        # the same (an HTTP/1.1 request without Host is a 400 there).
        out = self.raw(b"GET /static/app.js HTTP/1.1\r\nHost: a\r\n"
                       b"Connection: close, host\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 200 "), out[:200])
        # HTTP/1.0 may leave Host out; it goes on as HTTP/1.1 with one.
        out = self.raw(b"GET /static/app.js HTTP/1.0\r\n\r\n")
        self.assertTrue(out.startswith(b"HTTP/1.1 200 "), out[:200])

    def test_pipelining_chunked_bodies_and_expect_continue(self):
        b = self.browser(ALICE)
        cookie = "; ".join(f"{k}={v}" for k, v in b.cookies.items())
        body = json.dumps({"folder": "INBOX", "uids": [], "seen": True}).encode()
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7])
                           for i in range(0, len(body), 7)) + b"0\r\n\r\n"
        s = socket.create_connection(("127.0.0.1", self.proxy.port("http")), timeout=10)
        self.addCleanup(s.close)
        # Three requests in one write: a page, a chunked POST, the session.
        s.sendall(b"GET /static/app.js HTTP/1.1\r\nHost: a\r\n\r\n" +
                  f"POST /api/messages/flags HTTP/1.1\r\nHost: a\r\nCookie: {cookie}\r\n"
                  f"X-CSRF-Token: {b.csrf}\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n".encode() + chunked +
                  f"GET /api/session HTTP/1.1\r\nHost: a\r\nCookie: {cookie}\r\n"
                  "Connection: close\r\n\r\n".encode())
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        statuses = re.findall(rb"HTTP/1\.1 (\d{3}) [A-Za-z ]*\r\n", out)
        self.assertEqual(statuses, [b"200", b"200", b"200"], out[:2000])
        self.assertIn(b'{"updated":0}', out)
        self.assertIn(ALICE.encode(), out.rsplit(b"HTTP/1.1 200", 1)[1])
        # Expect: 100-continue is answered by the proxy before the body.
        s2 = socket.create_connection(("127.0.0.1", self.proxy.port("http")), timeout=10)
        self.addCleanup(s2.close)
        s2.sendall(f"POST /api/messages/flags HTTP/1.1\r\nHost: a\r\nCookie: {cookie}\r\n"
                   f"X-CSRF-Token: {b.csrf}\r\nContent-Type: application/json\r\n"
                   f"Expect: 100-continue\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        first = s2.recv(65536)
        self.assertTrue(first.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), first)
        s2.sendall(body)
        rest = first[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
        while b'"updated"' not in rest:
            chunk = s2.recv(65536)
            if not chunk:
                break
            rest += chunk
        self.assertTrue(rest.startswith(b"HTTP/1.1 200 "), rest[:200])

    # -- large bodies ----------------------------------------------------------------

    def test_large_download_streams_with_flat_memory(self):
        data = pattern(BIG)
        subject = "big " + uuid.uuid4().hex[:8]
        r = self.node1.deliver(ALICE, attachment_message(ALICE, subject, data), timeout=180)
        self.assertEqual(r.returncode, 0, r.stderr)
        b = self.browser(ALICE)
        found = b.request("GET", "/api/folders/INBOX/messages?subject=" +
                          urllib.parse.quote(subject))
        uid = json.loads(found.data)["messages"][0]["uid"]
        with PeakRss(self.proxy.proc.pid) as rss:
            b.conn.request("GET", f"/api/folders/INBOX/messages/{uid}/parts/2",
                           headers={"Cookie": "; ".join(f"{k}={v}"
                                                        for k, v in b.cookies.items())})
            resp = b.conn.getresponse()
            self.assertEqual(resp.status, 200)
            digest, size = hashlib.sha256(), 0
            while True:
                chunk = resp.read(256 * 1024)
                if not chunk:
                    break
                digest.update(chunk)
                size += len(chunk)
                time.sleep(0.001)  # a slower reader than the node: back-pressure
        self.assertEqual(size, BIG)
        self.assertEqual(digest.hexdigest(), hashlib.sha256(data).hexdigest())
        self.assertLess(rss.growth, 8 * 1024 * 1024, f"proxy grew by {rss.growth} bytes")
        # The connection is still good for the next request.
        self.assertEqual(b.request("GET", "/api/session").status, 200)

    def test_large_upload_streams_with_flat_memory(self):
        b = self.browser(ALICE)
        data = pattern(BIG)
        boundary = "----postern" + uuid.uuid4().hex
        subject = "upload " + uuid.uuid4().hex[:8]
        head = b""
        for name, value in (("to", ALICE), ("subject", subject), ("body", "big upload")):
            head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                     f"{value}\r\n").encode()
        head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"attachment\"; "
                 "filename=\"big.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        with PeakRss(self.proxy.proc.pid) as rss:
            r = b.request("POST", "/api/send", body=head + data + tail,
                          headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        self.assertEqual(r.status, 200, r.data)
        self.assertLess(rss.growth, 8 * 1024 * 1024, f"proxy grew by {rss.growth} bytes")
        self.proxy.wait_log(r"event=http_request .*path=/api/send status=200 .*node=node1 "
                            r".*bytes_in=(\d{8,})")

    # -- failures ----------------------------------------------------------------------

    def test_guessing_alice_gets_slower(self):
        # The edge throttle, as for IMAP, POP3 and SMTP: each failed login
        # from an address or for a login makes the next answer slower. A
        # proxy of its own: its throttle state is this test's alone.
        proxy = Proxy(self.ldap, [self.node1, self.node2], name="proxy-guess",
                      listeners=("http",), throttle={"base_delay": 0.4, "max_delay": 1.6})
        proxy.start()
        self.addCleanup(proxy.cleanup)
        b = Browser(proxy)
        self.addCleanup(b.close)
        json_type = {"Content-Type": "application/json"}
        times, closes = [], []
        for i in range(4):
            r, took = timed(lambda: b.request("POST", "/api/login", headers=json_type,
                                              body=login_body(ALICE, f"wrong{i}")))
            self.assertEqual(r.status, 401, r.data)
            times.append(took)
            closes.append(r.getheader("Connection"))
        # The node answers a wrong password after 1 s; the throttle adds
        # 0.4, 0.8, 1.6 s after the first, second and third failure.
        for earlier, later in zip(times, times[1:]):
            self.assertGreater(later, earlier + 0.2, times)
        self.assertGreater(times[3], times[0] + 1.2, times)
        self.assertTrue(proxy.wait_log(r"event=login_delayed .*proto=http "
                                       r".*client=127\.0\.0\.1"))
        # The third failure on one connection ends it, as for IMAP.
        self.assertEqual(closes[:3], [None, None, "close"], closes)
        # The address stays slow for an unknown user too, whose answer is
        # the node's wrong-password answer.
        r, took = timed(lambda: b.request("POST", "/api/login", headers=json_type,
                                          body=login_body("nobody@example.com", "x")))
        self.assertEqual(r.status, 401, r.data)
        self.assertEqual(json.loads(r.data)["message"], "Wrong user name or password")
        self.assertGreater(took, 1.0 + 1.4, took)
        # The right password still works, after its wait.
        r = b.login(ALICE)
        self.assertEqual(r.status, 200, r.data)

    def test_only_get_and_head_are_sent_again_on_a_new_node_connection(self):
        fake = FakeNode()
        self.addCleanup(fake.close)
        proxy = Proxy(self.ldap, {"node1": self.node1, "fake": {"http": f"127.0.0.1:{fake.port}"}},
                      name="proxy-retry", listeners=("http",))
        proxy.start()
        self.addCleanup(proxy.cleanup)
        cookie = "postern_route=" + self.route_cookie("fake", ALICE, int(time.time()) + 600)
        s = socket.create_connection(("127.0.0.1", proxy.port("http")), timeout=10)
        self.addCleanup(s.close)
        f = s.makefile("rb")

        def exchange(request_line):
            s.sendall(f"{request_line} HTTP/1.1\r\nHost: a\r\nCookie: {cookie}\r\n\r\n"
                      .encode())
            status = f.readline()
            length = 0
            while (line := f.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            f.read(length)
            return status

        # The first request opens the node connection, which is kept.
        self.assertTrue(exchange("GET /api/one").startswith(b"HTTP/1.1 200 "))
        # A POST without a body on it: the node closes before answering. It
        # may have acted on it, so it is not sent again: a 502.
        self.assertTrue(exchange("POST /api/two").startswith(b"HTTP/1.1 502 "))
        self.assertEqual(fake.seen.count(("POST", "/api/two")), 1, fake.seen)
        # A GET in the same spot is sent again on a new connection.
        self.assertTrue(exchange("GET /api/three").startswith(b"HTTP/1.1 200 "))
        self.assertTrue(exchange("GET /api/four").startswith(b"HTTP/1.1 200 "))
        self.assertEqual(fake.seen.count(("GET", "/api/four")), 2, fake.seen)

    def test_node_down_answers_503_quickly(self):
        bob = self.browser(BOB)
        self.node2.stop()
        try:
            start = time.monotonic()
            r = bob.request("GET", "/api/folders")
            self.assertEqual(r.status, 503, r.data)
            self.assertEqual(json.loads(r.data)["error"], "unavailable")
            self.assertLess(time.monotonic() - start, 3)
            self.proxy.wait_log(r"event=proxy_node_failed .*node=node2")
            # Now known down: at once, without another connect.
            fresh = self.browser()
            start = time.monotonic()
            r = fresh.login(BOB)
            self.assertEqual(r.status, 503, r.data)
            self.assertLess(time.monotonic() - start, 1)
            page = fresh.request("GET", "/")  # pages come from node1
            self.assertEqual(page.status, 200)
            # Alice on node1 is not affected.
            self.assertEqual(self.browser(ALICE).request("GET", "/api/folders").status, 200)
        finally:
            self.node2.start()
        deadline = time.monotonic() + 10
        while True:
            r = self.browser().login(BOB)
            if r.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(r.status, 200, r.data)

if __name__ == "__main__":
    unittest.main()
