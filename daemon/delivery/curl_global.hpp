#pragma once
// libcurl's process-wide state (curl_global_init), set up once before any
// thread starts and cleaned up at exit (STYLE.md: "curl_global_init once
// before threads"). main() holds one for the whole run, whatever the command.
namespace medgw::daemon {

class CurlGlobal {
 public:
  CurlGlobal();  // throws std::runtime_error when libcurl cannot be set up
  ~CurlGlobal();
  CurlGlobal(const CurlGlobal&) = delete;
  CurlGlobal& operator=(const CurlGlobal&) = delete;
};

}  // namespace medgw::daemon
