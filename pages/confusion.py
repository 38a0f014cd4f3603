"""Confusion explorer: the confusion matrix of an evaluation bundle; another model's bundle of the same data
compared sample by sample (right only under one, McNemar, per class); a cell (or class pair) -> its samples,
each with the focus of its top-1 and top-2 classes side by side."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from pages import _shared as ui
from stf.app_support import discovery as disc
from stf.paths import display, safe_path

st.title("Confusion explorer")

refs = ui.all_bundles()
ui.warn_registry()
paths = [str(r.path) for r in refs]
labels = {str(r.path): r.label for r in refs}
ref_of = {str(r.path): r for r in refs}

# a bundle handed over by the runs page (or a link): add it when it is a readable bundle under the allowed roots
wanted = st.session_state.pop("bundle_path", None)
if wanted:
    with ui.guard("Cannot open that bundle"):
        p = str(safe_path(wanted))
        ref = disc.read_bundle_ref(Path(p), "run")
        if ref is None:
            raise ValueError(f"{display(p)} is not a complete evaluation bundle")
        if p not in paths:
            paths.insert(0, p)
            labels[p] = ref.label
            ref_of[p] = ref
        st.session_state.pop("bundle", None)  # the widget starts on it (its default), no state conflict
        st.session_state["bundle_default"] = p
if not paths:
    st.info("No evaluation bundle found. Start one on the Evaluation runs page (or ship one as "
            "assets/<name>.eval/ next to assets/<name>.pt).", icon=":material/info:")
    st.stop()
default = st.session_state.get("bundle_default") if st.session_state.get("bundle_default") in paths else None
if default is None and st.session_state.get("model"):  # the bundle of the model chosen elsewhere
    try:
        mine = disc.bundle_for_data(ui.bundles_for(st.session_state["model"], 0.0), st.session_state.get("data", ""),
                                    st.session_state.get("split", "")) if st.session_state.get("data") else None
    except Exception:  # noqa: BLE001 - that model was removed (or cannot be read) since: no default from it
        mine = None
    default = str(mine.path) if mine and str(mine.path) in paths else None
idx = ui.widget_index("bundle", paths, default or paths[0])
path = st.selectbox("Evaluation bundle", paths, index=idx, format_func=lambda p: labels.get(p, display(p)),
                    key="bundle", bind="query-params")

try:
    b = ui.bundle(path)
except Exception as err:  # noqa: BLE001
    ui.error(err, "Cannot read the bundle")
    st.stop()

m = b.metrics
names = b.class_names
conf = np.asarray(m["confusion"], np.int64)
k = len(names)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Samples", m["num_samples"])
c2.metric("Top-1", "n/a" if m["top1"] is None else f"{100 * m['top1']:.2f}%")
c3.metric("Top-5", "n/a" if m["top5"] is None else f"{100 * m['top5']:.2f}%")
c4.download_button("Bundle (zip)", lambda: disc.bundle_zip(b.path), file_name=f"{Path(path).name}.zip",
                   mime="application/zip", key="bundle_zip", on_click="ignore", icon=":material/download:")
data = m.get("data") or {}
ck = m.get("checkpoint") or {}
st.caption(f"Data `{disc.spec_label(data.get('spec', '?'))}` [{data.get('split', '?')}] · checkpoint "
           f"`{Path(str(ck.get('path', '?'))).name}` (epoch {ck.get('epoch')}) · {display(path)}")

from stf import viz  # noqa: E402

# -- the matrix -------------------------------------------------------------------------------------------
norm = st.radio("Colour", ["share of row", "counts"], horizontal=True, key="cm_norm")
fig = viz.confusion_figure(conf, names, normalise="row" if norm == "share of row" else None)
# Streamlit reports no selection for heatmap clicks: one invisible marker per cell makes cells clickable.
ti, pj = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
tick = viz.class_labels(names)  # the matrix's own axis labels
fig.add_scatter(x=[tick[j] for j in pj.ravel()], y=[tick[i] for i in ti.ravel()], mode="markers",
                marker=dict(size=max(6, int(600 / max(k, 1))), opacity=0.0, symbol="square"),
                selected=dict(marker=dict(opacity=0.0)), unselected=dict(marker=dict(opacity=0.0)),
                customdata=np.stack([ti.ravel(), pj.ravel(), conf.ravel()], 1), showlegend=False, name="cells",
                hovertemplate="true: %{y}<br>predicted: %{x}<br>count %{customdata[2]}<extra></extra>")
fig.data[0].hoverinfo = "skip"
fig.update_xaxes(range=[-0.5, k - 0.5], autorange=False)
fig.update_yaxes(range=[k - 0.5, -0.5], autorange=False)


def _on_cell():
    ev = st.session_state.get("cm_fig")
    pts = (ev or {}).get("selection", {}).get("points", []) if isinstance(ev, dict) else \
        getattr(getattr(ev, "selection", None), "points", [])
    for p in pts or []:
        idx = p.get("point_index", p.get("pointIndex"))
        if idx is not None and p.get("curve_number", 1) == 1:
            st.session_state["cm_true"], st.session_state["cm_pred"] = divmod(int(idx), k)
            return


ui.plot(fig, key="cm_fig", name=f"confusion-{Path(path).name}", on_select=_on_cell, selection_mode="points")



def _checkpoint_of(bnd):
    """The discovered checkpoint a bundle was made from (matched by sha256), or None."""
    d, c = bnd.metrics.get("data") or {}, bnd.metrics.get("checkpoint") or {}
    return disc.checkpoint_for_bundle(disc.BundleRef(path=bnd.path, label="", data=str(d.get("spec")),
                                                     split=str(d.get("split")), top1=bnd.metrics.get("top1"),
                                                     num_samples=int(bnd.metrics["num_samples"]),
                                                     checkpoint_sha256=c.get("sha256"),
                                                     checkpoint_path=c.get("path"), origin=""), ui.checkpoints())


def _short(bnd) -> str:
    """A bundle's model in a few words: its config name and seed (fused bundles: their joined names)."""
    c = bnd.metrics.get("checkpoint") or {}
    name = c.get("config_name") or Path(bnd.path).name
    return f"{name} (seed {c['seed']})" if c.get("seed") is not None else str(name)


# -- another model on the same samples ----------------------------------------------------------------------
st.subheader("Compare with another model")
others = [p for p in paths if p != path and p in ref_of and ref_of[p].data == str(data.get("spec"))]
if not others:
    st.caption("No other evaluation bundle of this data set: evaluate another model on it (Evaluation runs "
               "page) to see which samples each gets right.")
else:
    other_path = st.selectbox("Compare with", ["none", *others], key="cm_other",
                              format_func=lambda p: "— none —" if p == "none" else labels.get(p, display(p)))
    if other_path != "none":
        with ui.guard("Cannot compare the two bundles"):
            from stf.compare import compare_bundles

            ob = ui.bundle(other_path)
            cmpd = compare_bundles(b, ob)
            la, lb = _short(b), _short(ob)
            if la == lb:
                la, lb = f"{la} · this bundle", f"{lb} · other"
            cols = st.columns(5)
            cols[0].metric("Top-1 here", f"{100 * cmpd.top1_a:.2f}%", help=la)
            cols[1].metric("Top-1 there", f"{100 * cmpd.top1_b:.2f}%", help=lb,
                           delta=f"{100 * (cmpd.top1_b - cmpd.top1_a):+.2f} points")
            cols[2].metric("Right only here", int(cmpd.only_a.sum()))
            cols[3].metric("Right only there", int(cmpd.only_b.sum()))
            cols[4].metric("McNemar p", f"{cmpd.p_value:.3f}")
            st.caption(f"Here: **{la}** · there: **{lb}**. {len(cmpd.ids)} samples in both bundles, matched by id"
                       + (f" ({cmpd.left_out} of either left out: not in the other, or unlabelled)"
                          if cmpd.left_out else "") + ". McNemar: exact two-sided test on the samples only one "
                       "model gets right.")
            ui.plot(viz.per_class_comparison_figure(names, cmpd.per_class_a, cmpd.per_class_b, cmpd.per_class_n,
                                                    label_a=la, label_b=lb),
                    key="cm_cmp_fig", name=f"per-class-{Path(path).name}-vs-{Path(other_path).name}")
            kinds = {"only_a": f"right only under {la}", "only_b": f"right only under {lb}",
                     "both_wrong": "wrong under both", "disagree": "the two predictions differ"}
            which = st.radio("Samples", list(kinds), format_func=kinds.get, horizontal=True, key="cm_cmp_which")
            sel = cmpd.select(which)
            st.markdown(f"**{len(sel)}** sample(s) {kinds[which]}.")
            if len(sel):
                st.dataframe({"id": cmpd.ids[sel].tolist(), "true": [names[i] for i in cmpd.labels[sel]],
                              la: [names[i] for i in cmpd.pred_a[sel]], lb: [names[i] for i in cmpd.pred_b[sel]]},
                             hide_index=True, key="cm_cmp_samples", height=min(300, 40 + 35 * len(sel)))
                pc = st.columns([3, 2, 2])
                sid = pc[0].selectbox("Sample", cmpd.ids[sel].tolist(), key="cm_cmp_pick")
                for col, bnd, lab, key in ((pc[1], b, la, "cm_cmp_open_a"), (pc[2], ob, lb, "cm_cmp_open_b")):
                    ck_path = _checkpoint_of(bnd)
                    if ck_path is None:
                        col.caption(f"{lab}: its checkpoint is not among the discovered models")
                    elif col.button(f"Explore with {lab}", key=key, icon=":material/open_in_new:"):
                        bd = bnd.metrics.get("data") or {}
                        st.session_state["goto"] = {"model": str(ck_path), "data": str(bd.get("spec")),
                                                    "split": str(bd.get("split")), "sample": str(sid)}
                        st.switch_page("pages/explorer.py")

# -- a class pair ------------------------------------------------------------------------------------------
off = conf.copy()
np.fill_diagonal(off, -1)
worst = np.unravel_index(int(off.argmax()), off.shape) if k > 1 else (0, 0)
for key, v in (("cm_true", int(worst[0])), ("cm_pred", int(worst[1]))):
    if st.session_state.get(key) not in range(k):
        st.session_state[key] = v
st.subheader("Samples of a cell")
st.caption("Click a cell of the matrix or pick the pair here (default: the most frequent confusion).")
a, bcol, c = st.columns([3, 3, 2])
ti_ = a.selectbox("True class", list(range(k)), format_func=lambda i: tick[i], key="cm_true")
pj_ = bcol.selectbox("Predicted class", list(range(k)), format_func=lambda i: tick[i], key="cm_pred")
show = c.number_input("Show at most", 1, 24, 4, key="cm_show")

preds = b.preds
prob = b.probabilities()
rows = np.flatnonzero((b.labels == ti_) & (preds == pj_))
rows = rows[np.argsort(-prob[rows, pj_], kind="stable")]
st.markdown(f"**{len(rows)}** sample(s) of class *{names[ti_]}* predicted as *{names[pj_]}* "
            f"(confusion cell {ti_}, {pj_} = {conf[ti_, pj_]}).")
if len(rows):
    st.dataframe({"id": [str(b.ids[r]) for r in rows],
                  "confidence": [float(prob[r, pj_]) for r in rows],
                  "top-2": [names[int(np.argsort(-b.logits[r])[1])] if k > 1 else "" for r in rows]},
                 hide_index=True, key="cm_samples", height=min(300, 40 + 35 * len(rows)),
                 column_config={"confidence": st.column_config.NumberColumn("confidence", format="percent")})

if not len(rows):
    st.stop()

# -- each sample with its top-1 and top-2 focus ------------------------------------------------------------------
ckpt = _checkpoint_of(b)
if ckpt is None:
    st.warning("The checkpoint of this bundle is not among the models under assets/ or the runs folder "
               "(matched by sha256): the focus cannot be shown.", icon=":material/warning:")
    st.stop()
try:
    ds = ui.store(str(data.get("spec")))
except Exception as err:  # noqa: BLE001
    ui.error(err, "Cannot open the bundle's data set (is STF_DATA_ROOT set?)")
    st.stop()
lay = ui.explainer(ckpt).layout
for r in rows[: int(show)]:
    sid = str(b.ids[r])
    with ui.guard(f"Sample {sid}"):
        s = ds.get(ds.position(sid))
        e = ui.explanation(ckpt, f"{ds.path}#{sid}", s)
        cmp = e.comparison
        head = st.columns([4, 1])
        head[0].markdown(f"**{sid}** — true *{names[ti_]}*, predicted *{e.top5.names[0]}* "
                         f"({100 * float(e.top5.probs[0]):.0f}%), top-2 *{e.top5.names[1] if len(names) > 1 else '-'}*"
                         + (f" · overlap {cmp.overlap_last:.2f}" if cmp else ""))
        if head[1].button("Explore", key=f"cm_open_{sid}", icon=":material/open_in_new:"):
            st.session_state["goto"] = {"model": str(ckpt), "data": str(data.get("spec")),
                                        "split": str(data.get("split")), "sample": sid}
            st.switch_page("pages/explorer.py")
        if cmp is not None:
            ui.plot(viz.focus_grid([cmp.focus_top1.original[-1], cmp.focus_top2.original[-1]], lay,
                                   titles=[f"top-1: {cmp.top1_name}", f"top-2: {cmp.top2_name}"], cols=2,
                                   height_per_row=320),
                    key=f"cm_focus_{sid}", name=f"{sid}-top1-top2")
