#pragma once

#include <string>

#include <CLI/CLI.hpp>

namespace hookflow::app {

/// Adds `hookflow db vacuum` and `hookflow db backup FILE` under `app`; returns the `db` group.
CLI::App* add_db_commands(CLI::App& app);

/// Runs the parsed `db` subcommand against the config's database. Returns the exit code.
int run_db_command(const CLI::App& db, const std::string& config_path);

}  // namespace hookflow::app
