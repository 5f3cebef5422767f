"""Reference implementation of the coldstart study's "generate" task.

As the seed's Lambda function loads its language model at import time, this
module imports NumPy and loads coldstart/model.npz when the container starts
(the cold start pays for it), then each call only runs the model: greedy
generation of max_new_tokens tokens after the prompt.
"""
import os
import zlib

import numpy as np

_ROOT = os.environ.get("LAMBDA_TASK_ROOT", os.path.dirname(os.path.abspath(__file__)))
with np.load(os.path.join(_ROOT, "coldstart", "model.npz")) as _f:
    EMBEDDINGS = _f["embeddings"].astype(np.float32)
    W1 = _f["w1"].astype(np.float32)
    W2 = _f["w2"].astype(np.float32)
VOCAB = EMBEDDINGS.shape[0]
CONTEXT = 8


def tokenize(text):
    return [zlib.crc32(word.lower().encode("utf-8")) % VOCAB for word in text.split()]


def generate(tokens, n):
    tokens = list(tokens) or [0]
    for _ in range(n):
        x = EMBEDDINGS[tokens[-CONTEXT:]].mean(axis=0)
        logits = np.tanh(x @ W1) @ W2
        tokens.append(int(np.argmax(logits)))
    return tokens


def handler(event, context):
    prompt = event.get("prompt", "Hello, world!")
    n = int(event.get("max_new_tokens", 16))
    prompt_tokens = tokenize(prompt)
    new = generate(prompt_tokens, n)[len(prompt_tokens) or 1:]
    return {"prompt": prompt, "completion": " ".join("w%d" % t for t in new), "tokens": new}
