// Authenticated-state commands (RFC 3501 6.3): SELECT, EXAMINE, CREATE,
// DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND, plus
// NAMESPACE (RFC 2342) and IDLE (RFC 2177).
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "backend/delivery/local_delivery.hpp"
#include "backend/delivery/message_spool.hpp"
#include "backend/imap/flags.hpp"
#include "backend/imap/imap_date.hpp"
#include "backend/imap/imap_service.hpp"
#include "backend/imap/list_match.hpp"
#include "backend/imap/session.hpp"
#include "backend/imap/session_worker.hpp"
#include "backend/store/group_commit.hpp"
#include "core/imap_string.hpp"
#include "core/log.hpp"

namespace postern::node::imap {

namespace {

std::string quoted_name(const std::string& utf8) {
  return core::imap::imap_quote(core::imap::utf8_to_mutf7(utf8));
}

std::string list_attributes(const store::MailboxInfo& m) {
  std::vector<std::string_view> attrs;
  if (!m.selectable) attrs.push_back("\\Noselect");
  attrs.push_back(m.has_children ? "\\HasChildren" : "\\HasNoChildren");
  if (!m.special_use.empty()) attrs.push_back(m.special_use);
  return fmt::format("{}", fmt::join(attrs, " "));
}

}  // namespace

void Session::close_mailbox() {
  watch_.reset();
  selected_.reset();
  changes_pending_ = false;
  if (state_ == State::Selected) state_ = State::Authenticated;
}

void Session::cmd_select(Command& c, bool read_only) {
  if (c.args.empty() || c.args.size() > 2) {
    return reject(c.tag, "SELECT expects a mailbox name.");
  }
  if (c.args.size() == 2) {  // RFC 7162: SELECT box (CONDSTORE)
    const Token& p = c.args[1];
    if (p.kind != Token::Kind::List || p.children.size() != 1 ||
        strcasecmp(p.children[0].text.c_str(), "CONDSTORE") != 0) {
      return reject(c.tag, "Unknown SELECT parameter.");
    }
    condstore_ = true;
  }
  auto name = mailbox_arg(c.tag, c.args[0]);
  if (!name) return;
  if (selected_) {
    close_mailbox();
    send("* OK [CLOSED] Previous mailbox closed.\r\n");
  }
  struct Opened {
    store::MailboxInfo info;
    store::MailboxStatus status;
    store::MessageList list;
    store::RecentRange recent;
  };
  auto account = account_;
  on_worker(
      c.tag,
      [account, name = *name, read_only]() -> store::StoreResult<Opened> {
        auto info = account->find_mailbox(name);
        if (!info) return tl::unexpected(info.error());
        if (!info->selectable) return tl::unexpected(store::StoreError::NotAllowed);
        Opened o;
        o.info = *info;
        // The list first: a message added between the two calls is then in
        // neither or in the status only, and the first sync picks it up.
        auto status = account->status(info->id);
        if (!status) return tl::unexpected(status.error());
        auto list = account->list(info->id);
        if (!list) return tl::unexpected(list.error());
        if (!read_only) {
          auto recent = account->claim_recent(info->id);
          if (recent) o.recent = *recent;
        }
        o.status = *status;
        o.list = std::move(*list);
        return o;
      },
      [this, tag = c.tag, read_only](store::StoreResult<Opened> r) {
        if (!r) return store_failed(tag, r.error(), "select");
        Opened& o = *r;
        // Status and list were read in two statements; trust the list.
        store::MailboxStatus status = o.status;
        if (!o.list.messages.empty()) {
          status.uidnext = std::max(status.uidnext, o.list.messages.back().uid + 1);
        }
        for (const auto& m : o.list.messages)
          status.highest_modseq = std::max(status.highest_modseq, m.modseq);
        selected_.emplace(o.info, read_only, std::move(o.list), status);
        selected_->add_recent(o.recent);
        state_ = State::Selected;
        watch_ = service_.hub().watch(user_, o.info.id, watcher());
        std::string out = selected_->flags_lines();
        fmt::format_to(std::back_inserter(out), "* {} EXISTS\r\n* {} RECENT\r\n",
                       selected_->exists(), selected_->recent_count());
        if (std::uint32_t u = selected_->first_unseen()) {
          fmt::format_to(std::back_inserter(out), "* OK [UNSEEN {}] First unseen.\r\n", u);
        }
        fmt::format_to(std::back_inserter(out),
                       "* OK [UIDVALIDITY {}] UIDs valid.\r\n* OK [UIDNEXT {}] Predicted next "
                       "UID.\r\n* OK [HIGHESTMODSEQ {}] Highest.\r\n",
                       selected_->uidvalidity(), status.uidnext, status.highest_modseq);
        send(out);
        complete(tag, "OK",
                 read_only ? "[READ-ONLY] Examine completed." : "[READ-WRITE] Select completed.");
      });
}

void Session::cmd_create(Command& c) {
  if (c.args.size() != 1) return reject(c.tag, "CREATE expects a mailbox name.");
  auto name = mailbox_arg(c.tag, c.args[0]);
  if (!name) return;
  // RFC 3501: a trailing delimiter says the client means to create children.
  while (name->size() > 1 && name->back() == kDelimiter) name->pop_back();
  auto account = account_;
  on_worker(
      c.tag, [account, n = *name] { return account->create_mailbox(n); },
      [this, tag = c.tag](store::StoreResult<store::MailboxInfo> r) {
        if (!r) return store_failed(tag, r.error(), "create");
        complete(tag, "OK", "Create completed.");
      });
}

void Session::cmd_delete(Command& c) {
  if (c.args.size() != 1) return reject(c.tag, "DELETE expects a mailbox name.");
  auto name = mailbox_arg(c.tag, c.args[0]);
  if (!name) return;
  auto account = account_;
  on_worker(
      c.tag,
      [account, n = *name]() -> store::StoreResult<store::MailboxId> {
        auto info = account->find_mailbox(n);
        if (!info) return tl::unexpected(info.error());
        auto r = account->delete_mailbox(n);
        if (!r) return tl::unexpected(r.error());
        return info->id;
      },
      [this, tag = c.tag](store::StoreResult<store::MailboxId> r) {
        if (!r) return store_failed(tag, r.error(), "delete");
        service_.hub().changed(user_, *r, watcher_.get());
        complete(tag, "OK", "Delete completed.");
      });
}

void Session::cmd_rename(Command& c) {
  if (c.args.size() != 2) return reject(c.tag, "RENAME expects two mailbox names.");
  auto from = mailbox_arg(c.tag, c.args[0]);
  if (!from) return;
  auto to = mailbox_arg(c.tag, c.args[1]);
  if (!to) return;
  auto account = account_;
  on_worker(
      c.tag, [account, f = *from, t = *to] { return account->rename_mailbox(f, t); },
      [this, tag = c.tag](store::StoreResult<void> r) {
        if (!r) return store_failed(tag, r.error(), "rename");
        complete(tag, "OK", "Rename completed.");
      });
}

void Session::cmd_subscribe(Command& c, bool subscribe) {
  if (c.args.size() != 1) return reject(c.tag, "Expected a mailbox name.");
  auto name = mailbox_arg(c.tag, c.args[0]);
  if (!name) return;
  auto account = account_;
  on_worker(
      c.tag,
      [account, n = *name, subscribe] {
        return subscribe ? account->subscribe(n) : account->unsubscribe(n);
      },
      [this, tag = c.tag, subscribe](store::StoreResult<void> r) {
        if (!r) return store_failed(tag, r.error(), "subscribe");
        complete(tag, "OK", subscribe ? "Subscribe completed." : "Unsubscribe completed.");
      });
}

void Session::cmd_list(Command& c, bool lsub) {
  if (c.args.size() != 2 || c.args[0].kind == Token::Kind::List ||
      c.args[1].kind == Token::Kind::List) {
    return reject(c.tag, "LIST expects a reference and a mailbox pattern.");
  }
  auto reference = core::imap::mutf7_to_utf8(c.args[0].text);
  auto pattern = core::imap::mutf7_to_utf8(c.args[1].text);
  if (!reference || !pattern) return reject(c.tag, "Pattern is not valid modified UTF-7.");
  const char* word = lsub ? "LSUB" : "LIST";
  if (pattern->empty() && !lsub) {
    // RFC 3501: the hierarchy delimiter and the root of the reference.
    send("* LIST (\\Noselect) \"/\" \"\"\r\n");
    return complete(c.tag, "OK", "List completed.");
  }
  std::string full = list_combine(*reference, *pattern);
  auto account = account_;
  struct Listing {
    std::vector<store::MailboxInfo> mailboxes;
    std::vector<std::string> subscriptions;
  };
  on_worker(
      c.tag,
      [account, lsub]() -> store::StoreResult<Listing> {
        Listing l;
        auto m = account->list_mailboxes();
        if (!m) return tl::unexpected(m.error());
        l.mailboxes = std::move(*m);
        if (lsub) {
          auto s = account->subscriptions();
          if (!s) return tl::unexpected(s.error());
          l.subscriptions = std::move(*s);
        }
        return l;
      },
      [this, tag = c.tag, full, lsub, word](store::StoreResult<Listing> r) {
        if (!r) return store_failed(tag, r.error(), "list");
        std::string out;
        if (!lsub) {
          for (const auto& m : r->mailboxes) {
            if (!list_match(full, m.name)) continue;
            fmt::format_to(std::back_inserter(out), "* LIST ({}) \"/\" {}\r\n", list_attributes(m),
                           quoted_name(m.name));
          }
        } else {
          std::set<std::string> subscribed(r->subscriptions.begin(), r->subscriptions.end());
          std::set<std::string> shown;
          for (const auto& s : r->subscriptions) {
            if (list_match(full, s)) {
              if (shown.insert(s).second) {
                fmt::format_to(std::back_inserter(out), "* LSUB () \"/\" {}\r\n", quoted_name(s));
              }
              continue;
            }
            // RFC 3501 6.3.9: when "%" stops short of a subscribed name, its
            // unsubscribed parent that matches is listed as \Noselect.
            for (auto pos = s.find(kDelimiter); pos != std::string::npos;
                 pos = s.find(kDelimiter, pos + 1)) {
              std::string parent = s.substr(0, pos);
              if (subscribed.count(parent) || !list_match(full, parent)) continue;
              if (shown.insert(parent).second) {
                fmt::format_to(std::back_inserter(out), "* LSUB (\\Noselect) \"/\" {}\r\n",
                               quoted_name(parent));
              }
            }
          }
        }
        send(out);
        complete(tag, "OK", fmt::format("{} completed.", word));
      });
}

void Session::cmd_status(Command& c) {
  if (c.args.size() != 2 || c.args[1].kind != Token::Kind::List || c.args[1].children.empty()) {
    return reject(c.tag, "STATUS expects a mailbox name and a list of items.");
  }
  static const std::set<std::string> known = {"MESSAGES",    "RECENT", "UIDNEXT",
                                              "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ"};
  std::vector<std::string> items;
  for (const auto& t : c.args[1].children) {
    std::string item = t.text;
    std::transform(item.begin(), item.end(), item.begin(), ::toupper);
    if (t.kind != Token::Kind::Atom || !known.count(item)) {
      return reject(c.tag, fmt::format("Unknown STATUS item {}.", t.text));
    }
    items.push_back(item);
  }
  auto name = mailbox_arg(c.tag, c.args[0]);
  if (!name) return;
  auto account = account_;
  on_worker(
      c.tag,
      [account,
       n = *name]() -> store::StoreResult<std::pair<store::MailboxInfo, store::MailboxStatus>> {
        auto info = account->find_mailbox(n);
        if (!info) return tl::unexpected(info.error());
        if (!info->selectable) return tl::unexpected(store::StoreError::NoSuchMailbox);
        auto st = account->status(info->id);
        if (!st) return tl::unexpected(st.error());
        return std::pair{*info, *st};
      },
      [this, tag = c.tag,
       items](store::StoreResult<std::pair<store::MailboxInfo, store::MailboxStatus>> r) {
        if (!r) return store_failed(tag, r.error(), "status");
        const auto& [info, st] = *r;
        std::string values;
        for (const auto& item : items) {
          std::uint64_t v = item == "MESSAGES"      ? st.messages
                            : item == "RECENT"      ? st.recent
                            : item == "UIDNEXT"     ? st.uidnext
                            : item == "UIDVALIDITY" ? st.uidvalidity
                            : item == "UNSEEN"      ? st.unseen
                                                    : st.highest_modseq;
          if (!values.empty()) values += ' ';
          values += fmt::format("{} {}", item, v);
        }
        send(fmt::format("* STATUS {} ({})\r\n", quoted_name(info.name), values));
        complete(tag, "OK", "Status completed.");
      });
}

void Session::cmd_append(Command& c) {
  // APPEND mailbox [flag-list] [date-time] literal
  if (c.args.size() < 2 || c.args.size() > 4 || c.args.back().kind != Token::Kind::Literal) {
    return reject(c.tag, "APPEND expects a mailbox, optional flags and date, and a literal.");
  }
  FlagList flags;
  std::optional<store::InternalDate> date;
  for (std::size_t i = 1; i + 1 < c.args.size(); ++i) {
    const Token& t = c.args[i];
    if (t.kind == Token::Kind::List && i == 1) {
      auto f = parse_flag_list(t, false);
      if (!f) return reject(c.tag, f.error());
      flags = std::move(*f);
    } else if (t.kind == Token::Kind::Quoted && !date) {
      date = parse_date_time(t.text);
      if (!date) return reject(c.tag, "Invalid date-time.");
    } else {
      return reject(c.tag, "APPEND expects a mailbox, optional flags and date, and a literal.");
    }
  }
  auto name = mailbox_arg(c.tag, c.args[0]);
  if (!name) return;
  if (c.args.back().text.empty()) {
    return complete(c.tag, "NO", "[CANNOT] Refusing to save an empty message.");
  }
  if (!date) {
    date = store::InternalDate{static_cast<std::int64_t>(std::time(nullptr)), 0};
  }
  auto account = account_;
  auto& store = node_.store;
  struct Appended {
    store::MailboxId mailbox = 0;
    store::AppendResult result;
  };
  on_worker(
      c.tag,
      [account, &store, n = *name, flags = std::move(flags), date = *date,
       bytes = std::move(c.args.back().text)]() mutable -> store::StoreResult<Appended> {
        auto info = account->find_mailbox(n);
        if (!info) return tl::unexpected(info.error());
        if (!info->selectable) return tl::unexpected(store::StoreError::NotAllowed);
        auto spool = delivery::MessageSpool::create(delivery::spool_directory(store));
        if (!spool) {
          core::log_warn("imap_spool_failed").kv("error", spool.error());
          return tl::unexpected(store::StoreError::Io);
        }
        auto written = spool->write(bytes);
        std::string().swap(bytes);  // the message is on disk now; free it early
        if (!written) {
          core::log_warn("imap_spool_failed").kv("error", written.error());
          return tl::unexpected(store::StoreError::Io);
        }
        auto message = spool->finish(delivery::MessageSpool::Durability::ByStore);
        if (!message) {
          core::log_warn("imap_spool_failed").kv("error", message.error());
          return tl::unexpected(store::StoreError::Io);
        }
        message->flags = flags.flags;
        message->keywords = std::move(flags.keywords);
        message->internal_date = date;
        auto added = store::append_grouped(*account, info->id, *message);
        if (!added) return tl::unexpected(added.error());
        return Appended{info->id, *added};
      },
      [this, tag = c.tag](store::StoreResult<Appended> r) {
        if (!r) {
          if (r.error() == store::StoreError::NoSuchMailbox) {
            return complete(tag, "NO", "[TRYCREATE] Mailbox does not exist.");
          }
          return store_failed(tag, r.error(), "append");
        }
        ++appended_;
        service_.metrics().appended.inc();
        service_.hub().changed(user_, r->mailbox, watcher_.get());
        if (selected_ && selected_->id() == r->mailbox) changes_pending_ = true;
        complete(tag, "OK",
                 fmt::format("[APPENDUID {} {}] Append completed.", r->result.uidvalidity,
                             r->result.uid));
      });
}

void Session::cmd_namespace(Command& c) {
  if (!c.args.empty()) return reject(c.tag, "NAMESPACE takes no arguments.");
  send("* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
  complete(c.tag, "OK", "Namespace completed.");
}

void Session::cmd_idle(Command& c) {
  if (!c.args.empty()) return reject(c.tag, "IDLE takes no arguments.");
  send("+ idling\r\n");
  idling_ = true;
  idle_tag_ = c.tag;
  parser_.expect_line();
  busy_ = false;  // pump() reads the DONE line
  if (selected_) {
    changes_pending_ = true;  // catch up with other processes at once
    sync([] {});
    schedule_idle_poll();
  }
}

}  // namespace postern::node::imap
