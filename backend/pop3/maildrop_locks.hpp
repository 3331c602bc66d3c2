// One POP3 session per maildrop at a time (RFC 1939 section 8: the server
// acquires an exclusive lock on the maildrop; a second session gets
// "-ERR [IN-USE]", RFC 2449 section 8.1.1). Keyed by canonical address; a lock
// is held as long as its handle lives, which the session hands to its UPDATE
// job so that a new session cannot read the maildrop before the deletions of
// the previous one are done.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace postern::node::pop3 {

class MaildropLocks {
  struct State {
    mutable std::mutex mutex;
    std::set<std::string> held;  // guarded by mutex
  };

 public:
  class Lock {
   public:
    Lock(const Lock&) = delete;
    Lock& operator=(const Lock&) = delete;
    ~Lock();

   private:
    friend class MaildropLocks;
    Lock(std::shared_ptr<State> state, std::string address)
        : state_(std::move(state)), address_(std::move(address)) {}
    std::shared_ptr<State> state_;
    std::string address_;
  };

  MaildropLocks() : state_(std::make_shared<State>()) {}

  // nullptr when another session holds `address`. Thread-safe.
  std::shared_ptr<Lock> try_lock(const std::string& address);
  std::size_t held() const;

 private:
  // Shared with the locks, which may outlive the registry's owner.
  std::shared_ptr<State> state_;
};

}  // namespace postern::node::pop3
