// Multi-head attention and Transformer layers against torch.nn on the same weights, dropout 0.
#include "parity/fixture.h"

using parity::Fixture;
using parity::require_close;
using parity::rtol_for;

namespace {

const gg::DType kDtypes[] = {gg::DType::Float32, gg::DType::Float64};

gg::Tensor bool_mask(const Fixture& f, const std::string& key) {
  return gg::ne(f.tensor(key), 0.0);
}

void check_grads(const gg::nn::Module& m, const Fixture& f, gg::DType dtype) {
  for (const auto& [name, p] : m.named_parameters()) {
    INFO("parameter " << name);
    REQUIRE(p.grad().defined());
    require_close(p.grad(), f.tensor("grad." + name), rtol_for(dtype), "grad." + name);
  }
}

}  // namespace

TEST_CASE("parity: MultiHeadAttention cross-attention with kdim, vdim and key padding", "[parity][attention]") {
  Fixture f("mha_cross");
  for (gg::DType dtype : kDtypes) {
    gg::nn::MultiHeadAttention m(8, 2, {.kdim = 5, .vdim = 6, .dtype = dtype});
    m.load_state_dict(f.state_for(m, dtype));
    gg::Tensor q = f.tensor("q", dtype).requires_grad_(), k = f.tensor("k", dtype).requires_grad_(),
               v = f.tensor("v", dtype).requires_grad_();
    auto out = m.forward(q, k, v, bool_mask(f, "key_padding_mask"));
    require_close(out.output, f.tensor("out"), rtol_for(dtype), "output");
    require_close(out.weights, f.tensor("weights"), rtol_for(dtype), "weights");
    (gg::sum(out.output * f.tensor("R", dtype)) + gg::sum(out.weights * f.tensor("R_w", dtype))).backward();
    require_close(q.grad(), f.tensor("grad.q"), rtol_for(dtype), "grad.q");
    require_close(k.grad(), f.tensor("grad.k"), rtol_for(dtype), "grad.k");
    require_close(v.grad(), f.tensor("grad.v"), rtol_for(dtype), "grad.v");
    check_grads(m, f, dtype);
  }
}

TEST_CASE("parity: MultiHeadAttention self-attention with a causal mask, per-head weights", "[parity][attention]") {
  Fixture f("mha_self");
  for (gg::DType dtype : kDtypes) {
    gg::nn::MultiHeadAttention m(8, 2, {.dtype = dtype});
    m.load_state_dict(f.state_for(m, dtype));
    gg::Tensor x = f.tensor("x", dtype).requires_grad_();
    auto out = m.forward(x, x, x, {}, gg::nn::functional::causal_mask(4), true, /*average_attn_weights=*/false);
    require_close(out.output, f.tensor("out"), rtol_for(dtype), "output");
    require_close(out.weights, f.tensor("weights"), rtol_for(dtype), "weights");
    (gg::sum(out.output * f.tensor("R", dtype)) + gg::sum(out.weights * f.tensor("R_w", dtype))).backward();
    require_close(x.grad(), f.tensor("grad.x"), rtol_for(dtype), "grad.x");
    check_grads(m, f, dtype);
  }
}

TEST_CASE("parity: TransformerEncoderLayer, post-norm and pre-norm, with key padding", "[parity][transformer]") {
  for (bool norm_first : {false, true}) {
    Fixture f(norm_first ? "encoder_layer_norm_first" : "encoder_layer");
    for (gg::DType dtype : kDtypes) {
      INFO("norm_first " << norm_first << ", " << gg::dtype_name(dtype));
      gg::nn::TransformerEncoderLayer m(8, 2, {.dim_feedforward = 16, .dropout = 0.0, .norm_first = norm_first, .dtype = dtype});
      m.load_state_dict(f.state_for(m, dtype));
      gg::Tensor src = f.tensor("src", dtype).requires_grad_();
      gg::Tensor out = m.forward(src, {}, bool_mask(f, "src_key_padding_mask"));
      require_close(out, f.tensor("out"), rtol_for(dtype), "output");
      gg::sum(out * f.tensor("R", dtype)).backward();
      require_close(src.grad(), f.tensor("grad.src"), rtol_for(dtype), "grad.src");
      check_grads(m, f, dtype);
    }
  }
}

TEST_CASE("parity: TransformerDecoderLayer, post-norm and pre-norm, causal and memory padding", "[parity][transformer]") {
  for (bool norm_first : {false, true}) {
    Fixture f(norm_first ? "decoder_layer_norm_first" : "decoder_layer");
    for (gg::DType dtype : kDtypes) {
      INFO("norm_first " << norm_first << ", " << gg::dtype_name(dtype));
      gg::nn::TransformerDecoderLayer m(8, 2, {.dim_feedforward = 16, .dropout = 0.0, .norm_first = norm_first, .dtype = dtype});
      m.load_state_dict(f.state_for(m, dtype));
      gg::Tensor tgt = f.tensor("tgt", dtype).requires_grad_(), memory = f.tensor("memory", dtype).requires_grad_();
      gg::Tensor out = m.forward(tgt, memory, gg::nn::functional::causal_mask(4), {}, {},
                                 bool_mask(f, "memory_key_padding_mask"));
      require_close(out, f.tensor("out"), rtol_for(dtype), "output");
      gg::sum(out * f.tensor("R", dtype)).backward();
      require_close(tgt.grad(), f.tensor("grad.tgt"), rtol_for(dtype), "grad.tgt");
      require_close(memory.grad(), f.tensor("grad.memory"), rtol_for(dtype), "grad.memory");
      check_grads(m, f, dtype);
    }
  }
}
