"""The node's resolver and SPF, through `posternctl dns` and `posternctl spf`,
against a real dnsmasq on a loopback port (lib/dnsmasq.py)."""

import re
import subprocess
import time
import unittest

from lib.dnsmasq import Dnsmasq, SilentDns
from lib.node import Node
from lib.postern import (EX_NOUSER, EX_OK, EX_TEMPFAIL, POSTERNCTL, ldap_directory,
                         posternctl)

RECORDS = {
    "example.test": {"mx": [(20, "mx2.example.test"), (10, "mx1.example.test")],
                     "txt": ["hello world", "v=spf1 -all"], "a": ["127.0.0.10"]},
    "mx1.example.test": {"a": ["127.0.0.11"], "aaaa": ["::11"]},
    "mx2.example.test": {"a": ["127.0.0.12"]},
    "long.example.test": {"txt": ["x" * 300 + " end"]},
}


def node_config(test, dns):
    """The path of a node's file whose "dns" object is `dns` (not started)."""
    node = Node(None, listeners=("imap",), directory=ldap_directory(["ldap://127.0.0.1:9"]),
                extra={"dns": dns})
    test.addCleanup(node.cleanup)
    return node.config_path


def dns(conf, *args, timeout=60):
    return posternctl(conf, "dns", *args, timeout=timeout)


class DnsQueries(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Dnsmasq(RECORDS).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def setUp(self):
        self.conf = node_config(self, self.server.config())

    def test_mx_sorted_by_preference(self):
        r = dns(self.conf, "mx", "example.test")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertEqual(r.stdout.splitlines(), ["10 mx1.example.test", "20 mx2.example.test"])

    def test_a_and_aaaa(self):
        r = dns(self.conf, "a", "MX1.Example.Test.")
        self.assertEqual((r.returncode, r.stdout), (EX_OK, "127.0.0.11\n"), r.stderr)
        r = dns(self.conf, "aaaa", "mx1.example.test")
        self.assertEqual((r.returncode, r.stdout), (EX_OK, "::11\n"), r.stderr)

    def test_txt_records_and_long_strings_joined(self):
        r = dns(self.conf, "txt", "example.test")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertEqual(sorted(r.stdout.splitlines()), ["hello world", "v=spf1 -all"])
        r = dns(self.conf, "txt", "long.example.test")
        self.assertEqual(r.stdout, "x" * 300 + " end\n")  # two character-strings, one record

    def test_nxdomain_and_nodata_exit_67(self):
        r = dns(self.conf, "a", "nothing.example.test")
        self.assertEqual(r.returncode, EX_NOUSER)
        self.assertIn("nxdomain", r.stderr)
        self.assertEqual(r.stdout, "")
        r = dns(self.conf, "mx", "mx2.example.test")  # the name exists, without MX
        self.assertEqual(r.returncode, EX_NOUSER)
        self.assertIn("nodata", r.stderr)

    def test_refused_is_temporary(self):
        r = dns(self.conf, "a", "elsewhere.invalid")  # not dnsmasq's: REFUSED
        self.assertEqual(r.returncode, EX_TEMPFAIL)
        self.assertIn("tempfail", r.stderr)

    def test_bad_arguments(self):
        self.assertEqual(dns(self.conf, "soa", "example.test").returncode, 64)
        self.assertEqual(dns(self.conf, "a", "bad..name").returncode, 64)
        self.assertEqual(dns(self.conf, "mx").returncode, 64)


class DnsNameservers(unittest.TestCase):
    def test_dead_first_nameserver_answers_through_the_next_after_timeout(self):
        with SilentDns() as dead, Dnsmasq(RECORDS) as good:
            conf = node_config(self, {
                "nameservers": [{"address": f"127.0.0.1:{good.port}", "priority": 1},
                                {"address": f"127.0.0.1:{dead.port}", "priority": 5}],
                "timeout": 1, "retries": 0})
            start = time.monotonic()
            r = dns(conf, "a", "mx2.example.test")
            took = time.monotonic() - start
            self.assertEqual((r.returncode, r.stdout), (EX_OK, "127.0.0.12\n"), r.stderr)
            self.assertGreaterEqual(took, 0.9)  # the dead one, asked first, cost its timeout

    def test_higher_priority_is_asked_first(self):
        with Dnsmasq({"who.test": {"txt": ["first"]}}) as first, \
                Dnsmasq({"who.test": {"txt": ["second"]}}) as second:
            def ask(p_first, p_second):
                conf = node_config(self, {"nameservers": [
                    {"address": f"127.0.0.1:{first.port}", "priority": p_first},
                    {"address": f"127.0.0.1:{second.port}", "priority": p_second}]})
                r = dns(conf, "txt", "who.test")
                self.assertEqual(r.returncode, EX_OK, r.stderr)
                return r.stdout.strip()
            self.assertEqual(ask(10, 20), "second")
            self.assertEqual(ask(20, 10), "first")
            self.assertEqual(ask(0, 0), "first")  # equal: the order of the file

    def test_server_down_then_up_on_the_same_port(self):
        with Dnsmasq(RECORDS) as server:
            conf = node_config(self, server.config(timeout=0.5, retries=0))
            server.stop()
            self.assertEqual(dns(conf, "a", "mx2.example.test").returncode, EX_TEMPFAIL)
            server.start()
            r = dns(conf, "a", "mx2.example.test")
            self.assertEqual((r.returncode, r.stdout), (EX_OK, "127.0.0.12\n"), r.stderr)
            server.set_records({"mx2.example.test": {"a": ["127.0.0.99"]}})
            self.assertEqual(dns(conf, "a", "mx2.example.test").stdout, "127.0.0.99\n")


class DnsCache(unittest.TestCase):
    def ask_twice_stopping_server_between(self, server, conf):
        """`dns --repeat 2 --pause 2 mx example.test` with the server stopped
        after the first answer; returns (exit code, stdout, stderr)."""
        proc = subprocess.Popen([str(POSTERNCTL), "-c", conf, "dns", "--repeat", "2",
                                 "--pause", "2", "mx", "example.test"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines = [proc.stdout.readline() for _ in range(3)]  # header + two MX
        server.stop()
        out, err = proc.communicate(timeout=60)
        return proc.returncode, "".join(lines) + out, err

    def test_second_answer_comes_from_the_cache(self):
        with Dnsmasq(RECORDS) as server:
            conf = node_config(self, server.config(timeout=0.5, retries=0))
            code, out, err = self.ask_twice_stopping_server_between(server, conf)
            self.assertEqual(code, EX_OK, err)
            self.assertEqual(out.splitlines(), [
                ";; answer 1: from nameserver", "10 mx1.example.test", "20 mx2.example.test",
                ";; answer 2: from cache", "10 mx1.example.test", "20 mx2.example.test"])

    def test_without_cache_the_second_query_fails(self):
        with Dnsmasq(RECORDS) as server:
            conf = node_config(self, server.config(timeout=0.5, retries=0, cache_size=0))
            code, out, err = self.ask_twice_stopping_server_between(server, conf)
            self.assertEqual(code, EX_TEMPFAIL)
            self.assertIn(";; answer 2: from nameserver", out)
            self.assertIn("tempfail", err)

    def test_expired_ttl_asks_again(self):
        with Dnsmasq(RECORDS, ttl=1) as server:
            conf = node_config(self, server.config())
            r = dns(conf, "--repeat", "2", "--pause", "1.5", "a", "mx2.example.test")
            self.assertEqual(r.returncode, EX_OK, r.stderr)
            self.assertIn(";; answer 2: from nameserver", r.stdout)

    def test_negative_answers_are_cached(self):
        with Dnsmasq(RECORDS) as server:
            conf = node_config(self, server.config())
            r = dns(conf, "--repeat", "2", "a", "nothing.example.test")
            self.assertEqual(r.returncode, EX_NOUSER)
            self.assertIn(";; answer 2: from cache", r.stdout)


SPF_RECORDS = {
    "pass.test": {"txt": ["v=spf1 ip4:127.0.0.1 -all"]},
    "soft.test": {"txt": ["v=spf1 ip4:10.0.0.0/8 ~all"]},
    "neutral.test": {"txt": ["v=spf1 ?all"]},
    "none.test": {"a": ["127.0.0.1"], "txt": ["not spf"]},
    "inc.test": {"txt": ["v=spf1 include:pass.test -all"]},
    "redir.test": {"txt": ["v=spf1 redirect=soft.test"]},
    "loop.test": {"txt": ["v=spf1 include:loop.test -all"]},
    "many.test": {"txt": ["v=spf1 " + " ".join(f"a:h{i}.many.test" for i in range(11)) + " -all"]},
    "void.test": {"txt": ["v=spf1 a:x1.void.test a:x2.void.test a:x3.void.test ~all"]},
    "twice.test": {"txt": ["v=spf1 -all", "v=spf1 +all"]},
    "bad.test": {"txt": ["v=spf1 ip4:300.1.1.1 -all"]},
    "mx.test": {"txt": ["v=spf1 mx -all"], "mx": [(10, "mail.mx.test")]},
    "mail.mx.test": {"a": ["127.0.0.7"]},
    "a.test": {"txt": ["v=spf1 a/24 -all"], "a": ["127.0.1.1"]},
    "exists.test": {"txt": ["v=spf1 exists:%{ir}.bl.exists.test -all"]},
    "1.0.0.127.bl.exists.test": {"a": ["127.0.0.2"]},
    "exp.test": {"txt": ["v=spf1 -all exp=why.exp.test"]},
    "why.exp.test": {"txt": ["%{i} is not one of %{d}'s mail servers"]},
    "ptr.test": {"txt": ["v=spf1 ptr -all"]},
    "host.ptr.test": {"a": ["127.0.0.5"]},
}
SPF_RECORDS.update({f"h{i}.many.test": {"a": ["127.0.0.200"]} for i in range(11)})


def spf_result(header):
    m = re.match(r"Received-SPF: (\w+) ", header)
    return m.group(1) if m else None


class Spf(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Dnsmasq(SPF_RECORDS, ptr={"127.0.0.5": ["host.ptr.test"]}).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def setUp(self):
        self.conf = node_config(self, self.server.config())

    def spf(self, ip, sender, helo=None):
        args = ["spf", ip, sender] + ([helo] if helo is not None else [])
        r = posternctl(self.conf, *args)
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        header = r.stdout.rstrip("\n").replace("\n ", " ")  # unfolded
        return spf_result(header), header, r.stderr

    def assertSpf(self, ip, sender, expected, helo=None):
        result, header, err = self.spf(ip, sender, helo)
        self.assertEqual(result, expected, header + "\n" + err)
        return header, err

    def test_pass_and_fail(self):
        header, _ = self.assertSpf("127.0.0.1", "bob@pass.test", "pass", helo="mx.pass.test")
        self.assertIn("client-ip=127.0.0.1;", header)
        self.assertIn('envelope-from="bob@pass.test";', header)
        self.assertIn("helo=mx.pass.test;", header)
        self.assertIn('mechanism="ip4:127.0.0.1";', header)
        header, err = self.assertSpf("127.0.0.9", "bob@pass.test", "fail")
        self.assertIn("does not designate 127.0.0.9", header)
        self.assertIn('mechanism="-all";', header)

    def test_softfail_neutral_none(self):
        self.assertSpf("127.0.0.1", "bob@soft.test", "softfail")
        self.assertSpf("10.1.2.3", "bob@soft.test", "pass")
        self.assertSpf("127.0.0.1", "bob@neutral.test", "neutral")
        self.assertSpf("127.0.0.1", "bob@none.test", "none")
        self.assertSpf("127.0.0.1", "bob@nowhere.none.test", "none")  # NXDOMAIN

    def test_include_and_redirect(self):
        self.assertSpf("127.0.0.1", "bob@inc.test", "pass")
        self.assertSpf("127.0.0.9", "bob@inc.test", "fail")
        self.assertSpf("127.0.0.9", "bob@redir.test", "softfail")
        self.assertSpf("10.0.0.1", "bob@redir.test", "pass")

    def test_a_mx_exists_ptr(self):
        self.assertSpf("127.0.0.7", "bob@mx.test", "pass")
        self.assertSpf("127.0.0.8", "bob@mx.test", "fail")
        self.assertSpf("127.0.1.200", "bob@a.test", "pass")  # a/24
        self.assertSpf("127.0.2.1", "bob@a.test", "fail")
        self.assertSpf("127.0.0.1", "bob@exists.test", "pass")  # 1.0.0.127.bl.exists.test
        self.assertSpf("127.0.0.3", "bob@exists.test", "fail")
        self.assertSpf("127.0.0.5", "bob@ptr.test", "pass")  # PTR host.ptr.test, A back
        self.assertSpf("127.0.0.6", "bob@ptr.test", "fail")

    def test_permerrors(self):
        header, err = self.assertSpf("127.0.0.1", "bob@loop.test", "permerror")
        self.assertIn("more than 10", header)
        self.assertSpf("127.0.0.1", "bob@many.test", "permerror")  # 11 DNS terms
        _, err = self.assertSpf("127.0.0.1", "bob@void.test", "permerror")
        self.assertIn("void", err)
        self.assertSpf("127.0.0.1", "bob@twice.test", "permerror")
        self.assertSpf("127.0.0.1", "bob@bad.test", "permerror")

    def test_explanation_of_a_fail(self):
        _, err = self.assertSpf("127.0.0.9", "bob@exp.test", "fail")
        self.assertIn("explanation: 127.0.0.9 is not one of exp.test's mail servers", err)

    def test_null_sender_checks_helo(self):
        header, _ = self.assertSpf("127.0.0.1", "", "pass", helo="pass.test")
        self.assertIn("identity=helo;", header)
        self.assertIn("postmaster@pass.test", header)


class SpfTempError(unittest.TestCase):
    def test_dns_down_is_temperror(self):
        with Dnsmasq(SPF_RECORDS) as server:
            conf = node_config(self, server.config(timeout=0.5, retries=0))
            server.stop()
            r = posternctl(conf, "spf", "127.0.0.1", "bob@pass.test")
            self.assertEqual(r.returncode, EX_OK, r.stderr)
            self.assertEqual(spf_result(r.stdout), "temperror", r.stdout)


if __name__ == "__main__":
    unittest.main()
