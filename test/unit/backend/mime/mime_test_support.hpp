// Helpers for the MIME parser tests: read a corpus message, parse it in chunks,
// and print everything the parser produced so split-invariance can compare it.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "backend/mime/imap_format.hpp"
#include "backend/mime/message_parser.hpp"
#include "backend/mime/structure_codec.hpp"

namespace postern::node::mime::test {

inline std::string read_corpus(const std::string& name) {
  std::ifstream in(std::string(MIME_CORPUS) + "/" + name, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

inline MessagePart parse_chunks(const std::vector<std::string_view>& chunks, Limits limits = {}) {
  MessageParser parser(limits);
  for (auto chunk : chunks) parser.feed(chunk);
  return parser.finish();
}

// One line per part: its path in the tree ("2/1" is the first child of the
// second child; not an IMAP section number), offsets, line count and type.
inline void outline(const MessagePart& part, const std::string& number, std::string& out) {
  out += (number.empty() ? std::string("root") : number) + " " + part.type + "/" + part.subtype +
         " h=" + std::to_string(part.header_offset) + " b=" + std::to_string(part.body_offset) +
         " e=" + std::to_string(part.end_offset) + " lines=" + std::to_string(part.body_lines) +
         "\n";
  for (std::size_t i = 0; i < part.children.size(); ++i) {
    outline(part.children[i],
            number.empty() ? std::to_string(i + 1) : number + "/" + std::to_string(i + 1), out);
  }
}

// Everything observable: the outline (offsets included), both IMAP renderings
// and the serialized form (which holds every field of every part).
inline std::string summary(const MessagePart& root) {
  std::string out;
  outline(root, "", out);
  out += bodystructure_to_imap(root, true) + "\n";
  out += envelope_to_imap(root.envelope) + "\n";
  out += serialize(root);
  return out;
}

inline std::string summary_of(const std::vector<std::string_view>& chunks, Limits limits = {}) {
  return summary(parse_chunks(chunks, limits));
}

}  // namespace postern::node::mime::test
