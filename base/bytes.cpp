#include <base/bytes.hpp>

#include <cerrno>
#include <cstring>
#include <system_error>

#include <sys/random.h>

namespace medgw::base {

void secure_wipe(void* data, std::size_t size) noexcept {
  if (data != nullptr && size != 0) ::explicit_bzero(data, size);
}

void kernel_random(std::span<std::uint8_t> out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t got = ::getrandom(out.data() + done, out.size() - done, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    done += static_cast<std::size_t>(got);
  }
}

}  // namespace medgw::base
