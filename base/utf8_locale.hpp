#pragma once
// libarchive converts names with the thread's locale. A thread-local C.UTF-8
// locale while an archive is written or read (not a process-wide setlocale)
// makes UTF-8 names standard pax UTF-8 paths; without it every non-ASCII
// name would be BINARY on write and refused on read.
#include <clocale>

#include <locale.h>

namespace medgw::base {

class ScopedUtf8Locale {
 public:
  ScopedUtf8Locale() : locale_(::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr))) {
    if (locale_ != static_cast<locale_t>(nullptr)) previous_ = ::uselocale(locale_);
  }
  ScopedUtf8Locale(const ScopedUtf8Locale&) = delete;
  ScopedUtf8Locale& operator=(const ScopedUtf8Locale&) = delete;
  ~ScopedUtf8Locale() {
    if (locale_ == static_cast<locale_t>(nullptr)) return;
    ::uselocale(previous_);
    ::freelocale(locale_);
  }
  [[nodiscard]] bool active() const noexcept { return locale_ != static_cast<locale_t>(nullptr); }

 private:
  locale_t locale_;
  locale_t previous_ = static_cast<locale_t>(nullptr);
};

}  // namespace medgw::base
