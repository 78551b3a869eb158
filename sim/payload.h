// sim/payload.h
// The body of a message or an RPC: one value of any movable type, in one heap box.
//
// Contract:
// - A Payload holds one value or nothing. It is move-only; a move hands the box over (a
//   pointer copy), so a body crosses the network, the in-flight slab and the handler without
//   being copied or re-boxed.
// - get<T>() is the value if the payload holds exactly a T, else nullptr; take<T>() moves
//   the T out, and holding anything else is a model bug (an assertion: the run crashes).
// - The type test compares the address of a per-type constant, never RTTI names, and no
//   pointer value ever decides anything in the simulation.
//
// Why not std::any (which this replaced): a std::any of a type that does not fit its small
// buffer calls its manager through a function pointer on every move and every any_cast, and
// an RPC body moves about ten times between call() and its handler. Issue 15 has the figures.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>

#include "sim/assert.h"

namespace faultline {

namespace payload_detail {
// One constant per type; its address is the type's identity (inline: one object per program).
template <typename T>
inline constexpr char kTypeTag = 0;
}  // namespace payload_detail

class Payload {
 public:
  Payload() = default;
  // Implicit, as std::any was: `send(to, Ping{...})` boxes the Ping.
  template <typename T, typename D = std::decay_t<T>, typename = std::enable_if_t<!std::is_same_v<D, Payload>>>
  Payload(T&& value) : box_(std::make_unique<Box<D>>(std::forward<T>(value))) {}  // NOLINT(google-explicit-constructor)
  Payload(Payload&&) noexcept = default;
  Payload& operator=(Payload&&) noexcept = default;
  Payload(const Payload&) = delete;
  Payload& operator=(const Payload&) = delete;
  ~Payload() = default;

  bool has_value() const { return box_ != nullptr; }
  template <typename T>
  bool holds() const {
    return box_ != nullptr && box_->type == &payload_detail::kTypeTag<T>;
  }
  template <typename T>
  T* get() {
    return holds<T>() ? &static_cast<Box<T>*>(box_.get())->value : nullptr;
  }
  template <typename T>
  const T* get() const {
    return holds<T>() ? &static_cast<const Box<T>*>(box_.get())->value : nullptr;
  }
  template <typename T>
  T take() && {
    T* v = get<T>();
    FL_ASSERT(v != nullptr && "a payload taken as a type it does not hold", has_value());
    return std::move(*v);
  }

 private:
  struct BoxBase {
    explicit BoxBase(const void* t) : type(t) {}
    virtual ~BoxBase() = default;
    const void* type;
  };
  template <typename T>
  struct Box final : BoxBase {
    template <typename U>
    explicit Box(U&& u) : BoxBase(&payload_detail::kTypeTag<T>), value(std::forward<U>(u)) {}
    T value;
  };
  std::unique_ptr<BoxBase> box_;
};

}  // namespace faultline
