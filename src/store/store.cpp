#include <hookflow/store/store.hpp>

namespace hookflow::store {

// Defaults for stores that do not list or cancel (test doubles): they say so instead of
// pretending that nothing matched.

namespace {

Error unsupported(const char* what) {
    return make_error(
        Errc::internal, std::string("this store does not support ") + what, "not supported");
}

}  // namespace

Result<Page<EventRow>> Store::find_events(const EventFilter&, const PageRequest&) {
    return unsupported("find_events");
}

Result<Page<RunRow>> Store::find_runs(const RunFilter&, const PageRequest&) {
    return unsupported("find_runs");
}

Result<std::vector<std::pair<std::string, std::int64_t>>> Store::count_runs_by_status() {
    return unsupported("count_runs_by_status");
}

void Store::cancel_run(std::string, Callback<CancelResult> done) {
    done(unsupported("cancel_run"));
}

}  // namespace hookflow::store
