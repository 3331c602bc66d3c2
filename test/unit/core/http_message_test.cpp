#include "core/http_message.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "test/unit/split_feed.hpp"

using namespace postern::core::http;
using namespace std::literals;

namespace {

std::string describe_headers(const Headers& h) {
  std::string out;
  for (const auto& f : h.fields) out += " [" + f.name + "=" + f.value + "]";
  return out;
}

// Feeds the chunks the way a server does (appending to one buffer and parsing
// it again) and prints what the parser decided and the bytes left after it.
std::string run_request(const std::vector<std::string_view>& chunks, const Limits& limits = {}) {
  std::string buffer;
  std::size_t i = 0;
  for (; i < chunks.size(); ++i) {
    buffer += chunks[i];
    auto r = parse_request_head(buffer, limits);
    if (!r) return "error " + std::to_string(r.error().status) + " " + r.error().message;
    if (!*r) continue;
    const auto& p = **r;
    REQUIRE(p.consumed <= buffer.size());
    std::string rest = buffer.substr(p.consumed);
    for (++i; i < chunks.size(); ++i) rest += chunks[i];
    const auto& h = p.head;
    return h.method + " " + h.target + " path=" + h.path + " query=" + h.query + " 1." +
           std::to_string(h.minor_version) + describe_headers(h.headers) +
           " consumed=" + std::to_string(p.consumed) + " rest=" + rest;
  }
  return "need_more";
}

std::string run_response(const std::vector<std::string_view>& chunks, const Limits& limits = {}) {
  std::string buffer;
  for (auto chunk : chunks) {
    buffer += chunk;
    auto r = parse_response_head(buffer, limits);
    if (!r) return "error " + std::to_string(r.error().status) + " " + r.error().message;
    if (!*r) continue;
    const auto& h = (*r)->head;
    return std::to_string(h.status) + " " + h.reason + " 1." + std::to_string(h.minor_version) +
           describe_headers(h.headers) + " consumed=" + std::to_string((*r)->consumed);
  }
  return "need_more";
}

std::string request(std::string_view in, const Limits& limits = {}) {
  return run_request({in}, limits);
}

std::string split_request(std::string_view in, const Limits& limits = {}) {
  return postern::test::check_split_invariance(
      in, [&](const auto& c) { return run_request(c, limits); });
}

// A body after a request head: the head's framing, then BodyReader fed like a
// server feeds it (unconsumed bytes kept and given again with the next ones).
// Prints the decoded body, whether it finished, and what came after it.
std::string run_body(const std::vector<std::string_view>& chunks, std::size_t max_line = 4096) {
  std::string pending;
  std::optional<BodyReader> reader;
  std::string body;
  std::string after;
  for (auto chunk : chunks) {
    if (reader && reader->done()) {
      after += chunk;
      continue;
    }
    pending += chunk;
    if (!reader) {
      auto head = parse_request_head(pending);
      if (!head) return "head error " + head.error().message;
      if (!*head) continue;
      auto framing = request_framing((*head)->head);
      if (!framing) return "framing error " + std::to_string(framing.error().status);
      reader.emplace(*framing, max_line);
      pending.erase(0, (*head)->consumed);
    }
    auto step = reader->feed(pending);
    // An error takes the whole call: its data slices are not delivered.
    if (!step) return "body error " + step.error().message;
    REQUIRE(step->consumed <= pending.size());
    for (auto d : step->data) {
      REQUIRE(d.data() >= pending.data());
      REQUIRE(d.data() + d.size() <= pending.data() + step->consumed);
      body += d;
    }
    pending.erase(0, step->consumed);
    // A reader that stops short of the end either finished or waits for a line.
    if (reader->done()) after += pending;
  }
  if (!reader) return "need_more head";
  REQUIRE(reader->body_bytes() == body.size());
  return "body=" + body + (reader->done() ? " done" : " partial") + " after=" + after;
}

std::string split_body(std::string_view in, std::size_t max_line = 4096) {
  return postern::test::check_split_invariance(
      in, [&](const auto& c) { return run_body(c, max_line); });
}

}  // namespace

TEST_CASE("http: a request head and what follows it") {
  const auto in =
      "GET /api/folders?sort=date&x=%20 HTTP/1.1\r\nHost: a\r\n"
      "Accept:  text/html \r\nX-Empty:\r\n\r\nNEXT"sv;
  CHECK(request(in) ==
        "GET /api/folders?sort=date&x=%20 path=/api/folders query=sort=date&x=%20 1.1 [Host=a] "
        "[Accept=text/html] [X-Empty=] consumed=85 rest=NEXT");
  CHECK(split_request(in) == "");
  CHECK(request("GET / HTTP/1.1\r\nHost: a\r\n") == "need_more");
  CHECK(request("GET / HTTP/1.1\r\nHost: a\r\n\r") == "need_more");
  // Bare LF line ends (RFC 9112 2.2) and empty lines before the request line.
  CHECK(request("\r\n\nGET / HTTP/1.0\nHost: a\n\n") ==
        "GET / path=/ query= 1.0 [Host=a] consumed=27 rest=");
  CHECK(split_request("\r\n\nGET / HTTP/1.0\nHost: a\n\n") == "");
  CHECK(request("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").starts_with("OPTIONS * path=*"));
}

TEST_CASE("http: malformed request heads are refused, never guessed") {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"GET /\r\nHost: a\r\n\r\n", "error 400 malformed request line"},
      {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "error 400 malformed request line"},
      {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", "error 400 malformed HTTP version"},
      {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "error 505 unsupported HTTP version"},
      {"GET / http/1.1\r\nHost: a\r\n\r\n", "error 400 malformed HTTP version"},
      {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", "error 400 invalid method"},
      {"GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n",
       "error 400 request target is not origin-form"},
      {"CONNECT node2:443 HTTP/1.1\r\nHost: a\r\n\r\n",
       "error 400 request target is not origin-form"},
      {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", "error 400 asterisk-form target outside OPTIONS"},
      {"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", "error 400 invalid character in request target"},
      {"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n",
       "error 400 invalid character in request target"},
      {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", "error 400 obsolete line folding"},
      {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", "error 400 obsolete line folding"},
      {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", "error 400 whitespace before colon"},
      {"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", "error 400 bare CR in header"},
      {"GET / HTTP/1.1\rHost: a\r\n\r\n", "error 400 malformed HTTP version"},
      {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00z\r\n\r\n"sv,
       "error 400 control character in header value"},
      {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", "error 400 header line without colon"},
      {"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", "error 400 empty header name"},
      {"GET / HTTP/1.1\r\nHost: a\r\nX\"y: v\r\n\r\n", "error 400 invalid header name"},
      {"GET / HTTP/1.1\r\n\r\n", "error 400 missing Host header"},
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "error 400 more than one Host header"},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
       "error 400 Transfer-Encoding in an HTTP/1.0 request"},
  };
  for (const auto& [in, want] : cases) {
    CAPTURE(in);
    CHECK(request(in) == want);
    CHECK(split_request(in) == "");
  }
  // HTTP/1.0 may leave Host out.
  CHECK(request("GET / HTTP/1.0\r\n\r\n").starts_with("GET / path=/"));
}

TEST_CASE("http: head limits answer 414 and 431 without waiting for the end") {
  Limits small;
  small.max_head = 200;
  small.max_target = 50;
  small.max_fields = 3;
  const std::string long_target = "GET /" + std::string(60, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n";
  CHECK(request(long_target, small) == "error 414 request target too long");
  CHECK(split_request(long_target, small) == "");
  // A target still arriving past the head limit is a 414, a field a 431.
  CHECK(request("GET /" + std::string(300, 'a'), small) == "error 414 request target too long");
  const std::string big_field = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'v');
  CHECK(request(big_field, small) == "error 431 header section too large");
  CHECK(split_request(big_field, small) == "");
  const std::string fields = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  CHECK(request(fields, small) == "error 431 too many header fields");
  CHECK(split_request(fields, small) == "");
  // Exactly at the limit passes.
  std::string exact = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
  exact += std::string(small.max_head - exact.size() - 4, 'v') + "\r\n\r\n";
  REQUIRE(exact.size() == small.max_head);
  CHECK(request(exact, small).starts_with("GET / "));
  CHECK(request(exact + "more", small).ends_with("rest=more"));
  CHECK(request("\r\n" + exact, small) == "error 431 header section too large");
  // The default limit is 16 KiB.
  CHECK(request("GET / HTTP/1.1\r\nHost: a\r\nCookie: " + std::string(17000, 'c')) ==
        "error 431 header section too large");
}

TEST_CASE("http: keep-alive follows the version and Connection") {
  auto ka = [](std::string_view in) { return (*parse_request_head(in))->head.keep_alive(); };
  CHECK(ka("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK_FALSE(ka("GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n"));
  CHECK_FALSE(ka("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n"));
  CHECK_FALSE(ka("GET / HTTP/1.0\r\n\r\n"));
  CHECK(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
  CHECK(ka("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"));
  auto rka = [](std::string_view in) { return (*parse_response_head(in))->head.keep_alive(); };
  CHECK(rka("HTTP/1.1 200 OK\r\n\r\n"));
  CHECK_FALSE(rka("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"));
  CHECK_FALSE(rka("HTTP/1.0 200 OK\r\n\r\n"));
  CHECK(rka("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\n\r\n"));
}

TEST_CASE("http: response heads") {
  const auto in = "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc"sv;
  CHECK(run_response({in}) == "404 Not Found 1.1 [Content-Length=3] consumed=45");
  CHECK(postern::test::check_split_invariance(in, [](const auto& c) { return run_response(c); }) ==
        "");
  CHECK(run_response({"HTTP/1.1 204\r\n\r\n"}) == "204  1.1 consumed=16");
  CHECK(run_response({"HTTP/1.1 2000 OK\r\n\r\n"}) == "error 502 malformed status line");
  CHECK(run_response({"HTTP/1.1 099 X\r\n\r\n"}) == "error 502 malformed status code");
  CHECK(run_response({"HTTP/3.0 200 OK\r\n\r\n"}) == "error 502 unsupported HTTP version");
  CHECK(run_response({"ICY 200 OK\r\n\r\n"}) == "error 502 malformed HTTP version");
  CHECK(run_response({"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n"}) ==
        "error 502 obsolete line folding");
}

TEST_CASE("http: request framing refuses what could smuggle a request") {
  auto framing = [](std::string_view fields) -> std::string {
    auto head = parse_request_head("POST / HTTP/1.1\r\nHost: a\r\n" + std::string(fields) + "\r\n");
    REQUIRE(head);
    REQUIRE(*head);
    auto f = request_framing((*head)->head);
    if (!f) return "error " + std::to_string(f.error().status);
    switch (f->kind) {
      case Framing::None:
        return "none";
      case Framing::Length:
        return "length " + std::to_string(f->length);
      case Framing::Chunked:
        return "chunked";
      case Framing::UntilClose:
        return "until_close";
    }
    return "?";
  };
  CHECK(framing("") == "none");
  CHECK(framing("Content-Length: 12\r\n") == "length 12");
  CHECK(framing("Content-Length: 0\r\n") == "length 0");
  CHECK(framing("Content-Length: 5\r\nContent-Length: 5\r\n") == "length 5");
  CHECK(framing("Content-Length: 5, 5\r\n") == "length 5");
  CHECK(framing("Content-Length: 5\r\nContent-Length: 6\r\n") == "error 400");
  CHECK(framing("Content-Length: 5, 6\r\n") == "error 400");
  CHECK(framing("Content-Length: 5,\r\n") == "error 400");
  CHECK(framing("Content-Length: +5\r\n") == "error 400");
  CHECK(framing("Content-Length: 0x5\r\n") == "error 400");
  CHECK(framing("Content-Length: 5 5\r\n") == "error 400");
  CHECK(framing("Content-Length:\r\n") == "error 400");
  CHECK(framing("Content-Length: 99999999999999999999\r\n") == "error 400");
  CHECK(framing("Transfer-Encoding: chunked\r\n") == "chunked");
  CHECK(framing("Transfer-Encoding: Chunked\r\n") == "chunked");
  CHECK(framing("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n") == "error 400");
  CHECK(framing("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") == "error 400");
  CHECK(framing("Transfer-Encoding: gzip\r\n") == "error 400");
  CHECK(framing("Transfer-Encoding: chunked, gzip\r\n") == "error 400");
  CHECK(framing("Transfer-Encoding: gzip, chunked\r\n") == "error 501");
  CHECK(framing("Transfer-Encoding: xchunked\r\n") == "error 400");
  CHECK(framing("Transfer-Encoding:\r\n") == "error 400");
  // An empty field is an error wherever it stands, also after a good one
  // (a recipient might read it as "no framing" and take the body for the
  // next request).
  CHECK(framing("Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n") == "error 400");
  CHECK(framing("Transfer-Encoding: chunked\r\nTransfer-Encoding:   \t \r\n") == "error 400");
  CHECK(framing("Transfer-Encoding:\r\nTransfer-Encoding: chunked\r\n") == "error 400");
  CHECK(framing("Transfer-Encoding: chunked\r\nTransfer-Encoding: ,\r\n") == "error 400");
  CHECK(framing("Transfer-Encoding: chunked,\r\n") == "chunked");  // an empty list item
}

TEST_CASE("http: response framing") {
  auto framing = [](std::string_view head_text, std::string_view method = "GET") -> std::string {
    auto head = parse_response_head(head_text);
    REQUIRE(head);
    REQUIRE(*head);
    auto f = response_framing((*head)->head, method);
    if (!f) return "error " + std::to_string(f.error().status);
    static const char* names[] = {"none", "length", "chunked", "until_close"};
    return names[f->kind] + (f->kind == Framing::Length ? " " + std::to_string(f->length) : "");
  };
  CHECK(framing("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n") == "length 7");
  CHECK(framing("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", "HEAD") == "none");
  CHECK(framing("HTTP/1.1 204 No Content\r\n\r\n") == "none");
  CHECK(framing("HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n") == "none");
  CHECK(framing("HTTP/1.1 100 Continue\r\n\r\n") == "none");
  CHECK(framing("HTTP/1.1 200 OK\r\n\r\n") == "until_close");
  CHECK(framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") == "chunked");
  CHECK(framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n") == "until_close");
  CHECK(framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n") ==
        "error 502");
  CHECK(framing("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n") ==
        "error 502");
  CHECK(framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n") ==
        "error 502");
}

TEST_CASE("http: Content-Length bodies split anywhere") {
  const auto in = "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello worldGET"sv;
  CHECK(run_body({in}) == "body=hello world done after=GET");
  CHECK(split_body(in) == "");
  CHECK(run_body({"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello"}) ==
        "body=hello partial after=");
  CHECK(run_body({"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b"}) == "body= done after=GET /b");
}

TEST_CASE("http: chunked bodies split anywhere") {
  const auto in =
      "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=\"v\"\r\n world\r\nA ; x\r\n0123456789\r\n0\r\nTrailer: t\r\n\r\nNEXT"sv;
  CHECK(run_body({in}) == "body=hello world0123456789 done after=NEXT");
  CHECK(split_body(in) == "");
  const auto no_trailer =
      "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "00003\r\nabc\r\n0\r\n\r\n"sv;
  CHECK(run_body({no_trailer}) == "body=abc done after=");
  CHECK(split_body(no_trailer) == "");
}

TEST_CASE("http: malformed chunked bodies are errors") {
  const std::string head = "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"x\r\n", "body error invalid chunk size"},
      {"\r\n", "body error invalid chunk size"},
      {"-1\r\n", "body error invalid chunk size"},
      {"0x5\r\nhello\r\n0\r\n\r\n", "body error invalid chunk size"},
      {" 5\r\nhello\r\n0\r\n\r\n", "body error invalid chunk size"},
      {"5 \r\nhello\r\n0\r\n\r\n", "body error whitespace after chunk size"},
      {"5\nhello\r\n0\r\n\r\n", "body error chunk line not ended by CRLF"},
      {"5\r\nhello\n0\r\n\r\n", "body error chunk data not followed by CRLF"},
      {"5\r\nhelloXX0\r\n\r\n", "body error chunk data not followed by CRLF"},
      {"3\r\nhello\r\n0\r\n\r\n", "body error chunk data not followed by CRLF"},
      {"5\r5\r\nhello\r\n", "body error bare CR in chunked body"},
      {"5;a\x01\r\nhello\r\n", "body error control character in chunk extension"},
      {"fffffffffffffffff\r\n", "body error chunk size too large"},
      {"10000000001\r\n", "body error chunk size too large"},
      {"0\r\nbad trailer\r\n\r\n", "body error invalid trailer field"},
      {"0\r\nX: a\nY: b\r\n\r\n", "body error chunk line not ended by CRLF"},
  };
  for (const auto& [body, want] : cases) {
    CAPTURE(body);
    CHECK(run_body({head + body}) == want);
    CHECK(split_body(head + body) == "");
  }
  // Line limits: a chunk-size line or trailer section longer than max_line.
  CHECK(run_body({head + "5;" + std::string(100, 'e') + "\r\nhello\r\n0\r\n\r\n"}, 64) ==
        "body error chunk size line too long");
  CHECK(split_body(head + "5;" + std::string(100, 'e'), 64) == "");
  CHECK(run_body({head + "0\r\nA: " + std::string(40, 'a') + "\r\nB: " + std::string(40, 'b') +
                  "\r\n\r\n"},
                 64) == "body error trailer section too large");
  CHECK(run_body({head + "5;" + std::string(60, 'e') + "\r\nhello\r\n0\r\n\r\n"}, 64) ==
        "body=hello done after=");
}

TEST_CASE("http: until-close bodies and the none framing") {
  BodyReader until(Framing{Framing::UntilClose, 0});
  auto s = until.feed("abc");
  REQUIRE(s);
  CHECK(s->consumed == 3);
  CHECK_FALSE(until.done());
  until.end_of_input();
  CHECK(until.done());
  CHECK(until.body_bytes() == 3);
  BodyReader none(Framing{});
  CHECK(none.done());
  auto n = none.feed("GET");
  REQUIRE(n);
  CHECK(n->consumed == 0);
  CHECK(n->data.empty());
}

TEST_CASE("http: headers helpers and serialisation") {
  Headers h;
  h.add("Connection", "keep-alive, Upgrade");
  h.add("X-A", "1");
  h.add("x-a", "2");
  CHECK(*h.get("X-a") == "1");
  CHECK(h.get("nope") == nullptr);
  CHECK(h.joined("X-A") == "1, 2");
  CHECK(h.has_token("connection", "upgrade"));
  CHECK_FALSE(h.has_token("connection", "close"));
  CHECK(h.remove("X-A") == 2);
  CHECK(h.fields.size() == 1);

  ResponseHead r;
  r.status = 404;
  r.headers.add("Content-Length", "0");
  r.headers.add("X-Evil", "a\r\nSet-Cookie: x=1");
  CHECK(serialize(r) ==
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nX-Evil: a  Set-Cookie: x=1\r\n\r\n");
  r.reason = "Gone Fishing";
  CHECK(serialize(r).starts_with("HTTP/1.1 404 Gone Fishing\r\n"));
  RequestHead q;
  q.method = "POST";
  q.target = "/api/login";
  q.headers.add("Host", "node1");
  CHECK(serialize(q) == "POST /api/login HTTP/1.1\r\nHost: node1\r\n\r\n");
  // What we write we read back.
  auto back = parse_request_head(serialize(q));
  REQUIRE(back);
  REQUIRE(*back);
  CHECK((*back)->head.path == "/api/login");
  CHECK(reason_phrase(431) == "Request Header Fields Too Large");
  CHECK(reason_phrase(299) == "");
}

TEST_CASE("http: percent-decoding, query parameters") {
  CHECK(percent_decode("a%2Fb%2fc") == "a/b/c");
  CHECK(percent_decode("a+b") == "a+b");
  CHECK(percent_decode("a+b", true) == "a b");
  CHECK(percent_decode("%") == std::nullopt);
  CHECK(percent_decode("%4") == std::nullopt);
  CHECK(percent_decode("%zz") == std::nullopt);
  CHECK(percent_decode("ab%4") == std::nullopt);
  CHECK(percent_decode("%41%") == std::nullopt);
  CHECK(percent_decode("%C3%A9") == "\xc3\xa9");
  CHECK(percent_decode("") == "");
  CHECK(percent_encode("a b/é~") == "a%20b%2F%C3%A9~");
  CHECK(percent_decode(percent_encode("x\x01\xff/?&=")) == "x\x01\xff/?&=");

  CHECK(query_param("page=2&sort=date", "sort") == "date");
  CHECK(query_param("page=2&sort=date", "page") == "2");
  CHECK(query_param("page=2&sort=date", "size") == std::nullopt);
  CHECK(query_param("q=a+b%26c&q=second", "q") == "a b&c");
  CHECK(query_param("flag&x=1", "flag") == "");
  CHECK(query_param("x%3D=1", "x=") == "1");
  CHECK(query_param("q=%zz&q=ok", "q") == "ok");
  CHECK(query_param("", "q") == std::nullopt);
  CHECK(query_param("&&q=1&", "q") == "1");
  CHECK(query_param("q=a=b", "q") == "a=b");
}

TEST_CASE("http: cookie values") {
  Headers h;
  h.add("Cookie", "a=1; postern_route=v1.abc; postern_session=\"tok\"");
  CHECK(cookie_value(h, "postern_route") == "v1.abc");
  CHECK(cookie_value(h, "postern_session") == "tok");
  CHECK(cookie_value(h, "a") == "1");
  CHECK(cookie_value(h, "postern") == std::nullopt);
  CHECK(cookie_value(h, "route") == std::nullopt);
  Headers two;
  two.add("cookie", "x=1;y=");
  two.add("COOKIE", "z=3; x=2");
  CHECK(cookie_value(two, "x") == "1");
  CHECK(cookie_value(two, "y") == "");
  CHECK(cookie_value(two, "z") == "3");
  Headers odd;
  odd.add("Cookie", "novalue; =v; a = b ;");
  CHECK(cookie_value(odd, "novalue") == std::nullopt);
  CHECK(cookie_value(odd, "a") == "b");
  CHECK(cookie_value(Headers{}, "a") == std::nullopt);
}
