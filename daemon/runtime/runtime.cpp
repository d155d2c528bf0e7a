#include <daemon/runtime/runtime.hpp>

#include <dicom/migrations.hpp>
#include <fhir/migrations.hpp>

#include <collectors/migrations.hpp>

#include <ostream>

namespace medgw::daemon {

Runtime::Runtime(Config c, std::shared_ptr<log::LogCore> core)
    : config(std::move(c)), log_core(std::move(core)), logger(log_core, "medgw") {}

Runtime::~Runtime() {
  // Reverse order of construction.
  spool.reset();
  tagger.reset();
  signer.reset();
  state.reset();
}

const spool::Schema& gateway_schema() {
  static const spool::Schema schema{{spool::spool_component, spool::spool_migrations()},
                                    {collectors::collectors_component, collectors::collectors_migrations()},
                                    {dicom::dicom_component, dicom::dicom_migrations()},
                                    {fhir::fhir_component, fhir::fhir_migrations()}};
  return schema;
}

std::vector<crypto::X25519PublicKey> recipients_of(const Config& config) {
  std::vector<crypto::X25519PublicKey> recipients;
  for (const std::string& text : config.central.recipients) recipients.push_back(*crypto::parse_recipient(text));
  return recipients;
}

spool::SpoolIdentity spool_identity(const Runtime& runtime) {
  return {runtime.config.facility.code, runtime.state->gateway_id(), recipients_of(runtime.config), &*runtime.signer};
}

void Runtime::set_log_level(log::Level level) {
  // The core lets through what any sink wants; each sink filters for itself.
  log_core->set_level(std::min(level, stderr_floor));
  stderr_sink->set_level(std::max(level, stderr_floor));
  if (file_sink) file_sink->set_level(level);
}

std::filesystem::path spool_dir(const Config& config) { return config.state_dir / spool::Spool::folder_name; }

spool::SpoolLimits spool_limits(const Config& config) { return {config.spool.max_bytes, config.spool.min_free}; }

std::unique_ptr<Runtime> open_runtime(const Config& config, const RuntimeOptions& options) {
  const log::Level level = log::parse_level(config.log.level).value_or(log::Level::info);
  auto core = std::make_shared<log::LogCore>(level);
  auto runtime = std::make_unique<Runtime>(config, core);
  runtime->stderr_floor = options.stderr_level;
  runtime->stderr_sink = std::make_shared<log::FilteredSink>(level, std::make_shared<log::StderrSink>());
  core->add_sink(runtime->stderr_sink);
  if (!config.log.file.empty()) {
    runtime->file_sink = std::make_shared<log::FilteredSink>(level, std::make_shared<log::FileSink>(config.log.file));
    core->add_sink(runtime->file_sink);
  }
  runtime->set_log_level(level);
  runtime->state.emplace(spool::StateDb::open(config.state_dir, spool::StateDb::Access::read_write,
                                              runtime->logger.named("statedb"), gateway_schema()));
  runtime->state->bind_facility(config.facility.code);
  runtime->signer.emplace(crypto::SigningKey::load_or_create(config.state_dir / crypto::SigningKey::file_name));
  runtime->tagger.emplace(crypto::PatientTagger::load_or_create(config.state_dir / "patient-tag.key"));
  runtime->spool.emplace(*runtime->state, spool_dir(config), spool_limits(config), spool_identity(*runtime),
                         runtime->logger.named("spool"), spool::Clock{});
  runtime->recovery = runtime->spool->recover();
  return runtime;
}

std::unique_ptr<Runtime> open_runtime_reporting(const Config& config, std::string_view command, std::ostream& err) {
  try {
    return open_runtime(config);
  } catch (const std::exception& error) {
    err << "medgw " << command << ": " << error.what() << "\n";
    return nullptr;
  }
}

}  // namespace medgw::daemon
