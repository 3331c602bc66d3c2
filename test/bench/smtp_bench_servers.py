"""The mail systems scripts/bench smtp compares, each in its own folder of the
benchmark's temp dir on free loopback ports:

  PostfixDovecot  Debian's Postfix (a private instance: its own config,
                  queue and data directories) relaying to Debian's Dovecot
                  LMTP (a private instance, Maildir), default fsync settings
                  on both sides.
  Postern         postern-node with an "smtp" listener, its queue and store
                  in the temp dir, the file directory source, store_sync
                  "batch" (the default).

Each can start, report its CPU time (every process of its trees), count the
messages in the bench user's INBOX and stop.
"""

import grp
import json
import os
import pwd
import re
import shutil
import subprocess
import time

from imap_bench_client import Imap
from imap_bench_servers import Dovecot, Server, _accepts, free_port, process_tree_cpu

USER = "bench@example.com"
PASSWORD = "bench-secret"


def _run(cmd, what):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{what}: {' '.join(cmd)} exited {r.returncode}: "
                           f"{(r.stderr or r.stdout).strip()[-2000:]}")
    return r.stdout


class DovecotLmtp(Server):
    """Dovecot with LMTP only: a static userdb (every local part is the one
    bench user), Maildir under the temp dir, default fsync (mail_fsync =
    optimized: each message file is fsynced before it is renamed into new/ and
    LMTP answers 250)."""

    label = "dovecot-lmtp"

    def __init__(self, base):
        self.dir = os.path.join(base, "dovecot")
        self.mail = os.path.join(self.dir, "Maildir")
        self.log_path = os.path.join(self.dir, "dovecot.log")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self.port = free_port()

    def _write_config(self):
        os.makedirs(os.path.join(self.dir, "home"), exist_ok=True)
        os.chmod(os.path.dirname(self.dir), 0o755)  # mkdtemp made it 0700
        uid, gid = Dovecot.mail_owner()
        user = pwd.getpwuid(os.getuid()).pw_name
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.mail, sub), exist_ok=True)
        if uid != os.getuid():
            subprocess.run(["chown", "-R", f"{uid}:{gid}", self.dir], check=True)
        d = self.dir
        with open(self.conf, "w") as f:
            f.write(f"""\
protocols = lmtp
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {self.log_path}
ssl = no
auth_verbose = no
default_internal_user = {user}
default_internal_group = {grp.getgrgid(os.getgid()).gr_name}
default_login_user = {pwd.getpwuid(uid).pw_name}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{self.mail}
# LMTP looks up the userdb only; a passdb must exist all the same.
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home allow_all_users=yes
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.port}
  }}
}}
""")

    def start(self):
        self._write_config()
        self.log_file = open(os.path.join(self.dir, "master.out"), "ab")
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=self.log_file, stderr=subprocess.STDOUT)
        self.wait_listening()

    def count(self):
        """Messages delivered: files in the Maildir's new/ and cur/ (a file
        appears there by rename only after its fsync)."""
        return sum(len(os.listdir(os.path.join(self.mail, sub))) for sub in ("new", "cur"))

    def stop(self):
        super().stop()
        if getattr(self, "log_file", None):
            self.log_file.close()


class Postfix(Server):
    """A private Postfix instance (postfix -c DIR) with smtpd on a free
    loopback port, no local domains, example.com as a virtual mailbox domain
    delivered by LMTP to `lmtp_port`, mynetworks = 127.0.0.0/8, no content
    filters, default fsync behaviour (the queue file is fsynced before smtpd
    answers 250)."""

    label = "postfix"

    def __init__(self, base, lmtp_port):
        self.dir = os.path.join(base, "postfix")
        self.config = os.path.join(self.dir, "etc")
        self.queue = os.path.join(self.dir, "queue")
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "maillog")
        self.port = free_port()
        self.lmtp_port = lmtp_port
        self.master_pid = None

    @staticmethod
    def version():
        return subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True,
                              text=True).stdout.strip()

    def _write_config(self):
        if os.getuid() != 0:
            raise RuntimeError("Postfix needs root to start (its master runs as root and "
                               "drops to mail_owner postfix); run scripts/bench smtp as root "
                               "or use --only postern")
        try:
            pwd.getpwnam("postfix")
        except KeyError:
            raise RuntimeError("no 'postfix' user: is Debian's postfix package installed?")
        for d in (self.config, self.data):
            os.makedirs(d, exist_ok=True)
        os.makedirs(self.queue, mode=0o755, exist_ok=True)
        os.chmod(os.path.dirname(self.dir), 0o755)
        subprocess.run(["chown", "postfix", self.data], check=True)
        with open(os.path.join(self.config, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\n")
        with open(os.path.join(self.config, "master.cf"), "w") as f:
            # Debian's master.cf, less what a relay to LMTP never uses, and
            # nothing chrooted (the queue is not under /var/spool/postfix).
            f.write(f"""\
127.0.0.1:{self.port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
""")
        settings = {
            "queue_directory": self.queue,
            "data_directory": self.data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "postfix.bench.test",
            "inet_interfaces": "loopback-only",
            "inet_protocols": "ipv4",
            "mydestination": "",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "virtual_mailbox_domains": "example.com",
            "virtual_transport": f"lmtp:inet:127.0.0.1:{self.lmtp_port}",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination",
            "maillog_file": self.log_path,
            "maillog_file_prefixes": self.dir,
            "biff": "no",
        }
        _run(["postconf", "-c", self.config, "-e"] + [f"{k} = {v}" for k, v in settings.items()],
             "postconf")

    def start(self):
        self._write_config()
        # Creates the queue's folders (postfix-script check-create) and
        # daemonizes master; its pid lands in queue/pid/master.pid.
        try:
            _run(["postfix", "-c", self.config, "start"], "postfix start")
        except RuntimeError as e:
            raise RuntimeError(f"{e}\n{self.log()}") from None
        pid_file = os.path.join(self.queue, "pid", "master.pid")
        deadline = time.monotonic() + 30
        while self.master_pid is None:
            try:
                with open(pid_file) as f:
                    self.master_pid = int(f.read().strip())
            except (OSError, ValueError):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"postfix: no {pid_file}:\n{self.log()}")
                time.sleep(0.05)
        self.wait_listening()

    def wait_listening(self, timeout=30):
        deadline = time.monotonic() + timeout
        while not _accepts(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"postfix did not listen within {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def cpu(self):
        return process_tree_cpu(self.master_pid) if self.master_pid else 0.0

    def queued(self):
        """Messages still in Postfix's queue (incoming, active, deferred)."""
        n = 0
        for sub in ("incoming", "active", "deferred", "maildrop"):
            for _, _, files in os.walk(os.path.join(self.queue, sub)):
                n += len(files)
        return n

    def stop(self):
        if self.master_pid:
            subprocess.run(["postfix", "-c", self.config, "stop"], capture_output=True)
            deadline = time.monotonic() + 30
            while os.path.exists(f"/proc/{self.master_pid}") and time.monotonic() < deadline:
                time.sleep(0.05)
            self.master_pid = None


class PostfixDovecot:
    """Postfix in front of Dovecot LMTP: one system as the bench sees it."""

    label = "postfix+dovecot"
    storage = "Maildir (Dovecot LMTP)"

    def __init__(self, base):
        self.dovecot = DovecotLmtp(base)
        self.postfix = Postfix(base, self.dovecot.port)
        self.dirs = [self.dovecot.dir, self.postfix.dir]

    @property
    def port(self):
        return self.postfix.port

    def start(self):
        self.dovecot.start()
        self.postfix.start()

    def cpu(self):
        return {"postfix": self.postfix.cpu(), "dovecot": self.dovecot.cpu()}

    def count(self):
        return self.dovecot.count()

    def versions(self):
        return {"postfix": Postfix.version(), "dovecot": Dovecot.version()}

    def diagnose(self):
        return (f"still in Postfix's queue: {self.postfix.queued()}\n"
                f"postfix log:\n{self.postfix.log()}\ndovecot log:\n{self.dovecot.log()}")

    def stop(self):
        try:
            self.postfix.stop()
        finally:
            self.dovecot.stop()


class Postern(Server):
    """postern-node: an "smtp" listener (SPF off: Postfix checks none
    either), a plaintext IMAP listener for counting, the file directory
    source with the one bench user on this node, queue and store in the temp
    dir, store_sync "batch"."""

    label = "postern"
    storage = "Postern store (store_sync batch)"

    def __init__(self, base, build):
        self.build = build
        self.dir = os.path.join(base, "postern")
        self.dirs = [self.dir]
        self.store = os.path.join(self.dir, "store")
        self.log_path = os.path.join(self.dir, "node.log")
        self.conf = os.path.join(self.dir, "node.json")
        self.port = free_port()
        self.imap_port = free_port()
        self.admin_port = free_port()
        self.imap = None

    def _write_config(self):
        os.makedirs(self.store, exist_ok=True)
        hashed = subprocess.run(
            [os.path.join(self.build, "tools", "posternctl"), "hash-password", "sha512"],
            input=PASSWORD, capture_output=True, text=True, check=True).stdout.strip()
        users = os.path.join(self.dir, "users.map")
        with open(users, "w") as f:
            f.write(f"{USER} node1 {hashed}\n")
        config = {
            "node": {"name": "node1", "store": self.store, "worker_threads": 16,
                     "store_sync": "batch"},
            "listeners": [
                {"name": "smtp", "protocol": "smtp", "address": f"127.0.0.1:{self.port}",
                 "tls": "none"},
                {"name": "imap", "protocol": "imap", "address": f"127.0.0.1:{self.imap_port}",
                 "tls": "none", "allow_plaintext_auth": True},
            ],
            "smtp": {"hostname": "postern.bench.test", "local_domains": ["example.com"],
                     "relay_networks": ["127.0.0.0/8"], "spf": "ignore"},
            "queue": {"path": os.path.join(self.dir, "queue")},
            "cluster": {"node1": {"smtp": f"127.0.0.1:{self.port}"}},
            "admin": {"address": f"127.0.0.1:{self.admin_port}"},
            "directory": {"source": "file", "primary_domain": "example.com",
                          "file": {"path": users, "reload_interval": 1},
                          "cache": {"enabled": False}},
            "log": {"level": "warn"},
        }
        with open(self.conf, "w") as f:
            json.dump(config, f, indent=2)

    def start(self):
        self._write_config()
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(self.build, "backend", "postern-node"), "-c", self.conf],
            stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT)
        self.wait_listening()

    def count(self):
        """STATUS INBOX (MESSAGES) over IMAP, on one connection kept open."""
        if self.imap is None:
            self.imap = Imap(self.imap_port).login(USER, PASSWORD)
        resp = self.imap.command("STATUS INBOX (MESSAGES)")
        m = re.search(rb"MESSAGES (\d+)", resp)
        if not m:
            raise RuntimeError(f"STATUS INBOX: {resp[-500:]!r}")
        return int(m.group(1))

    def cpu(self):
        return {"postern": super().cpu()}

    def versions(self):
        return {"postern": os.path.join(self.build, "backend", "postern-node")}

    def diagnose(self):
        return f"postern log:\n{self.log()}"

    def stop(self):
        if self.imap is not None:
            try:
                self.imap.close()
            except OSError:
                pass
            self.imap = None
        super().stop()
        if getattr(self, "log_file", None):
            self.log_file.close()


def remove(system):
    for d in system.dirs:
        shutil.rmtree(d, ignore_errors=True)
