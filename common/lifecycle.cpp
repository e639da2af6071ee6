#include "common/lifecycle.hpp"

#include <cassert>
#include <chrono>
#include <exception>
#include <utility>

#include "common/log.hpp"

namespace muster {

// --- Gate ----------------------------------------------------------------------

bool Gate::try_enter() noexcept {
  std::uint64_t state = state_.load(std::memory_order_relaxed);
  do {
    if (state & kClosed) return false;
  } while (
      !state_.compare_exchange_weak(state, state + 1, std::memory_order_acquire, std::memory_order_relaxed));
  return true;
}

void Gate::leave() noexcept {
  std::uint64_t state = state_.load(std::memory_order_acquire);
  for (;;) {
    assert((state & ~kClosed) > 0 && "Gate::leave without try_enter");
    if (state == (kClosed | 1)) {
      // The last one out of a closed gate empties it under the mutex: close()
      // reads the count under the same mutex, so it cannot miss this
      // notification, nor return (and let the gate's owner free it) before
      // this call is done with the gate. No other holder can leave meanwhile,
      // and nobody can enter, so the count goes from exactly 1 to 0.
      std::lock_guard<std::mutex> lock(mutex_);
      state_.fetch_sub(1, std::memory_order_acq_rel);
      drained_.notify_all();
      return;
    }
    if (state_.compare_exchange_weak(state, state - 1, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
      return;
    }
  }
}

void Gate::close() {
  state_.fetch_or(kClosed, std::memory_order_acq_rel);
  std::unique_lock<std::mutex> lock(mutex_);
  drained_.wait(lock, [this] { return state_.load(std::memory_order_acquire) == kClosed; });
}

bool Gate::is_closed() const noexcept {
  return (state_.load(std::memory_order_acquire) & kClosed) != 0;
}

std::size_t Gate::inside() const noexcept {
  return static_cast<std::size_t>(state_.load(std::memory_order_acquire) & ~kClosed);
}

// --- ServiceStack --------------------------------------------------------------

namespace {

double elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - since).count();
}

// A service's start(), with an escaping exception turned into its failure.
Status start_service(Service& service) {
  try {
    return service.start();
  } catch (const std::exception& e) {
    return make_error(ErrorCode::internal, std::string("start threw: ") + e.what());
  } catch (...) {
    return make_error(ErrorCode::internal, "start threw a non-standard exception");
  }
}

void stop_service(Service& service) {
  const auto began = std::chrono::steady_clock::now();
  try {
    service.stop();
  } catch (const std::exception& e) {
    log::error("service stop threw", {{"service", service.name()}, {"error", e.what()}});
  } catch (...) {
    log::error("service stop threw", {{"service", service.name()}, {"error", "non-standard exception"}});
  }
  log::write(log::Level::debug, "service stopped", {{"service", service.name()}, {"ms", elapsed_ms(began)}});
}

}  // namespace

ServiceStack::~ServiceStack() {
  stop();
  // Later services may use earlier ones until they are gone.
  while (!owned_.empty()) owned_.pop_back();
}

void ServiceStack::add(Service& service) {
  assert(!start_called_ && "ServiceStack::add after start");
  services_.push_back(&service);
}

Service& ServiceStack::add(std::unique_ptr<Service> service) {
  assert(service != nullptr);
  Service& added = *service;
  owned_.push_back(std::move(service));
  add(added);
  return added;
}

Status ServiceStack::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (start_called_) return make_error(ErrorCode::conflict, "service stack: started already");
  start_called_ = true;
  for (Service* service : services_) {
    const auto began = std::chrono::steady_clock::now();
    Status started = start_service(*service);
    if (!started.ok()) {
      log::write(
          log::Level::debug, "service failed to start",
          {{"service", service->name()}, {"ms", elapsed_ms(began)}, {"error", started.error().message}});
      Error error = started.error();
      error.message = std::string(service->name()) + ": " + error.message;
      stop_started_locked();
      return error;
    }
    ++started_;
    log::write(log::Level::debug, "service started",
               {{"service", service->name()}, {"ms", elapsed_ms(began)}});
  }
  return Status::success();
}

void ServiceStack::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stop_started_locked();
}

void ServiceStack::stop_started_locked() {
  // started_ counts down as each stops, so a second stop() finds nothing left.
  while (started_ > 0) {
    --started_;
    stop_service(*services_[started_]);
  }
}

// --- FunctionService -----------------------------------------------------------

FunctionService::FunctionService(std::string name, std::function<Status()> start_fn,
                                 std::function<void()> stop_fn)
    : name_(std::move(name)), start_fn_(std::move(start_fn)), stop_fn_(std::move(stop_fn)) {}

Status FunctionService::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (start_called_ || stopped_)
    return make_error(ErrorCode::conflict, name_ + ": started or stopped already");
  start_called_ = true;
  if (start_fn_) {
    Status started = start_fn_();
    if (!started.ok()) return started;
  }
  started_ = true;
  return Status::success();
}

void FunctionService::stop() {
  // Held while stop_fn runs, so a concurrent stop() returns only once it is done.
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopped_) return;
  stopped_ = true;
  if (started_ && stop_fn_) stop_fn_();
}

}  // namespace muster
