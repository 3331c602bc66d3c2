"""The mapping layer against a real slapd: routing, authentication with nested
groups, injection, temporary failures, caching, failover and fail-back, TLS.
Driven through posternctl, as an operator would."""

import os
import re
import subprocess
import tempfile
import time
import unittest

from lib.postern import (EX_NOPERM, EX_NOUSER, EX_OK, EX_TEMPFAIL, ConfigDir, LookupSession,
                         ldap_directory, posternctl)
from lib.slapd import SAMPLE_LDIF, Slapd, SlapdTls, ldap_modify

ROUTES = {
    "alice@example.com": "node1",
    "bob@example.com": "node2",
    "carol@example.org": "node1",
    "dave@example.com": "node2",
}

# A disabled account that is otherwise in order (in mailusers, right password).
ERIN_LDIF = """dn: uid=erin,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
objectClass: inetLocalMailRecipient
objectClass: posternAccount
uid: erin
cn: Erin
sn: Erin
mail: erin@example.com
mailHost: node1
posternAccountState: disabled
userPassword: erin-secret
"""
ERIN_MEMBER = """dn: cn=mailusers,ou=groups,dc=example,dc=com
changetype: modify
add: member
member: uid=erin,ou=people,dc=example,dc=com
"""


class LdapMappingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.slapd = Slapd().start()
        ldap_modify(cls.slapd.uri, ERIN_LDIF, Slapd.ROOT_DN, Slapd.ROOT_PW, add=True)
        ldap_modify(cls.slapd.uri, ERIN_MEMBER, Slapd.ROOT_DN, Slapd.ROOT_PW)
        cls.conf = ConfigDir()
        cls.config = cls.conf.write("mapping.json", {"directory": ldap_directory([cls.slapd.uri])})

    @classmethod
    def tearDownClass(cls):
        cls.slapd.cleanup()
        cls.conf.cleanup()

    def auth(self, login, password, config=None):
        return posternctl(config or self.config, "auth", login, stdin=password + "\n")

    def test_every_sample_user_is_routed_to_their_node(self):
        for address, node in ROUTES.items():
            r = posternctl(self.config, "lookup", address)
            self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)
            self.assertIn(f"node: {node}\n", r.stdout)
            self.assertIn(f"address: {address}\n", r.stdout)

    def test_lookup_prints_the_accounts_attributes(self):
        r = posternctl(self.config, "lookup", "alice@example.com")
        self.assertIn("dn: uid=alice,ou=people,dc=example,dc=com", r.stdout)
        self.assertIn("state: active", r.stdout)
        self.assertIn("aliases: alice.liddell@example.com", r.stdout)
        self.assertIn("attribute: mailHost: node1", r.stdout)

    def test_login_without_domain_uses_the_primary_domain(self):
        r = posternctl(self.config, "lookup", "bob")
        self.assertEqual(r.returncode, EX_OK)
        self.assertIn("address: bob@example.com", r.stdout)
        self.assertIn("node: node2", r.stdout)

    def test_alias_finds_the_account(self):
        r = posternctl(self.config, "lookup", "alice.liddell@example.com")
        self.assertEqual(r.returncode, EX_OK)
        self.assertIn("address: alice@example.com", r.stdout)

    def test_lookup_is_case_insensitive(self):
        r = posternctl(self.config, "lookup", "Alice@EXAMPLE.com")
        self.assertEqual(r.returncode, EX_OK)
        self.assertIn("node: node1", r.stdout)

    def test_unknown_address_is_not_found(self):
        r = posternctl(self.config, "lookup", "nobody@example.com")
        self.assertEqual(r.returncode, EX_NOUSER, r.stdout)

    def test_auth_accepts_direct_member(self):
        r = self.auth("alice@example.com", "alice-secret")
        self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)
        self.assertIn("accepted, node node1", r.stdout)

    def test_auth_accepts_bob_through_one_nested_group(self):
        self.assertEqual(self.auth("bob", "bob-secret").returncode, EX_OK)

    def test_auth_accepts_carol_through_two_levels_and_the_cycle(self):
        r = self.auth("carol@example.org", "carol-secret")
        self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)

    def test_auth_denies_dave_outside_the_group(self):
        r = self.auth("dave@example.com", "dave-secret")
        self.assertEqual(r.returncode, EX_NOPERM)
        self.assertIn("not_in_group", r.stdout)

    def test_auth_denies_wrong_password(self):
        r = self.auth("alice@example.com", "bob-secret")
        self.assertEqual(r.returncode, EX_NOPERM)
        self.assertIn("wrong_password", r.stdout)

    def test_auth_denies_empty_password(self):
        # An empty simple bind is an anonymous bind that would succeed.
        r = self.auth("alice@example.com", "")
        self.assertEqual(r.returncode, EX_NOPERM)
        self.assertIn("wrong_password", r.stdout)

    def test_auth_denies_unknown_user(self):
        r = self.auth("nobody@example.com", "x")
        self.assertEqual(r.returncode, EX_NOPERM)
        self.assertIn("unknown_user", r.stdout)

    def test_auth_denies_disabled_account_with_right_password(self):
        r = self.auth("erin@example.com", "erin-secret")
        self.assertEqual(r.returncode, EX_NOPERM)
        self.assertIn("disabled", r.stdout)
        # With a wrong password it is just a wrong password: no state leaks.
        self.assertIn("wrong_password", self.auth("erin@example.com", "nope").stdout)

    def test_auth_mode_dn_template(self):
        conf = self.conf.write("template.json", {"directory": ldap_directory(
            [self.slapd.uri],
            auth={"mode": "dn_template", "dn_template": "uid=%u,ou=people,dc=example,dc=com"})})
        self.assertEqual(self.auth("alice@example.com", "alice-secret", conf).returncode, EX_OK)
        self.assertEqual(self.auth("carol@example.org", "carol-secret", conf).returncode, EX_OK)
        self.assertEqual(self.auth("alice@example.com", "wrong", conf).returncode, EX_NOPERM)
        self.assertEqual(self.auth("dave@example.com", "dave-secret", conf).returncode, EX_NOPERM)

    def test_auth_mode_compare(self):
        conf = self.conf.write("compare.json", {"directory": ldap_directory(
            [self.slapd.uri], auth={"mode": "compare"})})
        self.assertEqual(self.auth("alice@example.com", "alice-secret", conf).returncode, EX_OK)
        r = self.auth("alice@example.com", "wrong", conf)
        self.assertEqual(r.returncode, EX_NOPERM)
        self.assertIn("wrong_password", r.stdout)
        self.assertIn("not_in_group", self.auth("dave", "dave-secret", conf).stdout)

    def test_injection_in_login_finds_nothing(self):
        attacks = ["*", "*@example.com", "alice*", "*)(mail=*", "alice@example.com)(|(mail=*",
                   ")(", "\\", "\\2a", "alice,ou=people", "uid=alice", "=", "a=b,c=d@example.com",
                   "*)(objectClass=*"]
        for login in attacks:
            with self.subTest(login=login):
                r = posternctl(self.config, "lookup", login)
                self.assertEqual(r.returncode, EX_NOUSER, r.stdout + r.stderr)
                r = self.auth(login, "alice-secret")
                self.assertEqual(r.returncode, EX_NOPERM, r.stdout + r.stderr)

    def test_injection_in_dn_template_login_matches_nothing(self):
        conf = self.conf.write("template-inj.json", {"directory": ldap_directory(
            [self.slapd.uri],
            auth={"mode": "dn_template", "dn_template": "uid=%u,ou=people,dc=example,dc=com"})})
        for login in ["alice,ou=people", "alice+cn=x", "x,uid=alice", "*", "alice\\"]:
            with self.subTest(login=login):
                r = self.auth(login + "@example.com", "alice-secret", conf)
                self.assertEqual(r.returncode, EX_NOPERM, r.stdout + r.stderr)

    def test_nul_and_control_characters_are_refused(self):
        s = LookupSession(self.config)
        try:
            for login in ["alice\x00@example.com", "alice\x01", "ali ce@example.com"]:
                status, fields = s.lookup(login)
                self.assertEqual(status, "notfound", login)
                self.assertIn("forbidden character", fields.get("detail", ""))
        finally:
            s.close()

    def test_filters_reach_slapd_escaped(self):
        posternctl(self.config, "lookup", "*)(mail=*")
        time.sleep(0.2)
        log = self.slapd.log()
        self.assertIn("\\2A\\29\\28MAIL=\\2A", log.upper())
        self.assertNotIn("(mail=*)(", log)


class DirectoryDownTest(unittest.TestCase):
    def setUp(self):
        self.slapd = Slapd().start()
        self.conf = ConfigDir()

    def tearDown(self):
        self.slapd.cleanup()
        self.conf.cleanup()

    def test_stopped_directory_is_a_temporary_failure(self):
        config = self.conf.write("m.json", {"directory": ldap_directory([self.slapd.uri])})
        self.slapd.stop()
        t0 = time.monotonic()
        r = posternctl(config, "lookup", "alice@example.com")
        self.assertEqual(r.returncode, EX_TEMPFAIL, r.stdout + r.stderr)
        r = posternctl(config, "auth", "alice@example.com", stdin="alice-secret\n")
        self.assertEqual(r.returncode, EX_TEMPFAIL, r.stdout + r.stderr)
        self.assertIn("temporary failure", r.stdout)
        self.assertLess(time.monotonic() - t0, 10)
        r = posternctl(config, "lookup", "nobody@example.com")
        self.assertEqual(r.returncode, EX_TEMPFAIL, "unreachable must never be 'no such user'")

    def test_cached_routes_keep_answering_while_the_directory_is_down(self):
        config = self.conf.write("m.json", {"directory": ldap_directory(
            [self.slapd.uri],
            cache={"positive_ttl": 1, "negative_ttl": 1, "stale_ttl": 3600})})
        s = LookupSession(config)
        try:
            status, fields = s.lookup("alice@example.com")
            self.assertEqual((status, fields["node"], fields["address"]),
                             ("found", "node1", "alice@example.com"))
            self.assertEqual(s.lookup("nobody@example.com")[0], "notfound")
            self.slapd.stop()
            # Within the TTL: from the cache, fresh.
            self.assertEqual(s.lookup("alice@example.com")[1].get("node"), "node1")
            time.sleep(1.3)
            # Past the TTL with the directory down: the stale entry, marked so.
            status, fields = s.lookup("alice@example.com")
            self.assertEqual((status, fields.get("node"), fields.get("stale")), ("found", "node1", "1"))
            # Never looked up before: temporary failure.
            self.assertEqual(s.lookup("bob@example.com")[0], "tempfail")
            # A negative entry is not served stale: we cannot know.
            self.assertEqual(s.lookup("nobody@example.com")[0], "tempfail")
            self.slapd.restart()
            # Workers retry an unreachable directory at most once a second.
            deadline = time.monotonic() + 5
            while True:
                status, fields = s.lookup("bob@example.com")
                if status != "tempfail" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.assertEqual((status, fields.get("node")), ("found", "node2"))
        finally:
            s.close()
        self.assertIn("directory_stale", s.stderr())


class FailoverTest(unittest.TestCase):
    """Two directories with different data, so we can tell who answered."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="postern-failover-")
        second = os.path.join(self.tmp, "second.ldif")
        with open(SAMPLE_LDIF) as f:
            text = f.read()
        # In the second directory alice lives on node9.
        text = re.sub(r"(dn: uid=alice,.*?\n(?:.+\n)*?)mailHost: node1", r"\1mailHost: node9", text)
        self.assertIn("mailHost: node9", text)
        with open(second, "w") as f:
            f.write(text)
        self.first = Slapd().start()
        self.second = Slapd(ldifs=[second]).start()
        self.conf = ConfigDir()

    def tearDown(self):
        self.first.cleanup()
        self.second.cleanup()
        self.conf.cleanup()

    def test_failover_to_the_second_uri_and_back(self):
        config = self.conf.write("m.json", {"directory": ldap_directory(
            [self.first.uri, self.second.uri], failback_interval=1, pool_size=1)})
        s = LookupSession(config)
        try:
            self.assertEqual(s.lookup("alice")[1].get("node"), "node1")
            self.first.stop()
            self.assertEqual(s.lookup("alice")[1].get("node"), "node9")
            self.assertEqual(s.lookup("alice")[1].get("node"), "node9")
            self.first.restart()
            deadline = time.monotonic() + 10
            node = None
            while time.monotonic() < deadline:
                node = s.lookup("alice")[1].get("node")
                if node == "node1":
                    break
                time.sleep(0.3)
            self.assertEqual(node, "node1", "did not fail back to the first URI")
        finally:
            s.close()

    def test_first_uri_down_from_the_start(self):
        self.first.stop()
        config = self.conf.write("m.json", {"directory": ldap_directory(
            [self.first.uri, self.second.uri])})
        r = posternctl(config, "lookup", "alice@example.com")
        self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)
        self.assertIn("node: node9", r.stdout)
        r = posternctl(config, "auth", "carol@example.org", stdin="carol-secret\n")
        self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="postern-ldaptls-")
        cls.cert = os.path.join(cls.tmp, "cert.pem")
        cls.key = os.path.join(cls.tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", cls.key, "-out", cls.cert],
                       check=True, capture_output=True)
        cls.slapd = Slapd(tls=SlapdTls(cert=cls.cert, key=cls.key, ldaps=True)).start()
        cls.conf = ConfigDir()

    @classmethod
    def tearDownClass(cls):
        cls.slapd.cleanup()
        cls.conf.cleanup()

    def test_starttls_with_ca_file(self):
        config = self.conf.write("st.json", {"directory": ldap_directory(
            [self.slapd.uri], starttls=True, ca_file=self.cert)})
        r = posternctl(config, "auth", "alice", stdin="alice-secret\n")
        self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)

    def test_ldaps_with_ca_file(self):
        config = self.conf.write("ls.json", {"directory": ldap_directory(
            [self.slapd.ldaps_uri], ca_file=self.cert)})
        r = posternctl(config, "lookup", "bob")
        self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)

    def test_untrusted_certificate_is_refused(self):
        other = os.path.join(self.tmp, "other.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=other", "-keyout", os.path.join(self.tmp, "o.key"),
                        "-out", other], check=True, capture_output=True)
        config = self.conf.write("bad.json", {"directory": ldap_directory(
            [self.slapd.uri], starttls=True, ca_file=other)})
        r = posternctl(config, "lookup", "bob")
        self.assertEqual(r.returncode, EX_TEMPFAIL, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
