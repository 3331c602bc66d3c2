// The API's handlers, one per route (api_router.cpp's table), grouped by
// area: api_auth.cpp, api_folders.cpp, api_messages.cpp (reading),
// api_parts.cpp (raw, parts, body.html), api_changes.cpp (flags, move, copy,
// delete), api_compose.cpp (send, drafts), api_prefill.cpp (compose prefill).
#pragma once

#include <memory>

namespace postern::node::webmail {

class ApiCall;
using CallPtr = std::shared_ptr<ApiCall>;

void api_login(CallPtr call);
void api_logout(CallPtr call);
void api_session(CallPtr call);

void api_folders(CallPtr call);
void api_message_list(CallPtr call);
void api_message(CallPtr call);

void api_body_html(CallPtr call);
void api_raw(CallPtr call);
void api_part(CallPtr call);

void api_flags(CallPtr call);
void api_move(CallPtr call);
void api_copy(CallPtr call);
void api_delete(CallPtr call);

void api_compose(CallPtr call);
void api_send(CallPtr call);
void api_draft(CallPtr call);

}  // namespace postern::node::webmail
