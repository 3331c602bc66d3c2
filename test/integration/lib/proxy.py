r"""A running postern-proxy for integration tests.

    from lib.slapd import Slapd
    from lib.node import Node
    from lib.proxy import Proxy

    with Slapd() as ldap, Node(ldap, "node1") as n1, Node(ldap, "node2") as n2, \
            Proxy(ldap, [n1, n2]) as proxy:
        imap = imaplib.IMAP4("127.0.0.1", proxy.port("imap"))
        imap.login("alice@example.com", Slapd.user_password("alice"))

The proxy listens on free loopback ports, writes its configuration in a temp
folder and logs to a file (proxy.log(), proxy.wait_log()). Its listeners are
named as the nodes' are: "imap" (STARTTLS), "imaps" (implicit TLS), "pop3"
(STLS), "pop3s", "smtp", "submission" (STARTTLS) and "submissions" (implicit
TLS), and "http" / "https" (WebMail, plain and implicit TLS; their "http"
section gets a fixed cookie_secret, `http=` merges into it); pass
`listeners=` to create only some. The nodes table is built from
the given Node fixtures (their "imap", "pop3", "smtp", "submission" and
"http" listeners, as far as they have them), by node name; a dict entry instead of
a Node is taken as the table's entry itself (e.g. a node that is not
running). `node_tls` is the hop's TLS: "starttls" (default, verified with the
nodes' test certificate), "implicit" (the nodes' "imaps", "pop3s" and
"submissions" listeners; no "smtp" entry, nodes have no implicit-TLS SMTP)
or "none".

Other settings: `proxy=` merges into the "proxy" section
(verify_credentials, connect_timeout, login_timeout...), `throttle=`,
`health=` and `smtp=` are those sections, `listener_overrides=` merges into
single listeners ({"imap": {"proxy_protocol": True, "proxy_protocol_from":
["127.0.0.0/8"]}}), `extra=` adds or replaces top-level sections. Set
POSTERN_KEEP_PROXY=1 to keep the temp folder after cleanup() for debugging.
"""

import copy
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

try:
    from .node import LISTENER_KINDS, _accepts, test_certificate
    from .ports import free_port
    from .postern import BUILD, ldap_directory
except ImportError:  # imported as a top-level module
    from node import LISTENER_KINDS, _accepts, test_certificate  # type: ignore
    from ports import free_port  # type: ignore
    from postern import BUILD, ldap_directory  # type: ignore

POSTERN_PROXY = BUILD / "proxy" / "postern-proxy"

# The proxy's listener kinds: the nodes' ones, and WebMail over TLS.
PROXY_LISTENER_KINDS = dict(LISTENER_KINDS, https=("http", "implicit"))

# The node listener each service of the nodes table points at, per hop TLS.
_NODE_LISTENERS = {
    # HTTP has no STARTTLS: with "starttls" the WebMail hop is plain.
    "starttls": {"imap": "imap", "pop3": "pop3", "smtp": "smtp", "submission": "submission",
                 "http": "http"},
    "none": {"imap": "imap", "pop3": "pop3", "smtp": "smtp", "submission": "submission",
             "http": "http"},
    # A node's SMTP (25-style) listener has no implicit-TLS twin, and the
    # table has one TLS mode per node: no "smtp" entry then.
    "implicit": {"imap": "imaps", "pop3": "pop3s", "submission": "submissions"},
}


class ProxyError(RuntimeError):
    """postern-proxy did not start (the message carries its log)."""


class Proxy:
    """One postern-proxy process with its own configuration and ports."""

    def __init__(self, slapd, nodes=(), name="proxy", listeners=("imap", "imaps", "pop3", "pop3s"),
                 proxy=None, directory=None, listener_overrides=None, node_tls="starttls",
                 throttle=None, health=None, smtp=None, http=None, extra=None):
        self.name = name
        self.slapd = slapd
        self.listener_names = list(listeners)
        for n in self.listener_names:
            if n not in PROXY_LISTENER_KINDS:
                raise ValueError(f"unknown listener {n!r}; expected one of "
                                 f"{list(PROXY_LISTENER_KINDS)}")
        if node_tls not in _NODE_LISTENERS:
            raise ValueError(f"node_tls must be one of {list(_NODE_LISTENERS)}")
        self.node_tls = node_tls
        self._nodes = dict(nodes) if isinstance(nodes, dict) else {n.name: n for n in nodes}
        self.dir = Path(tempfile.mkdtemp(prefix=f"postern-{name}-"))
        self.config_path = str(self.dir / "proxy.json")
        self.log_path = str(self.dir / "proxy.log")
        cert, key = test_certificate()
        self.ca_file = cert
        self._proxy = {"name": name, "threads": 2}
        self._proxy.update(proxy or {})
        self._directory = directory if directory is not None else ldap_directory([slapd.uri])
        self._overrides = copy.deepcopy(listener_overrides or {})
        self._sections = {}
        for section, value in (("throttle", throttle), ("health", health)):
            if value is not None:
                self._sections[section] = copy.deepcopy(value)
        self._sections["smtp"] = {"hostname": "proxy.example.com",
                                  "local_domains": ["example.com"]}
        self._sections["smtp"].update(smtp or {})
        # WebMail listeners need the routing cookie's secret (the same on
        # every proxy of a cluster: tests read cookie_secret).
        self.cookie_secret = "integration-test-route-secret-0123456789"
        if any(PROXY_LISTENER_KINDS[n][0] == "http" for n in self.listener_names) or http:
            self._sections["http"] = {"cookie_secret": self.cookie_secret}
            self._sections["http"].update(http or {})
            self.cookie_secret = self._sections["http"].get("cookie_secret", self.cookie_secret)
        self._extra = copy.deepcopy(extra or {})
        self._tls = {"cert": cert, "key": key}
        self.proc = None
        self._log_file = None
        self._pick_ports()

    # -- configuration -------------------------------------------------------

    def _pick_ports(self):
        self._ports = {n: free_port() for n in self.listener_names}
        self.admin_port = free_port()
        self._write_config()

    def _node_entry(self, node):
        if isinstance(node, dict):
            return copy.deepcopy(node)
        entry = {}
        for service, listener in _NODE_LISTENERS[self.node_tls].items():
            if listener in node.listener_names:
                entry[service] = f"127.0.0.1:{node.port(listener)}"
        if self.node_tls != "none":
            entry["tls"] = {"mode": self.node_tls, "ca": node.ca_file,
                            "server_name": "localhost"}
        return entry

    def config(self):
        """The configuration as a dict (what config_path holds)."""
        listeners = []
        for n in self.listener_names:
            protocol, tls = PROXY_LISTENER_KINDS[n]
            entry = {"name": n, "protocol": protocol,
                     "address": f"127.0.0.1:{self._ports[n]}", "tls": tls}
            entry.update(self._overrides.get(n, {}))
            listeners.append(entry)
        cfg = {
            "proxy": self._proxy,
            "tls": self._tls,
            "listeners": listeners,
            "admin": {"address": f"127.0.0.1:{self.admin_port}"},
            "directory": self._directory,
            "nodes": {name: self._node_entry(n) for name, n in self._nodes.items()},
        }
        cfg.update(self._sections)
        cfg.update(self._extra)
        return cfg

    def _write_config(self):
        with open(self.config_path, "w") as f:
            json.dump(self.config(), f, indent=2)

    def update_extra(self, extra):
        """Merges top-level sections into the configuration and rewrites the
        file (sighup() then makes the proxy read it)."""
        self._extra.update(copy.deepcopy(extra))
        self._write_config()

    def update_proxy(self, settings):
        """Merges keys into the "proxy" section and rewrites the file."""
        self._proxy.update(settings)
        self._write_config()

    def set_nodes(self, nodes):
        """Replaces the nodes table (Node fixtures or dict entries by name) and
        rewrites the file."""
        self._nodes = dict(nodes) if isinstance(nodes, dict) else {n.name: n for n in nodes}
        self._write_config()

    def port(self, listener):
        return self._ports[listener]

    def check(self, timeout=30):
        """postern-proxy -c <config> -t: CompletedProcess (text)."""
        return subprocess.run([str(POSTERN_PROXY), "-c", self.config_path, "-t"],
                              capture_output=True, text=True, timeout=timeout)

    # -- process ---------------------------------------------------------------

    def start(self, timeout=15):
        """Starts the proxy and waits until every listener and the admin port
        accept connections. On a first start, a port taken in the meantime by
        someone else is retried with fresh ports."""
        if self.proc is not None and self.proc.poll() is None:
            raise ProxyError("already running")
        for attempt in range(3):
            try:
                self._start_once(timeout)
                return self
            except ProxyError as e:
                if "cannot listen" in str(e) and attempt < 2 and not self._started_once:
                    self._pick_ports()
                    continue
                raise

    _started_once = False

    def _start_once(self, timeout):
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(POSTERN_PROXY), "-c", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        waiting = [self._ports[n] for n in self.listener_names] + [self.admin_port]
        while waiting:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._close_log()
                raise ProxyError(f"postern-proxy exited {code} while starting:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                raise ProxyError(f"postern-proxy did not listen within {timeout}s:\n{self.log()}")
            waiting = [p for p in waiting if not _accepts(p)]
            if waiting:
                time.sleep(0.05)
        self._started_once = True

    def _close_log(self):
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends `sig` and waits; returns the exit code (SIGKILL after `timeout`)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_log()
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def restart(self, timeout=15):
        self.stop()
        self._start_once(timeout)
        return self

    def sighup(self):
        """SIGHUP: the proxy re-reads its configuration and maps; sessions go on."""
        self.proc.send_signal(signal.SIGHUP)

    reload = sighup  # as Node.reload()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_lines(self, pattern=None):
        """The log's lines, or those matching the regex `pattern`."""
        lines = self.log().splitlines()
        if pattern is None:
            return lines
        rx = re.compile(pattern)
        return [line for line in lines if rx.search(line)]

    def wait_log(self, pattern, timeout=10, since=0):
        """The first log line matching the regex `pattern` (in the log after
        its first `since` characters: a length of log() taken earlier, so a
        test sees only its own lines); raises AssertionError with the log
        when none appears within `timeout` seconds."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log()[since:].splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line matching {pattern!r} within {timeout}s:\n"
                                     f"{self.log()[since:]}")
            time.sleep(0.05)

    # -- clients ---------------------------------------------------------------

    def metrics(self):
        url = f"http://127.0.0.1:{self.admin_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        ctx.check_hostname = True
        return ctx

    # -- lifetime --------------------------------------------------------------

    def cleanup(self):
        self.kill()
        if os.environ.get("POSTERN_KEEP_PROXY"):
            print(f"postern-proxy folder kept: {self.dir}")
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            self.cleanup()
        return False
