#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include <sqlite3.h>

#include <hookflow/common/result.hpp>

namespace hookflow::store::detail {

/// A prepared statement borrowed from a Connection's cache; reset and unbound when it ends, so
/// no statement keeps a read transaction open.
class Query {
  public:
    /// `prepare_rc` is the result of preparing `stmt`; a failed prepare fails every step.
    Query(sqlite3* db, sqlite3_stmt* stmt, int prepare_rc)
        : db_(db), stmt_(stmt), rc_(prepare_rc) {}
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;
    ~Query();

    /// Binds text (copied by SQLite, length taken from the view).
    Query& bind(int index, std::string_view text);
    /// Binds raw bytes as a BLOB, exactly as given (NUL and non-UTF-8 bytes included).
    Query& bind_blob(int index, std::string_view bytes);
    /// Binds an integer.
    Query& bind(int index, std::int64_t value);
    /// Binds NULL.
    Query& bind_null(int index);
    /// Binds a floating-point number.
    Query& bind_real(int index, double value);

    /// Steps once: true on a row, false when done or failed (see `status`).
    bool row();
    /// Steps to the end, for statements that return no rows; the error when a step failed.
    Result<void> run();
    /// The error of the last failed step, if any.
    Result<void> status() const;

    /// Column values of the current row; NULL reads as empty or zero.
    std::string text(int column) const;
    std::string blob(int column) const;
    std::int64_t int64(int column) const;
    int int32(int column) const;

  private:
    sqlite3* db_;
    sqlite3_stmt* stmt_;
    int rc_;
};

/// One SQLite connection with its cache of prepared statements. Not thread-safe: each
/// connection belongs to one thread at a time (the writer thread, or whoever holds the
/// reader mutex).
class Connection {
  public:
    Connection() = default;
    Connection(Connection&& other) noexcept;
    Connection& operator=(Connection&& other) noexcept;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection();

    /// Opens (creating when missing) the database with WAL, synchronous=FULL, foreign keys and
    /// the busy timeout; Errc::store_unavailable when it cannot.
    static Result<Connection> open(const std::string& path, int busy_timeout_ms);

    /// Runs one or more statements that return nothing of interest; the error carries
    /// SQLite's message as its log text.
    Result<void> exec(const char* sql);

    /// The cached prepared statement for `sql` (a string literal that outlives the connection).
    /// A statement that fails to prepare is a programming error: the Query reports it on run.
    Query query(const char* sql);

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    int changes() const;
    /// True when no transaction is open (SQLite rolls back by itself on some errors).
    bool autocommit() const;
    /// SQLite's message for the last error on this connection.
    std::string message() const;

  private:
    void close();

    sqlite3* db_ = nullptr;
    std::unordered_map<std::string_view, sqlite3_stmt*> statements_;
};

/// An Error for a failed SQLite call: store_unavailable for I/O, locking and space problems,
/// internal for constraint failures and misuse.
Error sqlite_error(sqlite3* db, int rc, std::string_view what);

}  // namespace hookflow::store::detail
