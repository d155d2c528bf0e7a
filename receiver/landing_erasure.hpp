#pragma once
// A withdrawal at the central (issue 19): what the central holds of the
// withdrawn patients goes, in every source. Their SS-MIX2 folders are removed
// (pid[0:3]/pid[3:6]/pid in every ssmix2* tree), and every landed DPC and UKE
// file of the facility is rewritten without their DPC rows and receipts by
// the gateway's own filters (claims/: receipts renumbered, GO totals
// recomputed). Internal to landing.
//
// A file that holds none of them is not touched at all (read, never
// written). A file that does is filtered into a temporary file beside the
// tree (.landing-rewrite, fsynced), which is then renamed over it and its
// folder fsynced: a crash leaves the old file or the new one, never a mix,
// and the object lands again whole (every step repeats safely).
#include <receiver/landing_manifest.hpp>

#include <crypto/signing.hpp>

#include <filesystem>
#include <span>

namespace medgw::receiver {

// Removes the patient's SS-MIX2 folders; how many there were.
std::uint64_t remove_ssmix2_folders(const std::string& patient_id, const std::filesystem::path& facility_root);
// Removes the patient folders a withdraw names ({source, folder}, e.g. a
// DICOM source's "<patient>/"); returns how many existed.
std::uint64_t remove_patient_folders(std::span<const std::pair<std::string, std::string>> folders,
                                     const std::filesystem::path& facility_root);

// Rewrites the facility's DPC and UKE files without the withdrawn patients'
// rows and receipts, adding to `counts`. The DPC and receipt sources are
// those the withdrawals name; when none names any (a gateway from before
// this), the landed sources named dpc* and receipt*. Throws
// std::system_error (the caller classifies it; its text is not passed on).
void erase_claims(std::span<const ManifestEntry* const> withdrawals, const std::filesystem::path& facility_root,
                  crypto::ErasureCounts& counts);

}  // namespace medgw::receiver
