#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "app/commands.hpp"

namespace {

struct Options {
    std::string config = "config/hookflow.yaml";
    std::vector<std::string> paths;
    std::string source;
    std::string file;
    std::string id;
    int limit = 50;
    bool json = false;
};

CLI::App* add_command(CLI::App& parent, const std::string& name, const std::string& about) {
    auto* command = parent.add_subcommand(name, about);
    command->fallthrough();
    return command;
}

void add_read_commands(CLI::App& app, Options& o) {
    for (const std::string noun : {"events", "runs"}) {
        auto* group = add_command(app, noun, "Read " + noun + " from the store");
        group->require_subcommand(1);
        auto* list = add_command(*group, "list", "List the newest " + noun);
        list->add_option("--limit", o.limit, "How many to list")->capture_default_str();
        list->add_flag("--json", o.json, "Print JSON");
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

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"hookflow: webhook-triggered workflows"};
    app.require_subcommand(1);
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

    CLI11_PARSE(app, argc, argv);

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
        return events->get_subcommand("list")->parsed() ? events_list(o.config, o.limit, o.json)
                                                        : events_show(o.config, o.id, o.json);
    }
    if (runs->parsed()) {
        return runs->get_subcommand("list")->parsed() ? runs_list(o.config, o.limit, o.json)
                                                      : runs_show(o.config, o.id, o.json);
    }
    return 1;
}
