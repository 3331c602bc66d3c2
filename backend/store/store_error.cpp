#include "backend/store/store_error.hpp"

namespace postern::node::store {

std::string_view store_error_name(StoreError error) {
  switch (error) {
    case StoreError::NoSuchMailbox:
      return "no_such_mailbox";
    case StoreError::NoSuchMessage:
      return "no_such_message";
    case StoreError::AlreadyExists:
      return "already_exists";
    case StoreError::NotAllowed:
      return "not_allowed";
    case StoreError::BadArgument:
      return "bad_argument";
    case StoreError::Limit:
      return "limit";
    case StoreError::QuotaExceeded:
      return "quota_exceeded";
    case StoreError::NoSpace:
      return "no_space";
    case StoreError::Busy:
      return "busy";
    case StoreError::Io:
      return "io";
    case StoreError::Corrupt:
      return "corrupt";
  }
  return "unknown";
}

}  // namespace postern::node::store
