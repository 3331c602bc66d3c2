#include <doctest/doctest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "backend/imap/imap_date.hpp"
#include "backend/imap/search_eval.hpp"
#include "backend/imap/search_text.hpp"
#include "backend/mime/message_parser.hpp"
#include "core/imap_parser.hpp"

using namespace postern::node::imap;
using namespace postern::node;
using postern::core::imap::ImapParser;
using postern::core::imap::Status;

namespace {

SearchProgram program(const std::string& text) {
  ImapParser parser;
  auto r = parser.feed("t SEARCH " + text + "\r\n");
  REQUIRE(r.status == Status::Command);
  auto p = parse_search(r.command.args);
  REQUIRE(p.has_value());
  return std::move(*p);
}

std::int64_t at(int year, unsigned month, unsigned day, int hour, int minute = 0) {
  return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60;
}

store::MessageInfo info(store::Uid uid, store::FlagBits flags, std::uint64_t keywords,
                        std::int64_t date, std::int16_t zone, std::uint64_t size,
                        store::ModSeq modseq) {
  store::MessageInfo m;
  m.uid = uid;
  m.flags = flags;
  m.keywords = keywords;
  m.internal_date = date;
  m.zone_minutes = zone;
  m.size = size;
  m.modseq = modseq;
  return m;
}

// Five messages. Internal dates are chosen so that the day in the stored zone
// differs from the UTC day for messages 1 and 4.
struct Mailbox {
  std::vector<store::MessageInfo> messages{
      // 2024-01-10 23:30 UTC, +01:00: 11 Jan locally.
      info(3, store::kFlagSeen, 0, at(2024, 1, 10, 23, 30), 60, 100, 5),
      info(5, store::kFlagAnswered | store::kFlagSeen, 1, at(2024, 1, 11, 12), 0, 2000, 10),
      info(7, store::kFlagFlagged | store::kFlagDeleted, 2, at(2024, 1, 12, 1), 0, 50000, 20),
      // 2024-01-13 01:00 UTC, -02:00: 12 Jan locally.
      info(8, store::kFlagDraft, 3, at(2024, 1, 13, 1), -120, 1000, 7),
      info(10, store::kFlagSeen, 0, at(2023, 12, 31, 23), 0, 999, 30),
  };
  std::vector<std::string> keyword_names{"$Forwarded", "Work"};

  SearchMailbox view() const { return {messages, keyword_names, store::RecentRange{8, 11}}; }

  // The sequence numbers of the matches.
  std::vector<std::uint32_t> search(const std::string& text, ContentSource* content = nullptr) {
    auto found = run_search(program(text), view(), content);
    REQUIRE(found.has_value());
    std::vector<std::uint32_t> seqs;
    for (std::uint32_t i : *found) seqs.push_back(i + 1);
    return seqs;
  }
};

using Seqs = std::vector<std::uint32_t>;

// Messages by uid, parsed on demand, with counts of what the evaluator asked.
class MemorySource : public ContentSource {
 public:
  std::map<store::Uid, std::string> messages;
  int starts = 0;
  int headers = 0;
  int structures = 0;

  void start(const store::MessageInfo& m, bool) override {
    ++starts;
    auto it = messages.find(m.uid);
    current_ = it == messages.end() ? nullptr : &it->second;
    structure_.reset();
  }
  store::StoreResult<std::string_view> header() override {
    ++headers;
    if (current_ == nullptr) return tl::unexpected(store::StoreError::NoSuchMessage);
    return std::string_view(*current_).substr(0, header_length(*current_));
  }
  store::StoreResult<const mime::MessagePart*> structure() override {
    ++structures;
    if (current_ == nullptr) return tl::unexpected(store::StoreError::NoSuchMessage);
    if (!structure_) structure_ = mime::parse_message(*current_);
    return &*structure_;
  }
  store::StoreResult<std::string_view> range(std::uint64_t begin, std::uint64_t end) override {
    if (current_ == nullptr) return tl::unexpected(store::StoreError::NoSuchMessage);
    return std::string_view(*current_).substr(begin, end - begin);
  }

 private:
  const std::string* current_ = nullptr;
  std::optional<mime::MessagePart> structure_;
};

}  // namespace

TEST_CASE("search eval: flags") {
  Mailbox mb;
  CHECK(mb.search("ALL") == Seqs{1, 2, 3, 4, 5});
  CHECK(mb.search("SEEN") == Seqs{1, 2, 5});
  CHECK(mb.search("UNSEEN") == Seqs{3, 4});
  CHECK(mb.search("ANSWERED") == Seqs{2});
  CHECK(mb.search("UNANSWERED") == Seqs{1, 3, 4, 5});
  CHECK(mb.search("FLAGGED") == Seqs{3});
  CHECK(mb.search("UNFLAGGED") == Seqs{1, 2, 4, 5});
  CHECK(mb.search("DELETED") == Seqs{3});
  CHECK(mb.search("UNDELETED") == Seqs{1, 2, 4, 5});
  CHECK(mb.search("DRAFT") == Seqs{4});
  CHECK(mb.search("UNDRAFT") == Seqs{1, 2, 3, 5});
}

TEST_CASE("search eval: keywords, case-insensitive; unknown ones match nothing") {
  Mailbox mb;
  CHECK(mb.search("KEYWORD $forwarded") == Seqs{2, 4});
  CHECK(mb.search("KEYWORD WORK") == Seqs{3, 4});
  CHECK(mb.search("KEYWORD Other") == Seqs{});
  CHECK(mb.search("UNKEYWORD Work") == Seqs{1, 2, 5});
  CHECK(mb.search("UNKEYWORD Other") == Seqs{1, 2, 3, 4, 5});
}

TEST_CASE("search eval: \\Recent, NEW and OLD") {
  Mailbox mb;
  CHECK(mb.search("RECENT") == Seqs{4, 5});
  CHECK(mb.search("NEW") == Seqs{4});
  CHECK(mb.search("OLD") == Seqs{1, 2, 3});
}

TEST_CASE("search eval: internal dates compare the day in the stored zone") {
  Mailbox mb;
  CHECK(mb.search("ON 10-Jan-2024") == Seqs{});
  CHECK(mb.search("ON 11-Jan-2024") == Seqs{1, 2});
  CHECK(mb.search("ON 12-Jan-2024") == Seqs{3, 4});
  CHECK(mb.search("ON 13-Jan-2024") == Seqs{});
  CHECK(mb.search("BEFORE 11-Jan-2024") == Seqs{5});
  CHECK(mb.search("BEFORE 12-Jan-2024") == Seqs{1, 2, 5});
  CHECK(mb.search("BEFORE 1-Jan-2024") == Seqs{5});
  CHECK(mb.search("BEFORE 31-Dec-2023") == Seqs{});
  CHECK(mb.search("SINCE 11-Jan-2024") == Seqs{1, 2, 3, 4});
  CHECK(mb.search("SINCE 12-Jan-2024") == Seqs{3, 4});
  CHECK(mb.search("SINCE 13-Jan-2024") == Seqs{});
  CHECK(mb.search("SINCE 1-Jan-2024 BEFORE 12-Jan-2024") == Seqs{1, 2});
}

TEST_CASE("search eval: sizes and MODSEQ") {
  Mailbox mb;
  CHECK(mb.search("LARGER 999") == Seqs{2, 3, 4});
  CHECK(mb.search("LARGER 50000") == Seqs{});
  CHECK(mb.search("SMALLER 1000") == Seqs{1, 5});
  CHECK(mb.search("SMALLER 100") == Seqs{});
  CHECK(mb.search("LARGER 100 SMALLER 2000") == Seqs{4, 5});
  CHECK(mb.search("MODSEQ 10") == Seqs{2, 3, 5});
  CHECK(mb.search("MODSEQ 0") == Seqs{1, 2, 3, 4, 5});
  CHECK(mb.search("MODSEQ 31") == Seqs{});
}

TEST_CASE("search eval: sequence sets, * is the last message") {
  Mailbox mb;
  CHECK(mb.search("2:3") == Seqs{2, 3});
  CHECK(mb.search("3:2") == Seqs{2, 3});
  CHECK(mb.search("*") == Seqs{5});
  CHECK(mb.search("4:*") == Seqs{4, 5});
  CHECK(mb.search("9:*") == Seqs{5});
  CHECK(mb.search("1,3,5") == Seqs{1, 3, 5});
  CHECK(mb.search("6") == Seqs{});
}

TEST_CASE("search eval: UID sets, * is the highest UID") {
  Mailbox mb;
  CHECK(mb.search("UID 5:8") == Seqs{2, 3, 4});
  CHECK(mb.search("UID *") == Seqs{5});
  CHECK(mb.search("UID 11:*") == Seqs{5});  // 11:* is 10:11 here
  CHECK(mb.search("UID 1:2") == Seqs{});
  CHECK(mb.search("UID 4,6,9") == Seqs{});
  CHECK(mb.search("UID 1:4294967295") == Seqs{1, 2, 3, 4, 5});
}

TEST_CASE("search eval: OR, NOT and groups") {
  Mailbox mb;
  CHECK(mb.search("OR SEEN FLAGGED") == Seqs{1, 2, 3, 5});
  CHECK(mb.search("NOT SEEN") == Seqs{3, 4});
  CHECK(mb.search("NOT (SEEN ANSWERED)") == Seqs{1, 3, 4, 5});
  CHECK(mb.search("OR (DRAFT) (UID 3)") == Seqs{1, 4});
  CHECK(mb.search("OR OR ANSWERED DRAFT DELETED") == Seqs{2, 3, 4});
  CHECK(mb.search("SEEN (OR 1 5) NOT UID 10") == Seqs{1});
  CHECK(mb.search("NOT NOT NOT RECENT") == Seqs{1, 2, 3});
}

TEST_CASE("search eval: an empty mailbox matches nothing, * included") {
  const char* keys[] = {"ALL", "*", "UID *", "1:*", "UID 1:*", "NOT SEEN"};
  for (const char* text : keys) {
    CAPTURE(text);
    auto found = run_search(program(text), SearchMailbox{}, nullptr);
    REQUIRE(found.has_value());
    CHECK(found->empty());
  }
}

TEST_CASE("search eval: content is read only when the index leaves the answer open") {
  Mailbox mb;
  MemorySource source;
  for (const auto& m : mb.messages) {
    source.messages[m.uid] = "Subject: note " + std::to_string(m.uid) +
                             "\r\nFrom: a@example.com\r\n"
                             "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
                             "--b\r\n\r\nbody of " +
                             std::to_string(m.uid) + "\r\n--b--\r\n";
  }
  // SEEN decides for 3 and 4 before any content is read.
  CHECK(mb.search("SUBJECT note SEEN", &source) == Seqs{1, 2, 5});
  CHECK(source.starts == 3);
  // OR with a matching flag needs no content either.
  source.starts = 0;
  CHECK(mb.search("OR FLAGGED BODY \"of 8\"", &source) == Seqs{3, 4});
  CHECK(source.starts == 4);
  // NOT (OR BODY x ANSWERED) is false for message 2 from the index alone.
  source.starts = 0;
  CHECK(mb.search("OR TEXT nothing SEEN NOT (OR BODY x ANSWERED)", &source) == Seqs{1, 5});
  CHECK(source.starts == 4);
  // Header keys go first and decide without the structure; the body is built
  // once per message however many keys search it.
  source.starts = source.headers = source.structures = 0;
  CHECK(mb.search("BODY body TEXT \"body of\" SUBJECT \"note 7\" TEXT 7", &source) == Seqs{3});
  CHECK(source.starts == 5);
  CHECK(source.headers == 5);
  CHECK(source.structures == 1);
  // A message that is not multipart needs no structure at all.
  source.messages[7] = "Subject: x\r\nContent-Transfer-Encoding: base64\r\n\r\nYm9keSBvZiA3\r\n";
  source.structures = 0;
  CHECK(mb.search("BODY \"BODY OF\"", &source) == Seqs{1, 2, 3, 4, 5});
  CHECK(source.structures == 4);
}

TEST_CASE("search eval: a message whose content went away does not match") {
  Mailbox mb;
  MemorySource source;
  source.messages[5] = "Subject: x\r\n\r\nhello\r\n";
  source.messages[7] = "Subject: x\r\n\r\nhello\r\n";
  CHECK(mb.search("BODY hello", &source) == Seqs{2, 3});
  CHECK(mb.search("NOT SUBJECT y", &source) == Seqs{2, 3});
  CHECK(mb.search("OR SUBJECT x SEEN", &source) == Seqs{1, 2, 3, 5});
}

TEST_CASE("search eval: other store errors end the search") {
  class Failing : public MemorySource {
   public:
    store::StoreResult<std::string_view> header() override {
      return tl::unexpected(store::StoreError::Io);
    }
  } source;
  Mailbox mb;
  auto found = run_search(program("SEEN FROM x"), mb.view(), &source);
  REQUIRE_FALSE(found.has_value());
  CHECK(found.error() == store::StoreError::Io);
  // Not reached when the index decides.
  CHECK(run_search(program("OR SEEN FROM x UID 3"), mb.view(), &source).has_value());
}
