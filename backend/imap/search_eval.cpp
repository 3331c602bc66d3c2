#include "backend/imap/search_eval.hpp"

#include <algorithm>
#include <cassert>
#include <iterator>
#include <optional>

#include "backend/imap/imap_date.hpp"
#include "backend/imap/search_message.hpp"
#include "backend/imap/search_text.hpp"
#include "backend/mime/text.hpp"

namespace postern::node::imap {

namespace {

using Kind = SearchKey::Kind;
using store::MessageInfo;

// What evaluating a key costs: the index row only, the header, or the body.
enum class Cost : std::uint8_t { Index, Header, Body };

enum class Tri : std::uint8_t { No, Yes, Unknown };

// A key prepared for one run: children ordered cheapest first, keywords
// resolved to bits, strings folded.
struct Node {
  const SearchKey* key = nullptr;
  Cost cost = Cost::Index;
  std::vector<Node> children;
  std::uint64_t mask = 0;  // Keyword: its bit (0 when the mailbox does not know it)
  // Sequence, Uid: the set with `*` resolved, sorted and merged, so that a
  // client's set of thousands of ranges costs a binary search per message.
  std::vector<core::imap::SequenceSet::Range> ranges;
  std::string needle;  // Header, Body, Text
};

Cost own_cost(Kind kind) {
  switch (kind) {
    case Kind::Header:
    case Kind::SentBefore:
    case Kind::SentOn:
    case Kind::SentSince:
      return Cost::Header;
    case Kind::Body:
    case Kind::Text:
      return Cost::Body;
    default:
      return Cost::Index;
  }
}

bool is_string_key(Kind kind) {
  return kind == Kind::Header || kind == Kind::Body || kind == Kind::Text;
}

bool has_unicode_needle(const SearchKey& key) {
  if (is_string_key(key.kind) && !is_ascii(key.text)) return true;
  return std::any_of(key.children.begin(), key.children.end(), has_unicode_needle);
}

Node compile(const SearchKey& key, const SearchMailbox& mailbox, bool unicode) {
  Node node;
  node.key = &key;
  node.cost = own_cost(key.kind);
  node.children.reserve(key.children.size());
  for (const SearchKey& child : key.children) {
    node.children.push_back(compile(child, mailbox, unicode));
    node.cost = std::max(node.cost, node.children.back().cost);
  }
  std::stable_sort(node.children.begin(), node.children.end(),
                   [](const Node& a, const Node& b) { return a.cost < b.cost; });
  if (key.kind == Kind::Keyword) {
    const std::size_t bits = std::min<std::size_t>(mailbox.keyword_names.size(), 64);
    for (std::size_t i = 0; i < bits; ++i) {
      if (mime::iequals(mailbox.keyword_names[i], key.text)) node.mask |= std::uint64_t{1} << i;
    }
  }
  if (key.kind == Kind::Sequence) {
    node.ranges = key.set.normalized(static_cast<std::uint32_t>(mailbox.messages.size()));
  }
  if (key.kind == Kind::Uid) {
    node.ranges = key.set.normalized(mailbox.messages.empty() ? 0 : mailbox.messages.back().uid);
  }
  if (is_string_key(key.kind)) {
    node.needle = key.text;
    fold_case(node.needle.data(), node.needle.size(), unicode);
  }
  return node;
}

bool in_ranges(const std::vector<core::imap::SequenceSet::Range>& ranges, std::uint32_t n) {
  auto after = std::upper_bound(ranges.begin(), ranges.end(), n,
                                [](std::uint32_t v, const auto& r) { return v < r.first; });
  return after != ranges.begin() && n <= std::prev(after)->last;
}

class Evaluator {
 public:
  Evaluator(const SearchMailbox& mailbox, SearchMessage* message)
      : message_(message), recent_(mailbox.recent) {}

  // Pass 1: what the index row decides; content keys are Unknown.
  Tri index(const Node& node, const MessageInfo& m, std::uint32_t seq) const {
    switch (node.key->kind) {
      case Kind::And: {
        Tri result = Tri::Yes;
        for (const Node& child : node.children) {
          const Tri r = index(child, m, seq);
          if (r == Tri::No) return Tri::No;
          if (r == Tri::Unknown) result = Tri::Unknown;
        }
        return result;
      }
      case Kind::Or: {
        Tri result = Tri::No;
        for (const Node& child : node.children) {
          const Tri r = index(child, m, seq);
          if (r == Tri::Yes) return Tri::Yes;
          if (r == Tri::Unknown) result = Tri::Unknown;
        }
        return result;
      }
      case Kind::Not: {
        const Tri r = index(node.children.front(), m, seq);
        return r == Tri::Unknown ? r : (r == Tri::Yes ? Tri::No : Tri::Yes);
      }
      default:
        if (node.cost != Cost::Index) return Tri::Unknown;
        return leaf(node, m, seq) ? Tri::Yes : Tri::No;
    }
  }

  // Pass 2: everything, content read lazily through message_.
  bool full(const Node& node, const MessageInfo& m, std::uint32_t seq) {
    switch (node.key->kind) {
      case Kind::And:
        return std::all_of(node.children.begin(), node.children.end(),
                           [&](const Node& child) { return full(child, m, seq); });
      case Kind::Or:
        return std::any_of(node.children.begin(), node.children.end(),
                           [&](const Node& child) { return full(child, m, seq); });
      case Kind::Not:
        return !full(node.children.front(), m, seq);
      default:
        if (node.cost == Cost::Index) return leaf(node, m, seq);
        return message_ != nullptr && content(node);
    }
  }

 private:
  bool leaf(const Node& node, const MessageInfo& m, std::uint32_t seq) const {
    const SearchKey& key = *node.key;
    switch (key.kind) {
      case Kind::All:
        return true;
      case Kind::Sequence:
        return in_ranges(node.ranges, seq);
      case Kind::Uid:
        return in_ranges(node.ranges, m.uid);
      case Kind::Flag:
        return (m.flags & key.flag) != 0;
      case Kind::Keyword:
        return (m.keywords & node.mask) != 0;
      case Kind::Recent:
        return m.uid >= recent_.first && m.uid < recent_.end;
      case Kind::Before:
        return internal_day(m) < key.day;
      case Kind::On:
        return internal_day(m) == key.day;
      case Kind::Since:
        return internal_day(m) >= key.day;
      case Kind::Larger:
        return m.size > key.number;
      case Kind::Smaller:
        return m.size < key.number;
      case Kind::ModSeq:
        return m.modseq >= key.number;
      default:
        assert(false && "not an index key");
        return false;
    }
  }

  bool content(const Node& node) {
    const SearchKey& key = *node.key;
    switch (key.kind) {
      case Kind::Header:
        if (key.envelope) return message_->envelope_has(key.field, node.needle);
        return message_->header_has(key.field, node.needle);
      case Kind::Body:
        return message_->body_has(node.needle);
      case Kind::Text:
        return message_->text_has(node.needle);
      case Kind::SentBefore:
        return message_->sent_day() < key.day;
      case Kind::SentOn:
        return message_->sent_day() == key.day;
      case Kind::SentSince:
        return message_->sent_day() >= key.day;
      default:
        assert(false && "not a content key");
        return false;
    }
  }

  static std::int64_t internal_day(const MessageInfo& m) {
    return day_of_time(m.internal_date + std::int64_t{m.zone_minutes} * 60);
  }

  SearchMessage* message_;
  store::RecentRange recent_;
};

}  // namespace

tl::expected<std::vector<std::uint32_t>, store::StoreError> run_search(const SearchProgram& program,
                                                                       const SearchMailbox& mailbox,
                                                                       ContentSource* content) {
  assert(content != nullptr || !program.needs_content());
  const bool unicode = has_unicode_needle(program.root);
  const Node root = compile(program.root, mailbox, unicode);
  std::optional<SearchMessage> message;
  if (content != nullptr) message.emplace(*content, unicode, root.cost == Cost::Body);
  Evaluator evaluator(mailbox, message ? &*message : nullptr);

  std::vector<std::uint32_t> matches;
  for (std::size_t i = 0; i < mailbox.messages.size(); ++i) {
    const MessageInfo& m = mailbox.messages[i];
    const auto seq = static_cast<std::uint32_t>(i + 1);
    const Tri decided = evaluator.index(root, m, seq);
    if (decided == Tri::No) continue;
    if (decided == Tri::Unknown) {
      if (message) message->start(m);
      const bool match = evaluator.full(root, m, seq);
      if (message && message->error()) {
        if (*message->error() == store::StoreError::NoSuchMessage) continue;
        return tl::unexpected(*message->error());
      }
      if (!match) continue;
    }
    matches.push_back(static_cast<std::uint32_t>(i));
  }
  return matches;
}

}  // namespace postern::node::imap
