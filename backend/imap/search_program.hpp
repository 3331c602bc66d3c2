// The SEARCH command's criteria (RFC 3501 section 6.4.4, MODSEQ from RFC 7162
// section 3.1.5) as a tree, parsed from the command's tokens. No I/O; the tree
// is evaluated by run_search (search_eval.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "backend/store/store_types.hpp"
#include "core/imap_parser.hpp"
#include "core/imap_string.hpp"

namespace postern::node::imap {

// One search key. Keys that RFC 3501 defines as the negation or combination of
// others are parsed into them: UNSEEN is Not(Flag \Seen), UNKEYWORD x is
// Not(Keyword x), NEW is And(Recent, Not(Flag \Seen)), OLD is Not(Recent), and
// FROM / TO / CC / BCC / SUBJECT x are Header with that field name.
struct SearchKey {
  enum class Kind {
    All,
    And,         // children: every one matches (a parenthesised group)
    Or,          // children: exactly two, either matches
    Not,         // children: exactly one, which does not match
    Sequence,    // set: sequence numbers, `*` = the number of messages
    Uid,         // set: UIDs, `*` = the highest UID in the mailbox
    Flag,        // flag: a store::kFlag* bit is set
    Keyword,     // text: the keyword is set (case-insensitive)
    Recent,      // \Recent for this session
    Before,      // day: internal date's calendar day < day
    On,          // day: ==
    Since,       // day: >=
    SentBefore,  // day: the Date: header's calendar day < day
    SentOn,
    SentSince,
    Larger,   // number: RFC822.SIZE > number
    Smaller,  // number: RFC822.SIZE < number
    ModSeq,   // number: MODSEQ >= number
    Header,   // field, text: a `field` header contains text ("" = the field exists)
    Body,     // text: a text body part contains it
    Text,     // text: the header or a text body part contains it
  };

  Kind kind = Kind::All;
  std::vector<SearchKey> children;
  core::imap::SequenceSet set;
  store::FlagBits flag = 0;
  std::int64_t day = 0;  // days since 1970-01-01 (negative before)
  std::uint64_t number = 0;
  std::string field;  // Header: the field name as sent ("From" for FROM)
  // Header from BCC CC FROM SUBJECT TO: RFC 3501 matches these against "the
  // envelope structure's" field, i.e. the first such field, an address list
  // as its parsed addresses (see SearchMessage::envelope_has), which the
  // index's cached structure answers without reading the message.
  bool envelope = false;
  std::string text;  // as sent (UTF-8 or US-ASCII); matched case-insensitively

  bool operator==(const SearchKey&) const = default;
};

// The key as text, for tests and logs: "(SEEN (NOT DELETED) (HEADER From \"x\"))".
std::string to_string(const SearchKey& key);

struct SearchProgram {
  SearchKey root;  // always Kind::And: the implicit AND of the top-level keys

  // Whether evaluation needs message content (the header, the body or the
  // Date: field): any of BCC BODY CC FROM HEADER SUBJECT TEXT TO SENT*.
  bool needs_content() const;
  // Whether a MODSEQ key is present (RFC 7162: the response then ends with
  // "(MODSEQ n)", n the highest modseq of the matching messages).
  bool uses_modseq() const;
};

struct SearchParseError {
  bool bad_charset = false;  // the session answers NO [BADCHARSET (US-ASCII UTF-8)]
  std::string message;       // otherwise BAD with this text
};

// Bounds on what a client may send, so parsing and evaluation stay cheap and
// the recursion shallow: NOT, OR and groups nest at most kMaxSearchDepth deep,
// and a program holds at most kMaxSearchKeys keys.
constexpr std::size_t kMaxSearchDepth = 64;
constexpr std::size_t kMaxSearchKeys = 10000;

// Parses the arguments of SEARCH (after "UID" and "SEARCH"):
// [CHARSET name] 1*search-key. CHARSET accepts US-ASCII and UTF-8
// (case-insensitive); strings are taken as UTF-8 either way. Key names are
// case-insensitive. Strings may be atoms, quoted strings or literals. Dates are
// RFC 3501 dates ("1-Feb-1994", quoted or not). MODSEQ accepts and ignores the
// optional entry name and type. No ESEARCH RETURN options.
tl::expected<SearchProgram, SearchParseError> parse_search(std::span<const core::imap::Token> args);

}  // namespace postern::node::imap
