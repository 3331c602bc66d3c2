#include "backend/webmail/message_list.hpp"

#include <doctest/doctest.h>

#include "backend/mime/message_parser.hpp"

using namespace postern::node;
using namespace postern::node::webmail;

namespace {

ListEntry entry(store::Uid uid, std::int64_t date, std::uint64_t size, const std::string& from,
                const std::string& subject) {
  store::MessageInfo info;
  info.uid = uid;
  info.internal_date = date;
  info.size = size;
  const std::string message = "From: " + from +
                              "\r\nTo: Alice <alice@example.com>\r\nSubject: " + subject +
                              "\r\n\r\nx\r\n";
  return make_list_entry(info, mime::parse_message(message));
}

std::vector<store::Uid> uids(const std::vector<ListEntry>& entries) {
  std::vector<store::Uid> out;
  for (const auto& e : entries) out.push_back(e.info.uid);
  return out;
}

}  // namespace

TEST_CASE("message list: query parameters") {
  auto q = parse_list_query("");
  REQUIRE(q);
  CHECK(q->sort == SortKey::Date);
  CHECK(q->descending);
  CHECK(q->page == 0);
  CHECK(q->size == 50);

  q = parse_list_query("page=2&size=10&sort=subject&order=asc&from=Bob&subject=%C3%84pfel");
  REQUIRE(q);
  CHECK(q->page == 2);
  CHECK(q->size == 10);
  CHECK(q->sort == SortKey::Subject);
  CHECK_FALSE(q->descending);
  CHECK(q->from == "bob");
  CHECK(q->subject == "\xc3\xa4pfel");  // folded

  for (const char* bad : {"size=0", "size=201", "size=x", "page=-1", "sort=colour", "order=up"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_list_query(bad));
  }
}

TEST_CASE("message list: entries decode the envelope") {
  auto e = entry(4, 100, 10, "=?utf-8?q?J=C3=BCrgen?= <j@example.net>", "=?utf-8?b?R3LDvMOfZQ==?=");
  CHECK(e.from.name == "J\xc3\xbcrgen");
  CHECK(e.from.address == "j@example.net");
  CHECK(e.subject ==
        "Gr\xc3\xbc\xc3\x9f"
        "e");
  REQUIRE(e.to.size() == 1);
  CHECK(e.to[0].address == "alice@example.com");
  CHECK_FALSE(e.has_attachments);
  auto j = entry_json(e);
  CHECK(j["from"]["address"] == "j@example.net");
  CHECK(j["date"] == "1970-01-01T00:01:40Z");
  CHECK(j["seen"] == false);
}

TEST_CASE("message list: search and sort") {
  std::vector<ListEntry> v = {
      entry(1, 300, 50, "Carol <carol@example.com>", "beta"),
      entry(2, 100, 70, "bob@example.com", "Alpha"),
      entry(3, 200, 60, "Dave <dave@example.com>", "gamma"),
  };
  auto q = parse_list_query("from=DAVE");
  REQUIRE(q);
  CHECK_FALSE(header_matches(v[0], *q));
  CHECK(header_matches(v[2], *q));
  q = parse_list_query("to=alice&subject=ALP");
  CHECK(header_matches(v[1], *q));
  CHECK_FALSE(header_matches(v[0], *q));

  sort_entries(v, SortKey::Date, true);
  CHECK(uids(v) == std::vector<store::Uid>{1, 3, 2});
  sort_entries(v, SortKey::Date, false);
  CHECK(uids(v) == std::vector<store::Uid>{2, 3, 1});
  sort_entries(v, SortKey::Size, true);
  CHECK(uids(v) == std::vector<store::Uid>{2, 3, 1});
  sort_entries(v, SortKey::Subject, false);
  CHECK(uids(v) == std::vector<store::Uid>{2, 1, 3});
  sort_entries(v, SortKey::From, false);  // bob@..., Carol, Dave
  CHECK(uids(v) == std::vector<store::Uid>{2, 1, 3});
  sort_entries(v, SortKey::From, true);
  CHECK(uids(v) == std::vector<store::Uid>{3, 1, 2});
}
