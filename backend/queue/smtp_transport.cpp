#include "backend/queue/smtp_transport.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <deque>
#include <list>
#include <map>

#include "backend/queue/smtp_delivery_attempt.hpp"
#include "core/log.hpp"

namespace postern::node::queue {

namespace {

using Status = RecipientOutcome::Status;
using Done = std::function<void(std::vector<RecipientOutcome>)>;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string default_helo() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

class SmtpTransport::Core : public std::enable_shared_from_this<SmtpTransport::Core> {
 public:
  Core(core::EventLoop& loop, std::shared_ptr<MxLookup> lookup, core::WorkerPool& workers,
       std::shared_ptr<core::TlsContext> tls, SmtpClientConfig config,
       core::MetricsRegistry& metrics)
      : loop_(loop), metrics_(metrics), config_(std::move(config)) {
    env_.loop = &loop;
    env_.workers = &workers;
    env_.lookup = std::move(lookup);
    env_.settings.helo_name = config_.helo_name.empty() ? default_helo() : config_.helo_name;
    env_.settings.connect_timeout = config_.connect_timeout;
    env_.settings.command_timeout = config_.command_timeout;
    env_.settings.tls = config_.starttls ? std::move(tls) : nullptr;
    env_.mx_port = config_.port;
    max_ = std::max<std::size_t>(1, config_.max_per_destination);
  }

  void deliver(RemoteDelivery d, Done done);
  void shutdown();
  // Drops every connection and callback (the transport is being destroyed).
  void stop() {
    stopped_ = true;
    attempts_.clear();
    dests_.clear();
    closing_.clear();
  }

 private:
  struct Job {
    RemoteDelivery delivery;
    Done done;
  };
  struct Idle {
    std::shared_ptr<SmtpClientSession> session;
    std::unique_ptr<core::Timer> expiry;
  };
  struct Destination {
    std::size_t slots = 0;  // attempts running + idle connections
    std::list<Idle> idle;
    std::deque<Job> waiting;
  };

  void start(const std::string& key, Job job, std::shared_ptr<SmtpClientSession> reuse);
  std::shared_ptr<SmtpClientSession> take_idle(Destination& dest);
  void on_attempt_done(const std::string& key, std::uint64_t id, Done done,
                       const RemoteDelivery& delivery, SmtpAttemptResult result);
  void park(const std::string& key, std::shared_ptr<SmtpClientSession> session);
  void drop_idle(std::string key, SmtpClientSession* session, bool say_quit);
  void release_slot(const std::string& key);
  void quit(std::shared_ptr<SmtpClientSession> session);
  void reply(Done done, std::vector<RecipientOutcome> outcomes);
  void count(const std::string& key, const RemoteDelivery& d, const SmtpAttemptResult& r);

  core::EventLoop& loop_;
  core::MetricsRegistry& metrics_;
  SmtpClientConfig config_;
  SmtpAttemptEnv env_;
  std::size_t max_ = 1;
  bool stopped_ = false;
  bool draining_ = false;
  std::map<std::string, Destination> dests_;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, std::shared_ptr<SmtpDeliveryAttempt>> attempts_;
  std::map<SmtpClientSession*, std::shared_ptr<SmtpClientSession>> closing_;  // QUIT sent
};

void SmtpTransport::Core::reply(Done done, std::vector<RecipientOutcome> outcomes) {
  // Never inline, and not at all once the transport is gone.
  std::weak_ptr<Core> weak = weak_from_this();
  loop_.post([weak, done = std::move(done), outcomes = std::move(outcomes)]() mutable {
    if (auto self = weak.lock(); self && !self->stopped_) done(std::move(outcomes));
  });
}

void SmtpTransport::Core::deliver(RemoteDelivery d, Done done) {
  auto refuse = [&](const std::string& text) {
    RecipientOutcome o;
    o.status = Status::TempFail;
    o.reply = text;
    reply(std::move(done), std::vector<RecipientOutcome>(d.recipients.size(), o));
  };
  if (d.recipients.empty()) return reply(std::move(done), {});
  std::string key;
  if (d.route == Route::Node) {
    if (!d.relay) return refuse("451 4.3.5 no SMTP endpoint known for the recipient's node");
    const std::string& node = d.recipients.front().node;
    key = "node:" + (node.empty() ? d.relay->to_string() : node);
  } else if (d.route == Route::Mx) {
    if (d.domain.empty()) return refuse("451 4.3.5 no domain to route the recipient by");
    key = "mx:" + lower(d.domain);
  } else {
    return refuse("451 4.3.5 a local recipient was handed to the SMTP transport");
  }
  Destination& dest = dests_[key];
  Job job{std::move(d), std::move(done)};
  // FIFO: a new delivery does not overtake those already waiting.
  if (!dest.waiting.empty()) return dest.waiting.push_back(std::move(job));
  start(key, std::move(job), nullptr);
}

std::shared_ptr<SmtpClientSession> SmtpTransport::Core::take_idle(Destination& dest) {
  while (!dest.idle.empty()) {
    auto session = std::move(dest.idle.front().session);
    dest.idle.pop_front();
    session->set_on_idle_closed(nullptr);
    if (session->idle()) return session;
    --dest.slots;  // closed meanwhile; its notice is still on the way
  }
  return nullptr;
}

void SmtpTransport::Core::start(const std::string& key, Job job,
                                std::shared_ptr<SmtpClientSession> reuse) {
  Destination& dest = dests_[key];
  if (!reuse) {  // else the slot of the connection handed over is kept
    reuse = take_idle(dest);
    if (!reuse) {
      if (dest.slots >= max_) return dest.waiting.push_back(std::move(job));
      ++dest.slots;
    }
  }
  std::uint64_t id = ++next_id_;
  std::weak_ptr<Core> weak = weak_from_this();
  RemoteDelivery copy = job.delivery;
  auto attempt = std::make_shared<SmtpDeliveryAttempt>(
      env_, std::move(copy), std::move(reuse),
      [weak, key, id, done = std::move(job.done),
       delivery = std::move(job.delivery)](SmtpAttemptResult result) mutable {
        if (auto self = weak.lock())
          self->on_attempt_done(key, id, std::move(done), delivery, std::move(result));
      });
  attempts_[id] = attempt;
  attempt->start();
}

void SmtpTransport::Core::on_attempt_done(const std::string& key, std::uint64_t id, Done done,
                                          const RemoteDelivery& delivery,
                                          SmtpAttemptResult result) {
  attempts_.erase(id);  // still alive: its own call is on the stack with a strong reference
  count(key, delivery, result);
  auto session = std::move(result.reusable);
  reply(std::move(done), std::move(result.outcomes));
  if (stopped_) return;
  auto it = dests_.find(key);
  if (it == dests_.end()) return;
  Destination& dest = it->second;
  if (session && !draining_) {
    if (!dest.waiting.empty()) {
      Job next = std::move(dest.waiting.front());
      dest.waiting.pop_front();
      return start(key, std::move(next), std::move(session));
    }
    if (config_.reuse_idle.count() > 0) return park(key, std::move(session));
  }
  if (session) quit(std::move(session));
  release_slot(key);
}

void SmtpTransport::Core::park(const std::string& key, std::shared_ptr<SmtpClientSession> session) {
  std::weak_ptr<Core> weak = weak_from_this();
  SmtpClientSession* raw = session.get();
  Idle entry;
  entry.expiry = std::make_unique<core::Timer>(loop_, [weak, key, raw] {
    if (auto self = weak.lock()) self->drop_idle(key, raw, true);
  });
  entry.expiry->arm(config_.reuse_idle);
  session->set_on_idle_closed([weak, key, raw] {
    if (auto self = weak.lock()) self->drop_idle(key, raw, false);
  });
  entry.session = std::move(session);
  dests_[key].idle.push_back(std::move(entry));
}

void SmtpTransport::Core::drop_idle(std::string key, SmtpClientSession* raw, bool say_quit) {
  auto it = dests_.find(key);
  if (it == dests_.end()) return;
  auto& idle = it->second.idle;
  auto entry = std::find_if(idle.begin(), idle.end(),
                            [raw](const Idle& e) { return e.session.get() == raw; });
  if (entry == idle.end()) return;  // taken for a delivery meanwhile
  auto session = std::move(entry->session);
  // This may run inside the timer's own callback: destroy the timer later.
  std::shared_ptr<core::Timer> timer(std::move(entry->expiry));
  loop_.post([timer] {});
  idle.erase(entry);
  session->set_on_idle_closed(nullptr);
  if (say_quit) quit(std::move(session));
  release_slot(key);
}

void SmtpTransport::Core::release_slot(const std::string& key) {
  auto it = dests_.find(key);
  if (it == dests_.end()) return;
  Destination& dest = it->second;
  if (dest.slots > 0) --dest.slots;
  while (!dest.waiting.empty() && (!dest.idle.empty() || dest.slots < max_)) {
    Job next = std::move(dest.waiting.front());
    dest.waiting.pop_front();
    start(key, std::move(next), nullptr);
  }
  if (dest.slots == 0 && dest.idle.empty() && dest.waiting.empty()) dests_.erase(it);
}

void SmtpTransport::Core::quit(std::shared_ptr<SmtpClientSession> session) {
  std::weak_ptr<Core> weak = weak_from_this();
  SmtpClientSession* raw = session.get();
  closing_[raw] = session;
  session->quit([weak, raw] {
    if (auto self = weak.lock()) self->closing_.erase(raw);
  });
}

void SmtpTransport::Core::shutdown() {
  draining_ = true;
  std::vector<std::pair<std::string, SmtpClientSession*>> idle;
  for (auto& [key, dest] : dests_) {
    for (auto& e : dest.idle) idle.emplace_back(key, e.session.get());
  }
  for (auto& [key, raw] : idle) drop_idle(key, raw, true);
}

void SmtpTransport::Core::count(const std::string& key, const RemoteDelivery& d,
                                const SmtpAttemptResult& r) {
  const std::string route = d.route == Route::Node ? "node" : "mx";
  const std::string help_c = "Outgoing SMTP connections by route and kind (opened, reused)";
  if (r.opened > 0)
    metrics_
        .counter("postern_smtp_client_connections_total", help_c,
                 {{"route", route}, {"kind", "opened"}})
        .inc(r.opened);
  if (r.reused)
    metrics_
        .counter("postern_smtp_client_connections_total", help_c,
                 {{"route", route}, {"kind", "reused"}})
        .inc();
  std::size_t n[3] = {0, 0, 0};
  std::string first_failure, mta;
  for (const auto& o : r.outcomes) {
    n[static_cast<int>(o.status)]++;
    if (o.status != Status::Delivered && first_failure.empty()) first_failure = o.reply;
    if (mta.empty()) mta = o.remote_mta;
  }
  static const char* const kResult[] = {"delivered", "tempfail", "permfail"};
  for (int i = 0; i < 3; ++i) {
    if (n[i] == 0) continue;
    metrics_
        .counter("postern_smtp_client_recipients_total",
                 "Recipients handed to outgoing SMTP, by route and result",
                 {{"route", route}, {"result", kResult[i]}})
        .inc(n[i]);
  }
  core::log_info("smtp_delivery")
      .kv("qid", d.queue_id)
      .kv("route", route)
      .kv("dest", key)
      .kv("mta", mta)
      .kv("delivered", n[0])
      .kv("deferred", n[1])
      .kv("failed", n[2])
      .kv("reused", r.reused)
      .kv("reply", first_failure);
}

// ---- SmtpTransport -------------------------------------------------------------

SmtpTransport::SmtpTransport(core::EventLoop& loop, std::shared_ptr<MxLookup> lookup,
                             core::WorkerPool& workers,
                             std::shared_ptr<core::TlsContext> client_tls, SmtpClientConfig config,
                             core::MetricsRegistry& metrics)
    : core_(std::make_shared<Core>(loop, std::move(lookup), workers, std::move(client_tls),
                                   std::move(config), metrics)) {}

SmtpTransport::~SmtpTransport() {
  core_->stop();
}

void SmtpTransport::deliver(RemoteDelivery delivery,
                            std::function<void(std::vector<RecipientOutcome>)> done) {
  core_->deliver(std::move(delivery), std::move(done));
}

void SmtpTransport::shutdown() {
  core_->shutdown();
}

std::shared_ptr<core::TlsContext> SmtpTransport::opportunistic_tls() {
  core::TlsConfig config;
  config.verify_peer = false;
  return core::TlsContext::client(config, "(built in)", "smtp_client.tls");
}

}  // namespace postern::node::queue
