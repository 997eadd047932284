// Multi-turn chat keeps the KV cache: the second turn evaluates only its own tokens.
#include <gtest/gtest.h>

#include <array>
#include <regex>

#include "cli_runner.h"
#include "minillm/chat.h"
#include "minillm/error.h"
#include "test_data.h"

namespace minillm {
namespace {

// ChatML, written out from its published description: <|im_start|>ROLE\nCONTENT<|im_end|>\n.
const char* kChatMl =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const std::filesystem::path kModel = test::shared_file("models/stories260K.gguf");

std::vector<int32_t> tokens_of(const Tokenizer& tok, const std::string& text) {
  return tok.encode(text, {.add_bos = false, .add_eos = false, .parse_special = true});
}

TEST(Chat, SecondTurnEvaluatesOnlyItsOwnTokens) {
  REQUIRE_SHARED_FILE(kModel);
  const auto model = Model::load(kModel);
  const Tokenizer tok = Tokenizer::from_path(kModel);
  Session session(model, {.n_ctx = 512, .n_threads = 2});
  ChatOptions o;
  o.generate.max_tokens = 12;
  o.generate.sampling.temperature = 0;
  Chat chat(session, tok, ChatTemplate::parse(kChatMl), o);

  const auto r1 = chat.send("Hello there");
  const std::string first_prompt =
      "<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n";
  // BOS (the template does not write it) + the first prompt.
  EXPECT_EQ(chat.last_turn().prompt_tokens_evaluated, 1 + tokens_of(tok, first_prompt).size());
  EXPECT_EQ(chat.last_turn().prompt_tokens_reused, 0u);
  ASSERT_EQ(r1.stop, StopReason::MaxTokens);
  const uint64_t after_first = session.tokens_evaluated();
  const uint32_t cached = session.n_past();
  EXPECT_EQ(cached, 1 + tokens_of(tok, first_prompt).size() + 11);  // the 12th is not evaluated yet

  const auto r2 = chat.send("Tell me more");
  // New: the last answer token, then the end of turn one and the second prompt.
  const std::string delta =
      "<|im_end|>\n<|im_start|>user\nTell me more<|im_end|>\n<|im_start|>assistant\n";
  const size_t expected_new = 1 + tokens_of(tok, delta).size();
  EXPECT_EQ(chat.last_turn().prompt_tokens_evaluated, expected_new);
  EXPECT_EQ(chat.last_turn().prompt_tokens_reused, cached);
  EXPECT_EQ(session.tokens_evaluated() - after_first, expected_new + r2.tokens.size() - 1);

  ASSERT_EQ(chat.messages().size(), 4u);
  EXPECT_EQ(chat.messages()[1].role, "assistant");
  EXPECT_EQ(chat.messages()[1].content, r1.text);
}

TEST(Chat, SaveLoadAndReset) {
  REQUIRE_SHARED_FILE(kModel);
  const auto model = Model::load(kModel);
  const Tokenizer tok = Tokenizer::from_path(kModel);
  Session session(model, {.n_ctx = 512, .n_threads = 1});
  ChatOptions o;
  o.system = "Be kind.";
  o.generate.max_tokens = 4;
  o.generate.sampling.temperature = 0;
  Chat chat(session, tok, ChatTemplate::parse(kChatMl), o);
  chat.send("Hi");
  const std::string saved = chat.to_json();
  chat.reset();
  ASSERT_EQ(chat.messages().size(), 1u);  // the system message stays
  EXPECT_EQ(session.n_past(), 0u);
  chat.load_json(saved);
  ASSERT_EQ(chat.messages().size(), 3u);
  EXPECT_EQ(chat.messages()[0].content, "Be kind.");
  EXPECT_EQ(chat.messages()[1].content, "Hi");
  chat.send("Again");  // evaluates the loaded conversation from the start
  EXPECT_EQ(chat.last_turn().prompt_tokens_reused, 0u);
  EXPECT_THROW(chat.load_json("{\"role\": 1}"), Error);
  EXPECT_THROW(chat.load_json("not json"), Error);
}

TEST(Chat, AConversationPastTheContextIsAnErrorAndTheTurnIsDropped) {
  REQUIRE_SHARED_FILE(kModel);
  const auto model = Model::load(kModel);
  Session session(model, {.n_ctx = 16, .n_threads = 1});
  ChatOptions o;
  o.generate.max_tokens = 4;
  Chat chat(session, Tokenizer::from_path(kModel), ChatTemplate::parse(kChatMl), o);
  EXPECT_THROW(chat.send("A message far too long to fit into sixteen tokens of context"), Error);
  EXPECT_TRUE(chat.messages().empty());
}

TEST(CliChat, ScriptedTwoTurnsReuseTheCache) {
  REQUIRE_SHARED_FILE(kModel);
  const auto tpl = test::temp_path("chatml.jinja");
  test::write_file_bytes(tpl, kChatMl);
  const auto r = test::run_cli(
      {"chat", "-m", kModel.string(), "--chat-template", tpl.string(), "-n", "12", "--temp", "0"},
      "Hello there\nTell me more\n");
  std::filesystem::remove(tpl);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Tokenizer tok = Tokenizer::from_path(kModel);
  const std::regex turn(R"(\[turn (\d+): (\d+) new prompt tokens evaluated, (\d+) reused)");
  std::vector<std::array<unsigned long, 3>> turns;
  for (std::sregex_iterator it(r.err.begin(), r.err.end(), turn), end; it != end; ++it)
    turns.push_back({std::stoul((*it)[1]), std::stoul((*it)[2]), std::stoul((*it)[3])});
  ASSERT_EQ(turns.size(), 2u) << r.err;
  const std::string delta =
      "<|im_end|>\n<|im_start|>user\nTell me more<|im_end|>\n<|im_start|>assistant\n";
  EXPECT_EQ(turns[1][1], 1 + tokens_of(tok, delta).size());
  EXPECT_EQ(turns[1][2], turns[0][1] + 11);
  EXPECT_EQ(test::count_lines(r.out), 2);  // one answer line per turn
}

}  // namespace
}  // namespace minillm
