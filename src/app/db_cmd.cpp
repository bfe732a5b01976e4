#include "app/db_cmd.hpp"

#include <cstdio>
#include <iostream>

#include "app/commands.hpp"
#include <hookflow/store/maintenance.hpp>

namespace hookflow::app {

namespace {

// The file named on the command line for `db backup`.
std::string backup_target;  // NOLINT: CLI11 binds options to storage that outlives parsing

std::string megabytes(std::int64_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / (1024.0 * 1024.0));
    return text;
}

int backup(const config::Config& config) {
    auto summary =
        store::backup_sqlite(config.storage.sqlite, backup_target, config.storage.busy_timeout_ms);
    if (!summary) {
        std::cerr << "backup failed: " << summary.error().log_text << "\n";
        return 1;
    }
    std::cout << "backed up " << config.storage.sqlite << " to " << backup_target << ": "
              << summary->events << " events, " << summary->runs << " runs, "
              << megabytes(summary->bytes) << "\n";
    return 0;
}

int vacuum(const config::Config& config) {
    auto summary = store::vacuum_sqlite(config.storage.sqlite, config.storage.busy_timeout_ms);
    if (!summary) {
        std::cerr << "vacuum failed: " << summary.error().log_text << "\n";
        return 1;
    }
    std::cout << "vacuumed " << config.storage.sqlite << ": " << megabytes(summary->bytes_before)
              << " -> " << megabytes(summary->bytes_after) << "\n";
    return 0;
}

}  // namespace

CLI::App* add_db_commands(CLI::App& app) {
    auto* db = app.add_subcommand("db", "Maintain the database file");
    db->fallthrough();
    db->require_subcommand(1);
    auto* vacuum = db->add_subcommand("vacuum", "Compact the database (writers wait meanwhile)");
    vacuum->fallthrough();
    auto* backup = db->add_subcommand("backup", "Copy the database to a new FILE, online");
    backup->fallthrough();
    backup->add_option("FILE", backup_target, "The backup file to create (never overwritten)")
        ->required();
    return db;
}

int run_db_command(const CLI::App& db, const std::string& config_path) {
    auto config = load_or_report(config_path);
    if (!config) {
        return 1;
    }
    if (db.get_subcommand("backup")->parsed()) {
        return backup(*config);
    }
    return vacuum(*config);
}

}  // namespace hookflow::app
