// Evaluates a SearchProgram over a mailbox (RFC 3501 section 6.4.4).
//
// Keys the index answers (flags, dates, sizes, sets, keywords, \Recent,
// MODSEQ) are evaluated first for every message, in three-valued logic; a
// message's content is read only when they leave the answer open, and then
// lazily and once: header keys before body keys, cheaper siblings of AND / OR
// first. String keys match case-insensitively (see fold_case) as substrings of
// UTF-8 text: header values with RFC 2047 words decoded, bodies decoded from
// their transfer encoding and charset. BCC CC FROM SUBJECT TO and SENT* read
// the envelope (RFC 3501: "the envelope structure's" field), which the index's
// cached structures give for the whole mailbox in one query, without opening
// message files; HEADER, BODY and TEXT read the message.
//
// Dates: BEFORE / ON / SINCE compare the internal date's calendar day in the
// zone it was stored with; SENT* the Date: header's day in its own zone,
// falling back to the internal date when there is no parseable Date:.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "backend/imap/search_content.hpp"
#include "backend/imap/search_program.hpp"
#include "backend/store/store_error.hpp"
#include "backend/store/store_types.hpp"

namespace postern::node::imap {

// What run_search reads of the mailbox; the spans must stay valid (and
// unchanged) until it returns, on whatever thread it runs.
struct SearchMailbox {
  std::span<const store::MessageInfo> messages;  // the session's view; seq = index + 1
  std::span<const std::string> keyword_names;    // bit i of MessageInfo::keywords
  store::RecentRange recent;                     // uids in [first, end) are \Recent here
};

// Indexes (0-based) of the matching messages, ascending. `content` may be null
// only when !program.needs_content() (asserted; in a release build content
// keys would then never match). BLOCKING when content is read: run on the
// worker pool. A message whose content has gone (NoSuchMessage: expunged
// meanwhile) does not match; any other StoreError ends the search with it.
tl::expected<std::vector<std::uint32_t>, store::StoreError> run_search(const SearchProgram& program,
                                                                       const SearchMailbox& mailbox,
                                                                       ContentSource* content);

}  // namespace postern::node::imap
