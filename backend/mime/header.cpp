#include "backend/mime/header.hpp"

#include "backend/mime/text.hpp"

namespace postern::node::mime {

namespace {

// RFC 5322 ftext: printable US-ASCII except ':'.
bool valid_field_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126 || c == ':') return false;
  }
  return true;
}

}  // namespace

HeaderCollector::HeaderCollector(std::size_t max_bytes, std::size_t max_fields)
    : max_bytes_(max_bytes), max_fields_(max_fields) {}

std::size_t HeaderCollector::remaining() const {
  return exhausted_ ? 0 : max_bytes_ - used_;
}

void HeaderCollector::add_line(std::string_view line, std::uint64_t full_length) {
  if (exhausted_) return;
  const std::uint64_t cost = full_length + 2;
  if (line.size() < full_length || cost > max_bytes_ - used_) {
    exhausted_ = true;
    // A new field proves the one before complete; a continuation line cut off
    // would leave it wrong, not just short.
    if (!line.empty() && !is_wsp(line.front())) {
      complete_field();
    } else {
      current_.reset();
    }
    return;
  }
  used_ += static_cast<std::size_t>(cost);

  if (!line.empty() && is_wsp(line.front())) {
    if (current_) current_->value += line;  // unfolding: drop the line break only
    return;
  }
  complete_field();
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return;
  // obs-optional (RFC 5322 section 4.5.8): blanks may precede the colon.
  const std::string_view name = trim_wsp(line.substr(0, colon));
  if (!valid_field_name(name)) return;
  if (seen_fields_ >= max_fields_) {
    exhausted_ = true;
    return;
  }
  ++seen_fields_;
  current_ = HeaderField{std::string(name), std::string(line.substr(colon + 1))};
}

void HeaderCollector::complete_field() {
  if (!current_) return;
  current_->value = std::string(trim_wsp(current_->value));
  fields_.push_back(std::move(*current_));
  current_.reset();
}

std::vector<HeaderField> HeaderCollector::take_fields() {
  complete_field();
  exhausted_ = true;
  std::vector<HeaderField> out = std::move(fields_);
  fields_.clear();
  return out;
}

const HeaderField* find_field(const std::vector<HeaderField>& fields, std::string_view name) {
  for (const auto& field : fields) {
    if (iequals(field.name, name)) return &field;
  }
  return nullptr;
}

}  // namespace postern::node::mime
