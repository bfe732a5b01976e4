#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/commands.hpp"
#include <hookflow/admin/listing.hpp>
#include <hookflow/common/clock.hpp>
#include <hookflow/store/sqlite_store.hpp>

namespace hookflow::app {

using admin::iso_time;
using nlohmann::ordered_json;

namespace {

std::unique_ptr<store::Store> open_store(const std::string& config_path) {
    auto config = load_or_report(config_path);
    if (!config) {
        return nullptr;
    }
    return open_existing_store(*config);
}

template <class Row, class ToJson>
ordered_json to_json_array(const std::vector<Row>& rows, ToJson to_json) {
    ordered_json out = ordered_json::array();
    for (const auto& row : rows) {
        out.push_back(to_json(row));
    }
    return out;
}

void print_json(const ordered_json& value) {
    std::cout << value.dump(2, ' ', false, ordered_json::error_handler_t::replace) << "\n";
}

// The limit and cursor as the store takes them; prints why and returns nullopt when bad.
std::optional<store::PageRequest> page_of(const ListOptions& options) {
    if (options.limit < 1) {
        std::cerr << "--limit must be at least 1\n";
        return std::nullopt;
    }
    store::PageRequest page{"", options.limit};
    if (!options.cursor.empty()) {
        auto id = admin::decode_cursor(options.cursor);
        if (!id) {
            std::cerr << "--cursor: " << id.error().log_text << "\n";
            return std::nullopt;
        }
        page.before_id = *id;
    }
    return page;
}

// Tells where the next page starts, on stderr so that stdout stays the listing.
template <class Row>
void print_more(const store::Page<Row>& page) {
    if (page.more && !page.items.empty()) {
        std::cerr << "more: --cursor " << admin::encode_cursor(page.items.back().id) << "\n";
    }
}

void print_event_table(const std::vector<store::EventRow>& rows) {
    std::printf("%-30s %-12s %-36s %-30s %s\n", "EVENT", "SOURCE", "TYPE", "DELIVERY", "RECEIVED");
    for (const auto& e : rows) {
        std::printf("%-30s %-12s %-36s %-30s %s\n",
                    e.id.c_str(),
                    e.source.c_str(),
                    e.type.c_str(),
                    e.delivery_id.c_str(),
                    iso_time(e.received_at_ms).c_str());
    }
}

}  // namespace

namespace {

// What both list commands do: check the filter, open the store, query one page, print it.
template <typename Filter, typename Find, typename Print>
int list_page(const std::string& config_path,
              const ListOptions& options,
              const Result<Filter>& filter,
              Find find,
              Print print) {
    if (!filter) {
        std::cerr << filter.error().log_text << "\n";
        return 1;
    }
    auto page = page_of(options);
    auto store = page ? open_store(config_path) : nullptr;
    if (!store) {
        return 1;
    }
    auto found = find(*store, *filter, *page);
    if (!found) {
        std::cerr << found.error().log_text << "\n";
        return 1;
    }
    print(found->items);
    print_more(*found);
    return 0;
}

}  // namespace

int events_list(const std::string& config_path, const ListOptions& options, bool as_json) {
    return list_page(
        config_path,
        options,
        admin::event_filter(options.source, options.type, options.since, options.until),
        [](store::Store& store, const auto& filter, const auto& page) {
            return store.find_events(filter, page);
        },
        [as_json](const auto& items) {
            if (as_json) {
                print_json(to_json_array(items, admin::event_json));
            } else {
                print_event_table(items);
            }
        });
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
    auto runs = store->runs_for_event(id);
    if (as_json) {
        print_json(admin::event_detail_json(*event, runs));
        return 0;
    }
    std::cout << "event " << event->id << "  source=" << event->source << "  type=" << event->type
              << "  delivery=" << event->delivery_id
              << "  received=" << iso_time(event->received_at_ms) << "\n";
    for (const auto& run : runs) {
        std::cout << "  run " << run.id << "  " << run.workflow << "  " << run.status << "\n";
    }
    std::cout << event->body << "\n";
    return 0;
}

int print_runs(const std::vector<store::RunRow>& rows, bool as_json) {
    if (as_json) {
        print_json(to_json_array(rows, admin::run_json));
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

int runs_list(const std::string& config_path, const ListOptions& options, bool as_json) {
    return list_page(
        config_path,
        options,
        admin::run_filter(options.workflow, options.status, options.event),
        [](store::Store& store, const auto& filter, const auto& page) {
            return store.find_runs(filter, page);
        },
        [as_json](const auto& items) { print_runs(items, as_json); });
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
    auto rows = store->steps_for_run(id);
    if (as_json) {
        print_json(admin::run_detail_json(*run, rows));
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
