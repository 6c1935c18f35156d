// read_fixture: the recorded provider traffic kept beside the repository (../shared/fixtures).
#pragma once

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace loomflow::testing {

// The bytes of shared/fixtures/providers/<relative>; a missing file fails the calling test.
inline std::string read_fixture(const std::string& relative) {
  std::ifstream in(std::string(LOOMFLOW_SHARED_DIR) + "/fixtures/providers/" + relative, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing fixture " << relative;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace loomflow::testing
