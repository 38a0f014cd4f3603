"""The checkpoint format: everything needed to rebuild, evaluate and explain a model.

A checkpoint is a ``torch.save``'d dict of tensors and plain Python values only, so it loads with
``torch.load(..., weights_only=True)`` (no code runs on load). Keys:

* ``schema`` = "stf-checkpoint", ``schema_version`` = 1
* ``config``: the full run config (see :mod:`stf.config`), ``model_config``: ModelConfig fields
* ``layout``, ``channels``, ``stream``, ``persons``, ``frames``, ``class_names``
* ``seed``, ``code_version``, ``created``
* ``epoch`` (completed epochs), ``global_step``
* ``model``: state dict; ``optimizer``: state dict or None (stripped in shipped checkpoints)
* ``rng``: {"torch": ByteTensor, "cuda": [ByteTensor]}  (data randomness derives from seed/epoch)
* ``mean_pose``: ``(C, V)`` training mean pose (for ``erase: mean_pose`` and attribution baselines)
* ``history``: per-epoch log dicts (losses, accuracy, throughput, focus cosine)
"""
from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError, STFError
from .model.fusion import fold_batchnorm
from .model.stf import STF, ModelConfig

SCHEMA = "stf-checkpoint"
SCHEMA_VERSION = 1
_REQUIRED = ("schema", "schema_version", "model_config", "model", "layout", "class_names", "channels", "config",
             "stream", "persons")


def save_checkpoint(ckpt: dict[str, Any], path: str | Path, fault_hook=None) -> None:
    """Write atomically: temporary file in the same directory, fsync, rename.

    ``fault_hook("before_rename")`` is called between the write and the rename (tests kill there).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())
        if fault_hook is not None:
            fault_hook("before_rename")
        os.replace(tmp, path)
    except BaseException:  # a failed write (unpicklable value, full disk) leaves no temporary file behind
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _load_failure(e: Exception) -> str:
    """What ``torch.load`` says, cut to its first sentence (cut archives never get here: see _check_archive)."""
    msg = str(e).strip()
    first = msg.splitlines()[0] if msg else ""
    first = first.split(". ")[0].rstrip(".")
    return f"{type(e).__name__}: {first[:200]}"


def _check_archive(p: Path) -> None:
    """A checkpoint is a zip archive (``torch.save``); refuse a cut one and one whose bytes changed.

    ``torch.load`` does not verify the archive's CRC-32s: flipped bytes inside a tensor loaded silently
    as other weights. ``testzip`` reads every member once and checks it.
    """
    try:
        with zipfile.ZipFile(p) as z:
            bad = z.testzip()
    except zipfile.BadZipFile as e:
        with open(p, "rb") as f:
            head = f.read(4)
        what = ("the file is truncated or corrupt: its zip archive has no central directory" if head == b"PK\x03\x04"
                else "not a zip archive, as torch.save writes")
        raise CheckpointError(f"{p}: not a loadable checkpoint ({what})") from e
    except (OSError, EOFError, RuntimeError, ValueError, NotImplementedError) as e:  # torn member headers etc.
        raise CheckpointError(f"{p}: not a loadable checkpoint (the file is truncated or corrupt: {e})") from e
    if bad is not None:
        raise CheckpointError(f"{p}: corrupt checkpoint: archive member {bad} fails its CRC-32 check")


def load_checkpoint(path: str | Path, map_location="cpu") -> dict[str, Any]:
    """Load with ``weights_only=True`` and check the schema; clear errors for anything else."""
    p = Path(path)
    if p.is_dir():
        raise CheckpointError(f"{p}: a folder, not a checkpoint file (e.g. {p / 'last.pt'})")
    if not p.is_file():
        if p.exists():  # a FIFO, socket or device: reading it could block or never end
            raise CheckpointError(f"{p}: not a regular file, so not a checkpoint")
        raise CheckpointError(f"{p}: no such checkpoint file")
    _check_archive(p)
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # unpickling errors come in many types
        raise CheckpointError(f"{p}: not a loadable checkpoint ({_load_failure(e)})") from e
    return check_checkpoint(ckpt, p)


def check_checkpoint(ckpt: Any, where: str | Path = "checkpoint") -> dict[str, Any]:
    """Check a loaded checkpoint dict's schema, required keys and class list; returns it."""
    if not isinstance(ckpt, dict) or ckpt.get("schema") != SCHEMA:
        raise CheckpointError(f"{where}: not an stf checkpoint (no schema {SCHEMA!r})")
    if ckpt.get("schema_version") != SCHEMA_VERSION:
        raise CheckpointError(f"{where}: checkpoint schema version {ckpt.get('schema_version')!r}, "
                              f"this code reads {SCHEMA_VERSION}")
    missing = [k for k in _REQUIRED if k not in ckpt]
    if missing:
        raise CheckpointError(f"{where}: checkpoint lacks {', '.join(missing)}")
    if not isinstance(ckpt["model"], dict) or not all(torch.is_tensor(v) for v in ckpt["model"].values()):
        raise CheckpointError(f"{where}: its model weights are not a mapping of tensors")
    cfg = ckpt.get("config")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("transforms"), dict) \
            or not isinstance(cfg["transforms"].get("test"), list):
        raise CheckpointError(f"{where}: its config lacks the test preprocessing (config.transforms.test)")
    names, mc = ckpt["class_names"], ckpt["model_config"]
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise CheckpointError(f"{where}: class_names must be a non-empty list of strings")
    if not isinstance(mc, dict) or mc.get("num_classes") != len(names):
        raise CheckpointError(f"{where}: {len(names)} class names, but the model has "
                              f"{mc.get('num_classes') if isinstance(mc, dict) else '?'} outputs")
    persons = ckpt["persons"]
    if persons is not None and (isinstance(persons, bool) or not isinstance(persons, int)
                                or persons != mc.get("persons", persons)):
        raise CheckpointError(f"{where}: persons {persons!r}, but the model takes {mc.get('persons')}")
    mp = ckpt.get("mean_pose")
    if mp is not None:
        from .layouts import get_layout
        from .sample import CHANNELS

        try:
            want = (CHANNELS[ckpt["channels"]], get_layout(ckpt["layout"]).num_joints)
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{where}: unknown layout {ckpt['layout']!r} or channels {ckpt['channels']!r}") from e
        if not torch.is_tensor(mp) or tuple(mp.shape) != want:
            raise CheckpointError(f"{where}: mean_pose must be a (C, V) = {want} tensor, got "
                                  f"{tuple(mp.shape) if torch.is_tensor(mp) else type(mp).__name__}")
    return ckpt


def state_mismatch(expected: dict[str, Any], got: dict[str, Any]) -> str | None:
    """What keeps ``got`` (a checkpoint's weights) from loading into a network with ``expected``; None if nothing."""
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    parts = []
    if missing:
        parts.append(f"{len(missing)} tensor(s) missing (first: {missing[0]})")
    if extra:
        parts.append(f"{len(extra)} unexpected tensor(s) (first: {extra[0]})")
    for k, v in expected.items():
        w = got.get(k)
        if w is not None and (not torch.is_tensor(w) or tuple(w.shape) != tuple(v.shape)):
            shape = tuple(w.shape) if torch.is_tensor(w) else type(w).__name__
            parts.append(f"{k} is {shape} in the checkpoint but {tuple(v.shape)} in the network its model_config "
                         "builds")
            break
    return "; ".join(parts) or None


def model_from_checkpoint(ckpt: dict[str, Any] | str | Path, device="cpu", fold_bn: bool = False) -> STF:
    """Rebuild the network of a checkpoint (eval mode) on ``device``.

    ``fold_bn``: fold every conv -> BatchNorm pair (:func:`stf.model.fusion.fold_batchnorm`): the same
    function, faster, for inference only (evaluation, the explain API and the app use it).
    """
    where = ""
    if not isinstance(ckpt, dict):
        where = f"{ckpt}: "
        ckpt = load_checkpoint(ckpt)
    bad = next((k for k, v in ckpt["model"].items()
                if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()), None)
    if bad is not None:
        raise CheckpointError(f"{where}checkpoint weights hold NaN or inf (in {bad}): a diverged or damaged run")
    try:
        model = STF(ModelConfig.from_dict(dict(ckpt["model_config"])))
    except (STFError, KeyError, TypeError, ValueError) as e:  # a bad model_config field (unknown layout, key, ...)
        raise CheckpointError(f"{where}invalid model_config: {e}") from e
    problem = state_mismatch(model.state_dict(), ckpt["model"])
    if problem:
        raise CheckpointError(f"{where}checkpoint weights do not fit its model config: {problem}")
    model.load_state_dict(ckpt["model"])
    model = model.to(device).eval()
    return fold_batchnorm(model) if fold_bn else model


def check_compatible(ckpt: dict[str, Any], layout: str, channels: str, num_classes: int | None = None,
                     where: str = "data") -> None:
    """Raise CheckpointError when a checkpoint is meant for another layout, channel set or class count."""
    if ckpt["layout"] != layout:
        raise CheckpointError(f"checkpoint is for layout {ckpt['layout']!r}, but {where} is {layout!r}")
    if ckpt["channels"] != channels:
        raise CheckpointError(f"checkpoint expects {ckpt['channels']!r} channels, but {where} has {channels!r}")
    if num_classes is not None and len(ckpt["class_names"]) != num_classes:
        raise CheckpointError(f"checkpoint has {len(ckpt['class_names'])} classes, but {where} has {num_classes}")


def strip_for_release(src: str | Path, dest: str | Path) -> None:
    """Copy a checkpoint without optimizer state (the shipped form)."""
    ckpt = load_checkpoint(src)
    ckpt["optimizer"] = None
    save_checkpoint(ckpt, dest)


TINY_DATA = "ucla:nw-ucla"


def build_tiny_checkpoint(out: str | Path, data: str = TINY_DATA, seed: int = 0, samples: int = 48,
                          epochs: int = 2, overrides: tuple[str, ...] = (), train_split: str | None = None) -> Path:
    """Train the tiny real checkpoint (tiny config, a few dozen real NW-UCLA samples, well under 30 s).

    Used by tests and by the app so they never wait for the big model. ``train_split``: default
    ``xview/train`` on NW-UCLA, ``all`` on any other data set (whose persons then come from the data,
    not the NW-UCLA config's 1). ``overrides`` are further ``KEY=VALUE`` config settings. Returns the
    checkpoint path.
    """
    from .config import load_config
    from .train import train

    cfg_path = Path(__file__).resolve().parent.parent / "configs" / "stf_ucla_xview_joint_tiny.yaml"
    other = str(data) != TINY_DATA
    split = train_split or ("all" if other else "xview/train")
    persons = ["data.persons=null"] if other else []  # from the data
    cfg = load_config(cfg_path, [f"data.spec={data}", f"data.train_split={split}", *persons, f"seed={seed}",
                                 f"train.max_samples={samples}", f"train.epochs={epochs}", *overrides])
    out = Path(out)
    t0 = time.time()
    run = train(cfg, out, device="cpu")
    path = run / "last.pt"
    ck = load_checkpoint(path)
    ck["history"].append({"built_in_s": round(time.time() - t0, 2)})
    save_checkpoint(ck, path)
    return path
