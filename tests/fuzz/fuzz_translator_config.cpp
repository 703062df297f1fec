// TranslatorConfig::from_json on arbitrary JSON (a model directory's config.json). Text that
// is not JSON is json::parse's documented exception (parse_error, or out_of_range for a number
// like 1e400 that no double holds); JSON that is not a valid config must be a gg::Error naming
// the file. A config that loads must survive to_json -> from_json unchanged, as
// Translator::save followed by Translator::load needs.
#include <nlohmann/json.hpp>

#include <cstdio>

#include "core/error.h"
#include "fuzz_common.h"
#include "app/translator.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(data, data + size);
  } catch (const nlohmann::json::exception&) {
    return 0;
  }
  gg::app::TranslatorConfig config;
  try {
    config = gg::app::TranslatorConfig::from_json(j, "config.json");
  } catch (const gg::Error&) {
    return 0;
  }
  const nlohmann::json saved = config.to_json();
  try {
    const auto again = gg::app::TranslatorConfig::from_json(saved, "config.json (saved again)");
    gg::fuzz::fuzz_check(again.to_json() == saved, "from_json(to_json(config)) gives the same config");
  } catch (const gg::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    gg::fuzz::fuzz_check(false, "a config that loaded loads again after to_json");
  }
  return 0;
}
