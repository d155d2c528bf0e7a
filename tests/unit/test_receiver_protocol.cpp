// medgw-receiver's protocol decisions without sockets (issue 14): identifiers
// validated where they enter, Upload-Metadata claims, the tus answers
// (creation limits, HEAD on a completed upload, PATCH preconditions) and the
// connection limiter's eviction of unauthenticated connections.
#include <receiver/connection_limiter.hpp>
#include <receiver/identifiers.hpp>
#include <receiver/object_claim.hpp>
#include <receiver/tus_protocol.hpp>

#include <crypto/signing.hpp>

#include <base/base64.hpp>

#include <catch2/catch.hpp>

#include <map>

namespace medgw::receiver {
namespace {

constexpr std::string_view facility_code = "131234567";
constexpr std::string_view valid_uuid = "0190f3a8-7c55-7ec4-9d8a-5e4ed6d5c1f2";
const std::string sha = std::string(64, 'a');

std::string b64(std::string_view text) { return base::base64_encode(base::as_bytes(text), true); }

struct Gateway {
  crypto::SigningKey key = crypto::SigningKey::generate();
  FacilityEntry facility;
  Gateway() {
    facility.code = std::string(facility_code);
    facility.clients = {"gw"};
    facility.gateway_keys = {key.public_key()};
  }
  [[nodiscard]] std::string metadata(std::string object_id, std::string seq, std::string claimed_facility = "131234567") const {
    std::string signature;
    if (const auto number = parse_seq(seq)) {
      const auto sig = key.sign(base::as_bytes(crypto::object_statement(object_id, *number, claimed_facility, sha)));
      signature = base::base64_encode(sig, true);
    } else {
      signature = base::base64_encode(std::vector<std::uint8_t>(64, 1), true);
    }
    return "object_id " + b64(object_id) + ",seq " + b64(seq) + ",facility " + b64(claimed_facility) + ",gateway " +
           b64("gw") + ",sha256 " + b64(sha) + ",sig " + b64(signature);
  }
};

TusRequest post(std::string metadata, std::string length = "1000") {
  TusRequest request;
  request.method = "POST";
  request.target = "/files/";
  request.tus_resumable = "1.0.0";
  request.upload_length = std::move(length);
  request.upload_metadata = std::move(metadata);
  return request;
}

TEST_CASE("identifiers are validated where they enter", "[receiver]") {
  CHECK(is_canonical_uuid(valid_uuid));
  for (const std::string_view bad : {"/../../../../../../../../tmp/xxxxxxx", "0190F3A8-7C55-7EC4-9D8A-5E4ED6D5C1F2",
                                     "0190f3a87c557ec49d8a5e4ed6d5c1f2xxxx", "0190f3a8-7c55-7ec4-9d8a-5e4ed6d5c1f",
                                     "0190f3a8-7c55-7ec4-9d8a-5e4ed6d5c1f2/", ""}) {
    INFO(bad);
    CHECK_FALSE(is_canonical_uuid(bad));
  }
  CHECK(*parse_seq("1") == 1);
  CHECK(*parse_seq("9223372036854775807") == 9223372036854775807ULL);
  for (const std::string_view bad : {"0", "01", "9223372036854775808", "18446744073709551616", "-1", "+1", "1e3", " 1", ""}) {
    INFO(bad);
    CHECK_FALSE(parse_seq(bad).ok());
  }
  CHECK(is_upload_id(std::string(32, 'f')));
  CHECK_FALSE(is_upload_id(std::string(32, 'F')));
  CHECK_FALSE(is_upload_id("../../../../../../receiver.db...."));
  CHECK(is_facility_code("131234567"));
  CHECK_FALSE(is_facility_code("13123456/"));
  CHECK(is_source_name("ssmix2-ext"));
  CHECK_FALSE(is_source_name(".."));
  CHECK_FALSE(is_source_name("a/b"));
}

TEST_CASE("paths are built from validated parts and stay under their root", "[receiver]") {
  const std::filesystem::path root = "/data/store";
  CHECK(*path_under(root, "131234567/1-x.age") == "/data/store/131234567/1-x.age");
  for (const std::string_view bad : {"../x", "a/../../x", "/etc/passwd", "a//b", "./a", "", "a/"}) {
    INFO(bad);
    CHECK_FALSE(path_under(root, bad).ok());
  }
  // Any byte but '/' and NUL is a name (CP932 names are not UTF-8).
  CHECK(path_under(root, "dpc/\x97\x6c\x8e\xae.txt").ok());
  CHECK(*stored_object_name("131234567", 7, valid_uuid) == "131234567/7-" + std::string(valid_uuid) + ".age");
  CHECK_FALSE(stored_object_name("131234567", 7, "/../../../../../../../../tmp/xxxxxxx").ok());
  CHECK_FALSE(stored_object_name("../../../", 7, valid_uuid).ok());
  CHECK_FALSE(stored_object_name("131234567", 0, valid_uuid).ok());
  CHECK_FALSE(partial_upload_file("/data", "../receiver.db").ok());
}

TEST_CASE("an upload's claim is checked at creation: facility from the certificate, IDs, signature", "[receiver]") {
  const Gateway gateway;
  const auto claim = parse_object_claim(gateway.metadata(std::string(valid_uuid), "5"), gateway.facility);
  REQUIRE(claim.ok());
  CHECK(claim->seq == 5);
  CHECK(signed_by_gateway(*claim, gateway.facility));

  const std::map<std::string, std::pair<std::string, std::string>> refused = {
      {"bad_object_id", {gateway.metadata("/../../../../../../../../tmp/xxxxxxx", "1"), ""}},
      {"bad_seq", {gateway.metadata(std::string(valid_uuid), "9223372036854775808"), ""}},
      {"facility_mismatch", {gateway.metadata(std::string(valid_uuid), "1", "139999999"), ""}},
      {"bad_metadata", {"object_id !!!", ""}},
      {"missing_field", {"object_id " + b64(valid_uuid), ""}},
  };
  for (const auto& [code, input] : refused) {
    INFO(code);
    const auto result = parse_object_claim(input.first, gateway.facility);
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == code);
  }
  // Signed by a key that is not the facility's.
  Gateway stranger;
  const auto foreign = parse_object_claim(stranger.metadata(std::string(valid_uuid), "1"), gateway.facility);
  REQUIRE(foreign.ok());
  CHECK_FALSE(signed_by_gateway(*foreign, gateway.facility));
}

TEST_CASE("remembered signatures answer as verifying again would", "[receiver]") {
  const Gateway gateway;
  Gateway stranger;
  GatewaySignatures signatures(2);
  const auto claim = parse_object_claim(gateway.metadata(std::string(valid_uuid), "5"), gateway.facility);
  REQUIRE(claim.ok());
  CHECK(signatures.signed_by_gateway(*claim, gateway.facility));
  CHECK(signatures.signed_by_gateway(*claim, gateway.facility));  // remembered
  // The facility's keys of the moment count: without the key, no.
  FacilityEntry rotated = gateway.facility;
  rotated.gateway_keys = {stranger.key.public_key()};
  CHECK_FALSE(signatures.signed_by_gateway(*claim, rotated));
  // The remembered signature over seq 5 does not vouch for another seq, nor
  // for the same statement with another signature.
  auto other_seq = *claim;
  other_seq.seq = 6;
  CHECK_FALSE(signatures.signed_by_gateway(other_seq, gateway.facility));
  auto other_signature = *claim;
  other_signature.signature[0] ^= 1;
  CHECK_FALSE(signatures.signed_by_gateway(other_signature, gateway.facility));
  // Of two keys, the second signed: found, and remembered for that key only.
  FacilityEntry both = gateway.facility;
  both.gateway_keys = {stranger.key.public_key(), gateway.key.public_key()};
  CHECK(signatures.signed_by_gateway(*claim, both));
  // Beyond its capacity the oldest is forgotten and verified again.
  for (const char* seq : {"7", "8", "9"}) {
    const auto more = parse_object_claim(gateway.metadata(std::string(valid_uuid), seq), gateway.facility);
    REQUIRE(more.ok());
    CHECK(signatures.signed_by_gateway(*more, gateway.facility));
    CHECK_FALSE(signatures.signed_by_gateway(*more, rotated));
  }
  CHECK(signatures.signed_by_gateway(*claim, gateway.facility));
  CHECK_FALSE(signatures.signed_by_gateway(other_seq, gateway.facility));
}

TEST_CASE("tus creation refuses what the facility may not have", "[receiver]") {
  ReceiverConfig config;
  config.max_upload = 1 << 20;
  config.max_open_uploads_per_facility = 3;
  config.max_inflight_bytes_per_facility = 2 << 20;
  config.min_free = 1000;
  GatewaySignatures signatures;
  TusProtocol protocol(config, signatures);
  const Gateway gateway;
  constexpr std::uint64_t plenty = 1ULL << 40;
  auto create = [&](std::string seq, std::string length, std::uint64_t free = 1ULL << 40) {
    static int next = 0;
    char id[33];
    std::snprintf(id, sizeof id, "%032x", ++next);
    return protocol.create(post(gateway.metadata(std::string(valid_uuid), seq), std::move(length)), gateway.facility, free,
                           0, id);
  };
  CHECK(create("1", "0").error().status == 400);
  CHECK(create("1", "-1").error().status == 400);
  CHECK(create("1", "1048577").error().status == 413);
  CHECK(create("9223372036854775808", "10").error().status == 400);
  CHECK(create("1", "1000", 1500).error().status == 507);  // min_free kept
  REQUIRE(create("1", "1048576", plenty).ok());
  REQUIRE(create("2", "1048576").ok());
  const auto bytes = create("3", "10");  // 2 MiB in flight already
  REQUIRE_FALSE(bytes.ok());
  CHECK(bytes.error().status == 429);
  CHECK(bytes.error().header("Retry-After") != nullptr);
  CHECK(protocol.usage("131234567").open_uploads == 2);
  CHECK(protocol.reserved_bytes() == 2u << 20);
}

TEST_CASE("the bytes reserved for open uploads follow offsets, completions and a restart", "[receiver]") {
  ReceiverConfig config;
  GatewaySignatures signatures;
  TusProtocol protocol(config, signatures);
  const Gateway gateway;
  const std::string first(32, 'a');
  const std::string second(32, 'b');
  for (const auto& [id, seq] : {std::pair{first, "1"}, std::pair{second, "2"}}) {
    REQUIRE(protocol.create(post(gateway.metadata(std::string(valid_uuid), seq), "1000"), gateway.facility, 1ULL << 40,
                            0, id)
                .ok());
  }
  CHECK(protocol.reserved_bytes() == 2000);
  protocol.set_offset(*protocol.find(first), 400);
  CHECK(protocol.reserved_bytes() == 1600);
  protocol.set_offset(*protocol.find(first), 100);  // an unchecked piece discarded
  CHECK(protocol.reserved_bytes() == 1900);
  protocol.mark_completed(second);
  CHECK(protocol.reserved_bytes() == 900);
  protocol.set_offset(*protocol.find(second), 0);  // completed: no effect
  CHECK(protocol.reserved_bytes() == 900);
  protocol.drop(first);
  CHECK(protocol.reserved_bytes() == 0);
  CHECK(protocol.usage("131234567").open_uploads == 0);

  // After a restart, from the rows: an open upload half written, a completed one.
  TusProtocol restarted(config, signatures);
  Upload open;
  open.id = first;
  open.facility = "131234567";
  open.length = 1000;
  open.offset = 250;
  Upload done = open;
  done.id = second;
  done.completed = true;
  restarted.load({open, done});
  CHECK(restarted.reserved_bytes() == 750);
  CHECK(restarted.usage("131234567").open_uploads == 1);
}

TEST_CASE("HEAD reports a completed upload complete and a later PATCH changes nothing", "[receiver]") {
  ReceiverConfig config;
  GatewaySignatures signatures;
  TusProtocol protocol(config, signatures);
  const Gateway gateway;
  const std::string id(32, 'a');
  const auto created = protocol.create(post(gateway.metadata(std::string(valid_uuid), "1"), "100"), gateway.facility,
                                       1ULL << 40, 0, id);
  REQUIRE(created.ok());
  CHECK(*created->second.header("Location") == "/files/" + id);
  CHECK(*protocol.head(id, gateway.facility).header("Upload-Offset") == "0");

  TusRequest patch;
  patch.method = "PATCH";
  patch.content_type = "application/offset+octet-stream";
  patch.upload_offset = "0";
  patch.content_length = 100;
  PatchPlan plan = protocol.begin_patch(patch, id, gateway.facility);
  REQUIRE(plan.upload != nullptr);
  plan.upload->busy = true;
  CHECK(protocol.begin_patch(patch, id, gateway.facility).answer->status == 423);  // one PATCH at a time
  CHECK(protocol.terminate(id, gateway.facility).status == 423);
  plan.upload->busy = false;

  protocol.mark_completed(id);
  const TusAnswer head = protocol.head(id, gateway.facility);
  CHECK(head.status == 200);
  CHECK(*head.header("Upload-Offset") == "100");
  CHECK(*head.header("Upload-Length") == "100");
  CHECK(protocol.usage("131234567").open_uploads == 0);
  CHECK(protocol.begin_patch(patch, id, gateway.facility).answer->status == 409);
  patch.upload_offset = "100";
  patch.content_length = 5;
  CHECK(protocol.begin_patch(patch, id, gateway.facility).answer->status == 413);
  patch.content_length = 0;
  CHECK(protocol.begin_patch(patch, id, gateway.facility).answer->status == 204);

  FacilityEntry other = gateway.facility;
  other.code = "139999999";
  CHECK(protocol.head(id, other).status == 404);  // another facility's upload does not exist for it
  CHECK(protocol.upload_id_of("/files/" + id) == id);
  CHECK_FALSE(protocol.upload_id_of("/files/../../" + id).has_value());
}

TEST_CASE("the connection limiter evicts the oldest unauthenticated connection before refusing", "[receiver]") {
  ConnectionLimiter limiter(ConnectionLimits{4, 3, 1});
  std::vector<int> closed;
  std::vector<ConnectionLimiter::Slot> slots;
  for (int i = 0; i < 3; ++i) slots.push_back(limiter.admit([&closed, i] { closed.push_back(i); }));
  // A fourth unauthenticated connection: the oldest handshake makes room.
  slots.push_back(limiter.admit([&closed] { closed.push_back(3); }));
  CHECK(slots.back().admitted());
  CHECK(closed == std::vector<int>{0});
  slots.erase(slots.begin());  // its session ends
  REQUIRE(limiter.authenticated(slots[0], "131234567"));
  CHECK_FALSE(limiter.authenticated(slots[1], "131234567"));  // one per facility
  REQUIRE(limiter.authenticated(slots[2], ""));
  REQUIRE(limiter.authenticated(slots[1], "139999999"));
  // Four connections, all authenticated: a fifth is refused (closed before TLS).
  slots.push_back(limiter.admit([] {}));
  REQUIRE(slots.back().admitted());
  REQUIRE(limiter.authenticated(slots.back(), ""));
  CHECK(limiter.counters().open == 4);
  CHECK(limiter.counters().handshaking == 0);
  const auto refused = limiter.admit([] {});
  CHECK_FALSE(refused.admitted());
  CHECK(limiter.counters().refused_total == 1);
  CHECK(limiter.counters().evicted_total == 1);
}

TEST_CASE("connections are held below the open-file limit", "[receiver]") {
  CHECK(connections_within_file_limit(4096, 1024) == 480);
  CHECK(connections_within_file_limit(4096, 65536) == 4096);
  CHECK(connections_within_file_limit(4096, 100) == 16);
}

}  // namespace
}  // namespace medgw::receiver
