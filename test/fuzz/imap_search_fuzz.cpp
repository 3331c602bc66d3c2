// libFuzzer target for SEARCH (STYLE.md rule 2): the input is the arguments of
// a SEARCH command, then optionally a NUL and a message. The command parser
// tokenises the arguments; parse_search must accept or refuse them without
// crashing; an accepted program is printed and evaluated over a small mailbox
// whose messages are the input's message and two fixed ones. The matches must
// be ascending indexes, and a program and its negation must split the mailbox
// exactly in two. The seeds in corpus/imap_search are typical client searches.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/imap/search_eval.hpp"
#include "backend/imap/search_program.hpp"
#include "backend/imap/search_text.hpp"
#include "backend/mime/message_parser.hpp"
#include "core/imap_parser.hpp"
#include "test/fuzz/fuzz_support.hpp"

namespace {

using postern::fuzz::require;

using namespace postern::node;
using namespace postern::node::imap;

class MemorySource : public ContentSource {
 public:
  explicit MemorySource(std::vector<std::string> messages) : messages_(std::move(messages)) {}

  void start(const store::MessageInfo& m, bool) override {
    current_ = &messages_[m.uid % messages_.size()];
    structure_.reset();
  }
  store::StoreResult<std::string_view> header() override {
    return std::string_view(*current_).substr(0, header_length(*current_));
  }
  store::StoreResult<const mime::MessagePart*> structure() override {
    if (!structure_) structure_ = mime::parse_message(*current_);
    return &*structure_;
  }
  store::StoreResult<std::string_view> range(std::uint64_t begin, std::uint64_t end) override {
    const std::string_view all = *current_;
    if (begin >= all.size() || begin >= end) return std::string_view();
    return all.substr(begin, end - begin);
  }

 private:
  std::vector<std::string> messages_;
  const std::string* current_ = nullptr;
  std::optional<mime::MessagePart> structure_;
};

std::vector<std::uint32_t> evaluate(const SearchProgram& program, const SearchMailbox& mailbox,
                                    ContentSource& source) {
  auto found = run_search(program, mailbox, &source);
  require(found.has_value());
  for (std::size_t i = 0; i < found->size(); ++i) {
    require((*found)[i] < mailbox.messages.size());
    require(i == 0 || (*found)[i - 1] < (*found)[i]);
  }
  return *found;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t nul = input.find('\0');
  const std::string_view args = input.substr(0, nul);
  const std::string_view message = nul == std::string_view::npos ? "" : input.substr(nul + 1);
  if (args.size() > 4096) return 0;

  postern::core::imap::ImapParser parser;
  const std::string line = "t SEARCH " + std::string(args) + "\r\n";
  auto r = parser.feed(line);
  if (r.status != postern::core::imap::Status::Command) return 0;
  auto program = parse_search(r.command.args);
  if (!program) return 0;
  (void)to_string(program->root);

  std::vector<store::MessageInfo> messages(3);
  for (std::size_t i = 0; i < messages.size(); ++i) {
    store::MessageInfo& m = messages[i];
    m.uid = static_cast<store::Uid>(i * 2 + 3);  // 3, 5, 7: uid % 3 picks the message
    m.flags = static_cast<store::FlagBits>((size + i) & store::kSystemFlagsMask);
    m.keywords = i;
    m.internal_date = 1700000000 + static_cast<std::int64_t>(i) * 86400;
    m.zone_minutes = static_cast<std::int16_t>(i * 60);
    m.size = 1000 * i;
    m.modseq = 10 + i;
  }
  const std::vector<std::string> keywords{"$Forwarded", "Work"};
  MemorySource source({std::string(message),
                       "From: a@example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n"
                       "Date: 1 Jan 2024 10:00 +0100\r\n\r\nhello\r\n",
                       "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                       "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--b--\r\n"});
  const SearchMailbox mailbox{messages, keywords, store::RecentRange{5, 6}};
  const auto matches = evaluate(*program, mailbox, source);

  SearchProgram negated;
  negated.root.kind = SearchKey::Kind::And;
  SearchKey not_key;
  not_key.kind = SearchKey::Kind::Not;
  not_key.children.push_back(program->root);
  negated.root.children.push_back(std::move(not_key));
  const auto rest = evaluate(negated, mailbox, source);
  require(matches.size() + rest.size() == messages.size());
  for (std::uint32_t i : matches) {
    for (std::uint32_t j : rest) require(i != j);
  }
  return 0;
}
