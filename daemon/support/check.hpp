#pragma once
// One finding of `medgw doctor`: what was checked, the verdict, one sentence
// saying what was found and one saying what to do. Findings name files and
// keys of the configuration, never a patient or a path inside a source.
#include <string>
#include <string_view>
#include <vector>

namespace medgw::daemon {

// skip: not run because an earlier check it depends on failed (or it does
// not apply); it neither passes nor fails.
enum class Verdict { ok, warn, fail, skip };
[[nodiscard]] std::string_view verdict_name(Verdict verdict);  // "OK", "WARN", "FAIL", "SKIP"

struct Check {
  std::string id;       // stable, for scripts and tests: "tls", "source.ssmix2"
  std::string title;    // "TLS handshake with the central"
  Verdict verdict = Verdict::ok;
  std::string finding;  // what was found
  std::string remedy;   // what to do; empty when there is nothing to do
};

[[nodiscard]] Check make_check(std::string id, std::string title, Verdict verdict, std::string finding,
                               std::string remedy = {});

struct DoctorReport {
  std::string config_file;
  std::string generated;  // RFC 3339
  std::vector<Check> checks;

  [[nodiscard]] bool failed() const;
  [[nodiscard]] const Check* find(std::string_view id) const;
  // One block per check ("FAIL  tls  finding\n      -> remedy"), then a summary line.
  [[nodiscard]] std::string text() const;
  [[nodiscard]] std::string json() const;
};

}  // namespace medgw::daemon
