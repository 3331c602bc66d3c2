#include "backend/store/sqlite_db.hpp"

#include <sqlite3.h>

#include <cassert>
#include <utility>

#include "core/log.hpp"

namespace postern::node::store {

void SqliteCloser::operator()(sqlite3* db) const noexcept {
  sqlite3_close_v2(db);
}

void StatementFinalizer::operator()(sqlite3_stmt* stmt) const noexcept {
  sqlite3_finalize(stmt);
}

StoreError sqlite_error(sqlite3* db, int code, std::string_view what) {
  core::log_error("store_sqlite_error")
      .kv("what", what)
      .kv("code", code)
      .kv("error", db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(code));
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return StoreError::Busy;
    case SQLITE_FULL:
      return StoreError::NoSpace;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_CONSTRAINT:  // we check before inserting: a violation means drift
      return StoreError::Corrupt;
    default:
      return StoreError::Io;
  }
}

Statement::Statement(Statement&& other) noexcept
    : stmt_(std::exchange(other.stmt_, nullptr)), db_(other.db_), bind_error_(other.bind_error_) {}

Statement::~Statement() {
  if (stmt_ != nullptr) reset();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = SQLITE_OK;
}

Statement& Statement::bind(int index, std::int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::bind_text(int index, std::string_view value) {
  int rc =
      sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::bind_blob(int index, std::string_view value) {
  // A zero-length blob still binds as a blob, not NULL.
  static constexpr char kEmpty = 0;
  const void* data = value.empty() ? &kEmpty : value.data();
  int rc = sqlite3_bind_blob64(stmt_, index, data, value.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

StoreResult<bool> Statement::step() {
  if (bind_error_ != SQLITE_OK) return fail(sqlite_error(db_, bind_error_, sqlite3_sql(stmt_)));
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return fail(sqlite_error(db_, rc, sqlite3_sql(stmt_)));
}

StoreResult<void> Statement::run() {
  while (true) {
    auto row = step();
    if (!row) return fail(row.error());
    if (!*row) return {};
  }
}

std::int64_t Statement::column_int64(int index) const {
  return sqlite3_column_int64(stmt_, index);
}

std::string_view Statement::column_text(int index) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
  int n = sqlite3_column_bytes(stmt_, index);
  return p == nullptr ? std::string_view() : std::string_view(p, static_cast<std::size_t>(n));
}

std::string_view Statement::column_blob(int index) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, index));
  int n = sqlite3_column_bytes(stmt_, index);
  return p == nullptr ? std::string_view() : std::string_view(p, static_cast<std::size_t>(n));
}

StoreResult<Database> Database::open(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  Database db;
  db.db_.reset(raw);  // owned even when the open failed
  if (rc != SQLITE_OK) return fail(sqlite_error(raw, rc, path));
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

StoreResult<Statement> Database::prepare(const char* sql) {
  auto it = cache_.find(sql);
  if (it == cache_.end()) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    StatementPtr stmt(raw);
    if (rc != SQLITE_OK) return fail(sqlite_error(db_.get(), rc, sql));
    it = cache_.emplace(sql, std::move(stmt)).first;
  }
  // Two live Statements on one cached sqlite3_stmt would corrupt each other.
  assert(!sqlite3_stmt_busy(it->second.get()));
  return Statement(it->second.get(), db_.get());
}

StoreResult<void> Database::exec(const char* sql) {
  int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail(sqlite_error(db_.get(), rc, sql));
  return {};
}

StoreResult<std::int64_t> Database::query_int(const char* sql) {
  auto st = prepare(sql);
  if (!st) return fail(st.error());
  auto row = st->step();
  if (!row) return fail(row.error());
  if (!*row) return fail(StoreError::Corrupt);
  return st->column_int64(0);
}

bool Database::in_transaction() const {
  return db_ != nullptr && sqlite3_get_autocommit(db_.get()) == 0;
}

RelaxedSync::RelaxedSync(Database& db) : db_(db) {
  ok_ = db_.exec("PRAGMA synchronous = NORMAL").has_value();
}

RelaxedSync::~RelaxedSync() {
  // Cannot fail in practice (no I/O); logged by exec() if it does.
  if (ok_) db_.exec("PRAGMA synchronous = FULL");
}

StoreResult<Transaction> Transaction::begin(Database& db) {
  if (auto ok = db.exec("BEGIN IMMEDIATE"); !ok) return fail(ok.error());
  return Transaction(&db);
}

StoreResult<Transaction> Transaction::begin_read(Database& db) {
  if (auto ok = db.exec("BEGIN DEFERRED"); !ok) return fail(ok.error());
  return Transaction(&db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() {
  if (db_ != nullptr && db_->in_transaction()) db_->exec("ROLLBACK");
}

StoreResult<void> Transaction::commit() {
  Database* db = std::exchange(db_, nullptr);
  if (auto ok = db->exec("COMMIT"); !ok) {
    if (db->in_transaction()) db->exec("ROLLBACK");  // a failed COMMIT may leave it open
    return ok;
  }
  return {};
}

}  // namespace postern::node::store
