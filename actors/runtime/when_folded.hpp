#pragma once
/// Read-your-writes for services: runs `then` once the read models hold
/// log `position` (the projection runner provides it), so a write is
/// answered only when a read would see it. Empty: answer at once (the CLI,
/// which reads nothing back).

#include <cstdint>
#include <functional>

namespace muster {

using WhenFolded = std::function<void(std::uint64_t position, std::function<void()> then)>;

}  // namespace muster
