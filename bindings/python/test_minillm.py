"""Tests of the Python binding (minillm.py), run by CTest: the library, the model and the
mini-llm command come from the environment (MINILLM_LIBRARY, MINILLM_MODEL, MINILLM_CLI).
Expected ids, logits and text are computed by the mini-llm command, i.e. by the C++ library
without the C API or Python in between."""

import os
import pathlib
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import minillm  # noqa: E402

PROMPT = "Once upon a time"


def required_env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"set {name} (CTest does)")
    return value


def cli(*args):
    return subprocess.run([required_env("MINILLM_CLI"), *args], check=True,
                          capture_output=True).stdout


class BindingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model_path = required_env("MINILLM_MODEL")
        cls.model = minillm.Model(cls.model_path)

    @classmethod
    def tearDownClass(cls):
        cls.model.close()

    def test_tokenize_matches_the_cpp_tokenizer(self):
        expected = [int(t) for t in cli("tokenize", "-m", self.model_path, "-p", PROMPT).split()]
        self.assertEqual(self.model.tokenize(PROMPT), expected)
        self.assertEqual(self.model.tokenize(PROMPT, add_bos=False), expected[1:])
        self.assertEqual(expected[0], self.model.bos)
        self.assertEqual(self.model.tokenize("", add_bos=False), [])
        self.assertEqual(self.model.detokenize(expected[1:]), PROMPT)
        self.assertEqual(b"".join(self.model.token_to_piece(t) for t in expected[1:]),
                         b" " + PROMPT.encode())

    def test_eval_gives_the_cpp_logits_exactly(self):
        ids = self.model.tokenize(PROMPT)
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / "logits.f32"
            cli("logits", "-m", self.model_path, "--ids", " ".join(map(str, ids)), "-o", str(out))
            raw = out.read_bytes()
        expected = list(struct.unpack(f"<{len(raw) // 4}f", raw))
        with self.model.session(n_ctx=64, n_threads=1) as session:
            logits = session.eval(ids)
            self.assertEqual(session.n_past, len(ids))
        self.assertEqual(len(logits), self.model.n_vocab)
        self.assertEqual(list(logits), expected)

    def test_greedy_generation_matches_the_cpp_generate(self):
        expected = cli("generate", "-m", self.model_path, "-p", PROMPT, "-n", "24", "--temp", "0",
                       "--no-echo").decode()
        pieces = []
        with self.model.session(n_ctx=128) as session:
            text = session.generate(PROMPT, temperature=0, max_tokens=24,
                                    on_piece=lambda piece, token: pieces.append(piece) or True)
        self.assertEqual(text, expected)
        self.assertEqual("".join(pieces), expected)

    def test_a_callback_can_stop_generation_early(self):
        full = self.model.session().generate(PROMPT, temperature=0, max_tokens=24)
        seen = []

        def stop_after_three(piece, token):
            seen.append((piece, token))
            return len(seen) < 3

        with self.model.session(n_ctx=128) as session:
            text = session.generate(PROMPT, temperature=0, max_tokens=24, on_piece=stop_after_three)
            self.assertEqual(session.n_past, len(self.model.tokenize(PROMPT)) + 2)
        self.assertEqual(len(seen), 3)
        self.assertEqual(text, "".join(piece for piece, _ in seen))
        self.assertTrue(full.startswith(text) and len(text) < len(full))
        self.assertTrue(all(0 <= token < self.model.n_vocab for _, token in seen))

    def test_an_exception_in_the_callback_is_raised(self):
        def boom(piece, token):
            raise KeyError("from the callback")

        with self.model.session(n_ctx=128) as session:
            with self.assertRaises(KeyError):
                session.generate(PROMPT, temperature=0, max_tokens=8, on_piece=boom)

    def test_failures_raise_errors_carrying_the_status(self):
        cases = [
            (minillm.Status.BAD_FILE, lambda: minillm.Model("/nonexistent/minillm/model.gguf")),
            (minillm.Status.CONTEXT_FULL,
             lambda: self.model.session(n_ctx=4).eval([1, 2, 3, 4, 5])),
            (minillm.Status.INVALID_ARGUMENT, lambda: self.model.session().eval([])),
            (minillm.Status.INVALID_ARGUMENT,
             lambda: self.model.session().eval([self.model.n_vocab])),
            (minillm.Status.INVALID_ARGUMENT,
             lambda: self.model.session().generate(PROMPT, temperature=-1)),
            (minillm.Status.INVALID_ARGUMENT, lambda: self.model.session(n_threads=-1)),
            (minillm.Status.INVALID_ARGUMENT, lambda: self.model.token_to_piece(-1)),
            (minillm.Status.CONTEXT_FULL,
             lambda: self.model.session(n_ctx=2).generate("Once upon a time there was")),
        ]
        for status, call in cases:
            with self.subTest(status=status):
                with self.assertRaises(minillm.Error) as caught:
                    call()
                self.assertEqual(caught.exception.status, status)
                self.assertTrue(caught.exception.message)
        with self.assertRaises(minillm.Error) as caught:
            minillm.Model("/nonexistent/minillm/model.gguf")
        self.assertIn("/nonexistent/minillm/model.gguf", str(caught.exception))

    def test_a_closed_model_or_session_is_an_error_not_a_crash(self):
        model = minillm.Model(self.model_path)
        session = model.session(n_ctx=16)
        model.close()
        self.assertEqual(len(session.eval([1])), self.model.n_vocab)  # the session keeps the model
        session.close()
        with self.assertRaises(minillm.Error):
            session.eval([1])
        with self.assertRaises(minillm.Error):
            model.tokenize(PROMPT)


if __name__ == "__main__":
    unittest.main()
