#include <backupstore/pack_list.hpp>

#include <base/base64.hpp>
#include <base/human_size.hpp>
#include <base/text.hpp>

#include <fstream>
#include <iomanip>
#include <sstream>

namespace medgw::backup {
namespace {

constexpr std::string_view pack_list_format = "medgw-backup-packs/1";

}  // namespace

bool is_pack_name(std::string_view text) { return text.size() == 32 && base::all_lower_hex(text); }

std::string signed_pack_list(const PackList& list, const crypto::SigningKey& signer) {
  std::string text = std::string(pack_list_format) + "\nsnapshot " + list.snapshot + "\nrepository " +
                     list.repository + "\ncreated " + list.created + "\nfiles " + std::to_string(list.files) +
                     "\nbytes " + std::to_string(list.bytes) + "\nsnapshot_file " +
                     std::to_string(list.snapshot_size) + " " + list.snapshot_sha256 + "\n";
  for (const PackListEntry& pack : list.packs) {
    text += "pack " + pack.name + " " + std::to_string(pack.size) + " " + pack.sha256 + "\n";
  }
  const crypto::Ed25519Signature signature = signer.sign(base::as_bytes(text));
  return text + "signature " + base::base64_encode(signature) + "\n";
}

base::Result<PackList> parse_pack_list(std::string_view text, const crypto::Ed25519PublicKey& key) {
  const auto signature_at = text.rfind("\nsignature ");
  if (!text.starts_with(std::string(pack_list_format) + "\n") || signature_at == std::string_view::npos) {
    return base::fail("pack_list_malformed", "not a medgw pack list (truncated?)");
  }
  std::string_view signature_text = text.substr(signature_at + 11);
  if (signature_text.ends_with('\n')) signature_text.remove_suffix(1);
  const auto signature_bytes = base::base64_decode_canonical(signature_text);
  crypto::Ed25519Signature signature{};
  if (!signature_bytes || signature_bytes->size() != signature.size()) {
    return base::fail("pack_list_malformed", "the pack list's signature is malformed");
  }
  std::copy(signature_bytes->begin(), signature_bytes->end(), signature.begin());
  const std::string_view body = text.substr(0, signature_at + 1);
  if (!crypto::verify_signature(key, base::as_bytes(body), signature)) {
    return base::fail("pack_list_bad_signature", "the pack list's signature does not match the gateway's key");
  }
  PackList list;
  for (std::string_view line : base::split_fields(body, '\n')) {
    const std::vector<std::string_view> fields = base::split_fields(line, ' ');
    bool ok = true;
    if (fields[0] == "snapshot" && fields.size() == 2) list.snapshot = fields[1];
    else if (fields[0] == "repository" && fields.size() == 2) list.repository = fields[1];
    else if (fields[0] == "created" && fields.size() == 2) list.created = fields[1];
    else if (fields[0] == "files" && fields.size() == 2) ok = base::parse_number(fields[1], list.files);
    else if (fields[0] == "bytes" && fields.size() == 2) ok = base::parse_number(fields[1], list.bytes);
    else if (fields[0] == "snapshot_file" && fields.size() == 3) {
      ok = base::parse_number(fields[1], list.snapshot_size);
      list.snapshot_sha256 = fields[2];
    } else if (fields[0] == "pack" && fields.size() == 4) {
      PackListEntry pack{std::string(fields[1]), 0, std::string(fields[3])};
      ok = is_pack_name(pack.name) && base::parse_number(fields[2], pack.size);
      list.packs.push_back(std::move(pack));
    }
    if (!ok) return base::fail("pack_list_malformed", "the pack list has a malformed line");
  }
  return list;
}

base::Result<std::vector<SnapshotSummary>> summarize(const FolderRepository& repository) {
  auto config = repository.read_config();
  if (!config) return base::fail(config.error());
  if (!*config) {
    return base::fail("not_a_repository",
                      repository.root().string() + " holds no medgw backup repository yet (no config file)");
  }
  const auto key = crypto::parse_public_key_text((*config)->gateway_key);
  if (!key) return base::fail("not_a_repository", repository.config_file().string() + ": malformed gateway_key");
  std::vector<SnapshotSummary> summaries;
  for (const std::string& id : repository.snapshot_ids(true)) {
    SnapshotSummary summary;
    summary.id = id;
    std::error_code ec;
    summary.visible = std::filesystem::exists(repository.snapshot_file(id), ec);
    std::ifstream in(repository.pack_list_file(id), std::ios::binary);
    if (!in) {
      summary.problem = "its pack list is missing";
    } else {
      std::ostringstream text;
      text << in.rdbuf();
      auto list = parse_pack_list(text.str(), *key);
      if (!list) summary.problem = "its pack list: " + list.error().message;
      else if (list->snapshot != id || list->repository != (*config)->id) {
        summary.problem = "its pack list names another snapshot or repository";
      } else summary.list = std::move(*list);
    }
    summaries.push_back(std::move(summary));
  }
  return summaries;
}

void print_snapshot_table(std::ostream& out, const std::vector<SnapshotSummary>& summaries) {
  out << std::left << std::setw(38) << "SNAPSHOT" << std::setw(22) << "CREATED" << std::setw(10) << "FILES"
      << std::setw(12) << "SIZE" << "PACKS\n";
  for (const backup::SnapshotSummary& summary : summaries) {
    if (!summary.visible) continue;
    if (!summary.problem.empty()) {
      out << std::setw(38) << summary.id << summary.problem << "\n";
      continue;
    }
    std::uint64_t pack_bytes = 0;
    for (const auto& pack : summary.list.packs) pack_bytes += pack.size;
    out << std::setw(38) << summary.id << std::setw(22) << summary.list.created << std::setw(10)
        << summary.list.files << std::setw(12) << base::human_size(summary.list.bytes) << summary.list.packs.size()
        << " (" << base::human_size(pack_bytes) << ")\n";
  }
}

}  // namespace medgw::backup
