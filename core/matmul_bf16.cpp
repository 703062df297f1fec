#include "core/matmul_bf16.h"

#include <mutex>
#include <unordered_map>

#include "core/autocast.h"
#include "core/parallel.h"

#if GG_GEMM_ONEDNN
#include <map>

#include <oneapi/dnnl/dnnl.hpp>
#endif
#include <cblas.h>

namespace gg::kernel {
namespace {

bool native_bf16();  // below: whether oneDNN multiplies bfloat16 on this CPU

// Which library multiplies a product of M x N x K: oneDNN where it multiplies bfloat16 and the
// product is large enough for its cost per call (the float32 rule of core/matmul.cpp: a
// [24, 1] x [1, 512] attention product took 21 us there, 4,524 of them per medium LSTM step);
// otherwise sgemm, on the bfloat16 values in float32: the same values up to the order of the
// float32 sums.
constexpr int64_t kOneDnnMinMacs = int64_t{1} << 18;
bool on_onednn(int64_t M, int64_t N, int64_t K) { return native_bf16() && M * N * K >= kOneDnnMinMacs; }

// What a converted operand holds: bfloat16 bits for oneDNN, bfloat16 values in float32 for sgemm.
size_t stored_size(bool bits) { return bits ? sizeof(uint16_t) : sizeof(float); }

// A converted operand: a Storage, so that the buffers of every call come from the caching
// allocator (core/storage.h) instead of a fresh allocation, and its page faults, per product.
using Converted = Storage;

constexpr int64_t kCacheBytes = int64_t{128} << 20;  // converted copies kept at most
constexpr size_t kCacheMaxOperands = 256;            // operands remembered at most

// src [rows, cols] (row stride ld) -> dst [rows, cols], packed, as stored_size(bits) says.
void convert(const float* src, int64_t rows, int64_t cols, int64_t ld, void* dst, bool bits) {
  parallel_for(rows, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* s = src + r * ld;
      if (bits)
        for (int64_t c = 0; c < cols; ++c) static_cast<uint16_t*>(dst)[r * cols + c] = to_bf16(s[c]);
      else
        for (int64_t c = 0; c < cols; ++c) static_cast<float*>(dst)[r * cols + c] = from_bf16(to_bf16(s[c]));
    }
  });
}

// One remembered operand: its storage (weak, so that a new tensor at the same address is not
// taken for it), the matrix it was read as, and its converted copy once it came back.
struct Entry {
  std::weak_ptr<Storage> storage;
  const float* data = nullptr;
  int64_t rows = 0, cols = 0, ld = 0;
  bool bits = false;  // the format: stored_size(bits)
  uint64_t version = 0;
  std::shared_ptr<const Converted> converted;  // null until the operand comes back
  uint64_t used = 0;                           // for evicting the least recently used
};

struct Cache {
  std::mutex mutex;
  std::vector<Entry> entries;
  uint64_t clock = 0;
  Bf16CacheStats stats;

  int64_t kept_bytes() const {
    int64_t bytes = 0;
    for (const Entry& e : entries)
      if (e.converted) bytes += static_cast<int64_t>(e.converted->nbytes());
    return bytes;
  }
  // Drops dead storages, then the least recently used copies past the budget, then the least
  // recently used operands past their count.
  void trim() {
    std::erase_if(entries, [](const Entry& e) { return e.storage.expired(); });
    auto oldest = [&](bool with_copy) {
      Entry* pick = nullptr;
      for (Entry& e : entries)
        if ((!with_copy || e.converted) && (!pick || e.used < pick->used)) pick = &e;
      return pick;
    };
    while (kept_bytes() > kCacheBytes) oldest(true)->converted.reset();
    while (entries.size() > kCacheMaxOperands) entries.erase(entries.begin() + (oldest(false) - entries.data()));
  }
};

Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: tensors may still come back at exit
  return *c;
}

// The operand converted: kept from an earlier call if it is unchanged since; converted and kept
// if it was met before (at any version: a weight after an optimizer step); otherwise converted
// for this call only, and remembered. An operand that may not be kept is converted every time.
std::shared_ptr<const Converted> converted(const Bf16Operand& x, bool bits) {
  auto fresh = [&] {
    auto out = std::make_shared<Converted>(static_cast<size_t>(x.rows * x.cols) * stored_size(bits));
    convert(x.data, x.rows, x.cols, x.ld, out->data(), bits);
    return std::shared_ptr<const Converted>(std::move(out));
  };
  if (!x.keep) return fresh();
  const std::shared_ptr<Storage>& storage = x.owner->storage();
  const uint64_t version = storage->version();
  auto same = [&](const Entry& e) {
    return e.data == x.data && e.rows == x.rows && e.cols == x.cols && e.ld == x.ld && e.bits == bits &&
           e.storage.lock() == storage;
  };
  Cache& c = cache();
  std::unique_lock lock(c.mutex);
  ++c.clock;
  ++c.stats.conversions;  // undone on a hit
  for (Entry& e : c.entries) {
    if (!same(e)) continue;
    e.used = c.clock;
    if (e.converted && e.version == version) {
      --c.stats.conversions, ++c.stats.hits;
      return e.converted;
    }
    lock.unlock();  // convert without holding up other threads
    auto copy = fresh();
    lock.lock();
    for (Entry& again : c.entries)  // the entry may have moved meanwhile
      if (same(again)) again.converted = copy, again.version = version;
    c.trim();
    return copy;
  }
  c.entries.push_back({storage, x.data, x.rows, x.cols, x.ld, bits, version, nullptr, c.clock});
  c.trim();
  lock.unlock();
  return fresh();
}

#if GG_GEMM_ONEDNN
// oneDNN's matmul primitive, one per layout, made once and kept, with the sizes given at each
// call (DNNL_RUNTIME_DIM_VAL). Making a primitive takes longer than most products, and the
// number of tokens in a batch, the M or K of most products, changes from batch to batch: a
// primitive per shape spent 136 ms of 7 medium Transformer steps making 190 of them, and a
// long run would meet thousands of shapes. oneDNN's kernel for sizes given late (gemm:jit) is
// as fast as its per-shape ones on the workloads' products (docs/PERFORMANCE.md), and the same
// shape always runs the same kernel, whatever ran before: a resumed run computes the bits of
// the run it continues. A primitive is made for the threads it runs on, so they are in the key.
// Its scratchpad is ours (scratchpad_mode::user, a buffer per thread): oneDNN's own is shared
// by all primitives and may be used only by the thread that made the primitive, while ours run
// on whichever thread multiplies (two at once in a parallel batch of products).
using dnnl::memory;
constexpr int64_t kAny = DNNL_RUNTIME_DIM_VAL;  // a size or stride given at each call
struct PrimitiveKey {
  bool ta, tb;
  bool bias;  // a [N] bias added to every row
  float beta;
  int threads;
  bool nested;
  auto operator<=>(const PrimitiveKey&) const = default;
};

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// a [M, K] stored [M, K] or, transposed, [K, M]; b [K, N] stored [K, N] or [N, K]; both packed.
memory::desc operand_desc(int64_t rows, int64_t cols, bool trans, memory::data_type type) {
  return memory::desc({rows, cols}, type, trans ? memory::dims{1, rows} : memory::dims{cols, 1});
}

// A bias [N], added to every row: a [1, N] matrix.
memory::desc bias_desc(int64_t N) { return memory::desc({1, N}, memory::data_type::f32, memory::dims{N, 1}); }

struct Primitive {
  dnnl::matmul matmul;
  memory::desc scratchpad;
};

Primitive primitive(const PrimitiveKey& key) {
  static std::mutex mutex;
  static auto* primitives = new std::map<PrimitiveKey, Primitive>;  // never destroyed, like the cache
  std::lock_guard lock(mutex);
  if (auto it = primitives->find(key); it != primitives->end()) return it->second;
  const auto [ta, tb, bias, beta, threads, nested] = key;
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (beta != 0) {
    dnnl::post_ops ops;
    ops.append_sum(beta);
    attr.set_post_ops(ops);
  }
  const auto a = operand_desc(kAny, kAny, ta, memory::data_type::bf16);
  const auto b = operand_desc(kAny, kAny, tb, memory::data_type::bf16);
  const memory::desc c({kAny, kAny}, memory::data_type::f32, memory::dims{kAny, 1});
  const dnnl::matmul::desc desc = bias ? dnnl::matmul::desc(a, b, bias_desc(kAny), c) : dnnl::matmul::desc(a, b, c);
  const dnnl::matmul::primitive_desc pd(desc, attr, cpu_engine());
  return primitives->emplace(key, Primitive{dnnl::matmul(pd), pd.scratchpad_desc()}).first->second;
}
#endif


// oneDNN multiplies bfloat16 on CPUs with AVX-512 (natively with AVX512_BF16, emulated without);
// on others (AVX2 only) it makes no bfloat16 matmul at all. There the operands are rounded to
// bfloat16 and multiplied by sgemm: the same values up to the order of the float32 sums.
bool native_bf16() {
#if GG_GEMM_ONEDNN
  static const bool yes = [] {
    try {
      primitive({false, false, false, 0.0f, 1, false});
      return true;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return yes;
#else
  return false;
#endif
}
}  // namespace

void gemm_bf16(const Bf16Operand& a, const Bf16Operand& b, int64_t M, int64_t N, int64_t K, float* c, int64_t ldc,
               float beta, const float* bias) {
  GG_CHECK(!bias || beta == 0, "gemm_bf16: a bias with beta = {} (a bias needs beta = 0)", beta);
  const bool onednn = on_onednn(M, N, K);
  const auto ca = converted(a, onednn), cb = converted(b, onednn);
#if GG_GEMM_ONEDNN
  if (onednn) {
    try {
      const Primitive p = primitive({a.trans, b.trans, bias != nullptr, beta, omp_get_max_threads(), omp_in_parallel() != 0});
      thread_local std::vector<std::byte> scratch;
      scratch.resize(std::max(scratch.size(), p.scratchpad.get_size()));
      const auto bf16 = memory::data_type::bf16;
      const memory am(operand_desc(M, K, a.trans, bf16), cpu_engine(), ca->data());
      const memory bm(operand_desc(K, N, b.trans, bf16), cpu_engine(), cb->data());
      const memory cm(memory::desc({M, N}, memory::data_type::f32, memory::dims{ldc, 1}), cpu_engine(), c);
      thread_local dnnl::stream stream(cpu_engine());
      const memory sm(p.scratchpad, cpu_engine(), scratch.data());
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm},
                                              {DNNL_ARG_SCRATCHPAD, sm}};
      if (bias) args.emplace(DNNL_ARG_BIAS, memory(bias_desc(N), cpu_engine(), const_cast<float*>(bias)));
      p.matmul.execute(stream, args);
      stream.wait();
    } catch (const dnnl::error& e) {
      fail("matmul (bf16): oneDNN failed on a [{}, {}] x [{}, {}] product: {}", M, K, K, N, e.what());
    }
    return;
  }
#endif
  if (bias) {  // every row starts as the bias, and the product is added to it
    for (int64_t i = 0; i < M; ++i) std::copy(bias, bias + N, c + i * ldc);
    beta = 1;
  }
  cblas_sgemm(CblasRowMajor, a.trans ? CblasTrans : CblasNoTrans, b.trans ? CblasTrans : CblasNoTrans, M, N, K, 1.0f,
              static_cast<const float*>(ca->data()), a.cols, static_cast<const float*>(cb->data()), b.cols, beta, c, ldc);
}

bool bf16_products_native() { return native_bf16(); }

Bf16CacheStats bf16_cache_stats() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  Bf16CacheStats s = c.stats;
  s.bytes = c.kept_bytes();
  s.kept = 0;
  for (const Entry& e : c.entries) s.kept += e.converted != nullptr;
  return s;
}

void clear_bf16_cache() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  c.entries.clear();
  c.stats = {};
}

}  // namespace gg::kernel
