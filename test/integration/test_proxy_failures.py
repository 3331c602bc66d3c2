"""The proxy when things go wrong (issue 5): a node down or slow, the
directory down, a password guesser, and a load balancer speaking the PROXY
protocol. Real slapd, real nodes, a real postern-proxy, real clients."""

import imaplib
import poplib
import smtplib
import re
import signal
import socket
import struct
import threading
import time
import unittest

from lib.postern import ldap_directory
from lib.slapd import Slapd
from test_proxy import USERS, imap_login, proxy_for, start_nodes, wait_for


def silent_listener():
    """A port that accepts connections and never says a word (a node that
    hangs). Returns (port, close)."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    held = []
    stop = threading.Event()

    def run():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                held.append(conn)
            except OSError:
                pass

    t = threading.Thread(target=run, daemon=True)
    t.start()

    def close():
        stop.set()
        t.join()
        for c in held:
            c.close()
        srv.close()
    return srv.getsockname()[1], close


class NodeDownTest(unittest.TestCase):
    def test_node2_down_bob_gets_a_temporary_answer_fast_while_alice_works(self):
        with Slapd() as ldap:
            nodes = start_nodes(ldap)
            n1, n2 = nodes
            try:
                with proxy_for(ldap, nodes, proxy={"connect_timeout": 1},
                               health={"probe_interval": 0.3, "probe_timeout": 0.5}) as proxy:
                    n2.kill()
                    started = time.monotonic()
                    with self.assertRaises(imaplib.IMAP4.error) as e:
                        imap_login(proxy.port("imap"), "bob")
                    self.assertIn("UNAVAILABLE", str(e.exception))
                    self.assertLess(time.monotonic() - started, 3.0)
                    self.assertTrue(proxy.wait_log(r"node_down .*node=node2"))
                    # Marked down: the next answer needs no connect at all.
                    started = time.monotonic()
                    pop = poplib.POP3("127.0.0.1", proxy.port("pop3"))
                    pop.user(USERS["bob"])
                    with self.assertRaises(poplib.error_proto) as e:
                        pop.pass_(Slapd.user_password("bob"))
                    self.assertIn("[SYS/TEMP]", str(e.exception))
                    self.assertLess(time.monotonic() - started, 1.0)
                    with smtplib.SMTP("127.0.0.1", proxy.port("smtp"), timeout=10) as s:
                        s.ehlo("client.example.net")
                        s.mail("someone@example.net")
                        code, text = s.rcpt("bob@example.com")
                        self.assertEqual(code, 451)
                        self.assertIn(b"4.4.1", text)
                    # alice's node is fine.
                    imap = imap_login(proxy.port("imap"), "alice")
                    self.assertEqual(imap.select("INBOX")[0], "OK")
                    imap.logout()
                    # node2 comes back: the probe restores it.
                    n2.start()
                    self.assertTrue(proxy.wait_log(r"node_up .*node=node2", timeout=10))
                    imap = imap_login(proxy.port("imap"), "bob")
                    imap.logout()
            finally:
                for n in nodes:
                    n.stop()
                    n.cleanup()

    def test_a_node_that_hangs_answers_within_the_connect_timeout(self):
        with Slapd() as ldap:
            nodes = start_nodes(ldap, names=("node1",))
            port, close = silent_listener()
            try:
                hanging = {"imap": f"127.0.0.1:{port}", "pop3": f"127.0.0.1:{port}",
                           "smtp": f"127.0.0.1:{port}", "submission": f"127.0.0.1:{port}"}
                with proxy_for(ldap, {"node1": nodes[0], "node2": hanging},
                               proxy={"connect_timeout": 1}) as proxy:
                    started = time.monotonic()
                    with self.assertRaises(imaplib.IMAP4.error) as e:
                        imap_login(proxy.port("imap"), "bob")
                    took = time.monotonic() - started
                    self.assertIn("UNAVAILABLE", str(e.exception))
                    self.assertGreaterEqual(took, 0.9)
                    self.assertLess(took, 3.0)
            finally:
                close()
                for n in nodes:
                    n.stop()
                    n.cleanup()


class DirectoryDownTest(unittest.TestCase):
    def test_cached_routes_keep_working_and_the_rest_get_temporary_answers(self):
        with Slapd() as ldap:
            # The routing cache on, as in production (the other tests turn
            # it off to see every change at once).
            cached = ldap_directory([ldap.uri], cache={"enabled": True})
            nodes = start_nodes(ldap, directory=cached)
            try:
                with proxy_for(ldap, nodes, directory=cached) as proxy:
                    imap = imap_login(proxy.port("imap"), "alice")
                    imap.logout()
                    ldap.stop()
                    # alice's route and login are cached at the proxy (and
                    # at her node): she still gets in.
                    imap = imap_login(proxy.port("imap"), "alice")
                    self.assertEqual(imap.select("INBOX")[0], "OK")
                    imap.logout()
                    # The admin listener counts what the cache answered.
                    def cache_hits():
                        m = re.search(r"postern_proxy_directory_cache_hits_total (\d+)",
                                      proxy.metrics())
                        return m and int(m.group(1)) >= 1
                    self.assertTrue(wait_for(cache_hits, timeout=5))
                    self.assertRegex(proxy.metrics(),
                                     r"postern_proxy_directory_lookups_total [1-9]")
                    # bob never logged in: nothing cached, a temporary answer.
                    with self.assertRaises(imaplib.IMAP4.error) as e:
                        imap_login(proxy.port("imap"), "bob")
                    self.assertIn("UNAVAILABLE", str(e.exception))
                    pop = poplib.POP3("127.0.0.1", proxy.port("pop3"))
                    pop.user(USERS["carol"])
                    with self.assertRaises(poplib.error_proto) as e:
                        pop.pass_(Slapd.user_password("carol"))
                    self.assertIn("[SYS/TEMP]", str(e.exception))
                    with smtplib.SMTP("127.0.0.1", proxy.port("smtp"), timeout=20) as s:
                        s.ehlo("client.example.net")
                        s.mail("someone@example.net")
                        code, text = s.rcpt("bob@example.com")
                        self.assertEqual(code, 451)
            finally:
                for n in nodes:
                    n.stop()
                    n.cleanup()


class BruteForceTest(unittest.TestCase):
    def test_guessing_gets_slower_and_is_cut_off(self):
        with Slapd() as ldap:
            nodes = start_nodes(ldap, names=("node1",))
            try:
                with proxy_for(ldap, nodes, throttle={"base_delay": 0.2, "max_delay": 1.6},
                               listener_overrides={"imap": {"errors": {
                                   "max_failed_logins": 3, "max_bad_commands": 20}}}) as proxy:
                    s = socket.create_connection(("127.0.0.1", proxy.port("imap")), timeout=10)
                    f = s.makefile("rb")
                    f.readline()
                    times = []
                    for i in range(3):
                        started = time.monotonic()
                        s.sendall(b"t%d LOGIN alice@example.com wrong%d\r\n" % (i, i))
                        line = f.readline()
                        times.append(time.monotonic() - started)
                        self.assertIn(b"NO [AUTHENTICATIONFAILED]", line)
                    # Each failure makes the next answer slower.
                    self.assertLess(times[0], times[1])
                    self.assertLess(times[1], times[2])
                    self.assertGreaterEqual(times[2], 0.35)
                    # The third failure ends the session.
                    rest = f.read()
                    self.assertIn(b"* BYE", rest)
                    s.close()
                    # The address stays slowed down on a new connection,
                    # even for another login.
                    started = time.monotonic()
                    with self.assertRaises(imaplib.IMAP4.error):
                        imap_login(proxy.port("imap"), "carol", "also-wrong")
                    self.assertGreaterEqual(time.monotonic() - started, 0.7)
                    self.assertTrue(proxy.wait_log(r"login_delayed .*client=127\.0\.0\.1"))
            finally:
                for n in nodes:
                    n.stop()
                    n.cleanup()


class DrainTest(unittest.TestCase):
    def test_sigterm_ends_logins_in_progress_and_lets_sessions_finish(self):
        with Slapd() as ldap:
            nodes = start_nodes(ldap, names=("node1",))
            try:
                with proxy_for(ldap, nodes, listeners=("imap",),
                               proxy={"drain_timeout": 3}) as proxy:
                    working = imap_login(proxy.port("imap"), "alice")
                    waiting = socket.create_connection(("127.0.0.1", proxy.port("imap")),
                                                       timeout=10)
                    f = waiting.makefile("rb")
                    self.assertTrue(f.readline().startswith(b"* OK"))
                    started = time.monotonic()
                    proxy.proc.send_signal(signal.SIGTERM)
                    # Not logged in yet: told at once, and closed.
                    self.assertIn(b"* BYE", f.read())
                    waiting.close()
                    # Logged in: the session goes on while the proxy drains.
                    self.assertEqual(working.noop()[0], "OK")
                    self.assertEqual(working.select("INBOX")[0], "OK")
                    # New connections are no longer taken.
                    with self.assertRaises(OSError):
                        socket.create_connection(("127.0.0.1", proxy.port("imap")), timeout=2)
                    proxy.proc.wait(timeout=10)
                    self.assertLess(time.monotonic() - started, 6)
                    self.assertTrue(proxy.wait_log(r"stopped sessions_left=1"))
            finally:
                for n in nodes:
                    n.stop()
                    n.cleanup()


def recv_or_reset(s):
    """What the peer sent before it closed; a reset (we had sent bytes it
    never read) counts as a close."""
    try:
        return s.recv(100)
    except ConnectionResetError:
        return b""


class NoVerificationTest(unittest.TestCase):
    def test_without_verification_the_nodes_refusals_still_count(self):
        with Slapd() as ldap:
            nodes = start_nodes(ldap, names=("node1",))
            try:
                with proxy_for(ldap, nodes, listeners=("imap",),
                               proxy={"verify_credentials": False},
                               throttle={"base_delay": 0.2, "max_delay": 1.6},
                               listener_overrides={"imap": {"errors": {
                                   "max_failed_logins": 2, "max_bad_commands": 20}}}) as proxy:
                    s = socket.create_connection(("127.0.0.1", proxy.port("imap")), timeout=15)
                    f = s.makefile("rb")
                    f.readline()
                    for i in range(2):
                        s.sendall(b"t%d LOGIN alice@example.com wrong%d\r\n" % (i, i))
                        line = f.readline()
                        self.assertIn(b"NO [AUTHENTICATIONFAILED]", line)
                    # The node said no twice: the proxy ends the session.
                    self.assertIn(b"* BYE", f.read())
                    s.close()
                    # ... and the address is slowed down for the next try.
                    self.assertTrue(proxy.wait_log(r"proxy_node_refused .*user=alice@"))
                    started = time.monotonic()
                    imap_login(proxy.port("imap"), "alice").logout()
                    self.assertGreaterEqual(time.monotonic() - started, 0.35)
            finally:
                for n in nodes:
                    n.stop()
                    n.cleanup()


def proxy_v2_header(src_ip, src_port, dst_ip, dst_port):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    addresses = socket.inet_aton(src_ip) + socket.inet_aton(dst_ip) + \
        struct.pack("!HH", src_port, dst_port)
    return sig + bytes([0x21, 0x11]) + struct.pack("!H", len(addresses)) + addresses


class ProxyProtocolTest(unittest.TestCase):
    def test_a_trusted_load_balancer_sets_the_client_address_the_node_sees(self):
        with Slapd() as ldap:
            nodes = start_nodes(ldap, names=("node1",))
            try:
                # The real client is not on loopback: plaintext logins need
                # the listener's leave (or STARTTLS).
                trusted = {"proxy_protocol": True, "proxy_protocol_from": ["127.0.0.0/8"],
                           "allow_plaintext_auth": True}
                with proxy_for(ldap, nodes, listeners=("imap", "pop3"),
                               listener_overrides={"imap": trusted, "pop3": trusted}) as proxy:
                    s = socket.create_connection(("127.0.0.1", proxy.port("imap")), timeout=10)
                    s.sendall(proxy_v2_header("203.0.113.7", 40123, "127.0.0.1",
                                              proxy.port("imap")))
                    f = s.makefile("rb")
                    self.assertTrue(f.readline().startswith(b"* OK"))
                    user = USERS["alice"].encode()
                    pw = Slapd.user_password("alice").encode()
                    s.sendall(b"a LOGIN %s %s\r\n" % (user, pw))
                    line = f.readline()
                    while line.startswith(b"*"):
                        line = f.readline()
                    self.assertTrue(line.startswith(b"a OK"), line)
                    s.sendall(b"b LOGOUT\r\n")
                    f.read()
                    s.close()
                    self.assertTrue(nodes[0].wait_log(
                        r"imap_login result=ok user=alice@example\.com client=203\.0\.113\.7:40123"))
                    # v1 on POP3: the node hears of the address by XCLIENT.
                    s = socket.create_connection(("127.0.0.1", proxy.port("pop3")), timeout=10)
                    s.sendall(b"PROXY TCP4 198.51.100.9 127.0.0.1 5555 110\r\n")
                    f = s.makefile("rb")
                    self.assertTrue(f.readline().startswith(b"+OK"))
                    s.sendall(b"USER %s\r\nPASS %s\r\n" % (user, pw))
                    self.assertTrue(f.readline().startswith(b"+OK"))
                    self.assertTrue(f.readline().startswith(b"+OK"), "PASS")
                    s.sendall(b"QUIT\r\n")
                    s.close()
                    self.assertTrue(nodes[0].wait_log(r"pop3_login .*198\.51\.100\.9"))
                    self.assertTrue(proxy.wait_log(r"session_end .*client=198\.51\.100\.9"))
                    # No header, or garbage: closed without a greeting.
                    s = socket.create_connection(("127.0.0.1", proxy.port("imap")), timeout=10)
                    s.sendall(b"a LOGIN alice secret\r\n")
                    self.assertEqual(recv_or_reset(s), b"")
                    s.close()
            finally:
                for n in nodes:
                    n.stop()
                    n.cleanup()

    def test_an_untrusted_address_may_not_send_a_header(self):
        with Slapd() as ldap:
            nodes = start_nodes(ldap, names=("node1",))
            try:
                elsewhere = {"proxy_protocol": True, "proxy_protocol_from": ["10.9.8.0/24"]}
                with proxy_for(ldap, nodes, listeners=("imap",),
                               listener_overrides={"imap": elsewhere}) as proxy:
                    s = socket.create_connection(("127.0.0.1", proxy.port("imap")), timeout=10)
                    s.sendall(proxy_v2_header("203.0.113.7", 40123, "127.0.0.1", 143))
                    self.assertEqual(recv_or_reset(s), b"")
                    s.close()
            finally:
                for n in nodes:
                    n.stop()
                    n.cleanup()


if __name__ == "__main__":
    unittest.main()
