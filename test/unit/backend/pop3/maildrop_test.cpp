#include "backend/pop3/maildrop.hpp"

#include <doctest/doctest.h>

#include "backend/pop3/maildrop_locks.hpp"

using namespace postern::node;
using namespace postern::node::pop3;

namespace {

Maildrop sample() {
  store::MessageList list;
  for (store::Uid uid : {3u, 4u, 5u, 9u}) {
    store::MessageInfo m;
    m.uid = uid;
    m.size = uid * 100;
    list.messages.push_back(m);
  }
  return Maildrop(7, 1700000000, list);
}

bool same(const store::UidSet& a, const store::UidSet& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].first != b[i].first || a[i].last != b[i].last) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("maildrop: numbers, sizes, unique ids") {
  Maildrop m = sample();
  CHECK(m.mailbox() == 7);
  CHECK(m.size() == 4);
  CHECK(m.live_count() == 4);
  CHECK(m.live_octets() == 2100);
  CHECK(m.unique_id(1) == "1700000000.3");
  CHECK(m.unique_id(4) == "1700000000.9");
  CHECK(m.find(0).error() == MessageError::NoSuchMessage);
  CHECK(m.find(5).error() == MessageError::NoSuchMessage);
  CHECK((*m.find(2))->uid == 4);
}

TEST_CASE("maildrop: DELE marks, RSET unmarks, UPDATE gets ranges") {
  Maildrop m = sample();
  (*m.find(1))->deleted = true;
  (*m.find(2))->deleted = true;
  (*m.find(4))->deleted = true;
  CHECK(m.find(2).error() == MessageError::Deleted);
  CHECK(m.live_count() == 1);
  CHECK(m.live_octets() == 500);
  CHECK(m.deleted_count() == 3);
  CHECK(same(m.deleted_uids(), {{3, 4}, {9, 9}}));
  (*m.find(3))->retrieved = true;
  CHECK(same(m.seen_uids(), {{5, 5}}));
  m.reset_deletions();
  CHECK(m.live_count() == 4);
  CHECK(m.deleted_uids().empty());
}

TEST_CASE("maildrop locks: one holder per address, released with the handle") {
  MaildropLocks locks;
  auto a = locks.try_lock("alice@example.com");
  REQUIRE(a);
  CHECK_FALSE(locks.try_lock("alice@example.com"));
  auto b = locks.try_lock("bob@example.com");
  CHECK(b);
  CHECK(locks.held() == 2);
  a.reset();
  CHECK(locks.try_lock("alice@example.com"));
}
