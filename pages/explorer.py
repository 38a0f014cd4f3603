"""Sample explorer: a model and a sample (data set or upload) -> prediction, top-5, where the model focuses."""
from __future__ import annotations

import streamlit as st

from pages import _shared as ui
from stf.app_support import discovery as disc
from stf.paths import display
from stf.runs import one_line

st.title("Sample explorer")

sel, e = ui.explained_sample(hint=True)

from stf import viz  # noqa: E402 - after the cheap early exits

ex = sel.explainer
lay = ex.layout
names = e.class_names
s = e.sample
k_last = len(e.focus.module) - 1

for note in sel.notes + list(e.notes):
    st.info(note, icon=":material/info:")

# -- prediction ------------------------------------------------------------------------------------------
c1, c2, c3, c4 = st.columns([3, 3, 2, 2])
c1.metric("Prediction", e.top5.names[0], f"{100 * float(e.top5.probs[0]):.1f}% confidence", delta_color="off")
true, true_idx = disc.true_class(e.label, sel.data_class_names, names)
c2.metric("True class", true or "unknown")
if true_idx is not None:
    c3.metric("Result", "correct" if e.prediction == true_idx else "incorrect")
elif true is not None:
    c3.metric("Result", "n/a", help="The true class is not one of this model's classes.")
c4.metric("Frames", f"{int(e.focus.valid_frames.sum())} / {s.num_frames}")
st.caption(f"Sample `{s.sample_id}` · model {display(sel.model)}: layout {ex.layout}, "
           f"{len(names)} classes, epoch {ex.ckpt.get('epoch')}")

left, right = st.columns([1, 2])
with left:
    st.subheader("Top-5")
    st.dataframe({"class": e.top5.names, "probability": [float(p) for p in e.top5.probs]}, hide_index=True,
                 key="top5", column_config={"probability": st.column_config.ProgressColumn(
                     "probability", min_value=0.0, max_value=1.0, format="percent")})
    module = st.radio("Module (STF-GCN-k)", list(range(1, k_last + 2)), index=k_last, horizontal=True,
                      key="module", persist_state="session",
                      help="Focus of the predicted class on the output of module k, mapped to the original frames.")
    k = module - 1
    persons = [m for m in range(len(e.focus.person_mask)) if e.focus.person_mask[m]] or [0]
    person = persons[0]
    if len(persons) > 1:
        person = st.radio("Person (heatmaps)", persons, format_func=lambda m: f"person {m + 1}", horizontal=True,
                          key="person")
    if e.exploration is not None:
        xp = e.exploration
        st.subheader("Exploration preview")
        st.caption("L_e masks what module 6 focuses on: the class probability should drop.")
        a, b = st.columns(2)
        a.metric(f"P({names[xp.target]})", f"{100 * xp.prob_before:.1f}%")
        b.metric("after masking", f"{100 * xp.prob_after:.1f}%", f"{100 * (xp.prob_after - xp.prob_before):+.1f} pts",
                 delta_color="inverse")
        if xp.pred_after != xp.target:
            st.caption(f"Masked, the model predicts {names[xp.pred_after]}.")

with right:
    st.subheader(f"Focus of “{e.target_name}”, module {module}")
    focus = e.focus.original[k]
    fig_anim = viz.skeleton_animation(s.data, lay, focus, channels=s.channels, valid_frames=e.focus.valid_frames,
                                      person_mask=e.focus.person_mask, height=520)
    ui.plot(fig_anim, key="fig_skeleton", name=f"{s.sample_id}-skeleton-m{module}")

c1, c2 = st.columns(2)
with c1:
    fig_heat = viz.focus_heatmap(focus, lay, person=person, valid_frames=e.focus.frames_of()[person],
                                 title="frames × joints", height=460)
    ui.plot(fig_heat, key="fig_heatmap", name=f"{s.sample_id}-heatmap-m{module}")
with c2:
    ui.plot(viz.joint_bars(e.focus.joint_summary(k), lay, title="per joint (mean over frames)", height=460),
            key="fig_joints", name=f"{s.sample_id}-joints-m{module}")
ui.plot(viz.frame_bars(e.focus.frame_summary(k), valid_frames=e.focus.valid_frames,
                       title="per frame (mean over joints)", height=260), key="fig_frames",
        name=f"{s.sample_id}-frames-m{module}")

st.subheader("Per-module focus")
st.caption("Each module's focus at its own time resolution (frames of module k = input frames / stride).")
titles = [f"STF-GCN-{i + 1} (stride {e.focus.strides[i]})" for i in range(k_last + 1)]
ui.plot(viz.focus_grid(e.focus.module, lay, titles=titles, person=person, cols=3), key="fig_modules",
        name=f"{s.sample_id}-modules")

if e.comparison is not None:
    cmp = e.comparison
    st.subheader("Top-1 vs top-2")
    st.caption(f"Where the model looks for “{cmp.top1_name}” and for the runner-up “{cmp.top2_name}” (module "
               f"{module}). Overlap (L_d formula, 0 disjoint, 1 identical): module 6 {cmp.overlap_last:.2f}, mean "
               f"over modules {cmp.overlap_mean:.2f}.")
    ui.plot(viz.focus_grid([cmp.focus_top1.original[k], cmp.focus_top2.original[k]], lay,
                           titles=[f"top-1: {cmp.top1_name}", f"top-2: {cmp.top2_name}"], person=person, cols=2),
            key="fig_top12", name=f"{s.sample_id}-top1-top2-m{module}")
    st.dataframe({"module": [f"STF-GCN-{i + 1}" for i in range(len(cmp.overlaps))],
                  "overlap": [round(float(o), 3) for o in cmp.overlaps]}, hide_index=True, key="overlaps")

# -- another model on this sample (e.g. the backbone: where does it look instead?) -------------------------
with ui.guard("Cannot explain this sample with the other model"):
    picked = ui.other_model(sel.model, e.target_name, what="sample", key="other_model", class_key="other_class")
    if picked is not None:
        from stf.explain import compare_models

        other, same, other_target = picked
        e2 = ui.explanation(other, sel.key, sel.sample, other_target)
        try:
            mc = compare_models(e.focus, e2.focus)
        except Exception as err:  # noqa: BLE001 - another layout or person count: shown side by side only
            mc = None
            ui.other_model_metrics(e, e2, same, one_line(err), module, "original frames")
        if mc is not None:
            ui.other_model_metrics(e, e2, same, mc.overlaps[k], module, "original frames")
            ui.plot(viz.focus_grid([focus, e2.focus.original[k]], lay, person=person, cols=2,
                                   titles=[f"this model: {e.target_name}", f"{display(other)}: {e2.target_name}"]),
                    key="fig_other", name=f"{s.sample_id}-two-models-m{module}")
            st.caption("Overlap per module: " + ", ".join(f"{i + 1}: {o:.2f}" for i, o in enumerate(mc.overlaps)))
        else:  # each map in its own model's layout and persons
            k2 = min(k, len(e2.focus.original) - 1)
            pm2 = e2.focus.person_mask
            person2 = person if person < len(pm2) and pm2[person] else next(
                (m for m in range(len(pm2)) if pm2[m]), 0)
            o1, o2 = st.columns(2)
            with o1:
                ui.plot(viz.focus_grid([focus], lay, person=person, cols=1,
                                       titles=[f"this model: {e.target_name} (person {person + 1})"]),
                        key="fig_other_this", name=f"{s.sample_id}-this-model-m{module}")
            with o2:
                ui.plot(viz.focus_grid([e2.focus.original[k2]], e2.sample.layout, person=person2, cols=1,
                                       titles=[f"{display(other)}: {e2.target_name} (person {person2 + 1})"]),
                        key="fig_other", name=f"{s.sample_id}-other-model-m{k2 + 1}")

# drawn on demand: a second WebGL scene costs the browser about as much as the animation
if st.toggle("Focus volume (skeletons along time)", key="show_volume"):
    ui.plot(viz.focus_volume(s.data, lay, focus, channels=s.channels, valid_frames=e.focus.valid_frames,
                             person_mask=e.focus.person_mask), key="fig_volume", name=f"{s.sample_id}-volume")

ui.exports(e, k, person, s.sample_id, {"skeleton": fig_anim, "heatmap": fig_heat})
