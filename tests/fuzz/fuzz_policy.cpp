// libFuzzer target: the parsers and filters of patient-level policy and of
// the JSON medgw reads back. The first byte picks one:
//   0 the opt-out list (CSV, UTF-8 or CP932)
//   1 the UKE opt-out filter, 2 the DPC one (any column / the EF column)
//   3 the JSON reader (manifests at the receiver, receipts at the gateway)
// Besides not crashing or hanging: a filter that removed nothing must give
// back its input byte for byte, however it was cut into pieces.
#include <collectors/optout.hpp>
#include <collectors/optout_filter.hpp>

#include <base/json_reader.hpp>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

namespace {

using namespace medgw;

std::shared_ptr<const collectors::PatientPolicy> fuzz_policy() {
  auto policy = std::make_shared<collectors::PatientPolicy>();
  policy->optout = std::make_shared<const collectors::OptOutList>(collectors::OptOutList::parse(
      "patient_id,dpc_id,kana_name,birth_date\n00697,,,\nP2,1000000007,ヤマダタロウ,1950-02-03\n"));
  return policy;
}

void check_filter(std::unique_ptr<collectors::OptOutFilter> whole, std::unique_ptr<collectors::OptOutFilter> pieces,
                  std::string_view input) {
  std::string out_whole;
  whole->feed(input, out_whole);
  whole->finish(out_whole);
  std::string out_pieces;
  for (std::size_t at = 0; at < input.size(); at += 7) pieces->feed(input.substr(at, 7), out_pieces);
  pieces->finish(out_pieces);
  if (out_whole != out_pieces) std::abort();  // deterministic, whatever the pieces
  if (!whole->result().changed() && out_whole != input) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  static const auto policy = fuzz_policy();
  switch (data[0] % 4) {
    case 0:
      try {
        (void)collectors::OptOutList::parse(input);
      } catch (const collectors::OptOutError&) {
      }
      break;
    case 1:
      check_filter(collectors::make_uke_filter(policy), collectors::make_uke_filter(policy), input);
      break;
    case 2:
      check_filter(collectors::make_dpc_filter(policy, data[0] & 4 ? 2 : 0),
                   collectors::make_dpc_filter(policy, data[0] & 4 ? 2 : 0), input);
      break;
    case 3:
      try {
        (void)base::JsonValue::parse(input);
      } catch (const base::JsonError&) {
      }
      break;
  }
  return 0;
}
