#pragma once
// Internal: a name -> factory table, shared by the loss and stage-solver registries.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace boosthead::util {

// Thread-safe: registration may happen while other threads create objects.
template <typename T>
class Registry {
 public:
  using Factory = std::function<std::unique_ptr<T>()>;

  // `kind` and `kinds` word the error for an unknown name ("loss", "losses").
  Registry(std::string kind, std::string kinds,
           std::initializer_list<std::pair<const std::string, Factory>> builtins)
      : kind_(std::move(kind)), kinds_(std::move(kinds)), factories_(builtins) {}

  // Adds or replaces a factory.
  void add(const std::string& name, Factory factory) {
    std::lock_guard<std::mutex> lock(mutex_);
    factories_[name] = std::move(factory);
  }

  // A new object of the named kind; throws std::invalid_argument listing the known names.
  std::unique_ptr<T> make(const std::string& name) const {
    Factory factory;
    {
      // Call the factory outside the lock: it may itself create registered objects.
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = factories_.find(name);
      if (it == factories_.end()) {
        throw std::invalid_argument(fmt::format("unknown {} '{}'; known {}: {}", kind_, name,
                                                kinds_, fmt::join(names_locked(), ", ")));
      }
      factory = it->second;
    }
    return factory();
  }

  // Registered names, sorted.
  std::vector<std::string> names() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return names_locked();
  }

 private:
  std::vector<std::string> names_locked() const {
    std::vector<std::string> out;
    for (const auto& kv : factories_) out.push_back(kv.first);
    return out;
  }

  std::string kind_, kinds_;
  mutable std::mutex mutex_;
  std::map<std::string, Factory> factories_;
};

}  // namespace boosthead::util
