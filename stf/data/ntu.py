"""NTU RGB+D 60 / 120 raw ``.skeleton`` files (Kinect v2 text format).

A file is whitespace-separated text::

    <frame count>
    per frame:  <body count>
      per body: <bodyID> <9 more body fields>            (10 fields; the id is a ~7e16 integer)
                <joint count>                             (25)
                25 x <x y z depthX depthY colorX colorY orientW orientX orientY orientZ trackingState>

:func:`read_raw_bodies` returns what the SGN / CTR-GCN script ``get_raw_skes_data.py`` builds for one
file (per body id: joints, colours, frame interval, motion). :func:`read_file` turns it into a
:class:`~stf.sample.Sample` of the two most active bodies. :func:`read_dataset` reads a directory of
files as NTU 60 or NTU 120 with the standard splits and the official missing-skeleton list.

Speed (``python -m stf bench reader``): the file is checked for stray characters and split into
tokens with array operations, the frame / body structure is walked on the token offsets (a few
Python steps per frame and per body), and only the numbers the caller needs are converted, in
blocks, by :func:`_parse_numbers` (x, y, z for :func:`read_file`; colorX / colorY as well for
:func:`read_raw_bodies`). The other columns are checked for their count and character set (digits,
``.``, ``-``, ``+``, ``e``, ``E``, whitespace) but not converted.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np

from ..errors import DataError
from ..sample import Sample
from .base import DatasetSource, check_file

# --- class names and splits (facts of the data set) ---------------------------------------------
CLASS_NAMES_120 = [
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw",
    "sitting down", "standing up (from sitting position)", "clapping", "reading", "writing",
    "tear up paper", "wear jacket", "take off jacket", "wear a shoe", "take off a shoe", "wear on glasses",
    "take off glasses", "put on a hat/cap", "take off a hat/cap", "cheer up", "hand waving",
    "kicking something", "reach into pocket", "hopping (one foot jumping)", "jump up",
    "make a phone call/answer phone", "playing with phone/tablet", "typing on a keyboard",
    "pointing to something with finger", "taking a selfie", "check time (from watch)",
    "rub two hands together", "nod head/bow", "shake head", "wipe face", "salute",
    "put the palms together", "cross hands in front (say stop)", "sneeze/cough", "staggering", "falling",
    "touch head (headache)", "touch chest (stomachache/heart pain)", "touch back (backache)",
    "touch neck (neckache)", "nausea or vomiting condition", "use a fan (with hand or paper)/feeling warm",
    "punching/slapping other person", "kicking other person", "pushing other person",
    "pat on back of other person", "point finger at the other person", "hugging other person",
    "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
    # NTU RGB+D 120 adds actions 61-120
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball", "tennis bat swing",
    "juggling table tennis balls", "hush (quite)", "flick hair", "thumb up", "thumb down", "make ok sign",
    "make victory sign", "staple book", "counting money", "cutting nails", "cutting paper (using scissors)",
    "snapping fingers", "open bottle", "sniff (smell)", "squat down", "toss a coin", "fold paper",
    "ball up paper", "play magic cube", "apply cream on face", "apply cream on hand back", "put on bag",
    "take off bag", "put something into a bag", "take something out of a bag", "open a box",
    "move heavy objects", "shake fist", "throw up cap/hat", "hands up (both hands)", "cross arms",
    "arm circles", "arm swings", "running on the spot", "butt kicks (kick backward)", "cross toe touch",
    "side kick", "yawn", "stretch oneself", "blow nose", "hit other person with something",
    "wield knife towards other person", "knock over other person (hit with body)",
    "grab other person\u2019s stuff", "shoot at other person with a gun", "step on foot", "high-five",
    "cheers and drink", "carry something with other person", "take a photo of other person",
    "follow other person", "whisper in other person\u2019s ear", "exchange things with other person",
    "support somebody with hand", "finger-guessing game (playing rock-paper-scissors)",
]
CLASS_NAMES_60 = CLASS_NAMES_120[:60]

# Cross-subject training performers; every other performer is test.
XSUB60_TRAIN = frozenset({1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38})
XSUB120_TRAIN = XSUB60_TRAIN | frozenset({
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93,
    94, 95, 97, 98, 100, 103})
XVIEW_TRAIN_CAMERAS = frozenset({2, 3})  # camera 1 is test
NTU60_MAX_SETUP, NTU60_MAX_ACTION = 17, 60
PROTOCOLS = {60: ("xsub", "xview"), 120: ("xsub", "xset")}

NAME_RE = re.compile(r"^S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})$")
MISSING_FILES = {60: "NTU_RGBD_samples_with_missing_skeletons.txt",
                 120: "NTU_RGBD120_samples_with_missing_skeletons.txt"}
EMBEDDED_MISSING = Path(__file__).with_name("ntu_missing_skeletons.txt")

# --- file structure ------------------------------------------------------------------------------
NUM_JOINTS = 25
BODY_FIELDS = 10  # bodyID + 9 body-level fields
JOINT_FIELDS = 12
BODY_TOKENS = BODY_FIELDS + 1 + NUM_JOINTS * JOINT_FIELDS  # 311 numbers per body and frame
XYZ_COLS, COLOR_COLS = (0, 1, 2), (5, 6)
_JOINT_COUNT_TEXT = str(NUM_JOINTS).encode()
_ALLOWED = b"0123456789.-+eE \t\r\n"
_BAD_CHAR = re.compile(rb"[^0-9.\-+eE \t\r\n]")
_TOKEN = re.compile(rb"[^ \t\r\n]+")  # once the characters are checked, anything else is whitespace


def parse_name(name: str) -> dict:
    """``S001C002P003R002A013`` -> {setup, camera, performer, replication, action}; {} when it does not match."""
    m = NAME_RE.match(name)
    if not m:
        return {}
    return dict(zip(("setup", "camera", "performer", "replication", "action"), (int(g) for g in m.groups())))


# --- loading --------------------------------------------------------------------------------------
# A file is read into a buffer with _DOT spaces before it and _WIN after it, so that a 16-byte window
# around any number stays inside the buffer. Offsets below are offsets in this padded buffer.
_WIN, _DOT = 16, 5


def _load(path: str | Path) -> tuple[Path, bytearray]:
    """(path, padded buffer): the file's bytes with ``_DOT`` spaces before and ``_WIN`` spaces after."""
    p = check_file(path)
    try:
        with open(p, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            buf = bytearray(_DOT + size + _WIN)
            buf[:_DOT], buf[_DOT + size:] = b" " * _DOT, b" " * _WIN
            got = fh.readinto(memoryview(buf)[_DOT:_DOT + size])
            if got != size or fh.read(1):
                raise DataError(p, "the file changed while it was being read")
    except OSError as e:
        raise DataError(p, f"cannot read: {e.strerror or e}") from e
    _check_chars(buf, p)
    return p, buf


def _line_of(buf: bytearray, offset: int) -> int:
    return buf.count(b"\n", 0, offset) + 1


def _check_chars(buf: bytearray, where: Path) -> None:
    """Raise DataError at the first byte that cannot appear in a .skeleton file."""
    if not buf.translate(None, _ALLOWED):
        return
    i = _BAD_CHAR.search(buf).start()
    b = buf[i]
    what = f"non-ASCII byte 0x{b:02x}" if b >= 0x80 else f"unexpected character {chr(b)!r}"
    raise DataError(where, f"not NTU .skeleton text: {what} at line {_line_of(buf, i)} (byte {i - _DOT}); "
                           "the file holds only numbers (NaN, inf and text are invalid)")


# --- vectorised number conversion ----------------------------------------------------------------
# Each number is gathered as a 16-byte window whose column _DOT holds its decimal point (or, for an
# integer, the byte after its last digit): up to 5 characters before the point, 10 after. Every
# column then has a fixed power of ten, so with the non-digits zeroed the values of all numbers are
# one matrix-vector product (over pairs of columns, each pair read as a 2-digit number first). The
# weights are scaled by 1e10 so that every product and partial sum is an integer below 2**53 (exact
# in float64, whatever the summation order); the one division by 1e10 is correctly rounded, so the
# result equals strtod's. Numbers that do not fit the window (longer, exponents, stray characters)
# are flagged and converted one by one by the caller.
_COLS = np.arange(_WIN)
# column weights x 1e10 are 1e14 ... 1e10 for the 5 integer columns, 0 for the point, 1e9 ... 1 for the
# 10 fraction columns; a pair (2k, 2k + 1) is worth 10 * digit_2k + digit_2k+1 times the weight of
# column 2k + 1 (the pair holding the point is 10 * units digit, hence 1e9)
_PAIR_WEIGHTS = np.array([1e13, 1e11, 1e9, 1e8, 1e6, 1e4, 1e2, 1.0])
# _SPANS[lo * 17 + hi]: the 16-byte row mask of columns lo <= j < hi (as one void item, for fast gathers)
_SPANS = np.ascontiguousarray(
    ((_COLS >= np.arange(_WIN + 1)[:, None, None]) & (_COLS < np.arange(_WIN + 1)[None, :, None]))
    .reshape(-1, _WIN)).view(f"V{_WIN}").ravel()
# numbers converted per call: keeps the (block, 16) temporaries small and cache-resident (measured:
# blocks of 2048-4096 are about 20% faster than a whole file at once)
_BLOCK = 2048
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _rows(windows: np.ndarray, at: np.ndarray) -> np.ndarray:
    """(K, 16) uint8: the 16-byte windows starting at buffer offsets ``at`` (K,)."""
    return windows[at].view(np.uint8).reshape(-1, _WIN)


def _any_per_row(mask: np.ndarray) -> np.ndarray:
    """(K,) bool: whether each row of a contiguous (K, 16) bool array has a True (two 64-bit words per row)."""
    words = mask.view(np.uint64).reshape(-1, 2)
    return (words[:, 0] | words[:, 1]) != 0


def _parse_numbers(buf: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convert K number tokens at once.

    ``buf``: the padded file buffer as uint8; ``starts``: (K,) int64 offsets of the tokens in it.
    Returns ``(values, ok)``, both (K,): float64 values, and whether the token was a plain decimal that
    the fast path converted (rows with ``ok`` False hold garbage and must be converted by the caller).
    """
    windows = np.ndarray((len(buf) - _WIN + 1,), dtype=f"V{_WIN}", buffer=buf, strides=(1,))
    head = _rows(windows, starts)  # the token's first 16 bytes
    length = np.argmax(head <= 32, axis=1)  # 0 (never a whitespace column) when longer than the window
    is_dot = head == 46
    first_dot = np.argmax(is_dot, axis=1)  # 0 when there is no dot
    has_dot = ((first_dot > 0) | is_dot[:, 0]) & (first_dot < length)
    point = np.where(has_dot, first_dot, length)  # the (possibly virtual) point, from the token start
    negative = head[:, 0] == 45
    # the digits' columns in the window aligned on the point: [lo, hi), the sign left out
    lo, hi = _DOT - point + negative, _DOT + length - point
    fits = (lo >= 0) & (hi <= _WIN)
    span = _SPANS[np.maximum(lo, 0) * (_WIN + 1) + np.minimum(hi, _WIN)].view(bool).reshape(-1, _WIN)
    point += starts - _DOT  # where the aligned window starts
    digit = _rows(windows, point) - np.uint8(48)
    is_digit = (digit < 10) & span
    stray = span & ~is_digit  # characters other than digits inside the token, ...
    stray[:, _DOT] = False  # ... the point excepted
    ok = fits & _any_per_row(is_digit) & ~_any_per_row(stray)
    digit *= is_digit
    values = ((digit[:, 0::2] * np.uint8(10) + digit[:, 1::2]).astype(np.float64) @ _PAIR_WEIGHTS) / 1e10
    values[negative] = -values[negative]
    return values, ok


# --- tokens and structure ------------------------------------------------------------------------
def _token_starts(buf: bytearray) -> np.ndarray:
    """(K,) int64: offsets of the K whitespace-separated tokens of a padded buffer."""
    solid = np.frombuffer(buf, np.uint8) > 32  # False at both ends: the padding is spaces
    start = np.empty(len(buf), bool)
    start[0] = False
    np.greater(solid[1:], solid[:-1], out=start[1:])
    return np.flatnonzero(start)


class _Tokens:
    """The tokens of one padded file buffer, with checked access to single tokens."""

    def __init__(self, buf: bytearray, where: Path):
        self.buf, self.where = buf, where
        self.starts = _token_starts(buf)
        self.count = len(self.starts)

    def text(self, i: int) -> bytes:
        return _TOKEN.match(self.buf, self.starts[i]).group()

    def line(self, i: int) -> int:
        return _line_of(self.buf, int(self.starts[min(i, self.count - 1)]))

    def integer(self, i: int, what: str) -> int:
        """Token ``i`` as a non-negative int; DataError naming ``what`` otherwise (or past the end)."""
        if i >= self.count:
            raise DataError(self.where, f"truncated: the file ends where the {what} should be")
        tok = self.text(i)
        try:
            value = int(tok)
        except ValueError as e:
            raise DataError(self.where, f"{what} {tok.decode()!r} at line {self.line(i)} is not a whole number") from e
        if value < 0:
            raise DataError(self.where, f"{what} {value} at line {self.line(i)} is negative")
        return value


_ID_DIGITS, _ID_WIN = 20, 24  # body ids are unsigned 64-bit integers; bytes looked at for one


def _small_count(tok: _Tokens, pos: int, what: str) -> int:
    """Token ``pos`` as a non-negative int, read directly when it is a single digit."""
    if pos < tok.count:
        first, after = tok.buf[tok.starts[pos]], tok.buf[tok.starts[pos] + 1]
        if 48 <= first <= 57 and after <= 32:
            return first - 48
    return tok.integer(pos, what)


def _check_bodies(tok: _Tokens, body_pos: np.ndarray, body_frame: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Check the id and joint count of each body record; ids as strings in order of first appearance.

    ``body_pos``: (R,) token index of each record's body id; ``body_frame``: (R,) 1-based file frame
    of each record. Returns ``(body_ids, body)``: the distinct ids and, per record, its index in them.
    Raises DataError at the first record (in file order) with a bad id, a joint count other than 25,
    or an id seen twice in one frame.
    """
    buf = np.frombuffer(tok.buf, np.uint8)
    starts = tok.starts[body_pos]
    count_at = tok.starts[body_pos + BODY_FIELDS]
    good_count = buf[count_at + len(_JOINT_COUNT_TEXT)] <= 32
    for k, char in enumerate(_JOINT_COUNT_TEXT):
        good_count &= buf[count_at + k] == char
    rows = np.ndarray((len(buf) - _ID_WIN + 1,), dtype=f"V{_ID_WIN}", buffer=buf, strides=(1,))[starts]
    rows = rows.view(np.uint8).reshape(-1, _ID_WIN)
    length = np.argmax(rows <= 32, axis=1)  # 0: no end within the window
    inside = np.arange(_ID_WIN) < length[:, None]
    bad_id = (length == 0) | (length > _ID_DIGITS) | ((rows - np.uint8(48) >= 10) & inside).any(axis=1)
    for r in np.flatnonzero(bad_id | ~good_count):  # in file order; joint counts like "025" are fine
        pos, frame = int(body_pos[r]), int(body_frame[r])
        if bad_id[r]:
            raise DataError(tok.where, f"body id {tok.text(pos).decode()!r} at line {tok.line(pos)} (frame {frame}) "
                                       f"is not an integer of at most {_ID_DIGITS} digits; corrupt body line")
        joints = tok.integer(pos + BODY_FIELDS, f"joint count of frame {frame}")
        if joints != NUM_JOINTS:
            raise DataError(tok.where, f"frame {frame}: body {tok.text(pos).decode()} has {joints} joints at line "
                                       f"{tok.line(pos + BODY_FIELDS)}; NTU Kinect v2 bodies have {NUM_JOINTS}")
    keys = (rows * inside).tobytes()  # each id, zero-padded to _ID_WIN bytes
    index: dict[bytes, int] = {}
    body = np.array([index.setdefault(keys[r * _ID_WIN:(r + 1) * _ID_WIN], len(index)) for r in range(len(rows))])
    seen = body_frame * len(index) + body
    if len(np.unique(seen)) != len(seen):
        r = next(r for r in range(1, len(seen)) if seen[r] in seen[:r])
        raise DataError(tok.where, f"frame {int(body_frame[r])}: body {tok.text(int(body_pos[r])).decode()} "
                                   "appears twice")
    return [key.rstrip(b"\0").decode() for key in index], body


def _flat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([part.ravel() for part in parts])


def _walk_runs(tok: _Tokens, frames: int, body_pos: list[np.ndarray], body_frame: list[np.ndarray],
               dropped: list[int]) -> None:
    """Walk the ``frames`` frames after the frame count, appending per run of frames with the same body
    count the (frames, bodies) token indices of the body ids and their 1-based file frames, or the
    0-based indices of the frames when they are empty. Raises DataError when the structure does not
    use the tokens exactly."""
    buf, starts, count = np.frombuffer(tok.buf, np.uint8), tok.starts, tok.count
    pos, f = 1, 0
    while f < frames:
        bodies = _small_count(tok, pos, f"body count of frame {f + 1}/{frames}")
        step = 1 + bodies * BODY_TOKENS  # tokens per frame
        run = min(frames - f, (count - pos) // step)  # frames of this size that fit in the tokens left
        if run == 0:
            raise DataError(tok.where, f"frame {f + 1}/{frames} declares {bodies} bodies ({step - 1} numbers) but "
                                       f"only {count - pos - 1} numbers follow (line {tok.line(pos)}); truncated or "
                                       "corrupt")
        if bodies <= 9:  # how many of the next frames declare the same single-digit count
            at = starts[pos:pos + run * step:step]
            same = (buf[at] == 48 + bodies) & (buf[at + 1] <= 32)
            same[0] = True
            run = run if same.all() else int(np.argmin(same))
        else:
            run = 1
        frame_pos = pos + step * np.arange(run)
        if bodies:
            body_pos.append(frame_pos[:, None] + 1 + BODY_TOKENS * np.arange(bodies))
            body_frame.append(np.broadcast_to((f + 1 + np.arange(run))[:, None], (run, bodies)))
        else:
            dropped.extend(range(f, f + run))
        pos, f = pos + run * step, f + run
    if pos != count:
        raise DataError(tok.where, f"{count - pos} unexpected numbers after the {frames} declared frames "
                                   f"(from line {tok.line(pos)}); corrupt or a wrong frame count")


def _walk(tok: _Tokens) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Walk frames and bodies on the token table.

    Returns ``(body_ids, rec_body, rec_frame, rec_pos, dropped)``: body ids in order of first
    appearance; one record per (body, non-empty frame), as (R,) arrays: the body's index in
    ``body_ids``, the 0-based index of the frame among non-empty frames, and the token index of the
    body's id; and the 0-based indices (in the file) of frames with no body. Declared counts are
    checked against the number of tokens before anything is sized by them, and the frames must use
    every token. Consecutive frames with the same body count are walked together, with array
    operations (one step for a whole file whose frames all hold the same number of bodies).
    """
    where, count = tok.where, tok.count
    if count == 0:
        raise DataError(where, "empty file (no frame count)")
    frames = tok.integer(0, "frame count")
    if frames == 0:
        raise DataError(where, "zero frames")
    if frames > count - 1:
        raise DataError(where, f"declares {frames} frames but holds only {count} numbers; truncated or corrupt")
    body_pos: list[np.ndarray] = []  # per run of frames: (frames, bodies) token index of each body id
    body_frame: list[np.ndarray] = []  # the same shape: 1-based file frame
    dropped: list[int] = []
    try:
        _walk_runs(tok, frames, body_pos, body_frame, dropped)
    except DataError as e:
        error = e
    else:
        error = None
    if error is not None:
        if body_pos:  # a bad body earlier in the file explains a broken structure later: report it first
            _check_bodies(tok, _flat(body_pos), _flat(body_frame))
        raise error
    if not body_pos:
        raise DataError(where, f"no body in any of the {frames} frames")
    rec_pos, rec_file_frame = _flat(body_pos), _flat(body_frame)
    body_ids, rec_body = _check_bodies(tok, rec_pos, rec_file_frame)
    # index among non-empty frames: file frames minus the empty frames before them
    rec_frame = rec_file_frame - 1 - np.searchsorted(np.asarray(dropped, dtype=np.int64), rec_file_frame - 1)
    return body_ids, rec_body, rec_frame, rec_pos, dropped


def _joint_values(tok: _Tokens, rec_pos: np.ndarray, columns: tuple[int, ...]) -> np.ndarray:
    """(R, 25, len(columns)) float32: the given joint columns of every joint of the R body records."""
    offsets = BODY_FIELDS + 1 + JOINT_FIELDS * np.arange(NUM_JOINTS)[:, None] + np.asarray(columns)
    index = (rec_pos[:, None] + offsets.ravel()).ravel()
    starts = tok.starts[index]
    buf = np.frombuffer(tok.buf, np.uint8)
    values, ok = np.empty(len(index)), np.empty(len(index), bool)
    for i in range(0, len(index), _BLOCK):
        values[i:i + _BLOCK], ok[i:i + _BLOCK] = _parse_numbers(buf, starts[i:i + _BLOCK])
    for i in np.flatnonzero(~ok):  # exponents, long or malformed numbers: one by one
        text = _TOKEN.match(tok.buf, starts[i]).group()
        try:
            values[i] = float(text)
        except ValueError as e:
            raise DataError(tok.where, f"malformed number {text.decode()!r} at line "
                                       f"{_line_of(tok.buf, int(starts[i]))}") from e
        if not abs(values[i]) <= _FLOAT32_MAX:
            raise DataError(tok.where, f"number {text.decode()!r} at line {_line_of(tok.buf, int(starts[i]))} is not "
                                       "finite in float32")
    return values.astype(np.float32).reshape(len(rec_pos), NUM_JOINTS, len(columns))


class _Bodies(NamedTuple):
    """One file's bodies as records: one record per (body, kept frame), in file order."""

    name: str  # file stem
    num_frames: int  # T: frames holding at least one body
    body_ids: list[str]  # in order of first appearance
    body: np.ndarray  # (R,) int: index in body_ids of each record
    frame: np.ndarray  # (R,) int: 0-based index among the T kept frames
    values: np.ndarray  # (R, 25, C) float32: the joint columns asked for
    dropped: list[int]  # 0-based file indices of frames without a body


def _read_bodies(path: str | Path, columns: tuple[int, ...]) -> _Bodies:
    p, buf = _load(path)
    tok = _Tokens(buf, p)
    body_ids, rec_body, rec_frame, rec_pos, dropped = _walk(tok)
    return _Bodies(p.stem, int(rec_frame[-1]) + 1, body_ids, rec_body, rec_frame, _joint_values(tok, rec_pos, columns),
                   dropped)


def _motion(joints: np.ndarray) -> np.float32:
    """SGN's activity measure of one body: the summed per-axis variance of its (N, 3) float32 joints."""
    return np.sum(np.var(joints, axis=0))


# --- public readers ------------------------------------------------------------------------------
def read_raw_bodies(path: str | Path) -> dict:
    """One ``.skeleton`` file -> the dict SGN / CTR-GCN's ``get_raw_skes_data.py`` builds for it.

    Returns ``{"name": file stem, "num_frames": T, "data": {bodyID: body}, "dropped_frames": [...]}``
    where frames holding no body are dropped (their 0-based file indices are in ``dropped_frames``)
    and ``T`` counts the remaining frames. Body ids stay strings (they are ~7e16, beyond float
    precision), in order of first appearance. Each body is::

        joints   (T_b * 25, 3) float32   x, y, z in metres, frame-major
        colors   (T_b, 25, 2)  float32   colorX, colorY in pixels of the 1920x1080 RGB video
        interval list of T_b ints        0-based indices, among the T kept frames, where the body is
        motion   float32                 sum over x, y, z of the variance of joints; only when the
                                         file has more than one body id (as SGN)

    One difference from SGN: a body that vanishes and comes back gets its true frame indices in
    ``interval`` (SGN numbers its frames consecutively from its first one).
    """
    r = _read_bodies(path, XYZ_COLS + COLOR_COLS)
    data = {}
    for b, bid in enumerate(r.body_ids):
        sel = np.flatnonzero(r.body == b)
        data[bid] = {"joints": r.values[sel, :, :3].reshape(-1, 3),
                     "colors": np.ascontiguousarray(r.values[sel, :, 3:]),
                     "interval": r.frame[sel].tolist()}
    if len(data) > 1:
        for body in data.values():
            body["motion"] = _motion(body["joints"])
    return {"name": r.name, "num_frames": r.num_frames, "data": data, "dropped_frames": r.dropped}


def read_file(path: str | Path) -> Sample:
    """One ``.skeleton`` file -> Sample of shape (2, T, 25, 3), layout ``ntu25``, channels ``xyz``.

    ``T`` counts the frames holding at least one body (see :func:`read_raw_bodies`). The two most
    active bodies (largest ``motion``; ties keep the order of first appearance) are kept, most active
    first, each at its own frames; frames where a body is absent are zero, and the second person is
    all zeros when the file has one body. ``label`` is the action number - 1 and ``meta`` is parsed
    from the ``SsssCcccPpppRrrrAaaa`` name (None and {} for other names).
    """
    r = _read_bodies(path, XYZ_COLS)
    records = [np.flatnonzero(r.body == b) for b in range(len(r.body_ids))]
    if len(records) > 1:
        motion = [_motion(r.values[sel].reshape(-1, 3)) for sel in records]
        records = [records[b] for b in sorted(range(len(records)), key=lambda b: -motion[b])[:2]]
    data = np.zeros((2, r.num_frames, NUM_JOINTS, 3), np.float32)
    for m, sel in enumerate(records):
        data[m, r.frame[sel]] = r.values[sel]
    meta = parse_name(r.name)
    label = meta["action"] - 1 if 1 <= meta.get("action", 0) <= len(CLASS_NAMES_120) else None
    return Sample(data=data, layout="ntu25", channels="xyz", label=label, sample_id=r.name, meta=meta,
                  source=str(path)).validate()


# --- data sets -----------------------------------------------------------------------------------
def split_of(meta: dict, protocol: str, ntu: int) -> str:
    """``"train"`` or ``"test"``: the part of a sample (``meta`` from :func:`parse_name`) in a protocol.

    NTU 60: ``xsub`` (training performers :data:`XSUB60_TRAIN`), ``xview`` (train cameras 2 and 3).
    NTU 120: ``xsub`` (:data:`XSUB120_TRAIN`), ``xset`` (even setups train, odd setups test).
    """
    if protocol == "xsub":
        train = meta["performer"] in (XSUB60_TRAIN if ntu == 60 else XSUB120_TRAIN)
    elif protocol == "xview" and ntu == 60:
        train = meta["camera"] in XVIEW_TRAIN_CAMERAS
    elif protocol == "xset" and ntu == 120:
        train = meta["setup"] % 2 == 0
    else:
        raise DataError(None, f"NTU {ntu} has no protocol {protocol!r}; it has {', '.join(PROTOCOLS[ntu])}")
    return "train" if train else "test"


def _version(ntu) -> int:
    if str(ntu).strip() in ("60", "120"):
        return int(str(ntu).strip())
    raise DataError(None, f"option ntu={ntu!r}: expected 60 or 120")


def embedded_missing(ntu: int) -> set[str]:
    """The official missing-skeleton names shipped with the package (see ``ntu_missing_skeletons.txt``)."""
    names = set()
    for line in EMBEDDED_MISSING.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            setup, _, rest = line.partition(":")
            names.update(setup + entry for entry in rest.split())
    if ntu == 60:
        names = {n for n in names if parse_name(n)["setup"] <= NTU60_MAX_SETUP
                 and parse_name(n)["action"] <= NTU60_MAX_ACTION}
    return names


def read_missing_list(path: str | Path) -> set[str]:
    """Sample names, one per line, from an official ``*_samples_with_missing_skeletons.txt`` file."""
    p = check_file(path)
    try:
        names = p.read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(p, f"unreadable missing-skeleton list: {e}") from e
    bad = [n for n in names if not NAME_RE.match(n)]
    if bad:
        raise DataError(p, f"not a list of NTU sample names: {bad[0]!r}")
    return set(names)


def find_missing_list(root: Path, ntu: int, missing: str | Path | None) -> tuple[set[str], str]:
    """The missing-skeleton names for a data set at ``root`` and where they came from.

    ``missing`` is a list file, ``"none"`` (no list), or None: then ``metadata/<official name>`` inside
    ``root``, next to it or one level further up, else the list embedded in the package.
    """
    if missing is not None:
        if str(missing).strip().lower() == "none":
            return set(), "none"
        return read_missing_list(missing), str(missing)
    for folder in (root, root.parent, root.parent.parent):
        candidate = folder / "metadata" / MISSING_FILES[ntu]
        if candidate.is_file():
            return read_missing_list(candidate), str(candidate)
    return embedded_missing(ntu), f"embedded {MISSING_FILES[ntu]}"


def read_dataset(path: str | Path, ntu: str | int = "60", missing: str | Path | None = None,
                 **unknown) -> DatasetSource:
    """A directory of ``.skeleton`` files (or its parent holding ``nturgb+d_skeletons/``) as NTU 60 / 120.

    ``ntu``: "60" (setups 1-17, actions 1-60; other files are left out) or "120". ``missing``: see
    :func:`find_missing_list`; listed samples are yielded as DataError so a conversion reports them as
    skipped. Splits: NTU 60 ``xsub`` / ``xview``, NTU 120 ``xsub`` / ``xset`` (see :func:`split_of`).
    Options may arrive as strings from the command line (``--opt ntu=120``).
    """
    if unknown:
        raise DataError(None, f"unknown option(s) for the ntu reader: {', '.join(sorted(unknown))}; "
                              "known: ntu, missing")
    version = _version(ntu)
    root = Path(path)
    if (root / "nturgb+d_skeletons").is_dir():
        root = root / "nturgb+d_skeletons"
    if not root.is_dir():
        raise DataError(root, "not a directory of NTU .skeleton files")
    files = sorted(root.glob("*.skeleton"))
    if not files:
        raise DataError(root, "no .skeleton files found")
    listed, listed_from = find_missing_list(root, version, missing)
    metas = {f: parse_name(f.stem) for f in files}
    notes = []
    if version == 60:
        kept = [f for f in files if not metas[f] or (metas[f]["setup"] <= NTU60_MAX_SETUP
                                                      and metas[f]["action"] <= NTU60_MAX_ACTION)]
        if not kept:
            raise DataError(root, f"all {len(files)} .skeleton files are NTU 120 only (setup > S{NTU60_MAX_SETUP:03d} "
                                  f"or action > A{NTU60_MAX_ACTION:03d}) and the reader reads NTU 60 by default: "
                                  "pass --opt ntu=120")
        if len(kept) < len(files):
            notes.append(f"read as NTU 60: left out {len(files) - len(kept)} of {len(files)} files that only NTU 120 "
                         f"has (setup > S{NTU60_MAX_SETUP:03d} or action > A{NTU60_MAX_ACTION:03d}); "
                         "--opt ntu=120 reads them")
        files = kept
    class_names = CLASS_NAMES_60 if version == 60 else CLASS_NAMES_120
    usable = [f for f in files if metas[f] and f.stem not in listed and metas[f]["action"] <= len(class_names)]
    splits = {proto: {"train": [], "test": []} for proto in PROTOCOLS[version]}
    for f in usable:
        for proto in PROTOCOLS[version]:
            splits[proto][split_of(metas[f], proto, version)].append(f.stem)

    def samples() -> Iterator[Sample | DataError]:
        for f in files:
            meta = metas[f]
            if not meta:
                yield DataError(f, "name is not an NTU sample name SsssCcccPpppRrrrAaaa")
            elif f.stem in listed:
                yield DataError(f, f"in the official list of samples with missing skeletons ({listed_from}); skipped")
            elif meta["action"] > len(class_names):
                yield DataError(f, f"action A{meta['action']:03d} is not an NTU {version} class")
            else:
                try:
                    yield read_file(f)
                except DataError as e:
                    yield e

    return DatasetSource(name=f"ntu{version}", source_format="ntu", layout="ntu25", channels="xyz",
                         class_names=list(class_names), samples=samples, splits=splits, num_samples=len(files),
                         extra={"max_persons": 2, "notes": notes})
