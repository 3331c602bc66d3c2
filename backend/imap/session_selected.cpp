// Selected-state commands (RFC 3501 6.4): CHECK, CLOSE, EXPUNGE, SEARCH,
// FETCH, STORE, COPY, UID, plus UNSELECT (RFC 3691), MOVE (RFC 6851), UID
// EXPUNGE (RFC 4315) and the CONDSTORE modifiers (RFC 7162).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "backend/imap/fetch_render.hpp"
#include "backend/imap/fetch_request.hpp"
#include "backend/imap/flags.hpp"
#include "backend/imap/imap_service.hpp"
#include "backend/imap/search_content.hpp"
#include "backend/imap/search_eval.hpp"
#include "backend/imap/search_program.hpp"
#include "backend/imap/session.hpp"
#include "backend/imap/session_worker.hpp"
#include "core/imap_string.hpp"
#include "core/log.hpp"

namespace postern::node::imap {

namespace {

// FETCH writes at most this much before waiting for the client to read.
constexpr std::size_t kFetchHighWater = 1024 * 1024;
// Messages rendered per step of an index-only FETCH on the loop.
constexpr std::size_t kIndexBatch = 4096;
// Messages loaded per worker job of a content FETCH.
constexpr std::size_t kContentBatch = 64;

std::optional<core::imap::SequenceSet> sequence_arg(const core::imap::Token& t) {
  if (t.kind != core::imap::Token::Kind::Atom) return std::nullopt;
  return core::imap::parse_sequence_set(t.text);
}

std::optional<std::uint64_t> number_arg(const core::imap::Token& t) {
  if (t.kind != core::imap::Token::Kind::Atom || t.text.empty() || t.text.size() > 20 ||
      t.text.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return std::stoull(t.text);
}

}  // namespace

// One FETCH command in progress.
struct FetchJob {
  std::string tag;
  bool uid = false;
  std::shared_ptr<FetchRequest> request;
  std::vector<std::uint32_t> indexes;  // into the view, ascending
  std::vector<store::Uid> seen_set;    // \Seen was just set on these (ascending)
  std::size_t next = 0;
  bool missing = false;  // some message was expunged meanwhile
};

void Session::cmd_uid(Command& c) {
  if (c.args.empty() || c.args[0].kind != Token::Kind::Atom) {
    return reject(c.tag, "UID expects FETCH, SEARCH, STORE, COPY, MOVE or EXPUNGE.");
  }
  std::string sub = c.args[0].text;
  std::transform(sub.begin(), sub.end(), sub.begin(), ::toupper);
  c.args.erase(c.args.begin());
  if (sub == "FETCH") return cmd_fetch(c, true);
  if (sub == "SEARCH") return cmd_search(c, true);
  if (sub == "STORE") return cmd_store(c, true);
  if (sub == "COPY") return cmd_copy(c, true, false);
  if (sub == "MOVE") return cmd_copy(c, true, true);
  if (sub == "EXPUNGE") return cmd_expunge(c, true);
  reject(c.tag, "UID expects FETCH, SEARCH, STORE, COPY, MOVE or EXPUNGE.");
}

void Session::cmd_check(Command& c) {
  if (!c.args.empty()) return reject(c.tag, "CHECK takes no arguments.");
  changes_pending_ = true;  // every commit is already durable; just report news
  complete(c.tag, "OK", "Check completed.");
}

void Session::cmd_close(Command& c, bool expunge) {
  if (!c.args.empty()) return reject(c.tag, "Unexpected arguments.");
  if (!expunge || selected_->read_only()) {
    close_mailbox();
    return complete(c.tag, "OK", expunge ? "Close completed." : "Unselect completed.");
  }
  // CLOSE expunges silently (RFC 3501 6.4.2).
  auto account = account_;
  store::MailboxId id = selected_->id();
  close_mailbox();
  on_worker(
      c.tag, [account, id] { return account->expunge(id); },
      [this, tag = c.tag, id](store::StoreResult<std::vector<store::Uid>> r) {
        if (!r) return store_failed(tag, r.error(), "close");
        expunged_ += r->size();
        if (!r->empty()) service_.hub().changed(user_, id, watcher_.get());
        complete(tag, "OK", "Close completed.");
      });
}

void Session::cmd_expunge(Command& c, bool uid) {
  std::optional<store::UidSet> uids;
  if (uid) {
    if (c.args.size() != 1) return reject(c.tag, "UID EXPUNGE expects a UID set.");
    auto set = sequence_arg(c.args[0]);
    if (!set) return reject(c.tag, "Invalid UID set.");
    uids.emplace();
    for (const auto& r : set->normalized(std::max<store::Uid>(selected_->max_uid(), 1)))
      uids->push_back({r.first, r.last});
  } else if (!c.args.empty()) {
    return reject(c.tag, "EXPUNGE takes no arguments.");
  }
  if (selected_->read_only()) return complete(c.tag, "NO", "[READ-ONLY] Mailbox is read-only.");
  auto account = account_;
  store::MailboxId id = selected_->id();
  on_worker(
      c.tag, [account, id, uids] { return account->expunge(id, uids); },
      [this, tag = c.tag, id](store::StoreResult<std::vector<store::Uid>> r) {
        if (!r) return store_failed(tag, r.error(), "expunge");
        expunged_ += r->size();
        if (selected_ && selected_->id() == id) {
          std::string out;
          selected_->expunge(*r, out);
          send(out);
        }
        if (!r->empty()) service_.hub().changed(user_, id, watcher_.get());
        complete(tag, "OK", "Expunge completed.");
      });
}

void Session::cmd_search(Command& c, bool uid) {
  expunge_ok_ = uid;
  auto program = parse_search(c.args);
  if (!program) {
    if (program.error().bad_charset) {
      return complete(c.tag, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset.");
    }
    return reject(c.tag, program.error().message);
  }
  if (program->uses_modseq()) condstore_ = true;
  // The evaluator works on a snapshot, so the view may change meanwhile.
  struct Snapshot {
    std::vector<store::MessageInfo> messages;
    std::vector<std::string> keyword_names;
    store::RecentRange recent;
  };
  auto snap = std::make_shared<Snapshot>();
  snap->messages = selected_->messages();
  snap->keyword_names = selected_->keyword_names();
  snap->recent = selected_->recent_hull();
  auto account = account_;
  store::MailboxId id = selected_->id();
  auto prog = std::make_shared<SearchProgram>(std::move(*program));
  auto answer = [this, tag = c.tag, uid, snap,
                 prog](tl::expected<std::vector<std::uint32_t>, store::StoreError> r) {
    if (!r) return store_failed(tag, r.error(), "search");
    std::string out = "* SEARCH";
    store::ModSeq top = 0;
    for (std::uint32_t i : *r) {
      const auto& m = snap->messages[i];
      std::uint32_t n = uid ? m.uid : selected_->seq_of(m.uid);
      if (n == 0) continue;  // expunged from the view meanwhile
      fmt::format_to(std::back_inserter(out), " {}", n);
      top = std::max(top, m.modseq);
    }
    if (prog->uses_modseq() && top) fmt::format_to(std::back_inserter(out), " (MODSEQ {})", top);
    out += "\r\n";
    send(out);
    complete(tag, "OK", "Search completed.");
  };
  if (!prog->needs_content()) {
    SearchMailbox box{snap->messages, snap->keyword_names, snap->recent};
    return answer(run_search(*prog, box, nullptr));
  }
  on_worker(
      c.tag,
      [account, id, snap, prog] {
        auto source = store_content_source(*account, id);
        SearchMailbox box{snap->messages, snap->keyword_names, snap->recent};
        return run_search(*prog, box, source.get());
      },
      std::move(answer));
}

void Session::cmd_store(Command& c, bool uid) {
  expunge_ok_ = uid;
  // STORE set [(UNCHANGEDSINCE n)] (+|-)FLAGS[.SILENT] flags
  if (c.args.size() < 3) return reject(c.tag, "STORE expects a set, an item and flags.");
  auto set = sequence_arg(c.args[0]);
  if (!set) return reject(c.tag, "Invalid sequence set.");
  std::size_t at = 1;
  std::optional<store::ModSeq> unchanged_since;
  if (c.args[1].kind == Token::Kind::List) {
    const auto& mods = c.args[1].children;
    if (mods.size() != 2 || strcasecmp(mods[0].text.c_str(), "UNCHANGEDSINCE") != 0) {
      return reject(c.tag, "Unknown STORE modifier.");
    }
    unchanged_since = number_arg(mods[1]);
    if (!unchanged_since) return reject(c.tag, "UNCHANGEDSINCE expects a number.");
    condstore_ = true;
    at = 2;
  }
  std::string item = c.args[at].text;
  std::transform(item.begin(), item.end(), item.begin(), ::toupper);
  bool silent = false;
  if (item.size() > 7 && item.ends_with(".SILENT")) {
    silent = true;
    item.resize(item.size() - 7);
  }
  store::FlagMode mode;
  if (item == "FLAGS") {
    mode = store::FlagMode::Replace;
  } else if (item == "+FLAGS") {
    mode = store::FlagMode::Add;
  } else if (item == "-FLAGS") {
    mode = store::FlagMode::Remove;
  } else {
    return reject(c.tag, "STORE expects FLAGS, +FLAGS or -FLAGS.");
  }
  if (at + 1 >= c.args.size()) return reject(c.tag, "STORE expects flags.");
  auto flags = parse_store_flags(std::span(c.args).subspan(at + 1));
  if (!flags) return reject(c.tag, flags.error());
  if (selected_->read_only()) return complete(c.tag, "NO", "[READ-ONLY] Mailbox is read-only.");
  auto indexes = selected_->resolve(*set, uid);
  if (indexes.empty()) return complete(c.tag, "OK", "Store completed.");
  auto uids = selected_->uid_set(indexes);
  auto account = account_;
  store::MailboxId id = selected_->id();
  on_worker(
      c.tag,
      [account, id, uids, mode, flags = std::move(*flags), unchanged_since] {
        return account->store_flags(id, uids, mode, flags.flags, flags.keywords, unchanged_since);
      },
      [this, tag = c.tag, uid, silent, id](store::StoreResult<store::FlagUpdate> r) {
        if (!r) return store_failed(tag, r.error(), "store");
        if (!selected_ || selected_->id() != id) return complete(tag, "OK", "Store completed.");
        selected_->update(r->messages);
        std::string out;
        for (const auto& m : r->messages.messages) {
          std::uint32_t seq = selected_->seq_of(m.uid);
          if (seq == 0) continue;
          // .SILENT: no echo of our own change; with CONDSTORE the new
          // MODSEQ is still worth telling (RFC 7162 3.1.3).
          if (silent && !(condstore_ && m.modseq == r->modseq)) continue;
          fmt::format_to(std::back_inserter(out), "* {} FETCH (", seq);
          if (!silent) {
            out += "FLAGS ";
            append_flags(out, m.flags, m.keywords, selected_->keyword_names(),
                         selected_->is_recent(m.uid));
          }
          if (uid) fmt::format_to(std::back_inserter(out), "{}UID {}", silent ? "" : " ", m.uid);
          if (condstore_) {
            fmt::format_to(std::back_inserter(out), "{}MODSEQ ({})", (silent && !uid) ? "" : " ",
                           m.modseq);
          }
          out += ")\r\n";
        }
        send(out);
        if (r->modseq) service_.hub().changed(user_, id, watcher_.get());
        if (!r->modified.empty()) {
          std::vector<store::Uid> numbers;
          for (store::Uid u : r->modified) {
            std::uint32_t n = uid ? u : selected_->seq_of(u);
            if (n) numbers.push_back(n);
          }
          std::sort(numbers.begin(), numbers.end());
          return complete(tag, "OK",
                          fmt::format("[MODIFIED {}] Conditional STORE failed for some messages.",
                                      SelectedMailbox::format_uids(numbers)));
        }
        complete(tag, "OK", "Store completed.");
      });
}

void Session::cmd_copy(Command& c, bool uid, bool move) {
  if (c.args.size() != 2) return reject(c.tag, "Expected a sequence set and a mailbox name.");
  auto set = sequence_arg(c.args[0]);
  if (!set) return reject(c.tag, "Invalid sequence set.");
  auto name = mailbox_arg(c.tag, c.args[1]);
  if (!name) return;
  if (move && selected_->read_only()) {
    return complete(c.tag, "NO", "[READ-ONLY] Mailbox is read-only.");
  }
  auto indexes = selected_->resolve(*set, uid);
  const char* done = move ? "Move completed." : "Copy completed.";
  if (indexes.empty()) {
    if (!uid) return reject(c.tag, "No such message.");
    return complete(c.tag, "OK", done);
  }
  auto uids = selected_->uid_set(indexes);
  auto account = account_;
  store::MailboxId from = selected_->id();
  struct Copied {
    store::MailboxId to = 0;
    store::CopyResult result;
  };
  on_worker(
      c.tag,
      [account, from, uids, n = *name, move]() -> store::StoreResult<Copied> {
        auto to = account->find_mailbox(n);
        if (!to) return tl::unexpected(to.error());
        if (!to->selectable) return tl::unexpected(store::StoreError::NotAllowed);
        auto r = move ? account->move(from, uids, to->id) : account->copy(from, uids, to->id);
        if (!r) return tl::unexpected(r.error());
        return Copied{to->id, std::move(*r)};
      },
      [this, tag = c.tag, from, move, done](store::StoreResult<Copied> r) {
        if (!r) {
          if (r.error() == store::StoreError::NoSuchMailbox) {
            return complete(tag, "NO", "[TRYCREATE] Destination mailbox does not exist.");
          }
          return store_failed(tag, r.error(), move ? "move" : "copy");
        }
        std::string code;
        std::vector<store::Uid> src, dst;
        for (const auto& m : r->result.uids) {
          src.push_back(m.from);
          dst.push_back(m.to);
        }
        if (!src.empty()) {
          code = fmt::format("[COPYUID {} {} {}] ", r->result.uidvalidity,
                             SelectedMailbox::format_uids(src), SelectedMailbox::format_uids(dst));
        }
        service_.hub().changed(user_, r->to, watcher_.get());
        if (selected_ && selected_->id() == r->to) changes_pending_ = true;
        if (!move) return complete(tag, "OK", code + done);
        // RFC 6851: COPYUID in an untagged OK, then the EXPUNGEs.
        std::string out;
        if (!code.empty()) out = fmt::format("* OK {}Moved.\r\n", code);
        if (selected_ && selected_->id() == from) selected_->expunge(src, out);
        send(out);
        expunged_ += src.size();
        service_.hub().changed(user_, from, watcher_.get());
        complete(tag, "OK", done);
      });
}

void Session::cmd_fetch(Command& c, bool uid) {
  expunge_ok_ = uid;
  if (c.args.size() < 2) return reject(c.tag, "FETCH expects a sequence set and data items.");
  auto set = sequence_arg(c.args[0]);
  if (!set) return reject(c.tag, "Invalid sequence set.");
  auto request = parse_fetch(std::span(c.args).subspan(1), uid);
  if (!request) return reject(c.tag, request.error());
  auto indexes = selected_->resolve(*set, uid);
  const bool has_star = std::any_of(set->ranges.begin(), set->ranges.end(), [](const auto& r) {
    return r.first == core::imap::SequenceSet::kStar || r.last == core::imap::SequenceSet::kStar;
  });
  if (indexes.empty() && !uid && !has_star) {
    // A sequence number beyond EXISTS is a client error (RFC 3501 6.4.5);
    // "1:*" in an empty mailbox simply matches nothing.
    return reject(c.tag, "Invalid message sequence number.");
  }
  if (request->changed_since) {
    condstore_ = true;
    std::erase_if(indexes, [&](std::uint32_t i) {
      return selected_->messages()[i].modseq <= *request->changed_since;
    });
  }
  auto req = std::make_shared<FetchRequest>(std::move(*request));
  // Set \Seen first where the items imply it, so FLAGS in the answer is true.
  std::vector<std::uint32_t> unseen;
  if (req->sets_seen() && !selected_->read_only()) {
    for (std::uint32_t i : indexes)
      if (!(selected_->messages()[i].flags & store::kFlagSeen)) unseen.push_back(i);
  }
  if (unseen.empty()) return fetch_messages(c.tag, uid, req, std::move(indexes), {});
  auto uids = selected_->uid_set(unseen);
  auto account = account_;
  store::MailboxId id = selected_->id();
  on_worker(
      c.tag,
      [account, id, uids] {
        return account->store_flags(id, uids, store::FlagMode::Add, store::kFlagSeen, {});
      },
      [this, tag = c.tag, uid, req, id,
       indexes = std::move(indexes)](store::StoreResult<store::FlagUpdate> r) mutable {
        std::vector<store::Uid> seen;
        if (r && selected_ && selected_->id() == id) {
          selected_->update(r->messages);
          for (const auto& m : r->messages.messages)
            if (m.modseq == r->modseq) seen.push_back(m.uid);
          if (r->modseq) service_.hub().changed(user_, id, watcher_.get());
        }
        if (!selected_ || selected_->id() != id) return complete(tag, "OK", "Fetch completed.");
        fetch_messages(tag, uid, req, std::move(indexes), std::move(seen));
      });
}

void Session::fetch_messages(std::string tag, bool uid, std::shared_ptr<FetchRequest> request,
                             std::vector<std::uint32_t> indexes, std::vector<store::Uid> seen_set) {
  auto job = std::make_shared<FetchJob>();
  job->tag = std::move(tag);
  job->uid = uid;
  job->request = std::move(request);
  job->indexes = std::move(indexes);
  job->seen_set = std::move(seen_set);
  fetch_batch(job);
}

void Session::write_chunks(std::vector<Chunk>& chunks) {
  // A stream is never held: files go to the connection directly, and its
  // flow control waits for the connection's output to drain.
  release_output();
  for (auto& ch : chunks) {
    if (!ch.file) {
      send(ch.text);
      continue;
    }
    int fd = ::dup(ch.file->get());
    if (fd < 0 || !conn_->write_file(fd, static_cast<off_t>(ch.offset), ch.length)) {
      core::log_warn("imap_fetch_write_failed").kv("user", user_);
      conn_->close();
      return;
    }
    fetched_bytes_ += ch.length;
    service_.metrics().fetched_bytes.inc(ch.length);
  }
}

void Session::fetch_batch(std::shared_ptr<FetchJob> job) {
  if (closed_) return;
  if (!selected_) return complete(job->tag, "OK", "Fetch completed.");
  if (job->next >= job->indexes.size()) {
    if (job->missing) {
      return complete(job->tag, job->uid ? "OK" : "NO",
                      "[EXPUNGEISSUED] Some messages were expunged meanwhile.");
    }
    return complete(job->tag, "OK", "Fetch completed.");
  }
  auto seen = [&](store::Uid u) {
    return std::binary_search(job->seen_set.begin(), job->seen_set.end(), u);
  };
  const auto& messages = selected_->messages();
  if (job->request->index_only()) {
    FetchOutput out;
    std::size_t end = std::min(job->indexes.size(), job->next + kIndexBatch);
    for (; job->next < end; ++job->next) {
      std::uint32_t i = job->indexes[job->next];
      if (i >= messages.size()) continue;  // the view shrank (EXPUNGE is not sent now, though)
      const auto& m = messages[i];
      FetchMessage fm{i + 1, &m, selected_->keyword_names(), selected_->is_recent(m.uid),
                      seen(m.uid)};
      (void)render_fetch(*job->request, fm, nullptr, out);
    }
    auto chunks = out.take();
    write_chunks(chunks);
  } else {
    // Load and render a batch on a worker; the view's entries are copied so
    // the worker never touches session state.
    struct Item {
      std::uint32_t seq;
      store::MessageInfo info;
      bool recent;
      bool seen;
    };
    std::vector<Item> batch;
    std::size_t end = std::min(job->indexes.size(), job->next + kContentBatch);
    for (; job->next < end; ++job->next) {
      std::uint32_t i = job->indexes[job->next];
      if (i >= messages.size()) continue;
      const auto& m = messages[i];
      batch.push_back(Item{i + 1, m, selected_->is_recent(m.uid), seen(m.uid)});
    }
    struct Rendered {
      std::vector<Chunk> chunks;
      bool missing = false;
      bool unknown_cte = false;
    };
    auto account = account_;
    store::MailboxId id = selected_->id();
    auto names = std::make_shared<std::vector<std::string>>(selected_->keyword_names());
    on_worker(
        job->tag,
        [account, id, names, batch = std::move(batch), request = job->request] {
          Rendered r;
          FetchOutput out;
          for (const auto& item : batch) {
            auto content = load_content(*account, id, item.info.uid, *request);
            if (!content) {
              r.missing = true;  // expunged meanwhile (or unreadable: logged by the store)
              continue;
            }
            FetchMessage fm{item.seq, &item.info, *names, item.recent, item.seen};
            if (!render_fetch(*request, fm, &*content, out)) r.unknown_cte = true;
          }
          r.chunks = out.take();
          return r;
        },
        [this, job](Rendered r) {
          if (r.unknown_cte) {
            return complete(job->tag, "NO",
                            "[UNKNOWN-CTE] Cannot decode the content transfer encoding.");
          }
          job->missing = job->missing || r.missing;
          write_chunks(r.chunks);
          if (closed_) return;
          if (conn_->output_pending() > kFetchHighWater) {
            on_drained_ = [this, job] { fetch_batch(job); };
          } else {
            fetch_batch(job);
          }
        });
    return;
  }
  if (conn_->output_pending() > kFetchHighWater) {
    on_drained_ = [this, job] { fetch_batch(job); };
    return;
  }
  // Let other sessions on this loop run between batches.
  std::weak_ptr<Session> weak = weak_from_this();
  loop_.post([weak, job] {
    if (auto self = weak.lock()) self->fetch_batch(job);
  });
}

}  // namespace postern::node::imap
