#include "loomflow/tools/retrieval/internal/hnsw_partition.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

// hnswlib 0.6.2's SSE search prefetches the entry one past the end of a neighbour list, a 4-byte
// read beyond the upper levels' allocations: harmless (only a prefetch address), but AddressSanitizer
// rightly reports it, so sanitizer builds use hnswlib's plain (unprefetched) code path.
#if defined(__SANITIZE_ADDRESS__) && !defined(NO_MANUAL_VECTORIZATION)
#define NO_MANUAL_VECTORIZATION
#endif
#include <hnswlib/hnswlib.h>

namespace loomflow::retrieval::internal {

struct HnswPartition::Impl {
  HnswParams params;
  hnswlib::InnerProductSpace space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
  explicit Impl(const HnswParams& p) : params(p), space(p.dimension) {}
};

namespace {

Error failed(const std::string& what, const std::exception& e) {
  return Error{ErrorCode::internal, "vector index: " + what + ": " + e.what()};
}

}  // namespace

HnswPartition::HnswPartition(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HnswPartition::~HnswPartition() = default;

Expected<std::unique_ptr<HnswPartition>> HnswPartition::create(const HnswParams& params) {
  auto impl = std::make_unique<Impl>(params);
  try {
    impl->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        &impl->space, std::max<std::size_t>(params.initial_capacity, 16), params.M, params.ef_construction);
    impl->graph->setEf(params.ef_search);
  } catch (const std::exception& e) {
    return failed("creating the HNSW graph", e);
  }
  return std::make_unique<HnswPartition>(std::move(impl));
}

Expected<std::unique_ptr<HnswPartition>> HnswPartition::load(const std::string& path, const HnswParams& params) {
  auto impl = std::make_unique<Impl>(params);
  try {
    impl->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(&impl->space, path);
  } catch (const std::exception& e) {
    return Error{ErrorCode::journal_corrupt, "vector index: snapshot " + path + " is unreadable: " + e.what()};
  }
  auto& g = *impl->graph;
  // hnswlib 0.6.2's loading constructor leaves num_deleted_ uninitialised before counting: recount.
  g.num_deleted_ = 0;
  for (hnswlib::tableint id = 0; id < g.cur_element_count; ++id)
    if (g.isMarkedDeleted(id)) ++g.num_deleted_;
  if (g.data_size_ != params.dimension * sizeof(float) ||
      g.size_data_per_element_ != g.size_links_level0_ + params.dimension * sizeof(float) + sizeof(hnswlib::labeltype))
    return Error{ErrorCode::journal_corrupt, "vector index: snapshot " + path + " does not hold " +
                                                 std::to_string(params.dimension) + "-dimensional vectors"};
  g.setEf(params.ef_search);
  return std::make_unique<HnswPartition>(std::move(impl));
}

Expected<void> HnswPartition::add(const std::vector<std::uint64_t>& labels, const std::vector<float>& rows) {
  auto& g = *impl_->graph;
  const std::size_t dim = impl_->params.dimension;
  try {
    const std::size_t needed = g.cur_element_count + labels.size();
    if (needed > g.max_elements_) {
      std::size_t grown = std::max<std::size_t>(g.max_elements_, 16);
      while (grown < needed) grown = static_cast<std::size_t>(static_cast<double>(grown) * std::max(impl_->params.growth_factor, 1.1)) + 1;
      g.resizeIndex(grown);
    }
  } catch (const std::exception& e) {
    return failed("growing the HNSW graph", e);
  }
  // hnswlib's addPoint is safe concurrently for distinct labels once capacity is reserved.
  const std::size_t threads = labels.size() < 256 ? 1 : std::max<std::size_t>(impl_->params.threads, 1);
  std::atomic<std::size_t> next{0};
  std::atomic<bool> broken{false};
  std::string problem;
  std::mutex problem_mutex;
  auto work = [&] {
    for (std::size_t i = next++; i < labels.size() && !broken; i = next++) {
      try {
        g.addPoint(rows.data() + i * dim, static_cast<hnswlib::labeltype>(labels[i]));
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> guard(problem_mutex);
        problem = e.what();
        broken = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (broken) return Error{ErrorCode::internal, "vector index: adding to the HNSW graph: " + problem};
  return {};
}

bool HnswPartition::mark_deleted(std::uint64_t label) {
  auto& g = *impl_->graph;
  auto it = g.label_lookup_.find(static_cast<hnswlib::labeltype>(label));
  if (it == g.label_lookup_.end() || g.isMarkedDeleted(it->second)) return false;
  g.markDeletedInternal(it->second);
  return true;
}

Scored HnswPartition::search(const float* query, std::size_t k) const {
  Scored out;
  if (k == 0 || live() == 0) return out;
  auto heap = impl_->graph->searchKnn(query, k);
  while (!heap.empty()) {
    out.emplace_back(static_cast<std::uint64_t>(heap.top().second), 1.0f - heap.top().first);
    heap.pop();
  }
  std::reverse(out.begin(), out.end());
  return out;
}

Scored HnswPartition::exact(const float* query, std::size_t k) const {
  const auto& g = *impl_->graph;
  // hnswlib's own (SIMD) inner-product distance: 1 - dot.
  const auto distance = impl_->space.get_dist_func();
  void* const param = impl_->space.get_dist_func_param();
  Scored all;
  all.reserve(g.cur_element_count);
  for (hnswlib::tableint id = 0; id < g.cur_element_count; ++id) {
    if (g.isMarkedDeleted(id)) continue;
    const auto* v = reinterpret_cast<const float*>(g.getDataByInternalId(id));
    all.emplace_back(static_cast<std::uint64_t>(g.getExternalLabel(id)), 1.0f - distance(query, v, param));
  }
  const std::size_t n = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), all.end(),
                    [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
  all.resize(n);
  return all;
}

Expected<void> HnswPartition::save(const std::string& path) const {
  try {
    impl_->graph->saveIndex(path);
  } catch (const std::exception& e) {
    return failed("writing snapshot " + path, e);
  }
  return {};
}

std::size_t HnswPartition::live() const { return impl_->graph->cur_element_count - impl_->graph->num_deleted_; }
std::size_t HnswPartition::capacity() const { return impl_->graph->max_elements_; }

}  // namespace loomflow::retrieval::internal
