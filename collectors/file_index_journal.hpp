#pragma once
// The tree feed's journal: the file index rows of the files a batch sends,
// written by the sink in the transaction that records the object
// (invariant 1). A file that changed only its stat (same content) is a
// `touch`: the index learns the new stat, nothing is sent.
#include <collectors/collection_pass.hpp>
#include <collectors/spool_sink.hpp>
#include <collectors/tree_walker.hpp>

#include <memory>
#include <set>
#include <string>
#include <vector>

namespace medgw::collectors {

class FileIndexJournal final : public SinkJournal {
 public:
  FileIndexJournal(std::string source, PassSummary*& summary) : source_(std::move(source)), summary_(summary) {}

  // A file version sent (or renamed to `path`): its row with the object's seq.
  void upsert(std::string path, const FileStat& stat, std::string sha256, AnomalySet anomalies);
  // Same content, new stat.
  void touch(std::string path, const FileStat& stat);
  // Gone (deleted, or renamed away).
  void remove(std::string path);
  // The rows of these patients were left out of the copy of `path` just sent
  // (their notice period had not passed): they go later, once eligible
  // (`notice_held_rows`). An upsert or remove of a path forgets what was held
  // of its earlier version.
  void hold_rows(std::string path, const std::set<std::string, std::less<>>& patients);

  void commit(base::Database& db, std::int64_t object_seq) override;
  void discard() override { ops_.clear(); }
  [[nodiscard]] bool empty() const override { return ops_.empty(); }
  [[nodiscard]] std::unique_ptr<Records> take() override;

  struct Op {
    enum class Kind { upsert, touch, remove, hold } kind;
    std::string path;
    FileStat stat;
    std::string sha256;  // raw 32 bytes
    AnomalySet anomalies = 0;
    std::vector<std::string> patients;  // hold
  };

 private:
  class Taken;
  std::string source_;
  PassSummary*& summary_;
  std::vector<Op> ops_;
};

}  // namespace medgw::collectors
