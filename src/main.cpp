#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "app/commands.hpp"
#include "app/db_cmd.hpp"
#include "app/tools.hpp"

namespace {

struct Options {
    std::string config = "config/hookflow.yaml";
    std::vector<std::string> paths;
    std::string source;
    std::string file;
    std::string id;
    int limit = 50;
    bool json = false;
    hookflow::app::TestOptions test;
    hookflow::app::ListOptions list;
    std::string url;
};

CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& about) {
    auto* command = parent.add_subcommand(name, about);
    command->fallthrough();
    return command;
}

// The same filters as GET /api/events and /api/runs.
void add_list_filters(CLI::App& list, const std::string& noun, hookflow::app::ListOptions& l) {
    list.add_option("--cursor", l.cursor, "Continue after a page (the cursor it printed)");
    if (noun == "events") {
        list.add_option("--source", l.source, "Only events of this source");
        list.add_option("--type", l.type, "Only events of this type");
        list.add_option(
            "--since", l.since, "Received at or after (RFC 3339, a date or unix seconds)");
        list.add_option("--until", l.until, "Received before (RFC 3339, a date or unix seconds)");
    } else {
        list.add_option("--workflow", l.workflow, "Only runs of this workflow");
        list.add_option("--status", l.status, "Only runs with this status");
        list.add_option("--event", l.event, "Only runs of this event");
    }
}

void add_read_commands(CLI::App& app, Options& o) {
    for (const std::string noun : {"events", "runs"}) {
        auto* group = add_command(app, noun, "Read " + noun + " from the store");
        group->require_subcommand(1);
        auto* list = add_command(*group, "list", "List the newest " + noun);
        list->add_option("--limit", o.limit, "How many to list")->capture_default_str();
        list->add_flag("--json", o.json, "Print JSON");
        add_list_filters(*list, noun, o.list);
        auto* show = add_command(*group, "show", "Show one of the " + noun);
        show->add_option("ID", o.id, "The id")->required();
        show->add_flag("--json", o.json, "Print JSON");
    }
}

void add_recovery_commands(CLI::App& app, Options& o) {
    auto* dead = add_command(app, "dead", "Runs that ran out of attempts");
    dead->require_subcommand(1);
    auto* list = add_command(*dead, "list", "List dead runs");
    list->add_option("--limit", o.limit, "How many to list")->capture_default_str();
    list->add_flag("--json", o.json, "Print JSON");
    auto* retry = add_command(*dead, "retry", "Queue a dead run again from its failed step");
    retry->add_option("RUN_ID", o.id, "The run")->required();
    auto* replay = add_command(app, "replay", "Queue new runs for a stored event");
    replay->add_option("EVENT_ID", o.id, "The event")->required();
}

// `test` and `trigger`: the workflow author's tools.
std::pair<CLI::App*, CLI::App*> add_tool_commands(CLI::App& app, Options& o) {
    auto* test = add_command(app, "test", "Run one workflow offline against a payload file");
    test->add_option("WORKFLOW", o.test.workflow, "The workflow file")->required();
    test->add_option("--event", o.test.event, "The payload file (JSON)")->required();
    test->add_option("--mock", o.test.mock, "Mock answers per step or action (YAML or JSON)");
    test->add_option("--source", o.test.source, "Source name (default: the workflow's)");
    test->add_option("--type", o.test.type, "Event type (default: the payload's `type`)");
    test->add_flag("--json", o.test.json, "Print JSON");
    auto* trigger = add_command(app, "trigger", "Sign FILE for SOURCE and post it to the server");
    trigger->add_option("SOURCE", o.source, "Source name in the config")->required();
    trigger->add_option("FILE", o.file, "The body to send")->required()->check(CLI::ExistingFile);
    trigger->add_option("--url", o.url, "Where to post (default: the server's /hooks/SOURCE)");
    return {test, trigger};
}

/// Parses the command line; an exit code when it does not parse (or asks for help), else
/// nullopt. Usage errors exit 1 like any failed command, except `test`'s documented 2.
std::optional<int> parse_args(CLI::App& app, const CLI::App& test, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // Printed by CLI11 (help and version go to stdout with 0).
        if (app.exit(e) == 0) {
            return 0;
        }
        return test.parsed() ? 2 : 1;
    }
    // Checked here, not with require_subcommand: CLI11 would report the missing command
    // before an unknown option, and the option is the mistake worth naming.
    if (app.get_subcommands().empty()) {
        std::cerr << "A subcommand is required\nRun with --help for more information.\n";
        return 1;
    }
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"hookflow: webhook-triggered workflows"};
    app.require_subcommand(0, 1);
    Options o;
    app.add_option("--config", o.config, "Config file")->capture_default_str();

    auto* serve = add_command(app, "serve", "Run the server");
    auto* validate = add_command(app, "validate", "Check the config and workflows");
    validate->add_option("PATH", o.paths, "Workflow files or folders (default: workflows.dir)");
    auto* sign = add_command(app, "sign", "Print headers that make FILE a valid delivery");
    sign->add_option("--source", o.source, "Source name in the config")->required();
    sign->add_option("FILE", o.file, "The body to sign")->required()->check(CLI::ExistingFile);
    add_read_commands(app, o);
    add_recovery_commands(app, o);
    auto [test, trigger] = add_tool_commands(app, o);
    auto* db = hookflow::app::add_db_commands(app);

    if (auto code = parse_args(app, *test, argc, argv)) {
        return *code;
    }

    using namespace hookflow::app;
    if (serve->parsed()) {
        return hookflow::app::serve(o.config);
    }
    // The other commands print results on stdout; only problems go to stderr.
    auto quiet = spdlog::stderr_logger_mt("cli");
    quiet->set_level(spdlog::level::warn);
    spdlog::set_default_logger(quiet);
    if (validate->parsed()) {
        return hookflow::app::validate(o.config, o.paths);
    }
    if (sign->parsed()) {
        return hookflow::app::sign(o.config, o.source, o.file);
    }
    if (db->parsed()) {
        return run_db_command(*db, o.config);
    }
    if (test->parsed()) {
        o.test.config_path = o.config;
        o.test.config_given = app.get_option("--config")->count() > 0;
        return test_workflow(o.test);
    }
    if (trigger->parsed()) {
        return hookflow::app::trigger(o.config, o.source, o.file, o.url);
    }
    if (auto* dead = app.get_subcommand("dead"); dead->parsed()) {
        return dead->get_subcommand("list")->parsed() ? dead_list(o.config, o.limit, o.json)
                                                      : dead_retry(o.config, o.id);
    }
    if (app.get_subcommand("replay")->parsed()) {
        return hookflow::app::replay(o.config, o.id);
    }
    auto* events = app.get_subcommand("events");
    auto* runs = app.get_subcommand("runs");
    if (events->parsed()) {
        o.list.limit = o.limit;
        return events->get_subcommand("list")->parsed() ? events_list(o.config, o.list, o.json)
                                                        : events_show(o.config, o.id, o.json);
    }
    if (runs->parsed()) {
        o.list.limit = o.limit;
        return runs->get_subcommand("list")->parsed() ? runs_list(o.config, o.list, o.json)
                                                      : runs_show(o.config, o.id, o.json);
    }
    return 1;
}
