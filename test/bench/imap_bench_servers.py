"""The servers scripts/bench imap compares, each in its own folder of the
benchmark's temp dir on free loopback ports: Dovecot (Maildir or sdbox,
default fsync settings) and postern-node. Each knows how to populate itself
from the source Maildir tree (imap_bench_data.write_source), start, report its
CPU time and stop.
"""

import grp
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

USER = "bench@example.com"
PASSWORD = "bench-secret"
APPEND_MAILBOXES = ("Append1", "Append10")
_TICK = os.sysconf("SC_CLK_TCK")


_given_ports = set()


def free_port():
    """A port free a moment ago that no earlier call returned (the kernel may
    give one port to two bind(0) calls in a row, and two listeners of one
    server must not share it)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port


def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _stat_fields(pid):
    """/proc/<pid>/stat fields after the command name (index 0 = state)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    return data[data.rfind(b")") + 2:].split()


def process_tree_cpu(root):
    """CPU seconds (user + system) of `root` and every live descendant, plus
    the children `root` has already reaped (cutime/cstime): so a process that
    exits between two samples is still counted once it is waited for."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                parents[int(name)] = int(_stat_fields(name)[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in tree:
                tree.add(child)
                frontier.append(child)
    ticks = 0
    for pid in tree:
        try:
            f = _stat_fields(pid)
        except OSError:
            continue
        # state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        ticks += int(f[11]) + int(f[12])
        if pid == root:
            ticks += int(f[13]) + int(f[14])
    return ticks / _TICK


class Server:
    label = ""
    port = 0
    proc = None

    def cpu(self):
        return process_tree_cpu(self.proc.pid)

    def wait_listening(self, timeout=30):
        deadline = time.monotonic() + timeout
        while not _accepts(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.label} did not listen within {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""


class Dovecot(Server):
    """Dovecot as the current user, configured from scratch (no
    /etc/dovecot): IMAP only, plaintext logins, passwd-file + static userdb,
    no auth penalty or failure delay, default fsync settings (mail_fsync =
    optimized)."""

    def __init__(self, base, fmt):
        self.fmt = fmt
        self.label = f"dovecot-{fmt}"
        self.dir = os.path.join(base, self.label)
        self.mail = os.path.join(self.dir, "mail")
        self.log_path = os.path.join(self.dir, "dovecot.log")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.port = free_port()

    @staticmethod
    def version():
        out = subprocess.run(["dovecot", "--version"], capture_output=True, text=True)
        return out.stdout.strip()

    @staticmethod
    def mail_owner():
        """(uid, gid) the mail and login processes run as: the current
        user's, except that Dovecot refuses to run them as root ("userdb
        returned 0 as uid", imap-login "must not be run as root"), so as root
        they run as nobody:nogroup and the mail is theirs."""
        if os.getuid() != 0:
            return os.getuid(), os.getgid()
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_uid, nobody.pw_gid

    def _chown_tree(self, path):
        uid, gid = self.mail_owner()
        if uid != os.getuid():
            subprocess.run(["chown", "-R", f"{uid}:{gid}", path], check=True)

    def _write_config(self):
        os.makedirs(os.path.join(self.dir, "home"), exist_ok=True)
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        uid, gid = self.mail_owner()
        os.chmod(os.path.dirname(self.dir), 0o755)  # mkdtemp made it 0700
        self._chown_tree(self.dir)
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            f.write(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        location = f"maildir:{self.mail}" if self.fmt == "maildir" else f"sdbox:{self.mail}"
        d = self.dir
        with open(self.conf, "w") as f:
            f.write(f"""\
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {self.log_path}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
# Logins from trusted networks get no auth penalty (anvil's delays).
login_trusted_networks = 127.0.0.0/8
mail_max_userip_connections = 100
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {pwd.getpwuid(uid).pw_name}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = {location}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")

    def start(self):
        self._write_config()
        self.log_file = open(os.path.join(self.dir, "master.out"), "ab")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=self.log_file, stderr=subprocess.STDOUT)
        self.wait_listening()

    def doveadm(self, *args, options=()):
        cmd = ["doveadm", "-c", self.conf]
        for o in options:
            cmd += ["-o", o]
        r = subprocess.run(cmd + list(args), capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def populate(self, source):
        """Maildir: the source tree hard-linked (Dovecot indexes it at the
        first SELECT). sdbox: doveadm import of the source, without fsyncs
        (populating is not measured). Call after start()."""
        if self.fmt == "maildir":
            subprocess.run(["cp", "-al", source, self.mail], check=True)
            for name in APPEND_MAILBOXES:
                for sub in ("cur", "new", "tmp"):
                    os.makedirs(os.path.join(self.mail, "." + name, sub))
            self._chown_tree(self.mail)
            return
        # doveadm runs as the mail user and the maildir driver writes its
        # uidlist even when only reading: import from a hard-linked copy.
        staging = os.path.join(self.dir, "import")
        subprocess.run(["cp", "-al", source, staging], check=True)
        self._chown_tree(staging)
        self.doveadm("import", "-u", USER, f"maildir:{staging}:INDEX=MEMORY", "", "all",
                     options=["mail_fsync=never"])
        shutil.rmtree(staging)
        # import exits 0 even when it could not read the source.
        want = {m: len(os.listdir(os.path.join(source if m == "INBOX" else
                                               os.path.join(source, "." + m), "cur")))
                for m in ("INBOX", "Search", "Big")}
        got = self.counts(list(want))
        if got != want:
            raise RuntimeError(f"doveadm import: got {got}, expected {want}:\n{self.log()}")
        self.doveadm("mailbox", "create", "-u", USER, *APPEND_MAILBOXES)

    def counts(self, mailboxes):
        """{mailbox: messages} as doveadm sees them."""
        counts = {}
        for m in mailboxes:
            out = self.doveadm("-f", "flow", "mailbox", "status", "-u", USER, "messages", m)
            counts[m] = int(out.strip().split("=")[1])
        return counts

    def stop(self):
        super().stop()
        if getattr(self, "log_file", None):
            self.log_file.close()


class Postern(Server):
    """postern-node with one plaintext IMAP listener, the file directory
    source (one user, its password hashed by posternctl) and its store in
    the temp dir, filled by store_fill."""

    label = "postern"

    def __init__(self, base, build):
        self.build = build
        self.dir = os.path.join(base, "postern")
        self.store = os.path.join(self.dir, "store")
        self.log_path = os.path.join(self.dir, "node.log")
        self.conf = os.path.join(self.dir, "node.json")
        self.port = free_port()
        self.admin_port = free_port()

    def _write_config(self):
        os.makedirs(self.store, exist_ok=True)
        hashed = subprocess.run(
            [os.path.join(self.build, "tools", "posternctl"), "hash-password", "sha512"],
            input=PASSWORD, capture_output=True, text=True, check=True).stdout.strip()
        users = os.path.join(self.dir, "users.map")
        with open(users, "w") as f:
            f.write(f"{USER} node1 {hashed}\n")
        config = {
            "node": {"name": "node1", "store": self.store, "worker_threads": 16},
            "listeners": [{"name": "imap", "protocol": "imap",
                           "address": f"127.0.0.1:{self.port}", "tls": "none",
                           "allow_plaintext_auth": True}],
            "admin": {"address": f"127.0.0.1:{self.admin_port}"},
            "directory": {"source": "file", "primary_domain": "example.com",
                          "file": {"path": users, "reload_interval": 1},
                          "cache": {"enabled": False}},
            "log": {"level": "warn"},
        }
        with open(self.conf, "w") as f:
            json.dump(config, f, indent=2)

    def populate(self, source):
        """store_fill per folder (before start(): the store allows one
        process per account)."""
        self._write_config()
        fill = os.path.join(self.build, "test", "bench", "store_fill")
        jobs = [[name, os.path.join(source, "cur") if name == "INBOX" else
                 os.path.join(source, "." + name, "cur")] for name in ("INBOX", "Search", "Big")]
        jobs += [[name] for name in APPEND_MAILBOXES]
        for job in jobs:
            r = subprocess.run([fill, self.store, USER] + job, capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"store_fill {' '.join(job)}: {r.stderr[-2000:]}")

    def start(self):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(self.build, "backend", "postern-node"), "-c", self.conf],
            stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT)
        self.wait_listening()

    def stop(self):
        super().stop()
        if getattr(self, "log_file", None):
            self.log_file.close()


def remove(server):
    shutil.rmtree(server.dir, ignore_errors=True)
