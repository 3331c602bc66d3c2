"""A private OpenLDAP slapd for integration tests.

    from lib.slapd import Slapd, SAMPLE_LDIF, ldap_search

    with Slapd() as ldap:                 # sample tree, random loopback port
        ldap_search(ldap.uri, "ou=people,dc=example,dc=com", "(uid=alice)",
                    Slapd.SERVICE_DN, Slapd.SERVICE_PW)

The server is run by scripts/lib/slapd-instance (Debian's /usr/sbin/slapd,
cn=config, mdb); see ldap-schema/README.md for the tree and its passwords.
Set POSTERN_KEEP_SLAPD=1 to keep the instance directory (config, data,
slapd.log) after cleanup() for debugging.
"""

import base64
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

try:
    from .ports import free_port
except ImportError:  # imported as a top-level module
    from ports import free_port  # type: ignore

REPO_ROOT = Path(__file__).resolve().parents[3]
SLAPD_INSTANCE = REPO_ROOT / "scripts" / "lib" / "slapd-instance"
SAMPLE_LDIF = REPO_ROOT / "ldap-schema" / "sample.ldif"

_CMD_TIMEOUT = 60  # seconds, for slapd-instance calls
_LDAP_TIMEOUT = 15  # seconds, for ldap* client calls


class SlapdError(RuntimeError):
    """slapd-instance failed; the message includes its output."""


class LdapCommandError(RuntimeError):
    """An ldap* client command failed."""

    def __init__(self, cmd, returncode, stdout, stderr):
        self.cmd = cmd
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        super().__init__(
            f"{cmd[0]} exited {returncode}: {stderr.strip() or stdout.strip()}")


@dataclass
class SlapdTls:
    """TLS material for Slapd(tls=...): StartTLS always, ldaps if `ldaps`."""
    cert: str
    key: str
    ldaps: bool = False


def _as_tls(tls):
    if tls is None or isinstance(tls, SlapdTls):
        return tls
    if isinstance(tls, dict):
        return SlapdTls(cert=tls["cert"], key=tls["key"],
                        ldaps=bool(tls.get("ldaps", False)))
    if isinstance(tls, (tuple, list)) and len(tls) in (2, 3):
        return SlapdTls(*tls)
    raise TypeError("tls must be None, SlapdTls, dict(cert, key[, ldaps]) "
                    "or (cert, key[, ldaps])")


class Slapd:
    """A throw-away slapd on 127.0.0.1 with the Postern schema.

    ldifs: LDIF files loaded with slapadd -n1 on first start (default: the
    sample tree; pass [] for an empty database).
    tls: None, or SlapdTls / dict(cert=, key=, ldaps=False) / (cert, key):
    configures StartTLS, and an extra ldaps:// listener if ldaps is true.
    """

    SUFFIX = "dc=example,dc=com"
    ROOT_DN = "cn=admin,dc=example,dc=com"
    ROOT_PW = "admin-secret"
    SERVICE_DN = "cn=postern,dc=example,dc=com"
    SERVICE_PW = "postern-secret"
    PEOPLE = "ou=people,dc=example,dc=com"
    GROUPS = "ou=groups,dc=example,dc=com"

    @staticmethod
    def user_dn(uid: str) -> str:
        return f"uid={uid},ou=people,dc=example,dc=com"

    @staticmethod
    def user_password(uid: str) -> str:
        return f"{uid}-secret"

    @staticmethod
    def group_dn(cn: str) -> str:
        return f"cn={cn},ou=groups,dc=example,dc=com"

    def __init__(self, ldifs=None, tls=None):
        self.ldifs = [str(p) for p in (ldifs if ldifs is not None else [SAMPLE_LDIF])]
        self.tls = _as_tls(tls)
        self.dir = None
        self.port = None
        self.ldaps_port = None
        self.running = False

    # -- addresses ---------------------------------------------------------

    @property
    def uri(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_uri(self):
        return f"ldaps://127.0.0.1:{self.ldaps_port}" if self.ldaps_port else None

    @property
    def log_path(self):
        return os.path.join(self.dir, "slapd.log") if self.dir else None

    def log(self) -> str:
        """The slapd log so far (for failure messages)."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    # -- lifecycle ---------------------------------------------------------

    def _env(self):
        env = dict(os.environ)
        for k in ("SLAPD_TLS_CERT", "SLAPD_TLS_KEY", "SLAPD_LDAPS_PORT"):
            env.pop(k, None)
        if self.tls is not None:
            env["SLAPD_TLS_CERT"] = os.path.abspath(self.tls.cert)
            env["SLAPD_TLS_KEY"] = os.path.abspath(self.tls.key)
            if self.ldaps_port:
                env["SLAPD_LDAPS_PORT"] = str(self.ldaps_port)
        return env

    def _run(self, *args):
        cmd = [str(SLAPD_INSTANCE), *map(str, args)]
        try:
            r = subprocess.run(cmd, env=self._env(), stdin=subprocess.DEVNULL,
                               capture_output=True, text=True,
                               timeout=_CMD_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            raise SlapdError(f"{' '.join(cmd)} timed out after {_CMD_TIMEOUT}s") from e
        return r

    def _launch(self, subcommand, extra, attempts):
        """Run start/restart-existing, choosing new ports when `attempts` > 1
        and the failure looks like a port clash."""
        last = None
        for attempt in range(attempts):
            if attempt > 0 or self.port is None:
                self.port = free_port()
                if self.tls is not None and self.tls.ldaps:
                    self.ldaps_port = free_port()
            r = self._run(subcommand, self.dir, self.port, *extra)
            if r.returncode == 0:
                self.running = True
                return
            last = r
            if "Address already in use" not in (r.stderr + self.log()):
                break
        raise SlapdError(
            f"slapd-instance {subcommand} failed (exit {last.returncode}):\n"
            f"{last.stdout}{last.stderr}")

    def start(self):
        if self.running:
            raise SlapdError("already started")
        self.dir = tempfile.mkdtemp(prefix="postern-slapd-")
        self.port = None
        try:
            self._launch("start", self.ldifs, attempts=3)
        except BaseException:
            if not os.environ.get("POSTERN_KEEP_SLAPD"):
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None
            raise
        return self

    def stop(self):
        if not self.running or self.dir is None:
            return
        r = self._run("stop", self.dir)
        if r.returncode != 0:
            raise SlapdError(f"slapd-instance stop failed: {r.stdout}{r.stderr}")
        self.running = False

    def restart(self):
        """Stop, then start again on the same port(s) and data."""
        self.stop()
        # The old listening socket is closed; retry briefly in case the
        # kernel has not released the port yet.
        for attempt in range(5):
            try:
                self._launch("restart-existing", (), attempts=1)
                return self
            except SlapdError:
                if attempt == 4:
                    raise
                time.sleep(0.5)
        return self

    def cleanup(self):
        try:
            self.stop()
        finally:
            if self.dir and not os.environ.get("POSTERN_KEEP_SLAPD"):
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
        return False


# -- ldap client helpers ---------------------------------------------------

def _bind_args(binddn, pw):
    if binddn is None:
        return ["-x"]
    return ["-x", "-D", binddn, "-w", pw if pw is not None else ""]


def _run_client(cmd, env=None):
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    return subprocess.run(cmd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=full_env,
                          timeout=_LDAP_TIMEOUT)


def parse_ldif(text: str):
    """Parse ldapsearch -LLL output into [(dn, {attr: [values]})]."""
    entries = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        # Unfold continuation lines.
        lines = []
        for line in block.split("\n"):
            if line.startswith(" ") and lines:
                lines[-1] += line[1:]
            elif line and not line.startswith("#"):
                lines.append(line)
        if not lines:
            continue
        dn = None
        attrs = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep:
                continue
            if value.startswith(":"):
                value = base64.b64decode(value[1:].strip()).decode("utf-8", "replace")
            else:
                value = value[1:] if value.startswith(" ") else value
            if dn is None and name.lower() == "dn":
                dn = value
            else:
                attrs.setdefault(name, []).append(value)
        if dn is not None:
            entries.append((dn, attrs))
    return entries


def ldap_search(uri, base, filter="(objectClass=*)", binddn=None, pw=None,
                attrs=None, scope="sub", starttls=False, env=None):
    """Search with the ldapsearch CLI; returns [(dn, {attr: [values]})].

    Anonymous when binddn is None. "No such object" (32, which is also what
    slapd answers when the base is hidden by ACLs) gives []. Any other
    failure raises LdapCommandError.
    """
    cmd = ["ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-o", "nettimeout=5",
           "-H", uri, *_bind_args(binddn, pw), "-s", scope, "-b", base]
    if starttls:
        cmd.append("-ZZ")
    cmd.append(filter)
    cmd.extend(attrs or [])
    r = _run_client(cmd, env)
    if r.returncode == 32:
        return []
    if r.returncode != 0:
        raise LdapCommandError(cmd, r.returncode, r.stdout, r.stderr)
    return parse_ldif(r.stdout)


def ldap_whoami(uri, binddn=None, pw=None, starttls=False, env=None):
    """Run ldapwhoami; returns (exit code, output). 0 = bound, 49 = bad credentials."""
    cmd = ["ldapwhoami", "-o", "nettimeout=5", "-H", uri, *_bind_args(binddn, pw)]
    if starttls:
        cmd.append("-ZZ")
    r = _run_client(cmd, env)
    return r.returncode, (r.stdout + r.stderr).strip()


def ldap_compare(uri, dn, attr, value, binddn=None, pw=None, env=None):
    """Run ldapcompare; returns True (compareTrue), False (compareFalse) or
    raises LdapCommandError for anything else (e.g. 50 insufficient access)."""
    cmd = ["ldapcompare", "-o", "nettimeout=5", "-H", uri,
           *_bind_args(binddn, pw), dn, f"{attr}:{value}"]
    r = _run_client(cmd, env)
    if r.returncode == 6:
        return True
    if r.returncode == 5:
        return False
    raise LdapCommandError(cmd, r.returncode, r.stdout, r.stderr)


def ldap_modify(uri, ldif_text, binddn, pw, add=False, env=None):
    """Run ldapmodify (ldapadd when add=True) with LDIF on stdin; returns
    (exit code, output)."""
    cmd = ["ldapmodify", "-o", "nettimeout=5", "-H", uri, *_bind_args(binddn, pw)]
    if add:
        cmd.append("-a")
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    r = subprocess.run(cmd, input=ldif_text, capture_output=True, text=True,
                       env=full_env, timeout=_LDAP_TIMEOUT)
    return r.returncode, (r.stdout + r.stderr).strip()
