"""Generated mail for scripts/bench imap: a source Maildir++ tree that every
server is populated from (Dovecot reads it or imports it, store_fill copies it
into a Postern store), and the messages the APPEND clients send.

Messages are deterministic for a given seed: realistic headers (From, To,
Subject, Date, Message-ID, MIME headers) and ~10 KB text/plain bodies of
pseudo-words. About 1% of bodies hold TEXT_NEEDLE and about 1% of subjects
SUBJECT_NEEDLE, nowhere else, so every server must find the same messages.
Files are written with LF line ends, as Dovecot stores mail, and named with
S=<size>,W=<size with CRLF> as Dovecot's own deliveries are (so RFC822.SIZE
needs no read).
"""

import base64
import os
import random
import time

TEXT_NEEDLE = "zebrafinch"
SUBJECT_NEEDLE = "harbinger"
NEEDLE_PERIOD = 100  # 1 message in 100 carries each needle

_SYLLABLES = ("ka ri to me lan sor vi del pa mon tur bel ga ne sil por cu ra fen do lo "
              "mar tis quel ban cho fi gru hel jo ku ly na ol pe sta un ve wen zor").split()
_FIRST = "Anna Bruno Chloe Dmitri Elena Farid Greta Hiro Ines Jonas Kemal Lucia Mara Nils".split()
_LAST = "Adler Brandt Costa Dumont Eriksen Fischer Garcia Horvat Ivanova Jansen Kowalski".split()
_DOMAINS = ["example.org", "example.net", "mail.example.com", "lists.example.org"]


class Corpus:
    """Word pools and line pools shared by every generated message."""

    def __init__(self, seed=1):
        rng = random.Random(seed)
        words = set()
        while len(words) < 6000:
            words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
        # IMAP SEARCH matches substrings: no pool word may contain a needle.
        self.words = sorted(w for w in words if TEXT_NEEDLE not in w and SUBJECT_NEEDLE not in w)
        self.lines = []
        for _ in range(5000):
            line, n = [], 0
            while n < 66:
                w = rng.choice(self.words)
                line.append(w)
                n += len(w) + 1
            self.lines.append(" ".join(line).capitalize() + ("." if rng.random() < 0.3 else ""))
        self.rng = rng

    def message(self, i, rng, body_bytes=9600, date=None):
        """Message number i as LF-terminated bytes (headers ~400 bytes + body)."""
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        domain = rng.choice(_DOMAINS)
        subject = " ".join(rng.choice(self.words) for _ in range(rng.randint(3, 8))).capitalize()
        if i % NEEDLE_PERIOD == 13:
            subject += " " + SUBJECT_NEEDLE
        date = date if date is not None else 1_700_000_000 + i * 97
        lines = []
        size = 0
        while size < body_bytes:
            line = rng.choice(self.lines)
            lines.append(line)
            size += len(line) + 1
        if i % NEEDLE_PERIOD == 7:
            at = rng.randrange(len(lines))
            lines[at] = lines[at] + " " + TEXT_NEEDLE
        head = (
            f"Return-Path: <{first.lower()}.{last.lower()}@{domain}>\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(date))}\n"
            f'From: "{first} {last}" <{first.lower()}.{last.lower()}@{domain}>\n'
            f'To: "Bench User" <bench@example.com>\n'
            f"Subject: {subject}\n"
            f"Message-ID: <{i}.{rng.getrandbits(48):012x}@{domain}>\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 7bit\n"
            "\n"
        )
        return (head + "\n".join(lines) + "\n").encode()


def big_message(total_bytes, seed=3):
    """A multipart/mixed message of about total_bytes (with CRLF): a short text
    part and a base64 attachment of random bytes. LF line ends."""
    rng = random.Random(seed)
    payload = rng.randbytes(int(total_bytes * 0.74))
    b64 = base64.encodebytes(payload)  # 76-column lines, LF
    head = (
        "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
        'From: "Greta Horvat" <greta.horvat@example.org>\n'
        'To: "Bench User" <bench@example.com>\n'
        "Subject: The big attachment\n"
        "Message-ID: <big.1@example.org>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="=-bench-boundary"\n'
        "\n"
        "--=-bench-boundary\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "The archive is attached.\n"
        "--=-bench-boundary\n"
        'Content-Type: application/octet-stream; name="archive.bin"\n'
        'Content-Disposition: attachment; filename="archive.bin"\n'
        "Content-Transfer-Encoding: base64\n"
        "\n"
    ).encode()
    return head + b64 + b"--=-bench-boundary--\n"


def _maildir_name(n, data, flags=""):
    crlf = len(data) + data.count(b"\n")
    return f"{1_700_000_000 + n}.M{n}P1.bench,S={len(data)},W={crlf}:2,{flags}"


def _folder(root, name):
    path = root if name == "INBOX" else os.path.join(root, "." + name)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    return os.path.join(path, "cur")


def write_source(root, inbox, search, big_bytes, seed=1):
    """The source Maildir++ tree: INBOX with `inbox` messages, Search with the
    first `search` of them (hard links), Big with one message of big_bytes.
    Returns {folder: message count}."""
    corpus = Corpus(seed)
    rng = random.Random(seed + 1)
    cur = _folder(root, "INBOX")
    search_cur = _folder(root, "Search")
    for i in range(inbox):
        date = 1_700_000_000 + i * 97
        data = corpus.message(i, rng, date=date)
        path = os.path.join(cur, _maildir_name(i, data))
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (date, date))
        if i < search:
            os.link(path, os.path.join(search_cur, os.path.basename(path)))
    data = big_message(big_bytes)
    with open(os.path.join(_folder(root, "Big"), _maildir_name(0, data)), "wb") as f:
        f.write(data)
    return {"INBOX": inbox, "Search": search, "Big": 1}


def expected_hits(count):
    """(TEXT hits, SUBJECT hits) among the first `count` generated messages."""
    text = sum(1 for i in range(count) if i % NEEDLE_PERIOD == 7)
    subject = sum(1 for i in range(count) if i % NEEDLE_PERIOD == 13)
    return text, subject


def append_messages(count, seed=2):
    """`count` CRLF messages of ~10 KB for the APPEND clients."""
    corpus = Corpus(seed)
    rng = random.Random(seed + 1)
    return [corpus.message(1_000_000 + i, rng).replace(b"\n", b"\r\n") for i in range(count)]
