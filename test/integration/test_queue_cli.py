"""posternctl queue list|delete|flush on a node's queue folder and its admin
listener: what an operator sees and the exit codes scripts branch on."""

import json
import os
import time
import unittest
import urllib.request

from lib.node import Node
from lib.postern import EX_NOUSER, EX_OK, EX_TEMPFAIL, EX_USAGE, ldap_directory, posternctl
from lib.slapd import Slapd

QUEUE_ID = "06B01EE4FBA8AA7DBE"


def envelope(sender, recipients, attempts=1):
    now = int(time.time())
    return {"v": 1, "sender": sender, "ret": "", "envid": "", "eight_bit": False,
            "smtputf8": False, "client_helo": "", "client_address": "", "auth_user": "",
            "is_bounce": False, "arrival": now, "next_attempt": now + 3600, "attempts": attempts,
            "recipients": [{"address": a, "route": "mx", "node": "", "mailbox": "", "notify": "",
                            "orcpt": "", "state": state, "last_reply": reply, "remote_mta": ""}
                           for a, state, reply in recipients]}


class QueueCommandsTest(unittest.TestCase):
    """Without a running node: the folder alone."""

    def setUp(self):
        # The directory is never asked: queue commands read the node's file only.
        self.node = Node(None, directory=ldap_directory(["ldap://127.0.0.1:1"]))
        self.queue = os.path.join(self.node.dir, "queue")  # default: next to the store

    def tearDown(self):
        self.node.cleanup()

    def queue_message(self, queue_id, env, body=b"Subject: x\r\n\r\nhi\r\n"):
        for sub in ("msg", "env"):
            os.makedirs(os.path.join(self.queue, sub), exist_ok=True)
        with open(os.path.join(self.queue, "msg", queue_id), "wb") as f:
            f.write(body)
        with open(os.path.join(self.queue, "env", queue_id), "w") as f:
            json.dump(env, f)

    def test_empty_queue(self):
        r = posternctl(self.node.config_path, "queue", "list")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertEqual(r.stdout, "queue is empty\n")

    def test_list_then_delete(self):
        self.queue_message(QUEUE_ID, envelope("bob@example.org", [
            ("x@outside.test", "pending", "451 4.4.1 connection refused"),
            ("y@outside.test", "delivered", "250 2.0.0 ok")]))
        r = posternctl(self.node.config_path, "queue", "list")
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(len(lines), 1, r.stdout)
        self.assertTrue(lines[0].startswith(f"{QUEUE_ID} 18 "), lines[0])
        self.assertIn("<bob@example.org>", lines[0])
        self.assertIn('x@outside.test=pending:mx "451 4.4.1 connection refused"', lines[0])
        self.assertIn("y@outside.test=delivered:mx", lines[0])

        r = posternctl(self.node.config_path, "queue", "delete", "../env/" + QUEUE_ID)
        self.assertEqual(r.returncode, EX_USAGE)
        self.assertIn("is not a queue id", r.stderr)
        r = posternctl(self.node.config_path, "queue", "delete", "06B01EE4FBA8AA0000")
        self.assertEqual(r.returncode, EX_NOUSER)
        self.assertIn("no such message", r.stderr)
        r = posternctl(self.node.config_path, "queue", "delete", QUEUE_ID)
        self.assertEqual(r.returncode, EX_OK, r.stderr)
        self.assertEqual(os.listdir(os.path.join(self.queue, "msg")), [])
        self.assertEqual(os.listdir(os.path.join(self.queue, "env")), [])
        r = posternctl(self.node.config_path, "queue", "list")
        self.assertEqual(r.stdout, "queue is empty\n")

    def test_flush_without_a_running_node(self):
        r = posternctl(self.node.config_path, "queue", "flush")
        self.assertEqual(r.returncode, EX_TEMPFAIL)
        self.assertIn("the node is not running", r.stderr)

    def test_usage(self):
        self.assertEqual(posternctl(self.node.config_path, "queue").returncode, EX_USAGE)
        self.assertEqual(posternctl(self.node.config_path, "queue", "delete").returncode, EX_USAGE)
        self.assertEqual(posternctl(self.node.config_path, "queue", "purge").returncode, EX_USAGE)


class QueueFlushTest(unittest.TestCase):
    """With a running node: flush reaches its queue through the admin listener."""

    def test_flush_running_node(self):
        # Node's `with` starts it and waits for its listeners and admin port.
        with Slapd() as ldap, Node(ldap) as node:
            r = posternctl(node.config_path, "queue", "flush")
            self.assertEqual(r.returncode, EX_OK, r.stderr)
            self.assertIn("queue flush requested", r.stdout)
            node.wait_log(r"event=queue_flush")
            # GET does not flush: only the POST action does.
            url = f"http://127.0.0.1:{node.admin_port}/queue/flush"
            with self.assertRaises(urllib.request.HTTPError) as e:
                urllib.request.urlopen(url, timeout=10)
            self.assertEqual(e.exception.code, 405)


if __name__ == "__main__":
    unittest.main()
