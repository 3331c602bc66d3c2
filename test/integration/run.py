#!/usr/bin/env python3
"""Runs the integration tests (test_*.py in this folder) with unittest.

Each test starts what it needs for real: slapd on a free loopback port with our
schema, Postern's processes from build/, real clients. Prints one line per
test and, at the end, "N passed, M failed".

    test/integration/run.py                 every test
    test/integration/run.py test_posternctl_ldap  one module
    test/integration/run.py -k failover     tests whose id contains "failover"
"""
import argparse
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


class LineResult(unittest.TextTestResult):
    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def _line(self, test, word):
        took = time.monotonic() - getattr(self, "_started", time.monotonic())
        self.stream.write(f"{word:5} {test.id()} ({took:.1f}s)\n")
        self.stream.flush()

    def addSuccess(self, test):
        unittest.TestResult.addSuccess(self, test)
        self._line(test, "ok")

    def addFailure(self, test, err):
        unittest.TestResult.addFailure(self, test, err)
        self._line(test, "FAIL")

    def addError(self, test, err):
        unittest.TestResult.addError(self, test, err)
        self._line(test, "ERROR")

    def addSkip(self, test, reason):
        unittest.TestResult.addSkip(self, test, reason)
        self._line(test, "skip")


def filtered(suite, pattern):
    out = unittest.TestSuite()
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            out.addTests(filtered(t, pattern))
        elif pattern is None or pattern in t.id():
            out.addTest(t)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("modules", nargs="*")
    ap.add_argument("-k", dest="pattern")
    ap.add_argument("--summary", help="write 'passed failed' to this file")
    args = ap.parse_args()
    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    if args.modules:
        suite = unittest.TestSuite(loader.loadTestsFromName(m) for m in args.modules)
    else:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    suite = filtered(suite, args.pattern)
    runner = unittest.TextTestRunner(stream=sys.stdout, resultclass=LineResult, verbosity=0)
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    if result.testsRun == 0:
        failed = 1  # a run that ran nothing has not shown anything works
    print(f"{passed} passed, {failed} failed")
    if args.summary:
        with open(args.summary, "w") as f:
            f.write(f"{passed} {failed}\n")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
