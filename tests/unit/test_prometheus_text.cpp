#include <daemon/service/prometheus_text.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

using namespace medgw::daemon;

TEST_CASE("families carry HELP and TYPE before their samples", "[metrics]") {
  PrometheusText m;
  m.family("medgw_objects_delivered_total", "counter", "Objects the central confirmed.");
  m.sample(std::uint64_t{42});
  m.family("medgw_spool_objects", "gauge", "Objects in the spool by state.");
  m.sample(std::uint64_t{3}, {{"state", "ready"}});
  m.sample(std::uint64_t{0}, {{"state", "rejected"}});
  CHECK(m.text() ==
        "# HELP medgw_objects_delivered_total Objects the central confirmed.\n"
        "# TYPE medgw_objects_delivered_total counter\n"
        "medgw_objects_delivered_total 42\n"
        "# HELP medgw_spool_objects Objects in the spool by state.\n"
        "# TYPE medgw_spool_objects gauge\n"
        "medgw_spool_objects{state=\"ready\"} 3\n"
        "medgw_spool_objects{state=\"rejected\"} 0\n");
}

TEST_CASE("label values and help text are escaped", "[metrics]") {
  PrometheusText m;
  m.family("x", "gauge", "a \\ help\nline with \"quotes\"");
  m.sample(std::int64_t{-1}, {{"source", "a\"b\\c\nd"}, {"kind", "k"}});
  CHECK(m.text() ==
        "# HELP x a \\\\ help\\nline with \"quotes\"\n"
        "# TYPE x gauge\n"
        "x{source=\"a\\\"b\\\\c\\nd\",kind=\"k\"} -1\n");
}

TEST_CASE("floating values round-trip and special values are spelled as Prometheus reads them", "[metrics]") {
  PrometheusText m;
  m.family("t", "gauge", "t");
  m.sample(1764500000.123);
  m.sample(std::numeric_limits<double>::infinity());
  m.sample(-std::numeric_limits<double>::infinity());
  m.sample(std::nan(""));
  CHECK(m.text() == "# HELP t t\n# TYPE t gauge\nt 1764500000.123\nt +Inf\nt -Inf\nt NaN\n");
}
