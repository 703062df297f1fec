#include "models/translator.h"

#include <filesystem>
#include <fstream>

#include "core/file_io.h"
#include "core/safetensors.h"
#include "data/sentencepiece.h"

namespace gg::models {

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

}  // namespace

json TranslatorConfig::to_json() const {
  return {{"architecture", architecture},
          {"rnn",
           {{"embed", rnn.embed}, {"hidden", rnn.hidden}, {"layers", rnn.layers}, {"bidirectional", rnn.bidirectional},
            {"cell", cell_name(rnn.cell)}, {"attention", attention_name(rnn.attention)},
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
  try {
    c.architecture = j.at("architecture").get<std::string>();
    const json& r = j.at("rnn");
    c.rnn = {.embed = r.at("embed"), .hidden = r.at("hidden"), .layers = r.at("layers"),
             .bidirectional = r.at("bidirectional"), .cell = parse_cell(r.at("cell")),
             .attention = parse_attention(r.at("attention")), .input_feeding = r.at("input_feeding"),
             .attentional_output = r.at("attentional_output"), .dropout = r.at("dropout"),
             .tie_embeddings = r.at("tie_embeddings")};
    const json& t = j.at("transformer");
    c.transformer = {.d_model = t.at("d_model"), .heads = t.at("heads"), .encoder_layers = t.at("encoder_layers"),
                     .decoder_layers = t.at("decoder_layers"), .dim_feedforward = t.at("dim_feedforward"),
                     .dropout = t.at("dropout"), .norm_first = t.at("norm_first"), .max_len = t.at("max_len"),
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
  if (config.architecture == "rnn")
    model = std::make_shared<RNNSeq2Seq>(src_vocab.size(), tgt_vocab.size(), config.rnn);
  else if (config.architecture == "transformer")
    model = std::make_shared<TransformerSeq2Seq>(src_vocab.size(), tgt_vocab.size(), config.transformer);
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
  auto tokenizer = [&](const std::string& side) -> std::shared_ptr<data::Tokenizer> {
    if (config.tokenizer == "sentencepiece")
      return std::make_shared<data::SentencePieceTokenizer>(data::SentencePieceTokenizer::load(dir + "/" + side + ".model"));
    return make_tokenizer(config.tokenizer, config.lowercase);
  };
  Translator t(config, tokenizer("src"), tokenizer("tgt"), data::Vocab::load(dir + "/src.vocab"),
               data::Vocab::load(dir + "/tgt.vocab"));
  SafetensorsFile weights = load_safetensors(dir + "/model.safetensors");
  t.model->load_state_dict(weights.tensors);
  t.model->eval();
  return t;
}

std::vector<Translation> Translator::translate(const std::vector<std::string>& sentences, int64_t beam,
                                               bool keep_attention, int64_t batch_size) {
  model->eval();
  std::vector<Translation> out(sentences.size());
  for (size_t start = 0; start < sentences.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(sentences.size(), start + static_cast<size_t>(batch_size));
    std::vector<std::vector<int64_t>> ids;
    int64_t S = 1;
    for (size_t i = start; i < end; ++i) {
      out[i].source_tokens = src_tokenizer->encode(sentences[i]);
      ids.push_back(src_vocab.encode(out[i].source_tokens));
      if (ids.back().empty()) ids.back().push_back(data::Vocab::unk_id);  // an empty line still decodes
      S = std::max<int64_t>(S, static_cast<int64_t>(ids.back().size()));
    }
    const int64_t B = static_cast<int64_t>(ids.size());
    std::vector<int64_t> flat(B * S, data::Vocab::pad_id), lengths;
    for (int64_t b = 0; b < B; ++b) {
      std::copy(ids[b].begin(), ids[b].end(), flat.begin() + b * S);
      lengths.push_back(static_cast<int64_t>(ids[b].size()));
    }
    Tensor src = from_vector(flat, {B, S}), src_lengths = from_vector(lengths);
    DecodeOptions options{.bos = data::Vocab::bos_id, .eos = data::Vocab::eos_id, .keep_attention = keep_attention};
    std::vector<Hypothesis> best;
    if (beam <= 1) {
      best = greedy_decode(*model, src, src_lengths, options);
    } else {
      for (auto& n_best : beam_search(*model, src, src_lengths, {.beam = beam}, options)) best.push_back(n_best.at(0));
    }
    for (int64_t b = 0; b < B; ++b) {
      Translation& t = out[start + static_cast<size_t>(b)];
      t.target_tokens = tgt_vocab.decode(best[b].tokens);
      t.text = tgt_tokenizer->detokenize(t.target_tokens);
      t.score = best[b].score;
      for (auto& row : best[b].attention) t.attention.push_back(std::vector<float>(row.begin(), row.begin() + lengths[b]));
    }
  }
  return out;
}

}  // namespace gg::models
