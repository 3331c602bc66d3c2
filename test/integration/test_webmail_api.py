"""The node's WebMail HTTP API (backend/webmail/API.md) with Python's
http.client, against a real postern-node (an "http" listener), slapd and
store. Fixture messages reach the store through `posternctl deliver`."""

import base64
import http.client
import imaplib
import json
import re
import socket
import time
import unittest
import urllib.parse
import uuid

from lib.node import Node
from lib.slapd import Slapd

ALICE = "alice@example.com"
ALICE_PW = Slapd.user_password("alice")
CAROL = "carol@example.org"
CAROL_PW = Slapd.user_password("carol")

IDLE_TIMEOUT = 4  # seconds; every test logs in afresh
MAX_UPLOAD = 200 * 1024

ATTACHMENT = bytes(range(256)) * 40 + b"\x00end"  # binary, 10244 bytes


def plain_message(subject, body="hello\r\n", sender="Sender <sender@example.net>", to=ALICE,
                  extra=()):
    head = [f"From: {sender}", f"To: {to}", f"Subject: {subject}",
            "Date: Sat, 21 Nov 2026 10:00:00 +0000",
            f"Message-ID: <{uuid.uuid4().hex}@example.net>", *extra]
    return ("\r\n".join(head) + "\r\n\r\n" + body).encode()


def attachment_message(subject, data=ATTACHMENT, filename="r\u00e9sum\u00e9.bin"):
    b64 = base64.encodebytes(data).decode().replace("\n", "\r\n")
    fn = urllib.parse.quote(filename.encode())
    return (
        f"From: Sender <sender@example.net>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
        "Date: Sat, 21 Nov 2026 11:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee the attachment.\r\n"
        "--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment; filename*=utf-8''{fn}\r\n\r\n"
        f"{b64}"
        "--b1\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n"
        "Content-Disposition: attachment; filename=\"page.html\"\r\n\r\n"
        "<script>alert(1)</script>\r\n"
        "--b1--\r\n").encode()


def html_message(subject):
    return (
        f"From: Mallory <mallory@example.net>\r\nTo: {ALICE}\r\nSubject: {subject}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
        "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain version\r\n"
        "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        "<html><body><p onclick=\"steal()\">Hello <b>there</b></p>"
        "<script>document.title='pwned'</script>"
        "<a href=\"javascript:alert(1)\">click</a>"
        "<img src=\"https://tracker.example/pixel.gif\"></body></html>\r\n"
        "--alt--\r\n").encode()


class Response:
    def __init__(self, r, body):
        self.status = r.status
        self.headers = r.headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name)


class Client:
    """One browser: a cookie and a CSRF token."""

    def __init__(self, port):
        self.port = port
        self.cookie = None
        self.csrf = None

    def request(self, method, path, body=None, headers=None, csrf=True, cookie=True):
        h = dict(headers or {})
        if cookie and self.cookie:
            h["Cookie"] = f"postern_session={self.cookie}"
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            h.setdefault("X-CSRF-Token", self.csrf)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return Response(r, r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post_json(self, path, obj, **kw):
        body = obj if isinstance(obj, (bytes, str)) else json.dumps(obj)
        headers = {"Content-Type": "application/json", **kw.pop("headers", {})}
        return self.request("POST", path, body=body, headers=headers, **kw)

    def login(self, user=ALICE, password=ALICE_PW, **kw):
        r = self.post_json("/api/login", {"user": user, "password": password}, **kw)
        if r.status == 200:
            cookie = r.header("Set-Cookie")
            self.cookie = cookie.split(";", 1)[0].split("=", 1)[1]
            self.csrf = r.json()["csrf"]
        return r

    def post_form(self, path, fields, files=()):
        boundary = "----postern" + uuid.uuid4().hex
        out = []
        for name, value in fields:
            out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                       .encode() + value.encode() + b"\r\n")
        for name, filename, ctype, data in files:
            out.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                       f"filename=\"{filename}\"\r\nContent-Type: {ctype}\r\n\r\n".encode()
                       + data + b"\r\n")
        out.append(f"--{boundary}--\r\n".encode())
        return self.request("POST", path, body=b"".join(out),
                            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


def q(folder):
    return urllib.parse.quote(folder, safe="")


class WebmailApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        cls.node = Node(cls.ldap, listeners=("http", "imap"),
                        extra={"webmail": {"session_idle_timeout": IDLE_TIMEOUT,
                                           "max_upload_size": MAX_UPLOAD},
                               "smtp": {"local_domains": ["example.com", "example.org"]}})
        cls.node.start()

    @classmethod
    def tearDownClass(cls):
        cls.node.cleanup()
        cls.ldap.cleanup()

    # -- helpers ---------------------------------------------------------------

    def client(self, user=ALICE, password=ALICE_PW):
        c = Client(self.node.port("http"))
        r = c.login(user, password)
        self.assertEqual(r.status, 200, r.body)
        return c

    def deliver(self, message, folder=None, user=ALICE):
        r = self.node.deliver(user, message, folder)
        self.assertEqual(r.returncode, 0, r.stderr)

    def imap(self, user=ALICE, password=ALICE_PW):
        m = imaplib.IMAP4("127.0.0.1", self.node.port("imap"))
        m.login(user, password)
        self.addCleanup(m.logout)
        return m

    def find(self, c, subject, folder="INBOX"):
        """The list entry whose subject is `subject` (searched by subject)."""
        r = c.get(f"/api/folders/{q(folder)}/messages?subject={urllib.parse.quote(subject)}")
        self.assertEqual(r.status, 200, r.body)
        found = [m for m in r.json()["messages"] if m["subject"] == subject]
        self.assertEqual(len(found), 1, r.json())
        return found[0]

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r.body)
        self.assertEqual(r.json()["error"], code, r.body)
        self.assertTrue(r.header("Content-Type").startswith("application/json"))

    # -- sessions ----------------------------------------------------------------

    def test_login_sets_a_strict_session_cookie(self):
        c = Client(self.node.port("http"))
        r = c.login()
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["user"], ALICE)
        self.assertEqual(len(r.json()["csrf"]), 64)
        cookie = r.header("Set-Cookie")
        self.assertRegex(cookie, r"^postern_session=[0-9a-f]{64}; ")
        for attr in ("HttpOnly", "SameSite=Strict", "Path=/"):
            self.assertIn(attr, cookie)
        self.assertNotIn("Secure", cookie)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        s = c.get("/api/session")
        self.assertEqual(s.status, 200)
        self.assertEqual(s.json(), {"user": ALICE, "csrf": c.csrf})
        # Through a trusted proxy that says the browser used https: Secure.
        r = Client(self.node.port("http")).login(headers={"X-Forwarded-Proto": "https"})
        self.assertEqual(r.status, 200, r.body)
        self.assertIn("; Secure", r.header("Set-Cookie"))

    def test_forwarded_client_from_a_trusted_proxy(self):
        # The test node trusts 127.0.0.0/8: the proxy's X-Forwarded-For names
        # the client in the login's log line (the last entry: the one it added).
        r = Client(self.node.port("http")).login(
            headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.9"})
        self.assertEqual(r.status, 200, r.body)
        self.node.wait_log(r"event=webmail_login .*client=203\.0\.113\.9 .*ok=1")

    def test_forwarded_headers_ignored_from_others(self):
        with Node(self.ldap, name="node1", listeners=("http",),
                  node={"trusted_proxies": ["10.0.0.0/8"]}) as node:
            r = Client(node.port("http")).login(
                headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
            self.assertEqual(r.status, 200, r.body)
            self.assertNotIn("Secure", r.header("Set-Cookie"))
            line = node.wait_log(r"event=webmail_login .*ok=1")
            self.assertIn("client=127.0.0.1 ", line)

    def test_plaintext_login_is_judged_on_the_browser_hop(self):
        # 127.0.0.1 is a trusted proxy here. It says the browser came over
        # plain http from afar: the password must not be accepted, even though
        # the proxy's own hop is loopback.
        c = Client(self.node.port("http"))
        r = c.login(headers={"X-Forwarded-Proto": "http", "X-Forwarded-For": "203.0.113.5"})
        self.assertError(r, 403, "tls_required")
        self.assertIsNone(c.cookie)
        # A browser on the proxy's own machine, or one that used https: allowed.
        r = c.login(headers={"X-Forwarded-Proto": "http", "X-Forwarded-For": "127.0.0.1"})
        self.assertEqual(r.status, 200, r.body)
        r = Client(self.node.port("http")).login(
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.5"})
        self.assertEqual(r.status, 200, r.body)

    def test_https_listener_serves_the_api_with_secure_cookies(self):
        with Node(self.ldap, name="node1", listeners=("https",)) as node:
            port = node.port("https")
            tls = http.client.HTTPSConnection("localhost", port, timeout=30,
                                              context=node.ssl_context())
            tls.request("POST", "/api/login",
                        body=json.dumps({"user": ALICE, "password": ALICE_PW}),
                        headers={"Content-Type": "application/json"})
            r = tls.getresponse()
            body = r.read()
            self.assertEqual(r.status, 200, body)
            cookie = r.headers.get("Set-Cookie")
            for flag in ("HttpOnly", "SameSite=Strict", "Secure"):
                self.assertIn(flag, cookie)
            tls.request("GET", "/api/folders",
                        headers={"Cookie": cookie.split(";", 1)[0]})
            r = tls.getresponse()
            folders = json.loads(r.read())
            self.assertEqual(r.status, 200)
            self.assertIn("INBOX", [f["name"] for f in folders["folders"]])
            tls.close()
            # Plain HTTP on the TLS port gets no HTTP answer.
            plain = socket.create_connection(("127.0.0.1", port), timeout=10)
            plain.sendall(b"GET /api/session HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                answer = plain.recv(100)
            except (ConnectionResetError, socket.timeout):
                answer = b""
            plain.close()
            self.assertFalse(answer.startswith(b"HTTP/1.1"), answer)

    def test_stop_does_not_wait_for_idle_browsers(self):
        node = Node(self.ldap, name="node1", listeners=("http",))
        node.start()
        self.addCleanup(node.cleanup)
        idle = http.client.HTTPConnection("127.0.0.1", node.port("http"), timeout=30)
        idle.request("GET", "/api/session")
        idle.getresponse().read()  # kept alive
        partial = socket.create_connection(("127.0.0.1", node.port("http")), timeout=30)
        self.addCleanup(partial.close)
        partial.sendall(b"GET /api/folders HTTP/1.1\r\nHost: x\r\n")  # half a head
        started = time.monotonic()
        self.assertEqual(node.stop(), 0)
        self.assertLess(time.monotonic() - started, 5)
        idle.close()

    def test_login_refusals(self):
        c = Client(self.node.port("http"))
        started = time.monotonic()
        self.assertError(c.login(password="wrong"), 401, "auth")
        self.assertGreater(time.monotonic() - started, 0.8)  # the failed-login delay
        self.assertIsNone(c.cookie)
        # dave is not in the required group.
        self.assertError(c.login("dave@example.com", Slapd.user_password("dave")), 401, "auth")
        # bob lives on node2.
        self.assertError(c.login("bob@example.com", Slapd.user_password("bob")), 421,
                         "wrong_node")
        self.assertError(c.post_json("/api/login", "{not json"), 400, "bad_request")
        self.assertError(c.post_json("/api/login", {"user": ALICE}), 400, "bad_request")
        r = c.request("POST", "/api/login", body=json.dumps({"user": ALICE, "password": ALICE_PW}),
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertError(r, 415, "media_type")
        r = c.login(headers={"Origin": "http://evil.example"})
        self.assertError(r, 403, "csrf")
        self.assertError(c.get("/api/login"), 405, "method")
        self.assertRegex(self.node.metrics(),
                         r'postern_logins_total\{service="webmail",result="denied"\} [1-9]')

    def test_failed_logins_close_the_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.node.port("http"), timeout=30)
        body = json.dumps({"user": ALICE, "password": "nope"})
        headers = {"Content-Type": "application/json"}
        closed = False
        for _ in range(3):  # the listener's default errors.max_failed_logins
            conn.request("POST", "/api/login", body=body, headers=headers)
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 401)
            closed = r.headers.get("Connection") == "close"
        self.assertTrue(closed)
        conn.close()

    def test_logout_forgets_the_token(self):
        c = self.client()
        self.assertEqual(c.get("/api/folders").status, 200)
        self.assertError(c.request("POST", "/api/logout", csrf=False), 403, "csrf")
        r = c.request("POST", "/api/logout")
        self.assertEqual(r.status, 204)
        self.assertIn("Max-Age=0", r.header("Set-Cookie"))
        self.assertError(c.get("/api/folders"), 401, "auth")
        self.assertError(c.get("/api/session"), 401, "auth")

    def test_idle_timeout(self):
        c = self.client()
        self.assertEqual(c.get("/api/session").status, 200)
        time.sleep(IDLE_TIMEOUT / 2)
        self.assertEqual(c.get("/api/session").status, 200)  # use renews it
        time.sleep(IDLE_TIMEOUT + 0.5)
        self.assertError(c.get("/api/session"), 401, "auth")

    def test_unauthenticated_requests_get_401(self):
        c = Client(self.node.port("http"))
        for path in ("/api/session", "/api/folders", "/api/folders/INBOX/messages",
                     "/api/folders/INBOX/messages/1", "/api/folders/INBOX/messages/1/body.html",
                     "/api/folders/INBOX/messages/1/raw", "/api/folders/INBOX/messages/1/parts/1",
                     "/api/folders/INBOX/messages/1/compose?mode=reply"):
            with self.subTest(path=path):
                self.assertError(c.get(path), 401, "auth")
        for path in ("/api/logout", "/api/messages/flags", "/api/messages/move",
                     "/api/messages/copy", "/api/messages/delete", "/api/send", "/api/drafts"):
            with self.subTest(path=path):
                self.assertError(c.post_json(path, {}), 401, "auth")
        c.cookie = "0" * 64  # a made-up token
        self.assertError(c.get("/api/folders"), 401, "auth")

    def test_state_changes_need_the_csrf_token(self):
        c = self.client()
        for path in ("/api/messages/flags", "/api/messages/move", "/api/messages/copy",
                     "/api/messages/delete", "/api/send", "/api/drafts", "/api/logout"):
            with self.subTest(path=path):
                self.assertError(c.post_json(path, {"folder": "INBOX", "uids": []}, csrf=False),
                                 403, "csrf")
                self.assertError(c.post_json(path, {"folder": "INBOX", "uids": []},
                                             headers={"X-CSRF-Token": "0" * 64}), 403, "csrf")
        self.assertEqual(c.get("/api/session").status, 200)  # still logged in

    def test_methods_and_unknown_paths(self):
        c = self.client()
        r = c.request("DELETE", "/api/folders/INBOX/messages/1")
        self.assertError(r, 405, "method")
        self.assertEqual(r.header("Allow"), "GET, HEAD")
        self.assertError(c.request("PUT", "/api/send", body=b"x"), 405, "method")
        self.assertError(c.get("/api/nothing/here"), 404, "not_found")

    # -- the interface -------------------------------------------------------------

    def test_static_interface(self):
        c = Client(self.node.port("http"))
        for path in ("/", "/inbox/some/deep/link"):
            r = c.get(path)
            self.assertEqual(r.status, 200)
            self.assertTrue(r.header("Content-Type").startswith("text/html"))
            csp = r.header("Content-Security-Policy")
            self.assertIn("default-src 'none'", csp)
            self.assertIn("script-src 'self'", csp)
            self.assertIn("frame-ancestors 'self'", csp)
            self.assertEqual(r.header("X-Frame-Options"), "SAMEORIGIN")
            self.assertEqual(r.header("Referrer-Policy"), "no-referrer")
        js = c.get("/static/app.js")
        self.assertEqual(js.status, 200)
        self.assertIn("javascript", js.header("Content-Type"))
        etag = js.header("ETag")
        self.assertTrue(etag)
        again = c.get("/static/app.js", headers={"If-None-Match": etag})
        self.assertEqual(again.status, 304)
        self.assertEqual(again.body, b"")
        self.assertEqual(c.get("/static/nothing.js").status, 404)
        self.assertEqual(c.request("POST", "/", body=b"").status, 405)

    def test_keep_alive_and_pipelining(self):
        c = self.client()
        s = socket.create_connection(("127.0.0.1", self.node.port("http")), timeout=30)
        self.addCleanup(s.close)
        req = (f"GET /api/session HTTP/1.1\r\nHost: x\r\nCookie: postern_session={c.cookie}\r\n\r\n"
               "GET /api/folders HTTP/1.1\r\nHost: x\r\n\r\n"
               f"GET /api/folders HTTP/1.1\r\nHost: x\r\nCookie: postern_session={c.cookie}\r\n"
               "Connection: close\r\n\r\n")
        s.sendall(req.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        statuses = [int(x) for x in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
        self.assertEqual(statuses, [200, 401, 200])

    def test_malformed_requests(self):
        s = socket.create_connection(("127.0.0.1", self.node.port("http")), timeout=30)
        self.addCleanup(s.close)
        s.sendall(b"GET /api/session HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        data = s.recv(65536)
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "), data)
        self.assertIn(b"Connection: close", data)

    def raw(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.node.port("http")), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.addCleanup(s.close)
        return s

    @staticmethod
    def read_until_closed(s):
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk

    def test_chunked_body_sent_byte_by_byte(self):
        body = json.dumps({"user": ALICE, "password": ALICE_PW}).encode()
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece)
                           for piece in (body[:7], body[7:30], body[30:]))
        chunked += b"0\r\n\r\n"
        s = self.raw()
        s.sendall(b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        for i in range(len(chunked)):
            s.sendall(chunked[i:i + 1])
            time.sleep(0.002)
        data = self.read_until_closed(s)
        self.assertTrue(data.startswith(b"HTTP/1.1 200 "), data)
        self.assertIn(b"postern_session=", data)

    def test_half_a_chunk_size_line_does_not_stall_the_node(self):
        # Connections stopped in the middle of a chunk-size line, one on each
        # of the node's event loops (and more): nobody else may wait for them.
        stalled = []
        for _ in range(6):
            s = self.raw()
            s.sendall(b"POST /api/session HTTP/1.1\r\nHost: a\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n5")
            stalled.append(s)
        # The same after a 413, while the rest of the body is being dropped.
        big = self.raw()
        big.sendall(b"POST /api/messages/flags HTTP/1.1\r\nHost: a\r\n"
                    b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + b"%x\r\n" % (1024 * 1024 + 10) + b" " * (1024 * 1024 + 10) + b"\r\n1")
        time.sleep(0.3)
        for _ in range(6):
            conn = http.client.HTTPConnection("127.0.0.1", self.node.port("http"), timeout=5)
            conn.request("GET", "/api/session")
            r = conn.getresponse()
            r.read()
            conn.close()
            self.assertEqual(r.status, 401)
        self.assertTrue(big.recv(65536).startswith(b"HTTP/1.1 413 "))
        # A broken chunk line in the dropped body ends that connection.
        big.sendall(b"zz\r\n")
        self.read_until_closed(big)
        # The stalled requests go on when the rest comes.
        for s in stalled:
            s.sendall(b"\r\nhello\r\n0\r\n\r\n")
            self.assertRegex(s.recv(65536), rb"^HTTP/1\.1 [45]\d\d ")

    def test_too_large_bodies(self):
        c = self.client()
        r = c.post_json("/api/messages/flags", b"[" + b" " * (1024 * 1024 + 10) + b"]")
        self.assertError(r, 413, "too_large")
        r = c.post_form("/api/send", [("to", CAROL), ("subject", "big")],
                        [("attachment", "big.bin", "application/octet-stream",
                          b"x" * (MAX_UPLOAD + 1))])
        self.assertError(r, 413, "too_large")
        self.assertEqual(c.get("/api/session").status, 200)

    # -- reading -------------------------------------------------------------------

    def test_folders_with_counts(self):
        c = self.client(CAROL, CAROL_PW)
        before = {f["name"]: f for f in c.get("/api/folders").json()["folders"]}
        self.deliver(plain_message("count me 1", to=CAROL), user=CAROL)
        self.deliver(plain_message("count me 2", to=CAROL), user=CAROL)
        r = c.get("/api/folders")
        self.assertEqual(r.status, 200)
        folders = r.json()["folders"]
        names = [f["name"] for f in folders]
        self.assertEqual(names[:6], ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"])
        self.assertEqual([f["special"] for f in folders[:6]],
                         ["inbox", "sent", "drafts", "trash", "junk", "archive"])
        inbox = folders[0]
        self.assertEqual(inbox["total"], before["INBOX"]["total"] + 2)
        self.assertEqual(inbox["unseen"], before["INBOX"]["unseen"] + 2)

    def test_list_paging_sorting_and_search(self):
        m = self.imap()
        folder = "Sorting"
        m.create(folder)
        specs = [("b-subject", "Zed <zed@example.net>", "x" * 10),
                 ("a-subject", "Amy <amy@example.net>", "x" * 3000),
                 ("c-subject", "mike@example.net", "x" * 500)]
        for subject, sender, body in specs:
            self.deliver(plain_message(subject, body + "\r\n", sender=sender), folder)
            time.sleep(1.05)  # distinct internal dates
        c = self.client()  # after the deliveries: the test's idle timeout is short
        base = f"/api/folders/{folder}/messages"
        r = c.get(base)
        self.assertEqual(r.status, 200, r.body)
        j = r.json()
        self.assertEqual(j["folder"], folder)
        self.assertEqual(j["total"], 3)
        self.assertEqual([x["subject"] for x in j["messages"]],
                         ["c-subject", "a-subject", "b-subject"])  # newest first
        first = j["messages"][0]
        for key in ("uid", "date", "from", "to", "size", "seen", "flagged", "answered", "draft",
                    "has_attachments"):
            self.assertIn(key, first)
        self.assertEqual(first["from"], {"name": "", "address": "mike@example.net"})
        self.assertEqual(first["to"], [{"name": "", "address": ALICE}])
        self.assertRegex(first["date"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

        def order(query):
            r = c.get(f"{base}?{query}")
            self.assertEqual(r.status, 200, r.body)
            return [x["subject"][0] for x in r.json()["messages"]]

        self.assertEqual(order("sort=date&order=asc"), ["b", "a", "c"])
        self.assertEqual(order("sort=subject&order=asc"), ["a", "b", "c"])
        self.assertEqual(order("sort=subject&order=desc"), ["c", "b", "a"])
        self.assertEqual(order("sort=size&order=asc"), ["b", "c", "a"])
        self.assertEqual(order("sort=size&order=desc"), ["a", "c", "b"])
        self.assertEqual(order("sort=from&order=asc"), ["a", "c", "b"])  # Amy, mike, Zed
        self.assertEqual(order("sort=from&order=desc"), ["b", "c", "a"])
        self.assertEqual(order("sort=subject&order=asc&size=2&page=0"), ["a", "b"])
        r = c.get(f"{base}?sort=subject&order=asc&size=2&page=1")
        self.assertEqual(r.json()["total"], 3)
        self.assertEqual([x["subject"] for x in r.json()["messages"]], ["c-subject"])
        self.assertEqual(order("page=5"), [])
        self.assertEqual(order("from=ZED"), ["b"])
        self.assertEqual(order("to=alice&subject=A-SUB"), ["a"])
        self.assertEqual(order("from=nobody"), [])
        self.assertEqual(c.get(f"{base}?from=zed").json()["total"], 1)
        for bad in ("sort=colour", "size=0", "size=201", "order=sideways", "page=x"):
            self.assertError(c.get(f"{base}?{bad}"), 400, "bad_request")
        self.assertError(c.get("/api/folders/NoSuchFolder/messages"), 404, "not_found")

    def test_search_body(self):
        c = self.client()
        token = uuid.uuid4().hex
        self.deliver(plain_message("body search one", f"The word is {token.upper()}.\r\n"))
        self.deliver(plain_message("body search two", "Nothing to see.\r\n"))
        r = c.get(f"/api/folders/INBOX/messages?body={token}")
        self.assertEqual(r.status, 200)
        self.assertEqual([m["subject"] for m in r.json()["messages"]], ["body search one"])
        self.assertEqual(r.json()["total"], 1)

    def test_open_a_message(self):
        c = self.client()
        subject = "Gr\u00fc\u00dfe " + uuid.uuid4().hex[:8]
        enc = "=?utf-8?b?" + base64.b64encode(subject.encode()).decode() + "?="
        self.deliver(plain_message(enc, "Line one\r\nLine two\r\n",
                                   sender="=?iso-8859-1?q?J=FCrgen?= <j@example.net>",
                                   extra=[f"Cc: Carol <{CAROL}>"]))
        entry = self.find(c, subject)
        self.assertFalse(entry["seen"])
        r = c.get(f"/api/folders/INBOX/messages/{entry['uid']}")
        self.assertEqual(r.status, 200, r.body)
        j = r.json()
        self.assertEqual(j["uid"], entry["uid"])
        self.assertEqual(j["folder"], "INBOX")
        self.assertEqual(j["subject"], subject)
        self.assertEqual(j["from"], {"name": "J\u00fcrgen", "address": "j@example.net"})
        self.assertEqual(j["cc"], [{"name": "Carol", "address": CAROL}])
        self.assertEqual(j["date"], "2026-11-21T10:00:00Z")
        self.assertEqual(j["text"], "Line one\nLine two\n")
        self.assertFalse(j["has_html"])
        self.assertEqual(j["attachments"], [])
        self.assertTrue(j["seen"])
        self.assertTrue(self.find(c, subject)["seen"])  # opening marked it \Seen
        self.assertError(c.get(f"/api/folders/INBOX/messages/{entry['uid']}/body.html"), 404,
                         "not_found")
        self.assertError(c.get("/api/folders/INBOX/messages/999999"), 404, "not_found")
        self.assertError(c.get("/api/folders/INBOX/messages/abc"), 404, "not_found")
        self.assertError(c.get("/api/folders/Nope/messages/1"), 404, "not_found")

    def test_html_body_is_sanitised(self):
        c = self.client()
        subject = "html " + uuid.uuid4().hex[:8]
        self.deliver(html_message(subject))
        uid = self.find(c, subject)["uid"]
        j = c.get(f"/api/folders/INBOX/messages/{uid}").json()
        self.assertTrue(j["has_html"])
        self.assertEqual(j["text"], "Plain version")
        self.assertEqual(j["remote_images"], 1)
        r = c.get(f"/api/folders/INBOX/messages/{uid}/body.html")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Type"), "text/html; charset=utf-8")
        csp = r.header("Content-Security-Policy")
        self.assertIn("default-src 'none'", csp)
        self.assertIn("script-src 'none'", csp)
        self.assertNotIn("http:", csp)
        # Still sandboxed when opened as a page of its own, never with scripts.
        self.assertIn("; sandbox allow-same-origin allow-popups allow-popups-to-escape-sandbox",
                      csp)
        self.assertNotIn("allow-scripts", csp)
        html = r.body.decode()
        self.assertIn("<b>there</b>", html)
        for bad in ("<script", "onclick", "javascript:", "tracker.example", "pwned"):
            self.assertNotIn(bad, html)
        r = c.get(f"/api/folders/INBOX/messages/{uid}/body.html?images=1")
        self.assertIn("tracker.example/pixel.gif", r.body.decode())
        self.assertIn("https:", r.header("Content-Security-Policy"))

    def test_raw_and_parts(self):
        c = self.client()
        subject = "attachment " + uuid.uuid4().hex[:8]
        message = attachment_message(subject)
        self.deliver(message)
        entry = self.find(c, subject)
        self.assertTrue(entry["has_attachments"])
        uid = entry["uid"]
        base = f"/api/folders/INBOX/messages/{uid}"
        raw = c.get(f"{base}/raw")
        self.assertEqual(raw.status, 200)
        self.assertEqual(raw.body, message)
        self.assertEqual(raw.header("Content-Type"), "message/rfc822")
        self.assertEqual(raw.header("Content-Disposition"), f'attachment; filename="{uid}.eml"')
        self.assertEqual(raw.header("Cache-Control"), "no-store")
        j = c.get(base).json()
        self.assertEqual(j["text"], "See the attachment.")
        atts = {a["part"]: a for a in j["attachments"]}
        self.assertEqual(atts["2"]["filename"], "r\u00e9sum\u00e9.bin")
        self.assertEqual(atts["2"]["content_type"], "application/pdf")
        part = c.get(f"{base}/parts/2")
        self.assertEqual(part.status, 200)
        self.assertEqual(part.body, ATTACHMENT)  # base64 undone, byte-exact
        self.assertEqual(part.header("Content-Type"), "application/pdf")
        self.assertEqual(part.header("Content-Disposition"),
                         "attachment; filename=\"r__sum__.bin\"; "
                         "filename*=UTF-8''r%C3%A9sum%C3%A9.bin")
        self.assertEqual(part.header("X-Content-Type-Options"), "nosniff")
        page = c.get(f"{base}/parts/3")  # text/html: never served as HTML
        self.assertEqual(page.status, 200)
        self.assertEqual(page.header("Content-Type"), "application/octet-stream")
        self.assertEqual(page.body, b"<script>alert(1)</script>")
        self.assertError(c.get(f"{base}/parts/9"), 404, "not_found")
        self.assertError(c.get(f"{base}/parts/x.y"), 404, "not_found")
        self.assertError(c.get("/api/folders/INBOX/messages/999999/raw"), 404, "not_found")
        head = c.request("HEAD", f"{base}/raw")
        self.assertEqual(head.status, 200)
        self.assertEqual(head.header("Content-Length"), str(len(message)))

    def test_large_attachment_streams(self):
        c = self.client()
        data = bytes((i * 7 + 3) % 256 for i in range(3 * 1024 * 1024))
        subject = "large " + uuid.uuid4().hex[:8]
        self.deliver(attachment_message(subject, data=data, filename="big.bin"))
        uid = self.find(c, subject)["uid"]
        part = c.get(f"/api/folders/INBOX/messages/{uid}/parts/2")
        self.assertEqual(part.status, 200)
        self.assertEqual(len(part.body), len(data))
        self.assertEqual(part.body, data)

    # -- changing things -------------------------------------------------------------

    def test_flags(self):
        c = self.client()
        subject = "flags " + uuid.uuid4().hex[:8]
        self.deliver(plain_message(subject))
        uid = self.find(c, subject)["uid"]
        r = c.post_json("/api/messages/flags",
                        {"folder": "INBOX", "uids": [uid], "seen": True, "flagged": True})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json(), {"updated": 1})
        e = self.find(c, subject)
        self.assertTrue(e["seen"] and e["flagged"])
        r = c.post_json("/api/messages/flags", {"folder": "INBOX", "uids": [uid], "flagged": False})
        self.assertEqual(r.json(), {"updated": 1})
        e = self.find(c, subject)
        self.assertTrue(e["seen"])
        self.assertFalse(e["flagged"])
        self.assertEqual(c.post_json("/api/messages/flags",
                                     {"folder": "INBOX", "uids": [uid], "seen": True}).json(),
                         {"updated": 0})  # already so
        for bad in ({"uids": [uid]}, {"folder": "INBOX", "uids": "1"},
                    {"folder": "INBOX", "uids": [0]}, {"folder": "INBOX", "uids": [uid],
                                                       "seen": "yes"}):
            with self.subTest(body=bad):
                self.assertError(c.post_json("/api/messages/flags", bad), 400, "bad_request")
        self.assertError(c.post_json("/api/messages/flags", "{oops"), 400, "bad_request")
        self.assertError(c.post_json("/api/messages/flags", {"folder": "Nope", "uids": [1],
                                                             "seen": True}), 404, "not_found")

    def test_move_copy_delete(self):
        m = self.imap()
        m.create("Projects")
        c = self.client()
        subject = "moving " + uuid.uuid4().hex[:8]
        self.deliver(plain_message(subject))
        uid = self.find(c, subject)["uid"]
        r = c.post_json("/api/messages/copy", {"folder": "INBOX", "uids": [uid], "to": "Projects"})
        self.assertEqual(r.json(), {"copied": 1})
        copied = self.find(c, subject, "Projects")
        r = c.post_json("/api/messages/move", {"folder": "INBOX", "uids": [uid], "to": "Archive"})
        self.assertEqual(r.json(), {"moved": 1})
        self.assertEqual(c.get(f"/api/folders/INBOX/messages?subject={urllib.parse.quote(subject)}").json()["total"],
                         0)
        archived = self.find(c, subject, "Archive")
        self.assertError(c.post_json("/api/messages/move", {"folder": "Archive",
                                                            "uids": [archived["uid"]],
                                                            "to": "Nowhere"}), 404, "not_found")
        self.assertError(c.post_json("/api/messages/move", {"folder": "Archive",
                                                            "uids": [archived["uid"]]}),
                         400, "bad_request")
        # Delete: into Trash, then from Trash for good.
        r = c.post_json("/api/messages/delete", {"folder": "Archive", "uids": [archived["uid"]]})
        self.assertEqual(r.json(), {"deleted": 1})
        trashed = self.find(c, subject, "Trash")
        r = c.post_json("/api/messages/delete", {"folder": "Trash", "uids": [trashed["uid"]]})
        self.assertEqual(r.json(), {"deleted": 1})
        self.assertEqual(c.get(f"/api/folders/Trash/messages?subject={urllib.parse.quote(subject)}").json()["total"],
                         0)
        # The copy lives on.
        self.assertEqual(self.find(c, subject, "Projects")["uid"], copied["uid"])
        r = c.post_json("/api/messages/delete", {"folder": "Trash", "uids": [999999]})
        self.assertEqual(r.json(), {"deleted": 0})

    # -- writing ---------------------------------------------------------------------

    def test_send_with_an_attachment(self):
        c = self.client()
        subject = "sent " + uuid.uuid4().hex[:8]
        data = bytes(range(256)) * 100
        r = c.post_form("/api/send", [("to", f"Carol <{CAROL}>"), ("subject", subject),
                                      ("body", "Hi Carol,\nsee attached.\n")],
                        [("attachment", "data.bin", "application/octet-stream", data)])
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.json()["queue_id"])
        self.assertRegex(r.json()["message_id"], r"^<.+@example\.com>$")
        # Carol (on this node) has it, from alice, with the attachment intact.
        carol = self.client(CAROL, CAROL_PW)
        deadline = time.monotonic() + 10
        while True:
            found = carol.get(f"/api/folders/INBOX/messages?subject={urllib.parse.quote(subject)}").json()["messages"]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(len(found), 1)
        self.assertEqual(found[0]["from"]["address"], ALICE)
        self.assertTrue(found[0]["has_attachments"])
        j = carol.get(f"/api/folders/INBOX/messages/{found[0]['uid']}").json()
        self.assertEqual(j["text"].replace("\r\n", "\n").rstrip("\n"), "Hi Carol,\nsee attached.")
        att = [a for a in j["attachments"] if a["filename"] == "data.bin"]
        self.assertEqual(len(att), 1)
        part = carol.get(f"/api/folders/INBOX/messages/{found[0]['uid']}/parts/{att[0]['part']}")
        self.assertEqual(part.body, data)
        # A copy in alice's Sent, \Seen.
        sent = self.find(c, subject, "Sent")
        self.assertTrue(sent["seen"])
        self.assertEqual(sent["to"], [{"name": "Carol", "address": CAROL}])

    def test_send_refusals(self):
        c = self.client()
        self.assertError(c.post_form("/api/send", [("subject", "nobody")]), 400, "bad_request")
        self.assertError(c.post_form("/api/send", [("to", "not an address"), ("subject", "x")]),
                         400, "bad_request")
        r = c.post_form("/api/send", [("to", "nobody-here@example.com"), ("subject", "x")])
        self.assertError(r, 400, "bad_request")
        self.assertIn("nobody-here@example.com", r.json()["message"])
        r = c.post_json("/api/send", {"to": CAROL})
        self.assertError(r, 415, "media_type")
        r = c.request("POST", "/api/send", body=b"garbage",
                      headers={"Content-Type": "multipart/form-data; boundary=zz"})
        self.assertError(r, 400, "bad_request")

    def test_reply_marks_answered_and_forward_carries_attachments(self):
        c = self.client()
        subject = "original " + uuid.uuid4().hex[:8]
        self.deliver(attachment_message(subject))
        uid = self.find(c, subject)["uid"]
        base = f"/api/folders/INBOX/messages/{uid}/compose"
        reply = c.get(f"{base}?mode=reply").json()
        self.assertEqual(reply["to"], "Sender <sender@example.net>")
        self.assertEqual(reply["subject"], "Re: " + subject)
        self.assertIn("> See the attachment.", reply["body"])
        self.assertEqual(reply["attachments"], [])
        self.assertError(c.get(f"{base}?mode=sideways"), 400, "bad_request")
        fwd = c.get(f"{base}?mode=forward").json()
        self.assertEqual(fwd["subject"], "Fwd: " + subject)
        self.assertEqual([a["part"] for a in fwd["attachments"]], ["2", "3"])
        # The reply goes to carol (the original's sender is outside).
        r = c.post_form("/api/send", [("to", CAROL), ("subject", reply["subject"]),
                                      ("body", "Answer.\n" + reply["body"]),
                                      ("in_reply_to", reply["in_reply_to"]),
                                      ("references", reply["references"]),
                                      ("reply_folder", "INBOX"), ("reply_uid", str(uid))])
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(self.find(c, subject)["answered"])
        r = c.post_form("/api/send", [("to", CAROL), ("subject", fwd["subject"]),
                                      ("body", fwd["body"]), ("forward_folder", "INBOX"),
                                      ("forward_uid", str(uid)), ("forward_parts", "2")])
        self.assertEqual(r.status, 200, r.body)
        sent = self.find(c, fwd["subject"], "Sent")
        j = c.get(f"/api/folders/Sent/messages/{sent['uid']}").json()
        att = [a for a in j["attachments"] if a["filename"] == "r\u00e9sum\u00e9.bin"]
        self.assertEqual(len(att), 1, j["attachments"])
        part = c.get(f"/api/folders/Sent/messages/{sent['uid']}/parts/{att[0]['part']}")
        self.assertEqual(part.body, ATTACHMENT)
        r = c.post_form("/api/send", [("to", CAROL), ("subject", "x"), ("forward_folder", "INBOX"),
                                      ("forward_uid", str(uid)), ("forward_parts", "9")])
        self.assertError(r, 404, "not_found")

    def test_drafts(self):
        c = self.client()
        subject = "draft " + uuid.uuid4().hex[:8]
        r = c.post_form("/api/drafts", [("subject", subject), ("body", "first")])
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["folder"], "Drafts")
        first = r.json()["uid"]
        d = self.find(c, subject, "Drafts")
        self.assertEqual(d["uid"], first)
        self.assertTrue(d["draft"] and d["seen"])
        r = c.post_form("/api/drafts", [("subject", subject), ("body", "second"),
                                        ("to", CAROL), ("draft_uid", str(first))])
        self.assertEqual(r.status, 200, r.body)
        second = r.json()["uid"]
        self.assertNotEqual(second, first)
        d = self.find(c, subject, "Drafts")  # exactly one: the first is gone
        self.assertEqual(d["uid"], second)
        j = c.get(f"/api/folders/Drafts/messages/{second}").json()
        self.assertEqual(j["text"].rstrip("\r\n"), "second")


class WebmailTwoNodesTest(unittest.TestCase):
    """alice (node1) writes to bob (node2): the message goes through node1's
    queue to node2's SMTP listener; bob reads it on node2's WebMail."""

    @classmethod
    def setUpClass(cls):
        cls.ldap = Slapd()
        cls.ldap.start()
        dns = {"nameservers": [{"address": "127.0.0.1:9", "priority": 1}], "timeout": 0.5,
               "retries": 0}
        cls.nodes = [Node(cls.ldap, name=name, listeners=("http", "smtp"),
                          extra={"dns": dns, "queue": {"retry_schedule": [1]},
                                 "smtp": {"local_domains": ["example.com", "example.org"]}})
                     for name in ("node1", "node2")]
        cluster = {n.name: {"smtp": f"127.0.0.1:{n.port('smtp')}"} for n in cls.nodes}
        for n in cls.nodes:
            n.update_extra({"cluster": cluster})
            n.start()

    @classmethod
    def tearDownClass(cls):
        for n in cls.nodes:
            n.cleanup()
        cls.ldap.cleanup()

    def test_alice_sends_bob_an_attachment(self):
        node1, node2 = self.nodes
        alice = Client(node1.port("http"))
        self.assertEqual(alice.login().status, 200)
        subject = "to bob " + uuid.uuid4().hex[:8]
        data = bytes(range(256)) * 300 + b"tail"
        r = alice.post_form("/api/send", [("to", "Bob <bob@example.com>"), ("subject", subject),
                                          ("body", "Hello Bob")],
                            [("attachment", "photo.jpg", "image/jpeg", data)])
        self.assertEqual(r.status, 200, r.body)
        bob = Client(node2.port("http"))
        self.assertEqual(bob.login("bob@example.com", Slapd.user_password("bob")).status, 200)
        path = f"/api/folders/INBOX/messages?subject={urllib.parse.quote(subject)}"
        deadline = time.monotonic() + 20
        while True:
            found = bob.get(path).json()["messages"]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(len(found), 1, node1.log()[-3000:])
        uid = found[0]["uid"]
        self.assertEqual(found[0]["from"], {"name": "", "address": ALICE})
        j = bob.get(f"/api/folders/INBOX/messages/{uid}").json()
        self.assertEqual(j["text"].rstrip("\r\n"), "Hello Bob")
        [att] = j["attachments"]
        self.assertEqual((att["filename"], att["content_type"]), ("photo.jpg", "image/jpeg"))
        part = bob.get(f"/api/folders/INBOX/messages/{uid}/parts/{att['part']}")
        self.assertEqual(part.status, 200)
        self.assertEqual(part.header("Content-Type"), "image/jpeg")
        self.assertEqual(part.body, data)
        # alice's copy in Sent.
        sent = alice.get(f"/api/folders/Sent/messages?subject={urllib.parse.quote(subject)}")
        self.assertEqual(sent.json()["total"], 1)


if __name__ == "__main__":
    unittest.main()
