#pragma once
// Entry points of the medgw commands, one file each (command_*.cpp).
#include <daemon/cli/cli.hpp>
#include <daemon/config/config.hpp>

#include <base/log.hpp>

#include <stdexcept>

namespace medgw::daemon {

// A usage problem found while a command runs (a bad option value): its
// message is printed and the exit status is 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A command's logger: to log.file only (the command prints its own outcome
// on stderr); an unwritable log file does not stop the command.
[[nodiscard]] log::Logger command_logger(const Config& config, std::string component);

int command_check_config(Invocation& invocation);
int command_enroll(Invocation& invocation);
int command_keys_generate(Invocation& invocation);
int command_keys_recipient(Invocation& invocation);
int command_encrypt(Invocation& invocation);
int command_decrypt(Invocation& invocation);
int command_status(Invocation& invocation);
int command_collect(Invocation& invocation);
int command_optout_check(Invocation& invocation);
int command_notice_check(Invocation& invocation);
int command_notice_report(Invocation& invocation);
int command_audit_verify(Invocation& invocation);
int command_upload(Invocation& invocation);
int command_spool_release(Invocation& invocation);
int command_spool_resend(Invocation& invocation);
int command_run(Invocation& invocation);
int command_doctor(Invocation& invocation);
int command_diag(Invocation& invocation);
int command_export_media(Invocation& invocation);
int command_backup_run(Invocation& invocation);
int command_backup_list(Invocation& invocation);
int command_backup_forget(Invocation& invocation);
int command_backup_verify(Invocation& invocation);
int command_backup_restore(Invocation& invocation);

}  // namespace medgw::daemon
