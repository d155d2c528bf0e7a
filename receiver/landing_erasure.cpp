#include <receiver/landing_erasure.hpp>

#include <receiver/identifiers.hpp>

#include <claims/dpc_files.hpp>
#include <claims/dpc_rows.hpp>
#include <claims/patient_set.hpp>
#include <claims/receipts.hpp>

#include <base/output_file.hpp>
#include <base/private_file.hpp>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <functional>
#include <set>
#include <system_error>
#include <vector>

namespace medgw::receiver {
namespace {

using MakeFilter = std::function<std::unique_ptr<claims::StreamFilter>(std::string_view relative_path)>;

constexpr std::size_t block_size = 1 << 20;

std::ifstream open_input(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::system_error(errno != 0 ? errno : EIO, std::generic_category(), "a landed file cannot be read");
  return in;
}

// Feeds the whole file through `filter`, handing what it keeps to `sink`.
template <class Sink>
void stream_file(const std::filesystem::path& file, claims::StreamFilter& filter, Sink&& sink) {
  std::ifstream in = open_input(file);
  std::vector<char> block(block_size);
  std::string out;
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got == 0) break;
    out.clear();
    filter.feed(std::string_view(block.data(), got), out);
    sink(out);
  }
  if (in.bad()) throw std::system_error(EIO, std::generic_category(), "a landed file cannot be read");
  out.clear();
  filter.finish(out);
  sink(out);
}

// One file: read through once; only when it holds a withdrawn patient, once
// more into the temporary file that replaces it.
void erase_in_file(const std::filesystem::path& file, std::string_view relative, const MakeFilter& make,
                   const std::filesystem::path& facility_root, std::uint64_t& removed, crypto::ErasureCounts& counts) {
  const auto scan = make(relative);
  stream_file(file, *scan, [](const std::string&) {});
  if (!scan->counts().changed()) return;
  const std::filesystem::path staged = facility_root / ".landing-rewrite";
  {
    base::AtomicFile out(staged, 0644);
    const auto filter = make(relative);
    stream_file(file, *filter, [&out](const std::string& kept) { out.write(base::as_bytes(kept)); });
    out.commit();
  }
  std::filesystem::rename(staged, file);
  base::sync_directory(file.parent_path());
  removed += scan->counts().removed;
  ++counts.files_rewritten;
}

void erase_in_source(const std::filesystem::path& root, const MakeFilter& make, const std::filesystem::path& facility_root,
                     std::uint64_t& removed, crypto::ErasureCounts& counts) {
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) return;
  // Sorted, so a rewrite cut off by a crash resumes in the same order.
  std::vector<std::filesystem::path> files;
  for (const auto& item : std::filesystem::recursive_directory_iterator(root)) {
    if (item.is_regular_file() && !item.is_symlink()) files.push_back(item.path());
  }
  std::sort(files.begin(), files.end());
  for (const std::filesystem::path& file : files) {
    const std::string relative = file.lexically_relative(root).generic_string();
    erase_in_file(file, relative, make, facility_root, removed, counts);
  }
}

// The landed sources of one kind: as the withdrawals name them, else by name.
std::set<std::string> sources_of(std::span<const ManifestEntry* const> withdrawals,
                                 std::vector<std::string> ManifestEntry::*list, std::string_view prefix,
                                 const std::filesystem::path& facility_root, bool named) {
  std::set<std::string> out;
  for (const ManifestEntry* entry : withdrawals) out.insert((entry->*list).begin(), (entry->*list).end());
  if (named) return out;
  std::error_code ec;
  for (const auto& source : std::filesystem::directory_iterator(facility_root, ec)) {
    const std::string name = source.path().filename().string();
    if (source.is_directory() && name.starts_with(prefix)) out.insert(name);
  }
  return out;
}

}  // namespace

std::uint64_t remove_ssmix2_folders(const std::string& patient, const std::filesystem::path& facility_root) {
  const std::string folder = patient.substr(0, 3) + "/" + (patient.size() > 3 ? patient.substr(3, 3) : "") + "/" + patient;
  std::uint64_t removed = 0;
  std::error_code ec;
  for (const auto& source : std::filesystem::directory_iterator(facility_root, ec)) {
    if (!source.is_directory() || !source.path().filename().string().starts_with("ssmix2")) continue;
    if (auto path = path_under(source.path(), folder)) {
      if (std::filesystem::remove_all(*path) > 0) ++removed;
    }
  }
  return removed;
}

std::uint64_t remove_patient_folders(std::span<const std::pair<std::string, std::string>> folders,
                                     const std::filesystem::path& facility_root) {
  std::uint64_t removed = 0;
  for (const auto& [source, folder] : folders) {
    auto root = path_under(facility_root, source);
    if (!root) continue;
    auto path = path_under(*root, folder);
    std::error_code ec;
    if (path && std::filesystem::remove_all(*path, ec) > 0) ++removed;
  }
  return removed;
}

void erase_claims(std::span<const ManifestEntry* const> withdrawals, const std::filesystem::path& facility_root,
                  crypto::ErasureCounts& counts) {
  claims::PatientSet patients;
  bool named = false;
  for (const ManifestEntry* entry : withdrawals) {
    patients.add({entry->patient_id, entry->dpc_id, entry->kana_name, entry->birth_date});
    named = named || !entry->dpc_sources.empty() || !entry->receipt_sources.empty();
  }
  const MakeFilter dpc = [&patients](std::string_view relative) {
    return claims::make_dpc_row_filter(claims::dpc_id_column(relative), patients);
  };
  const MakeFilter uke = [&patients](std::string_view) { return claims::make_receipt_filter(patients); };
  for (const std::string& source : sources_of(withdrawals, &ManifestEntry::dpc_sources, "dpc", facility_root, named)) {
    if (auto root = path_under(facility_root, source)) erase_in_source(*root, dpc, facility_root, counts.dpc_rows, counts);
  }
  for (const std::string& source :
       sources_of(withdrawals, &ManifestEntry::receipt_sources, "receipt", facility_root, named)) {
    if (auto root = path_under(facility_root, source)) erase_in_source(*root, uke, facility_root, counts.receipts, counts);
  }
}

}  // namespace medgw::receiver
