"""Regenerate coldstart/model.npz, the "model" the coldstart study's function
loads at import time, as the seed's function loads distilgpt2.

A toy next-token model: token embeddings (2048 x 64), a hidden layer
(64 x 256) and an output layer (256 x 2048), float16, from a fixed seed. It
is small enough to commit (about 1.3 MB) and, with NumPy's import, makes the
cold start measurably heavier than a warm call. Run from experiments/:

    /usr/bin/python3 coldstart/make_model.py

(the committed file was made with NumPy 1.24).
"""
import os

import numpy as np

VOCAB, DIM, HIDDEN, SEED = 2048, 64, 256, 2
rng = np.random.default_rng(SEED)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model.npz")
np.savez(out,
         embeddings=rng.standard_normal((VOCAB, DIM)).astype(np.float16),
         w1=(rng.standard_normal((DIM, HIDDEN)) / np.sqrt(DIM)).astype(np.float16),
         w2=(rng.standard_normal((HIDDEN, VOCAB)) / np.sqrt(HIDDEN)).astype(np.float16))
print(out, os.path.getsize(out), "bytes")
