#include "sqlite_db.hpp"

#include <filesystem>
#include <system_error>
#include <utility>

namespace hookflow::store::detail {

namespace {

bool step_failed(int rc) {
    return rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE;
}

int byte_count(std::string_view bytes) {
    // SQLite lengths are int; bodies are capped far below 2 GiB by server.max_body_bytes.
    return static_cast<int>(bytes.size());
}

Result<void> create_parent_folder(const std::string& path) {
    auto parent = std::filesystem::path(path).parent_path();
    if (parent.empty()) {
        return {};
    }
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
        return make_error(Errc::store_unavailable,
                          "store cannot create folder " + parent.string() + ": " + ec.message(),
                          "store unavailable");
    }
    return {};
}

}  // namespace

Error sqlite_error(sqlite3* db, int rc, std::string_view what) {
    int primary = rc & 0xff;
    // Bad data or a bad statement is our bug; everything else (locks, I/O, space) is the
    // database being unable to take writes right now.
    bool ours = primary == SQLITE_CONSTRAINT || primary == SQLITE_MISMATCH ||
                primary == SQLITE_RANGE || primary == SQLITE_TOOBIG || primary == SQLITE_MISUSE ||
                primary == SQLITE_ERROR;
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return make_error(ours ? Errc::internal : Errc::store_unavailable,
                      std::string(what) + ": " + message,
                      ours ? "store error" : "store unavailable");
}

Query::~Query() {
    if (stmt_ != nullptr) {
        sqlite3_reset(stmt_);
        sqlite3_clear_bindings(stmt_);
    }
}

Query& Query::bind(int index, std::string_view text) {
    if (rc_ == SQLITE_OK) {
        rc_ = sqlite3_bind_text(stmt_, index, text.data(), byte_count(text), SQLITE_TRANSIENT);
    }
    return *this;
}

Query& Query::bind_blob(int index, std::string_view bytes) {
    if (rc_ == SQLITE_OK) {
        // data() is never null, so an empty body binds a zero-length BLOB, not NULL.
        rc_ = sqlite3_bind_blob(stmt_, index, bytes.data(), byte_count(bytes), SQLITE_TRANSIENT);
    }
    return *this;
}

Query& Query::bind(int index, std::int64_t value) {
    if (rc_ == SQLITE_OK) {
        rc_ = sqlite3_bind_int64(stmt_, index, value);
    }
    return *this;
}

Query& Query::bind_real(int index, double value) {
    if (rc_ == SQLITE_OK) {
        rc_ = sqlite3_bind_double(stmt_, index, value);
    }
    return *this;
}

Query& Query::bind_null(int index) {
    if (rc_ == SQLITE_OK) {
        rc_ = sqlite3_bind_null(stmt_, index);
    }
    return *this;
}

bool Query::row() {
    if (stmt_ == nullptr || step_failed(rc_) || rc_ == SQLITE_DONE) {
        return false;
    }
    rc_ = sqlite3_step(stmt_);
    return rc_ == SQLITE_ROW;
}

Result<void> Query::run() {
    while (row()) {
    }
    return status();
}

Result<void> Query::status() const {
    if (stmt_ == nullptr || step_failed(rc_)) {
        return sqlite_error(db_, step_failed(rc_) ? rc_ : SQLITE_ERROR, "store query failed");
    }
    return {};
}

std::string Query::text(int column) const {
    const auto* data = sqlite3_column_text(stmt_, column);
    int size = sqlite3_column_bytes(stmt_, column);
    if (data == nullptr) {
        return {};
    }
    return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
}

std::string Query::blob(int column) const {
    const void* data = sqlite3_column_blob(stmt_, column);
    int size = sqlite3_column_bytes(stmt_, column);
    if (data == nullptr) {
        return {};
    }
    return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

std::int64_t Query::int64(int column) const {
    return sqlite3_column_int64(stmt_, column);
}

int Query::int32(int column) const {
    return sqlite3_column_int(stmt_, column);
}

Connection::Connection(Connection&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), statements_(std::move(other.statements_)) {
    other.statements_.clear();
}

Connection& Connection::operator=(Connection&& other) noexcept {
    if (this != &other) {
        close();
        db_ = std::exchange(other.db_, nullptr);
        statements_ = std::move(other.statements_);
        other.statements_.clear();
    }
    return *this;
}

Connection::~Connection() {
    close();
}

void Connection::close() {
    for (auto& [sql, stmt] : statements_) {
        sqlite3_finalize(stmt);
    }
    statements_.clear();
    if (db_ != nullptr) {
        sqlite3_close_v2(db_);
        db_ = nullptr;
    }
}

Result<Connection> Connection::open(const std::string& path, int busy_timeout_ms) {
    if (auto folder = create_parent_folder(path); !folder) {
        return folder.error();
    }

    Connection conn;
    int rc = sqlite3_open_v2(path.c_str(),
                             &conn.db_,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             nullptr);
    if (rc != SQLITE_OK) {
        auto error = sqlite_error(conn.db_, rc, "store cannot open " + path);
        error.code = Errc::store_unavailable;
        return error;
    }
    sqlite3_extended_result_codes(conn.db_, 1);
    sqlite3_busy_timeout(conn.db_, busy_timeout_ms);

    // synchronous=FULL: a 2xx means the event survives power loss, not only a crash.
    auto set =
        conn.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    if (!set) {
        return make_error(Errc::store_unavailable,
                          "store cannot configure " + path + ": " + set.error().log_text,
                          "store unavailable");
    }
    return conn;
}

Result<void> Connection::exec(const char* sql) {
    char* message = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
    if (rc == SQLITE_OK) {
        return {};
    }
    std::string text = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    auto error = sqlite_error(db_, rc, "store statement failed");
    error.log_text = text;
    return error;
}

Query Connection::query(const char* sql) {
    auto found = statements_.find(sql);
    if (found != statements_.end()) {
        return Query(db_, found->second, SQLITE_OK);
    }
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(stmt);
        return Query(db_, nullptr, rc);
    }
    statements_.emplace(sql, stmt);
    return Query(db_, stmt, SQLITE_OK);
}

int Connection::changes() const {
    return sqlite3_changes(db_);
}

bool Connection::autocommit() const {
    return sqlite3_get_autocommit(db_) != 0;
}

std::string Connection::message() const {
    return db_ != nullptr ? sqlite3_errmsg(db_) : "no connection";
}

}  // namespace hookflow::store::detail
