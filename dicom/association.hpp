#pragma once
// One association of the storage SCP (store_scp.hpp), on its own thread:
// negotiation, then C-ECHO and C-STORE until release, abort, an error or
// the SCP stopping.
#include <dicom/protocol.hpp>
#include <dicom/store_scp.hpp>

#include <base/unique_fd.hpp>

#include <map>
#include <optional>

namespace medgw::dicom {

struct StoreScp::Shared {
  Shared(ScpSettings s, std::shared_ptr<const Staging> st, RoomCheck r, log::Logger l, std::shared_ptr<ScpCounters> c)
      : settings(std::move(s)), staging(std::move(st)), room(std::move(r)), logger(std::move(l)), counters(std::move(c)) {}
  ScpSettings settings;
  std::shared_ptr<const Staging> staging;
  RoomCheck room;
  log::Logger logger;
  std::shared_ptr<ScpCounters> counters;
  std::atomic<bool> stopping{false};
};

class Association {
 public:
  Association(base::UniqueFd socket, std::string peer, StoreScp::Shared& shared);
  void run();

 private:
  // A command and, for a C-STORE, the data set arriving.
  struct Store {
    std::uint8_t context = 0;
    Command command;
    std::optional<Staging::Incoming> file;  // empty: the data set is dropped
    std::uint16_t refusal = status_success;
    std::string refusal_comment;
    std::uint64_t bytes = 0;    // of the data set received
    std::uint64_t flushed = 0;  // of them, handed to writeback
  };
  struct Pdu {
    PduType type{};
    std::string body;
  };
  enum class Read { ok, closed, timeout, stopping, too_long, failed };

  [[nodiscard]] Read read_pdu(Pdu& pdu, std::uint32_t limit, std::chrono::seconds timeout);
  [[nodiscard]] bool wait_readable(std::chrono::steady_clock::time_point deadline, Read& why);
  [[nodiscard]] bool read_exact(char* out, std::size_t count, std::chrono::steady_clock::time_point deadline, Read& why);
  bool send(std::string_view bytes);
  [[nodiscard]] bool negotiate();
  [[nodiscard]] std::string refusal(const AssociateRequest& request) const;
  [[nodiscard]] bool on_pdv(const Pdv& pdv);
  [[nodiscard]] bool on_command(std::uint8_t context);
  [[nodiscard]] bool on_data(const Pdv& pdv);
  [[nodiscard]] bool finish_store();
  bool respond(const Store& store, std::uint16_t status, std::string comment = {});
  void abort(std::string_view why);
  void drop_file();

  base::UniqueFd socket_;
  std::string peer_;
  std::string calling_ae_;
  StoreScp::Shared& shared_;
  std::map<std::uint8_t, ContextAnswer> contexts_;  // accepted ones
  std::string command_bytes_;

  std::optional<Store> store_;  // the C-STORE whose data set is arriving
};

}  // namespace medgw::dicom
