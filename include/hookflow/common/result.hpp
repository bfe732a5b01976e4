#pragma once

#include <string>
#include <utility>
#include <variant>

namespace hookflow {

/// The kinds of expected failure; each maps to one HTTP status in http/responses.cpp.
enum class Errc {
    bad_request,
    unauthorized,
    not_found,
    method_not_allowed,
    payload_too_large,
    store_unavailable,
    invalid_config,
    invalid_workflow,
    expression,
    connector,
    network,
    timeout,
    internal,
};

/// An expected failure: a text for the log and a separate text safe for an HTTP body.
/// Neither text ever holds a secret, a token or an expected signature.
struct Error {
    Errc code = Errc::internal;
    std::string log_text;
    std::string public_text;
};

/// Builds an Error; the public text defaults to the log text.
inline Error make_error(Errc code, std::string log_text, std::string public_text = {}) {
    if (public_text.empty()) {
        public_text = log_text;
    }
    return Error{code, std::move(log_text), std::move(public_text)};
}

/// A value or an Error, shaped like std::expected.
template <class T>
class Result {
  public:
    Result(T value) : data_(std::move(value)) {}
    Result(Error error) : data_(std::move(error)) {}

    bool ok() const { return data_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(data_); }
    const T& value() const& { return std::get<0>(data_); }
    T&& value() && { return std::get<0>(std::move(data_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    const Error& error() const { return std::get<1>(data_); }

  private:
    std::variant<T, Error> data_;
};

/// Success or an Error.
template <>
class Result<void> {
  public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    const Error& error() const { return error_; }

  private:
    Error error_;
    bool ok_ = true;
};

}  // namespace hookflow
