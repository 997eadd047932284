"""Streams a greedy continuation from the demo model (or the model given) through the C API.

    MINILLM_LIBRARY=build/src/libminillm_c.so python3 bindings/python/example.py [MODEL] [PROMPT]
"""

import pathlib
import sys

import minillm

model_path = sys.argv[1] if len(sys.argv) > 1 else \
    pathlib.Path(__file__).resolve().parents[2] / "models" / "stories260K.gguf"
prompt = sys.argv[2] if len(sys.argv) > 2 else "Once upon a time"

with minillm.Model(model_path) as model:
    print(f"vocabulary: {model.n_vocab} tokens; prompt ids: {model.tokenize(prompt)}",
          file=sys.stderr)
    with model.session(n_ctx=256) as session:
        print(prompt, end="", flush=True)
        session.generate(prompt, temperature=0, max_tokens=48,
                         on_piece=lambda piece, token: print(piece, end="", flush=True) or True)
        print()
