// glassgrad against PyTorch 1.13 on the same inputs and weights: outputs and gradients.
#include "parity/fixture.h"

using parity::Fixture;
using parity::require_close;
using parity::rtol_for;

namespace {

const gg::DType kDtypes[] = {gg::DType::Float32, gg::DType::Float64};

// sum(out * R) backpropagated, as the fixture's gradients were computed.
void backprop(const std::vector<std::pair<gg::Tensor, gg::Tensor>>& outputs_and_projections) {
  gg::Tensor loss;
  for (const auto& [out, r] : outputs_and_projections) {
    gg::Tensor term = gg::sum(out * r);
    loss = loss.defined() ? loss + term : term;
  }
  loss.backward();
}

void check_params(const gg::nn::Module& m, const Fixture& f, gg::DType dtype) {
  for (const auto& [name, p] : m.named_parameters()) {
    REQUIRE(p.grad().defined());
    require_close(p.grad(), f.tensor("grad." + name), rtol_for(dtype), "grad." + name);
  }
}

}  // namespace

TEST_CASE("parity: Linear matches torch.nn.Linear", "[parity][nn]") {
  Fixture f("linear");
  for (gg::DType dtype : kDtypes) {
    gg::nn::Linear m(4, 5, {.dtype = dtype});
    m.load_state_dict(f.state_for(m, dtype));
    gg::Tensor x = f.tensor("x", dtype).requires_grad_();
    gg::Tensor y = m.forward(x);
    require_close(y, f.tensor("y"), rtol_for(dtype), "y");
    backprop({{y, f.tensor("R", dtype)}});
    require_close(x.grad(), f.tensor("grad.x"), rtol_for(dtype), "grad.x");
    check_params(m, f, dtype);
  }
}

TEST_CASE("parity: Embedding with padding_idx matches torch.nn.Embedding", "[parity][nn]") {
  Fixture f("embedding");
  for (gg::DType dtype : kDtypes) {
    gg::nn::Embedding m(10, 4, {.padding_idx = 0, .dtype = dtype});
    m.load_state_dict(f.state_for(m, dtype));
    gg::Tensor y = m.forward(f.tensor("ids", gg::DType::Int64));
    require_close(y, f.tensor("y"), rtol_for(dtype), "y");
    backprop({{y, f.tensor("R", dtype)}});
    check_params(m, f, dtype);
    CHECK(gg::sum(gg::abs(m.weight.grad().select(0, 0))).item() == 0.0);  // the padding row learns nothing
  }
}

TEST_CASE("parity: LayerNorm matches torch.nn.LayerNorm", "[parity][nn]") {
  Fixture f("layer_norm");
  for (gg::DType dtype : kDtypes) {
    gg::nn::LayerNorm m({4}, {.dtype = dtype});
    m.load_state_dict(f.state_for(m, dtype));
    gg::Tensor x = f.tensor("x", dtype).requires_grad_();
    gg::Tensor y = m.forward(x);
    require_close(y, f.tensor("y"), rtol_for(dtype), "y");
    backprop({{y, f.tensor("R", dtype)}});
    require_close(x.grad(), f.tensor("grad.x"), rtol_for(dtype), "grad.x");
    check_params(m, f, dtype);
  }
}

namespace {

// Two layers, bidirectional, a padded batch with lengths {5, 3, 2}: outputs, final states,
// and the gradients of the input and of every weight.
template <class Layer>
void check_recurrent(const std::string& name, bool relu = false) {
  Fixture f(name);
  for (gg::DType dtype : kDtypes) {
    INFO(name << " in " << gg::dtype_name(dtype));
    Layer m(4, 3, {.num_layers = 2, .bidirectional = true, .relu = relu, .dtype = dtype});
    m.load_state_dict(f.state_for(m, dtype));
    gg::Tensor x = f.tensor("x", dtype).requires_grad_();
    auto out = m.forward(x, f.tensor("lengths", gg::DType::Int64));
    require_close(out.output, f.tensor("y"), rtol_for(dtype), "output");
    require_close(out.state.h, f.tensor("h_n"), rtol_for(dtype), "h_n");
    std::vector<std::pair<gg::Tensor, gg::Tensor>> terms{{out.output, f.tensor("R.y", dtype)},
                                                         {out.state.h, f.tensor("R.h_n", dtype)}};
    if (f.has("c_n")) {
      require_close(out.state.c, f.tensor("c_n"), rtol_for(dtype), "c_n");
      terms.emplace_back(out.state.c, f.tensor("R.c_n", dtype));
    }
    backprop(terms);
    require_close(x.grad(), f.tensor("grad.x"), rtol_for(dtype), "grad.x");
    check_params(m, f, dtype);
  }
}

}  // namespace

TEST_CASE("parity: RNN (tanh), 2 layers, bidirectional, with lengths", "[parity][nn][rnn]") {
  check_recurrent<gg::nn::RNN>("rnn");
}
TEST_CASE("parity: RNN (relu), 2 layers, bidirectional, with lengths", "[parity][nn][rnn]") {
  check_recurrent<gg::nn::RNN>("rnn_relu", true);
}
TEST_CASE("parity: GRU, 2 layers, bidirectional, with lengths", "[parity][nn][rnn]") {
  check_recurrent<gg::nn::GRU>("gru");
}
TEST_CASE("parity: LSTM, 2 layers, bidirectional, with lengths", "[parity][nn][rnn]") {
  check_recurrent<gg::nn::LSTM>("lstm");
}

TEST_CASE("parity: cross_entropy with ignore_index and label smoothing, every reduction", "[parity][nn][loss]") {
  Fixture f("cross_entropy");
  for (gg::DType dtype : kDtypes)
    for (const char* reduction : {"mean", "sum", "none"})
      for (double smoothing : {0.0, 0.1}) {
        const std::string key = fmt::format("{}.{}", reduction, smoothing == 0 ? "0.0" : "0.1");
        INFO("reduction " << reduction << ", label_smoothing " << smoothing << ", " << gg::dtype_name(dtype));
        gg::Tensor logits = f.tensor("logits", dtype).requires_grad_();
        gg::Reduction r = std::string(reduction) == "mean" ? gg::Reduction::Mean
                          : std::string(reduction) == "sum" ? gg::Reduction::Sum
                                                            : gg::Reduction::None;
        gg::Tensor loss = gg::nn::functional::cross_entropy(
            logits, f.tensor("target", gg::DType::Int64),
            {.ignore_index = -100, .label_smoothing = smoothing, .reduction = r});
        require_close(loss, f.tensor("loss." + key), rtol_for(dtype), "loss");
        backprop({{loss, f.tensor("R." + key, dtype)}});
        require_close(logits.grad(), f.tensor("grad.logits." + key), rtol_for(dtype), "grad.logits");
      }
}
