// RAII ownership for the C handles Postern uses. Every handle from a C library
// lives in one of these from the moment it is created, so no path can leak or
// double-free it (STYLE.md rule 15).
#pragma once

#include <memory>

struct event_base;
struct event;
struct bufferevent;
struct evconnlistener;

namespace postern::core {

// A deleter that calls a C free function, ignoring null.
template <auto FreeFn>
struct CDeleter {
  template <class T>
  void operator()(T* p) const noexcept {
    if (p != nullptr) FreeFn(p);
  }
};

template <class T, auto FreeFn>
using CHandle = std::unique_ptr<T, CDeleter<FreeFn>>;

void free_event_base(event_base* b) noexcept;
void free_event(event* e) noexcept;

using EventBasePtr = std::unique_ptr<event_base, CDeleter<free_event_base>>;
using EventPtr = std::unique_ptr<event, CDeleter<free_event>>;

}  // namespace postern::core
