"""Small vectorised helpers: categorical draws, times of day, fixed-width text ids and
dates built as Arrow arrays (no Python loop over rows), money rounding, quantiles."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import optimize, stats

from crmlib.sample.world import DAY, HOUR, _norm


# ---------------------------------------------------------------------------------------
# Small vectorised helpers
# ---------------------------------------------------------------------------------------
def _categorical(rng: np.random.Generator, probs: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Draw one category per row; ``probs[g]`` are the probabilities of group ``g``."""
    probs = np.atleast_2d(np.asarray(probs, dtype=float))
    n_groups, k = probs.shape
    cum = np.cumsum(probs / probs.sum(axis=1, keepdims=True), axis=1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(n_groups)[:, None]).ravel()
    u = rng.random(len(group))
    idx = np.searchsorted(flat, u + group, side="right") - group * k
    return np.minimum(idx, k - 1).astype(np.int32)


def _argsort(secs: np.ndarray) -> np.ndarray:
    """Stable argsort of epoch seconds (ties keep their order), fast for large arrays."""
    secs = np.asarray(secs, dtype=np.int64)
    n = len(secs)
    shift = max(1, int(n).bit_length())
    if n == 0 or secs.min() < 0 or int(secs.max()).bit_length() + shift > 62:
        return np.argsort(secs, kind="stable")
    # unique keys (seconds, position): any sort algorithm gives the same, stable, order
    return np.sort((secs << shift) | np.arange(n, dtype=np.int64)) & ((1 << shift) - 1)


def _time_of_day(rng: np.random.Generator, n: int, profile: np.ndarray) -> np.ndarray:
    hours = _categorical(rng, _norm(profile), np.zeros(n, dtype=np.int64)).astype(np.int64)
    return hours * HOUR + rng.integers(0, HOUR, n)


def _spread(
    rng: np.random.Generator,
    lo: np.ndarray,
    hi: np.ndarray,
    profile: np.ndarray,
    weekdays: np.ndarray | None = None,
) -> np.ndarray:
    """Random times in ``[lo, hi]`` (seconds): uniform day, weekday weights, hour profile."""
    n = len(lo)
    dlo, dhi = lo // DAY, hi // DAY
    span = dhi - dlo + 1
    day = dlo + np.floor(rng.random(n) * span).astype(np.int64)
    if weekdays is not None:
        todo = np.arange(n)
        for _ in range(50):  # rejection sampling, a few rounds over the rejected rows
            wd = (day[todo] + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
            keep = rng.random(len(todo)) < weekdays[wd]
            todo = todo[~keep]
            if len(todo) == 0:
                break
            day[todo] = dlo[todo] + np.floor(rng.random(len(todo)) * span[todo]).astype(np.int64)
    t = day * DAY + _time_of_day(rng, n, profile)
    early = t < lo
    t[early] = lo[early] + rng.integers(60, 2 * HOUR, int(early.sum()))
    return np.minimum(t, hi)


_PAIRS = np.array([f"{i:02d}".encode() for i in range(100)], dtype="S2")


_QUADS = np.array([f"{i:04d}".encode() for i in range(10_000)], dtype="S4")


_TIMES = np.array(
    [f"T{h:02d}:{m:02d}:{s:02d}".encode() for h in range(24) for m in range(60) for s in range(60)],
    dtype="S9",
)


def _fixed_width(parts: list[np.ndarray], valid: np.ndarray | None = None) -> pa.Array:
    """Concatenate fixed-width byte-string arrays row-wise into an Arrow string array."""
    n = len(parts[0])
    rec = np.empty(n, dtype=[(f"f{i}", p.dtype) for i, p in enumerate(parts)])
    for i, p in enumerate(parts):
        rec[f"f{i}"] = p
    width = rec.dtype.itemsize
    offsets = np.arange(n + 1, dtype=np.int64) * width
    bitmap = None
    if valid is not None and not valid.all():
        bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    if offsets[-1] < 2**31 - 1:
        return pa.StringArray.from_buffers(
            n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(rec.view(np.uint8)), bitmap
        )
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(rec.view(np.uint8)), bitmap
    )


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """``numbers`` zero-padded to ``width`` digits, as a fixed-width byte-string array."""
    numbers = np.asarray(numbers, dtype=np.int64)
    n = len(numbers)
    n_chunks = math.ceil(width / 4)
    chunks = []  # least significant four digits first
    rest = numbers
    for _ in range(n_chunks):
        rest, low = np.divmod(rest, 10_000)
        chunks.append(_QUADS[low])
    head = width - 4 * (n_chunks - 1)
    if head < 4:  # trim the most significant chunk to the digits left
        top = chunks[-1].view("S1").reshape(n, 4)[:, 4 - head :]
        chunks[-1] = np.ascontiguousarray(top).view(f"S{head}").ravel()
    if len(chunks) == 1:
        return chunks[0]
    rec = np.empty(n, dtype=[(f"f{i}", c.dtype) for i, c in enumerate(reversed(chunks))])
    for i, c in enumerate(reversed(chunks)):
        rec[f"f{i}"] = c
    return rec.view(f"S{width}")


def _const(text: str, n: int) -> np.ndarray:
    raw = text.encode()
    return np.full(n, raw, dtype=f"S{len(raw)}")


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + ``numbers`` zero-padded to ``width`` digits, as an Arrow string array."""
    return _fixed_width([_const(prefix, len(numbers)), _digits(numbers, width)])


def _iso(secs: np.ndarray, valid: np.ndarray | None = None, *, with_time: bool = True) -> pa.Array:
    """ISO 8601 text (``YYYY-MM-DDTHH:MM:SS`` or ``YYYY-MM-DD``) for epoch seconds."""
    secs = np.asarray(secs, dtype=np.int64)
    if valid is not None:
        secs = np.where(valid, secs, 0)
    day = secs // DAY
    d0 = int(day.min()) if len(day) else 0
    d1 = int(day.max()) if len(day) else 0
    dates = np.arange(d0, d1 + 1).astype("datetime64[D]").astype("S10")
    parts = [dates[day - d0]]
    if with_time:
        parts.append(_TIMES[secs - day * DAY])
    return _fixed_width(parts, valid)


def _ts(secs: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """Arrow ``timestamp[s]`` array from epoch seconds (``valid`` False = null)."""
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(np.asarray(secs, dtype=np.int64), type=pa.timestamp("s"), mask=mask)


def _take(
    pool: tuple[str, ...] | list[str], idx: np.ndarray, valid: np.ndarray | None = None
) -> pa.Array:
    """Strings of ``pool`` at ``idx`` (``valid`` False = null)."""
    arr = pa.array(list(pool), type=pa.string()).take(pa.array(np.asarray(idx, dtype=np.int64)))
    if valid is not None and not np.all(valid):
        arr = pc.if_else(pa.array(valid), arr, pa.scalar(None, pa.string()))
    return arr


def _money(x: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float), 2)


def _float(x: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(np.asarray(x, dtype=float), type=pa.float64(), mask=mask)


def _int(x: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(np.asarray(x, dtype=np.int64), type=pa.int64(), mask=mask)


def _ln_quantile(mu: float, sigma: float, q: float) -> float:
    """Quantile ``q`` of a lognormal with log-mean ``mu`` and log-sd ``sigma``."""
    return float(stats.lognorm.ppf(q, sigma, scale=math.exp(mu)))


def _min_ln_quantile(mu1: float, s1: float, mu2: float, s2: float, q: float) -> float:
    """Quantile ``q`` of min(X1, X2) for independent lognormals (root of its CDF)."""

    def excess(log_t: float) -> float:  # P(min <= t) - q, increasing in log t
        return 1.0 - stats.norm.sf((log_t - mu1) / s1) * stats.norm.sf((log_t - mu2) / s2) - q

    return math.exp(optimize.brentq(excess, -30.0, 30.0, xtol=1e-14, rtol=1e-15))
