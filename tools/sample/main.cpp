// medgw-sample: realistic synthetic hospital data (SS-MIX2, DPC, UKE) for
// tests, benchmarks and the demo. Deterministic by --seed.
#include <tools/sample/claims_generator.hpp>
#include <tools/sample/hl7_builder.hpp>
#include <tools/sample/mutate.hpp>
#include <tools/sample/ssmix2_generator.hpp>

#include <medgw/build_info.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <charconv>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace {

using namespace medgw::sample;

constexpr std::string_view usage =
    R"(Usage: medgw-sample --out DIR [OPTIONS]
       medgw-sample --mutate DIR --changes N [--seed S]

Writes realistic synthetic hospital data, the same bytes for the same seed:
  DIR/ssmix2/std/   SS-MIX2 standardized storage (HL7 v2.5, ISO-2022-JP, all 36
                    message kinds, histories with 1->2 updates and ->0 deletions)
  DIR/ssmix2/ext/   SS-MIX2 extended storage (vitals HL7, CDA discharge summaries)
  DIR/dpc/YYYYMM/   DPC files FF1/EFn/Dn/Hn (tab-separated CP932, CRLF)
  DIR/receipt/YYYYMM/RECEIPTC.UKE  receipts (CP932, CRLF, 0x1A, consistent GO totals)
  DIR/patients.tsv  the synthetic patients (ID, DPC ID, names, birth date), for
                    tests that must prove no patient data leaks
All names and IDs are made up. The data is for testing only.

Options:
  --out DIR          where to write (must be empty or not exist, unless --force)
  --patients N       number of patients (default 200); about 10 files each
  --seed S           seed (default 1)
  --facility CODE    9-digit facility code (default 131234567)
  --until YYYY-MM-DD last day of the history (default 2026-03-31)
  --years N          years of SS-MIX2 history (default 2)
  --months N         months of DPC and receipt files (default 3)
  --only LIST        comma-separated subset of ssmix2,dpc,receipt
  --threads N        writer threads (default: number of CPUs)
  --force            write into a non-empty DIR
  --mutate DIR       apply one round of changes to a tree written before:
                     new messages, updates (1->2 + new file), deletions (->0)
  --changes N        how many changes --mutate applies (default 100)
  -h, --help         this help
  --version          version

Examples:
  medgw-sample --out /tmp/hospital --patients 200 --seed 7
  medgw-sample --out /srv/bench --patients 100000 --only ssmix2
  medgw-sample --mutate /tmp/hospital --changes 50 --seed 2
)";

struct Options {
  std::optional<std::filesystem::path> out;
  std::optional<std::filesystem::path> mutate;
  std::uint64_t changes = 100;
  std::size_t threads = std::max(1U, std::thread::hardware_concurrency());
  bool force = false;
  int years = 2;
  Settings settings;
};

[[noreturn]] void fail_usage(const std::string& message) {
  std::cerr << "medgw-sample: " << message << "\nTry 'medgw-sample --help'.\n";
  std::exit(2);
}

std::uint64_t parse_number(const std::string& option, const std::string& text, std::uint64_t max) {
  std::uint64_t value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value > max) {
    fail_usage(option + " needs a whole number up to " + std::to_string(max) + ", not '" + text + "'");
  }
  return value;
}

Options parse_options(int argc, char** argv) {
  Options options;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::cerr << usage;
    std::exit(2);
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) fail_usage(arg + " needs a value");
      return args[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::cout << usage;
      std::exit(0);
    } else if (arg == "--version") {
      std::cout << "medgw-sample " << medgw::build_info::version << " (commit " << medgw::build_info::commit << ")\n";
      std::exit(0);
    } else if (arg == "--out") {
      options.out = value();
    } else if (arg == "--mutate") {
      options.mutate = value();
    } else if (arg == "--changes") {
      options.changes = parse_number(arg, value(), 10'000'000);
    } else if (arg == "--patients") {
      options.settings.patients = parse_number(arg, value(), 100'000'000);
    } else if (arg == "--seed") {
      options.settings.seed = parse_number(arg, value(), UINT64_MAX);
    } else if (arg == "--facility") {
      const std::string code = value();
      if (code.size() != 9 || code.find_first_not_of("0123456789") != std::string::npos) {
        fail_usage("--facility needs a 9-digit facility code");
      }
      options.settings.facility_code = code;
    } else if (arg == "--until") {
      const std::string text = value();
      LocalTime time;
      if (text.size() != 10 || text[4] != '-' || text[7] != '-' ||
          !parse_timestamp(text.substr(0, 4) + text.substr(5, 2) + text.substr(8, 2) + "000000", time)) {
        fail_usage("--until needs a date YYYY-MM-DD");
      }
      options.settings.history_end = time.day;
    } else if (arg == "--years") {
      options.years = static_cast<int>(parse_number(arg, value(), 30));
      if (options.years == 0) fail_usage("--years must be at least 1");
    } else if (arg == "--months") {
      options.settings.claim_months = static_cast<int>(parse_number(arg, value(), 120));
    } else if (arg == "--threads") {
      options.threads = std::max<std::size_t>(1, parse_number(arg, value(), 256));
    } else if (arg == "--force") {
      options.force = true;
    } else if (arg == "--only") {
      const std::string list = value() + ",";
      options.settings.ssmix2 = options.settings.dpc = options.settings.receipt = false;
      std::size_t start = 0;
      while (start < list.size()) {
        const std::string item = list.substr(start, list.find(',', start) - start);
        start += item.size() + 1;
        if (item == "ssmix2") options.settings.ssmix2 = true;
        else if (item == "dpc") options.settings.dpc = true;
        else if (item == "receipt") options.settings.receipt = true;
        else fail_usage("--only takes ssmix2, dpc and receipt, not '" + item + "'");
      }
    } else {
      fail_usage("unknown option '" + arg + "'");
    }
  }
  if (options.out.has_value() == options.mutate.has_value()) fail_usage("give either --out DIR or --mutate DIR");
  options.settings.history_start = options.settings.history_end - std::chrono::days(365 * options.years);
  return options;
}

std::string mib(std::uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

void write_patient_list(const Settings& settings, const std::filesystem::path& out) {
  FileWriter writer(out);
  std::string text = "patient_id\tdpc_id\tkanji_name\tkana_name\tbirth_date\n";
  for (std::size_t i = 0; i < settings.patients; ++i) {
    const Patient patient = make_patient(settings, i);
    text += patient.id + "\t" + patient.dpc_id + "\t" + patient.kanji_name() + "\t" + patient.kana_name() + "\t" +
            yyyymmdd(patient.birth) + "\n";
  }
  writer.write("patients.tsv", text, LocalTime{settings.history_end, 0}.unix_seconds());
}

int generate(const Options& options) {
  const std::filesystem::path out = *options.out;
  std::error_code ec;
  if (std::filesystem::exists(out, ec) && !std::filesystem::is_empty(out, ec) && !options.force) {
    std::cerr << "medgw-sample: " << out.string() << " is not empty; choose an empty folder or add --force\n";
    return 2;
  }
  std::filesystem::create_directories(out, ec);
  if (ec) {
    std::cerr << "medgw-sample: cannot create " << out.string() << ": " << ec.message() << "\n";
    return 1;
  }
  const Settings& settings = options.settings;
  const Hospital hospital = make_hospital(settings);
  const auto started = std::chrono::steady_clock::now();

  std::mutex merge_mutex;
  WriteTotals totals;
  Ssmix2Counts ssmix2_counts;
  ClaimCounts claim_counts;
  std::atomic<std::size_t> done{0};
  std::exception_ptr failure;

  auto guarded = [&](auto&& work) {
    try {
      work();
    } catch (...) {
      std::lock_guard lock(merge_mutex);
      if (!failure) failure = std::current_exception();
    }
  };

  std::vector<std::thread> workers;
  if (settings.ssmix2) {
    for (std::size_t t = 0; t < options.threads; ++t) {
      workers.emplace_back([&, t] {
        guarded([&] {
          FileWriter writer(out);
          Ssmix2Counts counts;
          for (std::size_t i = t; i < settings.patients; i += options.threads) {
            write_patient_ssmix2(settings, hospital, make_patient(settings, i), writer, counts);
            done.fetch_add(1, std::memory_order_relaxed);
          }
          std::lock_guard lock(merge_mutex);
          totals += writer.totals();
          ssmix2_counts += counts;
        });
      });
    }
  }
  workers.emplace_back([&] {
    guarded([&] {
      FileWriter writer(out);
      ClaimCounts counts;
      if (settings.receipt) write_receipt_files(settings, hospital, writer, counts);
      if (settings.dpc) write_dpc_files(settings, hospital, writer, counts);
      write_patient_list(settings, out);
      std::lock_guard lock(merge_mutex);
      totals += writer.totals();
      claim_counts = counts;
    });
  });

  const bool progress = ::isatty(STDERR_FILENO) != 0 && settings.ssmix2;
  std::thread reporter;
  std::atomic<bool> finished{false};
  if (progress) {
    reporter = std::thread([&] {
      while (!finished.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        std::fprintf(stderr, "\rmedgw-sample: %zu/%zu patients", done.load(), settings.patients);
      }
      std::fprintf(stderr, "\r\033[K");
    });
  }
  for (auto& worker : workers) worker.join();
  finished = true;
  if (reporter.joinable()) reporter.join();
  if (failure) std::rethrow_exception(failure);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::uint64_t files = totals.files;
  std::cout << "medgw-sample: wrote " << files << " files (" << mib(totals.bytes) << ") for " << settings.patients
            << " patients in " << std::fixed;
  std::cout.precision(2);
  std::cout << seconds << " s (" << static_cast<std::uint64_t>(static_cast<double>(files) / std::max(seconds, 1e-9))
            << " files/s) to " << out.string() << "\n";
  if (settings.ssmix2) {
    std::size_t kinds_present = 0;
    for (auto count : ssmix2_counts.by_kind) kinds_present += count > 0 ? 1 : 0;
    std::cout << "  ssmix2/std: " << ssmix2_counts.flag1 + ssmix2_counts.flag2 + ssmix2_counts.flag0
              << " HL7 files (flag 1: " << ssmix2_counts.flag1 << ", flag 2: " << ssmix2_counts.flag2
              << ", flag 0: " << ssmix2_counts.flag0 << "), " << kinds_present << " of 36 message kinds\n";
    std::cout << "  ssmix2/ext: " << ssmix2_counts.extended_files << " files\n";
  }
  if (settings.dpc) {
    std::cout << "  dpc: " << claim_counts.dpc_files << " files (" << claim_counts.dpc_patients
              << " inpatient-months, " << claim_counts.ef_rows << " EF rows)\n";
  }
  if (settings.receipt) {
    std::cout << "  receipt: " << claim_counts.receipt_files << " RECEIPTC.UKE files (" << claim_counts.receipts
              << " receipts)\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  try {
    if (options.mutate) {
      const MutationCounts counts = mutate_tree(*options.mutate, options.changes, options.settings.seed);
      std::cout << "medgw-sample: mutated " << options.mutate->string() << ": " << counts.added << " new, "
                << counts.updated << " updated, " << counts.deleted << " deleted (" << counts.renamed_files
                << " renames, " << counts.new_files << " new files)\n";
      return 0;
    }
    return generate(options);
  } catch (const std::exception& error) {
    std::cerr << "medgw-sample: " << error.what() << "\n";
    return 1;
  }
}
