#pragma once
// Loads a PyTorch parity fixture written by tests/parity/make_fixtures.py, and compares
// tensors against it.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

#include "glassgrad.h"
#include "testing.h"

namespace parity {

class Fixture {
 public:
  explicit Fixture(const std::string& name) {
    const std::string path = std::string(GG_SOURCE_DIR) + "/tests/parity/fixtures/" + name + ".json";
    std::ifstream in(path);
    if (!in) throw gg::Error("parity: cannot open fixture " + path + "; regenerate with tests/parity/make_fixtures.py");
    json_ = nlohmann::json::parse(in);
  }

  bool has(const std::string& key) const { return json_.contains(key); }

  // The tensor stored under `key`, converted to dtype.
  gg::Tensor tensor(const std::string& key, gg::DType dtype = gg::DType::Float64) const {
    if (!has(key)) throw gg::Error("parity: fixture has no tensor '" + key + "'");
    const auto& entry = json_.at(key);
    std::vector<double> data = entry.at("data").get<std::vector<double>>();
    gg::Shape shape(entry.at("shape").get<std::vector<int64_t>>());
    return gg::from_vector(data, shape.empty() ? gg::Shape{} : shape).reshape(shape).to(dtype).contiguous();
  }

  // Every stored tensor whose key has no '.' and is a parameter of `module`, as a state dict.
  gg::nn::StateDict state_for(const gg::nn::Module& module, gg::DType dtype) const {
    gg::nn::StateDict state;
    for (const auto& [name, _] : module.state_dict()) state.emplace_back(name, tensor(name, dtype));
    return state;
  }

 private:
  nlohmann::json json_;
};

// Every comparison is gg::testing::require_close: the error relative to the tensor's scale.
using gg::testing::require_close;

// Tolerances: the fixtures are float64; float32 runs are held to 1e-5 of scale, float64 to 1e-10.
inline double rtol_for(gg::DType dtype) { return dtype == gg::DType::Float32 ? 1e-5 : 1e-10; }

}  // namespace parity
