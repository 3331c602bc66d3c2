// Queue ids: the names of a queued message's files (msg/<id>, env/<id>) and
// what the 250 reply and the logs report. 18 upper-case hex digits: 9 of the
// arrival second, 5 of a per-process counter, 4 random; so ids sort by
// arrival, two processes starting in the same second still differ, and an id
// is always a safe file name. Only ids that pass is_queue_id() ever become
// part of a path.
#pragma once

#include <string>
#include <string_view>

namespace postern::node::queue {

inline constexpr std::size_t kQueueIdMinLength = 12;
inline constexpr std::size_t kQueueIdMaxLength = 20;

// A new id, unique in this process; the caller makes sure no file has it
// (commit renames without replacing). Thread-safe.
std::string make_queue_id();

// 12 to 20 characters of [0-9A-F]: what make_queue_id() makes (with room to
// change its layout). Anything else (a path, "..", lower case) is refused.
bool is_queue_id(std::string_view text);

}  // namespace postern::node::queue
