#pragma once

#include <memory>
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <hookflow/common/result.hpp>
#include <hookflow/store/store.hpp>

namespace hookflow::store {

/// Turns a store call taking a Callback<T> into something a coroutine can co_await:
/// `co_await async_call<EnqueueResult>([&](auto cb) { store.enqueue(..., cb); })`.
/// The completion runs on the awaiting coroutine's executor, not on the writer thread.
template <class T, class Start>
auto async_call(Start start) {
    return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(Result<T>)>(
        [start = std::move(start)](auto handler) mutable {
            auto shared = std::make_shared<decltype(handler)>(std::move(handler));
            auto executor = boost::asio::get_associated_executor(*shared);
            start([shared, executor](Result<T> result) {
                boost::asio::post(executor, [shared, result = std::move(result)]() mutable {
                    (*shared)(std::move(result));
                });
            });
        },
        boost::asio::use_awaitable);
}

}  // namespace hookflow::store
