#include "app/translator.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <numeric>

#include "core/file_io.h"
#include "core/safetensors.h"
#include "data/sentencepiece.h"

namespace gg::app {

using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string cell_name(nn::RNNMode mode) {
  switch (mode) {
    case nn::RNNMode::LSTM: return "lstm";
    case nn::RNNMode::GRU: return "gru";
    case nn::RNNMode::Relu: return "rnn-relu";
    default: return "rnn";
  }
}

nn::RNNMode parse_cell(const std::string& name) {
  if (name == "lstm") return nn::RNNMode::LSTM;
  if (name == "gru") return nn::RNNMode::GRU;
  if (name == "rnn") return nn::RNNMode::Tanh;
  if (name == "rnn-relu") return nn::RNNMode::Relu;
  fail("unknown cell '{}'; expected lstm, gru, rnn or rnn-relu", name);
}

// Sizes come from the command line or a config.json, and may be absurd: the model they describe
// is weighed before a byte of it is allocated. The big matrices only (embeddings, recurrent or
// attention and feed-forward weights, the output layer), counted in double so nothing overflows.
double approximate_parameters(const TranslatorConfig& c, int64_t src_vocab, int64_t tgt_vocab) {
  const double S = static_cast<double>(src_vocab), T = static_cast<double>(tgt_vocab);
  if (c.architecture == "transformer") {
    const auto& t = c.transformer;
    const double d = static_cast<double>(t.d_model), ff = static_cast<double>(t.dim_feedforward);
    return (S + T + static_cast<double>(t.max_len)) * d + static_cast<double>(t.encoder_layers) * (4 * d * d + 2 * d * ff) +
           static_cast<double>(t.decoder_layers) * (8 * d * d + 2 * d * ff) + d * T;
  }
  const auto& r = c.rnn;
  const double E = static_cast<double>(r.embed), H = static_cast<double>(r.hidden), L = static_cast<double>(r.layers);
  const double gates = r.cell == nn::RNNMode::LSTM ? 4 : r.cell == nn::RNNMode::GRU ? 3 : 1;
  return (S + T) * E + 2 * L * gates * (E + 2 * H) * H + H * T;  // encoder and decoder stacks, roughly
}

void check_fits(const TranslatorConfig& c, int64_t src_vocab, int64_t tgt_vocab) {
  const bool rnn = c.architecture == "rnn";
  for (auto [name, value] : rnn ? std::vector<std::pair<const char*, int64_t>>{{"embed", c.rnn.embed}, {"hidden", c.rnn.hidden},
                                                                                {"layers", c.rnn.layers}}
                                : std::vector<std::pair<const char*, int64_t>>{{"d_model", c.transformer.d_model},
                                                                                {"heads", c.transformer.heads},
                                                                                {"encoder_layers", c.transformer.encoder_layers},
                                                                                {"decoder_layers", c.transformer.decoder_layers},
                                                                                {"dim_feedforward", c.transformer.dim_feedforward},
                                                                                {"max_len", c.transformer.max_len}})
    GG_CHECK(value >= 1, "{} must be at least 1, got {}", name, value);
  const double parameters = approximate_parameters(c, src_vocab, tgt_vocab);
  const double memory = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  const double gib = double(int64_t{1} << 30);
  GG_CHECK(parameters * sizeof(float) <= memory,
           "{} with {} and vocabularies of {} and {} tokens has about {:.3g} parameters: {:.1f} GiB for the weights "
           "alone (training needs about 4 times that), but this machine has {:.1f} GiB of memory",
           rnn ? "an RNN" : "a Transformer",
           rnn ? fmt::format("embed {}, hidden {}, {} layer(s)", c.rnn.embed, c.rnn.hidden, c.rnn.layers)
               : fmt::format("d_model {}, feed-forward {}, {} + {} layers", c.transformer.d_model,
                             c.transformer.dim_feedforward, c.transformer.encoder_layers, c.transformer.decoder_layers),
           src_vocab, tgt_vocab, parameters, parameters * sizeof(float) / gib, memory / gib);
}

}  // namespace

json TranslatorConfig::to_json() const {
  return {{"architecture", architecture},
          {"rnn",
           {{"embed", rnn.embed}, {"hidden", rnn.hidden}, {"layers", rnn.layers}, {"bidirectional", rnn.bidirectional},
            {"cell", cell_name(rnn.cell)}, {"attention", models::attention_name(rnn.attention)},
            {"input_feeding", rnn.input_feeding}, {"attentional_output", rnn.attentional_output},
            {"dropout", rnn.dropout}, {"tie_embeddings", rnn.tie_embeddings}}},
          {"transformer",
           {{"d_model", transformer.d_model}, {"heads", transformer.heads},
            {"encoder_layers", transformer.encoder_layers}, {"decoder_layers", transformer.decoder_layers},
            {"dim_feedforward", transformer.dim_feedforward}, {"dropout", transformer.dropout},
            {"norm_first", transformer.norm_first}, {"max_len", transformer.max_len},
            {"tie_embeddings", transformer.tie_embeddings}}},
          {"tokenizer", tokenizer},
          {"lowercase", lowercase},
          {"extra", extra}};
}

TranslatorConfig TranslatorConfig::from_json(const json& j, const std::string& where) {
  TranslatorConfig c;
  // A size must be an integer: 1.5 would be truncated, 1e30 cannot be converted at all.
  auto integer = [&](const json& section, const char* key) {
    const json& v = section.at(key);
    GG_CHECK(v.is_number_integer(), "{}: '{}' must be an integer, got {}", where, key, v.dump());
    return v.get<int64_t>();
  };
  try {
    c.architecture = j.at("architecture").get<std::string>();
    const json& r = j.at("rnn");
    c.rnn = {.embed = integer(r, "embed"), .hidden = integer(r, "hidden"), .layers = integer(r, "layers"),
             .bidirectional = r.at("bidirectional"), .cell = parse_cell(r.at("cell")),
             .attention = models::parse_attention(r.at("attention")), .input_feeding = r.at("input_feeding"),
             .attentional_output = r.at("attentional_output"), .dropout = r.at("dropout"),
             .tie_embeddings = r.at("tie_embeddings")};
    const json& t = j.at("transformer");
    c.transformer = {.d_model = integer(t, "d_model"), .heads = integer(t, "heads"),
                     .encoder_layers = integer(t, "encoder_layers"), .decoder_layers = integer(t, "decoder_layers"),
                     .dim_feedforward = integer(t, "dim_feedforward"), .dropout = t.at("dropout"),
                     .norm_first = t.at("norm_first"), .max_len = integer(t, "max_len"),
                     .tie_embeddings = t.at("tie_embeddings")};
    c.tokenizer = j.at("tokenizer").get<std::string>();
    c.lowercase = j.at("lowercase").get<bool>();
    if (j.contains("extra")) c.extra = j.at("extra");
  } catch (const json::exception& e) {
    fail("{}: invalid config ({})", where, e.what());
  }
  return c;
}

std::shared_ptr<data::Tokenizer> make_tokenizer(const std::string& name, bool lowercase) {
  if (name == "word") return std::make_shared<data::WordTokenizer>(data::WordTokenizerOptions{.lowercase = lowercase});
  if (name == "char") return std::make_shared<data::CharTokenizer>(data::CharTokenizerOptions{.lowercase = lowercase});
  fail("unknown tokenizer '{}'; expected word, char or sentencepiece", name);
}

Translator::Translator(TranslatorConfig c, std::shared_ptr<data::Tokenizer> src_tok,
                       std::shared_ptr<data::Tokenizer> tgt_tok, data::Vocab sv, data::Vocab tv)
    : config(std::move(c)), src_tokenizer(std::move(src_tok)), tgt_tokenizer(std::move(tgt_tok)),
      src_vocab(std::move(sv)), tgt_vocab(std::move(tv)) {
  GG_CHECK(config.architecture == "rnn" || config.architecture == "transformer",
           "unknown architecture '{}'; expected rnn or transformer", config.architecture);
  check_fits(config, src_vocab.size(), tgt_vocab.size());
  if (config.architecture == "rnn")
    model = std::make_shared<models::RNNSeq2Seq>(src_vocab.size(), tgt_vocab.size(), config.rnn);
  else if (config.architecture == "transformer")
    model = std::make_shared<models::TransformerSeq2Seq>(src_vocab.size(), tgt_vocab.size(), config.transformer);
  else
    fail("unknown architecture '{}'; expected rnn or transformer", config.architecture);
}

void Translator::save(const std::string& dir) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  GG_CHECK(!ec, "save: cannot create the model directory {}: {}", dir, ec.message());
  if (auto* sp = dynamic_cast<const data::SentencePieceTokenizer*>(src_tokenizer.get())) sp->save(dir + "/src.model");
  if (auto* sp = dynamic_cast<const data::SentencePieceTokenizer*>(tgt_tokenizer.get())) sp->save(dir + "/tgt.model");
  src_vocab.save(dir + "/src.vocab");
  tgt_vocab.save(dir + "/tgt.vocab");
  save_safetensors(dir + "/model.safetensors", model->state_dict(), {{"format", "pt"}, {"framework", "glassgrad"}});
  // Last: a directory with a config.json holds a whole model, even if a crash stopped a first save.
  json j = config.to_json();
  j["src_vocab_size"] = src_vocab.size();
  j["tgt_vocab_size"] = tgt_vocab.size();
  write_file_atomic(dir + "/config.json", j.dump(2) + "\n");
}

Translator Translator::load(const std::string& dir) {
  GG_CHECK(fs::is_directory(dir), "load: {} is not a model directory (train one with `translate train --out {}`)", dir,
           dir);
  const std::string config_path = dir + "/config.json";
  json j;
  try {
    j = json::parse(read_file(config_path));
  } catch (const json::exception& e) {
    fail("{}: not valid JSON ({})", config_path, e.what());
  }
  TranslatorConfig config = TranslatorConfig::from_json(j, config_path);
  try {
    auto size = [&](const char* key) {  // checked again against the vocabulary files below
      const auto it = j.find(key);
      return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : int64_t{1};
    };
    check_fits(config, size("src_vocab_size"), size("tgt_vocab_size"));
  } catch (const Error& e) {
    fail("{}: {}", config_path, e.what());
  }
  auto tokenizer = [&](const std::string& side) -> std::shared_ptr<data::Tokenizer> {
    if (config.tokenizer == "sentencepiece")
      return std::make_shared<data::SentencePieceTokenizer>(data::SentencePieceTokenizer::load(dir + "/" + side + ".model"));
    return make_tokenizer(config.tokenizer, config.lowercase);
  };
  Translator t(config, tokenizer("src"), tokenizer("tgt"), data::Vocab::load(dir + "/src.vocab"),
               data::Vocab::load(dir + "/tgt.vocab"));
  SafetensorsFile weights = load_safetensors(dir + "/model.safetensors");
  try {
    t.model->load_state_dict(weights.tensors);
  } catch (const Error& e) {
    fail("{}: {}", weights.path, e.what());
  }
  t.model->eval();
  return t;
}

std::vector<Translation> Translator::translate(const std::vector<std::string>& sentences, const TranslateOptions& o) {
  const int64_t beam = o.beam, batch_size = o.batch_size, n_best = o.n_best;
  GG_CHECK(batch_size >= 1 && beam >= 1 && n_best >= 1 && n_best <= beam,
           "translate: batch size {}, beam {} and n-best {} must be at least 1, and n-best at most the beam", batch_size,
           beam, n_best);
  model->eval();
  std::vector<Translation> out(sentences.size());
  std::vector<std::vector<int64_t>> ids(sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    out[i].source_tokens = src_tokenizer->encode(sentences[i]);
    ids[i] = src_vocab.encode(out[i].source_tokens);
    if (ids[i].empty()) ids[i].push_back(data::Vocab::unk_id);  // an empty line still decodes
  }
  std::vector<size_t> order(sentences.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ids[a].size() < ids[b].size(); });
  const models::DecodeOptions options{.bos = data::Vocab::bos_id, .eos = data::Vocab::eos_id,
                              .keep_attention = o.keep_attention || o.replace_unk, .precision = o.precision};
  // The hypothesis' tokens as text, each <unk> replaced by the source token it attended to most.
  auto words = [&](const models::Hypothesis& h, const std::vector<std::string>& source) {
    std::vector<std::string> out = tgt_vocab.decode(h.tokens);
    for (size_t i = 0; o.replace_unk && i < out.size() && i < h.attention.size() && !source.empty(); ++i)
      if (h.tokens[i] == data::Vocab::unk_id) {
        const auto& row = h.attention[i];
        out[i] = source[std::max_element(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(source.size())) - row.begin()];
      }
    return out;
  };
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch_size)) {
    const std::vector<size_t> batch(order.begin() + static_cast<std::ptrdiff_t>(start),
                                    order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), start + static_cast<size_t>(batch_size))));
    const int64_t B = static_cast<int64_t>(batch.size()), S = static_cast<int64_t>(ids[batch.back()].size());
    std::vector<int64_t> flat(B * S, data::Vocab::pad_id), lengths;  // src [B, S], padded
    for (int64_t b = 0; b < B; ++b) {
      const auto& x = ids[batch[b]];
      std::copy(x.begin(), x.end(), flat.begin() + b * S);
      lengths.push_back(static_cast<int64_t>(x.size()));
    }
    const Tensor src = from_vector(flat, {B, S}), src_lengths = from_vector(lengths);
    std::vector<std::vector<models::Hypothesis>> found;
    if (beam <= 1) {
      for (auto& h : models::greedy_decode(*model, src, src_lengths, options)) found.push_back({std::move(h)});
    } else {
      found = models::beam_search(*model, src, src_lengths, {.beam = beam, .n_best = n_best}, options);
    }
    for (int64_t b = 0; b < B; ++b) {
      Translation& t = out[batch[b]];
      const models::Hypothesis& best = found[b].at(0);
      t.target_tokens = words(best, t.source_tokens);
      t.text = tgt_tokenizer->detokenize(t.target_tokens);
      t.score = best.score;
      if (o.keep_attention)
        for (auto& row : best.attention) t.attention.push_back(std::vector<float>(row.begin(), row.begin() + lengths[b]));
      if (n_best > 1)
        for (const models::Hypothesis& h : found[b]) t.n_best.emplace_back(tgt_tokenizer->detokenize(words(h, t.source_tokens)), h.score);
    }
  }
  return out;
}

}  // namespace gg::app
