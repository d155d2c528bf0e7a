#include <daemon/backup/backup_run.hpp>

#include <daemon/backup/backup_state.hpp>
#include <daemon/backup/chunker.hpp>
#include <daemon/backup/pack.hpp>
#include <backupstore/repository.hpp>
#include <daemon/backup/snapshot.hpp>
#include <daemon/backup/source_reader.hpp>

#include <daemon/runtime/source_registry.hpp>

#include <collectors/tree_walker.hpp>

#include <crypto/random.hpp>
#include <crypto/uuid.hpp>

#include <base/hex.hpp>
#include <base/time_format.hpp>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <set>

namespace medgw::backup {
namespace {

// The recipients a key file was written for: part of its name, so that a
// changed backup.recipients gets the secret written for the new set too.
std::string recipients_tag(std::span<const crypto::X25519PublicKey> recipients) {
  std::vector<std::string> texts;
  for (const auto& recipient : recipients) texts.push_back(crypto::format_recipient(recipient));
  std::sort(texts.begin(), texts.end());
  crypto::Sha256 hash;
  for (const std::string& text : texts) hash.update(text + "\n");
  const crypto::Digest256 digest = hash.finish();
  return base::to_hex(base::ByteView(digest.data(), 8));
}

std::unique_ptr<RepositoryTarget> open_target(const BackupSettings& settings) {
  if (settings.remote) return std::make_unique<RemoteRepository>(*settings.remote);
  return std::make_unique<FolderRepository>(settings.repository);
}

// A failure that ends the run (the walk's callback cannot return one).
struct RunAborted : std::exception {
  explicit RunAborted(base::Error e) : error(std::move(e)) {}
  const char* what() const noexcept override { return "backup aborted"; }
  base::Error error;
};

class BackupRun {
 public:
  BackupRun(const BackupSettings& settings, const log::Logger& logger, const ProgressCallback& progress,
            const std::atomic<bool>* stop)
      : settings_(settings), logger_(logger), progress_(progress), stop_(stop), repository_(open_target(settings)),
        state_(BackupState::open(settings.state_dir, logger.named("backup.state"))) {}

  base::Result<BackupReport> run() {
    if (base::Status ready = repository_->prepare(); !ready) return base::fail(ready.error());
    if (base::Status opened = open_repository(); !opened) return base::fail(opened.error());
    // Retention must not remove a pack this run reuses: its lease keeps
    // `backup forget` out (and this run out while forget works).
    auto lease = repository_->lease_for_run();
    if (!lease) return base::fail(lease.error());
    lease_ = std::move(*lease);
    repository_->remove_temporaries();
    forget_missing_packs();
    chunker_.emplace(secret_);
    report_.snapshot = crypto::uuid_v7(std::chrono::system_clock::now());
    SnapshotHeader header{report_.snapshot, base::rfc3339_utc(std::chrono::system_clock::now()), settings_.facility,
                          settings_.signer->public_key_text(), {}};
    for (const BackupSource& source : settings_.sources) {
      header.volumes.push_back({source.label, source.by_patient, source.type});
    }
    SnapshotWriter writer(*repository_, settings_.recipients, header);
    for (std::size_t volume = 0; volume < settings_.sources.size(); ++volume) walk(volume, writer);
    close_pack();
    flush_ready_rows();
    writer.finish();
    publish_snapshot(writer);
    report_.files = writer.files();
    report_.bytes = writer.bytes();
    return report_;
  }

  BackupState& state() { return state_; }
  const BackupReport& report() const { return report_; }

 private:
  base::Status open_repository();
  base::Status create_repository();
  void ensure_secret_for_recipients();
  void walk(std::size_t volume, SnapshotWriter& writer);
  void back_up_file(std::size_t volume, std::string_view path, const collectors::FileStat& stat,
                    SnapshotWriter& writer);
  BlobRef store_blob(base::ByteView content);
  void close_pack();
  void flush_ready_rows();
  void publish_snapshot(SnapshotWriter& writer);
  void tick();
  void forget_missing_packs();

  struct Row {
    std::string volume;
    std::string path;
    KnownFile file;
  };

  const BackupSettings& settings_;
  log::Logger logger_;
  const ProgressCallback& progress_;
  const std::atomic<bool>* stop_;
  std::unique_ptr<RepositoryTarget> repository_;
  BackupState state_;
  std::unique_ptr<RunLease> lease_;
  std::string repository_id_;
  std::vector<std::uint8_t> secret_;
  std::optional<Chunker> chunker_;
  std::unique_ptr<PackWriter> pack_;
  std::map<BlobId, BlobRef> pack_blobs_;  // blobs of the open pack, durable once it is published
  std::vector<Row> pack_rows_;            // files using the open pack
  std::vector<Row> ready_rows_;           // files whose blobs are all durable
  std::set<std::string> used_packs_;
  BackupReport report_;
  std::chrono::steady_clock::time_point last_tick_{};
};

base::Status BackupRun::open_repository() {
  auto config = repository_->read_config();
  if (!config) return base::fail(config.error());
  if (!*config) return create_repository();
  repository_id_ = (*config)->id;
  if ((*config)->gateway_key != settings_.signer->public_key_text()) {
    return base::fail("repository_foreign", "the backup repository " + repository_->where() +
                                                " was created by another gateway (its signing key differs); give "
                                                "backup.repository a folder of this gateway's own");
  }
  auto secret = state_.load_secret(repository_id_);
  if (!secret) {
    return base::fail("repository_foreign",
                      "this gateway has no secret for the backup repository " + repository_->where() +
                          " (state_dir was replaced?); give backup.repository a new empty folder: the old repository "
                          "stays readable with the recovery key");
  }
  secret_ = std::move(*secret);
  if (state_.bound_repository() != repository_id_) state_.bind_repository(repository_id_, repository_->where());
  ensure_secret_for_recipients();
  return {};
}

base::Status BackupRun::create_repository() {
  RepositoryConfig config{crypto::uuid_v7(std::chrono::system_clock::now()),
                          base::rfc3339_utc(std::chrono::system_clock::now()), settings_.signer->public_key_text()};
  secret_.resize(32);
  crypto::random_bytes(secret_);
  repository_id_ = config.id;
  state_.save_secret(config.id, secret_);  // the gateway's copy first: it must never lack one
  ensure_secret_for_recipients();
  auto file = repository_->new_file();
  const std::string text = repository_config_text(config);
  file->write(base::as_bytes(text));
  (void)file->finish_hash();
  repository_->publish(*file, "config");
  state_.bind_repository(config.id, repository_->where());
  logger_.info("backup.repository_created", "created a backup repository", {{"repository", config.id}});
  return {};
}

void BackupRun::ensure_secret_for_recipients() {
  const std::string file = "keys/" + repository_id_ + "." + recipients_tag(settings_.recipients) + ".age";
  if (repository_->file_size(file)) return;
  const std::string text = secret_text(repository_id_, secret_);
  const std::vector<std::uint8_t> sealed = crypto::age::encrypt(base::as_bytes(text), settings_.recipients);
  auto out = repository_->new_file();
  out->write(sealed);
  (void)out->finish_hash();
  repository_->publish(*out, file);
}

// A pack that left the repository (a retention run, damage, a restored NAS):
// what it held is stored again by this run, so the new snapshot is whole.
void BackupRun::forget_missing_packs() {
  const std::size_t gone = state_.forget_missing_packs([&](const std::string& name, std::uint64_t size) {
    return repository_->file_size(pack_name_in_layout(name)) == size;
  });
  if (gone > 0) {
    logger_.warn("backup.packs_missing", "packs recorded as stored are gone from the repository; their files are read "
                 "and stored again (older snapshots that need them stay incomplete: medgw backup verify)",
                 {{"packs", std::to_string(gone)}});
  }
}

void BackupRun::walk(std::size_t volume, SnapshotWriter& writer) {
  const BackupSource& source = settings_.sources[volume];
  collectors::TreeWalker walker;
  try {
    walker.walk(
        source.root,
        [&](std::string_view path, const collectors::FileStat& stat) {
          try {
            back_up_file(volume, path, stat, writer);
          } catch (const std::system_error& error) {
            throw RunAborted(repository_error(error, "a pack"));  // not the walk's own failure
          }
        },
        [&](collectors::WalkProblem problem, std::string_view) {
          if (problem == collectors::WalkProblem::vanished) ++report_.vanished;
          else if (problem != collectors::WalkProblem::symlink_skipped &&
                   problem != collectors::WalkProblem::special_skipped) {
            ++report_.unreadable;
          }
        });
  } catch (const std::system_error& error) {
    // The root is configuration, not patient data: it may be named.
    throw RunAborted({"source_unreadable", "cannot read the source folder " + source.root.string() + " (" +
                                               source.label + "): " + error.code().message() +
                                               "; is it mounted? nothing was written as a snapshot"});
  }
}

void BackupRun::back_up_file(std::size_t volume, std::string_view path, const collectors::FileStat& stat,
                             SnapshotWriter& writer) {
  const BackupSource& source = settings_.sources[volume];
  if (stop_ != nullptr && stop_->load()) {
    throw RunAborted({"interrupted", "the backup was stopped; the next run goes on from what is stored"});
  }
  ++report_.progress.files_seen;
  FileEntry entry{volume, std::string(path), stat.size, stat.mtime_ns, 0644, {}};
  const std::optional<KnownFile> known = state_.find_file(source.label, path);
  if (known && known->size == stat.size && known->mtime_ns == stat.mtime_ns && known->ctime_ns == stat.ctime_ns &&
      known->inode == stat.inode) {
    entry.mode = known->mode;
    entry.blobs = known->blobs;
  } else {
    const auto read = read_source_file(source.root / std::string(path), *chunker_,
                                       [&](base::ByteView piece) { entry.blobs.push_back(store_blob(piece)); });
    if (!read) {
      if (read.error().code == "vanished") ++report_.vanished;
      else ++report_.unreadable;
      return;
    }
    ++report_.progress.files_read;
    report_.progress.bytes_read += read->size;
    entry.size = read->size;
    entry.mtime_ns = read->mtime_ns;
    entry.mode = read->mode;
    if (read->changed) {
      ++report_.changed_while_read;  // kept in the snapshot as read; read again next time
    } else {
      Row row{source.label, std::string(path), {read->size, read->mtime_ns, read->ctime_ns, read->inode, read->mode,
                                                entry.blobs}};
      const bool uses_open_pack = pack_ && std::any_of(entry.blobs.begin(), entry.blobs.end(), [&](const BlobRef& b) {
                                    return b.pack == pack_->name();
                                  });
      (uses_open_pack ? pack_rows_ : ready_rows_).push_back(std::move(row));
      if (ready_rows_.size() >= 1000) flush_ready_rows();
    }
  }
  for (const BlobRef& ref : entry.blobs) used_packs_.insert(ref.pack);
  writer.add(entry);
  tick();
}

BlobRef BackupRun::store_blob(base::ByteView content) {
  const BlobId id = blob_id(secret_, content);
  if (auto found = pack_blobs_.find(id); found != pack_blobs_.end()) return found->second;
  if (auto known = state_.find_blob(id)) return *known;
  if (!pack_) pack_ = std::make_unique<PackWriter>(*repository_, settings_.recipients);
  const BlobRef ref = pack_->add(id, content);
  pack_blobs_.emplace(id, ref);
  if (pack_->plaintext_size() >= pack_target_size) close_pack();
  return ref;
}

void BackupRun::close_pack() {
  if (!pack_) return;
  const PackInfo info = pack_->finish();  // durable from here
  base::WriteTransaction transaction(state_.db());
  state_.put_pack({info.name, info.size, base::to_hex(info.sha256)});
  for (const auto& [id, ref] : pack_blobs_) state_.put_blob(ref);
  for (const Row& row : pack_rows_) state_.put_file(row.volume, row.path, row.file);
  transaction.commit();
  ++report_.packs_written;
  report_.progress.bytes_added += info.size;
  pack_blobs_.clear();
  pack_rows_.clear();
  pack_.reset();
}

void BackupRun::flush_ready_rows() {
  if (ready_rows_.empty()) return;
  base::WriteTransaction transaction(state_.db());
  for (const Row& row : ready_rows_) state_.put_file(row.volume, row.path, row.file);
  transaction.commit();
  ready_rows_.clear();
}

void BackupRun::publish_snapshot(SnapshotWriter& writer) {
  PackList list{report_.snapshot, repository_id_, base::rfc3339_utc(std::chrono::system_clock::now()),
                writer.files(), writer.bytes(), writer.file_size(), base::to_hex(writer.file_sha256()), {}};
  for (const std::string& name : used_packs_) {
    auto pack = state_.find_pack(name);
    if (!pack) throw RunAborted({"state_inconsistent", "backup.db lacks a pack its files use; run again"});
    list.packs.push_back(std::move(*pack));
  }
  const std::string text = signed_pack_list(list, *settings_.signer);
  auto file = repository_->new_file();
  file->write(base::as_bytes(text));
  (void)file->finish_hash();
  repository_->publish(*file, pack_list_name_in_layout(report_.snapshot));
  report_.progress.bytes_added += file->size() + writer.file_size();
  writer.publish(report_.snapshot);  // the snapshot is visible from here
}

void BackupRun::tick() {
  if (lease_) lease_->refresh();
  if (!progress_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_tick_ < std::chrono::milliseconds(200)) return;
  last_tick_ = now;
  progress_(report_.progress);
}

}  // namespace

base::Result<BackupSettings> backup_settings(const daemon::Config& config, const crypto::SigningKey& signer) {
  if (config.backup.repository.empty()) {
    return base::fail("backup_not_configured", config.origin.string() +
                                                   ": backup.repository is not set; give the folder of the backup "
                                                   "repository (and backup.recipients) in the config");
  }
  BackupSettings settings{config.state_dir, config.backup.repository, {}, {}, config.facility.code, &signer, {}};
  if (config.backup.repository.starts_with("https://")) {
    auto profile = daemon::make_http_profile(config.central);
    if (!profile) return base::fail(profile.error());
    std::string url = config.backup.repository;
    if (!url.ends_with('/')) url += '/';
    settings.remote = RemoteSettings{url, std::move(*profile), config.central.bandwidth,
                                     config.state_dir / "backup" / "outgoing"};
    settings.repository.clear();
  }
  for (const std::string& text : config.backup.recipients) settings.recipients.push_back(*crypto::parse_recipient(text));
  const daemon::SourcePlan plan(config);
  for (std::size_t index = 0; index < config.sources.size(); ++index) {
    for (const daemon::SourcePass* pass : plan.of_source(index)) {
      if (pass->root.empty()) continue;  // not a folder (a DICOM receiver...): not backed up yet
      const bool by_patient = pass->profile && !pass->profile->patient_folder("0000000001").empty();
      settings.sources.push_back({pass->label, pass->root, by_patient, config.sources[index].type});
    }
  }
  return settings;
}

base::Result<BackupReport> run_backup(const BackupSettings& settings, const log::Logger& logger,
                                      const ProgressCallback& progress, const std::atomic<bool>* stop) {
  const std::int64_t started = base::unix_ms_now();
  std::optional<BackupRun> run;
  base::Error error;
  try {
    run.emplace(settings, logger, progress, stop);
    logger.info("backup.started", "backup run started", {{"sources", std::to_string(settings.sources.size())}});
    auto report = run->run();
    if (report) {
      run->state().record_run({report->snapshot, started, base::unix_ms_now(), report->files, report->bytes,
                               report->progress.bytes_read, report->progress.bytes_added, "ok"});
      logger.info("backup.finished", "backup snapshot written",
                  {{"snapshot", report->snapshot}, {"files", std::to_string(report->files)},
                   {"files_read", std::to_string(report->progress.files_read)},
                   {"bytes_added", std::to_string(report->progress.bytes_added)},
                   {"unreadable", std::to_string(report->unreadable)}});
      return report;
    }
    error = report.error();
  } catch (const RunAborted& aborted) {
    error = aborted.error;
  } catch (const RepositoryFailure& failure) {
    error = failure.error;
  } catch (const BackupBusy& busy) {
    error = {"backup_running", busy.what()};
  } catch (const std::system_error& failure) {
    error = repository_error(failure, "the backup");
  } catch (const base::SqliteError& failure) {
    error = {failure.disk_full() ? "state_disk_full" : "state_error",
             std::string("backup state (state_dir/backup/backup.db): ") + failure.what()};
  } catch (const std::exception& failure) {
    error = {"backup_failed", std::string("backup failed: ") + failure.what()};
  }
  logger.error("backup.failed", error.message, {{"code", error.code}});
  if (run) {
    try {
      const BackupReport& partial = run->report();
      run->state().record_run({{}, started, base::unix_ms_now(), 0, 0, partial.progress.bytes_read, partial.progress.bytes_added,
                               error.code});
    } catch (const std::exception&) {
      // the state itself failed: the log line above says so
    }
  }
  return base::fail(std::move(error));
}

}  // namespace medgw::backup
