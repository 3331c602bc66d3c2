"""posternctl's command line and check-config: exit codes and errors that
name the file, the key and what was expected."""

import unittest

from lib.postern import EX_CONFIG, EX_OK, EX_USAGE, REPO_ROOT, ConfigDir, posternctl


class CheckConfigTest(unittest.TestCase):
    def setUp(self):
        self.conf = ConfigDir()

    def tearDown(self):
        self.conf.cleanup()

    def check(self, text):
        path = self.conf.write("x.json", text)
        return path, posternctl(path, "check-config")

    def test_shipped_examples_are_valid(self):
        for name in ("mapping-ldap.json", "mapping-file.json"):
            r = posternctl(REPO_ROOT / "conf" / name, "check-config")
            self.assertEqual(r.returncode, EX_OK, r.stdout + r.stderr)

    def test_unknown_key_is_named(self):
        path, r = self.check('{"directory": {"source": "ldap", "ldap": {"uris": ["ldap://x"],'
                             ' "base_dn": "dc=x", "bind_pasword": "typo"}}}')
        self.assertEqual(r.returncode, EX_CONFIG)
        self.assertIn(f"{path}: directory.ldap.bind_pasword: unknown key", r.stderr)

    def test_wrong_type_is_named(self):
        path, r = self.check('{"directory": {"source": "ldap", "ldap": {"uris": ["ldap://x"],'
                             ' "base_dn": "dc=x", "pool_size": "many"}}}')
        self.assertEqual(r.returncode, EX_CONFIG)
        self.assertIn(f"{path}: directory.ldap.pool_size: expected an integer from 1 to 64",
                      r.stderr)

    def test_bad_choice_lists_the_choices(self):
        path, r = self.check('{"directory": {"source": "ldap", "ldap": {"uris": ["ldap://x"],'
                             ' "base_dn": "dc=x", "group": {"mode": "deep"}}}}')
        self.assertEqual(r.returncode, EX_CONFIG)
        self.assertIn('directory.ldap.group.mode: expected one of "walk", "active_directory"',
                      r.stderr)

    def test_missing_required_key(self):
        path, r = self.check('{"directory": {"source": "ldap", "ldap": {"uris": ["ldap://x"]}}}')
        self.assertEqual(r.returncode, EX_CONFIG)
        self.assertIn("directory.ldap.base_dn: missing; expected a string", r.stderr)

    def test_bad_uri_and_bad_template(self):
        _, r = self.check('{"directory": {"ldap": {"uris": ["http://x"], "base_dn": "dc=x"}}}')
        self.assertIn("directory.ldap.uris: expected ldap://", r.stderr)
        _, r = self.check('{"directory": {"ldap": {"uris": ["ldap://x"], "base_dn": "dc=x",'
                          ' "user_filter": "(mail=%x)"}}}')
        self.assertEqual(r.returncode, EX_CONFIG)
        self.assertIn("directory.ldap.user_filter: unknown placeholder '%x'", r.stderr)
        _, r = self.check('{"directory": {"ldap": {"uris": ["ldap://x"], "base_dn": "dc=x",'
                          ' "auth": {"mode": "dn_template"}}}}')
        self.assertIn("directory.ldap.auth.dn_template: expected a DN template", r.stderr)

    def test_syntax_error_and_missing_file(self):
        path, r = self.check('{"directory": }')
        self.assertEqual(r.returncode, EX_CONFIG)
        self.assertIn(f"{path}: not valid JSON", r.stderr)
        r = posternctl("/nonexistent/p.json", "check-config")
        self.assertEqual(r.returncode, EX_CONFIG)
        self.assertIn("/nonexistent/p.json: cannot open", r.stderr)

    def test_comments_are_allowed(self):
        _, r = self.check('// top\n{"directory": {/* x */ "source": "file",'
                          ' "file": {"path": "/dev/null"}}}')
        self.assertEqual(r.returncode, EX_OK, r.stderr)


class UsageTest(unittest.TestCase):
    def test_usage_errors(self):
        self.assertEqual(posternctl(None, "lookup", "x").returncode, EX_USAGE)
        self.assertEqual(posternctl(None).returncode, EX_USAGE)
        r = posternctl(REPO_ROOT / "conf" / "mapping-file.json", "frobnicate")
        self.assertEqual(r.returncode, EX_USAGE)
        self.assertIn("unknown command", r.stderr)
        r = posternctl(REPO_ROOT / "conf" / "mapping-file.json", "lookup")
        self.assertEqual(r.returncode, EX_USAGE)


if __name__ == "__main__":
    unittest.main()
