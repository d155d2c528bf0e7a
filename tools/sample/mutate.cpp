#include <tools/sample/mutate.hpp>

#include <tools/sample/hl7_builder.hpp>
#include <tools/sample/encoding.hpp>
#include <tools/sample/ssmix2_generator.hpp>

#include <collectors/hl7.hpp>
#include <collectors/ssmix2_name.hpp>
#include <claims/text_encoding.hpp>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace medgw::sample {
namespace {

struct StoredFile {
  std::string relative;  // under ssmix2/std
  collectors::Ssmix2FileName name;
};

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string folder_of(const std::string& relative) { return relative.substr(0, relative.rfind('/')); }

}  // namespace

MutationCounts mutate_tree(const std::filesystem::path& root, std::uint64_t changes, std::uint64_t seed) {
  const std::filesystem::path storage = root / std::string(standard_root);
  if (!std::filesystem::is_directory(storage)) {
    throw std::runtime_error(storage.string() + " does not exist; --mutate needs a tree written by medgw-sample --out");
  }
  std::vector<StoredFile> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(storage)) {
    if (!entry.is_regular_file()) continue;
    auto name = collectors::parse_ssmix2_file_name(entry.path().filename().string());
    if (!name) continue;
    files.push_back({std::filesystem::relative(entry.path(), storage).generic_string(), std::move(*name)});
  }
  if (files.empty()) throw std::runtime_error(storage.string() + " holds no SS-MIX2 files to change");
  std::sort(files.begin(), files.end(), [](const StoredFile& a, const StoredFile& b) { return a.relative < b.relative; });

  // Items by logical key; patients with a file to take their PID segment from.
  std::map<std::string, std::vector<std::size_t>> items;
  std::map<std::string, std::size_t> patient_file;
  std::string latest;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const auto& name = files[i].name;
    items[name.logical_key()].push_back(i);
    if (name.condition_flag == '1' && !patient_file.contains(name.patient_id)) patient_file[name.patient_id] = i;
    latest = std::max(latest, name.timestamp.substr(0, 14));
  }
  std::vector<std::string> live_keys;
  for (const auto& [key, members] : items) {
    const bool current = std::any_of(members.begin(), members.end(), [&](std::size_t i) { return files[i].name.condition_flag == '1'; });
    if (current) live_keys.push_back(key);
  }
  std::vector<std::string> patients;
  for (const auto& [id, index] : patient_file) patients.push_back(id);
  if (patients.empty()) throw std::runtime_error("no current (flag 1) files to change");

  LocalTime clock;
  if (!parse_timestamp(latest, clock)) throw std::runtime_error("cannot read the tree's timestamps");
  clock = LocalTime{clock.day + std::chrono::days(1), 9LL * 3'600'000};

  Settings settings;
  settings.seed = seed;
  const Hospital hospital = make_hospital(settings);
  Rng rng(mix(seed, 0x4D5554));
  FileWriter writer(storage);
  MutationCounts counts;
  std::set<std::string> touched;
  std::map<std::string, std::string> pid_cache;
  int order_counter = 0;

  auto pid_of = [&](const std::string& patient) -> const std::string& {
    auto found = pid_cache.find(patient);
    if (found != pid_cache.end()) return found->second;
    const std::string raw = read_file(storage / files[patient_file.at(patient)].relative);
    auto decoded = claims::decode_iso2022jp(raw);
    std::string pid;
    if (decoded) {
      if (auto message = collectors::Hl7Message::parse(*decoded)) {
        if (const auto* segment = message->find("PID")) pid = std::string(segment->text());
      }
    }
    if (pid.empty()) pid = "PID|0001||" + patient + "^^^^PI";
    return pid_cache.emplace(patient, std::move(pid)).first->second;
  };
  auto department_of = [&](const std::string& code) -> Department {
    for (const Department& department : departments()) {
      if (department.code == code) return department;
    }
    return departments()[0];
  };
  auto write_version = [&](const std::string& patient, const MessageKind& kind, Encounter encounter, char flag) {
    collectors::Ssmix2FileName name{patient,
                                    kind.care_date == CareDateField::none ? "-" : encounter.event.yyyymmdd(),
                                    std::string(kind.data_type),
                                    encounter.order_no,
                                    encounter.sent.timestamp17(),
                                    kind.department_in_name ? std::string(encounter.department.code) : "-",
                                    flag};
    const std::string relative = patient_folder(patient) + "/" + name.care_date + "/" + name.data_type + "/" + name.format();
    writer.write(relative, to_jis(build_message_with_pid(hospital, pid_of(patient), kind, encounter, rng)),
                 encounter.sent.unix_seconds());
    ++counts.new_files;
    return name.logical_key();
  };
  auto rename_flag = [&](std::size_t index, char flag) {
    StoredFile& file = files[index];
    collectors::Ssmix2FileName renamed = file.name;
    renamed.condition_flag = flag;
    const std::string target = folder_of(file.relative) + "/" + renamed.format();
    std::filesystem::rename(storage / file.relative, storage / target);
    file.relative = target;
    file.name = renamed;
    ++counts.renamed_files;
  };

  static constexpr std::array<std::string_view, 8> new_types{"ADT-12", "OMP-01", "OML-01", "OML-11",
                                                             "OMG-01", "OMG-11", "OMG-03", "OMG-13"};
  // Each attempt applies one change unless it would touch an item twice.
  for (std::uint64_t attempt = 0; counts.added + counts.updated + counts.deleted < changes && attempt < changes * 20 + 100;
       ++attempt) {
    clock = clock.plus_minutes(rng.between(1, 7));
    const auto roll = rng.below(100);
    if (roll < 50 || live_keys.empty()) {
      const std::string& patient = rng.pick(patients);
      const MessageKind& kind = message_kind(new_types[rng.below(new_types.size())]);
      Encounter e;
      e.event = clock.plus_minutes(-rng.between(5, 60));
      e.sent = clock;
      e.department = rng.pick(departments());
      e.doctor = &rng.pick(hospital.doctors);
      std::array<char, 24> order{};
      std::snprintf(order.data(), order.size(), "9%08llu%06d", static_cast<unsigned long long>(seed % 100'000'000ULL), ++order_counter);
      e.order_no = kind.has_order ? order.data() : "999999999999999";
      const std::string key = patient + '\x1f' + e.event.yyyymmdd() + '\x1f' + std::string(kind.data_type) + '\x1f' + e.order_no;
      if (touched.contains(key) || items.contains(key)) continue;  // same visit already recorded
      touched.insert(write_version(patient, kind, e, '1'));
      ++counts.added;
      continue;
    }
    const std::size_t pick = static_cast<std::size_t>(rng.below(live_keys.size()));
    const std::string key = live_keys[pick];
    live_keys.erase(live_keys.begin() + static_cast<std::ptrdiff_t>(pick));
    if (touched.contains(key)) continue;
    touched.insert(key);
    const std::vector<std::size_t>& members = items[key];
    std::size_t current = members.front();
    for (std::size_t index : members) {
      if (files[index].name.condition_flag == '1') current = index;
    }
    const collectors::Ssmix2FileName name = files[current].name;
    const MessageKind& kind = message_kind(name.data_type);
    Encounter e;
    LocalTime event = clock;
    if (name.care_date != "-" && !parse_timestamp(name.care_date + "100000", event)) event = clock;
    e.event = event;
    e.sent = clock;
    e.department = department_of(name.department);
    e.doctor = &rng.pick(hospital.doctors);
    e.order_no = name.order_no;
    if (roll < 85) {
      rename_flag(current, '2');
      write_version(name.patient_id, kind, e, '1');
      ++counts.updated;
    } else {
      for (std::size_t index : members) {
        if (files[index].name.condition_flag != '0') rename_flag(index, '0');
      }
      e.order_cancel = true;
      write_version(name.patient_id, kind, e, '0');
      ++counts.deleted;
    }
  }
  return counts;
}

}  // namespace medgw::sample
