#pragma once
// Shared by every test folder: the message of the gg::Error a callable throws.
#include <catch2/catch.hpp>

#include <string>

#include "core/error.h"

namespace gg::testing {

// The message of the gg::Error that f throws; fails the test if f throws nothing.
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const gg::Error& e) {
    return e.what();
  }
  FAIL("expected a gg::Error, but nothing was thrown");
  return "";
}

}  // namespace gg::testing
