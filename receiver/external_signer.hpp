#pragma once
// ca.command: the central's own CA signs instead of a key in receiver.yaml.
// The command runs under /bin/sh with the CSR (PEM) on stdin and
// MEDGW_FACILITY, MEDGW_VALIDITY_SECONDS in its environment; it prints the
// certificate (PEM) on stdout and exits 0 within 30 seconds. What it prints
// is checked by IssuingCa::accept_signed before anyone gets it.
#include <base/result.hpp>

#include <chrono>
#include <string>

namespace medgw::receiver {

[[nodiscard]] base::Result<std::string> run_external_signer(const std::string& command, const std::string& csr_pem,
                                                            const std::string& facility,
                                                            std::chrono::seconds validity);

}  // namespace medgw::receiver
