"""Helpers for the tests that compare us with the official implementation's
fixture (``tests/fixtures/parity_small``, written by FunASR)."""

from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "parity_small"


def ref(name):
    """Loads one reference array of the fixture."""
    return np.load(FIXTURE / name)


def assert_close(name, ours):
    """Checks ``ours`` against the reference within ``1e-4 * max(1, max|ref|)``."""
    expected = ref(name)
    ours = ours.detach().float().cpu().numpy()
    assert ours.shape == expected.shape, f"{name}: {ours.shape} vs {expected.shape}"
    tol = 1e-4 * max(1.0, float(np.abs(expected).max()))
    diff = float(np.abs(ours - expected).max())
    assert diff <= tol, f"{name}: max diff {diff:.3e} > {tol:.3e}"
