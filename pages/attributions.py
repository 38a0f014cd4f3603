"""Attributions: Captum methods beside the STF focus, and how faithful each is (deletion / insertion curves)."""
from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from pages import _shared as ui

st.title("Attributions")
st.caption("Each method's map (persons × frames × joints) beside the STF focus, then deletion / insertion curves: "
           "cells ranked by each map are removed from (or restored into) the input; a faithful map makes the class "
           "probability fall fast (low deletion AUC) and rise fast (high insertion AUC). A random ranking is the "
           "baseline.")

sel, e = ui.explained_sample()

from stf import viz  # noqa: E402
from stf.viz import export  # noqa: E402
from stf.explain.attributions import ATTRIBUTION_METHODS, BASELINES  # noqa: E402
from stf.explain.faithfulness import MODES  # noqa: E402

ex = sel.explainer
lay = ex.layout
names = e.class_names
LABELS = {"integrated_gradients": "Integrated Gradients", "saliency": "Saliency", "occlusion": "Occlusion"}

with st.form("attr_form"):
    c1, c2, c3 = st.columns([3, 2, 2])
    methods = c1.multiselect("Methods", list(ATTRIBUTION_METHODS), default=["saliency"],
                             format_func=lambda m: LABELS.get(m, m), key="attr_methods")
    target = c2.selectbox("Class explained", list(range(len(names))), index=e.prediction,
                          format_func=lambda i: f"{names[i]}" + (" (top-1)" if i == e.prediction else ""),
                          key="attr_target")
    module = c3.selectbox("STF focus of module", list(range(1, len(e.focus.module) + 1)),
                          index=len(e.focus.module) - 1, key="attr_module")
    c1, c2, c3 = st.columns(3)
    with c1:
        st.markdown("**Integrated Gradients**")
        ig_base = st.selectbox("Baseline", list(BASELINES), key="ig_baseline",
                               help="zeros; the training mean pose; each person's first frame held still")
        ig_steps = st.slider("Steps", 4, 128, 32, 4, key="ig_steps")
    with c2:
        st.markdown("**Occlusion**")
        oc_frames = st.slider("Frame window", 1, 32, 8, key="oc_frames")
        oc_joints = st.slider("Joint window", 1, 8, 1, key="oc_joints")
        oc_base = st.selectbox("Replaced by", list(BASELINES), key="oc_baseline")
    with c3:
        st.markdown("**Faithfulness**")
        mode = st.selectbox("Removal", list(MODES), key="fa_mode",
                            help="zero: cells set to 0; mean_pose: the training mean pose; interpolate: from the "
                                 "neighbouring frames")
        steps = st.slider("Curve steps", 5, 50, 20, 5, key="fa_steps")
        rnd = st.checkbox("Random baseline", value=True, key="fa_random")
    go = st.form_submit_button("Compute", type="primary", icon=":material/calculate:", key="attr_submit")

params = {"integrated_gradients": {"baseline": ig_base, "n_steps": int(ig_steps)}, "saliency": {},
          "occlusion": {"frame_window": int(oc_frames), "joint_window": int(oc_joints), "baseline": oc_base}}


def _mtime(path: str) -> float:
    """Part of the cache keys: a checkpoint rewritten in place (a run's last.pt) is not served stale maps."""
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


@st.cache_resource(show_spinner=False, max_entries=32)
def _attribution(ckpt: str, mtime: float, key: str, method: str, args: str, target: int, _e):
    return ui.explainer(ckpt).attribute(_e, method, target=target, **json.loads(args))


@st.cache_resource(show_spinner=False, max_entries=16)
def _report(ckpt: str, mtime: float, key: str, settings: str, target: int, _e, _maps):
    st_ = json.loads(settings)
    return ui.explainer(ckpt).faithfulness(_e, _maps, target=target, steps=st_["steps"], mode=st_["mode"],
                                           random_seed=0 if st_["random"] else None)


request = {"methods": methods, "params": {m: params[m] for m in methods}, "target": int(target), "module": int(module),
           "mode": mode, "steps": int(steps), "random": bool(rnd), "key": sel.key, "model": sel.model}
if go:
    st.session_state["attr_request"] = request
req = st.session_state.get("attr_request")
if not req or req.get("key") != sel.key or req.get("model") != sel.model:
    st.info("Choose methods and press Compute.", icon=":material/info:")
    st.stop()
if req != request:
    st.caption("The settings changed: press Compute to update.")

k = req["module"] - 1
tgt = req["target"]
focus = e.focus if tgt == e.target else ui.explainer(sel.model).focus(e, tgt)
maps, timings, attrs = {"STF focus": focus.input[k]}, {}, {}
for m in req["methods"]:
    with ui.guard(f"{LABELS.get(m, m)} failed"), st.spinner(f"{LABELS.get(m, m)}…"):
        a = _attribution(sel.model, _mtime(sel.model), sel.key, m, json.dumps(req["params"][m], sort_keys=True), tgt,
                         e)
        attrs[m] = a
        maps[LABELS.get(m, m)] = a.input
        timings[LABELS.get(m, m)] = a.seconds

st.subheader(f"Maps for “{names[tgt]}”")
if timings:
    st.caption("Attribution time: " + ", ".join(f"{n} {t:.2f} s" for n, t in timings.items()))
persons = [m for m in range(len(e.focus.person_mask)) if e.focus.person_mask[m]] or [0]
person = persons[0]
if len(persons) > 1:  # a two-person sample: each person's maps (the curves remove cells of every person)
    person = st.radio("Person (heatmaps)", persons, format_func=lambda m: f"person {m + 1}", horizontal=True,
                      key="attr_person")
for m, a in attrs.items():
    left, right = st.columns(2)
    signed = m == "integrated_gradients"
    orig = a.original if a.original is not None else a.input
    with left:
        ui.plot(viz.focus_heatmap(orig, lay, person=person, valid_frames=e.focus.frames_of()[person],
                                  title=f"{LABELS.get(m, m)} {json.dumps(a.params) if a.params else ''}",
                                  zmin=None, zmax=None, zmid=0.0 if signed else None,
                                  colorscale="RdBu_r" if signed else "Plasma", colorbar_title="attribution",
                                  height=420), key=f"fig_attr_{m}", name=f"{e.sample.sample_id}-{m}")
    with right:
        ui.plot(viz.focus_heatmap(focus.original[k], lay, person=person, valid_frames=e.focus.frames_of()[person],
                                  title=f"STF focus, module {k + 1}", height=420), key=f"fig_focus_{m}",
                name=f"{e.sample.sample_id}-focus-m{k + 1}")
    st.download_button(f"{LABELS.get(m, m)} map (CSV)",
                       lambda o=orig: export.focus_csv(o, lay, valid_frames=e.focus.valid_frames),
                       file_name=f"{e.sample.sample_id}-{m}-{names[tgt]}.csv".replace(" ", "_"), mime="text/csv",
                       key=f"dl_attr_{m}", on_click="ignore", icon=":material/download:")

st.subheader("Faithfulness")
settings = json.dumps({"mode": req["mode"], "steps": req["steps"], "random": req["random"],
                       "methods": sorted(maps), "params": req["params"], "module": req["module"]}, sort_keys=True)
with ui.guard("Faithfulness failed"), st.spinner("Deletion / insertion curves…"):
    rep = _report(sel.model, _mtime(sel.model), sel.key, settings, tgt, e, maps)
    ui.plot(viz.curves_figure(rep, title=f"removal: {rep.mode}, {rep.steps} steps"), key="fig_curves",
            name=f"{e.sample.sample_id}-curves")
    st.dataframe([{k_: (round(v, 4) if isinstance(v, float) else v) for k_, v in row.items()} for row in rep.rows()],
                 hide_index=True, key="auc_table")
    st.caption(f"{rep.forward_passes} forward passes in {rep.seconds:.2f} s. Score = insertion AUC − deletion AUC "
               "(higher = more faithful).")
