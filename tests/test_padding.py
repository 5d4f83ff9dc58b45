"""The one padding helper: right-padded values and a mask of real positions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlcl_core.padding import pad


def test_pad_ints_arrays_and_tensors():
    out, mask = pad([[1, 2, 3], [4]], value=9, dtype=torch.long)
    assert out.tolist() == [[1, 2, 3], [4, 9, 9]] and out.dtype == torch.long
    assert mask.tolist() == [[True, True, True], [True, False, False]]
    waves, wmask = pad([np.ones(2, np.float32), np.zeros(0, np.float32)], min_len=1)
    assert waves.shape == (2, 2) and waves.dtype == torch.float32
    assert wmask.tolist() == [[True, True], [False, False]]
    feats = [
        torch.ones(2, 3, dtype=torch.float16),
        torch.full((1, 3), 2.0, dtype=torch.float16),
    ]
    padded, fmask = pad(feats)
    assert padded.shape == (2, 2, 3) and padded.dtype == torch.float16
    assert padded[1, 0].tolist() == [2.0] * 3 and padded[1, 1].tolist() == [0.0] * 3
    assert fmask.tolist() == [[True, True], [True, False]]
    wide, wide_mask = pad(feats, value=-1, min_len=4, dtype=torch.float32)
    assert wide.shape == (2, 4, 3) and wide.dtype == torch.float32
    assert wide[0, 2:].eq(-1).all() and wide[1, 1:].eq(-1).all()
    assert wide_mask.sum(1).tolist() == [2, 1]
    with pytest.raises(ValueError, match="no sequences"):
        pad([])
