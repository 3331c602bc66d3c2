#include "backend/delivery/message_spool.hpp"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "backend/mime/imap_format.hpp"
#include "backend/mime/message_parser.hpp"
#include "backend/mime/structure_codec.hpp"
#include "test/unit/backend/store/store_test_support.hpp"
#include "test/unit/test_text.hpp"

using namespace postern::node;
using postern::node::delivery::MessageSpool;
using postern::node::store::test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::size_t files_in(const fs::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

// Spools `input` cut into pieces of `step` bytes; returns the file's bytes.
std::string spool_in_steps(const fs::path& dir, std::string_view input, std::size_t step,
                           store::NewMessage* out = nullptr) {
  auto spool = MessageSpool::create((dir / "tmp").string());
  REQUIRE(spool.has_value());
  for (std::size_t i = 0; i < input.size(); i += step) REQUIRE(spool->write(input.substr(i, step)));
  auto message = spool->finish();
  REQUIRE(message.has_value());
  std::string bytes = slurp(message->source_path);
  CHECK(message->size == bytes.size());
  CHECK(spool->size() == bytes.size());
  if (out != nullptr) *out = *message;
  fs::remove(message->source_path);
  return bytes;
}

const std::string kLf =
    "From: Alice <alice@example.com>\nTo: bob@example.com\nSubject: hello\n"
    "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\nContent-Type: "
    "text/html\n\n<p>two</p>\n--b--\n";

using postern::test::crlf;

}  // namespace

TEST_CASE("delivery spool: bare LF becomes CRLF, at every split") {
  TempDir dir;
  for (std::size_t step = 1; step <= kLf.size(); ++step)
    CHECK(spool_in_steps(dir.path(), kLf, step) == crlf(kLf));
}

TEST_CASE("delivery spool: CRLF is kept, also when CR and LF arrive in two writes") {
  TempDir dir;
  std::string input = crlf(kLf);
  for (std::size_t step = 1; step <= 7; ++step)
    CHECK(spool_in_steps(dir.path(), input, step) == input);

  auto spool = MessageSpool::create((dir.path() / "tmp").string());
  REQUIRE(spool.has_value());
  REQUIRE(spool->write("Subject: x\r"));
  REQUIRE(spool->write("\n\r"));
  REQUIRE(spool->write("\nbody\r"));
  REQUIRE(spool->write("\n"));
  auto m = spool->finish();
  REQUIRE(m.has_value());
  CHECK(slurp(m->source_path) == "Subject: x\r\n\r\nbody\r\n");
}

TEST_CASE("delivery spool: mixed line ends, a lone CR and no final line end") {
  TempDir dir;
  CHECK(spool_in_steps(dir.path(), "a\r\nb\nc\rd\n\ne", 3) == "a\r\nb\r\nc\rd\r\n\r\ne");
  CHECK(spool_in_steps(dir.path(), "", 1).empty());
}

TEST_CASE("delivery spool: meta round-trips through mime::deserialize") {
  TempDir dir;
  store::NewMessage m;
  std::string bytes = spool_in_steps(dir.path(), kLf, 5, &m);
  CHECK(m.source_mode == store::SourceMode::Move);
  CHECK(m.flags == 0);
  CHECK(m.keywords.empty());
  CHECK(m.internal_date.zone_minutes == 0);
  CHECK(m.internal_date.seconds > 1'600'000'000);

  auto parsed = mime::deserialize(m.meta.structure);
  REQUIRE(parsed.has_value());
  CHECK(*parsed == mime::parse_message(bytes));
  CHECK(parsed->is_multipart());
  REQUIRE(parsed->children.size() == 2);
  CHECK(parsed->children[1].subtype == "html");
  CHECK(parsed->end_offset == bytes.size());  // offsets are those of the CRLF file
  CHECK(m.meta.envelope == mime::envelope_to_imap(parsed->envelope));
  CHECK(m.meta.envelope.find("\"hello\"") != std::string::npos);
  CHECK(delivery::meta_for(*parsed).structure == m.meta.structure);
}

TEST_CASE("delivery spool: the file goes with the spool unless finish() handed it over") {
  TempDir dir;
  fs::path tmp = dir.path() / "tmp";
  std::string path;
  {
    auto spool = MessageSpool::create(tmp.string());
    REQUIRE(spool.has_value());
    REQUIRE(spool->write("Subject: x\n\nbody\n"));
    path = spool->path();
    CHECK(fs::exists(path));
    MessageSpool moved = std::move(*spool);  // a moved-from spool removes nothing
    CHECK(fs::exists(path));
    CHECK(moved.path() == path);
  }
  CHECK_FALSE(fs::exists(path));
  CHECK(files_in(tmp) == 0);

  std::string kept;
  {
    auto spool = MessageSpool::create(tmp.string());
    REQUIRE(spool.has_value());
    REQUIRE(spool->write("x\n"));
    auto m = spool->finish();
    REQUIRE(m.has_value());
    kept = m->source_path;
    CHECK_FALSE(spool->write("more"));  // finished: no more bytes
  }
  CHECK(fs::exists(kept));
}

TEST_CASE("delivery spool: create names the folder it cannot use") {
  auto spool = MessageSpool::create("/nonexistent-postern/a/tmp");
  REQUIRE_FALSE(spool.has_value());
  CHECK(spool.error().find("/nonexistent-postern/a/tmp") != std::string::npos);
}
