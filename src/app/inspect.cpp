#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/commands.hpp"
#include <hookflow/common/clock.hpp>
#include <hookflow/store/sqlite_store.hpp>

namespace hookflow::app {

using nlohmann::ordered_json;

namespace {

std::unique_ptr<store::Store> open_store(const std::string& config_path) {
    auto config = load_or_report(config_path);
    if (!config) {
        return nullptr;
    }
    return open_existing_store(*config);
}

std::string iso_time(std::int64_t ms) {
    if (ms <= 0) {
        return "-";
    }
    std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

// Stored JSON texts are shown as JSON values; anything unparsable as a string.
ordered_json parsed(const std::string& text) {
    if (text.empty()) {
        return nullptr;
    }
    auto value = ordered_json::parse(text, nullptr, false);
    return value.is_discarded() ? ordered_json(text) : value;
}

ordered_json to_json(const store::EventRow& e) {
    return {{"id", e.id},
            {"source", e.source},
            {"provider", e.provider},
            {"delivery_id", e.delivery_id},
            {"type", e.type},
            {"received_at_ms", e.received_at_ms},
            {"received_at", iso_time(e.received_at_ms)}};
}

ordered_json to_json(const store::RunRow& r) {
    return {{"id", r.id},
            {"event_id", r.event_id},
            {"workflow", r.workflow},
            {"workflow_hash", r.workflow_hash},
            {"status", r.status},
            {"attempt", r.attempt},
            {"next_attempt_at_ms", r.next_attempt_at_ms},
            {"last_error", r.last_error},
            {"created_at_ms", r.created_at_ms},
            {"updated_at_ms", r.updated_at_ms}};
}

ordered_json to_json(const store::StepRow& s) {
    return {{"step_id", s.step_id},
            {"position", s.position},
            {"status", s.status},
            {"attempt", s.attempt},
            {"started_at_ms", s.started_at_ms},
            {"finished_at_ms", s.finished_at_ms},
            {"elapsed_ms", s.finished_at_ms > 0 ? s.finished_at_ms - s.started_at_ms : 0},
            {"request", parsed(s.request_json)},
            {"output", parsed(s.output_json)},
            {"error", s.error}};
}

template <class Row>
ordered_json to_json_array(const std::vector<Row>& rows) {
    ordered_json out = ordered_json::array();
    for (const auto& row : rows) {
        out.push_back(to_json(row));
    }
    return out;
}

void print_json(const ordered_json& value) {
    std::cout << value.dump(2, ' ', false, ordered_json::error_handler_t::replace) << "\n";
}

}  // namespace

int events_list(const std::string& config_path, int limit, bool as_json) {
    auto store = open_store(config_path);
    if (!store) {
        return 1;
    }
    auto rows = store->list_events(limit);
    if (as_json) {
        print_json(to_json_array(rows));
        return 0;
    }
    std::printf("%-30s %-12s %-36s %-30s %s\n", "EVENT", "SOURCE", "TYPE", "DELIVERY", "RECEIVED");
    for (const auto& e : rows) {
        std::printf("%-30s %-12s %-36s %-30s %s\n",
                    e.id.c_str(),
                    e.source.c_str(),
                    e.type.c_str(),
                    e.delivery_id.c_str(),
                    iso_time(e.received_at_ms).c_str());
    }
    return 0;
}

int events_show(const std::string& config_path, const std::string& id, bool as_json) {
    auto store = open_store(config_path);
    if (!store) {
        return 1;
    }
    auto event = store->get_event(id);
    if (!event) {
        std::cerr << "no event " << id << "\n";
        return 1;
    }
    auto out = to_json(*event);
    out["headers"] = parsed(event->headers_json);
    out["body"] = event->body;
    auto runs = to_json_array(store->runs_for_event(id));
    out["runs"] = runs;
    if (as_json) {
        print_json(out);
        return 0;
    }
    std::cout << "event " << event->id << "  source=" << event->source << "  type=" << event->type
              << "  delivery=" << event->delivery_id
              << "  received=" << iso_time(event->received_at_ms) << "\n";
    for (const auto& run : runs) {
        std::cout << "  run " << run["id"].get<std::string>() << "  "
                  << run["workflow"].get<std::string>() << "  " << run["status"].get<std::string>()
                  << "\n";
    }
    std::cout << event->body << "\n";
    return 0;
}

int print_runs(const std::vector<store::RunRow>& rows, bool as_json) {
    if (as_json) {
        print_json(to_json_array(rows));
        return 0;
    }
    std::printf("%-31s %-30s %-28s %-10s %-7s %s\n",
                "RUN",
                "EVENT",
                "WORKFLOW",
                "STATUS",
                "ATTEMPT",
                "LAST ERROR");
    for (const auto& r : rows) {
        std::printf("%-31s %-30s %-28s %-10s %-7d %s\n",
                    r.id.c_str(),
                    r.event_id.c_str(),
                    r.workflow.c_str(),
                    r.status.c_str(),
                    r.attempt,
                    r.last_error.c_str());
    }
    return 0;
}

int runs_list(const std::string& config_path, int limit, bool as_json) {
    auto store = open_store(config_path);
    if (!store) {
        return 1;
    }
    return print_runs(store->list_runs(limit), as_json);
}

int runs_show(const std::string& config_path, const std::string& id, bool as_json) {
    auto store = open_store(config_path);
    if (!store) {
        return 1;
    }
    auto run = store->get_run(id);
    if (!run) {
        std::cerr << "no run " << id << "\n";
        return 1;
    }
    auto out = to_json(*run);
    ordered_json steps = ordered_json::array();
    auto rows = store->steps_for_run(id);
    for (const auto& step : rows) {
        steps.push_back(to_json(step));
    }
    out["steps"] = steps;
    if (as_json) {
        print_json(out);
        return 0;
    }
    std::cout << "run " << run->id << "  workflow=" << run->workflow << "  status=" << run->status
              << "  attempt=" << run->attempt << "  event=" << run->event_id << "\n";
    if (!run->last_error.empty()) {
        std::cout << "  last error: " << run->last_error << "\n";
    }
    for (const auto& s : rows) {
        std::printf(
            "  %-20s %-10s attempt=%d %lldms%s%s\n",
            s.step_id.c_str(),
            s.status.c_str(),
            s.attempt,
            static_cast<long long>(s.finished_at_ms > 0 ? s.finished_at_ms - s.started_at_ms : 0),
            s.error.empty() ? "" : "  error: ",
            s.error.c_str());
    }
    return 0;
}

}  // namespace hookflow::app
