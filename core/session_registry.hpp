// The open sessions of one protocol service, kept per event loop (the node's POP3 and SMTP, the
// proxy's sessions).
//
// A session lives on the loop that accepted it and only that loop touches
// its entry; the mutex guards the map of loops only. When its connection
// closes, the session calls the `ended` callback once; the entry is erased
// on the loop's next turn, never inside that call (STYLE.md rule 9).
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "core/event_loop.hpp"

namespace postern::core {

template <class Session>
class SessionRegistry {
 public:
  using Sessions = std::unordered_map<Session*, std::shared_ptr<Session>>;

  SessionRegistry() = default;
  SessionRegistry(const SessionRegistry&) = delete;
  SessionRegistry& operator=(const SessionRegistry&) = delete;
  ~SessionRegistry() {
    // The owner calls take() on every loop first. A session still here
    // belongs to a loop that is gone: freeing its connection would touch a
    // freed event base, so it is left to the process's exit.
    for (auto& [loop, sessions] : by_loop_) {
      for (auto& [raw, session] : sessions) new std::shared_ptr<Session>(std::move(session));
    }
  }

  // The callback a new session on `loop` gets, to call when it has ended.
  std::function<void(Session*)> ended(core::EventLoop& loop) {
    Sessions& sessions = of(loop);
    return [&loop, &sessions](Session* s) { loop.post([&sessions, s] { sessions.erase(s); }); };
  }
  // On `loop`.
  void add(core::EventLoop& loop, std::shared_ptr<Session> session) {
    Session* raw = session.get();
    of(loop).emplace(raw, std::move(session));
  }
  // Calls `fn(Session&)` for each session of `loop`, on `loop`. `fn` may end a
  // session: its removal is posted, so iterating stays safe.
  template <class Fn>
  void for_each(core::EventLoop& loop, Fn fn) {
    for (auto& [raw, session] : of(loop)) fn(*session);
  }
  // Hands over (and forgets) every session of `loop`, on `loop`: the process
  // stops. Removals they posted earlier find nothing.
  Sessions take(core::EventLoop& loop) {
    Sessions out;
    out.swap(of(loop));
    return out;
  }

 private:
  Sessions& of(core::EventLoop& loop) {
    std::lock_guard guard(mutex_);
    return by_loop_[&loop];  // std::map: references stay valid
  }

  std::mutex mutex_;
  std::map<core::EventLoop*, Sessions> by_loop_;
};

}  // namespace postern::core
