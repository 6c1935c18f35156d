#include "loomflow/tools/retrieval/internal/records.hpp"

#include <cstring>

#include <nlohmann/json.hpp>

namespace loomflow::retrieval::internal {

using nlohmann::json;

namespace {

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

bool get_u64(std::string_view& in, std::uint64_t& v) {
  if (in.size() < 8) return false;
  v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
  in.remove_prefix(8);
  return true;
}

Error corrupt(const std::string& what) { return Error{ErrorCode::journal_corrupt, "vector index: " + what}; }

}  // namespace


std::string hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xF]);
  }
  return out;
}

std::string user_prefix(const std::string& user) { return "u" + hex(user) + "/"; }
std::string partition_key(const std::string& user) { return user_prefix(user) + "p"; }
std::string chunk_key(const std::string& user, std::uint64_t label) { return user_prefix(user) + "c" + be64(label); }
std::string vector_key(const std::string& user, std::uint64_t label) { return vector_prefix(user) + be64(label); }
std::string source_key(const std::string& user, const std::string& source) { return user_prefix(user) + "s" + source; }
std::string tombstone_key(const std::string& user, std::uint64_t op) { return tombstone_prefix(user) + be64(op); }
std::string vector_prefix(const std::string& user) { return user_prefix(user) + "v"; }
std::string tombstone_prefix(const std::string& user) { return user_prefix(user) + "x"; }

std::string encode_meta(const IndexMeta& meta) {
  return json{{"format", meta.format}, {"embedder", meta.embedder}, {"dimension", meta.dimension}, {"metric", "cosine"}}
      .dump();
}

Expected<IndexMeta> decode_meta(std::string_view bytes) {
  try {
    auto j = json::parse(bytes);
    IndexMeta meta;
    meta.format = j.at("format").get<std::uint32_t>();
    meta.embedder = j.at("embedder").get<std::string>();
    meta.dimension = j.at("dimension").get<std::size_t>();
    return meta;
  } catch (const json::exception& e) {
    return corrupt(std::string("the meta record is unreadable: ") + e.what());
  }
}

std::string encode_partition(const PartitionRecord& record) {
  json j{{"next_label", record.next_label}, {"next_op", record.next_op}};
  if (record.snapshot) {
    const auto& s = *record.snapshot;
    j["snapshot"] = {{"file", s.file},   {"covers_label", s.covers_label}, {"covers_op", s.covers_op},
                     {"bytes", s.bytes}, {"checksum", s.checksum}};
  }
  return j.dump();
}

Expected<PartitionRecord> decode_partition(std::string_view bytes) {
  try {
    auto j = json::parse(bytes);
    PartitionRecord record;
    record.next_label = j.at("next_label").get<std::uint64_t>();
    record.next_op = j.at("next_op").get<std::uint64_t>();
    if (j.contains("snapshot")) {
      const auto& s = j["snapshot"];
      record.snapshot = SnapshotRef{s.at("file").get<std::string>(), s.at("covers_label").get<std::uint64_t>(),
                                    s.at("covers_op").get<std::uint64_t>(), s.at("bytes").get<std::uint64_t>(),
                                    s.at("checksum").get<std::uint64_t>()};
    }
    return record;
  } catch (const json::exception& e) {
    return corrupt(std::string("a partition record is unreadable: ") + e.what());
  }
}

std::string encode_chunk(const ChunkRecord& record) {
  std::string out;
  out.reserve(40 + record.source.size() + record.text.size());
  put_u64(out, record.source.size());
  out += record.source;
  put_u64(out, record.chunk_index);
  put_u64(out, record.begin);
  put_u64(out, record.end);
  out += record.text;
  return out;
}

Expected<ChunkRecord> decode_chunk(std::string_view in) {
  ChunkRecord r;
  std::uint64_t source_size = 0;
  if (!get_u64(in, source_size) || in.size() < source_size) return corrupt("a chunk record is truncated");
  r.source = std::string(in.substr(0, source_size));
  in.remove_prefix(source_size);
  if (!get_u64(in, r.chunk_index) || !get_u64(in, r.begin) || !get_u64(in, r.end))
    return corrupt("a chunk record is truncated");
  r.text = std::string(in);
  return r;
}

std::string encode_vector(const std::vector<float>& v) {
  std::string out(v.size() * sizeof(float), '\0');
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &v[i], sizeof bits);
    for (int b = 0; b < 4; ++b) out[i * 4 + static_cast<std::size_t>(b)] = static_cast<char>((bits >> (8 * b)) & 0xFF);
  }
  return out;
}

Expected<std::vector<float>> decode_vector(std::string_view bytes, std::size_t dimension) {
  if (bytes.size() != dimension * sizeof(float))
    return corrupt("a stored vector has " + std::to_string(bytes.size()) + " bytes, expected " +
                   std::to_string(dimension * sizeof(float)));
  std::vector<float> v(dimension);
  for (std::size_t i = 0; i < dimension; ++i) {
    std::uint32_t bits = 0;
    for (int b = 3; b >= 0; --b) bits = (bits << 8) | static_cast<unsigned char>(bytes[i * 4 + static_cast<std::size_t>(b)]);
    std::memcpy(&v[i], &bits, sizeof bits);
  }
  return v;
}

std::string encode_labels(const std::vector<std::uint64_t>& labels) {
  std::string out;
  out.reserve(labels.size() * 8);
  for (auto l : labels) out += be64(l);
  return out;
}

std::vector<std::uint64_t> decode_labels(std::string_view bytes) {
  std::vector<std::uint64_t> labels;
  for (std::size_t i = 0; i + 8 <= bytes.size(); i += 8) labels.push_back(read_be64(bytes.substr(i, 8)));
  return labels;
}

}  // namespace loomflow::retrieval::internal
