// minillm::Error carries a kind that tells failures apart without their message: each kind here
// comes from a real failing call (a truncated or missing file, an unsupported tensor type or
// architecture, a full context, bad sampler parameters), and a file's name appears once in a
// tokenizer error whichever layer noticed the problem.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "minillm/error.h"
#include "minillm/generate.h"
#include "minillm/gguf.h"
#include "minillm/model.h"
#include "minillm/sampler.h"
#include "minillm/session.h"
#include "minillm/tokenizer.h"
#include "test_data.h"
#include "test_util.h"

namespace minillm {
namespace {

const std::filesystem::path& demo_model() {
  static const auto p = test::shared_file("models/stories260K.gguf");
  return p;
}

// The kind and message of the minillm::Error that fn() throws; fails the test when none is.
struct Thrown {
  ErrorKind kind = ErrorKind::Internal;
  std::string message = "<no error>";
};
template <class F>
Thrown thrown_by(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return {e.kind(), e.what()};
  }
  ADD_FAILURE() << "no minillm::Error was thrown";
  return {};
}

size_t occurrences(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

// The demo model rewritten with `edit` applied to a writer that already holds its metadata; the
// tensors follow, with `retype` naming one whose type becomes `type` (zero bytes of that type).
std::filesystem::path rewrite_demo(const test::TempDir& dir, const std::string& name,
                                   const std::function<void(GGUFWriter&)>& edit,
                                   const std::string& retype = "",
                                   TensorType type = TensorType::F32) {
  const GGUFFile src = GGUFFile::open(demo_model());
  GGUFWriter w(uint32_t(src.alignment()));
  for (const auto& [key, value] : src.metadata())
    if (key != "general.alignment") w.set(key, value);
  edit(w);
  for (const GGUFTensorInfo& t : src.tensors()) {
    if (t.name != retype) {
      w.add_tensor_view(t.name, t.type, t.shape, t.data);
      continue;
    }
    uint64_t rows = 1;
    for (size_t d = 1; d < t.shape.size(); ++d) rows *= t.shape[d];
    w.add_tensor(t.name, type, t.shape, std::vector<uint8_t>(rows * row_bytes(type, t.shape[0])));
  }
  const auto path = dir.path / (name + ".gguf");
  w.write(path);
  return path;
}

TEST(ErrorKind, NamesAreDistinctAndTheDefaultIsInvalidArgument) {
  std::set<std::string> names;
  for (ErrorKind k :
       {ErrorKind::InvalidArgument, ErrorKind::BadFile, ErrorKind::Unsupported,
        ErrorKind::ContextFull, ErrorKind::Cancelled, ErrorKind::OutOfMemory, ErrorKind::Internal})
    names.insert(error_kind_name(k));
  EXPECT_EQ(names.size(), 7u);
  EXPECT_STREQ(error_kind_name(ErrorKind::ContextFull), "context full");

  const Error plain("message");
  EXPECT_EQ(plain.kind(), ErrorKind::InvalidArgument);
  EXPECT_STREQ(plain.what(), "message");
  const Error typed(ErrorKind::BadFile, "broken");
  EXPECT_EQ(typed.kind(), ErrorKind::BadFile);
  EXPECT_STREQ(typed.what(), "broken");
  // Still a std::runtime_error for code that catches those.
  EXPECT_THROW(throw Error(ErrorKind::Internal, "x"), std::runtime_error);
}

TEST(ErrorKind, TruncatedOrMissingFilesAreBadFile) {
  REQUIRE_SHARED_FILE(demo_model());
  const test::TempDir dir;
  const std::string bytes = test::read_file_bytes(demo_model());
  for (size_t keep : {size_t(3), size_t(100), bytes.size() / 2, bytes.size() - 1}) {
    SCOPED_TRACE(keep);
    const auto path = dir.path / "truncated.gguf";
    test::write_file_bytes(path, bytes.substr(0, keep));
    const Thrown model = thrown_by([&] { Model::load(path); });
    EXPECT_EQ(model.kind, ErrorKind::BadFile) << model.message;
    EXPECT_EQ(thrown_by([&] { Tokenizer::from_file(path); }).kind, ErrorKind::BadFile);
  }
  const Thrown missing = thrown_by([&] { Model::load(dir.path / "absent.gguf"); });
  EXPECT_EQ(missing.kind, ErrorKind::BadFile) << missing.message;
  EXPECT_EQ(thrown_by([&] { Model::load(dir.path); }).kind, ErrorKind::BadFile);  // no config.json
}

TEST(ErrorKind, UnsupportedTensorTypesAndArchitecturesAreUnsupported) {
  REQUIRE_SHARED_FILE(demo_model());
  const test::TempDir dir;
  // Q8_1 is a valid GGUF type, but only an activation format: no matrix kernel reads it.
  const auto q8_1 = rewrite_demo(
      dir, "q8_1", [](GGUFWriter&) {}, "blk.0.attn_q.weight", TensorType::Q8_1);
  const Thrown type = thrown_by([&] { Model::load(q8_1); });
  EXPECT_EQ(type.kind, ErrorKind::Unsupported) << type.message;
  EXPECT_NE(type.message.find("Q8_1"), std::string::npos) << type.message;

  const auto gpt2 = rewrite_demo(dir, "gpt2", [](GGUFWriter& w) {
    w.set("general.architecture", GGUFValue(std::string("gpt2")));
  });
  const Thrown arch = thrown_by([&] { Model::load(gpt2); });
  EXPECT_EQ(arch.kind, ErrorKind::Unsupported) << arch.message;

  const auto bert = rewrite_demo(dir, "bert", [](GGUFWriter& w) {
    w.set("tokenizer.ggml.model", GGUFValue(std::string("bert")));
  });
  const Thrown kind = thrown_by([&] { Tokenizer::from_file(bert); });
  EXPECT_EQ(kind.kind, ErrorKind::Unsupported) << kind.message;
  EXPECT_EQ(occurrences(kind.message, bert.string()), 1u) << kind.message;
}

// The message names the file exactly once, whether the GGUF reading or the vocabulary check
// found the problem, and the kind survives the added context.
TEST(ErrorKind, TokenizerErrorsNameTheFileOnce) {
  REQUIRE_SHARED_FILE(demo_model());
  const test::TempDir dir;
  const auto no_bos = rewrite_demo(dir, "bad_bos", [](GGUFWriter& w) {  // found by from_vocab
    w.set("tokenizer.ggml.bos_token_id", GGUFValue(uint32_t(100000)));
  });
  const Thrown vocab = thrown_by([&] { Tokenizer::from_file(no_bos); });
  EXPECT_EQ(vocab.kind, ErrorKind::BadFile) << vocab.message;
  EXPECT_EQ(vocab.message.rfind(no_bos.string() + ": tokenizer: ", 0), 0u) << vocab.message;
  EXPECT_EQ(occurrences(vocab.message, no_bos.string()), 1u) << vocab.message;

  const auto bad_type = rewrite_demo(dir, "bad_type", [](GGUFWriter& w) {  // found reading GGUF
    w.set("tokenizer.ggml.model", GGUFValue(uint32_t(7)));
  });
  const Thrown read = thrown_by([&] { Tokenizer::from_file(bad_type); });
  EXPECT_EQ(read.kind, ErrorKind::BadFile) << read.message;
  EXPECT_EQ(occurrences(read.message, bad_type.string()), 1u) << read.message;
  EXPECT_NE(read.message.find("tokenizer.ggml.model"), std::string::npos) << read.message;
}

TEST(ErrorKind, AFullContextIsContextFull) {
  REQUIRE_SHARED_FILE(demo_model());
  const auto model = Model::load(demo_model());
  Session session(model, {.n_ctx = 4, .n_threads = 1});
  const std::vector<int32_t> five = {1, 403, 407, 261, 378};
  const Thrown eval = thrown_by([&] { session.eval(five); });
  EXPECT_EQ(eval.kind, ErrorKind::ContextFull) << eval.message;
  EXPECT_EQ(session.n_past(), 0u);

  const Tokenizer tokenizer = Tokenizer::from_file(demo_model());
  GenerateParams params;
  const Thrown prompt =
      thrown_by([&] { generate(session, tokenizer, "Once upon a time", params); });
  EXPECT_EQ(prompt.kind, ErrorKind::ContextFull) << prompt.message;
}

TEST(ErrorKind, BadArgumentsAreInvalidArgument) {
  std::vector<SamplerParams> bad(3);
  bad[0].temperature = -1;
  bad[1].top_p = 1.5f;
  bad[2].repeat_penalty = 0;
  for (const SamplerParams& p : bad) {
    const Thrown t = thrown_by([&] { Sampler s(p); });
    EXPECT_EQ(t.kind, ErrorKind::InvalidArgument) << t.message;
  }
  REQUIRE_SHARED_FILE(demo_model());
  const auto model = Model::load(demo_model());
  Session session(model, {.n_ctx = 8, .n_threads = 1});
  EXPECT_EQ(thrown_by([&] { session.eval(std::vector<int32_t>{512}); }).kind,
            ErrorKind::InvalidArgument);
  EXPECT_EQ(thrown_by([&] { session.eval({}); }).kind, ErrorKind::InvalidArgument);
  EXPECT_EQ(thrown_by([&] { Session(model, {.n_threads = -1}); }).kind, ErrorKind::InvalidArgument);
}

}  // namespace
}  // namespace minillm
