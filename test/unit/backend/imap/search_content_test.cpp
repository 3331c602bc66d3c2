// Content keys over real message files in a temporary store, with the MIME
// structure cached in the meta (as delivery writes it) and without (the
// evaluator parses the file then).
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "backend/imap/imap_date.hpp"
#include "backend/imap/search_eval.hpp"
#include "backend/mime/message_parser.hpp"
#include "backend/mime/structure_codec.hpp"
#include "core/imap_parser.hpp"
#include "test/unit/backend/store/store_test_support.hpp"
#include "test/unit/test_text.hpp"

using namespace postern::node::imap;
using namespace postern::node;
using postern::core::imap::ImapParser;
using postern::core::imap::Status;
using Seqs = std::vector<std::uint32_t>;

namespace {

// The test texts use "\n"; message files are CRLF.
using postern::test::crlf;

const std::string kEncodedSubject = crlf(
    "From: =?iso-8859-1?q?J=F6rg_M=FCller?= <jorg@example.com>\n"
    "To: bob@example.com\n"
    "Subject: =?utf-8?q?Caf=C3=A9_cr=C3=A8me_?= =?utf-8?b?YnLDu2zDqWU=?=\n"
    "Date: Mon, 1 Jan 2024 23:30:00 -0500\n"
    "\n"
    "Plain body.\n");

const std::string kBase64 = crlf(
    "From: alice@example.com\n"
    "Subject: encoded\n"
    "X-Priority: 1\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    // "The secret word is pineapple.\r\n"
    "VGhlIHNlY3JldCB3b3JkIGlz\n"
    "IHBpbmVhcHBsZS4NCg==\n");

const std::string kQuotedPrintable = crlf(
    "From: carol@example.com\n"
    "Subject: qp\n"
    "Date: 15 Mar 2024 01:00 +0200\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "Soft=\n"
    " line br=C3=A9ak, sum=3D4\n");

const std::string kLatin1 = crlf(
    "From: dave@example.com\n"
    "Subject: latin\n"
    "Content-Type: text/plain; charset=ISO-8859-1\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    "Gr\xfc\xdf"
    "e aus M\xfcnchen\n");

const std::string kMultipart = crlf(
    "From: erin@example.com\n"
    "To: x@example.com\n"
    "To: second@example.com\n"
    "Subject: folded\n"
    " subject line\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\n"
    "\n"
    "preamble mentions walrus\n"
    "--b1\n"
    "Content-Type: text/html; charset=utf-8\n"
    "\n"
    "<p>Hello <b>world</b></p>\n"
    "--b1\n"
    "Content-Type: application/octet-stream\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "emVicmEgemVicmEgemVicmE=\n"  // "zebra zebra zebra"
    "--b1\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "Subject: Inner subject\n"
    "From: inner@example.com\n"
    "\n"
    "Inner body text\n"
    "--b1--\n");

const std::string kAddresses = crlf(
    "From: \"Smith, John\" <john@example.net> (work)\n"
    "To: team: a@example.org, \"B\" <b@example.org>;, c@example.org (Carol C)\n"
    "Cc: undisclosed-recipients:;\n"
    "Bcc: =?utf-8?q?Z=C3=B6e?= <zoe@example.org>\n"
    "Subject: addresses\n"
    "\n"
    "body\n");

struct Fixture {
  store::test::StoreFixture files;
  store::Store store{files.root()};
  std::shared_ptr<store::AccountStore> account = store.account("user@example.com").value();
  store::MailboxId inbox = store::test::mailbox_id(*account, "INBOX");

  // With `padded`, a 20 KB header field makes the message big enough that
  // the search takes the structure from the meta rather than parsing it.
  void add(std::string bytes, bool with_meta, std::int64_t date = 1700000000, std::int16_t zone = 0,
           bool padded = false) {
    if (padded) bytes = "X-Pad: " + std::string(20000, 'p') + "\r\n" + bytes;
    store::NewMessage m = files.message(bytes);
    m.internal_date = store::InternalDate{date, zone};
    if (with_meta) m.meta.structure = mime::serialize(mime::parse_message(bytes));
    REQUIRE(account->append(inbox, m).has_value());
  }

  Seqs search(const std::string& text) {
    ImapParser parser;
    auto r = parser.feed("t SEARCH " + text + "\r\n");
    REQUIRE(r.status == Status::Command);
    auto program = parse_search(r.command.args);
    REQUIRE(program.has_value());
    auto list = account->list(inbox).value();
    auto source = store_content_source(*account, inbox);
    SearchMailbox view{list.messages, list.keyword_names, {}};
    auto found = run_search(*program, view, source.get());
    REQUIRE(found.has_value());
    Seqs seqs;
    for (std::uint32_t i : *found) seqs.push_back(i + 1);
    return seqs;
  }
};

}  // namespace

TEST_CASE("search content: header and body keys over stored messages") {
  for (int variant = 0; variant < 4; ++variant) {
    const bool with_meta = (variant & 1) != 0;
    const bool padded = (variant & 2) != 0;
    CAPTURE(with_meta);
    CAPTURE(padded);
    Fixture f;
    for (const std::string* m :
         {&kEncodedSubject, &kBase64, &kQuotedPrintable, &kLatin1, &kMultipart}) {
      f.add(*m, with_meta, 1700000000, 0, padded);
    }

    SUBCASE("encoded words are decoded, case folded beyond ASCII") {
      CHECK(f.search("SUBJECT \"caf\xc3\xa9\"") == Seqs{1});
      CHECK(f.search("SUBJECT {5+}\r\nCAF\xc3\x89") == Seqs{1});
      CHECK(f.search("CHARSET UTF-8 SUBJECT \"cr\xc3\x88me br\xc3\xbbl\"") == Seqs{1});
      CHECK(f.search("SUBJECT =?utf-8") == Seqs{});
      CHECK(f.search("FROM \"j\xc3\xb6rg m\xc3\xbcller\"") == Seqs{1});
      CHECK(f.search("FROM JORG@EXAMPLE") == Seqs{1});
    }
    SUBCASE("address and other header keys") {
      CHECK(f.search("FROM example.com") == Seqs{1, 2, 3, 4, 5});
      CHECK(f.search("TO bob") == Seqs{1});
      // TO searches the envelope's To: the first field; HEADER any of them.
      CHECK(f.search("TO x@example.com") == Seqs{5});
      CHECK(f.search("TO second") == Seqs{});
      CHECK(f.search("HEADER To second") == Seqs{5});
      CHECK(f.search("CC example") == Seqs{});
      CHECK(f.search("BCC example") == Seqs{});
      CHECK(f.search("SUBJECT \"folded subject line\"") == Seqs{5});
      CHECK(f.search("SUBJECT inner") == Seqs{});  // the encapsulated header is body
      CHECK(f.search("HEADER x-priority 1") == Seqs{2});
      CHECK(f.search("HEADER X-Priority \"\"") == Seqs{2});
      CHECK(f.search("HEADER Content-Type \"\"") == Seqs{2, 3, 4, 5});
      CHECK(f.search("HEADER X-Missing \"\"") == Seqs{});
    }
    SUBCASE("bodies are decoded from base64, quoted-printable and their charset") {
      CHECK(f.search("BODY PINEAPPLE") == Seqs{2});
      CHECK(f.search("BODY \"soft line\"") == Seqs{3});
      CHECK(f.search("BODY \"sum=4\"") == Seqs{3});
      CHECK(f.search("BODY {6+}\r\nBR\xc3\x89"
                     "AK") == Seqs{3});
      CHECK(f.search("BODY \"gr\xc3\xbc\xc3\x9f"
                     "e\"") == Seqs{4});
      CHECK(f.search("BODY \"M\xc3\x9cNCHEN\"") == Seqs{4});
      CHECK(f.search("BODY \"plain body\"") == Seqs{1});
      CHECK(f.search("BODY encoded") == Seqs{});  // a header, not the body
    }
    SUBCASE("multipart: text parts and encapsulated messages, not binary parts") {
      CHECK(f.search("BODY world") == Seqs{5});
      CHECK(f.search("BODY \"inner subject\"") == Seqs{5});
      CHECK(f.search("BODY \"inner body\"") == Seqs{5});
      CHECK(f.search("BODY zebra") == Seqs{});
      CHECK(f.search("TEXT zebra") == Seqs{});
      CHECK(f.search("BODY walrus") == Seqs{});
    }
    SUBCASE("TEXT searches the decoded header and the body") {
      CHECK(f.search("TEXT pineapple") == Seqs{2});
      CHECK(f.search("TEXT \"carol@\"") == Seqs{3});
      CHECK(f.search("TEXT \"subject: qp\"") == Seqs{3});
      CHECK(f.search("TEXT x-priority") == Seqs{2});
      CHECK(f.search("TEXT \"caf\xc3\xa9\"") == Seqs{1});
      CHECK(f.search("TEXT \"\"") == Seqs{1, 2, 3, 4, 5});
      CHECK(f.search("OR TEXT \"m\xc3\xbcnchen\" BODY pineapple") == Seqs{2, 4});
      CHECK(f.search("NOT TEXT example") == Seqs{});
    }
  }
}

TEST_CASE("search content: address keys match the addresses written out") {
  for (int variant = 0; variant < 4; ++variant) {
    const bool with_meta = (variant & 1) != 0;
    const bool padded = (variant & 2) != 0;
    CAPTURE(with_meta);
    CAPTURE(padded);
    Fixture f;
    f.add(kAddresses, with_meta, 1700000000, 0, padded);
    f.add(kBase64, with_meta, 1700000000, 0, padded);
    // Name and address, together as `name <mailbox@host>`.
    CHECK(f.search("FROM \"smith, john\"") == Seqs{1});
    CHECK(f.search("FROM \"smith, john <john@example.net>\"") == Seqs{1});
    CHECK(f.search("FROM <alice@example.com>") == Seqs{2});
    // Quoting and a comment beside a display name are not text.
    CHECK(f.search("FROM \"\\\"smith\"") == Seqs{});
    CHECK(f.search("FROM work") == Seqs{});
    CHECK(f.search("HEADER From work") == Seqs{1});
    // Groups; a comment without a display name stands for the name.
    CHECK(f.search("TO \"team: <a@example.org>, b <b@example.org>;\"") == Seqs{1});
    CHECK(f.search("TO \"carol c <c@example.org>\"") == Seqs{1});
    CHECK(f.search("CC \"undisclosed-recipients:\"") == Seqs{1});
    CHECK(f.search("CC \"\"") == Seqs{1});
    CHECK(f.search("TO \"\"") == Seqs{1});
    CHECK(f.search("FROM \"\"") == Seqs{1, 2});
    CHECK(f.search("SUBJECT \"\"") == Seqs{1, 2});
    // Encoded words in a name are decoded.
    CHECK(f.search("BCC {10+}\r\nZ\xc3\xb6"
                   "e <zoe@") == Seqs{1});
    CHECK(f.search("BCC =?utf-8") == Seqs{});
  }
}

TEST_CASE("search content: with a cached structure, envelope keys read no message file") {
  Fixture f;
  f.add(kEncodedSubject, true);
  f.add(kAddresses, true);
  auto list = f.account->list(f.inbox).value();
  // Remove every message file: a search that needed one would fail.
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(f.files.root())) {
    if (e.is_regular_file() && e.path().parent_path().parent_path().filename() == "msg") {
      files.push_back(e.path());
    }
  }
  REQUIRE(files.size() == 2);
  for (const auto& p : files) std::filesystem::remove(p);
  CHECK(f.search("SUBJECT \"caf\xc3\xa9\"") == Seqs{1});
  CHECK(f.search("FROM example") == Seqs{1, 2});
  CHECK(f.search("OR TO bob CC undisclosed") == Seqs{1, 2});
  CHECK(f.search("SENTON 1-Jan-2024") == Seqs{1});
  CHECK(f.search("NOT SUBJECT nothing") == Seqs{1, 2});

  ImapParser parser;  // HEADER reads the file
  auto r = parser.feed("t SEARCH HEADER Subject addresses\r\n");
  auto program = parse_search(r.command.args).value();
  auto source = store_content_source(*f.account, f.inbox);
  SearchMailbox view{list.messages, list.keyword_names, {}};
  auto found = run_search(program, view, source.get());
  CHECK((!found.has_value() || found->empty()));
}

TEST_CASE("search content: SENT* use the Date: header's own day, else the internal date") {
  for (bool with_meta : {true, false}) {
    CAPTURE(with_meta);
    Fixture f;
    const std::int64_t jan5 = days_from_civil(2024, 1, 5) * 86400;
    // Date: Mon, 1 Jan 2024 23:30 -0500 (2 Jan in UTC): sent 1 Jan.
    f.add(kEncodedSubject, with_meta, jan5);
    // Date: 15 Mar 2024 01:00 +0200 (14 Mar in UTC): sent 15 Mar.
    f.add(kQuotedPrintable, with_meta, jan5);
    // No Date: the internal date, 5 Jan 23:00 -02:00 = 6 Jan 01:00 UTC: 5 Jan.
    f.add(kLatin1, with_meta, jan5 + 25 * 3600, -120);
    // An unparseable Date: the internal date too.
    f.add(crlf("Date: sometime soon\nSubject: x\n\nbody\n"), with_meta, jan5 + 3600, 0);

    CHECK(f.search("SENTON 1-Jan-2024") == Seqs{1});
    CHECK(f.search("SENTON 2-Jan-2024") == Seqs{});
    CHECK(f.search("SENTON 15-Mar-2024") == Seqs{2});
    CHECK(f.search("SENTON 5-Jan-2024") == Seqs{3, 4});
    CHECK(f.search("SENTBEFORE 5-Jan-2024") == Seqs{1});
    CHECK(f.search("SENTSINCE 5-Jan-2024") == Seqs{2, 3, 4});
    CHECK(f.search("SENTSINCE 2-Jan-2024 SENTBEFORE 15-Mar-2024") == Seqs{3, 4});
    CHECK(f.search("ON 5-Jan-2024") == Seqs{1, 2, 3, 4});
  }
}

TEST_CASE("search content: large messages are read by ranges") {
  Fixture f;
  std::string attachment;
  for (int i = 0; i < 30000; ++i) attachment += "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n";
  const std::string big = crlf(
                              "From: big@example.com\n"
                              "X-Long: ") +
                          std::string(100000, 'x') + " needle-in-header\r\n" +
                          crlf(
                              "Subject: big one\n"
                              "Content-Type: multipart/mixed; boundary=zz\n"
                              "\n"
                              "--zz\n"
                              "Content-Type: application/octet-stream\n"
                              "Content-Transfer-Encoding: base64\n"
                              "\n") +
                          attachment +
                          crlf(
                              "--zz\n"
                              "Content-Type: text/plain\n"
                              "\n"
                              "the last words\n"
                              "--zz--\n");
  REQUIRE(big.size() > 1024 * 1024);
  f.add(big, true);
  f.add(big, false);
  f.add(kBase64, true);
  CHECK(f.search("BODY \"last words\"") == Seqs{1, 2});
  CHECK(f.search("SUBJECT \"big one\"") == Seqs{1, 2});
  CHECK(f.search("HEADER X-Long needle-in-header") == Seqs{1, 2});
  CHECK(f.search("TEXT needle-in-header") == Seqs{1, 2});
  CHECK(f.search("BODY ABCDEF") == Seqs{});
  CHECK(f.search("BODY pineapple") == Seqs{3});
}

TEST_CASE("search content: a message expunged after the list does not match") {
  Fixture f;
  f.add(kBase64, true);
  f.add(kQuotedPrintable, true);
  f.add(kLatin1, true);
  auto list = f.account->list(f.inbox).value();
  store::UidSet second{{list.messages[1].uid, list.messages[1].uid}};
  REQUIRE(f.account->store_flags(f.inbox, second, store::FlagMode::Add, store::kFlagDeleted, {})
              .has_value());
  REQUIRE(f.account->expunge(f.inbox).has_value());

  ImapParser parser;
  auto r = parser.feed("t SEARCH FROM example\r\n");
  auto program = parse_search(r.command.args).value();
  auto source = store_content_source(*f.account, f.inbox);
  SearchMailbox stale{list.messages, list.keyword_names, {}};
  auto found = run_search(program, stale, source.get());
  REQUIRE(found.has_value());
  CHECK(*found == std::vector<std::uint32_t>{0, 2});
}

namespace {

// About 10 KB: a realistic header, then one of three body shapes.
std::string bench_message(int i) {
  std::string header;
  for (int r = 0; r < 4; ++r) {
    header += "Received: from mx" + std::to_string(r) +
              ".example.net (mx.example.net [192.0.2.1]) by mail.example.com with ESMTPS id "
              "abc" +
              std::to_string(i) + "; Tue, 2 Jan 2024 10:00:00 +0000\r\n";
  }
  header += "From: Sender " + std::to_string(i) + " <sender" + std::to_string(i) +
            "@example.org>\r\nTo: user@example.com\r\nSubject: =?utf-8?q?Report_n=C2=B0" +
            std::to_string(i) + "?=\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\nMessage-ID: <" +
            std::to_string(i) + "@example.org>\r\nMIME-Version: 1.0\r\n";
  std::string paragraph;
  while (paragraph.size() < 4500) {
    paragraph +=
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
        "tempor incididunt ut labore et dolore magna aliqua.\r\n";
  }
  switch (i % 3) {
    case 0:
      return header + "Content-Type: text/plain; charset=us-ascii\r\n\r\n" + paragraph + paragraph;
    case 1:
      return header +
             "Content-Type: multipart/alternative; boundary=alt\r\n\r\n--alt\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
             paragraph +
             "\r\n--alt\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
             "Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>" +
             paragraph + "</p>\r\n--alt--\r\n";
    default: {
      std::string encoded;
      for (int k = 0; k < 130; ++k) {
        encoded += "TG9yZW0gaXBzdW0gZG9sb3Igc2l0IGFtZXQsIGNvbnNlY3RldHVyIGFkaXBpc2Np\r\n";
      }
      return header +
             "Content-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: base64\r\n\r\n" +
             encoded;
    }
  }
}

}  // namespace

// Run with: unit_tests -tc='search bench*' --no-skip
TEST_CASE("search bench: TEXT over 10,000 messages of 10 KB" * doctest::skip()) {
  Fixture f;
  std::vector<store::NewMessage> batch;
  for (int i = 0; i < 10000; ++i) {
    const std::string bytes = bench_message(i);
    store::NewMessage m = f.files.message(bytes);
    m.meta.structure = mime::serialize(mime::parse_message(bytes));
    batch.push_back(std::move(m));
    if (batch.size() == 500) {
      REQUIRE(f.account->append_batch(f.inbox, batch).has_value());
      batch.clear();
    }
  }
  auto list = f.account->list(f.inbox).value();
  SearchMailbox view{list.messages, list.keyword_names, {}};
  for (int round = 0; round < 2; ++round) {  // what envelope keys cost at least
    auto start = std::chrono::steady_clock::now();
    auto metas = f.account->list_meta(f.inbox).value();
    auto loaded = std::chrono::steady_clock::now();
    std::size_t parsed = 0;
    for (const auto& m : metas) parsed += mime::deserialize(m.second.structure).has_value();
    auto done = std::chrono::steady_clock::now();
    using ms = std::chrono::duration<double, std::milli>;
    MESSAGE("list_meta: " << metas.size() << " rows, " << ms(loaded - start).count()
                          << " ms; deserialize: " << parsed << ", " << ms(done - loaded).count()
                          << " ms");
  }
  const char* searches[] = {"TEXT nothing-like-this", "BODY \"magna aliqua\"",
                            "SUBJECT \"report n\xc2\xb0"
                            "9999\"",
                            "FROM sender42@",
                            // The same, from the message files.
                            "HEADER Subject \"report n\xc2\xb0"
                            "9999\"",
                            "HEADER From sender42@", "TEXT \"caf\xc3\xa9\"",
                            "SENTSINCE 1-Jan-2024"};
  for (const char* text : searches) {
    ImapParser parser;
    auto r = parser.feed(std::string("t SEARCH ") + text + "\r\n");
    auto program = parse_search(r.command.args).value();
    for (int round = 0; round < 2; ++round) {  // the second round is warm
      auto source = store_content_source(*f.account, f.inbox);
      const auto start = std::chrono::steady_clock::now();
      auto found = run_search(program, view, source.get());
      const auto ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      REQUIRE(found.has_value());
      MESSAGE(std::string(text) << ": " << found->size() << " matches, " << ms << " ms");
    }
  }
}
