#pragma once
// The source types built into medgw, each defined in its own file and listed
// in the registry (source_registry.cpp).
#include <daemon/runtime/source_type.hpp>

namespace medgw::daemon {

[[nodiscard]] const SourceType& ssmix2_source_type();   // source_ssmix2.cpp
[[nodiscard]] const SourceType& dpc_source_type();      // source_claims.cpp
[[nodiscard]] const SourceType& receipt_source_type();  // source_claims.cpp
[[nodiscard]] const SourceType& dicom_source_type();    // source_dicom.cpp
[[nodiscard]] const SourceType& fhir_source_type();     // source_fhir.cpp

}  // namespace medgw::daemon
