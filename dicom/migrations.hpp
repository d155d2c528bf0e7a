#pragma once
// The DICOM source's part of state.db (component "dicom", see spool::Schema):
// which instances and studies were sent, by keyed name only.
#include <spool/state_db.hpp>

#include <span>
#include <string_view>

namespace medgw::dicom {

[[nodiscard]] std::span<const spool::Migration> dicom_migrations();
inline constexpr std::string_view dicom_component = "dicom";

}  // namespace medgw::dicom
