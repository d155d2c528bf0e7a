#include <daemon/support/check.hpp>

#include <base/json.hpp>

#include <algorithm>
#include <array>

namespace medgw::daemon {

std::string_view verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::ok: return "OK";
    case Verdict::warn: return "WARN";
    case Verdict::fail: return "FAIL";
    case Verdict::skip: return "SKIP";
  }
  return "FAIL";
}

Check make_check(std::string id, std::string title, Verdict verdict, std::string finding, std::string remedy) {
  return Check{std::move(id), std::move(title), verdict, std::move(finding), std::move(remedy)};
}

bool DoctorReport::failed() const {
  return std::any_of(checks.begin(), checks.end(), [](const Check& check) { return check.verdict == Verdict::fail; });
}

const Check* DoctorReport::find(std::string_view id) const {
  for (const Check& check : checks) {
    if (check.id == id) return &check;
  }
  return nullptr;
}

namespace {

std::array<std::size_t, 4> tally(const std::vector<Check>& checks) {
  std::array<std::size_t, 4> counts{};
  for (const Check& check : checks) ++counts[static_cast<std::size_t>(check.verdict)];
  return counts;
}

}  // namespace

std::string DoctorReport::text() const {
  std::size_t width = 0;
  for (const Check& check : checks) width = std::max(width, check.title.size());
  std::string out = "medgw doctor: " + config_file + "\n";
  for (const Check& check : checks) {
    const std::string_view verdict = verdict_name(check.verdict);
    out += std::string(verdict) + std::string(6 - verdict.size(), ' ') + check.title +
           std::string(width - check.title.size() + 2, ' ') + check.finding + "\n";
    if (!check.remedy.empty() && check.verdict != Verdict::ok) {
      out += std::string(6 + width + 2, ' ') + "-> " + check.remedy + "\n";
    }
  }
  const auto counts = tally(checks);
  out += std::to_string(counts[2]) + " failed, " + std::to_string(counts[1]) + " warning(s), " +
         std::to_string(counts[0]) + " ok";
  if (counts[3] > 0) out += ", " + std::to_string(counts[3]) + " skipped";
  out += "\n";
  return out;
}

std::string DoctorReport::json() const {
  base::JsonWriter doc;
  doc.begin_object().field("format", "medgw-doctor/1").field("config", config_file).field("generated", generated);
  doc.key("checks").begin_array();
  for (const Check& check : checks) {
    doc.begin_object().field("id", check.id).field("title", check.title).field("verdict", verdict_name(check.verdict));
    doc.field("finding", check.finding).field("remedy", check.remedy).end_object();
  }
  doc.end_array();
  const auto counts = tally(checks);
  doc.key("summary").begin_object();
  doc.field("ok", static_cast<std::uint64_t>(counts[0])).field("warn", static_cast<std::uint64_t>(counts[1]));
  doc.field("fail", static_cast<std::uint64_t>(counts[2])).field("skip", static_cast<std::uint64_t>(counts[3]));
  doc.end_object();
  doc.field("failed", failed());
  doc.end_object();
  return doc.take();
}

}  // namespace medgw::daemon
