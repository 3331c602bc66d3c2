// The data items of FETCH and UID FETCH (RFC 3501 sections 6.4.5 and 9,
// RFC 3516 BINARY, RFC 7162 MODSEQ and CHANGEDSINCE): parsed once per command,
// then rendered for each message by fetch_render.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "backend/store/store_types.hpp"
#include "core/imap_parser.hpp"

namespace postern::node::imap {

struct Section {
  std::string part;  // "", "1", "4.2.1": nz-numbers joined by '.'
  enum class Kind { All, Header, HeaderFields, HeaderFieldsNot, Text, Mime } kind = Kind::All;
  std::vector<std::string> fields;  // HeaderFields(Not): upper-cased field names

  bool operator==(const Section&) const = default;
};

// The section as the response names it: "1.2.HEADER.FIELDS (FROM TO)".
std::string section_text(const Section& section);

struct FetchItem {
  enum class Kind {
    Uid,
    Flags,
    InternalDate,
    Rfc822Size,
    Envelope,
    Body,           // non-extensible BODYSTRUCTURE
    BodyStructure,  // extensible
    BodySection,    // BODY[section]<partial>, BODY.PEEK[...]
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    Binary,      // BINARY[part]<partial>, BINARY.PEEK[...]: section.kind is All
    BinarySize,  // BINARY.SIZE[part]
    ModSeq,
  };
  Kind kind = Kind::Uid;
  bool peek = false;
  Section section;
  std::optional<std::pair<std::uint64_t, std::uint64_t>> partial;  // <offset.length>, length > 0
  // How the response names it: "BODY[HEADER.FIELDS (FROM TO)]<0>" (RFC 3501: a
  // partial echoes only its origin; .PEEK is never echoed).
  std::string name;
};

struct FetchRequest {
  std::vector<FetchItem> items;                // request order, duplicates dropped
  std::optional<store::ModSeq> changed_since;  // FETCH modifier (CHANGEDSINCE n), RFC 7162

  // The MIME structure (meta.structure) is needed: BODY, BODYSTRUCTURE, any
  // section other than BODY[], RFC822.HEADER/TEXT, BINARY*.
  bool needs_structure() const;
  // The message file is needed: any body data, BINARY*.
  bool needs_file() const;
  bool needs_envelope() const;
  // BODY[...] without PEEK, RFC822, RFC822.TEXT, BINARY[] without PEEK:
  // \Seen must be set (RFC 3501 6.4.5) unless the mailbox is read-only.
  bool sets_seen() const;
  // Only UID FLAGS INTERNALDATE RFC822.SIZE MODSEQ: renderable from
  // store::MessageInfo alone, without loading anything.
  bool index_only() const;
};

// `args` = the tokens after the sequence set: an item atom, a macro (ALL FAST
// FULL) or a parenthesised list of items, then optionally a modifier list
// "(CHANGEDSINCE 12345)". `uid_command` (UID FETCH) puts UID first if absent;
// CHANGEDSINCE appends MODSEQ if absent. The error text is for a tagged BAD.
tl::expected<FetchRequest, std::string> parse_fetch(std::span<const core::imap::Token> args,
                                                    bool uid_command);

}  // namespace postern::node::imap
