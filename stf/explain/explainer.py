"""The :class:`Explainer`: one checkpoint loaded once, any sample explained through its test pipeline.

``Explainer(checkpoint).explain(sample)`` does, for one sample:

1. layout conversion when the sample's layout differs from the model's (:func:`stf.layouts.get_mapping`;
   the mapping's note goes to ``notes``; no mapping -> :class:`stf.errors.LayoutError` naming the layout the
   model needs), channel check (:class:`stf.errors.DataError`), person selection when the sample has more
   persons than the model takes (the most active kept, as :class:`stf.transforms.SelectPersons`; a note);
2. the checkpoint's deterministic test pipeline (:func:`stf.evaluate.eval_pipeline`) -> model input
   ``x (1, C, T, V, M)`` and ``frame_index (T,)`` into the original frames;
3. one forward pass (eval mode) -> logits, probabilities, top-5;
4. the focus of ``target`` (default top-1) on all six modules (one backward pass; module 6 closed form),
   projected to the input and to the original frames (:class:`~stf.explain.focus.FocusMaps`);
5. optionally the top-1 vs top-2 comparison, the L_e preview and the adjacency parts (see ``explain``).
"""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import check_checkpoint, load_checkpoint, model_from_checkpoint
from ..data.dataset import sample_to_tensor
from ..errors import ArgumentError, DataError
from ..evaluate import eval_pipeline
from ..layouts import get_layout, get_mapping
from ..model.losses import LossConfig
from ..sample import Sample
from ..transforms import MapLayout, SelectPersons
from ..utils import resolve_device
from . import attributions as _attr
from .adjacency import ModuleAdjacency, adjacency_parts
from .faithfulness import FaithfulnessReport, faithfulness_report
from .focus import (ExplorationPreview, FocusComparison, FocusMaps, class_index, compare, exploration_preview,
                    focus_maps, person_frames)


@dataclass
class TopK:
    """The k most probable classes: ``indices (k,)`` int, ``names`` list of str, ``probs (k,)`` float32."""

    indices: np.ndarray
    names: list[str]
    probs: np.ndarray


@dataclass
class Prepared:
    """A sample ready for the model.

    * ``sample``: the sample as displayed: converted to the model's layout, the model's persons, original
      frames ``(M, T_orig, V, C)`` and coordinates (before the pipeline's centring / scaling).
    * ``model_sample``: after the test pipeline ``(M, T, V, C)``; ``x``: ``(1, C, T, V, M)`` float32 tensor.
    * ``frame_index``: ``(T,)`` int64 original frame of each model frame (-1 = padding).
    * ``notes``: what was changed to fit the model (layout conversion, persons dropped or padded), and joints
      a 2-D detector did not find (score 0), on which the focus says little.
    * ``kept_persons``: indices into the given sample's persons that were kept, in order.
    """

    sample: Sample
    model_sample: Sample
    x: torch.Tensor
    frame_index: np.ndarray
    notes: list[str]
    kept_persons: list[int]

    @property
    def num_frames(self) -> int:
        return self.sample.num_frames

    @property
    def valid_frames(self) -> np.ndarray:
        return np.asarray(self.sample.frame_mask, bool)

    @cached_property
    def present(self) -> np.ndarray:
        """``(M, T_orig)`` bool: the original frames each person is in (:func:`~stf.explain.focus.person_frames`
        of ``sample.data``, the frames as displayed): every map the explainer returns on the original frames is
        0 elsewhere. Taken from the original frames, not from ``x``: the model input misses the frames the
        pipeline did not sample."""
        return person_frames(self.sample.data)

    def __repr__(self) -> str:
        return (f"Prepared({self.sample!r}, x={tuple(self.x.shape)}, kept_persons={self.kept_persons}, "
                f"notes={self.notes})")


@dataclass
class Explanation:
    """Everything about one sample (see :mod:`stf.explain` for the shapes)."""

    prepared: Prepared
    class_names: list[str]
    logits: np.ndarray  # (K,)
    probabilities: np.ndarray  # (K,)
    top5: TopK
    target: int
    focus: FocusMaps
    comparison: FocusComparison | None = None
    exploration: ExplorationPreview | None = None
    adjacency: list[ModuleAdjacency] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def sample(self) -> Sample:
        return self.prepared.sample

    @property
    def notes(self) -> list[str]:
        return self.prepared.notes

    @property
    def frame_index(self) -> np.ndarray:
        return self.prepared.frame_index

    @property
    def prediction(self) -> int:
        return int(self.top5.indices[0])

    @property
    def target_name(self) -> str:
        return self.class_names[self.target]

    @property
    def label(self) -> int | None:
        return self.sample.label

    def __repr__(self) -> str:  # short: the maps are large
        top = ", ".join(f"{n} {p:.3f}" for n, p in zip(self.top5.names[:3], self.top5.probs[:3]))
        return (f"Explanation({self.sample!r}, target={self.target} {self.target_name!r}, top: {top}, "
                f"{self.focus.num_modules} modules, model frames {self.prepared.x.shape[2]}, notes={len(self.notes)})")


def _undetected_note(s: Sample) -> str | None:
    """For 2-D poses with a detector score: how many joints of the frames a person is in the detector did not
    find (score 0), and which most often; their coordinates are placeholders, so focus on them says little."""
    if "score" not in s.channels:
        return None
    in_frame = person_frames(s.data)  # (M, T): the person is in the frame
    scores = s.data[..., -1][in_frame]  # (n, V)
    if not scores.size or not (scores == 0).any():
        return None
    missed = (scores == 0).mean(axis=0)  # (V,) share of frames in which each joint went undetected
    names = get_layout(s.layout).joints
    worst = [f"{names[j]} {missed[j]:.0%}" for j in np.argsort(-missed, kind="stable")[:3] if missed[j] > 0]
    return (f"{(scores == 0).mean():.0%} of the joints in the frames a person is in were not detected (score 0; "
            f"most often {', '.join(worst)}): their coordinates are placeholders, so focus there says little.")


def _persons(n: int) -> str:
    return f"{n} person" + ("s" if n != 1 else "")


def _checkpoint_dict(checkpoint: str | Path | dict) -> tuple[dict[str, Any], str]:
    if isinstance(checkpoint, dict):
        check_checkpoint(checkpoint, "checkpoint dict")
        return checkpoint, str((checkpoint.get("config") or {}).get("name", "checkpoint dict"))
    if not isinstance(checkpoint, (str, Path)):
        raise ArgumentError(f"checkpoint must be a path or a loaded checkpoint dict, got {type(checkpoint).__name__}")
    return load_checkpoint(checkpoint), str(checkpoint)


class Explainer:
    """Explain samples with one checkpoint. ``checkpoint``: a path or an already loaded checkpoint dict."""

    def __init__(self, checkpoint: str | Path | dict, device: str | torch.device = "cpu"):
        self.ckpt, self.source = _checkpoint_dict(checkpoint)
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        self.model = model_from_checkpoint(self.ckpt, self.device, fold_bn=True)
        self.model.eval()
        self.layout = get_layout(self.ckpt["layout"]).name
        self.channels = self.ckpt["channels"]
        self.persons = int(self.ckpt.get("persons") or self.model.cfg.persons)
        self.class_names = list(self.ckpt["class_names"])
        self.strides = self.model.cfg.cumulative_strides()
        self.pipeline = eval_pipeline(self.ckpt, self.source)
        lc = self.ckpt.get("loss_config") or self.ckpt.get("config", {}).get("loss") or {}
        self.loss_config = LossConfig.from_dict(dict(lc))
        mp = self.ckpt.get("mean_pose")
        self.mean_pose = None if mp is None else torch.as_tensor(mp, dtype=torch.float32, device=self.device)
        ep = self.ckpt.get("epoch")
        self.description = (f"{self.source}: layout {self.layout}, stream {self.ckpt.get('stream', '?')}, "
                            f"{len(self.class_names)} classes, {self.persons} person(s), epoch {ep}")

    # -- preparing a sample ------------------------------------------------------------------------
    def prepare(self, sample: Sample) -> Prepared:
        """Convert ``sample`` to the model's layout and persons, then run the test pipeline."""
        notes: list[str] = []
        if not isinstance(sample, Sample):
            raise ArgumentError(f"expected a Sample, got {type(sample).__name__}")
        s = sample.validate()  # NaN / inf, no frames, nobody present: a DataError naming the sample
        # the sample's own masks hold: a person or frame they mark absent is empty for the model too
        gone = ~s.person_mask[:, None] | ~s.frame_mask[None, :]  # (M, T)
        if np.abs(s.data[gone]).sum() > 0:
            data = s.data.copy()
            data[gone] = 0
            s = s.with_data(data).validate()  # masks that leave nobody: a DataError
            notes.append("Coordinates in frames or of persons the sample's masks mark absent were left out "
                         "(set to zero).")
        undetected = _undetected_note(s)
        if undetected:
            notes.append(undetected)
        src = get_layout(s.layout).name
        if src != self.layout:
            s, _ = MapLayout(self.layout)(s, np.random.default_rng(0))  # LayoutError when there is no mapping
            notes.append(f"Converted {src} -> {self.layout}: {get_mapping(src, self.layout).note}")
        if s.channels != self.channels:
            raise DataError(s.where(), f"sample has {s.channels!r} channels, but this model expects "
                                       f"{self.channels!r} (e.g. 2-D data given to a 3-D model)")
        m = s.num_persons
        present = [i for i in range(m) if s.person_mask[i]]
        kept = list(range(min(m, self.persons)))
        if m > self.persons:
            select = SelectPersons(self.persons)
            kept = [int(i) for i in select.kept(s)]
            dropped = [i for i in present if i not in kept]
            if dropped:
                notes.append(f"The sample has {_persons(len(present))}; this model takes {self.persons}: kept the "
                             f"most active (person {', '.join(str(i + 1) for i in kept)}), dropped person "
                             f"{', '.join(str(i + 1) for i in dropped)}.")
            s, _ = select(s, np.random.default_rng(0))
        elif m < self.persons:
            s, _ = SelectPersons(self.persons)(s, np.random.default_rng(0))
            notes.append(f"This model takes {self.persons} persons; the sample has {_persons(m)}: the rest is zero "
                         "padding (masked out of the focus).")
        s = s.with_data(np.ascontiguousarray(s.data), frame_mask=None, person_mask=None)
        ms, frame_index = self.pipeline(s, np.random.default_rng(0))
        x = sample_to_tensor(ms).unsqueeze(0).to(self.device)
        return Prepared(sample=s, model_sample=ms, x=x, frame_index=np.asarray(frame_index, np.int64), notes=notes,
                        kept_persons=kept)

    def _checked(self, p: Prepared) -> Prepared:
        """A :class:`Prepared` given back (perhaps edited): its input still fits the model and its frames."""
        x = p.x
        where = p.sample.where() if isinstance(p.sample, Sample) else "<prepared sample>"
        if not torch.is_tensor(x) or x.dim() != 5 or x.shape[0] != 1:
            raise DataError(where, f"prepared input must be a (1, C, T, V, M) tensor, got "
                                   f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
        self.model.check_input(x)  # channels, joints, persons and dtype
        if len(p.frame_index) != x.shape[2]:
            raise DataError(where, f"prepared input has {x.shape[2]} frames but frame_index {len(p.frame_index)}")
        if not torch.isfinite(x).all():
            raise DataError(where, "prepared input holds a non-finite value (NaN or inf)")
        return p

    # -- the explanation ---------------------------------------------------------------------------
    def _focus(self, p: Prepared, target: int, out=None):
        return focus_maps(self.model, p.x, target, p.frame_index, p.num_frames, p.valid_frames, out=out,
                          present=p.present)

    def explain(self, sample: Sample | Prepared, target: int | None = None, *, compare_top2: bool = True,
                exploration: bool = True, adjacency: bool = True) -> Explanation:
        """Explain one sample. ``target``: class the focus (and ``adjacency[k].R``) explains, default top-1.

        ``compare_top2`` adds the top-1 vs top-2 focus on all modules (one more backward pass),
        ``exploration`` the L_e preview (one more forward), ``adjacency`` the adjacency parts (free).
        """
        sec: dict[str, float] = {}
        t0 = time.perf_counter()
        p = self._checked(sample) if isinstance(sample, Prepared) else self.prepare(sample)
        sec["prepare"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        with torch.enable_grad():
            out = self.model(p.x)
        logits = out.logits.detach()[0].float()
        probs = torch.softmax(logits, 0)
        k = min(5, len(self.class_names))
        top = torch.topk(probs, k)
        idx = top.indices.cpu().numpy()
        top5 = TopK(indices=idx, names=[self.class_names[i] for i in idx], probs=top.values.cpu().numpy())
        top1 = int(idx[0])
        target = top1 if target is None else class_index(target, len(self.class_names), "target")
        sec["forward"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        fm, res, out = self._focus(p, target, out)
        fm1, res1 = (fm, res) if target == top1 else self._focus(p, top1, out)[:2]
        sec["focus"] = time.perf_counter() - t1
        cmp = None
        if compare_top2 and len(idx) > 1:
            t1 = time.perf_counter()
            fm2 = self._focus(p, int(idx[1]), out)[0]
            cmp = compare(fm1, fm2, self.class_names)
            sec["compare"] = time.perf_counter() - t1
        expl = None
        if exploration:
            t1 = time.perf_counter()
            lc = self.loss_config
            expl = exploration_preview(self.model, p.x, res1.maps[self.model.num_modules - 1], top1, float(probs[top1]),
                                       p.frame_index, p.num_frames, lc.sigma, lc.omega, lc.erase, self.mean_pose,
                                       present=p.present)
            sec["exploration"] = time.perf_counter() - t1
        adj = None
        if adjacency:
            t1 = time.perf_counter()
            adj = adjacency_parts(out, fm.module)
            sec["adjacency"] = time.perf_counter() - t1
        sec["total"] = time.perf_counter() - t0
        return Explanation(prepared=p, class_names=self.class_names, logits=logits.cpu().numpy(),
                           probabilities=probs.cpu().numpy(), top5=top5, target=target, focus=fm, comparison=cmp,
                           exploration=expl, adjacency=adj, seconds=sec)

    def focus(self, e: Explanation | Prepared | Sample, target: int) -> FocusMaps:
        """The focus of any class ``target`` on all modules (one forward + one backward)."""
        target = class_index(target, len(self.class_names), "target")
        p = e.prepared if isinstance(e, Explanation) else self._checked(e) if isinstance(e, Prepared) \
            else self.prepare(e)
        return self._focus(p, target)[0]

    # -- attributions and faithfulness ---------------------------------------------------------------
    def attribute(self, e: Explanation | Prepared, method: str, target: int | None = None, **kw) -> _attr.Attribution:
        """Captum attribution ``method`` (one of ``ATTRIBUTION_METHODS``) of ``target`` (default ``e.target``).

        ``kw`` go to :func:`~stf.explain.attributions.integrated_gradients` (``baseline``, ``n_steps``),
        :func:`~stf.explain.attributions.saliency` or :func:`~stf.explain.attributions.occlusion`
        (``joint_window``, ``frame_window``, strides, ``baseline``). The checkpoint's mean pose is passed along, and
        the sample's :attr:`Prepared.present` frames (``Attribution.original`` is 0 where a person is not in).
        """
        if not isinstance(e, (Explanation, Prepared)):
            raise ArgumentError(f"attribute needs an Explanation or a Prepared sample, got {type(e).__name__}")
        p = e.prepared if isinstance(e, Explanation) else self._checked(e)
        if target is None:
            target = e.target if isinstance(e, Explanation) else int(self.predict(p)[0].argmax())
        target = class_index(target, len(self.class_names), "target")
        common = dict(frame_index=p.frame_index, num_frames=p.num_frames, present=p.present)
        fn = {"integrated_gradients": _attr.integrated_gradients, "saliency": _attr.saliency,
              "occlusion": _attr.occlusion}.get(method)
        if fn is not None:  # a misspelt parameter (n_step=) is named, with what the method takes
            takes = [n for n in inspect.signature(fn).parameters
                     if n not in ("model", "x", "target", "mean_pose", *common)]
            unknown = sorted(set(kw) - set(takes))
            if unknown:
                raise ArgumentError(f"{method}: unknown parameter(s) {', '.join(unknown)}; it takes "
                                    f"{', '.join(takes) or 'none'}")
        if method == "integrated_gradients":
            return _attr.integrated_gradients(self.model, p.x, target, mean_pose=self.mean_pose, **common, **kw)
        if method == "saliency":
            return _attr.saliency(self.model, p.x, target, **common, **kw)
        if method == "occlusion":
            return _attr.occlusion(self.model, p.x, target, mean_pose=self.mean_pose, **common, **kw)
        raise ArgumentError(f"unknown attribution method {method!r}; expected one of {_attr.ATTRIBUTION_METHODS}")

    def faithfulness(self, e: Explanation, maps: dict[str, np.ndarray], target: int | None = None, steps: int = 20,
                     mode: str = "zero", random_seed: int | None = 0, **kw) -> FaithfulnessReport:
        """Deletion / insertion curves of ``maps`` (name -> ``(M, T, V)`` on the model frames); see
        :func:`~stf.explain.faithfulness.faithfulness_report`."""
        if not isinstance(e, Explanation):
            raise ArgumentError(f"faithfulness needs an Explanation (of explain()), got {type(e).__name__}")
        p = e.prepared
        target = e.target if target is None else class_index(target, len(self.class_names), "target")
        return faithfulness_report(self.model, p.x, maps, target, steps=steps,
                                   mode=mode, mean_pose=self.mean_pose, frame_index=p.frame_index,
                                   random_seed=random_seed, **kw)

    def predict(self, p: Prepared | Sample) -> tuple[np.ndarray, np.ndarray]:
        """``(probabilities (K,), logits (K,))`` without any focus."""
        p = p if isinstance(p, Prepared) else self.prepare(p)
        with torch.inference_mode():
            lg = self.model(p.x).logits[0].float()
        return torch.softmax(lg, 0).cpu().numpy(), lg.cpu().numpy()


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float, device: str) -> Explainer:
    return Explainer(path, device)


def get_explainer(path: str | Path, device: str = "cpu") -> Explainer:
    """A process-wide cached :class:`Explainer` per (checkpoint path, modification time, device)."""
    p = Path(path).resolve()
    return _cached(str(p), p.stat().st_mtime if p.exists() else 0.0, str(device))
