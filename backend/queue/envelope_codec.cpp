#include "backend/queue/envelope_codec.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace postern::node::queue {

namespace {

using nlohmann::json;

// Bumped when a field changes meaning; an unknown version is refused rather
// than misread.
constexpr int kVersion = 1;

struct DecodeError {
  std::string what;
};

const json& field(const json& object, const char* key, json::value_t type, const char* where) {
  auto it = object.find(key);
  if (it == object.end()) throw DecodeError{fmt::format("{}{}: missing", where, key)};
  bool ok =
      it->type() == type || (type == json::value_t::number_integer && it->is_number_unsigned());
  if (!ok) throw DecodeError{fmt::format("{}{}: wrong type", where, key)};
  return *it;
}

std::string text(const json& object, const char* key, const char* where = "") {
  return field(object, key, json::value_t::string, where).get<std::string>();
}

std::int64_t integer(const json& object, const char* key) {
  const json& v = field(object, key, json::value_t::number_integer, "");
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > INT64_MAX)
    throw DecodeError{fmt::format("{}: out of range", key)};
  return v.get<std::int64_t>();
}

bool boolean(const json& object, const char* key) {
  return field(object, key, json::value_t::boolean, "").get<bool>();
}

Route parse_route(const std::string& s) {
  if (s == "local") return Route::Local;
  if (s == "node") return Route::Node;
  if (s == "mx") return Route::Mx;
  throw DecodeError{fmt::format("recipients[].route: unknown \"{}\"", s)};
}

RecipientState parse_state(const std::string& s) {
  if (s == "pending") return RecipientState::Pending;
  if (s == "delivered") return RecipientState::Delivered;
  if (s == "failed") return RecipientState::Failed;
  throw DecodeError{fmt::format("recipients[].state: unknown \"{}\"", s)};
}

Recipient decode_recipient(const json& r) {
  if (!r.is_object()) throw DecodeError{"recipients[]: expected an object"};
  const char* where = "recipients[].";
  Recipient out;
  out.address = text(r, "address", where);
  if (out.address.empty()) throw DecodeError{"recipients[].address: empty"};
  out.route = parse_route(text(r, "route", where));
  out.node = text(r, "node", where);
  out.mailbox = text(r, "mailbox", where);
  out.notify = text(r, "notify", where);
  out.orcpt = text(r, "orcpt", where);
  out.state = parse_state(text(r, "state", where));
  out.last_reply = text(r, "last_reply", where);
  out.remote_mta = text(r, "remote_mta", where);
  return out;
}

}  // namespace

std::string_view route_name(Route route) {
  switch (route) {
    case Route::Local:
      return "local";
    case Route::Node:
      return "node";
    case Route::Mx:
      return "mx";
  }
  return "mx";
}

std::string_view state_name(RecipientState state) {
  switch (state) {
    case RecipientState::Pending:
      return "pending";
    case RecipientState::Delivered:
      return "delivered";
    case RecipientState::Failed:
      return "failed";
  }
  return "pending";
}

std::string encode_envelope(const Envelope& e) {
  json recipients = json::array();
  for (const Recipient& r : e.recipients) {
    recipients.push_back({{"address", r.address},
                          {"route", route_name(r.route)},
                          {"node", r.node},
                          {"mailbox", r.mailbox},
                          {"notify", r.notify},
                          {"orcpt", r.orcpt},
                          {"state", state_name(r.state)},
                          {"last_reply", r.last_reply},
                          {"remote_mta", r.remote_mta}});
  }
  json j = {{"v", kVersion},
            {"sender", e.sender},
            {"recipients", std::move(recipients)},
            {"ret", e.ret},
            {"envid", e.envid},
            {"eight_bit", e.eight_bit},
            {"smtputf8", e.smtputf8},
            {"client_helo", e.client_helo},
            {"client_address", e.client_address},
            {"auth_user", e.auth_user},
            {"is_bounce", e.is_bounce},
            {"arrival", e.arrival},
            {"next_attempt", e.next_attempt},
            {"attempts", e.attempts}};
  // Replace: addresses and replies come from the network and may hold
  // invalid UTF-8; they must not make the envelope unwritable.
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

tl::expected<Envelope, std::string> decode_envelope(std::string_view text_in) {
  json j = json::parse(text_in.begin(), text_in.end(), nullptr, false);
  if (j.is_discarded()) return tl::unexpected(std::string("not valid JSON"));
  if (!j.is_object()) return tl::unexpected(std::string("expected a JSON object"));
  try {
    if (integer(j, "v") != kVersion)
      return tl::unexpected(fmt::format("unsupported version {}", j["v"].dump()));
    Envelope e;
    e.sender = text(j, "sender");
    const json& recipients = field(j, "recipients", json::value_t::array, "");
    if (recipients.empty()) return tl::unexpected(std::string("recipients: empty"));
    for (const json& r : recipients) e.recipients.push_back(decode_recipient(r));
    e.ret = text(j, "ret");
    e.envid = text(j, "envid");
    e.eight_bit = boolean(j, "eight_bit");
    e.smtputf8 = boolean(j, "smtputf8");
    e.client_helo = text(j, "client_helo");
    e.client_address = text(j, "client_address");
    e.auth_user = text(j, "auth_user");
    e.is_bounce = boolean(j, "is_bounce");
    e.arrival = integer(j, "arrival");
    e.next_attempt = integer(j, "next_attempt");
    std::int64_t attempts = integer(j, "attempts");
    if (attempts < 0 || attempts > UINT32_MAX)
      return tl::unexpected(std::string("attempts: out of range"));
    e.attempts = static_cast<std::uint32_t>(attempts);
    return e;
  } catch (const DecodeError& error) {
    return tl::unexpected(error.what);
  }
}

}  // namespace postern::node::queue
