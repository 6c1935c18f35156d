// The sandboxed filesystem tools: every way out of the root is refused — `..`, absolute paths,
// links to outside, and links swapped in after the arguments were checked — while reading,
// writing, listing, searching and editing inside it behave as documented.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "loomflow/detail/definitions.hpp"
#include "loomflow/providers/builtin.hpp"
#include "loomflow/tools/sandbox/confined_path.hpp"
#include "loomflow/tools/sandbox/filesystem.hpp"
#include "test_support.hpp"
#include "scratch.hpp"

using namespace loomflow;
using loomflow::tools::FilesystemOptions;
using loomflow::testing::shared_runtime;
namespace fs = std::filesystem;

namespace {

struct TempDir : loomflow::testing::TempDir {
  TempDir() : loomflow::testing::TempDir("loomflow-sandbox-fs") {}
};

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class SandboxFs : public ::testing::Test {
 protected:
  SandboxFs() {
    fs::create_directories(root());
    write(outside() / "secret.txt", "top secret\n");
  }

  fs::path root() const { return temp_.path() / "root"; }
  fs::path outside() const { return temp_.path() / "outside"; }

  FilesystemOptions options() const {
    FilesystemOptions o;
    o.root = root();
    return o;
  }

  Expected<std::string> call(const std::string& tool, const std::string& arguments, FilesystemOptions o,
                             const std::string& user = "alice") {
    auto tools = tools::filesystem_tools(std::move(o));
    if (!tools) return tools.error();
    for (const auto& t : *tools) {
      if (t.name() != tool) continue;
      UserId user_id{user};
      SessionId session{"s"};
      ToolContext ctx{user_id, session, "agent/turn-1/tool-0", "s/agent/turn-1/tool-0"};
      return t.impl().fn(ctx, arguments);
    }
    return Error{ErrorCode::internal, "no tool " + tool};
  }
  Expected<std::string> call(const std::string& tool, const std::string& arguments) {
    return call(tool, arguments, options());
  }

  TempDir temp_;
};

void expect_error(const Expected<std::string>& result, const std::string& message) {
  ASSERT_FALSE(result) << "unexpected success: " << *result;
  EXPECT_EQ(result.error().code, ErrorCode::tool_error);
  EXPECT_EQ(result.error().message, message);
}

void expect_escape(const Expected<std::string>& result, const std::string& tool, const std::string& path) {
  ASSERT_FALSE(result) << "unexpected success: " << *result;
  EXPECT_EQ(result.error().code, ErrorCode::tool_error);
  EXPECT_TRUE(result.error().message.starts_with(tool + ": path '" + path + "' escapes the root"))
      << result.error().message;
  EXPECT_EQ(result.error().message.find("top secret"), std::string::npos);
}

}  // namespace

// ---- Confinement ----

TEST_F(SandboxFs, DotDotThatClimbsAboveTheRootIsRefused) {
  expect_error(call("fs_read", R"({"path":"../outside/secret.txt"})"),
               "fs_read: path '../outside/secret.txt' escapes the root");
  expect_error(call("fs_read", R"({"path":"a/../../outside/secret.txt"})"),
               "fs_read: path 'a/../../outside/secret.txt' escapes the root");
}

TEST_F(SandboxFs, AbsolutePathsOutsideTheRootAreRefusedAndInsideAreAccepted) {
  expect_error(call("fs_read", R"({"path":"/etc/passwd"})"), "fs_read: path '/etc/passwd' escapes the root");
  const std::string sneaky = (root() / ".." / "outside" / "secret.txt").string();
  expect_error(call("fs_read", R"({"path":")" + sneaky + "\"}"), "fs_read: path '" + sneaky + "' escapes the root");
  write(root() / "in.txt", "inside\n");
  auto inside = call("fs_read", R"({"path":")" + (root() / "in.txt").string() + "\"}");
  ASSERT_TRUE(inside) << inside.error().message;
  EXPECT_EQ(*inside, "inside\n");
}

TEST_F(SandboxFs, ASymlinkToAFileOutsideIsRefused) {
  fs::create_symlink(outside() / "secret.txt", root() / "link");
  fs::create_symlink("../outside/secret.txt", root() / "relative-link");
  expect_escape(call("fs_read", R"({"path":"link"})"), "fs_read", "link");
  expect_escape(call("fs_read", R"({"path":"relative-link"})"), "fs_read", "relative-link");
  expect_escape(call("fs_edit", R"({"path":"relative-link/x","old_text":"a","new_text":"b"})"), "fs_edit",
                "relative-link/x");
}

TEST_F(SandboxFs, ASymlinkedDirectoryComponentLeadingOutsideIsRefused) {
  fs::create_symlink(outside(), root() / "dir");
  expect_escape(call("fs_read", R"({"path":"dir/secret.txt"})"), "fs_read", "dir/secret.txt");
  expect_escape(call("fs_list", R"({"path":"dir"})"), "fs_list", "dir");
  expect_escape(call("fs_search", R"({"pattern":"secret","path":"dir"})"), "fs_search", "dir");
  expect_escape(call("fs_write", R"({"path":"dir/new.txt","content":"x"})"), "fs_write", "dir/new.txt");
  expect_escape(call("fs_write", R"({"path":"dir/sub/new.txt","content":"x","create_dirs":true})"), "fs_write",
                "dir/sub/new.txt");
  EXPECT_FALSE(fs::exists(outside() / "new.txt"));
  EXPECT_FALSE(fs::exists(outside() / "sub"));
}

TEST_F(SandboxFs, AFileSwappedForASymlinkAfterTheCheckIsRefused) {
  write(root() / "late.txt", "harmless\n");
  std::atomic<int> hooked{0};
  auto o = options();
  o.before_open = [&](const std::string& relative) {
    EXPECT_EQ(relative, "late.txt");
    ++hooked;
    fs::remove(root() / "late.txt");
    fs::create_symlink(outside() / "secret.txt", root() / "late.txt");
  };
  expect_escape(call("fs_read", R"({"path":"late.txt"})", o), "fs_read", "late.txt");
  EXPECT_EQ(hooked.load(), 1);
}

TEST_F(SandboxFs, ADirectorySwappedForASymlinkAfterTheCheckIsRefused) {
  write(root() / "sub" / "secret.txt", "inside\n");
  auto o = options();
  o.before_open = [&](const std::string&) {
    if (fs::is_symlink(root() / "sub")) return;
    fs::rename(root() / "sub", root() / "sub.old");
    fs::create_symlink(outside(), root() / "sub");
  };
  expect_escape(call("fs_read", R"({"path":"sub/secret.txt"})", o), "fs_read", "sub/secret.txt");
  fs::remove(root() / "sub");
  fs::rename(root() / "sub.old", root() / "sub");
  expect_escape(call("fs_write", R"({"path":"sub/planted.txt","content":"x"})", o), "fs_write", "sub/planted.txt");
  EXPECT_FALSE(fs::exists(outside() / "planted.txt"));
}

TEST_F(SandboxFs, SymlinksThatStayInsideTheRootAreFollowed) {
  write(root() / "real.txt", "real\n");
  fs::create_directories(root() / "d");
  fs::create_symlink("../real.txt", root() / "d" / "alias");
  fs::create_symlink("d", root() / "dlink");
  auto read = call("fs_read", R"({"path":"dlink/alias"})");
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, "real\n");
}

TEST_F(SandboxFs, RecursiveListAndSearchDoNotDescendIntoLinks) {
  fs::create_symlink(outside(), root() / "out");
  write(root() / "a.txt", "nothing secret here\n");
  auto list = call("fs_list", R"({"recursive":true})");
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(*list, "file 20 a.txt\nlink - out -> " + outside().string() + "\n");
  auto search = call("fs_search", R"({"pattern":"top secret"})");
  ASSERT_TRUE(search) << search.error().message;
  EXPECT_EQ(*search, "no matches for 'top secret' (1 files searched)");
}

TEST(SandboxFsFallback, TheComponentWalkRefusesEveryEscapeAndFollowsInsideLinks) {
  TempDir temp;
  const fs::path root = temp.path() / "root";
  write(temp.path() / "outside" / "secret.txt", "top secret\n");
  write(root / "real.txt", "real\n");
  fs::create_directories(root / "d");
  fs::create_symlink("../real.txt", root / "d" / "alias");
  fs::create_symlink(temp.path() / "outside" / "secret.txt", root / "absolute-link");
  fs::create_symlink("../outside/secret.txt", root / "relative-link");
  fs::create_symlink("../outside", root / "dir-link");
  fs::create_symlink("loop", root / "loop");
  tools::sandbox::UniqueFd root_fd(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(root_fd);
  using tools::sandbox::Resolver;
  for (auto resolver : {Resolver::automatic, Resolver::walk}) {
    auto open_in_root = [&](const std::string& path) {
      return tools::sandbox::open_beneath(root_fd.get(), path, O_RDONLY, "t", path, 0, resolver);
    };
    for (const char* escape : {"absolute-link", "relative-link", "dir-link/secret.txt", "d/../../outside/secret.txt"}) {
      auto fd = open_in_root(escape);
      ASSERT_FALSE(fd) << escape;
      EXPECT_EQ(fd.error().message, std::string("t: path '") + escape +
                                        "' escapes the root (through '..' or a symbolic link that leads outside it)");
    }
    auto loop = open_in_root("loop");
    ASSERT_FALSE(loop);
    EXPECT_EQ(loop.error().message,
              "t: path 'loop' has too many levels of symbolic links (or names a /proc magic link)");
    auto inside = open_in_root("d/alias");
    ASSERT_TRUE(inside) << inside.error().message;
    char buffer[16] = {};
    EXPECT_EQ(read(inside->get(), buffer, sizeof buffer), 5);
    EXPECT_EQ(std::string(buffer), "real\n");
  }
}

// ---- Reading ----

TEST_F(SandboxFs, ReadReturnsTheTextOfTheLinesAsked) {
  write(root() / "f.txt", "one\ntwo\nthree\nfour\n");
  EXPECT_EQ(*call("fs_read", R"({"path":"f.txt"})"), "one\ntwo\nthree\nfour\n");
  EXPECT_EQ(*call("fs_read", R"({"path":"f.txt","offset":2,"limit":2})"), "two\nthree\n");
  EXPECT_EQ(*call("fs_read", R"({"path":"f.txt","offset":4})"), "four\n");
  expect_error(call("fs_read", R"({"path":"f.txt","offset":9})"), "fs_read: path 'f.txt' has 4 lines; offset 9 is past the end");
}

TEST_F(SandboxFs, ReadTruncatesAtMaxReadBytesWithAMarkerSayingWhereToContinue) {
  write(root() / "f.txt", "line one\nline two\nline three\n");
  auto o = options();
  o.max_read_bytes = 12;
  EXPECT_EQ(*call("fs_read", R"({"path":"f.txt"})", o),
            "line one\nlin\n[fs_read: truncated at 12 bytes (max_read_bytes); continue with offset=2]");
}

TEST_F(SandboxFs, ReadErrorsNameThePathAndTheProblem) {
  fs::create_directories(root() / "dir");
  write(root() / "bin", std::string("\x7f" "ELF\0\0\0", 7));
  expect_error(call("fs_read", R"({"path":"missing.txt"})"), "fs_read: path 'missing.txt' does not exist");
  expect_error(call("fs_read", R"({"path":"dir"})"), "fs_read: path 'dir' is a directory (use fs_list)");
  expect_error(call("fs_read", R"({"path":"bin"})"),
               "fs_read: path 'bin' looks like a binary file (7 bytes); fs_read returns text");
  auto bad = call("fs_read", R"({"path":"x","extra":1})");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("unknown property 'extra'"), std::string::npos) << bad.error().message;
}

TEST_F(SandboxFs, ReadDoesNotHangOnAFifo) {
  ASSERT_EQ(mkfifo((root() / "fifo").c_str(), 0600), 0);
  expect_error(call("fs_read", R"({"path":"fifo"})"), "fs_read: path 'fifo' is not a regular file");
}

// ---- Writing and editing ----

TEST_F(SandboxFs, WriteReplacesAFileWholeAndLeavesNoTemporaryFile) {
  write(root() / "f.txt", "old content that is longer\n");
  fs::permissions(root() / "f.txt", fs::perms(0640));
  EXPECT_EQ(*call("fs_write", R"({"path":"f.txt","content":"new\n"})"), "wrote 4 bytes to 'f.txt'");
  EXPECT_EQ(slurp(root() / "f.txt"), "new\n");
  EXPECT_EQ(fs::status(root() / "f.txt").permissions(), fs::perms(0640));
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(root())) names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"f.txt"});
}

TEST_F(SandboxFs, WriteMakesMissingParentsOnlyWhenAsked) {
  expect_error(call("fs_write", R"({"path":"a/b/c.txt","content":"x"})"), "fs_write: path 'a/b/c.txt' does not exist");
  EXPECT_EQ(*call("fs_write", R"({"path":"a/b/c.txt","content":"x","create_dirs":true})"), "wrote 1 bytes to 'a/b/c.txt'");
  EXPECT_EQ(slurp(root() / "a" / "b" / "c.txt"), "x");
}

TEST_F(SandboxFs, WriteRefusesOversizedContentLinksAndDirectories) {
  auto o = options();
  o.max_write_bytes = 3;
  expect_error(call("fs_write", R"({"path":"f.txt","content":"toolong"})", o),
               "fs_write: path 'f.txt' cannot take 7 bytes of content: the limit is 3 bytes (max_write_bytes)");
  write(root() / "real.txt", "real");
  fs::create_symlink("real.txt", root() / "alias");
  fs::create_directories(root() / "dir");
  expect_error(call("fs_write", R"({"path":"alias","content":"x"})"),
               "fs_write: path 'alias' is a symbolic link; write to the path of the file it points to instead");
  expect_error(call("fs_write", R"({"path":"dir","content":"x"})"), "fs_write: path 'dir' is a directory");
  expect_error(call("fs_write", R"({"path":".","content":"x"})"), "fs_write: path '.' is the root directory, not a file");
  EXPECT_EQ(slurp(root() / "real.txt"), "real");
}

TEST_F(SandboxFs, EditReplacesTextThatOccursExactlyOnce) {
  write(root() / "f.txt", "alpha beta gamma\n");
  EXPECT_EQ(*call("fs_edit", R"({"path":"f.txt","old_text":"beta","new_text":"BETA"})"),
            "replaced 1 occurrence in 'f.txt'");
  EXPECT_EQ(slurp(root() / "f.txt"), "alpha BETA gamma\n");
}

TEST_F(SandboxFs, EditRefusesMissingOrAmbiguousTextUnlessReplaceAll) {
  write(root() / "f.txt", "a-a-a\n");
  expect_error(call("fs_edit", R"({"path":"f.txt","old_text":"zzz","new_text":"y"})"),
               "fs_edit: path 'f.txt' does not contain old_text");
  expect_error(call("fs_edit", R"({"path":"f.txt","old_text":"a","new_text":"b"})"),
               "fs_edit: path 'f.txt' contains old_text 3 times; include more surrounding text to make it unique, or set "
               "replace_all");
  expect_error(call("fs_edit", R"({"path":"f.txt","old_text":"","new_text":"b"})"), "fs_edit: old_text must not be empty");
  EXPECT_EQ(slurp(root() / "f.txt"), "a-a-a\n");
  EXPECT_EQ(*call("fs_edit", R"({"path":"f.txt","old_text":"a","new_text":"b","replace_all":true})"),
            "replaced 3 occurrences in 'f.txt'");
  EXPECT_EQ(slurp(root() / "f.txt"), "b-b-b\n");
}

// ---- Listing and searching ----

TEST_F(SandboxFs, ListShowsTypesAndSizesSortedByPath) {
  write(root() / "b.txt", "bb");
  write(root() / "a.txt", "a");
  write(root() / "sub" / "c.txt", "ccc");
  EXPECT_EQ(*call("fs_list", "{}"), "file 1 a.txt\nfile 2 b.txt\ndir - sub/\n");
  EXPECT_EQ(*call("fs_list", R"({"recursive":true})"), "file 1 a.txt\nfile 2 b.txt\ndir - sub/\nfile 3 sub/c.txt\n");
  EXPECT_EQ(*call("fs_list", R"({"path":"sub"})"), "file 3 sub/c.txt\n");
  auto o = options();
  o.max_list_entries = 2;
  EXPECT_EQ(*call("fs_list", "{}", o), "file 1 a.txt\nfile 2 b.txt\n[fs_list: truncated after 2 entries (max_list_entries)]\n");
  expect_error(call("fs_list", R"({"path":"a.txt"})"), "fs_list: path 'a.txt' has a component that is not a directory");
}

TEST_F(SandboxFs, SearchFindsLiteralSubstringsAsPathLineText) {
  write(root() / "a.txt", "first\nneedle (here)\nlast needle (here)\n");
  write(root() / "sub" / "b.md", "no\nneedle (here)\n");
  EXPECT_EQ(*call("fs_search", R"j({"pattern":"needle (here)"})j"),
            "a.txt:2: needle (here)\na.txt:3: last needle (here)\nsub/b.md:2: needle (here)\n");
  EXPECT_EQ(*call("fs_search", R"({"pattern":"needle","glob":"*.md"})"), "sub/b.md:2: needle (here)\n");
  EXPECT_EQ(*call("fs_search", R"({"pattern":"needle","path":"sub/b.md"})"), "sub/b.md:2: needle (here)\n");
}

TEST_F(SandboxFs, SearchWithRegexMatchesExpressionsAndRefusesInvalidOnes) {
  write(root() / "a.txt", "id=12\nid=x\n");
  EXPECT_EQ(*call("fs_search", R"({"pattern":"id=[0-9]+$","regex":true})"), "a.txt:1: id=12\n");
  auto bad = call("fs_search", R"({"pattern":"(unclosed","regex":true})");
  ASSERT_FALSE(bad);
  EXPECT_TRUE(bad.error().message.starts_with("fs_search: pattern '(unclosed' is not a valid regex")) << bad.error().message;
}

TEST_F(SandboxFs, SearchStopsAtMaxMatchesWithAMarker) {
  write(root() / "a.txt", "x\nx\nx\nx\n");
  auto o = options();
  o.max_search_matches = 2;
  EXPECT_EQ(*call("fs_search", R"({"pattern":"x"})", o),
            "a.txt:1: x\na.txt:2: x\n[fs_search: stopped after 2 matches (max_search_matches)]\n");
}

// ---- Users and read-only ----

TEST_F(SandboxFs, PerUserConfinesEachUserToTheirOwnDirectory) {
  auto o = options();
  o.per_user = true;
  EXPECT_TRUE(call("fs_write", R"({"path":"notes.txt","content":"alice's"})", o, "alice"));
  EXPECT_EQ(slurp(root() / "alice" / "notes.txt"), "alice's");
  expect_error(call("fs_read", R"({"path":"notes.txt"})", o, "bob"), "fs_read: path 'notes.txt' does not exist");
  expect_error(call("fs_read", R"({"path":"../alice/notes.txt"})", o, "bob"),
               "fs_read: path '../alice/notes.txt' escapes the root");
  expect_error(call("fs_read", R"({"path":")" + (root() / "alice" / "notes.txt").string() + "\"}", o, "bob"),
               "fs_read: path '" + (root() / "alice" / "notes.txt").string() + "' escapes the root");
  EXPECT_EQ(*call("fs_list", "{}", o, "bob"), "(empty directory)");
  EXPECT_EQ(*call("fs_read", R"({"path":"notes.txt"})", o, "alice"), "alice's");
}

TEST_F(SandboxFs, PerUserRefusesUserIdsThatAreNotOneSafePathComponent) {
  auto o = options();
  o.per_user = true;
  for (const std::string user : {"..", ".", "a/b", ""}) {
    auto result = call("fs_list", "{}", o, user);
    ASSERT_FALSE(result) << user;
    EXPECT_EQ(result.error().code, ErrorCode::invalid_argument);
    EXPECT_TRUE(result.error().message.starts_with("fs_list: user id '" + user + "' cannot name a directory"));
  }
  EXPECT_FALSE(fs::exists(root() / "a"));
}

TEST_F(SandboxFs, ReadOnlyLeavesOutWriteAndEdit) {
  auto o = options();
  o.read_only = true;
  auto tools = tools::filesystem_tools(o);
  ASSERT_TRUE(tools) << tools.error().message;
  std::vector<std::string> names;
  for (const auto& t : *tools) names.push_back(t.name());
  EXPECT_EQ(names, (std::vector<std::string>{"fs_read", "fs_list", "fs_search"}));
  auto write_tool = tools::fs_write_tool(o);
  ASSERT_FALSE(write_tool);
  EXPECT_EQ(write_tool.error().message, "fs_write: the filesystem tools are read_only");
  EXPECT_FALSE(tools::fs_edit_tool(o));
}

TEST_F(SandboxFs, OptionsWithoutAUsableRootAreRefused) {
  auto missing = tools::filesystem_tools(FilesystemOptions{});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(missing.error().message, "filesystem tools: options.root is required");
  auto o = options();
  o.root = root() / "nope";
  EXPECT_FALSE(tools::filesystem_tools(o));
}

TEST_F(SandboxFs, EveryToolHasAClosedObjectSchema) {
  auto tools = tools::filesystem_tools(options());
  ASSERT_TRUE(tools);
  for (const auto& t : *tools) {
    auto schema = nlohmann::json::parse(t.spec().parameters_schema);
    EXPECT_EQ(schema["type"], "object") << t.name();
    EXPECT_EQ(schema["additionalProperties"], false) << t.name();
  }
}

// ---- Through an agent ----

TEST_F(SandboxFs, AnAgentReadsAFileAndTheTextReachesTheModel) {
  write(root() / "hello.txt", "hello from the sandbox\n");
  auto tools = tools::filesystem_tools(options());
  ASSERT_TRUE(tools);
  auto model = providers::scripted({
      {.text = "", .tool_calls = {ToolCall{"c1", "fs_read", R"({"path":"hello.txt"})"},
                                  ToolCall{"c2", "fs_read", R"({"path":"../outside/secret.txt"})"}}},
      {.text = "read it"},
  });
  auto agent = Agent::create({.name = "reader", .model = model, .tools = *tools}).value();
  auto result = shared_runtime().run(agent, "read hello.txt");
  ASSERT_TRUE(result) << result.error().describe();
  EXPECT_EQ(result->output, "read it");
  ASSERT_EQ(result->messages.size(), 5u);  // user, assistant, 2 tool results, assistant
  EXPECT_EQ(result->messages[2].content, "hello from the sandbox\n");
  EXPECT_TRUE(result->messages[3].is_error);
  EXPECT_EQ(result->messages[3].content, "error: fs_read: path '../outside/secret.txt' escapes the root");
}
