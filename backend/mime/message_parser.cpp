#include "backend/mime/message_parser.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace postern::node::mime {

struct MessageParser::Frame {
  MessagePart part;
  Phase phase = Phase::Headers;
  bool is_message = false;    // the top level or a message/rfc822 body: has an envelope
  bool in_digest = false;     // a part of multipart/digest
  std::string boundary;       // multipart only, without the leading "--"
  std::uint64_t body_lf = 0;  // LFs before body_offset
  HeaderCollector headers;
};

namespace {

// An opaque leaf cannot claim to be a container: IMAP would expect children.
void make_opaque(MessagePart& part) {
  part.type = "application";
  part.subtype = "octet-stream";
}

}  // namespace

MessageParser::MessageParser(Limits limits) : limits_(limits) {
  reset();
}

MessageParser::~MessageParser() = default;

void MessageParser::reset() {
  offset_ = 0;
  lf_count_ = 0;
  parts_ = 0;
  line_open_ = false;
  line_raw_ = 0;
  line_.clear();
  prev_ending_ = 0;
  frames_.clear();
  boundary_frames_.clear();
  push_part(0, true, false);
}

void MessageParser::push_part(std::uint64_t header_offset, bool is_message, bool in_digest) {
  Frame frame{MessagePart{},
              Phase::Headers,
              is_message,
              in_digest,
              {},
              0,
              HeaderCollector(limits_.max_header_bytes, limits_.max_header_fields)};
  frame.part.header_offset = header_offset;
  frames_.push_back(std::move(frame));
  ++parts_;
}

void MessageParser::feed(std::string_view bytes) {
  while (!bytes.empty()) {
    if (!line_open_) begin_line();
    const void* lf = std::memchr(bytes.data(), '\n', bytes.size());
    const std::size_t piece =
        lf ? static_cast<std::size_t>(static_cast<const char*>(lf) - bytes.data()) : bytes.size();
    if (piece > 0) {
      if (line_.size() < line_keep_) {
        line_.append(bytes.data(), std::min(piece, line_keep_ - line_.size()));
      }
      line_raw_ += piece;
      line_last_ = bytes[piece - 1];
      offset_ += piece;
    }
    if (!lf) return;
    ++offset_;
    bytes.remove_prefix(piece + 1);
    end_line(1);
  }
}

void MessageParser::begin_line() {
  line_open_ = true;
  line_start_ = offset_;
  line_raw_ = 0;
  line_last_ = 0;
  line_.clear();
  // A body line is only ever looked at to see whether it is a boundary line:
  // "--", the longest boundary and "--" again are all that must be kept.
  std::size_t keep = boundary_frames_.empty() ? 0 : limits_.max_boundary_bytes + 4;
  const Frame& top = frames_.back();
  if (top.phase == Phase::Headers) keep = std::max(keep, top.headers.remaining() + 1);
  line_keep_ = keep;
}

void MessageParser::end_line(unsigned lf) {
  Line line;
  line.start = line_start_;
  line.length = line_raw_;
  line.ending = lf;
  if (lf == 1 && line_raw_ > 0 && line_last_ == '\r') {
    line.ending = 2;
    --line.length;
  }
  line.kept = line_;
  if (line.kept.size() > line.length) line.kept = line.kept.substr(0, line.length);
  on_line(line);
  line_open_ = false;
  lf_count_ += lf;
  prev_ending_ = line.ending;
}

void MessageParser::on_line(const Line& line) {
  BoundaryMatch match;
  if (line.kept.starts_with("--") && match_boundary(line.kept, match)) {
    if (match.close || parts_ < limits_.max_parts) {
      on_boundary(line, match);
      return;
    }
  }
  Frame& top = frames_.back();
  if (top.phase != Phase::Headers) return;  // a body line: only counted
  if (line.length == 0 && line.ending > 0) {
    end_headers(line.start + line.ending, lf_count_ + 1);
  } else {
    top.headers.add_line(line.kept, line.length);
  }
}

// Like Dovecot: the line must start with "--" and a boundary of an enclosing
// multipart; when several match (boundaries that prefix each other) the longest
// wins, and among equal ones the innermost. Text after the boundary is
// tolerated, as real mailers add some.
bool MessageParser::match_boundary(std::string_view kept, BoundaryMatch& match) const {
  const std::string_view rest = kept.substr(2);
  bool found = false;
  std::size_t best = 0;
  for (auto it = boundary_frames_.rbegin(); it != boundary_frames_.rend(); ++it) {
    const std::string& boundary = frames_[*it].boundary;
    if (found && boundary.size() <= best) continue;
    if (rest.starts_with(boundary)) {
      found = true;
      best = boundary.size();
      match.frame = *it;
    }
  }
  if (found) match.close = rest.substr(best).starts_with("--");
  return found;
}

void MessageParser::on_boundary(const Line& line, const BoundaryMatch& match) {
  // RFC 2046 section 5.1.1: the line break before a boundary line belongs to the
  // boundary, not to the part it ends.
  const std::uint64_t end = line.start >= prev_ending_ ? line.start - prev_ending_ : line.start;
  const std::uint64_t end_lf = prev_ending_ > 0 && lf_count_ > 0 ? lf_count_ - 1 : lf_count_;
  while (frames_.size() > match.frame + 1) close_top(end, end_lf);

  Frame& multipart = frames_.back();
  if (match.close) {
    multipart.phase = Phase::Epilogue;
    boundary_frames_.pop_back();
    return;
  }
  multipart.phase = Phase::Parts;
  const bool digest = multipart.part.subtype == "digest";
  push_part(line.start + line.length + line.ending, false, digest);
}

void MessageParser::end_headers(std::uint64_t body_offset, std::uint64_t body_lf) {
  const std::size_t index = frames_.size() - 1;
  Frame& frame = frames_.back();
  frame.part.body_offset = body_offset;
  frame.body_lf = body_lf;
  apply_headers(frame);
  frame.phase = settle(frame, frames_.size());
  if (frame.phase == Phase::Preamble) {
    boundary_frames_.push_back(index);
  } else if (frame.phase == Phase::Encapsulated) {
    push_part(body_offset, true, false);  // invalidates `frame`
  }
}

void MessageParser::apply_headers(Frame& frame) {
  const std::vector<HeaderField> fields = frame.headers.take_fields();
  apply_content_fields(fields, frame.in_digest, frame.part);
  if (frame.is_message) frame.part.envelope = build_envelope(fields);
}

// What the part's body is, now that its header is known: Leaf, Preamble (a
// multipart) or Encapsulated (message/rfc822). `depth`: 1 for the top level.
MessageParser::Phase MessageParser::settle(Frame& frame, std::size_t depth) const {
  MessagePart& part = frame.part;
  const bool too_deep = depth >= limits_.max_depth;
  if (part.type == "multipart") {
    const std::string* boundary = part.param("boundary");
    if (!boundary || boundary->empty() || boundary->size() > limits_.max_boundary_bytes) {
      // Without a boundary the parts cannot be found: show the body as text.
      part.type = "text";
      part.subtype = "plain";
      if (!part.param("charset")) part.params.emplace_back("charset", "us-ascii");
      return Phase::Leaf;
    }
    if (too_deep) {
      make_opaque(part);
      return Phase::Leaf;
    }
    frame.boundary = *boundary;
    return Phase::Preamble;
  }
  if (part.type == "message" && part.subtype == "rfc822") {
    if (too_deep || parts_ >= limits_.max_parts) {
      make_opaque(part);
      return Phase::Leaf;
    }
    return Phase::Encapsulated;
  }
  return Phase::Leaf;
}

void MessageParser::close_top(std::uint64_t end, std::uint64_t end_lf) {
  if (!boundary_frames_.empty() && boundary_frames_.back() == frames_.size() - 1) {
    boundary_frames_.pop_back();
  }
  Frame frame = std::move(frames_.back());
  frames_.pop_back();
  close_frame(frame, end, end_lf);
  frames_.back().part.children.push_back(std::move(frame.part));
}

void MessageParser::close_frame(Frame& frame, std::uint64_t end, std::uint64_t end_lf) {
  MessagePart& part = frame.part;
  if (frame.phase == Phase::Headers) {
    // The header never ended with a blank line: it runs up to `end` and the
    // body is empty.
    const std::uint64_t at = std::max(end, part.header_offset);
    part.body_offset = part.end_offset = at;
    part.body_lines = 0;
    apply_headers(frame);
    // The frame is already off the stack: its depth is one more than what is left.
    if (settle(frame, frames_.size() + 1) == Phase::Encapsulated) {
      MessagePart empty;  // keep the promise: message/rfc822 has one child
      empty.header_offset = empty.body_offset = empty.end_offset = at;
      empty.params.emplace_back("charset", "us-ascii");
      part.children.push_back(std::move(empty));
    }
    return;
  }
  if (end < part.body_offset) {
    end = part.body_offset;
    end_lf = frame.body_lf;
  }
  part.end_offset = end;
  const std::uint64_t lines = end_lf - frame.body_lf;
  part.body_lines = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(lines, std::numeric_limits<std::uint32_t>::max()));
}

MessagePart MessageParser::finish() {
  if (line_open_ && line_raw_ > 0) end_line(0);
  while (frames_.size() > 1) close_top(offset_, lf_count_);
  Frame root = std::move(frames_.back());
  frames_.pop_back();
  close_frame(root, offset_, lf_count_);
  MessagePart result = std::move(root.part);
  reset();
  return result;
}

MessagePart parse_message(std::string_view message, Limits limits) {
  MessageParser parser(limits);
  parser.feed(message);
  return parser.finish();
}

}  // namespace postern::node::mime
