// A source type plugged in from outside the daemon: a toy type whose feed
// yields two in-memory files. It needs no edit anywhere but this file and one
// line in a registry (here the test's own, beside the built-in ssmix2 type):
// its config keys are validated, its passes planned, its feed collected into
// the spool and its journal committed with the object, like any source.
#include <tests/support/object_reader.hpp>
#include <tests/support/test_support.hpp>

#include <daemon/config/config_loader.hpp>
#include <daemon/runtime/builtin_sources.hpp>
#include <daemon/runtime/collection_run.hpp>
#include <daemon/runtime/runtime.hpp>
#include <daemon/runtime/source_registry.hpp>

#include <crypto/age_keys.hpp>
#include <crypto/hash.hpp>

#include <base/hex.hpp>
#include <base/sqlite.hpp>

#include <catch2/catch.hpp>

#include <array>

namespace medgw {
namespace {

// ---- the toy source type: everything it needs -----------------------------

// What a toy feed records about what it sent: here only the seq of the object
// that carried its files (a real feed keeps an index, a watermark...).
class ToyJournal final : public collectors::SinkJournal {
 public:
  explicit ToyJournal(std::shared_ptr<std::int64_t> committed_seq) : committed_seq_(std::move(committed_seq)) {}
  void note_sent() { pending_ = true; }
  void commit(base::Database&, std::int64_t object_seq) override {
    if (pending_) *committed_seq_ = object_seq;
    pending_ = false;
  }
  void discard() override { pending_ = false; }
  [[nodiscard]] bool empty() const override { return !pending_; }

 private:
  std::shared_ptr<std::int64_t> committed_seq_;
  bool pending_ = false;
};

class ToyFeed final : public collectors::ChangeFeed {
 public:
  ToyFeed(std::string label, std::string greeting, std::shared_ptr<std::int64_t> committed_seq)
      : journal_(std::move(committed_seq)), label_(std::move(label)), greeting_(std::move(greeting)) {}

  void collect(collectors::SpoolSink& sink, collectors::PassSummary& summary) override {
    for (const auto& [name, text] : std::array<std::pair<std::string, std::string>, 2>{
             {{"hello.txt", greeting_}, {"nested/world.txt", "world\n"}}}) {
      ++summary.files_seen;
      sink.make_room(text.size());
      spool::ObjectEntry entry;
      entry.source = label_;
      entry.path = name;
      entry.size = text.size();
      entry.sha256 = base::to_hex(crypto::sha256(base::as_bytes(text)));
      journal_.note_sent();
      sink.add(collectors::SinkItem{std::move(entry), 0, {}}, text);
    }
  }
  [[nodiscard]] collectors::SinkJournal& journal() override { return journal_; }

 private:
  ToyJournal journal_;
  std::string label_;
  std::string greeting_;
};

constexpr std::array toy_keys{
    daemon::KeySpec{"greeting", daemon::ValueKind::text, "string", false, "hello\n", "What the first file says.", {},
                    nullptr, nullptr},
};
std::vector<std::string> toy_labels(const daemon::SourceConfig& source) { return {source.name}; }
const daemon::SourceTypeSpec toy_spec{"toy", "Two files made up in memory (a test).", toy_keys, "1m", "0s", toy_labels};

// What the toy feeds' journals committed last (the feed itself lives only for its pass).
const auto toy_committed_seq = std::make_shared<std::int64_t>(0);

std::vector<daemon::SourcePass> toy_passes(const daemon::SourceConfig& source, const daemon::SourceContext&) {
  daemon::SourcePass pass;
  pass.label = source.name;
  pass.scan_interval = source.scan_interval;
  pass.make_feed = [label = source.name, greeting = source.text("greeting")](const daemon::FeedContext&) {
    return std::unique_ptr<collectors::ChangeFeed>(std::make_unique<ToyFeed>(label, greeting, toy_committed_seq));
  };
  return {pass};
}

const daemon::SourceType toy_type{toy_spec, toy_passes};

// ---- the registry line ------------------------------------------------------

const daemon::SourceRegistry& registry() {
  static const daemon::SourceRegistry types({&daemon::ssmix2_source_type(), &toy_type});
  return types;
}

}  // namespace

TEST_CASE("a source type plugged in through the registry is configured, planned and collected", "[sources]") {
  test::TempDir dir;
  const crypto::X25519Identity central = crypto::generate_identity();
  const std::string yaml = "facility: {code: \"131234567\"}\nstate_dir: " + (dir / "state").string() +
                           "\nsources:\n  - {name: memo, type: toy, greeting: \"hi there\\n\"}\n"
                           "central:\n  url: https://c.example.jp/files/\n  ca: /a\n  cert: /b\n  key: /c\n"
                           "  recipients: [" + crypto::format_recipient(central.public_key) + "]\n";

  // Its keys are checked like any other: a typo is named with the type.
  const daemon::LoadResult typo = daemon::parse_config(
      std::string(yaml).replace(yaml.find("greeting"), 8, "greting"), "toy.yaml", registry().schema());
  REQUIRE_FALSE(typo.ok());
  CHECK_THAT(typo.diagnostics.at(0).message, Catch::Contains("unknown key 'sources[0].greting'") &&
                                                 Catch::Contains("did you mean 'greeting'"));
  // The built-in registry does not know it.
  CHECK_FALSE(daemon::parse_config(yaml, "toy.yaml", daemon::config_schema()).ok());

  const daemon::LoadResult loaded = daemon::parse_config(yaml, "toy.yaml", registry().schema());
  for (const auto& diagnostic : loaded.diagnostics) INFO(diagnostic.format());
  REQUIRE(loaded.ok());
  CHECK(loaded.config->sources.at(0).scan_interval == std::chrono::minutes(1));  // the type's default

  const daemon::SourcePlan plan(*loaded.config, registry());
  REQUIRE(plan.passes().size() == 1);
  CHECK(plan.passes()[0].label == "memo");

  const std::unique_ptr<daemon::Runtime> runtime = daemon::open_runtime(*loaded.config);
  daemon::Collector collector(*runtime, loaded.config->policy);
  REQUIRE(collector.refresh_policy(std::chrono::system_clock::now()).ok());
  const collectors::PassSummary summary = collector.pass(plan.passes()[0]);
  CHECK(summary.files_seen == 2);
  CHECK(summary.added == 2);
  CHECK(summary.objects == 1);
  CHECK(*toy_committed_seq == 1);  // its journal committed with the object

  base::Statement query = runtime->state->db().prepare("SELECT file_name FROM objects");
  REQUIRE(query.step());
  const test::ObjectContent object =
      test::read_object(loaded.config->state_dir / "spool" / query.column_text(0), central);
  CHECK(object.files.at("memo/hello.txt") == "hi there\n");
  CHECK(object.files.at("memo/nested/world.txt") == "world\n");
  CHECK_THAT(object.manifest, Catch::Contains("\"changes\":\"AA\""));  // the two files, as members
}

}  // namespace medgw
