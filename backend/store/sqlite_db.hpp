// RAII over SQLite (STYLE.md rule 15): a connection owning its prepared
// statements, cached by SQL text, and a transaction guard.
//
//   auto st = db.prepare("SELECT uid FROM message WHERE mailbox_id = ?1");
//   if (!st) return fail(st.error());
//   st->bind(1, id);
//   while (true) { auto row = st->step(); if (!row) ...; if (!*row) break; ... }
//
// A Statement borrows a cached sqlite3_stmt and resets it (and clears its
// bindings) when destroyed; prepare() the same SQL again only after that.
// Errors are logged here with SQLite's message and mapped to StoreError.
// Not thread-safe: one thread at a time per Database (AccountStore's mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "backend/store/store_error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace postern::node::store {

struct SqliteCloser {
  void operator()(sqlite3* db) const noexcept;
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept;
};
using SqlitePtr = std::unique_ptr<sqlite3, SqliteCloser>;
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

class Statement {
 public:
  Statement(sqlite3_stmt* stmt, sqlite3* db) : stmt_(stmt), db_(db) {}
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&&) = delete;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based. A failed bind is reported by the next step().
  Statement& bind(int index, std::int64_t value);
  Statement& bind_text(int index, std::string_view value);
  Statement& bind_blob(int index, std::string_view value);

  // true: a row is available; false: done.
  StoreResult<bool> step();
  // Steps to completion, ignoring rows.
  StoreResult<void> run();
  // Ready to bind and step again (as after prepare()).
  void reset();

  // Columns are 0-based; views stay valid until the next step().
  std::int64_t column_int64(int index) const;
  std::string_view column_text(int index) const;
  std::string_view column_blob(int index) const;

 private:
  sqlite3_stmt* stmt_;
  sqlite3* db_;
  int bind_error_ = 0;
};

class Database {
 public:
  Database() = default;
  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;

  // Opens (creating) the file, in multi-thread mode (the caller serialises).
  static StoreResult<Database> open(const std::string& path);

  // The cached statement for `sql`, which must be a string literal: the cache
  // is keyed by its address.
  StoreResult<Statement> prepare(const char* sql);

  // Runs one or more statements without caching (schema, pragmas, BEGIN...).
  StoreResult<void> exec(const char* sql);

  // The first column of the first row of `sql`, as an integer.
  StoreResult<std::int64_t> query_int(const char* sql);

  // Whether a transaction is open (sqlite3_get_autocommit() == 0).
  bool in_transaction() const;

  sqlite3* handle() const { return db_.get(); }

 private:
  // Declared in this order so that statements are finalised before the close.
  SqlitePtr db_;
  std::unordered_map<const char*, StatementPtr> cache_;
};

// BEGIN IMMEDIATE (the write lock up front: no deadlock upgrading a read
// transaction); rolls back on destruction unless commit() succeeded.
//
// Several processes may use one index (WAL mode): a write transaction waits up
// to the busy timeout (schema.cpp) for another's to end, then fails Busy. Its
// first statement sees every commit made before it began, by any connection,
// so values read inside it (uidnext, modseq, keyword bits) are current.
class Transaction {
 public:
  static StoreResult<Transaction> begin(Database& db);
  // A read transaction (BEGIN DEFERRED): the statements inside it see one
  // snapshot, whatever other connections commit meanwhile. Never waits for
  // writers (WAL). Ends on destruction; commit() ends it too.
  static StoreResult<Transaction> begin_read(Database& db);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // Durable when it returns (synchronous=FULL, see schema.hpp), unless a
  // RelaxedSync is alive.
  StoreResult<void> commit();

 private:
  explicit Transaction(Database* db) : db_(db) {}
  Database* db_;
};

// synchronous=NORMAL while it lives, FULL again after (schema.hpp): the
// commits made meanwhile reach the OS but are not fsynced; the owner makes
// them durable itself (AccountStore's batch appends: one syncfs). Create it
// outside any transaction and let it end after the transaction has.
class RelaxedSync {
 public:
  explicit RelaxedSync(Database& db);
  RelaxedSync(const RelaxedSync&) = delete;
  RelaxedSync& operator=(const RelaxedSync&) = delete;
  ~RelaxedSync();
  bool ok() const { return ok_; }

 private:
  Database& db_;
  bool ok_ = false;
};

// Maps a SQLite result code and logs it with the connection's message.
StoreError sqlite_error(sqlite3* db, int code, std::string_view what);

}  // namespace postern::node::store
