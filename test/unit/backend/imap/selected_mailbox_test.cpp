#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "backend/imap/selected_mailbox.hpp"

using namespace postern::node;
using imap::SelectedMailbox;

namespace {

store::MessageInfo msg(store::Uid uid, store::FlagBits flags = 0, store::ModSeq modseq = 1) {
  store::MessageInfo m;
  m.uid = uid;
  m.flags = flags;
  m.modseq = modseq;
  return m;
}

SelectedMailbox view(std::vector<store::Uid> uids, bool read_only = false) {
  store::MailboxInfo info;
  info.id = 7;
  info.uidvalidity = 99;
  store::MessageList list;
  for (auto u : uids) list.messages.push_back(msg(u));
  store::MailboxStatus status;
  status.uidnext = uids.empty() ? 1 : uids.back() + 1;
  status.highest_modseq = 5;
  return SelectedMailbox(info, read_only, list, status);
}

postern::core::imap::SequenceSet set(const char* text) {
  return *postern::core::imap::parse_sequence_set(text);
}

}  // namespace

TEST_CASE("imap view: sequence and UID sets resolve to existing messages") {
  auto v = view({3, 5, 9, 10});
  CHECK(v.resolve(set("1:*"), false) == std::vector<std::uint32_t>{0, 1, 2, 3});
  CHECK(v.resolve(set("2,4,7"), false) == std::vector<std::uint32_t>{1, 3});
  CHECK(v.resolve(set("*"), false) == std::vector<std::uint32_t>{3});
  CHECK(v.resolve(set("4:9"), true) == std::vector<std::uint32_t>{1, 2});
  CHECK(v.resolve(set("11:*"), true) == std::vector<std::uint32_t>{3});  // "*" is the last UID
  CHECK(v.resolve(set("1:2"), true).empty());
  CHECK(v.seq_of(9) == 3);
  CHECK(v.seq_of(4) == 0);
  CHECK(SelectedMailbox::format_uids(std::vector<store::Uid>{4, 5, 6, 9, 11, 12}) == "4:6,9,11:12");
}

TEST_CASE("imap view: changes become EXISTS, FETCH and EXPUNGE in the right order") {
  auto v = view({1, 2, 3, 4});
  store::Changes c;
  c.highest_modseq = 9;
  c.uidnext = 7;
  c.expunged = {2, 3};
  c.changed.messages = {msg(1, store::kFlagSeen, 8), msg(5, 0, 9), msg(6, 0, 9)};
  std::string out;
  v.apply(c, true, false, out);
  // Highest first so the numbers stay right; then flags; then EXISTS.
  CHECK(out ==
        "* 3 EXPUNGE\r\n* 2 EXPUNGE\r\n"
        "* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n"
        "* 4 EXISTS\r\n");
  CHECK(v.exists() == 4);
  CHECK(v.uidnext() == 7);
  CHECK(v.highest_modseq() == 9);
  // The same flags again tell the client nothing new.
  out.clear();
  store::Changes again;
  again.highest_modseq = 10;
  again.uidnext = 7;
  again.changed.messages = {msg(1, store::kFlagSeen, 10)};
  v.apply(again, true, true, out);
  CHECK(out.empty());
}

TEST_CASE("imap view: expunges wait while the command may not report them") {
  auto v = view({1, 2, 3});
  store::Changes c;
  c.highest_modseq = 9;
  c.uidnext = 4;
  c.expunged = {2};
  std::string out;
  v.apply(c, false, false, out);
  CHECK(out.empty());
  CHECK(v.exists() == 3);
  CHECK(v.expunged_elsewhere(2));
  store::Changes none;
  none.highest_modseq = 9;
  none.uidnext = 4;
  v.apply(none, true, false, out);
  CHECK(out == "* 2 EXPUNGE\r\n");
  CHECK(v.exists() == 2);
}

TEST_CASE("imap view: \\Recent belongs to the session that claimed it") {
  auto v = view({1, 2, 3});
  v.add_recent({2, 4});
  CHECK_FALSE(v.is_recent(1));
  CHECK(v.is_recent(2));
  CHECK(v.recent_count() == 2);
  CHECK(v.first_unseen() == 1);
}
