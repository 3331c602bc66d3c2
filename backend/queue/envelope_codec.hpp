// The on-disk form of an Envelope (env/<id> in the queue folder): one JSON
// object, written whole (tmp + rename), read at start-up and by posternctl.
//
//   {"v": 1, "sender": "a@example.org", "ret": "HDRS", "envid": "", ...,
//    "recipients": [{"address": "b@example.com", "route": "local", "mailbox": "",
//                    "state": "pending", "last_reply": "", ...}], "attempts": 0, ...}
//
// decode_envelope() checks every field's type and every enum's spelling: a
// malformed file (a torn write, an edit by hand) is an error naming the field,
// never a half-filled Envelope.
#pragma once

#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "backend/queue/envelope.hpp"

namespace postern::node::queue {

std::string encode_envelope(const Envelope& envelope);
tl::expected<Envelope, std::string> decode_envelope(std::string_view text);

std::string_view route_name(Route route);           // "local" | "node" | "mx"
std::string_view state_name(RecipientState state);  // "pending" | "delivered" | "failed"

}  // namespace postern::node::queue
