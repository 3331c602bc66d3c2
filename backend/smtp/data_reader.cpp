#include "backend/smtp/data_reader.hpp"

namespace postern::node::smtp {

DataReader::Result DataReader::feed(std::string_view input, std::string& out) {
  Result r;
  std::size_t i = 0;
  // Runs of ordinary bytes are copied in one append.
  std::size_t run = 0;
  auto flush_run = [&](std::size_t end) {
    if (end > run) out.append(input.substr(run, end - run));
  };
  for (; i < input.size(); ++i) {
    const char c = input[i];
    switch (state_) {
      case State::LineStart:
        if (c == '.') {
          flush_run(i);
          state_ = State::Dot;
          run = i + 1;  // the dot itself is dropped (or re-added below)
        } else if (c == '\r') {
          state_ = State::Cr;
        } else {
          state_ = State::Middle;
        }
        break;
      case State::Dot:
        if (c == '\r') {
          state_ = State::DotCr;
          run = i + 1;
        } else {
          // ".x": a stuffed dot; the line goes on with x.
          state_ = c == '\r' ? State::Cr : State::Middle;
          run = i;
        }
        break;
      case State::DotCr:
        if (c == '\n') {
          // End of data. The CRLF before the dot belongs to the message.
          r.consumed = i + 1;
          r.done = true;
          state_ = State::LineStart;
          return r;
        }
        // ".\rx": a line ".\r..." that is not the end: keep the CR.
        out.push_back('\r');
        state_ = c == '\r' ? State::Cr : State::Middle;
        run = i;
        break;
      case State::Middle:
        if (c == '\r') state_ = State::Cr;
        break;
      case State::Cr:
        if (c == '\n') {
          state_ = State::LineStart;
        } else if (c != '\r') {
          state_ = State::Middle;
        }
        break;
    }
  }
  flush_run(i);
  r.consumed = i;
  return r;
}

}  // namespace postern::node::smtp
