// multipart/form-data as browsers send it (RFC 7578), and the ways it goes wrong.
#include "backend/webmail/form_data.hpp"

#include <doctest/doctest.h>

#include <string>

using postern::node::webmail::FormLimits;
using postern::node::webmail::parse_form_data;
using postern::node::webmail::parse_form_data_views;

namespace {

constexpr std::string_view kType = "multipart/form-data; boundary=----WebKitFormBoundaryx7Q";

std::string body_with(std::string_view file_data) {
  return std::string(
             "------WebKitFormBoundaryx7Q\r\n"
             "Content-Disposition: form-data; name=\"to\"\r\n"
             "\r\n"
             "bob@example.com\r\n"
             "------WebKitFormBoundaryx7Q\r\n"
             "Content-Disposition: form-data; name=\"subject\"\r\n"
             "\r\n"
             "Gr\xc3\xbc\xc3\x9f\x65\r\n"
             "------WebKitFormBoundaryx7Q\r\n"
             "Content-Disposition: form-data; name=\"attachment\"; filename=\"report.bin\"\r\n"
             "Content-Type: application/octet-stream\r\n"
             "\r\n") +
         std::string(file_data) + "\r\n------WebKitFormBoundaryx7Q--\r\n";
}

}  // namespace

TEST_CASE("form data: fields and a file, the file's bytes intact") {
  constexpr char kBinary[] = "\r\n--\0\xff\r\n------WebKitFormBoundaryx7\r\n";
  const std::string binary(kBinary, sizeof kBinary - 1);
  const std::string body = body_with(binary);
  const auto parts = parse_form_data(kType, body);
  REQUIRE(parts);
  REQUIRE(parts->size() == 3);
  CHECK((*parts)[0].name == "to");
  CHECK((*parts)[0].data == "bob@example.com");
  CHECK(!(*parts)[0].filename);
  CHECK((*parts)[0].content_type == "text/plain");
  CHECK((*parts)[1].data == "Gr\u00fc\u00dfe");
  CHECK((*parts)[2].name == "attachment");
  REQUIRE((*parts)[2].filename);
  CHECK(*(*parts)[2].filename == "report.bin");
  CHECK((*parts)[2].content_type == "application/octet-stream");
  CHECK((*parts)[2].data == binary);
}

TEST_CASE("form data: the views variant points into the body, not at copies") {
  const std::string body = body_with("file bytes");
  const auto parts = parse_form_data_views(kType, body);
  REQUIRE(parts);
  REQUIRE(parts->size() == 3);
  const auto& file = (*parts)[2];
  CHECK(file.data == "file bytes");
  CHECK(file.data.data() >= body.data());
  CHECK(file.data.data() + file.data.size() <= body.data() + body.size());
  CHECK(*file.filename == "report.bin");
  CHECK(parse_form_data_views("application/json", "{}").error() ==
        "the body is not multipart/form-data");
}

TEST_CASE("form data: empty fields, an empty file, preamble and epilogue") {
  const std::string body =
      "preamble\r\n--b\r\n"
      "Content-Disposition: form-data; name=\"cc\"\r\n\r\n"
      "\r\n--b\r\n"
      "Content-Disposition: form-data; name=\"attachment\"; filename=\"\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n"
      "\r\n--b--\r\nepilogue";
  const auto parts = parse_form_data("multipart/form-data; boundary=b", body);
  REQUIRE(parts);
  REQUIRE(parts->size() == 2);
  CHECK((*parts)[0].data.empty());
  REQUIRE((*parts)[1].filename);
  CHECK((*parts)[1].filename->empty());
}

TEST_CASE("form data: file names lose their path; filename* and escaped quotes are decoded") {
  const std::string body =
      "--b\r\n"
      "Content-Disposition: form-data; name=\"f1\"; "
      "filename=\"C:\\\\Users\\\\bob\\\\a.txt\"\r\n\r\n"
      "1\r\n--b\r\n"
      "Content-Disposition: form-data; name=\"f2\"; filename=\"../../etc/passwd\"\r\n\r\n"
      "2\r\n--b\r\n"
      "Content-Disposition: form-data; name=\"f3\"; filename*=UTF-8''%C3%BCber.pdf\r\n\r\n"
      "3\r\n--b\r\n"
      "Content-Disposition: form-data; name=\"f4\"; filename=\"say %22hi%22.txt\"\r\n\r\n"
      "4\r\n--b\r\n"
      "Content-Disposition: form-data; name=\"f5\"; filename=\"\xc3\xa9t\xc3\xa9.txt\"\r\n\r\n"
      "5\r\n--b--";
  const auto parts = parse_form_data("multipart/form-data; boundary=\"b\"", body);
  REQUIRE(parts);
  REQUIRE(parts->size() == 5);
  CHECK(*(*parts)[0].filename == "a.txt");
  CHECK(*(*parts)[1].filename == "passwd");
  CHECK(*(*parts)[2].filename == "\u00fcber.pdf");
  CHECK(*(*parts)[3].filename == "say \"hi\".txt");
  CHECK(*(*parts)[4].filename == "\u00e9t\u00e9.txt");
}

TEST_CASE("form data: errors are named") {
  CHECK(parse_form_data("application/json", "{}").error() == "the body is not multipart/form-data");
  CHECK(parse_form_data("multipart/form-data", "--b--").error() ==
        "no boundary in the Content-Type");
  CHECK(parse_form_data("multipart/form-data; boundary=b", "nothing here").error() ==
        "no boundary line");
  const std::string unclosed =
      "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nvalue without end";
  CHECK(parse_form_data("multipart/form-data; boundary=b", unclosed).error() ==
        "missing closing boundary");
  const std::string no_final = "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--b";
  CHECK(parse_form_data("multipart/form-data; boundary=b", no_final).error() ==
        "missing closing boundary");
  const std::string no_name = "--b\r\nContent-Disposition: form-data\r\n\r\nv\r\n--b--";
  CHECK(parse_form_data("multipart/form-data; boundary=b", no_name).error() ==
        "part 1 has no field name");
  const std::string not_form = "--b\r\nContent-Disposition: attachment; name=x\r\n\r\nv\r\n--b--";
  CHECK(parse_form_data("multipart/form-data; boundary=b", not_form).error() ==
        "part 1 is not form-data");
  const std::string no_cd = "--b\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--";
  CHECK(parse_form_data("multipart/form-data; boundary=b", no_cd).error() ==
        "part 1 has no Content-Disposition");
}

TEST_CASE("form data: limits on parts and part headers") {
  std::string body;
  for (int i = 0; i < 5; ++i) {
    body +=
        "--b\r\nContent-Disposition: form-data; name=\"f" + std::to_string(i) + "\"\r\n\r\nx\r\n";
  }
  body += "--b--\r\n";
  FormLimits limits;
  limits.max_parts = 4;
  CHECK(parse_form_data("multipart/form-data; boundary=b", body, limits).error() ==
        "more than 4 parts");
  limits.max_parts = 5;
  CHECK(parse_form_data("multipart/form-data; boundary=b", body, limits)->size() == 5);
  limits.max_part_header = 20;
  CHECK(parse_form_data("multipart/form-data; boundary=b", body, limits).error() ==
        "part 1 header too large");
}

TEST_CASE("form data: the result does not depend on where a value holds boundary-like text") {
  // Every prefix of the delimiter inside a value is data.
  const std::string delimiter = "\r\n------WebKitFormBoundaryx7Q";
  for (std::size_t n = 1; n < delimiter.size(); ++n) {
    const std::string data = "a" + delimiter.substr(0, n) + "b";
    const auto parts = parse_form_data(kType, body_with(data));
    REQUIRE(parts);
    CHECK((*parts)[2].data == data);
  }
}
