"""Directory schema, sample tree and access control (ldap-schema/).

Run from the repo root:
    python3 -m unittest discover -s test/integration -p 'test_schema.py'
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

from lib.slapd import (REPO_ROOT, SAMPLE_LDIF, SLAPD_INSTANCE, LdapCommandError,
                       Slapd, SlapdTls, ldap_compare, ldap_modify, ldap_search,
                       ldap_whoami)

SCHEMA_DIR = REPO_ROOT / "ldap-schema"

USERS = {
    # uid: (mail, mailHost)
    "alice": ("alice@example.com", "node1"),
    "bob": ("bob@example.com", "node2"),
    "carol": ("carol@example.org", "node1"),
    "dave": ("dave@example.com", "node2"),
}

GROUPS = {
    "mailusers": {Slapd.user_dn("alice"), Slapd.group_dn("staff")},
    "staff": {Slapd.user_dn("bob"), Slapd.group_dn("contractors")},
    "contractors": {Slapd.user_dn("carol"), Slapd.group_dn("mailusers")},
}

LDAP_INVALID_CREDENTIALS = 49
LDAP_CONSTRAINT_VIOLATION = 19
LDAP_INVALID_SYNTAX = 21


def _lower_set(values):
    return {v.lower() for v in values}


def _balanced(text, i):
    """The parenthesised definition starting at text[i] == '('."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return text[i:j + 1]
    raise AssertionError(f"unbalanced definition at {text[i:i + 60]!r}")


def _definitions(text):
    """Normalised attribute type / object class definitions of a schema file
    in either slapd.conf or cn=config LDIF form: {oid: (kind, body)}."""
    lines = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        if line.startswith(" ") and lines:   # LDIF continuation
            lines[-1] += line[1:]
        else:
            lines.append(line)
    text = "\n".join(lines)
    defs = {}
    for m in re.finditer(r"^(attributetype|objectclass|olcAttributeTypes:|olcObjectClasses:)"
                         r"\s*\(", text, re.IGNORECASE | re.MULTILINE):
        kind = "at" if m.group(1).lower() in ("attributetype", "olcattributetypes:") else "oc"
        body = re.sub(r"\s+", " ", _balanced(text, m.end() - 1))
        oid = body[1:].split()[0]
        defs[oid] = (kind, body)
    return defs


class SchemaFilesTest(unittest.TestCase):
    """The two schema files, without a running server."""

    def test_check_schema_accepts_postern_schema_and_ldif(self):
        r = subprocess.run([str(SLAPD_INSTANCE), "check-schema"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_schema_and_ldif_define_the_same_types(self):
        conf = _definitions((SCHEMA_DIR / "postern.schema").read_text())
        ldif = _definitions((SCHEMA_DIR / "postern.ldif").read_text())
        self.assertEqual(conf, ldif)
        self.assertEqual(len(conf), 5)

    def test_oids_share_one_uuid_arc(self):
        defs = _definitions((SCHEMA_DIR / "postern.schema").read_text())
        bases = set()
        for oid, (kind, body) in defs.items():
            m = re.fullmatch(r"2\.25\.(\d+)\.(1|2)\.(\d+)", oid)
            self.assertIsNotNone(m, f"OID {oid} is not under 2.25.<uuid>.1|2.N")
            self.assertLess(int(m.group(1)), 2 ** 128)
            self.assertEqual(m.group(2), "1" if kind == "at" else "2", oid)
            bases.add(m.group(1))
        self.assertEqual(len(bases), 1, bases)

    def test_schema_defines_expected_names(self):
        defs = _definitions((SCHEMA_DIR / "postern.schema").read_text())
        names = {re.search(r"NAME '([^']+)'", body).group(1): (kind, body)
                 for kind, body in defs.values()}
        self.assertEqual(set(names), {"posternServices", "posternQuota",
                                      "posternAccountState", "mailAlternateAddress",
                                      "posternAccount"})
        self.assertIn("SINGLE-VALUE", names["posternQuota"][1])
        self.assertIn("SINGLE-VALUE", names["posternAccountState"][1])
        self.assertNotIn("SINGLE-VALUE", names["posternServices"][1])
        self.assertNotIn("SINGLE-VALUE", names["mailAlternateAddress"][1])
        self.assertIn("AUXILIARY", names["posternAccount"][1])
        self.assertNotIn("mailHost", "".join(b for _, b in defs.values()))


class SampleDirectoryTest(unittest.TestCase):
    """The sample tree on a private slapd, as a directory admin checks it."""

    @classmethod
    def setUpClass(cls):
        cls.slapd = Slapd()
        cls.slapd.start()
        cls.uri = cls.slapd.uri

    @classmethod
    def tearDownClass(cls):
        cls.slapd.cleanup()

    def search_as_service(self, base, filt="(objectClass=*)", attrs=None, scope="sub"):
        return ldap_search(self.uri, base, filt, Slapd.SERVICE_DN, Slapd.SERVICE_PW,
                           attrs=attrs, scope=scope)

    # -- schema in the running server ---------------------------------------

    def test_server_publishes_postern_schema(self):
        entries = ldap_search(self.uri, "cn=Subschema", "(objectClass=subschema)",
                              attrs=["attributeTypes", "objectClasses"], scope="base")
        self.assertEqual(len(entries), 1)
        attrs = entries[0][1]
        text = " ".join(attrs.get("attributeTypes", []) + attrs.get("objectClasses", []))
        for name in ("posternServices", "posternQuota", "posternAccountState",
                     "mailAlternateAddress", "posternAccount", "mailHost"):
            self.assertIn(f"'{name}'", text)

    # -- sample tree --------------------------------------------------------

    def test_sample_tree_has_four_users_with_mail_and_mailhost(self):
        entries = self.search_as_service(Slapd.PEOPLE, "(objectClass=inetOrgPerson)",
                                         ["uid", "mail", "mailHost"])
        found = {a["uid"][0]: (a["mail"][0], a["mailHost"][0]) for _, a in entries}
        self.assertEqual(found, USERS)

    def test_users_are_active_postern_accounts_with_all_services(self):
        entries = self.search_as_service(
            Slapd.PEOPLE, "(objectClass=posternAccount)",
            ["uid", "objectClass", "posternAccountState", "posternServices"])
        self.assertEqual(len(entries), 4)
        for dn, a in entries:
            self.assertIn("inetlocalmailrecipient", _lower_set(a["objectClass"]), dn)
            self.assertEqual(a["posternAccountState"], ["active"], dn)
            self.assertEqual(_lower_set(a["posternServices"]),
                             {"imap", "pop3", "smtp", "submission", "webmail"}, dn)

    def test_alice_alternate_address_found_case_insensitively(self):
        entries = self.search_as_service(
            Slapd.PEOPLE, "(mailAlternateAddress=ALICE.Liddell@Example.COM)", ["uid"])
        self.assertEqual([a["uid"] for _, a in entries], [["alice"]])
        entries = self.search_as_service(
            Slapd.PEOPLE, "(mailAlternateAddress=alice.*)", ["uid"])
        self.assertEqual([a["uid"] for _, a in entries], [["alice"]])

    # -- service account ------------------------------------------------------

    def test_service_account_binds_with_its_password(self):
        rc, out = ldap_whoami(self.uri, Slapd.SERVICE_DN, Slapd.SERVICE_PW)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out.lower(), "dn:" + Slapd.SERVICE_DN)

    def test_service_account_reads_people(self):
        entries = self.search_as_service(Slapd.PEOPLE, "(uid=*)")
        self.assertEqual({dn for dn, _ in entries}, {Slapd.user_dn(u) for u in USERS})

    def test_service_account_reads_groups(self):
        entries = self.search_as_service(Slapd.GROUPS, "(objectClass=groupOfNames)", ["cn"])
        self.assertEqual({a["cn"][0] for _, a in entries}, set(GROUPS))

    def test_service_account_can_search_from_the_suffix(self):
        entries = self.search_as_service(Slapd.SUFFIX, "(mail=bob@example.com)", ["mailHost"])
        self.assertEqual(entries, [(Slapd.user_dn("bob"), {"mailHost": ["node2"]})])

    def test_service_account_cannot_read_passwords(self):
        entries = self.search_as_service(Slapd.PEOPLE, "(uid=alice)", ["userPassword"])
        self.assertEqual(len(entries), 1)
        self.assertNotIn("userPassword", entries[0][1])

    # -- users ----------------------------------------------------------------

    def test_each_user_binds_with_own_password(self):
        for uid in USERS:
            with self.subTest(uid=uid):
                rc, out = ldap_whoami(self.uri, Slapd.user_dn(uid), Slapd.user_password(uid))
                self.assertEqual(rc, 0, out)
                self.assertEqual(out.lower(), "dn:" + Slapd.user_dn(uid))

    def test_wrong_password_fails_with_invalid_credentials(self):
        for dn, pw in ((Slapd.user_dn("alice"), "bob-secret"),
                       (Slapd.user_dn("alice"), "alice-secret "),
                       (Slapd.SERVICE_DN, "wrong"),
                       (Slapd.user_dn("nobody"), "nobody-secret")):
            with self.subTest(dn=dn, pw=pw):
                rc, out = ldap_whoami(self.uri, dn, pw)
                self.assertEqual(rc, LDAP_INVALID_CREDENTIALS, out)

    def test_user_reads_own_entry_but_not_others(self):
        dn = Slapd.user_dn("carol")
        pw = Slapd.user_password("carol")
        own = ldap_search(self.uri, dn, binddn=dn, pw=pw, scope="base")
        self.assertEqual(len(own), 1)
        self.assertEqual(own[0][1]["mail"], ["carol@example.org"])
        self.assertNotIn("userPassword", own[0][1])
        # A subtree search discloses nobody else (slapd even hides ou=people).
        others = ldap_search(self.uri, Slapd.PEOPLE, "(uid=*)", dn, pw)
        self.assertEqual({d for d, _ in others} - {dn}, set())
        bob = ldap_search(self.uri, Slapd.user_dn("bob"), binddn=dn, pw=pw, scope="base")
        self.assertEqual(bob, [])
        self.assertEqual(ldap_search(self.uri, Slapd.GROUPS, binddn=dn, pw=pw), [])

    # -- anonymous --------------------------------------------------------------

    def test_anonymous_cannot_list_people_or_groups(self):
        self.assertEqual(ldap_search(self.uri, Slapd.PEOPLE, "(objectClass=*)"), [])
        self.assertEqual(ldap_search(self.uri, Slapd.GROUPS, "(objectClass=*)"), [])
        self.assertEqual(ldap_search(self.uri, Slapd.SUFFIX, "(mail=*)"), [])

    def test_anonymous_can_read_root_dse(self):
        entries = ldap_search(self.uri, "", "(objectClass=*)",
                              attrs=["namingContexts"], scope="base")
        self.assertEqual(entries[0][1]["namingContexts"], [Slapd.SUFFIX])

    # -- groups -----------------------------------------------------------------

    def test_group_memberships_as_specified_including_cycle(self):
        entries = self.search_as_service(Slapd.GROUPS, "(objectClass=groupOfNames)",
                                         ["cn", "member"])
        found = {a["cn"][0]: _lower_set(a["member"]) for _, a in entries}
        self.assertEqual(found, {k: _lower_set(v) for k, v in GROUPS.items()})
        # The cycle: mailusers -> staff -> contractors -> mailusers.
        self.assertIn(Slapd.group_dn("staff"), found["mailusers"])
        self.assertIn(Slapd.group_dn("contractors"), found["staff"])
        self.assertIn(Slapd.group_dn("mailusers"), found["contractors"])

    def test_dave_is_in_no_group(self):
        entries = self.search_as_service(
            Slapd.GROUPS, f"(member={Slapd.user_dn('dave')})", ["cn"])
        self.assertEqual(entries, [])

    # -- compare ------------------------------------------------------------------

    def test_service_compare_of_user_password(self):
        for uid in USERS:
            with self.subTest(uid=uid):
                self.assertTrue(ldap_compare(
                    self.uri, Slapd.user_dn(uid), "userPassword",
                    Slapd.user_password(uid), Slapd.SERVICE_DN, Slapd.SERVICE_PW))
                self.assertFalse(ldap_compare(
                    self.uri, Slapd.user_dn(uid), "userPassword",
                    "wrong-secret", Slapd.SERVICE_DN, Slapd.SERVICE_PW))

    def test_user_and_anonymous_cannot_compare_passwords(self):
        target = Slapd.user_dn("bob")
        for binddn, pw in ((Slapd.user_dn("alice"), "alice-secret"), (None, None)):
            with self.subTest(binddn=binddn):
                with self.assertRaises(LdapCommandError):
                    ldap_compare(self.uri, target, "userPassword", "bob-secret", binddn, pw)

    # -- attribute rules (as the rootdn; nothing is changed) ------------------------

    def test_single_valued_attributes_reject_second_value(self):
        for attr, values in (("posternAccountState", ("active", "disabled")),
                             ("posternQuota", ("1000", "2000"))):
            with self.subTest(attr=attr):
                ldif = (f"dn: {Slapd.user_dn('dave')}\nchangetype: modify\n"
                        f"replace: {attr}\n{attr}: {values[0]}\n{attr}: {values[1]}\n")
                rc, out = ldap_modify(self.uri, ldif, Slapd.ROOT_DN, Slapd.ROOT_PW)
                self.assertEqual(rc, LDAP_CONSTRAINT_VIOLATION, out)

    def test_quota_must_be_an_integer(self):
        ldif = (f"dn: {Slapd.user_dn('dave')}\nchangetype: modify\n"
                f"replace: posternQuota\nposternQuota: ten gigabytes\n")
        rc, out = ldap_modify(self.uri, ldif, Slapd.ROOT_DN, Slapd.ROOT_PW)
        self.assertEqual(rc, LDAP_INVALID_SYNTAX, out)


class RestartTest(unittest.TestCase):

    def test_restart_keeps_sample_and_added_data(self):
        with Slapd() as slapd:
            port = slapd.port
            ldif = (f"dn: {Slapd.user_dn('erin')}\n"
                    "objectClass: inetOrgPerson\nobjectClass: inetLocalMailRecipient\n"
                    "objectClass: posternAccount\nuid: erin\ncn: Erin Example\n"
                    "sn: Example\nmail: erin@example.com\nmailHost: node1\n"
                    "posternQuota: 1073741824\nuserPassword: erin-secret\n")
            rc, out = ldap_modify(slapd.uri, ldif, Slapd.ROOT_DN, Slapd.ROOT_PW, add=True)
            self.assertEqual(rc, 0, out)

            slapd.restart()
            self.assertEqual(slapd.port, port)

            entries = ldap_search(slapd.uri, Slapd.PEOPLE, "(uid=*)",
                                  Slapd.SERVICE_DN, Slapd.SERVICE_PW, attrs=["uid", "posternQuota"])
            self.assertEqual(sorted(a["uid"][0] for _, a in entries),
                             ["alice", "bob", "carol", "dave", "erin"])
            erin = [a for _, a in entries if a["uid"] == ["erin"]][0]
            self.assertEqual(erin["posternQuota"], ["1073741824"])
            rc, out = ldap_whoami(slapd.uri, Slapd.user_dn("erin"), "erin-secret")
            self.assertEqual(rc, 0, out)


@unittest.skipUnless(shutil.which("openssl"), "openssl not installed")
class TlsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="postern-tls-")
        cls.cert = os.path.join(cls.tmp, "cert.pem")
        cls.key = os.path.join(cls.tmp, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", cls.key, "-out", cls.cert, "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True, timeout=60)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_starttls_and_ldaps_with_service_account(self):
        env = {"LDAPTLS_CACERT": self.cert, "LDAPTLS_REQCERT": "demand"}
        with Slapd(tls=SlapdTls(self.cert, self.key, ldaps=True)) as slapd:
            rc, out = ldap_whoami(slapd.uri, Slapd.SERVICE_DN, Slapd.SERVICE_PW,
                                  starttls=True, env=env)
            self.assertEqual(rc, 0, out)
            rc, out = ldap_whoami(slapd.ldaps_uri, Slapd.SERVICE_DN, Slapd.SERVICE_PW,
                                  env=env)
            self.assertEqual(rc, 0, out)
            entries = ldap_search(slapd.ldaps_uri, Slapd.PEOPLE, "(uid=alice)",
                                  Slapd.SERVICE_DN, Slapd.SERVICE_PW, env=env)
            self.assertEqual(len(entries), 1)


if __name__ == "__main__":
    unittest.main()
