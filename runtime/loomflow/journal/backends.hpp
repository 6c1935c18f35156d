// loomflow/journal/backends.hpp — the journal backends behind open_journal. Each file implements
// one; all satisfy the contract in loomflow/journal.hpp (tests/journal_store_test.cpp checks it).
#pragma once

#include <memory>
#include <string>

#include "loomflow/journal.hpp"

namespace loomflow::journal {

Expected<std::shared_ptr<JournalStore>> open_rocksdb(const std::string& path);
Expected<std::shared_ptr<JournalStore>> open_sqlite(const std::string& path);
Expected<std::shared_ptr<JournalStore>> open_postgres(const std::string& uri);
Expected<std::shared_ptr<JournalStore>> open_memory();

}  // namespace loomflow::journal
