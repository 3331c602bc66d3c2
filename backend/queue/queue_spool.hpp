// The queue's folder on disk:
//
//   <path>/incoming/   messages being received (MessageSpool files); a file
//                      here at start-up was never committed and is removed
//   <path>/msg/<id>    the message, CRLF, exactly as it will be stored
//   <path>/env/<id>    its Envelope (envelope_codec JSON)
//   <path>/corrupt/    messages whose envelope could not be read at start-up,
//                      set aside for the operator instead of being deleted
//
// A message is queued when both msg/<id> and env/<id> exist. commit writes
// msg first, then env; removal unlinks env first, then msg. So after a crash
// a msg without env is an unfinished commit (never acknowledged) and an env
// without msg an unfinished removal: both are orphans, removed at start-up.
//
// Every path is built from the queue's own ids (queue_id.hpp); an id from
// outside (posternctl) is checked with is_queue_id() first. BLOCKING.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "backend/queue/envelope.hpp"

namespace postern::node::queue {

struct SpooledMessage {
  std::string id;
  Envelope envelope;
  std::uint64_t size = 0;
};

class QueueSpool {
 public:
  explicit QueueSpool(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  std::string incoming_dir() const { return root_ + "/incoming"; }
  std::string msg_dir() const { return root_ + "/msg"; }
  std::string env_dir() const { return root_ + "/env"; }
  std::string msg_path(const std::string& id) const { return msg_dir() + "/" + id; }
  std::string env_path(const std::string& id) const { return env_dir() + "/" + id; }

  // Creates the folders that are missing (durably) and empties incoming/.
  tl::expected<void, std::string> prepare() const;

  // Moves a received file to msg/<id> without replacing anything: false when
  // msg/<id> exists already (pick another id).
  tl::expected<bool, std::string> adopt_message(const std::string& from,
                                                const std::string& id) const;
  // Writes a new env/<id>; not synced (the caller's group sync does that).
  tl::expected<void, std::string> create_envelope(const std::string& id,
                                                  const Envelope& envelope) const;
  // Replaces env/<id> (tmp + rename, not synced; see queue.cpp). false, and
  // nothing written, when env/<id> no longer exists: the message was deleted
  // (posternctl queue delete) meanwhile.
  tl::expected<bool, std::string> rewrite_envelope(const std::string& id,
                                                   const Envelope& envelope) const;
  // Removes env/<id>, then msg/<id>. false when neither existed.
  bool remove(const std::string& id) const;

  // Every queued message, in id order. Orphans are removed and messages with
  // an unreadable envelope moved to corrupt/ (both logged) when `repair`;
  // otherwise (posternctl, the node may be committing) they are skipped.
  tl::expected<std::vector<SpooledMessage>, std::string> scan(bool repair) const;

 private:
  std::string root_;
};

}  // namespace postern::node::queue
