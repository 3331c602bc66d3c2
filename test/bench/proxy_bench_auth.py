#!/usr/bin/env python3
"""nginx's auth_http service for scripts/bench proxy: the same directory
work as Dovecot's LDAP passdb and Postern's mapping layer. For a login it
searches the user (service account, like conf/node1.json's filter: mail or
mailAlternateAddress, account active), binds as the user's DN to check the
password, and answers Auth-Server / Auth-Port of the user's node (mailHost).
For SMTP without AUTH (smtp_auth none) it routes by the recipient
(Auth-SMTP-To) without a password.

    proxy_bench_auth.py --port P --ldap URI --routes JSON [--workers 4]
                        [--cache-ttl 300]

--routes: {"node1": {"host": "127.0.1.1", "imap": 143, "pop3": 110, "smtp": 25}, ...}

Like Postern's mapping cache, a verified login is remembered for
--cache-ttl seconds (0: never) as an HMAC of the password under a random
per-process key, never the password; a wrong password always asks slapd.

nginx opens one HTTP/1.0 connection per request. Each worker thread keeps
two LDAP connections (one for searches, bound as the service account, one
for the users' binds), so no request pays for connecting to slapd.
"""

import argparse
import hashlib
import hmac
import json
import os
import queue
import re
import socket
import sys
import threading
import time
import urllib.parse

import ldap
from ldap.filter import escape_filter_chars

SERVICE_DN = "cn=postern,dc=example,dc=com"
SERVICE_PW = "postern-secret"
PEOPLE = "ou=people,dc=example,dc=com"
FILTER = ("(&(objectClass=posternAccount)(posternAccountState=active)"
          "(|(mail={0})(mailAlternateAddress={0})))")


def connect(uri, dn=None, password=None):
    c = ldap.initialize(uri)
    c.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
    c.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
    if dn:
        c.simple_bind_s(dn, password)
    return c


def answer(sock, headers):
    body = "HTTP/1.0 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    sock.sendall(body.encode())


def read_request(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        data += chunk
    headers = {}
    for line in data.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        k, _, v = line.decode("utf-8", "replace").partition(":")
        headers[k.strip().lower()] = v.strip()
    return headers


class LoginCache:
    """login -> (verifier, expiry, (dn, node)); shared by the workers."""

    def __init__(self, ttl):
        self.ttl, self.key, self.lock, self.entries = ttl, os.urandom(32), threading.Lock(), {}

    def verifier(self, password):
        return hmac.new(self.key, password.encode(), hashlib.sha256).digest()

    def get(self, login, password):
        with self.lock:
            e = self.entries.get(login)
        if e and e[1] > time.monotonic() and hmac.compare_digest(e[0], self.verifier(password)):
            return e[2]
        return None

    def put(self, login, password, found):
        if self.ttl > 0:
            with self.lock:
                self.entries[login] = (self.verifier(password), time.monotonic() + self.ttl, found)


class Worker(threading.Thread):
    def __init__(self, uri, routes, jobs, cache):
        super().__init__(daemon=True)
        self.uri, self.routes, self.jobs, self.cache = uri, routes, jobs, cache
        self.search = connect(uri, SERVICE_DN, SERVICE_PW)
        self.binds = connect(uri)

    def find(self, address):
        """(dn, node) or None."""
        res = self.search.search_s(PEOPLE, ldap.SCOPE_SUBTREE,
                                   FILTER.format(escape_filter_chars(address)), ["mailHost"])
        for dn, attrs in res:
            if dn and attrs.get("mailHost"):
                return dn, attrs["mailHost"][0].decode()
        return None

    def check_password(self, dn, password):
        try:
            self.binds.simple_bind_s(dn, password)
            return True
        except ldap.INVALID_CREDENTIALS:
            return False

    def route(self, h):
        protocol = h.get("auth-protocol", "")
        if protocol == "smtp" and h.get("auth-method") == "none":
            m = re.search(r"<([^>]*)>", h.get("auth-smtp-to", ""))
            found = self.find(m.group(1)) if m else None
            if not found:
                return [("Auth-Status", "550 5.1.1 No such user here"),
                        ("Auth-Error-Code", "550 5.1.1")]
        else:
            user = urllib.parse.unquote(h.get("auth-user", ""))
            password = urllib.parse.unquote(h.get("auth-pass", ""))
            if "@" not in user:
                user += "@example.com"
            found = self.cache.get(user, password)
            if not found:
                found = self.find(user)
                if not found or not password or not self.check_password(found[0], password):
                    return [("Auth-Status", "Invalid login or password"), ("Auth-Wait", "3")]
                self.cache.put(user, password, found)
        route = self.routes.get(found[1])
        if not route or protocol not in route:
            return [("Auth-Status", "Temporary server problem, try again later"),
                    ("Auth-Wait", "3")]
        return [("Auth-Status", "OK"), ("Auth-Server", route["host"]),
                ("Auth-Port", str(route[protocol]))]

    def run(self):
        while True:
            sock = self.jobs.get()
            try:
                h = read_request(sock)
                if h is not None:
                    try:
                        reply = self.route(h)
                    except ldap.LDAPError as e:
                        print(f"auth: LDAP: {e}", file=sys.stderr, flush=True)
                        reply = [("Auth-Status", "Temporary server problem, try again later"),
                                 ("Auth-Wait", "1")]
                        self.search = connect(self.uri, SERVICE_DN, SERVICE_PW)
                        self.binds = connect(self.uri)
                    answer(sock, reply)
            except OSError as e:
                print(f"auth: {e}", file=sys.stderr, flush=True)
            finally:
                sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ldap", required=True)
    ap.add_argument("--routes", required=True)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--cache-ttl", type=float, default=300)
    args = ap.parse_args()
    routes = json.loads(args.routes)
    jobs = queue.Queue()
    cache = LoginCache(args.cache_ttl)
    for _ in range(args.workers):
        Worker(args.ldap, routes, jobs, cache).start()
    listener = socket.create_server(("127.0.0.1", args.port), backlog=1024, reuse_port=False)
    while True:
        sock, _ = listener.accept()
        jobs.put(sock)


if __name__ == "__main__":
    main()
