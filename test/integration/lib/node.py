r"""A running postern-node for integration tests.

    from lib.slapd import Slapd
    from lib.node import Node

    with Slapd() as ldap, Node(ldap) as node:
        imap = imaplib.IMAP4("127.0.0.1", node.port("imap"))
        node.deliver("alice@example.com", b"Subject: hi\r\n\r\nbody\r\n")

The node listens on free loopback ports, keeps its store in a temp folder and
logs to a file (node.log(), node.wait_log()). The listeners are named
"imap" (STARTTLS), "imaps" (implicit TLS), "pop3" (STLS), "pop3s", "smtp",
"submission" (STARTTLS), "submissions" (implicit TLS) and "http" (WebMail,
plain); pass
`listeners=` to create only some (a protocol the build does not serve yet
makes the configuration invalid). Set POSTERN_KEEP_NODE=1 to keep the temp
folders after cleanup() for debugging.
"""

import atexit
import copy
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

try:
    from .ports import free_port
    from .postern import BUILD, POSTERNCTL, ldap_directory
except ImportError:  # imported as a top-level module
    from ports import free_port  # type: ignore
    from postern import BUILD, POSTERNCTL, ldap_directory  # type: ignore

POSTERN_NODE = BUILD / "backend" / "postern-node"

# listener name -> (protocol, tls mode)
LISTENER_KINDS = {
    "imap": ("imap", "starttls"),
    "imaps": ("imap", "implicit"),
    "pop3": ("pop3", "starttls"),
    "pop3s": ("pop3", "implicit"),
    "smtp": ("smtp", "starttls"),
    "submission": ("submission", "starttls"),
    "submissions": ("submission", "implicit"),
    "http": ("http", "none"),
    "https": ("http", "implicit"),
}

_cert_dir = None


def test_certificate():
    """(cert, key) paths of a self-signed certificate for CN=localhost (with
    subjectAltName localhost and 127.0.0.1), made once per process."""
    global _cert_dir
    if _cert_dir is None:
        d = tempfile.mkdtemp(prefix="postern-cert-")
        cert, key = os.path.join(d, "localhost.crt"), os.path.join(d, "localhost.key")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
             "-days", "30", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", key, "-out", cert],
            check=True, capture_output=True, timeout=60)
        atexit.register(shutil.rmtree, d, True)
        _cert_dir = d
    return os.path.join(_cert_dir, "localhost.crt"), os.path.join(_cert_dir, "localhost.key")


class NodeError(RuntimeError):
    """postern-node did not start (the message carries its log)."""


def _accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Node:
    """One postern-node process with its own configuration, store and ports."""

    def __init__(self, slapd, name="node1", listeners=("imap", "imaps", "pop3", "pop3s"),
                 node=None, directory=None, listener_overrides=None, extra=None):
        self.name = name
        self.slapd = slapd
        self.listener_names = list(listeners)
        for n in self.listener_names:
            if n not in LISTENER_KINDS:
                raise ValueError(f"unknown listener {n!r}; expected one of {list(LISTENER_KINDS)}")
        self.dir = Path(tempfile.mkdtemp(prefix=f"postern-{name}-"))
        self.store_path = str(self.dir / "store")
        os.makedirs(self.store_path)
        self.config_path = str(self.dir / "node.json")
        self.log_path = str(self.dir / "node.log")
        cert, key = test_certificate()
        self.ca_file = cert
        self._node = {"name": name, "store": self.store_path, "threads": 2,
                      "worker_threads": 4, "trusted_proxies": ["127.0.0.0/8"]}
        self._node.update(node or {})
        self._directory = directory if directory is not None else ldap_directory([slapd.uri])
        self._overrides = copy.deepcopy(listener_overrides or {})
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

    def config(self):
        """The configuration as a dict (what config_path holds)."""
        listeners = []
        for n in self.listener_names:
            protocol, tls = LISTENER_KINDS[n]
            entry = {"name": n, "protocol": protocol,
                     "address": f"127.0.0.1:{self._ports[n]}", "tls": tls}
            entry.update(self._overrides.get(n, {}))
            listeners.append(entry)
        cfg = {
            "node": self._node,
            "tls": self._tls,
            "listeners": listeners,
            "admin": {"address": f"127.0.0.1:{self.admin_port}"},
            "directory": self._directory,
        }
        cfg.update(self._extra)
        return cfg

    def _write_config(self):
        with open(self.config_path, "w") as f:
            json.dump(self.config(), f, indent=2)

    def update_extra(self, extra):
        """Merges top-level sections into the configuration (e.g. "cluster",
        which needs every node's ports) and rewrites the file."""
        self._extra.update(copy.deepcopy(extra))
        self._write_config()

    def port(self, listener):
        return self._ports[listener]

    # -- process ---------------------------------------------------------------

    def start(self, timeout=15):
        """Starts the node and waits until every listener and the admin port
        accept connections. On a first start, a port taken in the meantime by
        someone else is retried with fresh ports."""
        if self.proc is not None and self.proc.poll() is None:
            raise NodeError("already running")
        for attempt in range(3):
            try:
                self._start_once(timeout)
                return self
            except NodeError as e:
                if "cannot listen" in str(e) and attempt < 2 and not self._started_once:
                    self._pick_ports()
                    continue
                raise

    _started_once = False

    def _start_once(self, timeout):
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([str(POSTERN_NODE), "-c", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=self._log_file,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        waiting = [self._ports[n] for n in self.listener_names] + [self.admin_port]
        while waiting:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._close_log()
                raise NodeError(f"postern-node exited {code} while starting:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                raise NodeError(f"postern-node did not listen within {timeout}s:\n{self.log()}")
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

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

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

    def deliver(self, address, message: bytes, folder=None, timeout=30):
        """posternctl -c <config> deliver ADDRESS [FOLDER] < message."""
        cmd = [str(POSTERNCTL), "-c", self.config_path, "deliver", address]
        if folder is not None:
            cmd.append(folder)
        return subprocess.run(cmd, input=message, capture_output=True, timeout=timeout)

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
        if os.environ.get("POSTERN_KEEP_NODE"):
            print(f"postern-node folder kept: {self.dir}")
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
