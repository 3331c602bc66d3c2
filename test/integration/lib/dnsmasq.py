r"""Debian's dnsmasq as a small authoritative DNS server for integration tests.

    from lib.dnsmasq import Dnsmasq

    records = {
        "example.test": {"mx": [(10, "mx.example.test")],
                         "txt": ["v=spf1 ip4:127.0.0.1 -all"]},
        "mx.example.test": {"a": ["127.0.0.1"], "aaaa": ["::1"]},
    }
    with Dnsmasq(records, ptr={"127.0.0.5": ["host.example.test"]}) as dns:
        dns.port                       # UDP and TCP on 127.0.0.1
        dns.config(timeout=1)          # a node's "dns" object pointing at it
        dns.stop(); dns.start()        # same port again (retry tests)
        dns.set_records(other)         # rewrites the records (restarts)

Every name under a `local` domain (by default the last two labels of each
record's name) that has no record gets NXDOMAIN; a name that exists but has
no record of the asked type gets NODATA. Names outside are refused (no
upstream servers), which a resolver sees as a temporary failure. Answers
carry a TTL of `ttl` seconds (dnsmasq's default, 0, would defeat caches).
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

try:
    from .ports import free_port
except ImportError:  # imported as a top-level module
    from ports import free_port  # type: ignore

DNSMASQ = "/usr/sbin/dnsmasq"


class DnsmasqError(RuntimeError):
    """dnsmasq did not start (the message carries its log)."""


def _txt_value(text):
    """A txt-record= value: the text cut in character-strings of at most 255
    bytes, each quoted."""
    data = text.encode()
    chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    out = []
    for c in chunks:
        s = c.decode("utf-8", "replace").replace("\\", "\\\\").replace('"', '\\"')
        out.append(f'"{s}"')
    return ",".join(out)


def _reverse_name(ip):
    import ipaddress
    return ipaddress.ip_address(ip).reverse_pointer


def dns_query_packet(name, qtype=1, qid=0x1234):
    """A minimal DNS query (RD set) for `name`."""
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", qtype, 1)


class Dnsmasq:
    """One dnsmasq process serving `records` on 127.0.0.1:port (UDP and TCP)."""

    def __init__(self, records=None, ptr=None, local=None, ttl=300, port=None):
        self.dir = Path(tempfile.mkdtemp(prefix="postern-dnsmasq-"))
        self.conf_path = self.dir / "dnsmasq.conf"
        self.hosts_path = self.dir / "hosts"
        self.log_path = self.dir / "dnsmasq.log"
        self.ttl = ttl
        self.port = port or free_port()
        self._fixed_port = port is not None
        self.proc = None
        self.set_records(records or {}, ptr=ptr, local=local, restart=False)

    # -- configuration ---------------------------------------------------------

    def set_records(self, records, ptr=None, local=None, restart=True):
        """Replaces the records: {name: {"a": [...], "aaaa": [...], "mx":
        [(pref, host)], "txt": [text], "exists": True}}, `ptr`: {ip: [names]},
        `local`: domains answered only from here (NXDOMAIN for other names);
        restarts a running server on the same port."""
        self.records = records
        self.ptr = ptr or {}
        if local is None:
            local = sorted({".".join(n.rstrip(".").split(".")[-2:]) for n in records})
        self.local = list(local)
        self._write_config()
        if restart and self.running():
            self.stop()
            self.start()

    def _write_config(self):
        lines = [f"local-ttl={self.ttl}", f"auth-ttl={self.ttl}", f"neg-ttl={self.ttl}",
                 f"addn-hosts={self.hosts_path}", "log-queries", f"log-facility={self.log_path}"]
        hosts = []
        for d in self.local:
            lines.append(f"local=/{d}/")
        for name, rrs in self.records.items():
            for pref, host in rrs.get("mx", []):
                lines.append(f"mx-host={name},{host},{pref}")
            for text in rrs.get("txt", []):
                lines.append(f"txt-record={name},{_txt_value(text)}")
            for ip in list(rrs.get("a", [])) + list(rrs.get("aaaa", [])):
                hosts.append(f"{ip} {name}")
        for ip, names in self.ptr.items():
            for n in names:
                lines.append(f"ptr-record={_reverse_name(ip)},{n}")
        self.conf_path.write_text("\n".join(lines) + "\n")
        self.hosts_path.write_text("\n".join(hosts) + "\n")

    def config(self, priority=10, **settings):
        """A node's "dns" object with this server as its only nameserver."""
        cfg = {"nameservers": [{"address": f"127.0.0.1:{self.port}", "priority": priority}],
               "timeout": 1, "retries": 1}
        cfg.update(settings)
        return cfg

    # -- process ---------------------------------------------------------------

    def _command(self):
        user = "root" if os.getuid() == 0 else _user_name()
        return [DNSMASQ, "--no-resolv", "--no-hosts", "--no-daemon", f"--port={self.port}",
                "--listen-address=127.0.0.1", "--bind-interfaces", f"--conf-file={self.conf_path}",
                "--pid-file=", f"--user={user}"]

    def start(self, timeout=10):
        if self.running():
            raise DnsmasqError("already running")
        for attempt in range(3):
            try:
                self._start_once(timeout)
                return self
            except DnsmasqError as e:
                # A port taken in the meantime: try another one, unless the
                # caller needs this one (a restart, a fixed port).
                if "in use" in str(e) and attempt < 2 and not self._fixed_port:
                    self.port = free_port()
                    continue
                raise

    def _start_once(self, timeout):
        out = open(self.dir / "stdout.log", "ab")
        try:
            self.proc = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        finally:
            out.close()
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.proc.poll() is not None:
                raise DnsmasqError(f"dnsmasq exited {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise DnsmasqError(f"dnsmasq did not answer within {timeout}s:\n{self.log()}")
            time.sleep(0.05)
        self._fixed_port = True  # restarts keep the port the clients were given

    def _answers(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(dns_query_packet("probe.invalid"), ("127.0.0.1", self.port))
                s.recvfrom(512)
                return True
            except OSError:
                return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        text = ""
        for p in (self.dir / "stdout.log", self.log_path):
            try:
                text += p.read_text(errors="replace")
            except FileNotFoundError:
                pass
        return text

    def cleanup(self):
        self.stop()
        if os.environ.get("POSTERN_KEEP_NODE"):
            print(f"dnsmasq folder kept: {self.dir}")
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.cleanup()
        return False


class SilentDns:
    """A UDP and TCP port on 127.0.0.1 that takes queries and never answers: a
    nameserver that is down in the way that costs a resolver its timeout."""

    def __init__(self):
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]

    def close(self):
        self.udp.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _user_name():
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name
