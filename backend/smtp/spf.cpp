// check_host() of RFC 7208 section 4 over the asynchronous resolver. One
// Evaluation per check_spf() call holds the limits shared by every nested
// include and redirect; each step continues from a resolver callback, so the
// evaluation lives exactly as long as a lookup of it is pending.
#include "backend/smtp/spf.hpp"

#include <fmt/format.h>

#include <ctime>
#include <memory>

#include "backend/smtp/spf_record.hpp"
#include "core/dns_message.hpp"

namespace postern::node::smtp {
namespace {

using core::DnsAnswer;
using core::DnsStatus;
using core::IpAddress;

constexpr int kMaxDnsTerms = 10;       // section 4.6.4
constexpr int kMaxVoidLookups = 2;     // section 4.6.4
constexpr std::size_t kMaxNames = 10;  // MX hosts / PTR names per term

struct Outcome {
  SpfResult result = SpfResult::Neutral;
  std::string mechanism;
  std::string explanation;
  std::string problem;
};
Outcome error(SpfResult r, std::string problem) {
  return {r, "", "", std::move(problem)};
}

using OutcomeFn = std::function<void(Outcome)>;
// A mechanism's verdict: matched or not, or an error that ends the evaluation.
using MatchFn = std::function<void(tl::expected<bool, Outcome>)>;

SpfResult result_of(SpfQualifier q) {
  switch (q) {
    case SpfQualifier::Pass:
      return SpfResult::Pass;
    case SpfQualifier::Fail:
      return SpfResult::Fail;
    case SpfQualifier::SoftFail:
      return SpfResult::SoftFail;
    case SpfQualifier::Neutral:
      return SpfResult::Neutral;
  }
  return SpfResult::Neutral;
}

class Evaluation : public std::enable_shared_from_this<Evaluation> {
 public:
  Evaluation(core::DnsResolver& resolver, SpfRequest request)
      : resolver_(resolver), request_(std::move(request)) {
    ctx_.client = request_.client;
    ctx_.helo = request_.helo;
    ctx_.receiver = request_.receiver;
    ctx_.timestamp = static_cast<long long>(std::time(nullptr));
    const auto& s = request_.sender;
    auto at = s.rfind('@');
    // The null sender: the HELO identity, as postmaster@helo (section 2.4, 4.3).
    if (s.empty())
      ctx_.sender = "postmaster@" + request_.helo;
    else if (at == std::string::npos || at == 0)
      ctx_.sender = "postmaster@" + s.substr(at == 0 ? 1 : 0);
    else
      ctx_.sender = s;
    identity_ = ctx_.sender.substr(ctx_.sender.rfind('@') + 1);
  }

  const std::string& identity() const { return identity_; }

  // check_host(<ip>, domain, <sender>); `want_exp`: compute the explanation
  // of a fail (the top level and redirects, not includes).
  void check_host(const std::string& domain, bool want_exp, OutcomeFn done) {
    if (!spf_valid_domain(domain)) return done({SpfResult::None, "", "", ""});
    resolver_.txt(domain, [self = shared_from_this(), domain, want_exp,
                           done = std::move(done)](DnsAnswer<std::string> a) {
      self->on_record(domain, want_exp, std::move(a), done);
    });
  }

 private:
  struct Frame {
    std::string domain;
    SpfRecord record;
    bool want_exp = false;
    std::size_t next = 0;
    OutcomeFn done;
  };

  SpfMacroContext context(const std::string& domain) const {
    auto c = ctx_;
    c.domain = domain;
    return c;
  }

  void on_record(const std::string& domain, bool want_exp, DnsAnswer<std::string> a,
                 const OutcomeFn& done) {
    if (a.status == DnsStatus::TempFail)
      return done(error(SpfResult::TempError, "DNS lookup of " + domain + ": " + a.detail));
    std::vector<std::string> spf;
    for (auto& txt : a.records)
      if (is_spf_record(txt)) spf.push_back(std::move(txt));
    if (spf.empty()) return done({SpfResult::None, "", "", ""});
    if (spf.size() > 1)
      return done(error(SpfResult::PermError, domain + " has more than one SPF record"));
    auto record = parse_spf_record(spf[0]);
    if (!record) return done(error(SpfResult::PermError, domain + ": " + record.error()));
    run(std::make_shared<Frame>(Frame{domain, std::move(*record), want_exp, 0, done}));
  }

  // Evaluates the frame's mechanisms from `next` until one matches or needs DNS.
  void run(const std::shared_ptr<Frame>& f) {
    const auto& mechanisms = f->record.mechanisms;
    for (; f->next < mechanisms.size(); ++f->next) {
      const auto& m = mechanisms[f->next];
      if (!m.queries_dns()) {
        if (match_local(m)) return finish(f, m);
        continue;
      }
      if (++terms_ > kMaxDnsTerms)
        return f->done(error(SpfResult::PermError, "more than 10 DNS-querying terms"));
      return evaluate(f, m, [self = shared_from_this(), f](tl::expected<bool, Outcome> r) {
        if (!r) return f->done(std::move(r.error()));
        if (*r) return self->finish(f, f->record.mechanisms[f->next]);
        ++f->next;
        self->run(f);
      });
    }
    // Nothing matched. redirect= is ignored beside an "all" (section 6.1).
    if (!f->record.redirect || f->record.has_all())
      return f->done({SpfResult::Neutral, "", "", ""});
    if (++terms_ > kMaxDnsTerms)
      return f->done(error(SpfResult::PermError, "more than 10 DNS-querying terms"));
    auto target = expand_spf_domain(*f->record.redirect, context(f->domain));
    if (!target) return f->done(error(SpfResult::PermError, target.error()));
    check_host(*target, f->want_exp, [f, target = *target](Outcome o) {
      if (o.result == SpfResult::None)
        o = error(SpfResult::PermError, "redirect to " + target + ", which has no SPF record");
      f->done(std::move(o));
    });
  }

  bool match_local(const SpfMechanism& m) const {
    switch (m.kind) {
      case SpfMechanismKind::All:
        return true;
      case SpfMechanismKind::Ip4:
      case SpfMechanismKind::Ip6:
        return spf_cidr_match(ctx_.client, m.network, ctx_.client.v6 ? m.cidr6 : m.cidr4);
      default:
        return false;
    }
  }

  void finish(const std::shared_ptr<Frame>& f, const SpfMechanism& m) {
    Outcome o{result_of(m.qualifier), m.text, "", ""};
    if (o.result != SpfResult::Fail || !f->want_exp || !f->record.exp) return f->done(std::move(o));
    // exp= is looked up only now and does not count toward the limits (section 6.2).
    auto exp_domain = expand_spf_domain(*f->record.exp, context(f->domain));
    if (!exp_domain) return f->done(std::move(o));
    resolver_.txt(*exp_domain, [self = shared_from_this(), f, o](DnsAnswer<std::string> a) mutable {
      if (a.status == DnsStatus::Ok && a.records.size() == 1) {
        auto text = expand_spf_macros(a.records[0], self->context(f->domain), true);
        bool printable = text && std::all_of(text->begin(), text->end(),
                                             [](char c) { return c >= 0x20 && c < 0x7f; });
        if (printable) o.explanation = *text;
      }
      f->done(std::move(o));
    });
  }

  // A lookup that found nothing counts toward the void limit (section 4.6.4).
  bool void_lookup_allowed() { return ++voids_ <= kMaxVoidLookups; }

  void evaluate(const std::shared_ptr<Frame>& f, const SpfMechanism& m, MatchFn done);
  void match_addresses(std::vector<std::string> hosts, std::size_t i, int prefix, bool count_void,
                       MatchFn done);
  void match_ptr_names(std::vector<std::string> names, std::size_t i, std::string target,
                       MatchFn done);
  void lookup_family(const std::string& host, std::function<void(DnsAnswer<IpAddress>)> done) {
    if (ctx_.client.v6)
      resolver_.aaaa(host, std::move(done));
    else
      resolver_.a(host, std::move(done));
  }

  core::DnsResolver& resolver_;
  SpfRequest request_;
  SpfMacroContext ctx_;
  std::string identity_;
  int terms_ = 0;
  int voids_ = 0;
};

void Evaluation::evaluate(const std::shared_ptr<Frame>& f, const SpfMechanism& m, MatchFn done) {
  std::string target = f->domain;
  if (!m.domain_spec.empty()) {
    auto t = expand_spf_domain(m.domain_spec, context(f->domain));
    if (!t) return done(tl::unexpected(error(SpfResult::PermError, t.error())));
    target = *t;
  }
  auto self = shared_from_this();
  int prefix = ctx_.client.v6 ? m.cidr6 : m.cidr4;
  auto temperror = [target](const std::string& detail) {
    return tl::unexpected(error(SpfResult::TempError, "DNS lookup of " + target + ": " + detail));
  };
  auto too_many_voids = tl::unexpected(error(SpfResult::PermError, "more than 2 void lookups"));
  switch (m.kind) {
    case SpfMechanismKind::Include:
      return check_host(target, false, [done, target](Outcome o) {
        switch (o.result) {
          case SpfResult::Pass:
            return done(true);
          case SpfResult::Fail:
          case SpfResult::SoftFail:
          case SpfResult::Neutral:
            return done(false);
          case SpfResult::None:
            return done(tl::unexpected(
                error(SpfResult::PermError, "include of " + target + ", which has no SPF record")));
          default:
            return done(tl::unexpected(std::move(o)));
        }
      });
    case SpfMechanismKind::A:
      return match_addresses({target}, 0, prefix, true, std::move(done));
    case SpfMechanismKind::Mx:
      return resolver_.mx(
          target, [self, done, prefix, temperror, too_many_voids](DnsAnswer<core::MxRecord> a) {
            if (a.status == DnsStatus::TempFail) return done(temperror(a.detail));
            if (a.status != DnsStatus::Ok)
              return self->void_lookup_allowed() ? done(false) : done(too_many_voids);
            if (a.records.size() > kMaxNames)
              return done(tl::unexpected(error(SpfResult::PermError, "more than 10 MX names")));
            std::vector<std::string> hosts;
            for (const auto& mx : a.records)
              if (!mx.host.empty()) hosts.push_back(mx.host);
            self->match_addresses(std::move(hosts), 0, prefix, false, done);
          });
    case SpfMechanismKind::Ptr:
      // PTR errors make the mechanism not match rather than fail (section 5.5).
      return resolver_.ptr(ctx_.client,
                           [self, done, target, too_many_voids](DnsAnswer<std::string> a) {
                             if (a.status == DnsStatus::NxDomain || a.status == DnsStatus::NoData)
                               if (!self->void_lookup_allowed()) return done(too_many_voids);
                             if (a.status != DnsStatus::Ok) return done(false);
                             if (a.records.size() > kMaxNames) a.records.resize(kMaxNames);
                             self->match_ptr_names(std::move(a.records), 0, target, done);
                           });
    case SpfMechanismKind::Exists:
      // Always an A query, whatever the client's family (section 5.7).
      return resolver_.a(target, [self, done, temperror, too_many_voids](DnsAnswer<IpAddress> a) {
        if (a.status == DnsStatus::TempFail) return done(temperror(a.detail));
        if (a.status == DnsStatus::Ok) return done(true);
        return self->void_lookup_allowed() ? done(false) : done(too_many_voids);
      });
    default:
      return done(false);
  }
}

// "a" and "mx": does one of `hosts` (from i on) have the client's address?
// `count_void`: an empty answer is the term's void lookup ("a"); the MX
// hosts' are not counted (the MX query was the term's).
void Evaluation::match_addresses(std::vector<std::string> hosts, std::size_t i, int prefix,
                                 bool count_void, MatchFn done) {
  if (i == hosts.size()) return done(false);
  auto host = hosts[i];
  lookup_family(host, [self = shared_from_this(), hosts = std::move(hosts), i, prefix, count_void,
                       done, host](DnsAnswer<IpAddress> a) mutable {
    if (a.status == DnsStatus::TempFail)
      return done(
          tl::unexpected(error(SpfResult::TempError, "DNS lookup of " + host + ": " + a.detail)));
    if (a.status != DnsStatus::Ok && count_void && !self->void_lookup_allowed())
      return done(tl::unexpected(error(SpfResult::PermError, "more than 2 void lookups")));
    for (const auto& ip : a.records)
      if (spf_cidr_match(self->ctx_.client, ip, prefix)) return done(true);
    self->match_addresses(std::move(hosts), i + 1, prefix, count_void, std::move(done));
  });
}

// "ptr": a name validated by its forward lookup that is the target or under it.
void Evaluation::match_ptr_names(std::vector<std::string> names, std::size_t i, std::string target,
                                 MatchFn done) {
  if (i == names.size()) return done(false);
  auto name = names[i];
  lookup_family(name, [self = shared_from_this(), names = std::move(names), i, target, done,
                       name](DnsAnswer<IpAddress> a) mutable {
    bool validated =
        std::find(a.records.begin(), a.records.end(), self->ctx_.client) != a.records.end();
    auto lower_target = core::normalize_dns_name(target).value_or(target);
    if (validated && (name == lower_target ||
                      (name.size() > lower_target.size() && name.ends_with("." + lower_target))))
      return done(true);
    self->match_ptr_names(std::move(names), i + 1, std::move(target), std::move(done));
  });
}

std::string default_explanation(const SpfRequest& req, const std::string& sender) {
  return fmt::format("domain of {} does not designate {} as permitted sender", sender,
                     req.client.to_string());
}

}  // namespace

std::string_view spf_result_name(SpfResult r) {
  switch (r) {
    case SpfResult::None:
      return "none";
    case SpfResult::Neutral:
      return "neutral";
    case SpfResult::Pass:
      return "pass";
    case SpfResult::Fail:
      return "fail";
    case SpfResult::SoftFail:
      return "softfail";
    case SpfResult::TempError:
      return "temperror";
    case SpfResult::PermError:
      return "permerror";
  }
  return "?";
}

void check_spf(core::DnsResolver& resolver, SpfRequest request,
               std::function<void(SpfVerdict)> done) {
  auto eval = std::make_shared<Evaluation>(resolver, request);
  auto returned = std::make_shared<bool>(false);
  auto& loop = resolver.loop();
  auto finish = [eval, request, done = std::move(done), returned, &loop](Outcome o) {
    SpfVerdict v;
    v.result = o.result;
    v.domain = eval->identity();
    v.mechanism = std::move(o.mechanism);
    v.problem = std::move(o.problem);
    if (v.result == SpfResult::Fail)
      v.explanation =
          o.explanation.empty()
              ? default_explanation(
                    request, request.sender.empty() ? "postmaster@" + request.helo : request.sender)
              : std::move(o.explanation);
    // Answered before check_spf returned (a malformed domain): keep it off the stack.
    if (!*returned)
      loop.post([done, v = std::move(v)] { done(v); });
    else
      done(std::move(v));
  };
  eval->check_host(eval->identity(), true, std::move(finish));
  *returned = true;
}

}  // namespace postern::node::smtp
