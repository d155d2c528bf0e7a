#pragma once
// Renewal of the gateway's client certificate inside `medgw run` (issue 22,
// docs/certificates.md "The gateway"). At start it finishes or undoes a
// replacement of central.key/central.cert that a crash cut short
// (cert.swap_recovered). Then a worker thread looks at central.cert every
// minute: once central.renew_at of its lifetime (notAfter - notBefore) has
// passed, it makes a new key and CSR, POSTs it to the central's EST
// simplereenroll over mutual TLS with the current certificate, checks the
// answer and replaces both files crash-safely (cert.renewed). The uploads'
// TLS material follows the files (delivery/tls_material.hpp), so new
// connections use the new certificate within seconds; a transfer in
// progress finishes on its connection. A failure (cert.renewal_failed, with
// the central's HTTP status and reason) is retried after 1 min, doubling to
// 1 h. Health says when renewals have failed for more than a day.
#include <daemon/service/job.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace medgw::daemon {

// When a certificate valid from `not_before` to `not_after` is due for
// renewal at `percent` of its lifetime (percent 0: never, time_point::max()).
[[nodiscard]] std::chrono::system_clock::time_point renewal_due(std::chrono::system_clock::time_point not_before,
                                                                std::chrono::system_clock::time_point not_after,
                                                                int percent);
// The wait before retry number `failures` (1, 2, ...): 1 min doubling to 1 h.
[[nodiscard]] std::chrono::seconds renewal_backoff(std::uint64_t failures);

class CertificateJob final : public Job {
 public:
  // `renewed` is called on the loop after each renewal.
  CertificateJob(JobContext context, std::function<void()> renewed);
  ~CertificateJob() override;

  [[nodiscard]] std::string_view name() const override { return "certificate"; }
  void start(Done done) override;
  void stop() override;
  void reload(const std::shared_ptr<const Snapshot>& snapshot) override;
  void health(std::vector<std::string>& reasons) const override;
  void metrics(PrometheusText& out) const override;
  void status(base::JsonWriter& doc) const override;

 private:
  struct Outcome {
    std::uint64_t renewals = 0;
    std::uint64_t failures = 0;
    std::uint64_t failures_in_a_row = 0;
    std::int64_t last_renewal_ms = 0;
    std::int64_t failing_since_ms = 0;  // 0: the last attempt succeeded (or none failed)
    std::string last_failure;           // the error's message (never a secret)
    std::chrono::system_clock::time_point next_attempt{};
    std::chrono::system_clock::time_point due{};
  };

  void recover_swap(const Config& config);
  void loop();
  // The next time to look again.
  std::chrono::system_clock::time_point check(const Config& config);
  void renew(const Config& config);

  JobContext context_;
  std::function<void()> renewed_;
  log::Logger logger_;
  std::thread worker_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;  // guards outcome_ and wakes the worker
  std::condition_variable wake_;
  Outcome outcome_;
};

}  // namespace medgw::daemon
